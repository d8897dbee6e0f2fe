"""Partial pooling on the pages (issue 24): the Method settings switch between partial
pooling across segments and each segment alone (kept in the URL), and every result page says
which and how much of each segment's estimate is its own data.

Kansas City by council district, outcome q2_01 on the q3_* and q5_* items (23 touchpoints,
9 = don't know): alone no district has enough respondents (10 x 23 = 230; they have
149-212); pooled every district gets results."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from cmot.settings import DEFAULT_POOLING, POOLING_WORDS
from cmot.store.datasets import Store
from cmot.store.demo import ensure_demo
from tests.app.kc import KC_STAGES, ingest_kc, kc_csv
from tests.app.panels import open_panels
from tests.app.test_pages import APP, ok, texts

DISTRICTS = 6
OWN = re.compile(r"own data \d{1,2}%")


@pytest.fixture(autouse=True)
def _fresh_engine_cache() -> None:
    """The engine keeps sums per dataset id; each test's new store reuses the same ids."""
    from cmot.results.moments import clear_cache

    clear_cache()


def _app(pool: str | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=180)
    at.query_params["dataset"] = "kc23"
    at.query_params["seg"] = "counci"
    if pool is not None:
        at.query_params["pool"] = pool
    return ok(at.run())


@pytest.fixture
def kc23(store_dir: Path) -> None:
    kc_csv()  # skips, saying where it looked, when the survey is absent
    store = Store(store_dir)
    ensure_demo(store)
    ingest_kc(store, "kc23", {k: KC_STAGES[k] for k in ("City services", "Police")})


def _short(at: AppTest) -> list[str]:
    return [e.label for e in at.expander if "insufficient data" in e.label]


def test_the_default_is_the_measured_one_and_lives_in_the_url(kc23: None) -> None:
    at = _app()
    open_panels(at)
    assert at.sidebar.selectbox(key="pool").value == DEFAULT_POOLING
    assert DEFAULT_POOLING in str(at.query_params["pool"])
    assert POOLING_WORDS[DEFAULT_POOLING] in texts(at)


def test_the_method_switch_changes_the_overview(kc23: None) -> None:
    at = _app("partial")
    # Pooled: every district gets a card with its own share.
    assert _short(at) == []
    body = texts(at)
    assert "partial pooling across segments" in body
    assert len(OWN.findall(body)) == DISTRICTS
    # Each segment alone: every district is insufficient, and the pages say so.
    open_panels(at)
    at.sidebar.selectbox(key="pool").set_value("none").run()
    ok(at)
    assert len(_short(at)) == DISTRICTS
    body = texts(at)
    assert "each segment alone" in body and not OWN.search(body)
    assert "needs at least 230" in body
    # Alone, a district's fit is possible but thin: it says how many touchpoints it could take.
    assert "enough alone for 21 of its 23 touchpoints" in body  # district 6, 212 respondents
    assert "pooled across segments, 30 suffice" in body  # where the switch would help
    assert "pool" in at.query_params and "none" in str(at.query_params["pool"])


@pytest.mark.parametrize("pool", ["partial", "none"])
def test_a_link_reopens_its_pooling(kc23: None, pool: str) -> None:
    at = _app(pool)
    # The Method settings panel is closed: the link's pooling still holds.
    assert "pool" not in [s.key for s in at.sidebar.selectbox]
    assert at.session_state["view"].settings.pooling == pool
    assert len(_short(at)) == (DISTRICTS if pool == "none" else 0)
    open_panels(at)
    assert at.sidebar.selectbox(key="pool").value == pool
    assert len(_short(at)) == (DISTRICTS if pool == "none" else 0)


@pytest.mark.parametrize("page", ["moments", "compare", "journey", "actions"])
def test_every_result_page_says_the_pooling_and_the_own_share(kc23: None, page: str) -> None:
    at = _app("partial")
    ok(at.switch_page(f"pages/{page}.py").run())
    body = texts(at)
    assert "partial pooling across segments" in body, page
    if page in ("moments", "compare"):
        assert OWN.search(body), page
    if page == "moments":  # the largest district, pooled: its numbers are shown
        assert at.selectbox(key="segment").value == "6"
        assert not any("not enough data" in w.value for w in at.warning)
    open_panels(at)
    at.sidebar.selectbox(key="pool").set_value("none").run()
    ok(at)
    assert "each segment alone" in texts(at), page


