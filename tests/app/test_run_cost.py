"""What a warm page switch no longer redoes (issue 27): tables converted to Arrow once per
frame, URL values the browser already has not sent again; drawn exactly as before."""

from __future__ import annotations

import gc
import threading
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest
from streamlit.runtime.state.query_params import QueryParams
from streamlit.testing.v1 import AppTest

from cmot.store.catalog import Catalog
from cmot.ui import widgets
from cmot.ui.widgets import ARROW_ONCE_ROWS, arrow_once


def _draw_both() -> None:
    import pandas as pd
    import streamlit as st

    from cmot.ui.widgets import arrow_once

    frame = pd.DataFrame(
        {"touchpoint": ["Billing", "Site visits"], "n": [3, 40], "share": [0.1, None]},
        index=[5, 7],  # not a range index: kept as a column, as Streamlit keeps it
    )
    config = {"share": st.column_config.NumberColumn(format="percent")}
    st.dataframe(arrow_once(frame), key="ours", hide_index=True, column_config=config)
    st.dataframe(frame, key="plain", hide_index=True, column_config=config)


def test_a_table_converted_once_draws_exactly_what_streamlit_draws_from_the_frame() -> None:
    """Fails loudly if Streamlit's dataframe_util or its pass-through of an Arrow table
    changes (cmot.ui.widgets.arrow_once relies on both)."""
    at = AppTest.from_function(_draw_both).run()
    assert not at.exception, [e.message for e in at.exception]
    ours, plain = (d.proto for d in at.dataframe)
    assert ours.arrow_data.data == plain.arrow_data.data
    assert ours.columns == plain.columns
    assert ours == plain


def test_a_frame_is_converted_once_and_forgotten_with_it() -> None:
    frame = pd.DataFrame({"a": [1, 2], "b": ["x", "y"]})
    first = arrow_once(frame)
    assert isinstance(first, pa.Table) and first.to_pandas().equals(frame)
    assert arrow_once(frame) is first  # the same frame object: no second conversion
    slot = id(frame)
    del frame
    gc.collect()
    assert slot not in widgets._arrow_tables  # gone with its frame: no stale table by id
    for _ in range(50):  # whatever ids new frames get, each is drawn from its own values
        other = pd.DataFrame({"a": [9], "b": ["z"]})
        out = arrow_once(other)
        assert isinstance(out, pa.Table) and out.to_pandas().equals(other)


def test_a_large_frame_goes_to_streamlit_as_it_is() -> None:
    big = pd.DataFrame({"a": range(ARROW_ONCE_ROWS + 1)})
    assert arrow_once(big) is big
    multi = pd.DataFrame([[1, 2]], columns=pd.MultiIndex.from_tuples([("a", "x"), ("a", "y")]))
    assert arrow_once(multi) is multi


def _two_widgets() -> None:
    import streamlit as st

    from cmot.ui.url import url_widget

    url_widget(st.selectbox, "Pick", ["a", "b"], key="pick", default="b")
    url_widget(st.multiselect, "Some", ["x", "y"], key="some", default=["x", "y"])


def test_a_value_the_url_already_holds_is_not_sent_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sent: list[str] = []
    original = QueryParams._send_query_param_msg

    def counted(self: QueryParams) -> None:
        sent.append("x")
        original(self)

    monkeypatch.setattr(QueryParams, "_send_query_param_msg", counted)
    at = AppTest.from_function(_two_widgets).run()
    assert not at.exception
    urls = [dict(at.query_params)]
    assert urls[0] == {"pick": "b", "some": ["x", "y"]}
    assert len(sent) == 2  # the first run writes both
    sent.clear()
    at.run()  # the URL now holds both values: nothing to send
    assert dict(at.query_params) == urls[0]
    assert sent == []
    at.selectbox(key="pick").set_value("a").run()  # a change is written
    assert dict(at.query_params) == {"pick": "a", "some": ["x", "y"]} and len(sent) == 1


def _listing_both() -> None:
    import datetime as dt

    import streamlit as st

    from cmot.ui.datasets import listing

    rows = [
        {"name": "demo", "version": 2, "respondents": 1200, "created": dt.datetime(2026, 3, 1)},
        {"name": "kc", "version": 1, "respondents": None, "created": dt.datetime(2026, 3, 2)},
    ]
    st.dataframe(listing(rows), key="ours", hide_index=True)
    st.dataframe(rows, key="plain", hide_index=True)
    st.session_state["same"] = listing([dict(r) for r in rows]) is listing(rows)


