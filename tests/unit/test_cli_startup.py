"""The command line starts without the libraries only some commands need: every test that
runs a command, and every user, paid ~1 s of imports for scikit-learn and scipy's stats and
optimizers before the command began (`python -m cmot datasets` 2.2 -> 1.1 s), and altair,
which only the charts' exports need (1.2 -> 0.9 s)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from cmot.ui.warm import LAZY_IMPORTS

LATE = ("sklearn", *LAZY_IMPORTS)


@pytest.mark.slow  # a subprocess: a fresh interpreter is the only honest count of imports
def test_the_command_line_imports_no_fit_no_scipy_stats_and_no_altair() -> None:
    late = (*LATE, "altair")
    code = f"import sys, cmot.cli.main; print(','.join(m for m in {late!r} if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == ""


@pytest.mark.slow
def test_the_served_app_imports_them_as_it_starts() -> None:
    code = (
        "import sys; from cmot.ui.warm import import_pages_modules; import_pages_modules(); "
        f"print(','.join(m for m in {LATE!r} if m not in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == ""
