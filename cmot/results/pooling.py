"""Partial pooling across segments: every segment big enough gets an estimate.

A segment alone needs ~10 respondents per coefficient; pooled, its low, high and missing
coefficients are a blend of its own data and the whole journey, weighted by how much its
own data says and by how much segments really differ (estimated from the data).

The model (METHODS.md, "Partial pooling across segments"): per segment g,
    y_g = X_g β_g + e,  e ~ N(0, σ² W_g^-1),  β_g = β + u_g,  u_g ~ N(0, T),  T diagonal,
fitted by REML from the per-segment sums alone (X'WX, X'Wy, y'Wy, n: the gram cmot.engine.sums
already holds), so DuckDB and Spark give the same numbers and the cost does not grow with
the respondents. The relative variances D = T / σ² are found by L-BFGS on their logs with
Chung et al.'s (2013) boundary-avoiding penalty (a Gamma(2, 0) prior on each τ_j / σ);
σ² and β are profiled out. Each segment's estimate is the posterior mean
    b_g = K_g X'Wy + (I - K_g X'WX) β̂,  K_g = (X'WX + D^-1)^-1,
and its covariance a sandwich: the segment's own HC3 meat where its own fit exists (so
unequal noise across respondents is honest), the spread T, and the uncertainty of β̂ with
its correlation with the segment's own data (pool_segments' docstring).

pool() returns SufficientStats whose segments carry the pooled estimate (`beta`) and its
covariance (`cov`), so cmot.results.moments.classify_moments turns them into penalty, reward,
intervals and classes as it does for a segment alone. No Streamlit, no data reading.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np

from cmot.engine.design import Layout
from cmot.engine.stats import SegmentStats, SufficientStats
from cmot.settings import ALL

# Segments below this many respondents get no pooled estimate (their own fit stays, and
# cmot.results.moments' size rule marks them insufficient): 30 is the smallest segment whose own
# data can move an estimate at all, and the per-cell minimum the engine uses elsewhere.
MIN_SEGMENT = 30
# The relative variances τ²/σ² are searched on a log scale within these bounds: 1e-8 is
# "no spread" for any outcome scale (τ = 1e-4 σ), 1e4 is "segments unrelated".
_D_BOUNDS = (1e-8, 1e4)
_D_START = 0.05  # τ = 0.22 σ: a moderate spread, from where the search converges quickly

Meat = Literal["hc3", "model"]


@dataclass(frozen=True)
class PooledSegment:
    """One segment's share of its own data in its pooled estimate."""

    segment: str
    n: int
    # The average over the model's low and high columns of the segment's own weight in its
    # estimate: diag(K_g X'WX), each in [0, 1): 0 = the journey's estimate, near 1 = its
    # own fit's. (The diagonal of I - M^-1, M = I + D^½ X'WX D^½, so within [0, 1).)
    own_share: float
    column_share: np.ndarray  # (k,) that weight per design column, NaN outside the model
    # Where the noise of its own data in the covariance comes from: the HC3 meat of its
    # own fit ("hc3"), or σ²_g X'WX with its own residual variance when it has no own fit
    # or fewer than twice as many respondents as its fit's coefficients: "model".
    meat: Meat


@dataclass(frozen=True)
class PairCovariance:
    """How two pooled segments' estimates err together: both shrink toward the same β̂,
    so the variance of a difference is V_a + V_b - 2 Cov(a, b), not V_a + V_b
    (pair_covariance has the formula; cmot.results.compare uses it)."""

    segments: tuple[str, ...]  # the pooled segments, in PoolResult.segments' order
    # (G, G, t): Cov(b_g - β_g, b_h - β_h) of each touchpoint's low and high coefficients
    # (the diagonal g = h is each segment's own variance, as in its cov); NaN outside the model
    low: np.ndarray
    high: np.ndarray

    def index(self, segment: str) -> int | None:
        """The segment's position in the arrays; None when it was not pooled."""
        return self.segments.index(segment) if segment in self.segments else None


@dataclass(frozen=True)
class PoolResult:
    """The pooled stats and what the pooling estimated."""

    stats: SufficientStats  # All unchanged; segments >= min_n pooled (beta, cov)
    segments: tuple[PooledSegment, ...]  # the pooled segments, in stats' order
    left_out: tuple[str, ...]  # segments below min_n: their own fit, unchanged
    columns: tuple[int, ...]  # design columns in the model (the journey's fit's)
    mean: np.ndarray  # (k,) β̂, the journey-wide mean of the segments' coefficients
    mean_cov: np.ndarray  # (k, k) its covariance (robust, as the segments')
    spread: np.ndarray  # (k,) τ_j: the SD of each coefficient across segments
    sigma2: float  # σ̂², the residual variance (REML)
    min_n: int
    converged: bool
    note: str = ""  # why nothing was pooled, "" when it was
    pairs: PairCovariance | None = None  # None when nothing was pooled


