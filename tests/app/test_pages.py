"""AppTest: every page runs on the demo; segmentation, comparison and settings change the view."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest
from streamlit.testing.v1 import AppTest

from cmot.results.headline import STAKE_MEANING
from cmot.store.datasets import Store
from cmot.store.demo import ensure_demo
from cmot.ui.frame import UNEXPECTED
from tests.app.panels import open_panels
from tests.conftest import ROOT
from tests.planted import read_as_text

APP = str(ROOT / "app.py")
PAGES = ["overview", "journey", "moments", "compare", "actions", "segments", "data"]


@pytest.fixture
def app(store_dir: Path) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    return at


def ok(at: AppTest) -> AppTest:
    """No exception box, and no error the page guard caught (it would hide a bug)."""
    assert not at.exception, [e.message for e in at.exception]
    caught = [e.value for e in at.error if UNEXPECTED in str(e.value)]
    assert not caught, caught
    return at


def charts(at: AppTest) -> list[dict]:
    return [json.loads(c.proto.spec) for c in at.get("vega_lite_chart")]


def chart_frames(at: AppTest, i: int) -> list[pd.DataFrame]:
    """The data frames Streamlit sent with chart i (Arrow bytes beside the spec)."""
    proto = at.get("vega_lite_chart")[i].proto
    return [pa.ipc.open_stream(d.data.data).read_pandas() for d in proto.datasets]


def texts(at: AppTest) -> str:
    """The page's text as read: names from the data are escaped for Markdown on the page."""
    return read_as_text(
        "\n".join(
            str(e.value)
            for kind in ("markdown", "caption", "info", "warning")
            for e in at.get(kind)
        )
    )


@pytest.mark.parametrize("page", PAGES)
def test_every_page_runs_on_the_demo(app: AppTest, page: str) -> None:
    ok(app.switch_page(f"pages/{page}.py").run())
    assert app.title[0].value
    assert app.caption, "every page says what it shows and how to read it"


def test_overview_shows_cards_stakes_and_a_headline(app: AppTest) -> None:
    ok(app)
    body = texts(app)
    assert "The biggest difference" in body
    assert "▼ vulnerability" in body and "▲ opportunity" in body
    assert "**Fix first**" in body and "**Invest next**" in body  # one list each, not more
    assert "low ≤ 2, high ≥ 5" in body  # method settings under "How this is calculated"
    assert [h.value for h in app.subheader] == ["By segment"]
    labels = {m.label for m in app.metric}
    assert labels >= {"Respondents", "Would hire again \\(answered Yes\\)", "Segments"}


def test_changing_the_segmentation_changes_the_cards(app: AppTest) -> None:
    before = texts(app)
    app.sidebar.selectbox(key="seg").set_value("Region").run()
    ok(app)
    assert app.query_params["seg"] in ("Region", ["Region"])
    assert texts(app) != before
    app.sidebar.selectbox(key="seg").set_value("(whole sample)").run()
    ok(app)
    assert "Pick a segmentation with two or more segments" in texts(app)


def test_compare_two_segments_draws_matrix_and_differences(app: AppTest) -> None:
    app.switch_page("pages/compare.py").run()
    segs = app.multiselect(key="compare").options
    app.multiselect(key="compare").set_value(segs[1:3]).run()
    ok(app)
    specs = charts(app)
    assert len(specs) == 2
    matrix = chart_frames(app, 0)[0]
    assert set(matrix.segment) == set(segs[1:3])
    assert app.query_params["compare"] == segs[1:3]


def test_settings_change_the_classification(app: AppTest) -> None:
    app.switch_page("pages/moments.py").run()
    before = app.dataframe[0].value
    vulnerable = before[before["Class"].str.contains("vulnerability")]
    # The engine's one rule, on the page: a vulnerability's amount at stake is its risk.
    assert not vulnerable.empty
    assert set(vulnerable["What it means"]) == {STAKE_MEANING["risk"]}
    open_panels(app)
    app.sidebar.slider(key="ia").set_value(0.5).run()
    app.sidebar.selectbox(key="low").set_value(1).run()
    ok(app)
    after = app.dataframe[0].value
    # Low = bottom one point now.
    assert not before["Low rating costs"].equals(after["Low rating costs"])
    assert "low ≤ 1" in texts(app) and "IA ≤ -0.50" in texts(app)
    assert app.query_params["low"] in ("1", ["1"])


