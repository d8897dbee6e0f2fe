"""Context travels (issue 28, item 5) and the what-if in words (item 7), through the app.

Every results page states the dataset, segments, pooling and filters; downloads carry the
same sentence; a bare link opens the configured default dataset; the what-if's choices live
in the link and its words follow the prediction's interval and the amount at stake.
"""

from __future__ import annotations

import io
from pathlib import Path

import altair as alt
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from cmot.engine.view import ValueFilter, View, view_sql
from cmot.ingest.options import IngestOptions
from cmot.results.moments import Settings, find_moments
from cmot.results.summary import amount
from cmot.store.datasets import Store
from cmot.store.demo import DATA_DIR, DEMO_NAME, demo_spec, ensure_demo
from cmot.store.intake import ingest
from cmot.ui.state import set_default_dataset
from cmot.ui.widgets import _render, chart_spec, csv_with_headline
from tests.app.test_pages import APP, ok, texts
from tests.planted import read_as_text

RESULT_PAGES = ["overview", "journey", "moments", "compare", "trends", "actions", "segments"]
NORTH = {"dataset": DEMO_NAME, "seg": "Segment", "f_col": "Region", "f_val": "North"}
CONTEXT = "demo v1 · segments by Segment · each segment alone · only Region in North"


def _app(params: dict[str, str]) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=180)
    at.query_params.update(params)
    return at


@pytest.mark.parametrize("page", RESULT_PAGES)
def test_every_results_page_states_dataset_segments_pooling_and_filter(
    store_dir: Path, page: str
) -> None:
    at = ok(_app({**NORTH, "pool": "none"}).run())
    ok(at.switch_page(f"pages/{page}.py").run())
    said = texts(at)
    assert CONTEXT in said, said[:400]
    assert "weighted by Weight" in said


def test_the_context_follows_the_sidebar(store_dir: Path) -> None:
    at = ok(_app({"dataset": DEMO_NAME, "seg": "(whole sample)", "pool": "partial"}).run())
    ok(at.switch_page("pages/compare.py").run())
    said = texts(at)
    assert "demo v1 · whole sample, no segments · all respondents" in said
    at = ok(_app({**NORTH, "pool": "partial"}).run())
    ok(at.switch_page("pages/journey.py").run())
    assert "segments by Segment · partial pooling across segments · only Region" in texts(at)


def test_downloads_carry_the_context_in_their_headline() -> None:
    frame = pd.DataFrame({"touchpoint": ["=cmd", "Invoicing"], "at stake": [0.047, 0.01]})
    raw = csv_with_headline(frame, "=demo v1 · segments by Segment · only Region in North")
    assert raw.startswith("\ufeff".encode())
    text = raw.decode("utf-8-sig")
    first = text.split("\r\n")[0]
    assert first == "'=demo v1 · segments by Segment · only Region in North"  # formula-safe
    back = pd.read_csv(io.StringIO(text), skiprows=1)
    assert list(back.columns) == ["touchpoint", "at stake"]
    assert back.touchpoint.tolist() == ["'=cmd", "Invoicing"]
    assert csv_with_headline(frame, "").decode("utf-8-sig").startswith("touchpoint,")
    bars = alt.Chart(frame).mark_bar().encode(x="at stake:Q", y="touchpoint:N")
    for chart in (bars, bars.properties(title="At stake"), bars.properties(title={"text": "T"})):
        spec = chart_spec(chart)
        svg = _render(spec.json, "svg", "demo v1 · only Region in North").decode()
        assert "only Region in North" in svg
        assert "only Region" not in _render(spec.json, "svg", "").decode()


def _second_dataset(store_dir: Path, name: str) -> Store:
    store = Store(store_dir)
    ensure_demo(store)
    data = (DATA_DIR / "demo_survey.csv").read_bytes()
    ingest(store, data, name, IngestOptions(spec=demo_spec()), source_name="copy.csv")
    return store


def test_a_bare_link_opens_the_default_dataset(store_dir: Path) -> None:
    store = _second_dataset(store_dir, "aaa-first-by-name")  # sorts before "demo"
    at = ok(_app({}).run())
    assert at.sidebar.selectbox(key="dataset").value == DEMO_NAME  # not the first by name
    set_default_dataset(store, "aaa-first-by-name")
    at = ok(_app({}).run())
    assert at.sidebar.selectbox(key="dataset").value == "aaa-first-by-name"
    assert at.query_params["dataset"] in ("aaa-first-by-name", ["aaa-first-by-name"])
    at = ok(_app({"dataset": DEMO_NAME}).run())  # a link that names one still opens it
    assert at.sidebar.selectbox(key="dataset").value == DEMO_NAME