# ---- the likelihood from the sums ------------------------------------------------------


@dataclass(frozen=True)
class _Sums:
    """The model columns' sums of the pooled segments, stacked: (G, p, p), (G, p), (G,)."""

    a: np.ndarray  # X'WX
    b: np.ndarray  # X'Wy
    c: np.ndarray  # y'Wy
    n: int  # respondents over all pooled segments


@dataclass(frozen=True)
class _State:
    """Everything a value of D = T / σ² gives (per segment g, over the model columns)."""

    k: np.ndarray  # (G, p, p) K_g = D^½ (I + D^½ A_g D^½)^-1 D^½ = (A_g + D^-1)^-1
    q_mat: np.ndarray  # (G, p, p) Q_g = A_g - A_g K_g A_g = σ² X'V^-1 X
    q_vec: np.ndarray  # (G, p) q_g = b_g - A_g K_g b_g = σ² X'V^-1 y
    logdet_m: float  # Σ_g log|I + D^½ A_g D^½|
    v: np.ndarray  # (p, p) (Σ Q_g)^-1: σ² × Var(β̂)
    logdet_q: float  # log|Σ Q_g|
    beta: np.ndarray  # (p,) β̂ = (Σ Q_g)^-1 Σ q_g (generalised least squares)
    rss: float  # σ² Σ_g (y - Xβ̂)'V_g^-1(y - Xβ̂)


def _state(s: _Sums, d: np.ndarray) -> _State:
    """The marginal model's pieces at D from the sums: Woodbury and the determinant lemma
    turn each segment's n x n V_g into p x p matrices (METHODS.md has the algebra)."""
    p = len(d)
    sq = np.sqrt(d)
    m = np.eye(p) + sq[:, None] * s.a * sq[None, :]
    chol = np.linalg.cholesky(m)  # M = I + D^½ A D^½ is positive definite for any A >= 0
    logdet_m = 2.0 * float(np.log(np.diagonal(chol, axis1=1, axis2=2)).sum())
    eye = np.broadcast_to(np.eye(p), m.shape)
    m_inv = np.linalg.solve(m, eye)
    k = sq[:, None] * m_inv * sq[None, :]
    ak = s.a @ k
    q_mat = s.a - ak @ s.a
    q_mat = 0.5 * (q_mat + np.swapaxes(q_mat, 1, 2))
    q_vec = s.b - np.einsum("gij,gj->gi", ak, s.b)
    s_val = s.c - np.einsum("gi,gij,gj->g", s.b, k, s.b)
    q_sum = q_mat.sum(axis=0)
    sign, logdet_q = np.linalg.slogdet(q_sum)
    if sign <= 0:
        raise np.linalg.LinAlgError("the journey's design is singular")
    v = np.linalg.inv(q_sum)
    v = 0.5 * (v + v.T)
    qv = q_vec.sum(axis=0)
    beta = v @ qv
    rss = float(s_val.sum() - beta @ qv)
    return _State(k, q_mat, q_vec, logdet_m, v, float(logdet_q), beta, rss)


def _deviance(
    s: _Sums, d: np.ndarray, reml: bool, penalty: bool
) -> tuple[float, np.ndarray, _State]:
    """-2 × the profiled (RE)ML log-likelihood at D, without constants, and its gradient in
    D; with `penalty`, minus Σ log d_j (Chung et al. 2013: a Gamma(2, 0) prior on each
    τ_j / σ keeps the estimate off zero).

    d/dd_j: log|M_g| -> Q_g[j, j]; log|ΣQ| -> -Σ_g (Q_g V Q_g)[j, j];
    RSS -> -Σ_g r_gj² with r_g = q_g - Q_g β̂ (each from dK/dd_j = (I - KA) e_j e_j' (I - AK)).
    """
    st = _state(s, d)
    p = len(d)
    dof = s.n - p if reml else s.n
    rss = max(st.rss, 1e-300)
    dev = st.logdet_m + dof * math.log(rss)
    resid = st.q_vec - st.q_mat @ st.beta
    grad = np.einsum("gjj->j", st.q_mat) - dof * (resid**2).sum(axis=0) / rss
    if reml:
        dev += st.logdet_q
        grad -= ((st.q_mat @ st.v) * st.q_mat).sum(axis=(0, 2))  # Q_g symmetric
    if penalty:
        dev -= float(np.log(d).sum())
        grad -= 1.0 / d
    return dev, grad, st


