"""AppTest on a real, wide survey (Kansas City, 47 touchpoints on 1-5 with 9 = don't know):
every page without an error box, decimals on a scale outcome, the weighting said, question
text as touchpoint names, defaults on the largest segments with enough data, and widget state
reset when the dataset changes."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from cmot.ingest.options import IngestOptions
from cmot.store.datasets import Store
from cmot.store.demo import demo_spec, ensure_demo, generate_demo
from cmot.store.intake import ingest
from cmot.ui.memo import derived
from tests.app.kc import KC_STAGES, ingest_kc, kc_csv
from tests.app.panels import open_panels
from tests.app.test_pages import APP, PAGES, chart_frames, charts, ok, texts
from tests.planted import read_as_text

RESULT_PAGES = ["overview", "journey", "moments", "compare", "actions"]


@pytest.fixture(autouse=True)
def _fresh_engine_cache() -> None:
    """The engine keeps sums per dataset id; each test's new store reuses the same ids."""
    from cmot.results.moments import clear_cache

    clear_cache()


def _app(at_dataset: str, seg: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=180)
    at.query_params["dataset"] = at_dataset
    at.query_params["seg"] = seg
    # These tests read each segment alone (the size rules below), whatever the default;
    # partial pooling gives every district a result: tests/app/test_pooling_pages.py.
    at.query_params["pool"] = "none"
    return at.run()


@pytest.fixture
def kc(store_dir: Path) -> AppTest:
    """The app on the whole 47-touchpoint journey, by council district (all too small)."""
    kc_csv()
    store = Store(store_dir)
    ensure_demo(store)
    ingest_kc(store, "kc")
    return ok(_app("kc", "counci"))


@pytest.fixture
def kc16(store_dir: Path) -> AppTest:
    """The app on the 16 city-service items: districts 6, 5, 4 (212, 177, 167 respondents)
    have enough data (10 x 16 = 160), districts 1, 2, 3 (157, 156, 149) do not."""
    kc_csv()
    store = Store(store_dir)
    ensure_demo(store)
    ingest_kc(store, "kc16", {"City services": KC_STAGES["City services"]})
    return ok(_app("kc16", "counci"))


def test_every_page_on_a_wide_real_survey(kc: AppTest) -> None:
    assert kc.sidebar.selectbox(key="seg").value == "counci"
    for page in PAGES:
        ok(kc.switch_page(f"pages/{page}.py").run())
        if page in RESULT_PAGES:
            # The weighting is said next to the numbers of every result page.
            assert any("Unweighted" in str(c.value) for c in kc.caption), page
    # Touchpoints go by their question text, not their column name.
    kc.switch_page("pages/moments.py").run()
    table = kc.dataframe[0].value
    assert "Police services" in set(table.Touchpoint)
    assert not any(t.startswith("q3_") for t in table.Touchpoint)
    # The outcome is a 1-5 scale: levels and effects with decimals, in points.
    assert "effects in scale points" in texts(kc)
    # District 6 (the largest) is chosen and is insufficient: one short line, details on demand.
    assert kc.selectbox(key="segment").value == "6"
    warning = kc.warning[0].value
    assert warning.startswith("6: not enough data") and len(warning) < 150
    assert "needs at least 470" in warning
    assert "Why, in detail" in [e.label for e in kc.main.expander]


def test_overview_collapses_insufficient_segments_largest_first(kc: AppTest) -> None:
    ok(kc.switch_page("pages/overview.py").run())
    metrics = {m.label: m.value for m in kc.metric}
    raw = pd.read_csv(kc_csv(), usecols=["q2_01"]).q2_01
    rated = raw[~raw.isin([9, 99])].dropna()  # 9 = don't know, 99 = none chosen
    assert metrics["Respondents"] == f"{len(rated):,}"
    # The outcome by name (its question text) and what its level is: a mean score.
    (name,) = [k for k in metrics if k not in ("Respondents", "Segments")]
    assert "mean score" in name
    assert metrics[name] == f"{rated.mean():.2f}"  # 3.20, not "3"
    # Every district is below 10 x 47 respondents: one collapsed line each, largest first,
    # the reason (walls of collinearity details) only inside.
    lines = [e.label for e in kc.expander if "insufficient data" in e.label]
    assert lines == [
        "6: insufficient data (n = 212)",
        "5: insufficient data (n = 177)",
        "4: insufficient data (n = 167)",
        "1: insufficient data (n = 157)",
        "2: insufficient data (n = 156)",
        "3: insufficient data (n = 149)",
    ]
    assert "needs at least 470" in texts(kc)
    assert not kc.warning or all("Insufficient:" not in w.value for w in kc.warning)


