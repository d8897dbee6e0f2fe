"""The numpy passes' histograms of touchpoint groups (cmot.engine.histograms) against the
matrix products over the design they replace: the first pass's sums equal to the bit, the
HC3 meats to float64 rounding, and through compute_stats."""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd
import pytest

from cmot.engine import blocks, histograms
from cmot.engine.design import MISSING, Cuts, Layout, design_matrix
from cmot.engine.fits import fit_sums
from cmot.engine.histograms import (
    hc3_lookup_meat,
    hc3_plan,
    hc3_tables,
    make_groups,
    make_pass1_plan,
    pass1_part,
    pass1_plan,
    whole_outcome,
)
from cmot.errors import CmotError
from cmot.results import moments as M
from tests.unit.moments_fixtures import make_spec, register_frame, synthetic_frame

# Four scales in one journey: 1-5 (bottom two, top one), 0-10 (NPS-like cut-offs), 1-7
# with its own cut-offs, 1-3.
SCALES = [(1, 5, 2, 5), (0, 10, 6, 9), (1, 7, 3, 6), (1, 3, 1, 3)]


def _cuts(t: int) -> Cuts:
    rows = np.array([SCALES[i % len(SCALES)] for i in range(t)])
    return Cuts(rows[:, 0:1], rows[:, 1:2], rows[:, 2:3], rows[:, 3:4])


