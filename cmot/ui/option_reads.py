"""Streamlit's config options read without its lock in a served process (issue 27).

`streamlit.config.get_option` takes one process-wide lock on every call, and every element a
script writes reads a few options. With ~50 sessions' script threads in one served process
the threads queue on that lock: a thread that holds it can lose the interpreter lock (every
5 ms), and every thread that reads an option then waits for both (py-spy under load: 21-46%
of an app process's samples were in `get_option`, bench/load.md).

`lock_free_option_reads` (serve.py) makes `streamlit.config.get_option` and
`get_options_for_section` (every session message reads the theme's), the module attributes
every Streamlit module calls through, reads of what Streamlit's own gave, each key's and
section's kept once read. They are dropped whenever Streamlit sets an option (its
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
    """Each option's value and each section's options as Streamlit gave them, until Streamlit
    sets an option or parses its config again."""

    def __init__(self, read: Callable[[str], Any], section: Callable[[str], dict[str, Any]]):
        self._read, self._read_section = read, section
        # (values, sections) of this moment: a drop replaces the pair whole, so what was read
        # before a set lands in the old pair, never in the new one.
        self._kept: tuple[dict[str, Any], dict[str, dict[str, Any]]] = ({}, {})

    def get(self, key: str) -> Any:
        values = self._kept[0]
        value = values.get(key, _MISSING)
        if value is _MISSING:
            value = values[key] = self._read(key)
        return value

    def section_options(self, section: str) -> dict[str, Any]:
        sections = self._kept[1]
        got = sections.get(section)
        if got is None:
            got = sections[section] = self._read_section(section)
        return dict(got)  # the caller's own, as Streamlit's is

    def drop(self) -> None:
        self._kept = ({}, {})


def lock_free_option_reads() -> Callable[[], None]:
    """Install the reads in this process; returns what undoes it (for tests)."""
    read, section, write = config.get_option, config.get_options_for_section, config._set_option
    options = _Options(read, section)

    def set_option(key: str, value: Any, where_defined: str) -> None:
        try:
            write(key, value, where_defined)  # private: wrapped, see the docstring
        finally:
            options.drop()

    config._set_option = set_option
    disconnect = config.on_config_parsed(options.drop, force_connect=True)
    config.get_option, config.get_options_for_section = options.get, options.section_options

    def undo() -> None:
        disconnect()
        config.get_option, config.get_options_for_section = read, section
        config._set_option = write

    return undo