def test_long_journey_runs_top_to_bottom_with_every_label(kc: AppTest) -> None:
    ok(kc.switch_page("pages/journey.py").run())
    spec = charts(kc)[0]
    # 47 touchpoints: top to bottom, one row per touchpoint, as wide as the page and no wider.
    assert spec["width"] == "container" and spec["height"] == 22 * 47
    line = next(layer for layer in spec["layer"] if layer["mark"]["type"] == "line")
    assert line["encoding"]["y"]["field"] == "pos"
    assert line["encoding"]["y"]["axis"]["values"] == list(range(47))
    data = next(d for d in chart_frames(kc, 0) if "touchpoint" in d)
    assert data.touchpoint.nunique() == 47
    assert "Enforcing the exterior maintenance of residential property" in set(data.touchpoint)


def test_defaults_are_the_largest_segments_with_enough_data(kc16: AppTest) -> None:
    ok(kc16.switch_page("pages/compare.py").run())
    assert kc16.multiselect(key="compare").value == ["6", "5"]
    # A cell's number is the amount at stake (none at an insufficient or low-impact
    # touchpoint: the symbol alone); on a 1-5 outcome a fraction of a point, two decimals.
    cells = chart_frames(kc16, 0)[0]
    staked = cells["class"].isin(["vulnerability", "opportunity", "hybrid"])
    assert not cells.text[~staked].str.contains(" ").any()
    numbers = [t.split(" ")[-1] for t in cells.text[staked]]
    assert all("." in n and len(n.split(".")[1]) == 2 for n in numbers)
    assert any("Unweighted" in str(c.value) for c in kc16.caption)
    ok(kc16.switch_page("pages/moments.py").run())
    assert kc16.selectbox(key="segment").value == "6"
    ok(kc16.switch_page("pages/journey.py").run())
    assert kc16.multiselect(key="journey_segments").value == ["6", "5", "4"]
    ok(kc16.switch_page("pages/actions.py").run())
    assert kc16.selectbox(key="segment").value == "6"
    ok(kc16.switch_page("pages/overview.py").run())
    # Cards for the three with a result, first; then one line per insufficient district.
    assert [e.label for e in kc16.expander if "insufficient" in e.label] == [
        "1: insufficient data (n = 157)",
        "2: insufficient data (n = 156)",
        "3: insufficient data (n = 149)",
    ]
    body = texts(kc16)
    assert body.index("**6**") < body.index("**5**") < body.index("**4**")


def _demo_in_2024(store: Store, name: str = "demo2024") -> None:
    """A second weighted dataset whose survey dates (2024) lie before the demo's (2026)."""
    demo = generate_demo(n_per_segment=300, seed=3)
    frame = demo.frame.copy()
    frame["Survey date"] = [
        str(dt.date(2024, 3, 1) + dt.timedelta(days=i % 60)) for i in frame.index
    ]
    ingest(store, frame.to_csv(index=False).encode(), name, IngestOptions(spec=demo_spec()))