def test_a_link_with_page_state_reproduces_the_view(store_dir: Path) -> None:
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params.update({"dataset": "demo", "seg": "Region", "segment": "West", "ia": "0.3"})
    at.run()
    at.switch_page("pages/moments.py").run()
    ok(at)
    assert at.selectbox(key="segment").value == "West"
    open_panels(at)
    assert at.sidebar.slider(key="ia").value == 0.3


def test_segments_page_clusters_names_and_saves(app: AppTest) -> None:
    app.switch_page("pages/segments.py").run()
    app.radio(key="seg_mode").set_value("attributes").run()
    app.multiselect(key="seg_cols_attributes").set_value(["Sector", "Years as client"]).run()
    app.number_input(key="seg_k").set_value(3).run()
    app.button(key="seg_run").click().run()
    ok(app)
    assert "Stability" in texts(app)
    app.text_input(key="seg_save_name").set_value("three").run()
    app.button(key="seg_save").click().run()
    ok(app)
    assert app.sidebar.selectbox(key="seg").value == "saved: three"
    app.switch_page("pages/overview.py").run()
    ok(app)
    assert len([c for c in app.get("markdown") if c.value.startswith("**")]) >= 3
    app.switch_page("pages/actions.py").run()  # at-risk rows joined to the saved segments
    ok(app)
    assert set(app.selectbox(key="segment").options) == set(app.session_state["seg_result"].names)
    app.switch_page("pages/segments.py").run()
    app.session_state["saved_names"] = {
        "edited_rows": {0: {"name": "Loyal veterans"}},
        "added_rows": [],
        "deleted_rows": [],
    }
    app.run()
    app.button(key="saved_names_save").click().run()
    ok(app)
    app.switch_page("pages/overview.py").run()
    assert "**Loyal veterans**" in texts(app)


def test_action_plan_what_if_and_at_risk(app: AppTest) -> None:
    app.switch_page("pages/actions.py").run()
    ok(app)
    plan = app.dataframe[0].value
    assert plan["What to do"].iloc[0] in ("Fix", "Grow")

    def predicted() -> str:
        return next(m.value for m in app.metric if m.label.startswith("Predicted"))

    before = predicted()
    app.slider(key="wi_share").set_value(100).run()
    app.selectbox(key="wi_tp").set_value(plan.Touchpoint.iloc[0]).run()
    ok(app)
    assert predicted() != before or plan["What to do"].iloc[0] == "Grow"
    # the at-risk list (the delight list follows it since issue 13)
    people = next(d.value for d in app.dataframe if "low ratings" in d.value.columns)
    assert len(people) > 0 and (people["low ratings"] > 0).all()
    seg = app.selectbox(key="segment").value
    assert (people["segment"] == seg).all()
    assert any("respondent is the survey's 'Client ID'" in c.value for c in app.caption)


def test_flips_are_highlighted_with_a_sentence(app: AppTest) -> None:
    app.switch_page("pages/compare.py").run()
    app.multiselect(key="compare").set_value(["Commercial developers", "Public agencies"]).run()
    ok(app)
    flips = [w.value for w in app.warning if "is a vulnerability for" in w.value]
    assert flips, "the demo plants Change orders as a flip between these two"
    assert any("Change orders" in f for f in flips)
    matrix = chart_frames(app, 0)[0]
    assert "⇄ Change orders" in set(matrix.touchpoint)


