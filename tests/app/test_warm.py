"""The server's warm start (cmot.ui.warm, issue 27): the default view computed before the
first visitor is the one that visitor's Overview asks for, so its page computes nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from cmot.engine.engines import DuckDBEngine
from cmot.ui import warm
from cmot.ui.sidebar import default_view
from cmot.ui.state import get_store
from tests.conftest import ROOT

APP = str(ROOT / "app.py")


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Every statistics pass of the DuckDB engine, from here on."""
    calls: list[object] = []
    real = DuckDBEngine.statistics

    def counting(self: DuckDBEngine, *args: Any, **kw: Any) -> Any:
        calls.append(args[0])
        return real(self, *args, **kw)

    monkeypatch.setattr(DuckDBEngine, "statistics", counting)
    return calls


@pytest.fixture(autouse=True)
def _fresh_caches(store_dir: Path) -> None:
    st.cache_resource.clear()
    st.cache_data.clear()


def test_the_default_view_is_the_sidebars_with_its_defaults() -> None:
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception
    shown = at.session_state["view"]
    store = get_store()
    expected = default_view(store, shown.info)
    assert expected.key == shown.key
    assert expected.settings == shown.settings
    assert expected.segmentation == shown.segmentation == "Segment"


def test_after_warming_the_first_overview_computes_nothing(counted: list[object]) -> None:
    said = warm.warm()
    assert said.startswith("warmed demo v1 by Segment in ")
    assert len(counted) == 1  # the warm start's own pass
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception
    assert at.title[0].value == "Moments of truth"
    assert len(counted) == 1, "the Overview computed its statistics again"


def test_a_view_not_warmed_is_computed(counted: list[object]) -> None:
    warm.warm()
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params["seg"] = "Region"
    at.run()
    assert not at.exception
    assert len(counted) == 2  # the counter sees a page's own pass


def test_warming_is_off_with_cmot_warm_0(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(warm.ENV_WARM, "0")
    assert warm.warm_in_background() is None


def test_a_failed_warm_start_is_logged_not_raised(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken() -> str:
        raise RuntimeError("disk gone")

    monkeypatch.setattr(warm, "warm", broken)
    thread = warm.warm_in_background()
    assert thread is not None
    thread.join(timeout=30)
    assert "warming the caches failed" in caplog.text


def test_the_warm_start_does_streamlits_first_element_check(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Streamlit reads every frame's source once per process before its first element (its
    REPL check, 0.1-0.2 s): the warm start does it, not the first visitor's run."""
    from streamlit import delta_generator

    monkeypatch.setattr(delta_generator, "_use_warning_has_been_displayed", False)
    warm.warm()
    assert delta_generator._use_warning_has_been_displayed


def test_the_imports_are_done_before_the_server_listens(monkeypatch: pytest.MonkeyPatch) -> None:
    """serve.py imports every page's module and what they import on first use as it loads,
    before the server listens: done on a thread after the start, they slowed the first
    visitors' views (bench/first_view.md)."""
    import sys

    names = warm.warm_imports()
    assert "cmot.ui.mapping" in names and "cmot.ui.overview" in names
    assert all(name in sys.modules for name in (*names, *warm.LAZY_IMPORTS))
    source = (ROOT / "serve.py").read_text()
    assert source.index("warm_imports()") < source.index("st.App(")
    monkeypatch.setenv(warm.ENV_WARM, "0")
    assert warm.warm_imports() == []
