"""cmot.ui.option_reads: Streamlit's options read without its lock, the same values, and
every set or parse seen. Also the private names it relies on, so a Streamlit upgrade that
renames them fails here, loudly."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from streamlit import config

from cmot.ui.option_reads import lock_free_option_reads


@pytest.fixture
def installed() -> Iterator[None]:
    before = config.get_option
    undo = lock_free_option_reads()
    try:
        yield
    finally:
        undo()
    assert config.get_option is before


def test_the_private_names_it_relies_on() -> None:
    assert callable(config._set_option)
    assert isinstance(config._config_lock, type(threading.RLock()))
    assert callable(config.on_config_parsed)


def test_every_option_reads_as_streamlit_gives_it() -> None:
    want = {key: config.get_option(key) for key in config.get_config_options()}
    assert len(want) > 50
    sections = {key.split(".")[0] for key in want}
    want_sections = {name: config.get_options_for_section(name) for name in sections}
    undo = lock_free_option_reads()
    try:
        assert {key: config.get_option(key) for key in want} == want
        assert {key: config.get_option(key) for key in want} == want  # kept, the same
        for name, options in want_sections.items():
            got = config.get_options_for_section(name)
            assert got == options
            got["changed by its caller"] = 1  # the caller's own copy
            assert config.get_options_for_section(name) == options
        with pytest.raises(RuntimeError, match="not defined"):
            config.get_option("no.suchOption")
    finally:
        undo()


def test_a_read_does_not_wait_for_streamlits_lock(installed: None) -> None:
    config.get_option("client.toolbarMode")  # read once: kept
    got: list[object] = []
    with config._config_lock:  # held here, as a thread in get_option would hold it
        reader = threading.Thread(
            target=lambda: got.append(config.get_option("client.toolbarMode"))
        )
        reader.start()
        reader.join(timeout=30)  # a bound against hanging, not a timing: it must end at all
        finished = not reader.is_alive()
    reader.join()
    assert finished, "the read waited for Streamlit's config lock"
    assert got == [config.get_option("client.toolbarMode")]


def test_a_set_option_is_seen_by_the_next_read(installed: None) -> None:
    key = "client.toolbarMode"
    before = config.get_option(key)
    other = "minimal" if before != "minimal" else "viewer"
    try:
        config.set_option(key, other)
        assert config.get_option(key) == other
        assert config.get_options_for_section("client")["toolbarMode"] == other
    finally:
        config.set_option(key, before)
    assert config.get_option(key) == before


def test_a_parse_drops_what_was_read(installed: None) -> None:
    key = "client.toolbarMode"
    parsed = config.get_option(key)
    other = "minimal" if parsed != "minimal" else "viewer"
    config.set_option(key, other)
    assert config.get_option(key) == other
    config.get_config_options(force_reparse=True)  # the files and environment again
    assert config.get_option(key) == parsed