def _ratings(cuts: Cuts, m: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    r = rng.integers(cuts.lo, cuts.hi + 1, (cuts.lo.shape[0], m)).astype(np.int8)
    r[rng.random(r.shape) < 0.1] = MISSING
    return r


def _product_sums(r: np.ndarray, y: np.ndarray, cuts: Cuts) -> tuple[np.ndarray, ...]:
    """The products over the block matrix Z in float64, and the levels counted row by row."""
    t = r.shape[0]
    z = design_matrix(r, y, cuts.low, cuts.high, np.float64)
    gram = z[: 3 * t + 2] @ z[: 3 * t + 2].T
    pair = z[3 * t + 2 :] @ z[2 * t : 4 * t + 2].T
    levels = np.zeros((t, cuts.points + 1, 3))
    for i in range(t):
        slot = np.where(r[i] == MISSING, cuts.points, r[i] - cuts.lo[i, 0])
        for s in range(cuts.points + 1):
            rows = slot == s
            levels[i, s] = rows.sum(), rows.sum(), y[rows].sum()
    return gram, pair, levels


def test_groups_pack_touchpoints_within_the_cap() -> None:
    g = make_groups([6, 6, 6, 6, 6], cap=64)
    assert g.members == ((0, 1), (2, 3), (4,))
    assert g.cells == (36, 36, 6)
    assert g.pairs == ((0, 1), (0, 2), (1, 2))
    assert [g.pairs[p] for p in g.owner] == [(0, 1), (0, 1), (1, 2)]
    # Mixed radix, first member most significant.
    assert g.member_states(0)[7].tolist() == [1, 1]
    one = make_groups([4, 4], cap=64)  # a single group gets a constant partner
    assert one.members == ((0, 1), ())
    assert one.cells == (16, 1)
    assert one.pairs == ((0, 1),)


@pytest.mark.parametrize("t", [1, 2, 5, 14])
@pytest.mark.parametrize("outcome", ["binary", "score", "negative"])
def test_first_pass_histograms_equal_the_products(t: int, outcome: str) -> None:
    cuts = _cuts(t)
    r = _ratings(cuts, 3000, seed=t)
    rng = np.random.default_rng(7)
    y = {
        "binary": rng.integers(0, 2, 3000),
        "score": rng.integers(0, 11, 3000),
        "negative": rng.integers(-40, 41, 3000),
    }[outcome].astype(float)
    assert whole_outcome(y)
    got = pass1_part(make_pass1_plan(cuts), r, y)  # whether or not they pay here
    for a, b in zip(got, _product_sums(r, y, cuts), strict=True):
        np.testing.assert_array_equal(a, b)


def test_whole_outcome_only_small_whole_numbers() -> None:
    assert whole_outcome(np.array([0.0, 1.0, 255.0, -255.0]))
    assert not whole_outcome(np.array([0.5, 1.0]))
    assert not whole_outcome(np.array([256.0]))


def test_wide_scales_keep_the_products() -> None:
    # 0-10 everywhere: groups of one touchpoint, a bincount per pair costs more than BLAS.
    t = 60
    cuts = Cuts(*(np.full((t, 1), v) for v in (0, 10, 6, 9)))
    assert pass1_plan(cuts) is None
    assert pass1_plan(_cuts(14)) is not None


@pytest.mark.parametrize("weighted", [False, True])
def test_hc3_lookups_equal_the_products(weighted: bool) -> None:
    t = 7
    cuts = _cuts(t)
    r = _ratings(cuts, 4000, seed=3)
    rng = np.random.default_rng(4)
    y = rng.integers(0, 2, 4000).astype(float)
    w = rng.uniform(0.5, 2.0, 4000) if weighted else None
    x = design_matrix(r, y, cuts.low, cuts.high, np.float64, full=False)
    xy = np.vstack([x, y])
    gram = (xy * (1.0 if w is None else w)) @ xy.T
    fit = fit_sums(gram, Layout(t))
    # A second, unrelated fit: the lookups may not depend on the fit's being the data's.
    other = fit_sums(xy[:, ::-1] @ xy[:, ::-1].T + np.eye(len(xy)), Layout(t))
    plan = hc3_plan(cuts)
    got = hc3_lookup_meat(plan, r, y, w, [hc3_tables(plan, fit), hc3_tables(plan, other)])
    for meat, f in zip(got, (fit, other), strict=True):
        np.testing.assert_allclose(meat, blocks.hc3_meat(x, y, w, f), rtol=1e-10, atol=1e-9)


def test_compute_stats_by_lookups_equals_products(monkeypatch: pytest.MonkeyPatch) -> None:
    frame = synthetic_frame(6000, seed=21, touchpoints=5, segments=("A", "B", "C"))
    frame.loc[frame.index % 11 == 0, "seg"] = None  # a "(missing)" segment too
    # One respondent alone with a low t4: leverage 1, left out of the meats by both.
    frame["t4"] = frame["t4"].clip(lower=3)
    frame.loc[frame.index[5], "t4"] = 1
    con = duckdb.connect()
    register_frame(con, frame)
    spec = make_spec(tuple(f"t{j}" for j in range(5)))
    monkeypatch.setattr(blocks, "BLOCK_ROWS", 1024)  # many blocks and slices
    products = M.compute_stats(con, "survey", spec, "seg")
    monkeypatch.setattr(blocks, "HC3_LOOKUP_MIN_ROWS", 0)  # the lookups at any size
    lookups = M.compute_stats(con, "survey", spec, "seg")
    monkeypatch.setattr(blocks, "pass1_plan", lambda cuts: None)  # the products' first pass
    both = M.compute_stats(con, "survey", spec, "seg")
    for a, b, c in zip(products.segments, lookups.segments, both.segments, strict=True):
        np.testing.assert_array_equal(a.gram, b.gram)
        np.testing.assert_array_equal(a.pair, c.pair)
        np.testing.assert_array_equal(a.levels, c.levels)
        np.testing.assert_allclose(a.meat, b.meat, rtol=1e-10)
        np.testing.assert_array_equal(b.meat, c.meat)


def test_weighted_survey_keeps_the_products(monkeypatch: pytest.MonkeyPatch) -> None:
    frame = synthetic_frame(3000, seed=5, touchpoints=3)
    frame["__cmot_w"] = np.random.default_rng(5).uniform(0.5, 2.0, len(frame))
    con = duckdb.connect()
    register_frame(con, frame)
    spec = make_spec(("t0", "t1", "t2"), weight="w")
    calls: list[int] = []
    real = histograms.pass1_hists
    monkeypatch.setattr(blocks, "pass1_hists", lambda *a: calls.append(1) or real(*a))
    stats = M.compute_stats(con, "survey", spec, "seg")
    assert stats.weighted and not calls
    frame["__cmot_w"] = 1.0
    register_frame(con, pd.DataFrame(frame))
    M.compute_stats(con, "survey", spec, "seg")
    assert calls


@pytest.mark.parametrize(("value", "shown"), [(-3, "from -3 to -3"), (9, "from 9 to 9")])
def test_a_rating_outside_its_scale_is_refused_by_name(value: int, shown: str) -> None:
    # to_block finds it by byte minima and maxima, the missing sentinel left out.
    frame = synthetic_frame(500, seed=2, touchpoints=3)
    frame.loc[frame.index[7], "t2"] = value
    con = duckdb.connect()
    register_frame(con, frame)
    with pytest.raises(
        CmotError, match=f"{shown} fall outside the scale 1-5 \\(touchpoint 't2'\\)"
    ):
        M.compute_stats(con, "survey", make_spec(("t0", "t1", "t2")), "seg")
