"""The sidebar's Filters and Method settings draw their widgets only while open (issue 27):
closed, a page run sends no slider, date picker or select for them, and their values, the
URL's and the session's, hold all the same."""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

from cmot.ui.sidebar import FILTERS_OPEN, SETTINGS_OPEN
from tests.app.panels import open_panels
from tests.app.test_pages import APP, ok

PANEL_KEYS = {"f_col", "f_val", "f_from", "f_to", "low", "high", "ia", "cov", "alpha", "pool"}


def _drawn(at: AppTest) -> set[str]:
    widgets = [*at.sidebar.selectbox, *at.sidebar.slider, *at.sidebar.date_input]
    return {w.key for w in [*widgets, *at.sidebar.multiselect] if w.key in PANEL_KEYS}


def test_closed_panels_draw_no_widgets_and_open_ones_draw_them(store_dir: Path) -> None:
    at = ok(AppTest.from_file(APP, default_timeout=120).run())
    assert [e.label for e in at.sidebar.expander] == ["Filters", "Method settings"]
    assert _drawn(at) == set()  # as every page opens
    assert at.session_state["view"].settings.opportunity_ia == 0.2  # the defaults stand
    ok(open_panels(at))
    assert _drawn(at) == PANEL_KEYS - {"f_val"}  # "is one of" comes with a column
    assert any("Defaults follow docs/METHODS.md" in c.value for c in at.sidebar.caption)
    # The dates one under the other: side by side, each showed "2026 / 0" of its date.
    assert at.sidebar.date_input and not any(c.date_input for c in at.sidebar.columns)


def test_a_choice_made_in_an_open_panel_holds_when_closed_and_on_other_pages(
    store_dir: Path,
) -> None:
    at = ok(open_panels(AppTest.from_file(APP, default_timeout=120).run()))
    at.sidebar.slider(key="ia").set_value(0.4).run()
    at.sidebar.selectbox(key="f_col").set_value("Region").run()
    at.sidebar.multiselect(key="f_val").set_value(["North"]).run()
    ok(at)
    filtered = at.session_state["view"].filters
    assert "Region in North" in filtered
    at.session_state[FILTERS_OPEN] = False
    at.session_state[SETTINGS_OPEN] = False
    ok(at.run())
    for page in ("pages/overview.py", "pages/compare.py", "pages/moments.py"):
        if page != "pages/overview.py":
            ok(at.switch_page(page).run())
        assert _drawn(at) == set(), page
        view = at.session_state["view"]
        assert view.settings.opportunity_ia == 0.4 and view.filters == filtered, page
        assert at.query_params["ia"] in ("0.4", ["0.4"]) and "f_val" in at.query_params, page
    ok(open_panels(at))  # opened again: the widgets show the values that held
    assert at.sidebar.slider(key="ia").value == 0.4
    assert at.sidebar.multiselect(key="f_val").value == ["North"]


def test_a_link_sets_the_closed_panels_values(store_dir: Path) -> None:
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params.update({"f_col": "Region", "f_val": "West", "cov": "0.8", "pool": "none"})
    ok(at.run())
    assert _drawn(at) == set()
    view = at.session_state["view"]
    assert "Region in West" in view.filters
    assert (view.settings.mot_coverage, view.settings.pooling) == (0.8, "none")
