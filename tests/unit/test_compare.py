"""Differences between segments: z-tests, Benjamini-Hochberg, flips."""

from __future__ import annotations

import duckdb
import numpy as np
import pytest

from cmot.errors import CmotError
from cmot.results import compare as C
from cmot.results import moments as M
from tests.unit.moments_fixtures import make_spec, register_frame, synthetic_frame

TPS = tuple(f"t{j}" for j in range(6))
SAME = [(0.25, 0.0), (0.0, 0.25), (0.15, 0.15), (0.0, 0.0), (0.1, 0.0), (0.0, 0.0)]


def result_for(frame) -> M.MomentsResult:
    con = duckdb.connect()
    register_frame(con, frame)
    return M.find_moments(con, "survey", make_spec(TPS), "seg")


def test_bh_matches_statsmodels() -> None:
    from statsmodels.stats.multitest import multipletests

    p = np.random.default_rng(0).uniform(0, 0.2, 40)
    p[[3, 9]] = np.nan
    ok = np.isfinite(p)
    expected = multipletests(p[ok], method="fdr_bh")[1]
    np.testing.assert_allclose(C.adjust_bh(p)[ok], expected, rtol=1e-12)
    assert np.isnan(C.adjust_bh(p)[[3, 9]]).all()


def test_a_real_difference_is_significant_and_named() -> None:
    frame = synthetic_frame(
        6000, seed=1, touchpoints=6, effects={"A": [(0.35, 0.0)] + SAME[1:], "B": SAME}
    )
    result = result_for(frame)
    diff = C.compare_segments(result, "A", "B")
    assert list(diff.columns) == C.COMPARE_COLUMNS
    t0 = diff[(diff.column == "t0") & (diff.measure == "penalty")].iloc[0]
    assert t0.significant and t0.difference > 0.05
    assert diff.significant.sum() <= 2
    back = C.compare_segments(result, "B", "A")
    np.testing.assert_allclose(back.z.to_numpy(), -diff.z.to_numpy())
    np.testing.assert_allclose(back.q.to_numpy(), diff.q.to_numpy())


def test_flip_is_found_with_a_sentence() -> None:
    flip_a = [(0.3, 0.0), *SAME[1:]]
    flip_b = [(0.0, 0.3), *SAME[1:]]
    frame = synthetic_frame(6000, seed=2, touchpoints=6, effects={"A": flip_a, "B": flip_b})
    flips = C.find_flips(result_for(frame))
    assert list(flips.touchpoint) == ["t0"]
    f = flips.iloc[0]
    assert (f.vulnerable_in, f.opportunity_in) == ("A", "B")
    assert f.sentence.startswith("t0 is a vulnerability for A")
    assert "percentage points" in f.sentence


@pytest.mark.slow  # 40 null surveys: ~7 s
def test_no_difference_survives_fdr_in_95_percent_of_null_runs() -> None:
    runs, false_alarms = 40, 0
    for seed in range(runs):
        frame = synthetic_frame(
            1600, seed=100 + seed, touchpoints=6, effects={"A": SAME, "B": SAME}
        )
        diff = C.compare_segments(result_for(frame), "A", "B")
        false_alarms += bool(diff.significant.any())
    assert false_alarms <= 0.05 * runs, f"{false_alarms} of {runs} null runs had a difference"


def test_compare_all_covers_every_pair_but_not_all() -> None:
    frame = synthetic_frame(3000, seed=3, touchpoints=6, segments=("A", "B", "C"))
    out = C.compare_all(result_for(frame))
    pairs = set(zip(out.segment_a, out.segment_b, strict=True))
    assert pairs == {("A", "B"), ("A", "C"), ("B", "C")}


@pytest.mark.parametrize(("a", "b"), [("A", "A"), ("A", "nope")])
def test_comparing_unknown_or_same_segments_is_an_error(a, b) -> None:
    frame = synthetic_frame(800, seed=4, touchpoints=6)
    with pytest.raises(CmotError):
        C.compare_segments(result_for(frame), a, b)


def test_compare_all_equals_every_pair_one_at_a_time() -> None:
    """The all-pairs computation gives exactly the rows of compare_segments, pair by pair,
    including insufficient segments (untested) and NaN errors."""
    import itertools

    import pandas as pd

    frame = synthetic_frame(
        2400, seed=6, touchpoints=6, segments=("A", "B", "C", "D"), effects={"A": SAME}
    )
    frame.loc[frame.seg == "D", "seg"] = np.where(
        np.arange((frame.seg == "D").sum()) < 25, "D", "B"
    )
    result = result_for(frame)
    assert result.segments.set_index("segment").loc["D", "insufficient"]
    fast = C.compare_all(result)
    segs = [s for s in result.segments.segment if s != M.ALL]
    slow = pd.concat(
        [C.compare_segments(result, a, b) for a, b in itertools.combinations(segs, 2)],
        ignore_index=True,
    )
    pd.testing.assert_frame_equal(fast, slow, check_dtype=False)
    assert fast.p.notna().any() and fast.p.isna().any()


def test_bh_by_rows_equals_bh_of_each_row() -> None:
    rng = np.random.default_rng(1)
    p = rng.uniform(0, 0.3, (30, 12))
    p[rng.random(p.shape) < 0.2] = np.nan
    p[0] = np.nan
    q = C._adjust_bh_rows(p)
    for row, qrow in zip(p, q, strict=True):
        np.testing.assert_allclose(qrow, C.adjust_bh(row), rtol=1e-12, equal_nan=True)
