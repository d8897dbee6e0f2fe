"""Partial pooling across segments (issue 24): cmot.results.pooling against independent
computations.

- the likelihood from the sums equals the one from the rows (explicit n x n covariances),
  and its gradient the finite differences;
- the estimates and their model covariance equal Henderson's mixed-model equations solved
  from the rows; the robust covariance equals the exact variance of the (linear) estimator
  under known unequal noise;
- the whole fit agrees with statsmodels' MixedLM (random coefficients by segment, diagonal
  covariance, REML) on 3 touchpoints and 8 segments;
- pool() feeds classify_moments unchanged: every segment of 30+ gets an answer, smaller
  ones keep their own fit, a singular own design still gets a pooled estimate, and the
  two SQL-free and SQL engines give the same pooled numbers;
- slow: the measured bounds of bench/pooling.md on fixed seeds.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import replace

import duckdb
import numpy as np
import pandas as pd
import pytest

from bench.pooling import (
    Planted,
    coverage_table,
    difference_table,
    paired_rmse,
    planted_stats,
    planted_survey,
    replicate,
)
from cmot.engine.design import Layout
from cmot.engine.stats import SufficientStats
from cmot.engine.sums import compute_stats
from cmot.results.compare import compare_all, compare_segments
from cmot.results.moments import analyse_stats, classify_moments
from cmot.results.pooling import (
    _deviance,
    _state,
    _Sums,
    _sums,
    pair_covariance,
    partial_pool,
    pool,
    pool_segments,
)
from cmot.settings import Settings

SMALL = (60, 90, 120, 150, 200, 260, 330, 400)  # 8 segments


def design(planted: Planted) -> np.ndarray:
    """The PRCA design from the rows, built here (not by the engine): low <= 2, high = 5."""
    f = planted.frame
    r = f[list(planted.spec.touchpoint_columns)].to_numpy()
    t = r.shape[1]
    lay = Layout(t)
    x = np.zeros((len(f), lay.k))
    x[:, :t] = r <= 2
    x[:, t : 2 * t] = r == 5
    x[:, lay.icpt] = 1.0
    x[:, lay.icpt + 1 :] = np.isnan(r)
    return x


@pytest.fixture(scope="module")
def small() -> tuple[Planted, SufficientStats]:
    # Every coefficient varies by segment: variances away from zero, where optimisers agree.
    planted = planted_survey(3, SMALL, seed=5, sd=0.4, sd_missing=0.3, every=1)
    return planted, planted_stats(planted)


def rows_by_segment(
    planted: Planted, cols: list[int], w: np.ndarray | None = None
) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    x = design(planted)[:, cols]
    y = planted.frame.y.to_numpy()
    seg = planted.frame.Segment.to_numpy()
    w = np.ones(len(y)) if w is None else w
    return [(x[seg == g], y[seg == g], w[seg == g]) for g in sorted(set(seg))]


def sums_of(groups: list[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> _Sums:
    a = np.stack([(x * w[:, None]).T @ x for x, _, w in groups])
    b = np.stack([(x * w[:, None]).T @ y for x, y, w in groups])
    c = np.array([float((w * y) @ y) for _, y, w in groups])
    return _Sums(a, b, c, sum(len(y) for _, y, _ in groups))


# ---- the algebra from the sums against the rows ------------------------------------------


def test_the_likelihood_from_the_sums_is_the_likelihood_from_the_rows(small) -> None:
    """REML deviance with V_g = W^-1 + X D X' written out as n x n matrices, weighted: equal
    to 1e-9 relative (the sums' Woodbury form only reorders float64 arithmetic)."""
    planted, _ = small
    cols = list(range(10))
    w = np.random.default_rng(1).uniform(0.5, 2.0, len(planted.frame))
    groups = rows_by_segment(planted, cols, w)
    d = np.random.default_rng(2).uniform(0.01, 0.5, len(cols))
    xtvx = np.zeros((10, 10))
    xtvy = np.zeros(10)
    logdet, vinv = 0.0, []
    for x, y, wg in groups:
        v = np.diag(1.0 / wg) + x @ np.diag(d) @ x.T
        logdet += np.linalg.slogdet(v)[1]
        vi = np.linalg.inv(v)
        vinv.append(vi)
        xtvx += x.T @ vi @ x
        xtvy += x.T @ vi @ y
    beta = np.linalg.solve(xtvx, xtvy)
    resid = [y - x @ beta for x, y, _ in groups]
    rss = sum(float(e @ vi @ e) for e, vi in zip(resid, vinv, strict=True))
    n = len(planted.frame)
    from_rows = logdet + np.linalg.slogdet(xtvx)[1] + (n - 10) * math.log(rss)
    dev, _, st = _deviance(sums_of(groups), d, reml=True, penalty=False)
    # The sums leave out the constant Σ log(1/w) of log|W^-1|.
    assert dev - float(np.log(w).sum()) == pytest.approx(from_rows, rel=1e-9)
    np.testing.assert_allclose(st.beta, beta, rtol=1e-8, atol=1e-10)
    assert st.rss == pytest.approx(rss, rel=1e-9)


@pytest.mark.parametrize("reml", [True, False])
@pytest.mark.parametrize("penalty", [True, False])
def test_the_gradient_is_the_finite_difference(small, reml: bool, penalty: bool) -> None:
    _, stats = small
    s = _sums(list(stats.segments[1:]), np.arange(10), stats.layout)
    d = np.random.default_rng(3).uniform(0.02, 0.4, 10)
    _, grad, _ = _deviance(s, d, reml, penalty)
    h = 1e-6
    for j in range(10):
        up, down = d.copy(), d.copy()
        up[j] += h
        down[j] -= h
        fd = (_deviance(s, up, reml, penalty)[0] - _deviance(s, down, reml, penalty)[0]) / (2 * h)
        assert grad[j] == pytest.approx(fd, rel=1e-5, abs=1e-4)


def henderson(
    groups: list[tuple[np.ndarray, np.ndarray, np.ndarray]], d: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Henderson's mixed-model equations from the rows (all segments stacked, relative to σ²):
    the BLUPs of β + u_g and the inverse of the coefficient matrix (σ² x the PEVs)."""
    p, g = len(d), len(groups)
    x = np.vstack([xg for xg, _, _ in groups])
    y = np.concatenate([yg for _, yg, _ in groups])
    w = np.concatenate([wg for _, _, wg in groups])
    z = np.zeros((len(y), p * g))
    start = 0
    for h, (xg, _, _) in enumerate(groups):
        z[start : start + len(xg), h * p : (h + 1) * p] = xg
        start += len(xg)
    xz = np.hstack([x, z])
    c = (xz * w[:, None]).T @ xz
    c[p:, p:] += np.kron(np.eye(g), np.diag(1.0 / d))
    sol = np.linalg.solve(c, (xz * w[:, None]).T @ y)
    cinv = np.linalg.inv(c)
    blup = np.stack([sol[:p] + sol[p + h * p : p + (h + 1) * p] for h in range(g)])
    pev = np.stack(
        [
            cinv[:p, :p]
            + cinv[:p, p + h * p : p + (h + 1) * p]
            + cinv[p + h * p : p + (h + 1) * p, :p]
            + cinv[p + h * p : p + (h + 1) * p, p + h * p : p + (h + 1) * p]
            for h in range(g)
        ]
    )
    return blup, pev


def test_estimates_and_model_covariance_are_hendersons(small) -> None:
    """Posterior means and (equal-noise) covariance equal the mixed-model equations solved
    from the rows, weighted: to 1e-8 relative (two exact routes in float64)."""
    planted, _ = small
    cols = list(range(10))
    w = np.random.default_rng(4).uniform(0.5, 2.0, len(planted.frame))
    groups = rows_by_segment(planted, cols, w)
    s = sums_of(groups)
    d = np.random.default_rng(5).uniform(0.02, 0.5, 10)
    sigma2 = 1.3
    st = _state(s, d)
    post, cov, mean_cov = pool_segments(s, st, d, sigma2, sigma2 * s.a)
    blup, pev = henderson(groups, d)
    np.testing.assert_allclose(post, blup, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(cov, sigma2 * pev, rtol=1e-7, atol=1e-12)
    np.testing.assert_allclose(mean_cov, sigma2 * st.v, rtol=1e-7, atol=1e-12)


def test_robust_covariance_is_the_estimators_exact_variance_under_unequal_noise(small) -> None:
    """With each segment's meat the true Var(X'W e) of known unequal noise, the covariance is
    the exact variance of b_g - β_g of the linear estimator written out from the rows:
    b_g = Σ_h Λ_gh y_h (Λ from the explicit V_h), Var = Σ_h Λ_gh Σ_h Λ_gh' + Σ_h
    (Λ_gh X_h - δ_gh I) T (Λ_gh X_h - δ_gh I)'."""
    planted, _ = small
    cols = list(range(10))
    groups = rows_by_segment(planted, cols)
    s = sums_of(groups)
    rng = np.random.default_rng(6)
    d = rng.uniform(0.02, 0.5, 10)
    sigma2 = 0.8
    noise = [rng.uniform(0.2, 3.0, len(y)) for _, y, _ in groups]  # per respondent variance
    omega = np.stack([x.T @ (x * v[:, None]) for (x, _, _), v in zip(groups, noise, strict=True)])
    st = _state(s, d)
    _, cov, _ = pool_segments(s, st, d, sigma2, omega)
    # The estimator from the rows: β̂ = (Σ X'V^-1 X)^-1 Σ X'V^-1 y = Σ_h gls_h y_h and
    # b_g = β̂ + D X_g'V_g^-1 (y_g - X_g β̂).
    vinv = [np.linalg.inv(np.eye(len(y)) + x @ np.diag(d) @ x.T) for x, y, _ in groups]
    info = sum(x.T @ vi @ x for (x, _, _), vi in zip(groups, vinv, strict=True))
    gls = [np.linalg.solve(info, x.T @ vi) for (x, _, _), vi in zip(groups, vinv, strict=True)]
    t_mat = sigma2 * np.diag(d)
    for g, (xg, _, _) in enumerate(groups):
        blup = np.diag(d) @ xg.T @ vinv[g]
        var = np.zeros((10, 10))
        for h, (xh, _, _) in enumerate(groups):
            lam = gls[h] - blup @ xg @ gls[h] + (blup if h == g else 0.0)
            bias = lam @ xh - (np.eye(10) if h == g else 0.0)
            var += lam @ np.diag(noise[h]) @ lam.T + bias @ t_mat @ bias.T
        np.testing.assert_allclose(cov[g], var, rtol=1e-7, atol=1e-12)


def test_pair_covariance_is_the_estimators_exact_covariance(small) -> None:
    """Cov(b_g - β_g, b_h - β_h) of two pooled segments (pair_covariance) against the same
    linear estimator written out from the rows under known unequal noise:
    Σ_l Λ_gl Σ_l Λ_hl' + Σ_l (Λ_gl X_l - δ_gl I) T (Λ_hl X_l - δ_hl I)', every pair, every
    entry (1e-7 relative: two exact routes in float64); the diagonal form equals the full
    blocks' diagonals and, for g = h, each segment's own covariance."""
    planted, _ = small
    p = 10
    groups = rows_by_segment(planted, list(range(p)))
    s = sums_of(groups)
    rng = np.random.default_rng(16)
    d = rng.uniform(0.02, 0.5, p)
    sigma2 = 0.8
    noise = [rng.uniform(0.2, 3.0, len(y)) for _, y, _ in groups]
    omega = np.stack([x.T @ (x * v[:, None]) for (x, _, _), v in zip(groups, noise, strict=True)])
    st = _state(s, d)
    _, cov, _ = pool_segments(s, st, d, sigma2, omega)
    full = pair_covariance(s, st, d, sigma2, omega, cov, full=True)
    diag = pair_covariance(s, st, d, sigma2, omega, cov)
    rows = np.array([1, 4, 7])
    some = pair_covariance(s, st, d, sigma2, omega, cov, rows)
    vinv = [np.linalg.inv(np.eye(len(y)) + x @ np.diag(d) @ x.T) for x, y, _ in groups]
    info = sum(x.T @ vi @ x for (x, _, _), vi in zip(groups, vinv, strict=True))
    gls = [np.linalg.solve(info, x.T @ vi) for (x, _, _), vi in zip(groups, vinv, strict=True)]
    t_mat = sigma2 * np.diag(d)
    eye = np.eye(p)

    def lam(g: int, h: int) -> np.ndarray:  # b_g's weights on y_h
        xg = groups[g][0]
        blup = np.diag(d) @ xg.T @ vinv[g]
        return gls[h] - blup @ xg @ gls[h] + (blup if h == g else 0.0)

    n_seg = len(groups)
    for g in range(n_seg):
        for h in range(n_seg):
            var = np.zeros((p, p))
            for m, (xm, _, _) in enumerate(groups):
                lg, lh = lam(g, m), lam(h, m)
                bg = lg @ xm - (eye if m == g else 0.0)
                bh = lh @ xm - (eye if m == h else 0.0)
                var += lg @ np.diag(noise[m]) @ lh.T + bg @ t_mat @ bh.T
            np.testing.assert_allclose(full[g, h], var, rtol=1e-7, atol=1e-12)
            np.testing.assert_allclose(diag[g, h], np.diag(var), rtol=1e-7, atol=1e-12)
            np.testing.assert_allclose(some[g, h], np.diag(var)[rows], rtol=1e-7, atol=1e-12)
    # Two pooled estimates share β̂: here every pair errs together (Cov > 0).
    off = ~np.eye(n_seg, dtype=bool)
    assert (diag[off] > 0).all()


def test_compare_subtracts_the_pooled_pairs_covariance(mixed) -> None:
    """compare's difference error for two pooled segments is sqrt(se_a² + se_b² - 2 Cov)
    with the pool's covariance; with a segment left out of the pool (S01, 20 respondents)
    or alone, the independent samples' sqrt(se_a² + se_b²); compare_all and
    compare_segments give the same rows."""
    _, stats = mixed
    res = partial_pool(stats)
    result = classify_moments(res.stats, pooled=res)
    assert result.pairs is res.pairs and res.pairs is not None
    assert classify_moments(stats).pairs is None
    assert analyse_stats(stats, Settings(pooling="partial")).pairs is not None
    pairs = res.pairs
    m = result.moments.set_index(["segment", "column"])
    comp = compare_all(result)
    for a, b in (("S03", "S05"), ("S02", "S06"), ("S01", "S04")):
        one = compare_segments(result, a, b)
        rows = comp[(comp.segment_a == a) & (comp.segment_b == b)].reset_index(drop=True)
        pd.testing.assert_frame_equal(one.reset_index(drop=True), rows, check_dtype=False)
        for measure, grid in (("penalty", pairs.low), ("reward", pairs.high)):
            part = one[one.measure == measure].reset_index(drop=True)
            se_a = m.loc[a][f"{measure}_se"].to_numpy(float)
            se_b = m.loc[b][f"{measure}_se"].to_numpy(float)
            ia, ib = pairs.index(a), pairs.index(b)
            if ia is None or ib is None:
                want = np.hypot(se_a, se_b)
            else:
                # each segment's own variance sits on the diagonal of the pairs' grid
                np.testing.assert_allclose(grid[ia, ia], se_a**2, rtol=1e-12)
                want = np.sqrt(se_a**2 + se_b**2 - 2 * grid[ia, ib])
                assert (want < np.hypot(se_a, se_b)).all()
            np.testing.assert_allclose(part.se.to_numpy(float), want, rtol=1e-12)


# ---- the whole fit against statsmodels ------------------------------------------------------


def test_reml_agrees_with_statsmodels_mixedlm(small) -> None:
    """MixedLM (random coefficients for every design column by segment, diagonal covariance,
    REML) fits the same model from the rows. Its optimiser stops at a gradient tolerance, so
    the estimates agree to within 1% of a standard error and the variances to 1% (+1e-4):
    the likelihoods settle it. Ours is at least as high, and the two likelihood functions
    agree exactly (their difference between the two optima is ours, to 1e-6)."""
    sm = pytest.importorskip("statsmodels.api")
    from statsmodels.regression.mixed_linear_model import MixedLMParams

    planted, stats = small
    res = partial_pool(stats, penalty=False)
    cols = list(res.columns)
    assert cols == list(range(10))
    x = design(planted)[:, cols]
    model = sm.MixedLM(
        planted.frame.y.to_numpy(), x, groups=planted.frame.Segment.to_numpy(), exog_re=x
    )
    free = MixedLMParams.from_components(fe_params=np.ones(10), cov_re=np.eye(10))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = model.fit(reml=True, free=free, method=["lbfgs", "bfgs"], maxiter=5000)
    assert fit.converged
    se = np.sqrt(np.diag(res.mean_cov))
    assert np.abs(fit.fe_params - res.mean).max() < 0.01 * se.min()
    np.testing.assert_allclose(np.diag(fit.cov_re), res.spread**2, rtol=0.01, atol=1e-4)
    assert fit.scale == pytest.approx(res.sigma2, rel=1e-3)
    for g, u in fit.random_effects.items():
        ours = res.stats.segment(str(g)).beta
        seg_se = np.sqrt(np.diag(res.stats.segment(str(g)).cov))
        assert np.abs(fit.fe_params + np.asarray(u) - ours).max() < 0.01 * seg_se.min()
    # The likelihoods: statsmodels' own function at our estimate and at its own.
    s = _sums(list(stats.segments[1:]), np.array(cols), stats.layout)
    d_ours = res.spread**2 / res.sigma2
    d_theirs = np.clip(np.diag(fit.cov_re) / fit.scale, 1e-12, None)
    ours = MixedLMParams.from_components(fe_params=res.mean, cov_re=np.diag(d_ours))
    theirs = MixedLMParams.from_components(fe_params=fit.fe_params, cov_re=np.diag(d_theirs))
    ll_ours, ll_theirs = model.loglike(ours, profile_fe=True), model.loglike(theirs, True)
    dev_ours = _deviance(s, d_ours, True, False)[0]
    dev_theirs = _deviance(s, d_theirs, True, False)[0]
    assert ll_ours >= ll_theirs - 1e-6
    assert ll_ours - ll_theirs == pytest.approx((dev_theirs - dev_ours) / 2, abs=1e-6)


# ---- pool() through classify_moments --------------------------------------------------------


@pytest.fixture(scope="module")
def mixed() -> tuple[Planted, SufficientStats]:
    """8 touchpoints: segments of 20 (below the minimum) to 800."""
    planted = planted_survey(8, (20, 40, 90, 200, 400, 800), seed=9)
    return planted, planted_stats(planted)


def test_every_segment_of_thirty_gets_an_answer(mixed) -> None:
    _, stats = mixed
    alone = classify_moments(stats)
    res = partial_pool(stats)
    pooled = classify_moments(res.stats)
    assert res.left_out == ("S01",) and res.converged
    m_alone, m_pool = alone.moments, pooled.moments
    # Alone, only segments of 10 x 8 = 80+ with 30 in both cells have results.
    assert m_alone[m_alone.segment.isin(["S01", "S02"])].insufficient.all()
    big = m_pool.segment.isin(["S02", "S03", "S04", "S05", "S06"])
    assert not m_pool[big].insufficient.any()
    assert m_pool[big].low_se.notna().all() and m_pool[big].penalty_lo.notna().all()
    # The segment below the minimum keeps its own (insufficient) result.
    assert m_pool[m_pool.segment == "S01"].insufficient.all()
    assert res.stats.segment("S01") is stats.segment("S01")
    # All is the journey's own fit, unchanged.
    pd.testing.assert_frame_equal(
        m_pool[m_pool.segment == "All"].reset_index(drop=True),
        m_alone[m_alone.segment == "All"].reset_index(drop=True),
    )
    # Own share: in [0, 1), growing with the segment's size.
    shares = [p.own_share for p in res.segments]
    assert all(0 <= v < 1 for v in shares) and shares == sorted(shares)
    seg_rows = pooled.segments.set_index("segment")
    assert not seg_rows.loc[["S02", "S06"], "insufficient"].any()
    # A thin own cell is no warning for a pooled segment: its estimate rests on the journey.
    w = pooled.warnings
    assert not ((w.kind == "thin_cell") & (w.segment != "All")).any()


def test_a_segment_with_a_singular_own_design_still_gets_a_pooled_estimate(mixed) -> None:
    _, stats = mixed
    s = stats.segment("S02")  # 40 respondents, 25 coefficients: made singular here
    broken = replace(s, problem="the model cannot be fitted (singular sums)")
    segs = tuple(broken if x.segment == "S02" else x for x in stats.segments)
    stats2 = replace(stats, segments=segs)
    res = partial_pool(stats2)
    seg = res.stats.segment("S02")
    assert seg.problem == "" and seg.kept == stats.segments[0].kept
    assert np.isfinite(seg.beta[list(seg.kept)]).all()
    assert next(p for p in res.segments if p.segment == "S02").meat == "model"
    rows = classify_moments(res.stats).moments
    assert not rows[rows.segment == "S02"].insufficient.any()


def test_a_column_only_a_small_segment_holds_is_left_out_of_the_pool(mixed) -> None:
    """Missing TP01 only in S01 (20 respondents, not pooled): the journey's fit keeps that
    column, the pooled segments hold nobody in it, so their model leaves it out."""
    planted, _ = mixed
    frame = planted.frame.copy()
    others = frame.Segment != "S01"
    frame.loc[others, "TP01"] = frame.loc[others, "TP01"].fillna(3.0)
    stats = planted_stats(replace(planted, frame=frame))
    lay = stats.layout
    assert lay.miss(0) in stats.segments[0].kept
    res = partial_pool(stats)
    assert res.converged and lay.miss(0) not in res.columns
    seg = res.stats.segment("S02")
    assert (lay.miss(0), "empty") in seg.dropped and np.isnan(seg.beta[lay.miss(0)])
    assert not classify_moments(res.stats).moments.query("segment == 'S02'").insufficient.any()


def test_too_few_segments_pool_nothing(mixed) -> None:
    _, stats = mixed
    res = partial_pool(stats, min_n=500)
    assert res.stats is stats and res.note and not res.segments
    whole = replace(stats, segmentation=(), segments=stats.segments[:1])
    assert pool(whole) is whole


def test_duckdb_blocks_and_sql_sums_pool_alike(mixed) -> None:
    """The pooling reads only the sums, so the portable SQL sums (the same as Spark's) give
    the same pooled numbers as the numpy blocks. The sums agree to ~1e-15; the optimiser
    stops within its tolerance of the optimum, which moves the estimates by ~1e-8
    relative: 1e-6 is the bound."""
    planted, stats = mixed
    con = duckdb.connect()
    frame = planted.frame.rename(columns={"y": "__cmot_y"}).assign(__cmot_w=1.0)
    con.register("planted", frame)
    sql = compute_stats(con, "planted", planted.spec, "Segment", engine="sql")
    a, b = partial_pool(stats), partial_pool(sql)
    np.testing.assert_allclose(a.spread, b.spread, rtol=1e-4, atol=1e-6)
    for x, y in zip(a.stats.segments, b.stats.segments, strict=True):
        np.testing.assert_allclose(x.beta, y.beta, rtol=1e-6, atol=1e-8)
        if x.cov is not None:
            assert y.cov is not None
            np.testing.assert_allclose(x.cov, y.cov, rtol=1e-5, atol=1e-10)


# ---- the measured bounds --------------------------------------------------------------------


@pytest.mark.slow
def test_pooled_intervals_cover_and_pooling_costs_no_accuracy() -> None:
    """bench/pooling.md's bounds on fixed seeds, at a smaller scale. A continuous outcome
    (equal and unequal noise): coverage of the 95% intervals 93-97% overall, >= 90% per
    size band. A 0/1 outcome: >= 93% (its intervals are conservative, ~99%: the segments'
    real spreads are small beside its noise and the penalty holds the estimates of them
    up). Pooled RMSE no worse than alone in every band where both exist; false
    differences at most 5% of tests; the intervals of the differences between two segments
    (their covariance counted) cover the planted differences >= 93% for each noise, and
    are narrower than with the two taken as independent."""
    rows, nulls, pairs = [], [], []
    cases = ((8, "equal", 11), (8, "unequal", 12), (8, "binary", 14), (20, "unequal", 13))
    for t, noise, seed in cases:
        for r in range(3):
            rep = replicate(t, noise, seed * 100 + r)
            rows += [{**x, "noise": noise, "rep": f"{t}{noise}{r}"} for x in rep["rows"]]
            pairs += [{**x, "noise": noise} for x in rep["pair_rows"]]
        null = replicate(t, noise, seed * 100 + 50, differ=False)
        nulls.append((null["pooled_significant"], null["pooled_tests"]))
    frame = pd.DataFrame(rows)
    continuous = coverage_table(frame[frame.noise != "binary"]).set_index(["how", "band"])
    assert 0.93 <= continuous.loc[("pooled", "all"), "coverage"] <= 0.97
    binary = coverage_table(frame[frame.noise == "binary"]).set_index(["how", "band"])
    assert binary.loc[("pooled", "all"), "coverage"] >= 0.93
    for band in ("30-99", "100-499", "500-2,000"):
        assert continuous.loc[("pooled", band), "coverage"] >= 0.90
        assert binary.loc[("pooled", band), "coverage"] >= 0.90
    both = paired_rmse(frame).set_index("band")
    both = both[both.estimates > 0]
    assert len(both) >= 3  # all, 100-499, 500-2,000 (30-99 has no result alone)
    assert (both.rmse_pooled <= both.rmse_alone).all()
    significant, tests = map(sum, zip(*nulls, strict=True))
    assert significant <= 0.05 * tests
    # Differences between two segments (their covariance counted): the intervals cover the
    # planted differences at least as the bound asks, and counting the covariance
    # makes them narrower than taking the two as independent, never wider.
    diff = difference_table(pd.DataFrame(pairs)).set_index(["how", "noise", "smaller segment"])
    for noise in ("equal", "unequal", "binary"):
        assert diff.loc[("pooled", noise, "all"), "coverage"] >= 0.93
    joint, naive = (
        diff.loc[("pooled", "all", "all")],
        diff.loc[("pooled, as independent", "all", "all")],
    )
    assert joint["mean se"] < naive["mean se"] and joint["differences"] == naive["differences"]


# ---- the real Kansas City survey by council district ----------------------------------------


def test_kansas_city_districts_get_answers_pooled() -> None:
    """q2_01 on the 23 service and police items, by council district (149-212 respondents,
    below the 230 a fit alone needs): alone no district cell has a result; pooled all but
    the two touchpoints whose top box is thin in the whole survey (q3_03, q3_11)."""
    from cmot.ingest.options import IngestOptions
    from cmot.ingest.pipeline import read_csv
    from cmot.spec import JourneySpec, Outcome, Stage, Touchpoint, default_scale
    from tests.conftest import KANSAS_CSV, need_real

    path = need_real(KANSAS_CSV)
    tps = tuple([f"q3_{i:02d}" for i in range(1, 17)] + [f"q5_{i:02d}" for i in range(1, 8)])
    spec = JourneySpec(
        stages=(Stage("Journey", tps),),
        touchpoints=tuple(Touchpoint(c) for c in tps),
        scale=default_scale(1, 5, (9, 99)),
        outcome=Outcome("q2_01", "scale", min=1, max=5),
        segments=("counci",),
        attributes=("counci",),
    )
    opts = IngestOptions(spec=spec, outcome="q2_01", outcome_kind="scale", missing=(9, 99))
    prepared = read_csv(path, opts)
    con = duckdb.connect()
    con.register("kc", prepared.data)
    stats = compute_stats(con, "kc", prepared.spec, "counci")
    res = partial_pool(stats)
    assert res.converged and not res.left_out and len(res.segments) == 6
    alone, pooled = classify_moments(stats).moments, classify_moments(res.stats).moments
    districts = alone.segment != "All"
    assert int((~alone.insufficient[districts].astype(bool)).sum()) == 0
    answered = pooled[districts & ~pooled.insufficient.astype(bool)]
    assert len(answered) == 6 * 21
    assert set(pooled[districts & pooled.insufficient.astype(bool)].column) == {"q3_03", "q3_11"}
    assert answered.low_se.notna().all() and answered.high_se.notna().all()
    assert all(0.3 < p.own_share < 0.7 for p in res.segments)
