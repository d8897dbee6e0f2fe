"""The engine against statsmodels on a survey the test makes: OLS and WLS with HC3 standard
errors, overall and per segment, and the portable SQL sums against the numpy sums.

The same checks run on the real airline and Kansas City surveys in test_moments.py and
test_engine_real.py, but those live outside the repository (../shared) and skip in a fresh
clone; these need nothing but the code, so every clone checks the numbers.
"""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd
import pytest

from cmot.engine import blocks
from cmot.engine.level_sums import build_stats_sql
from cmot.engine.stats import SufficientStats
from cmot.engine.sums import SumsPath, compute_stats
from cmot.results.moments import MomentsResult, classify_moments
from cmot.settings import ALL
from cmot.spec import JourneySpec
from tests.unit.moments_fixtures import make_spec, register_frame

SEED = 20261128
N = 4000
TOUCHPOINTS = ("t0", "t1", "t2", "t3", "t4")
SEGMENTS = ("A", "B", "C")
LOW_MAX, HIGH_MIN = 2, 5  # the PRCA cut-offs of the default 1-5 scale
# The engine solves the normal equations from sums, statsmodels from the rows (pinv):
# both are exact up to rounding, so they agree far below any figure on screen.
TOL = 1e-10


def survey_frame(n: int = N, seed: int = SEED) -> pd.DataFrame:
    """Ratings 1-5 with a halo and ~7% missing, a segment, a weight and a 0/1 outcome
    whose penalties and rewards differ by segment."""
    rng = np.random.default_rng(seed)
    t = len(TOUCHPOINTS)
    seg = rng.choice(np.array(SEGMENTS), n, p=[0.45, 0.35, 0.2])
    halo = rng.normal(0, 0.6, n)
    ratings = np.clip(np.rint(3.3 + halo[:, None] + rng.normal(0, 1.1, (n, t))), 1, 5)
    effects = {  # (penalty, reward) per touchpoint and segment
        "A": [(0.25, 0.0), (0.0, 0.2), (0.1, 0.1), (0.0, 0.0), (0.15, 0.0)],
        "B": [(0.0, 0.25), (0.2, 0.0), (0.0, 0.0), (0.1, 0.15), (0.0, 0.1)],
        "C": [(0.1, 0.1), (0.0, 0.0), (0.25, 0.0), (0.0, 0.2), (0.05, 0.05)],
    }
    prob = np.full(n, 0.5)
    for s, eff in effects.items():
        rows = seg == s
        for j, (p, r) in enumerate(eff):
            prob[rows] += -p * (ratings[rows, j] <= LOW_MAX) + r * (ratings[rows, j] >= HIGH_MIN)
    y = (rng.random(n) < np.clip(prob, 0.02, 0.98)).astype(float)
    ratings[rng.random((n, t)) < 0.07] = np.nan
    frame = pd.DataFrame({"seg": seg})
    for j, c in enumerate(TOUCHPOINTS):
        frame[c] = pd.array(ratings[:, j], dtype="Int8")  # TINYINT in DuckDB, as stored
    frame["__cmot_y"] = y
    frame["wt"] = rng.uniform(0.3, 3.0, n)
    frame["__cmot_w"] = 1.0
    return frame


@pytest.fixture(scope="module")
def survey() -> tuple[duckdb.DuckDBPyConnection, pd.DataFrame]:
    """The frame as two stored-dataset-like tables: `survey` (unweighted) and `survey_w`
    (the derived weight column `__cmot_w` holds `wt`, as ingest stores a weight)."""
    frame = survey_frame()
    con = duckdb.connect()
    register_frame(con, frame)
    con.execute("CREATE TABLE survey_w AS SELECT * REPLACE (wt AS __cmot_w) FROM survey")
    return con, frame


def spec(weighted: bool) -> JourneySpec:
    return make_spec(TOUCHPOINTS, weight="wt" if weighted else None)