@pytest.mark.parametrize("pool", ["partial", "none"])
def test_driver_segments_moments_follow_the_pooling_setting(store_dir: Path, pool: str) -> None:
    """The Segments page's driver segments: their moments of truth as `segments --mode
    drivers --pooling` writes them (cmot.segments.driver_based.driver_moments with the sidebar's
    settings), saying which estimate they are; pooled, each segment's own data."""
    from cmot.present.tables import driver_rows
    from cmot.segments.driver_based import driver_moments, driver_overview
    from cmot.settings import Settings

    at = AppTest.from_file(APP, default_timeout=300)
    at.query_params.update({"dataset": "demo", "pool": pool})
    ok(at.run())
    at.switch_page("pages/segments.py").run()
    at.radio(key="seg_mode").set_value("drivers").run()
    at.multiselect(key="seg_cols_drivers").set_value(["Sector"]).run()
    at.number_input(key="seg_k").set_value(2).run()
    at.button(key="seg_run").click().run()
    ok(at)
    assert not at.error, [e.value for e in at.error]
    assert f"Moments of truth by driver segment** ({POOLING_WORDS[pool]};" in texts(at)
    shown = next(d.value for d in at.dataframe if "Own data" in d.value.columns)
    seg = at.session_state["seg_result"]
    store = Store(store_dir)
    info = store.get_dataset("demo")
    want = driver_overview(
        driver_moments(store.cursor(), info.table, info.spec, seg, Settings(pooling=pool))
    )
    pd.testing.assert_frame_equal(shown.reset_index(drop=True), driver_rows(want))
    assert len(want) == 2
    if pool == "partial":
        assert want["own data"].between(0, 1, inclusive="left").all()
        assert shown["Own data"].str.fullmatch(r"\d{1,3}%").all()  # as %, never 0.996
    else:
        assert want["own data"].isna().all()
        assert (shown["Own data"] == "–").all()  # alone: a dash, never None


@pytest.fixture
def tiny_segment(store_dir: Path, tmp_path: Path) -> None:
    """A survey whose segment D has 15 respondents (too few even to pool) and C 36 (enough
    to pool, too few alone for its 4 touchpoints), beside A and B (the wiring tests' frame)."""
    from cmot.ingest.options import IngestOptions
    from cmot.store.intake import ingest
    from tests.unit.moments_fixtures import synthetic_frame
    from tests.unit.test_pooling_wiring import EFFECTS

    segs = ("A",) * 120 + ("B",) * 70 + ("C",) * 7 + ("D",) * 3
    frame = synthetic_frame(1000, seed=7, segments=segs, effects=EFFECTS)
    survey = frame.rename(columns={"__cmot_y": "y"}).drop(columns="__cmot_w", errors="ignore")
    csv = tmp_path / "tiny.csv"
    survey.assign(y=survey.y.astype(int)).to_csv(csv, index=False)
    store = Store(store_dir)
    ensure_demo(store)
    options = IngestOptions(
        outcome="y",
        outcome_kind="binary",
        touchpoints=("t0", "t1", "t2", "t3"),
        roles={"seg": "attribute"},
    )
    ingest(store, csv, "tiny", options)


@pytest.mark.parametrize("pool", ["partial", "none"])
def test_below_the_minimum_the_overview_says_what_a_segment_has_and_needs(
    tiny_segment: None, pool: str
) -> None:
    at = AppTest.from_file(APP, default_timeout=180)
    at.query_params.update({"dataset": "tiny", "seg": "seg", "pool": pool})
    body = texts(ok(at.run()))
    if pool == "partial":  # D is below pooling's minimum; C is pooled
        assert re.search(r"\d+ respondents; needs at least 30 to be pooled across segments", body)
        assert len(_short(at)) == 1
    else:  # alone, C could take some of its touchpoints, and pooling would take it
        assert re.search(r"enough alone for 3 of its 4 touchpoints; pooled across segments", body)
        assert len(_short(at)) == 2
