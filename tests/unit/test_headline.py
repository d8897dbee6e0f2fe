"""The executive's headline (cmot.results.headline): certainty words on planted truth, the q-values
against statsmodels, the outcome's change against numpy, Fix first / Invest next on the demo."""

from __future__ import annotations

import math
import tempfile
from collections.abc import Iterator

import duckdb
import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.multitest import multipletests

from cmot.results.headline import (
    CERTAINTY,
    EVERYONE,
    MOST,
    STAKE_MEANING,
    build_headline,
    certainty,
    certainty_of,
    date_period,
    outcome_change,
    period_sums,
    stake_text,
)
from cmot.results.moments import ALL, MomentsResult, find_moments
from cmot.results.summary import NO_DIFFERENCE, amount, segments_of
from cmot.store.datasets import Store
from cmot.store.demo import ensure_demo
from cmot.store.versions import DatasetInfo
from tests.unit.moments_fixtures import make_spec, register_frame, synthetic_frame

TPS = ("t0", "t1", "t2", "t3")


def planted(effects: dict[str, list[tuple[float, float]]], seed: int = 7) -> MomentsResult:
    """4,000 respondents in A and B; t0..t3 with the planted (penalty, reward) per segment."""
    con = duckdb.connect()
    register_frame(con, synthetic_frame(4000, seed, effects=effects))
    return find_moments(con, "survey", make_spec(TPS), "seg")


# t0 a strong table stake and t1 a strong differentiator in both segments; t2, t3 noise.
SAME = {s: [(0.3, 0.0), (0.0, 0.3), (0.0, 0.0), (0.0, 0.0)] for s in ("A", "B")}


def word(words: pd.DataFrame, seg: str, tp: str, col: str = "certainty") -> str:
    row = words[(words.segment == seg) & (words.touchpoint == tp)]
    return str(row[col].iloc[0])


def test_a_planted_table_stake_is_clear_and_noise_could_be_chance() -> None:
    result = planted(SAME)
    words = certainty(result)
    m = result.moments
    for seg in ("A", "B", ALL):
        row = m[(m.segment == seg) & (m.touchpoint == "t0")].iloc[0]
        assert row["class"] == "vulnerability"
        assert word(words, seg, "t0") == "clear"
        assert word(words, seg, "t1") == "clear"  # the differentiator's reward
        for tp in ("t2", "t3"):  # noise: nothing at stake, and neither side stands out
            assert word(words, seg, tp) == ""
            assert word(words, seg, tp, "penalty_word") == "could be chance"
            assert word(words, seg, tp, "reward_word") == "could be chance"


def test_q_values_are_benjamini_hochberg_over_the_whole_result() -> None:
    result = planted(SAME)
    m = result.moments
    p = np.concatenate(
        [
            np.where(m.penalty > 0, m.penalty_p, 1.0),
            np.where(m.reward > 0, m.reward_p, 1.0),
        ]
    )
    want = multipletests(p, method="fdr_bh")[1]
    words = certainty(result)
    got = np.concatenate([words.penalty_q, words.reward_q])
    np.testing.assert_allclose(got, want, rtol=1e-12)


@pytest.mark.parametrize(
    ("lo", "q", "want"),
    [
        (0.02, 0.01, "clear"),
        (0.02, 0.2, "likely"),  # the interval excludes 0, the many tests make it unsure
        (0.0, 0.01, "could be chance"),  # clipped at 0: the interval reaches zero
        (math.nan, math.nan, "could be chance"),
    ],
)
def test_certainty_of_one_effect(lo: float, q: float, want: str) -> None:
    assert certainty_of(lo, q, 0.05) == want


def test_lists_run_across_segments_that_differ() -> None:
    # A's t0 is a table stake, B's t1 a differentiator: the segments differ on both.
    result = planted(
        {"A": [(0.35, 0.0)] + [(0.0, 0.0)] * 3, "B": [(0.0, 0.0), (0.0, 0.35)] + [(0.0, 0.0)] * 2}
    )
    h = build_headline(result, make_spec(TPS), segments_of(result))
    assert h.segments_differ and h.segmented
    assert (h.fix_first[0].verb, h.fix_first[0].touchpoint, h.fix_first[0].segment) == (
        "Fix",
        "t0",
        "A",
    )
    assert (h.invest_next[0].verb, h.invest_next[0].touchpoint, h.invest_next[0].segment) == (
        "Grow",
        "t1",
        "B",
    )
    assert h.fix_first[0].certainty == "clear"
    assert h.difference.startswith("The biggest difference")


def test_lists_speak_for_everyone_when_no_segment_differs() -> None:
    result = planted(SAME)
    h = build_headline(result, make_spec(TPS), segments_of(result))
    assert h.segmented and not h.segments_differ
    assert h.difference == NO_DIFFERENCE
    assert "no segment differs" in h.scope
    assert {p.segment for p in h.fix_first + h.invest_next} == {EVERYONE}
    assert [p.touchpoint for p in h.fix_first] == ["t0"]
    assert [p.touchpoint for p in h.invest_next] == ["t1"]