def fit_spread(
    s: _Sums, *, reml: bool = True, penalty: bool = True, start: np.ndarray | None = None
) -> tuple[np.ndarray, _State, bool]:
    """D = T / σ² maximising the (penalised, restricted) likelihood: L-BFGS-B on log D."""
    p = s.a.shape[1]
    x0 = np.log(np.full(p, _D_START) if start is None else np.clip(start, *_D_BOUNDS))

    def fun(x: np.ndarray) -> tuple[float, np.ndarray]:
        d = np.exp(x)
        try:
            dev, grad, _ = _deviance(s, d, reml, penalty)
        except np.linalg.LinAlgError:
            return math.inf, np.zeros_like(x)
        return dev, grad * d  # the chain rule for log d

    # Imported here: scipy.optimize takes ~0.2 s to import, paid by every command of the
    # command line, most of which never pool (the served app imports it as it starts).
    from scipy.optimize import minimize

    bounds = [(math.log(_D_BOUNDS[0]), math.log(_D_BOUNDS[1]))] * p
    res = minimize(
        fun,
        x0,
        jac=True,
        method="L-BFGS-B",
        bounds=bounds,
        options={"maxiter": 2000, "ftol": 1e-13, "gtol": 1e-7},
    )
    d = np.exp(res.x)
    return d, _state(s, d), bool(res.success)


# ---- each segment's estimate and its covariance ------------------------------------------


def _sym(m: np.ndarray) -> np.ndarray:
    return 0.5 * (m + np.swapaxes(m, -1, -2))


@dataclass(frozen=True)
class _Pieces:
    """What pool_segments and pair_covariance share (their notation), computed once."""

    t: np.ndarray  # T = σ² D
    ka: np.ndarray  # K_g A_g
    g_mat: np.ndarray  # G_g = I - A_g K_g
    var_xi: np.ndarray  # Var ξ_g = Ω_g + A_g T A_g
    psi: np.ndarray  # Ψ_g = G_g Var(ξ_g) G_g'
    psi_all: np.ndarray  # Σ_g Ψ_g
    j_mat: np.ndarray  # J_g = (I - K_g A_g) V
    e_mat: np.ndarray  # E_g = K_g + J_g G_g


def _pieces(s: _Sums, st: _State, d: np.ndarray, sigma2: float, omega: np.ndarray) -> _Pieces:
    p = len(d)
    eye = np.eye(p)
    t = sigma2 * np.diag(d)
    a, k = s.a, st.k
    ka = k @ a
    g_mat = eye - np.swapaxes(ka, 1, 2)  # I - A K (A, K symmetric)
    var_xi = omega + a @ t @ a
    psi = g_mat @ var_xi @ np.swapaxes(g_mat, 1, 2)
    j_mat = (eye - ka) @ st.v
    return _Pieces(t, ka, g_mat, var_xi, psi, psi.sum(axis=0), j_mat, k + j_mat @ g_mat)


