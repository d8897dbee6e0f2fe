"""Entry point of `python -m cmot`."""

import sys

from cmot.cli.main import main

sys.exit(main())
