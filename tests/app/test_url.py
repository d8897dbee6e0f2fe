"""cmot.ui.url: one rule for widgets kept in the URL (session > URL > default), on every page."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tests.app.panels import open_panels
from tests.conftest import ROOT

APP = str(ROOT / "app.py")


@pytest.fixture
def app(store_dir: Path) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    return at


def _ok(at: AppTest) -> AppTest:
    assert not at.exception, [e.message for e in at.exception]
    return at


def test_a_choice_outlives_a_visit_to_another_page(app: AppTest) -> None:
    app.switch_page("pages/moments.py").run()
    options = app.selectbox(key="segment").options
    app.selectbox(key="segment").set_value(options[-1]).run()
    _ok(app.switch_page("pages/overview.py").run())
    app.query_params.pop("segment", None)  # as when a page link drops the other page's state
    _ok(app.switch_page("pages/moments.py").run())
    assert app.selectbox(key="segment").value == options[-1]  # the session's value first
    assert app.query_params["segment"] in (options[-1], [options[-1]])


def test_the_url_beats_the_default_and_a_bad_value_is_ignored(store_dir: Path) -> None:
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params.update({"seg": "Region", "low": "9", "alpha": "0.1", "f_to": "not a date"})
    _ok(at.run())
    assert at.sidebar.selectbox(key="seg").value == "Region"  # the URL's
    # The panels are closed (as every page opens): their values hold all the same.
    settings = at.session_state["view"].settings
    assert (settings.alpha, settings.low_max) == (0.1, 2)  # 9 is no option: the default
    assert at.query_params["low"] in ("2", ["2"])  # and the URL says what is shown
    assert at.query_params["f_to"] != "not a date"
    assert any("not a date" in t.value for t in at.toast)  # the refused value is named
    open_panels(at)
    assert at.sidebar.selectbox(key="alpha").value == 0.1
    assert at.sidebar.selectbox(key="low").value == 2
    assert at.query_params["low"] in ("2", ["2"])


def test_every_shareable_choice_is_in_the_url_even_at_its_default(app: AppTest) -> None:
    # A link must not depend on defaults, which depend on the data (the first dataset, the
    # largest segments): every choice is written out.
    app.switch_page("pages/compare.py").run()
    _ok(app)
    for key in ("dataset", "seg", "f_col", "low", "high", "ia", "cov", "alpha", "compare"):
        assert key in app.query_params, key


def test_another_dataset_forgets_the_choices_of_a_page_not_shown(store_dir: Path) -> None:
    # The same survey under another name: every old choice would still be valid there, so
    # only forgetting (not validation) brings the defaults back, even for a page not shown.
    from cmot.store.datasets import Store
    from cmot.store.demo import ensure_demo

    store = Store(store_dir)
    info = ensure_demo(store)
    store.save_query(
        "demo copy",
        f"SELECT * FROM {info.table}",
        [],
        info.spec,
        info.report,
        info.source_name,
        info.source_sha256,
    )
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params["dataset"] = "demo"
    _ok(at.run())
    _ok(at.switch_page("pages/compare.py").run())
    default = at.multiselect(key="compare").value
    other = [s for s in at.multiselect(key="compare").options if s not in default][:2]
    _ok(at.multiselect(key="compare").set_value(other).run())
    _ok(at.switch_page("pages/overview.py").run())
    _ok(at.sidebar.selectbox(key="dataset").set_value("demo copy").run())
    assert "compare" not in at.query_params
    _ok(at.switch_page("pages/compare.py").run())
    assert at.multiselect(key="compare").value == default


@pytest.mark.parametrize("bad", ["inf", "-inf", "nan", "1e999", "0.95"])
def test_a_link_with_a_non_finite_or_out_of_range_number_opens_with_a_message(
    store_dir: Path, bad: str
) -> None:
    # issue 29: ?cov=inf made every page show the generic error (the slider refused it).
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params.update({"cov": bad, "ia": bad})
    _ok(at.run())
    settings = at.session_state["view"].settings  # the Method settings panel closed
    assert (settings.mot_coverage, settings.opportunity_ia) == (0.6, 0.2)  # the defaults
    assert at.query_params["cov"] in ("0.6", ["0.6"])
    said = " ".join(t.value for t in at.toast)
    assert "is not one this page can use" in said, said
    open_panels(at)  # and the sliders, opened, show them
    assert (at.sidebar.slider(key="cov").value, at.sidebar.slider(key="ia").value) == (0.6, 0.2)