def test_the_datasets_listing_draws_what_streamlit_draws_from_the_records() -> None:
    at = AppTest.from_function(_listing_both).run()
    assert not at.exception, [e.message for e in at.exception]
    ours, plain = (d.proto for d in at.dataframe)
    assert ours == plain
    assert at.session_state["same"]  # equal records: made and converted once


def _read_auth_twice() -> None:
    import streamlit as st

    from cmot.ui.auth import auth_configured, one_read_per_run

    with one_read_per_run():
        st.session_state["inside"] = [auth_configured(), auth_configured()]
    st.session_state["outside"] = auth_configured()


def test_the_secrets_are_read_once_a_run(monkeypatch: pytest.MonkeyPatch) -> None:
    """An open install has no secrets file, and every read of st.secrets looked for the
    files again: app.py's run reads each section once."""
    from streamlit.runtime.secrets import Secrets

    reads: list[str] = []
    original = Secrets._parse

    def counted(self: Secrets) -> object:
        reads.append("x")
        return original(self)

    monkeypatch.setattr(Secrets, "_parse", counted)
    at = AppTest.from_function(_read_auth_twice).run()
    assert not at.exception
    assert at.session_state["inside"] == [False, False] and at.session_state["outside"] is False
    assert len(reads) == 2  # once inside the run's scope, once outside it


@pytest.fixture
def demo_app(store_dir: object) -> AppTest:
    from tests.app.test_pages import APP

    at = AppTest.from_file(APP, default_timeout=120)
    assert not at.run().exception
    return at


def test_a_page_switch_takes_its_result_without_the_cache_lookup(
    demo_app: AppTest, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cmot.ui import frame

    asked: list[object] = []
    original = frame._moments

    def counted(key: object, settings: object) -> object:
        asked.append(key)
        return original(key, settings)

    counted.clear = original.clear  # type: ignore[attr-defined]
    monkeypatch.setattr(frame, "_moments", counted)
    assert not demo_app.switch_page("pages/moments.py").run().exception
    assert asked == []  # the Overview's run left it ready
    frame.clear_results()  # segments renamed: the results are computed again
    assert not demo_app.switch_page("pages/compare.py").run().exception
    assert len(asked) == 1
    assert not demo_app.switch_page("pages/overview.py").run().exception
    assert len(asked) == 1


class _Page:
    made = 0

    def __init__(self, path: str, **kwargs: object) -> None:
        _Page.made += 1
        self.path, self.options, self._can_be_called = path, kwargs, False


def test_the_navigation_pages_are_made_once_and_each_run_gets_its_own(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """st.Page runs once per page and process; each call gets copies, as made: st.navigation
    marks the page it may run on the object, so two sessions' runs never share one."""
    import types

    import streamlit.runtime.scriptrunner as runner

    from cmot.ui import state

    ctx = types.SimpleNamespace(pages_manager=types.SimpleNamespace(main_script_parent="/x"))
    monkeypatch.setattr(runner, "get_script_run_ctx", lambda: ctx)
    monkeypatch.setattr(state.st, "Page", _Page)
    monkeypatch.setattr(state, "_PAGES", {})
    spec = {"Pages": [("pages/a.py", "A", ":material/route:", True)]}
    first = state.navigation_pages(spec)["Pages"][0]
    second = state.navigation_pages(spec)["Pages"][0]
    assert _Page.made == 1
    assert first is not second and vars(first) == vars(second)
    assert first.options == {"title": "A", "icon": ":material/route:", "default": True}
    first._can_be_called = True  # as st.navigation does to the page it returns
    assert not second._can_be_called
    ctx.pages_manager.main_script_parent = "/elsewhere"  # another app's folder: its own
    state.navigation_pages(spec)
    assert _Page.made == 2


def test_a_script_thread_takes_a_catalog_connection_a_finished_one_left(tmp_path: Path) -> None:
    """Every script run is a thread of its own: the catalog's connection of a thread that
    ended serves the next, and two threads at once never share one (cmot.store.catalog)."""
    catalog = Catalog(tmp_path)
    held: dict[str, object] = {}
    first_in, release = threading.Event(), threading.Event()

    def hold(name: str) -> None:
        held[name] = catalog._connect()
        assert catalog.read("SELECT 1") == [(1,)]
        if name == "a":
            first_in.set()
            release.wait(10)

    a = threading.Thread(target=hold, args=("a",))
    a.start()
    first_in.wait(10)
    b = threading.Thread(target=hold, args=("b",))
    b.start()
    b.join()
    assert held["b"] is not held["a"]  # a still holds its own
    release.set()
    a.join()
    c = threading.Thread(target=hold, args=("c",))
    c.start()
    c.join()
    assert held["c"] in (held["a"], held["b"])  # no third connection opened
    catalog.close()
