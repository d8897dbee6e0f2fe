"""Streamlit's private PagesManager, which cmot.ui.state relies on: fail loudly if it changes.

cmot.ui.state.require_app_frame leaves Streamlit's legacy pages/ mode (a server's first
request, a deep link, would run a page without app.py), and without_pages_folder keeps
AppTest and bench/pages.py out of it. Both touch `streamlit.runtime.pages_manager`, which is
not public API. If one of these tests fails, Streamlit changed that mode: check a deep link
as the first visit in a browser (tests/e2e/test_shell_browser.py) and update both helpers
(or move pages/ to a folder of another name, which needs neither).
"""

from __future__ import annotations

import inspect
import tomllib
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from cmot.ui.state import without_pages_folder
from tests.conftest import ROOT

CHANGED = "Streamlit changed its private legacy pages/ mode ({}): see this file's docstring"


def test_the_legacy_pages_flag_is_where_cmot_expects_it() -> None:
    try:
        from streamlit.runtime import pages_manager
        from streamlit.runtime.pages_manager import PagesManager
    except ImportError as e:  # pragma: no cover - only on a Streamlit upgrade
        pytest.fail(CHANGED.format(f"cannot import it: {e}"))
    assert hasattr(PagesManager, "uses_pages_directory"), CHANGED.format("no flag")
    assert hasattr(pages_manager, "Path"), CHANGED.format("no Path in the module")
    from streamlit.commands import navigation
    from streamlit.runtime.scriptrunner import script_runner

    leaves = "PagesManager.uses_pages_directory = False"
    assert leaves in inspect.getsource(navigation.navigation), CHANGED.format(
        "st.navigation no longer leaves the legacy mode"
    )
    assert "if PagesManager.uses_pages_directory:" in inspect.getsource(script_runner), (
        CHANGED.format("the script runner no longer reads the flag")
    )


def test_a_pages_folder_beside_the_app_turns_the_legacy_mode_on_and_the_helper_off(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from streamlit.runtime import pages_manager
    from streamlit.runtime.pages_manager import PagesManager

    monkeypatch.setattr(pages_manager, "Path", Path)  # not this folder's autouse fixture

    app = str(ROOT / "app.py")
    saved = PagesManager.uses_pages_directory
    try:
        PagesManager.uses_pages_directory = None
        PagesManager(app, setup_watcher=False)
        assert PagesManager.uses_pages_directory is True, CHANGED.format("pages/ not detected")
        PagesManager.uses_pages_directory = None
        with without_pages_folder():
            PagesManager(app, setup_watcher=False)
        assert PagesManager.uses_pages_directory is False, CHANGED.format("Path not used")
    finally:
        PagesManager.uses_pages_directory = saved


def test_a_deep_link_in_the_legacy_mode_reaches_the_app_frame(
    store_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As a server's first request to /data: the legacy path runs pages/data.py alone, whose
    require_app_frame reruns it through app.py (the sidebar and its dataset picker)."""
    from streamlit.runtime import pages_manager

    monkeypatch.setattr(pages_manager, "Path", Path)  # the real folder: the legacy mode
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.switch_page("pages/data.py").run()
    assert not at.exception, [e.message for e in at.exception]
    assert at.title[0].value == "Data"
    assert at.sidebar.selectbox(key="dataset").value == "demo", CHANGED.format(
        "a page ran without app.py"
    )


def test_a_page_run_outside_the_app_frame_never_runs_its_code(
    store_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """issue 29 A: concurrent first requests. One session's run turned the legacy mode off
    while another's had already started pages/data.py alone: that page used to find the flag
    off and run without the login gate. The frame is a property of the run, not the flag."""
    from streamlit.runtime.pages_manager import PagesManager

    def page() -> None:
        import streamlit as st

        from cmot.ui.state import require_app_frame

        st.session_state["runs"] = st.session_state.get("runs", 0) + 1
        if st.session_state["runs"] > 1:  # on a server the rerun goes through app.py
            st.stop()
        require_app_frame()
        st.title("page code ran")

    monkeypatch.setattr(PagesManager, "uses_pages_directory", False)  # turned off meanwhile
    at = AppTest.from_function(page, default_timeout=30)
    at.run()
    ran = [t.value for t in at.title]
    assert "page code ran" not in ran, "a page ran outside app.py's frame"


def test_with_login_configured_a_page_in_the_frame_stops_for_a_visitor(
    store_dir: Path, tmp_path: Path
) -> None:
    """issue 29 A: the gate is checked again by each page, not only by app.py."""

    def page() -> None:
        import streamlit as st

        from cmot.ui.state import app_frame, require_app_frame

        with app_frame():
            require_app_frame()
            st.title("page code ran")

    secrets = tmp_path / "secrets.toml"
    secrets.write_text(
        '[auth]\nredirect_uri = "http://127.0.0.1:1/oauth2callback"\n'
        'cookie_secret = "x" \nclient_id = "c"\nclient_secret = "s"\n'
        'server_metadata_url = "http://127.0.0.1:1/.well-known/openid-configuration"\n'
    )
    at = AppTest.from_function(page, default_timeout=30)
    at.secrets.update(tomllib.loads(secrets.read_text()))
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    assert "page code ran" not in [t.value for t in at.title]