def test_the_default_is_set_on_the_data_page(store_dir: Path) -> None:
    _second_dataset(store_dir, "aaa-first-by-name")
    at = ok(_app({}).run())
    ok(at.switch_page("pages/data.py").run())
    assert "opens 'demo'" in texts(at)
    at.selectbox(key="ds_pick").set_value("aaa-first-by-name").run()
    ok(at.button(key="ds_default").click().run())
    assert "opens 'aaa-first-by-name'" in texts(at)
    assert ok(_app({}).run()).sidebar.selectbox(key="dataset").value == "aaa-first-by-name"


WHAT_IF = {"segment": "Commercial developers", "wi_tp": "Pricing clarity"}


def test_the_what_if_lives_in_the_link(store_dir: Path) -> None:
    link = {**NORTH, **WHAT_IF, "wi_move": "middle_to_top", "wi_share": "80"}
    at = ok(_app(link).run())
    ok(at.switch_page("pages/actions.py").run())
    assert at.selectbox(key="wi_tp").value == "Pricing clarity"
    assert at.radio(key="wi_move").value == "middle_to_top"
    assert at.slider(key="wi_share").value == 80
    at.slider(key="wi_share").set_value(30).run()
    at.radio(key="wi_move").set_value("bottom_to_middle").run()
    ok(at)
    assert at.query_params["wi_share"] in ("30", ["30"])
    assert at.query_params["wi_move"] in ("bottom_to_middle", ["bottom_to_middle"])
    # The changed link reproduces the view in a new session.
    shared = {k: str(v[0] if isinstance(v, list) else v) for k, v in at.query_params.items()}
    again = ok(_app(shared).run())
    ok(again.switch_page("pages/actions.py").run())
    assert again.slider(key="wi_share").value == 30
    assert again.radio(key="wi_move").value == "bottom_to_middle"
    bad = ok(_app({**link, "wi_share": "250", "wi_move": "sideways"}).run())
    ok(bad.switch_page("pages/actions.py").run())
    assert bad.slider(key="wi_share").value == 50  # out of range: the default
    assert bad.radio(key="wi_move").value == "bottom_to_middle"


def _what_if_words(at: AppTest) -> str:
    return read_as_text(
        "\n".join(str(e.value) for k in ("info", "markdown", "caption") for e in at.get(k))
    )


def test_the_what_if_says_today_the_prediction_and_no_clear_change(store_dir: Path) -> None:
    at = ok(_app({**NORTH, **WHAT_IF, "wi_move": "middle_to_top", "wi_share": "50"}).run())
    ok(at.switch_page("pages/actions.py").run())
    today, predicted = at.metric[-2], at.metric[-1]
    assert today.label == "Would hire again today"
    assert today.value.endswith("%") and predicted.value.endswith("%")
    assert "interval" in predicted.delta
    said = _what_if_words(at)
    lo, hi = (float(x) for x in predicted.delta.split("interval ")[1].rstrip(" pts)").split(" to "))
    if lo <= 0 <= hi:
        assert "no clear change (the interval spans zero" in said
    else:
        assert "a clear rise" in said or "a clear fall" in said
    assert f"Would hire again today: {today.value} for Commercial developers" in said


def test_the_what_if_relates_to_the_amount_at_stake(store_dir: Path) -> None:
    # Every low rater of a vulnerability moved to the middle recovers its risk, which is
    # the amount at stake every page shows: 100% of the engine's own number.
    store = Store(store_dir)
    info = ensure_demo(store)
    query = view_sql(
        View(info.table, segmentation=("Segment",), filters=(ValueFilter("Region", ("North",)),))
    )
    result = find_moments(
        store.cursor(),
        query.relation,
        info.spec,
        query.columns,
        Settings(pooling="none"),
        params=query.params,
    )
    m = result.moments
    vul = m[(m.segment == "Commercial developers") & (m["class"] == "vulnerability")]
    assert len(vul), "the demo's Commercial developers have a vulnerability in North"
    tp, stake = str(vul.touchpoint.iloc[0]), float(vul.at_stake.iloc[0])
    link = {**NORTH, "pool": "none", "segment": "Commercial developers", "wi_tp": tp}
    at = ok(_app({**link, "wi_share": "100"}).run())
    ok(at.switch_page("pages/actions.py").run())
    said = _what_if_words(at)
    want = amount(stake, "percentage points")
    assert f"That is 100% of {want}" in said, said[-600:]
    assert f"{tp}'s amount at stake as a vulnerability is {want}" in said