def test_switching_dataset_resets_state_that_no_longer_fits(store_dir: Path) -> None:
    kc_csv()
    store = Store(store_dir)
    ensure_demo(store)
    _demo_in_2024(store)
    ingest_kc(store, "kc16", {"City services": KC_STAGES["City services"]})
    at = AppTest.from_file(APP, default_timeout=180)
    at.query_params["dataset"] = "demo"
    at.run()
    ok(at)
    assert any("Weighted by Weight" in str(c.value) for c in at.caption)
    # On the demo: a late start date, a region segmentation, two compare picks.
    open_panels(at)
    hi = at.sidebar.date_input(key="f_to").value
    at.sidebar.date_input(key="f_from").set_value(hi - dt.timedelta(days=10)).run()
    at.sidebar.selectbox(key="seg").set_value("Region").run()
    at.switch_page("pages/compare.py").run()
    at.multiselect(key="compare").set_value(["West", "North"]).run()
    ok(at)
    # To a dataset whose dates all lie before that start: no StreamlitValueAboveMaxError,
    # the dates span the new data, the segmentation and picks start afresh.
    at.sidebar.selectbox(key="dataset").set_value("demo2024").run()
    ok(at)
    open_panels(at)  # another page: its panels start closed
    frm, to = at.sidebar.date_input(key="f_from").value, at.sidebar.date_input(key="f_to").value
    assert (frm, to) == (dt.date(2024, 3, 1), dt.date(2024, 4, 29))
    assert at.sidebar.selectbox(key="seg").value == demo_spec().segments[0]
    assert "f_from" not in at.query_params or at.query_params["f_from"] in (
        "2024-03-01",
        ["2024-03-01"],
    )
    # To a dataset without dates and with other segments, then back: every page runs.
    at.sidebar.selectbox(key="dataset").set_value("kc16").run()
    ok(at)
    assert at.sidebar.selectbox(key="seg").value == "counci"
    assert at.multiselect(key="compare").value == ["6", "5"]
    open_panels(at)
    assert not at.sidebar.date_input  # no date filter for a survey without dates
    for page in RESULT_PAGES:
        ok(at.switch_page(f"pages/{page}.py").run())
    at.sidebar.selectbox(key="dataset").set_value("demo").run()
    ok(open_panels(at))
    assert at.sidebar.date_input(key="f_from").value.year == 2026
    for page in RESULT_PAGES:
        ok(at.switch_page(f"pages/{page}.py").run())
    # A save makes a new version (a new dataset id) under the same name: its dates, not the
    # old version's, even with a filter set on the old one.
    open_panels(at)
    at.sidebar.date_input(key="f_from").set_value(dt.date(2026, 9, 1)).run()
    _demo_in_2024(store, "demo")
    at.run()
    ok(at)
    assert at.sidebar.date_input(key="f_from").value == dt.date(2024, 3, 1)


def test_an_unexpected_error_becomes_a_message_and_a_log_entry(
    store_dir: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from cmot.ui.frame import UNEXPECTED

    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    ok(at)
    # A bug deep in a page (here: the first screen's Fix first list) must not show a red box.
    monkeypatch.setattr("cmot.results.headline.priorities", _boom)
    derived.clear()  # the first run kept its stakes with the result: compute them again
    with caplog.at_level("ERROR", logger="cmot.ui"):
        at.switch_page("pages/overview.py").run()
    assert not at.exception
    assert any(UNEXPECTED in str(e.value) for e in at.error)
    assert any("page failed" in r.getMessage() for r in caplog.records)


def test_a_user_error_shows_its_message(store_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from cmot.errors import CmotError

    at = AppTest.from_file(APP, default_timeout=120)
    at.run()

    def refuse(*_: object, **__: object) -> None:
        raise CmotError("Pick a segment with more respondents.")

    monkeypatch.setattr("cmot.results.headline.priorities", refuse)
    derived.clear()  # the first run kept its stakes with the result: compute them again
    at.switch_page("pages/overview.py").run()
    assert not at.exception
    assert [read_as_text(e.value) for e in at.error] == ["Pick a segment with more respondents."]


def _boom(*_: object, **__: object) -> None:
    raise ZeroDivisionError("a bug")


def test_journey_map_of_40_touchpoints_fits_a_page() -> None:
    """The chart itself (no app): rendered, it is no wider than a page and has every row."""
    from cmot.present import exports, scales
    from cmot.present import journey_charts as ch

    n = 40
    rows = pd.DataFrame(
        {
            "segment": ["A"] * n + ["B"] * n,
            "stage": [f"Stage {i // 10}" for i in range(n)] * 2,
            "touchpoint": [f"Touchpoint number {i} with a long question text" for i in range(n)]
            * 2,
            "mean": np.linspace(20, 90, 2 * n),
            "class": ["low impact"] * (2 * n),
        }
    )
    png = exports.chart_png(ch.journey_map(rows, [f"Stage {i}" for i in range(4)]), scale=1)
    width, height = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
    assert width <= 1000 and height >= n * 22
    spec = json.loads(json.dumps(ch.journey_map(rows, []).to_dict()))
    line = next(layer for layer in spec["layer"] if layer["mark"]["type"] == "line")
    limit = line["encoding"]["y"]["axis"]["labelLimit"]["expr"]  # long names, a phone's share
    assert scales.LABEL_LIMIT >= 300 and limit.startswith(f"min({scales.LABEL_LIMIT}, ")