def test_filters_narrow_the_respondents_and_live_in_the_url(app: AppTest) -> None:
    open_panels(app)
    app.sidebar.selectbox(key="f_col").set_value("Region").run()
    region = app.sidebar.multiselect(key="f_val").options[0]
    app.sidebar.multiselect(key="f_val").set_value([region]).run()
    ok(app)
    n = int({m.label: m.value for m in app.metric}["Respondents"].replace(",", ""))
    assert 0 < n < 6600
    assert app.query_params["f_val"] in (region, [region])
    assert f"Region in {region}" in texts(app)
    app.sidebar.date_input(key="f_to").set_value(app.sidebar.date_input(key="f_from").value).run()
    ok(app)
    m = int({m.label: m.value for m in app.metric}["Respondents"].replace(",", ""))
    assert m < n


def test_a_filter_value_with_a_quote_is_bound_not_spliced(store_dir: Path) -> None:
    """Filter values go to the engine as bound parameters: a quote in one is just a letter."""
    store = Store(store_dir)
    info = ensure_demo(store)
    # Datasets never change in place: a new version has the quote in it.
    info = store.save_query(
        info.name,
        f"SELECT * REPLACE (CASE WHEN Region = ? THEN ? ELSE Region END AS Region) "
        f"FROM {info.table}",
        ["West", "O'Brien"],
        info.spec,
        info.report,
        info.source_name,
        info.source_sha256,
    )
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    open_panels(at)
    at.sidebar.selectbox(key="f_col").set_value("Region").run()
    assert "O'Brien" in at.sidebar.multiselect(key="f_val").options
    at.sidebar.multiselect(key="f_val").set_value(["O'Brien"]).run()
    ok(at)
    n = int({m.label: m.value for m in at.metric}["Respondents"].replace(",", ""))
    west = store.cursor().execute(
        f"SELECT count(*) FROM {info.table} WHERE Region = ? AND __cmot_y IS NOT NULL",
        ["O'Brien"],
    )
    assert n == west.fetchall()[0][0]
    assert "Region in O'Brien" in texts(at)
    for page in ("moments", "actions"):  # the at-risk list binds the same values
        ok(at.switch_page(f"pages/{page}.py").run())


def test_datasets_rename_delete_and_spec_download(app: AppTest) -> None:
    app.switch_page("pages/data.py").run()
    app.text_input(key="ds_new_name").set_value("renamed").run()
    app.button(key="ds_rename").click().run()
    ok(app)
    assert app.sidebar.selectbox(key="dataset").value == "renamed"
    spec = app.get("download_button")
    assert any(b.proto.label == "Journey spec (TOML)" for b in spec)
    app.checkbox(key="ds_sure").check().run()
    app.button(key="ds_delete").click().run()
    ok(app)
    assert "No datasets yet" in app.sidebar.info[0].value


def test_three_segments_pick_the_pair_of_the_differences(app: AppTest) -> None:
    app.switch_page("pages/compare.py").run()
    segs = app.multiselect(key="compare").options
    app.multiselect(key="compare").set_value(segs[:3]).run()
    pairs = app.selectbox(key="pair").options
    assert len(pairs) == 3
    app.selectbox(key="pair").set_value(pairs[2]).run()
    ok(app)
    title = charts(app)[1]["title"]["text"]  # a title fitted to its container
    assert title.endswith(f"{segs[1]} minus {segs[2]}")
    assert len(set(chart_frames(app, 0)[0].segment)) == 3


def test_guardrails_show_where_the_numbers_would_be(app: AppTest) -> None:
    # One survey day leaves every segment far below max(30, 10 x touchpoints) respondents.
    open_panels(app)
    day = app.sidebar.date_input(key="f_from").value
    app.sidebar.date_input(key="f_to").set_value(day).run()
    ok(app)
    # Insufficient segments collapse to one line each, the reason inside.
    short = [e for e in app.expander if "insufficient data" in e.label]
    assert len(short) >= 2
    assert "needs at least 120" in texts(app)
    app.switch_page("pages/moments.py").run()
    ok(app)
    assert "needs at least 120" in app.warning[0].value
    assert set(app.dataframe[0].value["Class"]) == {"? insufficient"}