def pool_segments(
    s: _Sums,
    st: _State,
    d: np.ndarray,
    sigma2: float,
    omega: np.ndarray,
    pieces: _Pieces | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Posterior means b_g, their covariances C_g and Var(β̂), given D, σ² and each
    segment's noise meat Ω_g = Var(X'W e_g) (its HC3 meat, or σ²_g A_g).

    With ξ_h = X'W e_h + A_h u_h (what segment h's sums add to its normal equations),
    G_h = I - A_h K_h, V = (Σ Q_h)^-1 and T = σ² D:
      β̂ - β = V Σ_h G_h ξ_h,   b_g - β_g = K_g ξ_g - u_g + (I - K_g A_g)(β̂ - β),
    so with E_g = K_g + J_g G_g, J_g = (I - K_g A_g) V, Var ξ_h = Ω_h + A_h T A_h,
    Ψ_h = G_h Var(ξ_h) G_h':
      C_g = E_g Var(ξ_g) E_g' - E_g A_g T - T A_g E_g' + T + J_g (Σ_h≠g Ψ_h) J_g'.
    With Ω_h = σ² A_h (equal noise) this is the exact prediction error variance of the
    BLUP (Henderson's mixed-model equations); with the HC3 meats it stays honest when the
    noise differs across respondents (bench/pooling.md measures both).
    """
    pc = _pieces(s, st, d, sigma2, omega) if pieces is None else pieces
    t, e_mat, j_mat = pc.t, pc.e_mat, pc.j_mat
    eat = e_mat @ s.a @ t
    cov = (
        e_mat @ pc.var_xi @ np.swapaxes(e_mat, 1, 2)
        - eat
        - np.swapaxes(eat, 1, 2)
        + t
        + j_mat @ (pc.psi_all - pc.psi) @ np.swapaxes(j_mat, 1, 2)
    )
    post = np.einsum("gij,gj->gi", st.k, s.b) + np.einsum(
        "gij,j->gi", np.eye(len(d)) - pc.ka, st.beta
    )
    return post, _sym(cov), _sym(st.v @ pc.psi_all @ st.v)


def pair_covariance(
    s: _Sums,
    st: _State,
    d: np.ndarray,
    sigma2: float,
    omega: np.ndarray,
    cov: np.ndarray,
    rows: np.ndarray | None = None,
    *,
    full: bool = False,
    pieces: _Pieces | None = None,
) -> np.ndarray:
    """Cov(b_g - β_g, b_h - β_h) between every two pooled segments g ≠ h (pool_segments'
    notation): the ξ are independent across segments, so only what g and h share counts:
    segment g's own ξ_g reaching b_h through β̂, h's reaching b_g, and the other segments'
    reaching both:
      Cov_gh = F_g J_h' + J_g F_h' + J_g (Σ_l≠g,h Ψ_l) J_h'
             = P_g J_h' + J_g R_h',
    with F_g = (E_g Var(ξ_g) - T A_g) G_g', P_g = F_g + J_g (Σ_l Ψ_l - Ψ_g), R_g = F_g - J_g Ψ_g
    (F_g J_h' is Cov(E_g ξ_g - u_g, J_h G_g ξ_g): Cov(u_g, ξ_g) = T A_g).

    Returns the diagonal over the model columns `rows` (all by default) for every pair,
    (G, G, r), with each segment's own variance (`cov`, pool_segments' C_g) on g = h;
    `full=True` gives the (G, G, r, p) blocks instead (rows of Cov_gh, for the checks)."""
    pc = _pieces(s, st, d, sigma2, omega) if pieces is None else pieces
    sel = np.arange(len(d)) if rows is None else np.asarray(rows)
    j_mat = pc.j_mat
    f_rows = (pc.e_mat[:, sel] @ pc.var_xi - pc.t[sel] @ s.a) @ np.swapaxes(pc.g_mat, 1, 2)
    p_rows = f_rows + j_mat[:, sel] @ (pc.psi_all - pc.psi)
    r_rows = f_rows - j_mat[:, sel] @ pc.psi
    n_seg = len(s.a)
    if full:
        out = np.einsum("gij,hkj->ghik", p_rows, j_mat) + np.einsum(
            "gij,hkj->ghik", j_mat[:, sel], _rows_all(pc, s, sel)
        )
        for g in range(n_seg):
            out[g, g] = cov[g][sel]
        return out
    # Per row i: (G, p) @ (p, G), as one batched product (BLAS) rather than an einsum.
    pr, jr, rr = (np.swapaxes(m, 0, 1) for m in (p_rows, j_mat[:, sel], r_rows))
    both = pr @ np.swapaxes(jr, 1, 2) + jr @ np.swapaxes(rr, 1, 2)  # (r, G, G)
    out = np.ascontiguousarray(np.transpose(both, (1, 2, 0)))
    idx = np.arange(n_seg)
    out[idx, idx] = np.einsum("gii->gi", cov)[:, sel]
    return out


def _rows_all(pc: _Pieces, s: _Sums, sel: np.ndarray) -> np.ndarray:
    """R_g in full (every row): the full blocks' J_g[sel] R_h' needs all of R_h's rows."""
    f_all = (pc.e_mat @ pc.var_xi - pc.t @ s.a) @ np.swapaxes(pc.g_mat, 1, 2)
    return f_all - pc.j_mat @ pc.psi


# ---- the public entry points --------------------------------------------------------------


def partial_pool(
    stats: SufficientStats,
    min_n: int = MIN_SEGMENT,
    *,
    reml: bool = True,
    penalty: bool = True,
    robust: bool = True,
) -> PoolResult:
    """Pool every segment of at least `min_n` respondents with the whole journey.

    `reml=False` fits by maximum likelihood, `penalty=False` drops the boundary-avoiding
    prior (plain REML, as statsmodels' MixedLM), `robust=False` uses the model's noise
    σ² X'WX for every segment instead of its HC3 meat: options for the checks and the
    benchmark; the defaults are what the app uses.
    """
    lay = stats.layout
    nothing = _nothing(stats, min_n)
    whole = stats.segments[0] if stats.segments else None
    if whole is None or whole.segment != ALL or not stats.segmentation:
        return replace(nothing, note="no segmentation: nothing to pool")
    if whole.problem or not whole.kept:
        return replace(nothing, note=f"the whole journey cannot be fitted ({whole.problem})")
    chosen = [s for s in stats.segments[1:] if s.n >= min_n]
    if len(chosen) < 2:
        return replace(nothing, note=f"fewer than two segments of at least {min_n} respondents")
    # The journey's columns that the pooled segments hold (a column only smaller segments
    # or unsegmented rows are in cannot be estimated from them).
    held = np.sum([np.diag(s.gram)[: lay.k] for s in chosen], axis=0)
    cols = np.array([c for c in whole.kept if held[c] > 0])
    p = len(cols)
    sums = _sums(chosen, cols, lay)
    if sums.n <= p + 1:
        return replace(nothing, note="fewer respondents than coefficients")
    try:
        d, st, ok = fit_spread(sums, reml=reml, penalty=penalty)
    except np.linalg.LinAlgError:
        return replace(nothing, note="the pooled segments' design is singular")
    sigma2 = st.rss / (sums.n - (p if reml else 0))
    omega, kinds = _meats(chosen, cols, sums, st, d, sigma2, robust)
    pieces = _pieces(sums, st, d, sigma2, omega)
    post, cov, mean_cov = pool_segments(sums, st, d, sigma2, omega, pieces)
    shares = np.einsum("gjj->gj", st.k @ sums.a)
    lowhigh = [j for j, c in enumerate(cols) if c < lay.icpt]  # low and high columns
    rows = np.array(lowhigh, dtype=int)
    cross = pair_covariance(sums, st, d, sigma2, omega, cov, rows, pieces=pieces)
    pairs = _pairs(chosen, cols[lowhigh], lay, cross)
    pooled, out = _pooled_segments(
        chosen, whole, cols, lay.k, _Estimates(post, cov, shares, lowhigh, kinds)
    )
    segs = tuple(pooled.get(s.segment, s) for s in stats.segments)
    return PoolResult(
        stats=replace(stats, segments=segs),
        segments=tuple(out),
        left_out=tuple(s.segment for s in stats.segments[1:] if s.segment not in pooled),
        columns=tuple(int(c) for c in cols),
        mean=_widen(st.beta, cols, lay.k),
        mean_cov=_widen(mean_cov, cols, lay.k),
        spread=_widen(np.sqrt(sigma2 * d), cols, lay.k),
        sigma2=sigma2,
        min_n=min_n,
        converged=ok,
        pairs=pairs,
    )


def _nothing(stats: SufficientStats, min_n: int) -> PoolResult:
    """The result when nothing is pooled: the stats unchanged, every segment left out."""
    k = stats.layout.k
    return PoolResult(
        stats=stats,
        segments=(),
        left_out=tuple(s.segment for s in stats.segments if s.segment != ALL),
        columns=(),
        mean=np.full(k, np.nan),
        mean_cov=np.full((k, k), np.nan),
        spread=np.full(k, np.nan),
        sigma2=math.nan,
        min_n=min_n,
        converged=False,
    )


@dataclass(frozen=True)
class _Estimates:
    """The pooled segments' estimates over the model columns (pool_segments' notation)."""

    post: np.ndarray  # (G, p) b_g
    cov: np.ndarray  # (G, p, p) C_g
    shares: np.ndarray  # (G, p) diag(K_g A_g): each column's own share
    lowhigh: list[int]  # positions of the low and high columns among the model columns
    kinds: list[Meat]


def _widen(values: np.ndarray, cols: np.ndarray, k: int) -> np.ndarray:
    """A vector (or square matrix) over the model columns `cols` spread to all k design
    columns, NaN outside the model."""
    if values.ndim == 1:
        out = np.full(k, np.nan)
        out[cols] = values
        return out
    out = np.full((k, k), np.nan)
    out[np.ix_(cols, cols)] = values
    return out


def _pooled_segments(
    chosen: list[SegmentStats], whole: SegmentStats, cols: np.ndarray, k: int, est: _Estimates
) -> tuple[dict[str, SegmentStats], list[PooledSegment]]:
    """Each pooled segment's sums carrying its pooled estimate, and its own share."""
    pooled: dict[str, SegmentStats] = {}
    out: list[PooledSegment] = []
    for g, s in enumerate(chosen):
        pooled[s.segment] = replace(
            s,
            kept=tuple(int(c) for c in cols),
            dropped=whole.dropped + tuple((c, "empty") for c in whole.kept if c not in cols),
            beta=_widen(est.post[g], cols, k),
            cov=_widen(est.cov[g], cols, k),
            # The pooled system (A + D^-1) is well conditioned by construction; the own
            # design's collinearity no longer inflates the estimate as it would alone.
            condition_index=math.nan,
            problem="",
        )
        lowhigh = est.lowhigh
        own = float(est.shares[g, lowhigh].mean()) if lowhigh else math.nan
        out.append(PooledSegment(s.segment, s.n, own, _widen(est.shares[g], cols, k), est.kinds[g]))
    return pooled, out


def _pairs(
    chosen: list[SegmentStats], cols: np.ndarray, lay: Layout, cross: np.ndarray
) -> PairCovariance:
    """The pairs' covariances of each touchpoint's low and high coefficients, (G, G, t), from
    pair_covariance's diagonal over the model's low and high columns `cols`."""
    where = {int(c): j for j, c in enumerate(cols)}
    g = len(chosen)
    low = np.full((g, g, lay.t), np.nan)
    high = np.full((g, g, lay.t), np.nan)
    for i in range(lay.t):
        if lay.low(i) in where:
            low[:, :, i] = cross[:, :, where[lay.low(i)]]
        if lay.high(i) in where:
            high[:, :, i] = cross[:, :, where[lay.high(i)]]
    return PairCovariance(tuple(s.segment for s in chosen), low, high)


def pool(stats: SufficientStats, min_n: int = MIN_SEGMENT) -> SufficientStats:
    """`stats` with every segment of at least `min_n` respondents pooled (partial_pool):
    classify_moments reads it as it reads a segment's own fit."""
    return partial_pool(stats, min_n).stats


def _sums(chosen: list[SegmentStats], cols: np.ndarray, lay: Layout) -> _Sums:
    a = np.stack([s.gram[np.ix_(cols, cols)] for s in chosen])
    b = np.stack([s.gram[cols, lay.y] for s in chosen])
    c = np.array([s.gram[lay.y, lay.y] for s in chosen])
    return _Sums(_sym(a), b, c, int(sum(s.n for s in chosen)))


def _meats(
    chosen: list[SegmentStats],
    cols: np.ndarray,
    s: _Sums,
    st: _State,
    d: np.ndarray,
    sigma2: float,
    robust: bool,
) -> tuple[np.ndarray, list[Meat]]:
    """Each segment's Ω_g = Var(X'W e_g): its own fit's HC3 meat when it has one (its
    residuals are those of its least-squares fit, the meat the sums' second pass), else
    σ²_g A_g with σ²_g its residual variance under the pooled fit, (y'Wy - 2b'b_g +
    b_g'A b_g) / (n_g - tr(K_g A_g)): a segment noisier than the rest stays noisier."""
    p = len(cols)
    eye = np.eye(p)
    omega = np.empty_like(s.a)
    kinds: list[Meat] = []
    ka = st.k @ s.a
    post = np.einsum("gij,gj->gi", st.k, s.b) + np.einsum("gij,j->gi", eye - ka, st.beta)
    for g, seg in enumerate(chosen):
        meat = seg.meat[np.ix_(cols, cols)]
        # HC3 needs residual degrees of freedom: with as many respondents as coefficients
        # the residuals vanish and so would the meat. From twice as many (mean leverage
        # at most 1/2) it is honest, if conservative, and it sees unequal noise.
        fitted = not seg.problem and seg.kept and seg.n >= 2 * len(seg.kept)
        if robust and fitted and np.isfinite(meat).all():
            omega[g] = _sym(meat)
            kinds.append("hc3")
            continue
        b = post[g]
        rss = float(s.c[g] - 2 * b @ s.b[g] + b @ s.a[g] @ b)
        edf = float(np.trace(ka[g]))
        var = rss / (seg.n - edf) if robust and seg.n - edf > 1 else sigma2
        omega[g] = max(var, 0.0) * s.a[g] if robust else sigma2 * s.a[g]
        kinds.append("model")
    return omega, kinds