def reference_design(frame: pd.DataFrame) -> pd.DataFrame:
    """The PRCA design built independently in pandas, named as the engine names it:
    low and high indicators, the intercept, and a missing indicator per touchpoint."""
    cols: dict[str, pd.Series | float] = {}
    for c in TOUCHPOINTS:
        cols[f"low {c}"] = (frame[c].le(LOW_MAX) & frame[c].notna()).astype(float)
    for c in TOUCHPOINTS:
        cols[f"high {c}"] = frame[c].ge(HIGH_MIN).fillna(False).astype(float)
    cols["intercept"] = 1.0
    for c in TOUCHPOINTS:
        cols[f"missing {c}"] = frame[c].isna().astype(float)
    return pd.DataFrame(cols, index=frame.index)


def part_of(frame: pd.DataFrame, segment: str) -> pd.DataFrame:
    return frame if segment == ALL else frame[frame["seg"] == segment]


def gaps_to_statsmodels(
    result: MomentsResult, frame: pd.DataFrame, weight: str | None
) -> dict[str, tuple[float, float]]:
    """Per fitted segment, the largest |coefficient| and |HC3 SE| gap to statsmodels."""
    import statsmodels.api as sm

    gaps = {}
    for name, fit in result.fits.items():
        part = part_of(frame, name)
        x = reference_design(part)
        assert list(x.columns) == list(fit.columns)
        # A column the engine left out (empty or aliased) is one statsmodels cannot fit
        # either: the intercept plus all three indicators of a touchpoint sum to one.
        kept = [c for c, b in zip(fit.columns, fit.beta, strict=True) if np.isfinite(b)]
        y = part["__cmot_y"]
        model = sm.WLS(y, x[kept], weights=part[weight]) if weight else sm.OLS(y, x[kept])
        ref = model.fit(cov_type="HC3")
        beta = pd.Series(fit.beta, index=list(fit.columns))[kept]
        se = pd.Series(np.sqrt(np.diag(fit.cov)), index=list(fit.columns))[kept]
        # Every cell holds many respondents, so HC3 is defined for every kept column.
        assert se.notna().all(), se[se.isna()]
        gaps[name] = (
            float((beta - ref.params).abs().max()),
            float((se - ref.bse).abs().max()),
        )
    return gaps


@pytest.mark.parametrize("engine", ["numpy", "sql"])
@pytest.mark.parametrize("segmentation", [None, "seg"])
def test_prca_equals_statsmodels_ols_hc3(survey, segmentation, engine: SumsPath) -> None:
    con, frame = survey
    stats = compute_stats(con, "survey", spec(False), segmentation, engine=engine)
    assert not stats.weighted
    gaps = gaps_to_statsmodels(classify_moments(stats), frame, None)
    assert list(gaps) == [ALL, *(SEGMENTS if segmentation else ())]
    assert max(b for b, _ in gaps.values()) < TOL, gaps
    assert max(se for _, se in gaps.values()) < TOL, gaps


@pytest.mark.parametrize("engine", ["numpy", "sql"])
@pytest.mark.parametrize("segmentation", [None, "seg"])
def test_weighted_prca_equals_statsmodels_wls_hc3(survey, segmentation, engine: SumsPath) -> None:
    con, frame = survey
    stats = compute_stats(con, "survey_w", spec(True), segmentation, engine=engine)
    assert stats.weighted
    gaps = gaps_to_statsmodels(classify_moments(stats), frame, "wt")
    assert list(gaps) == [ALL, *(SEGMENTS if segmentation else ())]
    assert max(b for b, _ in gaps.values()) < TOL, gaps
    assert max(se for _, se in gaps.values()) < TOL, gaps


