"""Streamlit's config options read without its lock in a served process (issue 27).

`streamlit.config.get_option` takes one process-wide lock on every call, and every element a
script writes reads a few options. With ~50 sessions' script threads in one served process
the threads queue on that lock: a thread that holds it can lose the interpreter lock (every
5 ms), and every thread that reads an option then waits for both (py-spy under load: 21-46%
of an app process's samples were in `get_option`, bench/load.md).

`lock_free_option_reads` (serve.py) makes `streamlit.config.get_option`, the module attribute
every Streamlit module calls through, a read of the values Streamlit's own `get_option` gave,
each key's kept once read. They are dropped whenever Streamlit sets an option (its
`_set_option`, through which `set_option`, `st.set_option` and the config parser write) or
has parsed its config again (`config.on_config_parsed`), and read again, under Streamlit's
lock, on the next call. `streamlit run app.py` and AppTest keep Streamlit's own.
Private names used: `config._set_option` (wrapped) and `config._config_lock` (in the test);
tests/unit/test_option_reads.py fails loudly if they change.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from streamlit import config

_MISSING = object()


class _Options:
    """Each option's value as Streamlit's get_option gave it, until Streamlit sets or parses."""

    def __init__(self, read: Callable[[str], Any]) -> None:
        self._read = read
        self._values: dict[str, Any] = {}

    def get(self, key: str) -> Any:
        # The dict of this moment: a drop replaces it whole, so a value read before a set
        # lands in the old dict, never in the new one.
        values = self._values
        value = values.get(key, _MISSING)
        if value is _MISSING:
            value = values[key] = self._read(key)
        return value

    def drop(self) -> None:
        self._values = {}


def lock_free_option_reads() -> Callable[[], None]:
    """Install the reads in this process; returns what undoes it (for tests)."""
    read, write = config.get_option, config._set_option  # private: wrapped, see the docstring
    options = _Options(read)

    def set_option(key: str, value: Any, where_defined: str) -> None:
        try:
            write(key, value, where_defined)
        finally:
            options.drop()

    config._set_option = set_option
    disconnect = config.on_config_parsed(options.drop, force_connect=True)
    config.get_option = options.get

    def undo() -> None:
        disconnect()
        config.get_option, config._set_option = read, write

    return undo