# ---- the demo ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo() -> Iterator[tuple[Store, DatasetInfo, MomentsResult]]:
    with tempfile.TemporaryDirectory() as d:
        store = Store(f"{d}/s")
        info = ensure_demo(store)
        yield store, info, find_moments(store.cursor(), info.table, info.spec, "Segment")
        from cmot.store import directory as store_mod

        store_mod.close_all()


def test_demo_headline_names_the_outcome_and_puts_vulnerabilities_first(
    demo: tuple[Store, DatasetInfo, MomentsResult],
) -> None:
    _, info, result = demo
    h = build_headline(result, info.spec, segments_of(result))
    assert h.outcome == "Would hire again" and h.meaning == "answered Yes"
    assert h.level_text == "56.0%"
    assert 0 < len(h.fix_first) <= MOST and 0 < len(h.invest_next) <= MOST
    assert {p.cls for p in h.fix_first} == {"vulnerability"}
    assert {p.cls for p in h.invest_next} <= {"opportunity", "hybrid"}
    m = result.moments.set_index(["segment", "touchpoint"])
    for p in h.fix_first + h.invest_next:
        row = m.loc[(p.segment, p.touchpoint)]
        assert p.stake == row.at_stake  # the engine's one amount, nothing recomputed
        assert p.amount == amount(row.at_stake, result.unit) and p.amount.endswith(" pts")
        assert float(p.amount.split()[0]) > 1  # percentage points, never a fraction
        assert p.meaning == STAKE_MEANING[row.stake_basis]
        assert p.certainty in CERTAINTY
    # The planted table stakes of the demo are large: the first is sure.
    assert h.fix_first[0].certainty == "clear"
    stakes = [p.stake for p in h.fix_first]
    assert stakes == sorted(stakes, reverse=True)


def test_the_banner_names_the_amount_the_lists_show(
    demo: tuple[Store, DatasetInfo, MomentsResult],
) -> None:
    """The banner's effect per respondent (28.4 pts) is not the moment's amount at stake
    (17.5 pts, in Invest next): it says both, and the latter equals the list's."""
    _, info, result = demo
    h = build_headline(result, info.spec, segments_of(result))
    said = h.difference
    assert "per respondent" in said, said
    rows = {(p.touchpoint, p.segment): p.amount for p in h.fix_first + h.invest_next}
    named = [(tp, seg, a) for (tp, seg), a in rows.items() if f"at {tp}," in said]
    assert named, (said, rows)
    _, seg, shown = named[0]
    assert f"for {seg} ({shown} at stake there) but " in said, (said, shown)


def test_stake_text_dashes_a_missing_amount() -> None:
    assert stake_text(math.nan, "percentage points") == "–"
    assert stake_text(0.047, "percentage points") == "4.7 pts"
    assert stake_text(0.047, "scale points") == "0.05 points"


# ---- the outcome's change ------------------------------------------------------------------


def test_outcome_change_matches_numpy_on_two_periods() -> None:
    rng = np.random.default_rng(3)
    n0, n1 = 600, 500
    y = np.concatenate([rng.random(n0) < 0.50, rng.random(n1) < 0.60]).astype(float)
    wave = ["w1"] * n0 + ["w2"] * n1
    con = duckdb.connect()
    register_frame(con, pd.DataFrame({"wave": wave, "__cmot_y": y, "__cmot_w": 1.0}))
    sums = period_sums(con, "survey", "wave", None)
    got = outcome_change(sums, "wave")
    assert got is not None
    a, b = y[:n0], y[n0:]
    diff = b.mean() - a.mean()
    se = math.sqrt(a.var(ddof=1) / n0 + b.var(ddof=1) / n1)
    assert got.change == pytest.approx(diff, rel=1e-12)
    assert got.hi - got.change == pytest.approx(1.959964 * se, rel=1e-5)
    assert (got.previous, got.current, got.n_before, got.n_now) == ("w1", "w2", n0, n1)
    assert got.certainty == ("clear" if got.lo > 0 else "could be chance")
    assert got.text("percentage points").startswith(f"{100 * diff:+.1f} pts since w1")


def test_outcome_change_needs_two_periods_with_enough_respondents() -> None:
    con = duckdb.connect()
    frame = pd.DataFrame({"wave": ["w1"] * 50 + ["w2"] * 5, "__cmot_y": 1.0, "__cmot_w": 1.0})
    register_frame(con, frame)
    assert outcome_change(period_sums(con, "survey", "wave", None), "wave") is None
    assert outcome_change(period_sums(con, "survey", "wave", None).head(1), "wave") is None


def test_demo_dates_give_quarters(demo: tuple[Store, DatasetInfo, MomentsResult]) -> None:
    store, info, _ = demo
    lo, hi = store.cursor().execute(
        f'SELECT min(TRY_CAST("Survey date" AS DATE)), max(TRY_CAST("Survey date" AS DATE)) '
        f"FROM {info.table}"
    ).fetchone() or (None, None)
    assert date_period(lo, hi) == "quarter"
    sums = period_sums(store.cursor(), info.table, "Survey date", "quarter")
    assert list(sums.period) == ["2026-Q1", "2026-Q2", "2026-Q3", "2026-Q4"]
    change = outcome_change(sums, "Survey date")
    assert change is not None and change.previous == "2026-Q3"
    # The demo's outcome does not drift: the change is small and said to be chance.
    assert change.certainty == "could be chance"
