"""Driver-based segments' model: a mixture of PRCA regressions fitted by EM, with a
multinomial-logit membership on concomitant attributes; the drivers table it reads out."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.cluster import KMeans
from threadpoolctl import threadpool_limits

from cmot.segments.clustering import THREADS, Stability, check_stability, sample_rows
from cmot.segments.features import (
    apply_features,
    categories_as_text,
    column_kinds,
    feature_params,
    feature_transformer,
)
from cmot.spec import Scale

# Defaults; every one is a parameter of cmot.segments.driver_based.driver_segments.
DRIVER_K_MAX = 8
DRIVER_FIT_SAMPLE = 50_000


def prca_design(r: np.ndarray, scale: Scale) -> tuple[np.ndarray, list[tuple[int, str]]]:
    """Intercept + low/high/missing indicators per touchpoint (docs/METHODS.md, PRCA).

    Returns X and, per column after the intercept, (touchpoint index, "low"|"high"|"missing").
    Indicators that are never 1 in `r` are left out (they carry no information and make
    X'X singular); their coefficients read as 0.
    """
    miss = np.isnan(r)
    cols = [np.ones(len(r))]
    meta: list[tuple[int, str]] = []
    for j in range(r.shape[1]):
        with np.errstate(invalid="ignore"):
            parts = {"low": r[:, j] <= scale.low_max, "high": r[:, j] >= scale.high_min}
        parts["missing"] = miss[:, j]
        for kind, v in parts.items():
            if v.any() and not v.all():
                cols.append(v.astype(np.float64))
                meta.append((j, kind))
    return np.column_stack(cols), meta


def design_from(r: np.ndarray, scale: Scale, meta: list[tuple[int, str]]) -> np.ndarray:
    cols = [np.ones(len(r))]
    for j, kind in meta:
        v = r[:, j]
        with np.errstate(invalid="ignore"):
            ind = {"low": v <= scale.low_max, "high": v >= scale.high_min, "missing": np.isnan(v)}
        cols.append(ind[kind].astype(np.float64))
    return np.column_stack(cols)


@dataclass(frozen=True, eq=False)
class Mixture:
    """A fitted mixture of PRCA regressions (the parameters `Segmentation.model` keeps)."""

    beta: np.ndarray  # k x d regression coefficients
    sigma2: np.ndarray  # k residual variances
    gamma: np.ndarray  # q x k multinomial logit of membership on Z (q = 1: constant shares)
    loglik: float


def _logsumexp(a: np.ndarray, keepdims: bool = False) -> np.ndarray:
    """log(sum(exp(a))) over the k columns of an n x k array, stable.

    A column loop: numpy's row-wise max over a handful of columns took 15x longer, and
    scipy's logsumexp 3x; this ran in every E-step.
    """
    top = a[:, 0].copy()
    for j in range(1, a.shape[1]):
        np.maximum(top, a[:, j], out=top)
    acc = np.exp(a[:, 0] - top)
    for j in range(1, a.shape[1]):
        acc += np.exp(a[:, j] - top)
    out = top + np.log(acc)
    return out[:, None] if keepdims else out


def _log_prior(z: np.ndarray, gamma: np.ndarray) -> np.ndarray:
    a = z @ gamma
    return np.asarray(a - _logsumexp(a, keepdims=True))


P_CLIP = 0.02  # a linear probability outside [0.02, 0.98] is read as 0.02 / 0.98


def _e_step(x: np.ndarray, y: np.ndarray, z: np.ndarray, m: Mixture) -> tuple[np.ndarray, float]:
    mu = x @ m.beta.T
    if np.isnan(m.sigma2).all():
        # Binary outcome: Bernoulli likelihood of the linear probability model. A Gaussian one
        # degenerates here: a component can fit a handful of 0/1 outcomes with ~zero variance.
        p = np.clip(mu, P_CLIP, 1 - P_CLIP)
        logp = np.log(np.where(y[:, None] > 0.5, p, 1.0 - p))
    else:
        logp = -0.5 * (np.log(2 * np.pi * m.sigma2) + (y[:, None] - mu) ** 2 / m.sigma2)
    a = _log_prior(z, m.gamma) + logp
    ll = _logsumexp(a)
    return np.exp(a - ll[:, None]), float(ll.sum())


def _m_step(
    x: np.ndarray,
    y: np.ndarray,
    z: np.ndarray,
    post: np.ndarray,
    gamma: np.ndarray,
    var_floor: float,
    binary: bool,
    x32: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Weighted least squares per component, then the membership model.

    With `x32` (X as float32) the X'WX products run in single precision, 2.5x faster; EM
    iterates on them and ends with one float64 step, so reported coefficients are exact WLS.
    """
    k, d = post.shape[1], x.shape[1]
    beta = np.empty((k, d))
    sigma2 = np.empty(k)
    ridge = 1e-4 * np.eye(d)  # keeps a component with an empty indicator cell solvable
    for g in range(k):
        w = post[:, g]
        if x32 is None:
            xw = x * w[:, None]
            gram, xty = xw.T @ x, xw.T @ y
        else:
            xw32 = x32 * w.astype(np.float32)[:, None]
            gram, xty = (xw32.T @ x32).astype(np.float64), (xw32.T @ y.astype(np.float32))
        beta[g] = np.linalg.solve(gram + ridge, xty.astype(np.float64))
        if binary:
            sigma2[g] = math.nan
        else:
            res = y - x @ beta[g]
            sigma2[g] = max(float(w @ res**2) / max(float(w.sum()), 1e-9), var_floor)
    if z.shape[1] == 1:
        gamma = np.log(np.maximum(post.mean(0), 1e-12))[None, :]
    else:
        gamma = _fit_membership(z, post, gamma)
    return beta, sigma2, gamma


def _fit_membership(
    z: np.ndarray, post: np.ndarray, gamma: np.ndarray, alpha: float = 1.0, steps: int = 2
) -> np.ndarray:
    """Multinomial logit of soft memberships on Z, ridge `alpha` on all but the intercept.

    Böhning's bound (the Hessian is at most 1/2 (I - 11'/k) kron Z'Z) gives a fixed-matrix
    Newton step that never lowers the likelihood: a few per M-step make a generalised EM,
    and cost one product with Z each (a general optimiser spent most of the fit here).
    Class 0 is the reference (its column stays 0).
    """
    q, k = gamma.shape
    if k == 1:
        return np.zeros((q, 1))
    pen = np.eye(q)
    pen[0, 0] = 0.0
    bound = np.linalg.inv(z.T @ z + 2 * k * alpha * pen)
    a_inv = np.eye(k - 1) + 1.0  # inverse of I - 11'/k on the k - 1 free classes
    g = gamma - gamma[:, :1]
    for _ in range(steps):
        prob = np.exp(_log_prior(z, g))
        grad = z.T @ (post - prob)[:, 1:] - alpha * pen @ g[:, 1:]
        g[:, 1:] += 2 * bound @ grad @ a_inv
    return g


def _em(
    x: np.ndarray,
    y: np.ndarray,
    z: np.ndarray,
    post: np.ndarray,
    max_iter: int,
    tol: float = 1e-4,
    gamma: np.ndarray | None = None,
) -> tuple[Mixture, np.ndarray]:
    k = post.shape[1]
    binary = bool(np.isin(y, (0.0, 1.0)).all())
    # A floor on the residual variance of a numeric outcome keeps a component from shrinking
    # onto a few respondents it fits exactly.
    var_floor = 1e-2 * float(np.var(y)) + 1e-12
    g = np.zeros((z.shape[1], k)) if gamma is None else gamma
    m = Mixture(np.zeros((k, x.shape[1])), np.ones(k), g, -np.inf)
    prev = -np.inf
    x32 = x.astype(np.float32)
    for _ in range(max_iter):
        beta, sigma2, g = _m_step(x, y, z, post, m.gamma, var_floor, binary, x32)
        m = Mixture(beta, sigma2, g, m.loglik)
        post, ll = _e_step(x, y, z, m)
        m = Mixture(beta, sigma2, g, ll)
        # Least squares is not the Bernoulli maximiser, so the likelihood may wobble: stop on
        # small changes either way. 1e-4 of the log-likelihood is far below the BIC gaps that
        # choose k; the tail of EM's slow convergence cost most of the fit.
        if abs(ll - prev) < tol * abs(ll):
            break
        prev = ll
    beta, sigma2, g = _m_step(x, y, z, post, m.gamma, var_floor, binary)  # exact last step
    m = Mixture(beta, sigma2, g, m.loglik)
    post, ll = _e_step(x, y, z, m)
    return Mixture(beta, sigma2, g, ll), post


def _init_posts(
    z: np.ndarray, n: int, k: int, restarts: int, rng: np.random.Generator
) -> list[np.ndarray]:
    """Starting memberships: a KMeans split of the concomitant attributes (when given), then
    random soft splits. Seeded, so the same seed gives the same fit."""
    starts = []
    if z.shape[1] > 1 and k > 1:
        lab = KMeans(k, n_init=1, random_state=int(rng.integers(2**31))).fit_predict(z[:, 1:])
        starts.append(0.6 * np.eye(k)[lab] + 0.4 / k)
    while len(starts) < max(restarts, 1):
        starts.append(rng.dirichlet(np.ones(k), size=n))
    return starts


def _fit_mixture(
    x: np.ndarray, y: np.ndarray, z: np.ndarray, k: int, seed: int, restarts: int
) -> tuple[Mixture, np.ndarray]:
    """Best of `restarts` seeded starts: each runs 10 EM steps, the best runs to convergence."""
    rng = np.random.default_rng(seed)
    if k == 1:
        return _em(x, y, z[:, :1], np.ones((len(y), 1)), 5)
    best: tuple[Mixture, np.ndarray] | None = None
    for p0 in _init_posts(z, len(y), k, restarts, rng):
        m, post = _em(x, y, z, p0, 10)
        if best is None or m.loglik > best[0].loglik:
            best = (m, post)
    assert best is not None
    return _em(x, y, z, best[1], 300, gamma=best[0].gamma)


def _n_params(m: Mixture) -> int:
    k, d = m.beta.shape
    q = m.gamma.shape[0]
    return k * d + int(np.isfinite(m.sigma2).sum()) + (k - 1) * q


def concomitant_matrix(
    frame: pd.DataFrame, attributes: Sequence[str]
) -> tuple[np.ndarray, dict[str, Any]]:
    """Z of the membership model: an intercept, then `attributes` through the same feature
    transformer as attribute clustering; and the parameters that rebuild it for new rows."""
    if not attributes:
        return np.ones((len(frame), 1)), {"numeric": [], "categorical": []}
    logged, plain, cats = column_kinds(frame, attributes)
    ct = feature_transformer(logged, plain, cats).fit(categories_as_text(frame, cats))
    params = feature_params(ct)
    return np.column_stack([np.ones(len(frame)), apply_features(params, frame)]), params


def posterior(x: np.ndarray, y: np.ndarray, z: np.ndarray, m: Mixture) -> np.ndarray:
    """Membership probabilities; rows without an outcome get their prior (attributes only)."""
    zz = z if m.gamma.shape[0] == z.shape[1] else z[:, :1]
    prior = np.exp(_log_prior(zz, m.gamma))
    ok = np.isfinite(y)
    if ok.any():
        post, _ = _e_step(x[ok], y[ok], zz[ok], m)
        prior[ok] = post
    return prior


def _sort_components(m: Mixture, labels: np.ndarray) -> Mixture:
    k = m.beta.shape[0]
    order = np.argsort(-np.bincount(labels, minlength=k), kind="stable")
    gamma = m.gamma[:, order]
    return Mixture(m.beta[order], m.sigma2[order], gamma - gamma[:, :1], m.loglik)


def driver_table(m: Mixture, meta: list[tuple[int, str]], tps: Sequence[str]) -> pd.DataFrame:
    """Per segment and touchpoint: the low, high and missing coefficients, penalty (-low),
    reward (high), each floored at 0, and RIS = penalty + reward (outcome units)."""
    rows = []
    for g in range(m.beta.shape[0]):
        coef = {(j, kind): m.beta[g, i + 1] for i, (j, kind) in enumerate(meta)}
        for j, tp in enumerate(tps):
            lo, hi, mi = (coef.get((j, kd), 0.0) for kd in ("low", "high", "missing"))
            pen, rew = max(0.0, -lo), max(0.0, hi)
            rows.append((g, f"{g}", tp, lo, hi, mi, pen, rew, pen + rew))
    cols = ["segment", "name", "touchpoint", "low_coef", "high_coef", "missing_coef"]
    return pd.DataFrame(rows, columns=[*cols, "penalty", "reward", "ris"])


@dataclass(frozen=True, eq=False)
class DriverFit:
    """A fitted mixture with its segment codes (0 = the largest), k curve and stability."""

    mixture: Mixture
    labels: np.ndarray
    k_curve: pd.DataFrame
    stability: Stability

    @property
    def k(self) -> int:
        return int(self.mixture.beta.shape[0])


def fit_drivers(
    x_all: np.ndarray,
    y_all: np.ndarray,
    z_all: np.ndarray,
    *,
    k: int | None,
    k_max: int,
    seed: int,
    restarts: int,
    fit_sample: int,
    stability_sample: int,
    refits: int,
) -> DriverFit:
    """k by BIC over 1..k_max (or the given k) on a seeded sample of the rows with an outcome,
    refined on all of them; every row labelled (those without an outcome by their prior);
    stability from seeded re-fits. x: `prca_design`, y: outcome (NaN = none), z: intercept and
    concomitant attributes (`concomitant_matrix`)."""
    has_y = np.isfinite(y_all)
    fit_rows = np.flatnonzero(has_y)
    rng = np.random.default_rng(seed)
    samp = fit_rows[sample_rows(len(fit_rows), fit_sample, rng)]
    xs, ys, zs = x_all[samp], y_all[samp], z_all[samp]
    with threadpool_limits(limits=THREADS):
        ks = [k] if k is not None else list(range(1, k_max + 1))
        rows, fits = [], {}
        for kk in ks:
            m, _ = _fit_mixture(xs, ys, zs, kk, seed + kk, restarts)
            n_par = _n_params(m)
            bic = -2 * m.loglik + n_par * math.log(len(ys))
            rows.append(
                {
                    "k": kk,
                    "silhouette": math.nan,
                    "inertia": math.nan,
                    "bic": bic,
                    "loglik": m.loglik,
                }
            )
            fits[kk] = m
            # BIC has turned up: more segments only cost parameters from here (saves the
            # slowest fits; the curve shows where it stopped).
            if len(rows) >= 3 and rows[-1]["bic"] > rows[-2]["bic"]:
                break
        curve = pd.DataFrame(rows)
        chosen = int(curve.loc[curve["bic"].idxmin(), "k"])
        curve["chosen"] = curve["k"] == chosen
        m = fits[chosen]
        xf, yf, zf = x_all[fit_rows], y_all[fit_rows], z_all[fit_rows]
        if len(samp) < len(fit_rows):
            zc = zf if chosen > 1 else zf[:, :1]
            post0, _ = _e_step(xf, yf, zc, m)
            # The sample's solution is close: a few passes over every row refine it.
            m, _ = _em(xf, yf, zc, post0, 10, gamma=m.gamma)
        m = _sort_components(m, posterior(x_all, y_all, z_all, m).argmax(1))
        labels = posterior(x_all, y_all, z_all, m).argmax(1).astype(np.int64)

        def refit(idx: np.ndarray, s: int) -> Any:
            mb, _ = _fit_mixture(
                x_all[idx], y_all[idx], z_all[idx], chosen, s, max(2, restarts // 2)
            )
            return lambda ev: posterior(x_all[ev], y_all[ev], z_all[ev], mb).argmax(1)

        if chosen > 1:
            stab = check_stability(
                fit_rows, labels[fit_rows], refit, refits, seed, stability_sample
            )
        else:
            stab = Stability(math.nan, math.nan, (), 0, 0, "One segment: nothing to re-fit.")
    return DriverFit(m, labels, curve, stab)


def assign_drivers(
    m: dict[str, Any], r: np.ndarray, frame: pd.DataFrame, outcome: Sequence[float] | None
) -> np.ndarray:
    """Segment codes from a saved driver model (`Segmentation.model`): the posterior
    membership when `outcome` is given, else the prior from the concomitant attributes.
    r: the model's touchpoint ratings (NaN = missing); frame: its attributes."""
    scale = Scale(low_max=m["scale"][0], high_min=m["scale"][1], min=-(10**9), max=10**9)
    x = design_from(r, scale, [(int(j), str(kd)) for j, kd in m["design"]])
    z = np.column_stack([np.ones(len(frame)), apply_features(m["concomitant"], frame)])
    y = np.full(len(frame), np.nan) if outcome is None else np.asarray(outcome, dtype=np.float64)
    mix = Mixture(
        np.array(m["beta"]), np.array(m["sigma2"], dtype=np.float64), np.array(m["gamma"]), math.nan
    )
    return posterior(x, y, z, mix).argmax(1).astype(np.int64)