@pytest.mark.parametrize("weighted", [False, True])
def test_hc3_lookups_equal_statsmodels(survey, weighted: bool, monkeypatch) -> None:
    # The numpy path's HC3 by lookups (cmot.engine.histograms), which large surveys take
    # (from blocks.HC3_LOOKUP_MIN_ROWS), here at this survey's size.
    monkeypatch.setattr(blocks, "HC3_LOOKUP_MIN_ROWS", 0)
    con, frame = survey
    stats = compute_stats(con, "survey_w" if weighted else "survey", spec(weighted), "seg")
    gaps = gaps_to_statsmodels(classify_moments(stats), frame, "wt" if weighted else None)
    assert list(gaps) == [ALL, *SEGMENTS]
    assert max(b for b, _ in gaps.values()) < TOL, gaps
    assert max(se for _, se in gaps.values()) < TOL, gaps


def test_weights_change_the_fit(survey) -> None:
    """The weighted comparison above is not the unweighted one passing twice."""
    con, _ = survey
    plain = classify_moments(compute_stats(con, "survey", spec(False), "seg"))
    weighted = classify_moments(compute_stats(con, "survey_w", spec(True), "seg"))
    gap = np.nanmax(np.abs(plain.fits["A"].beta - weighted.fits["A"].beta))
    assert gap > 1e-3


def reference_sums(part: pd.DataFrame, weight: str | None) -> np.ndarray:
    """[X y]'W[X y] computed row by row in numpy: the gram the engine keeps per segment."""
    xy = reference_design(part).to_numpy()
    xy = np.column_stack([xy, part["__cmot_y"].to_numpy()])
    w = part[weight].to_numpy() if weight else np.ones(len(part))
    return (xy * w[:, None]).T @ xy


@pytest.mark.parametrize("weighted", [False, True])
def test_portable_sql_aggregation_gives_the_numpy_sums(survey, weighted: bool) -> None:
    con, frame = survey
    table = "survey_w" if weighted else "survey"
    fast = compute_stats(con, table, spec(weighted), "seg")
    sql = compute_stats(con, table, spec(weighted), "seg", engine="sql")
    assert [s.segment for s in fast.segments] == [ALL, *SEGMENTS]
    assert_same_sums(fast, sql)
    for s in fast.segments:
        part = part_of(frame, s.segment)
        assert s.n == len(part)
        want = reference_sums(part, "wt" if weighted else None)
        np.testing.assert_allclose(s.gram, want, rtol=1e-12, atol=1e-9)


def assert_same_sums(a_stats: SufficientStats, b_stats: SufficientStats) -> None:
    for a, b in zip(a_stats.segments, b_stats.segments, strict=True):
        assert a.segment == b.segment and a.n == b.n
        for x, y in ((a.gram, b.gram), (a.pair, b.pair), (a.levels, b.levels), (a.meat, b.meat)):
            np.testing.assert_allclose(x, y, rtol=1e-12, atol=1e-9)


def test_build_stats_sql_runs_as_plain_sql(survey) -> None:
    """The GROUP BY build_stats_sql writes, run directly: its counts and level histogram
    are those of the rows (the engine's own use of it is checked above). One row per
    segment x touchpoint x rating (NULL: missing); the segment's size is any touchpoint's
    rows added up."""
    con, frame = survey
    sql, cells = build_stats_sql("survey_w", spec(True), ("seg",), LOW_MAX, HIGH_MIN)
    assert cells[:2] == [("n", 0), ("y", 0)]
    rows = con.execute(sql).fetchall()
    assert sorted({r[0] for r in rows}) == sorted(SEGMENTS)
    for name in SEGMENTS:
        part = part_of(frame, name)
        mine = [r for r in rows if r[0] == name]
        for i in range(len(TOUCHPOINTS)):
            assert sum(r[3] for r in mine if r[1] == i) == len(part)
        got = {(r[1], r[2]): r[3:] for r in mine}
        for i, c in enumerate(TOUCHPOINTS):
            for level in range(1, 6):  # count and Σw of each rating level
                rated = part[c] == level
                n, sw = got.get((i, level), (0, 0.0))[:2]
                assert n == int(rated.sum())
                assert sw == pytest.approx(
                    float(part.loc[rated.fillna(False), "wt"].sum()), rel=1e-12
                )
            n, sw = got[(i, None)][:2]  # the missing ratings' group
            assert n == int(part[c].isna().sum())
