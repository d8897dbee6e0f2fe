"""Entry point of `python -m cmot`."""

import sys

from cmot.cli import main

sys.exit(main())
