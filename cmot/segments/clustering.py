"""Clustering for segmentation: KMeans / GaussianMixture fits, the k curve (silhouette,
BIC), stability by adjusted Rand index over seeded re-fits, assignment to the nearest segment,
and the thread limit every fit runs under."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import scipy.linalg
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score, silhouette_score
from sklearn.mixture import GaussianMixture
from threadpoolctl import threadpool_limits

from cmot.errors import CmotError

# Defaults of `ClusterSettings`, the settings of every clustering (cmot.segments.clustered).
K_RANGE = (2, 8)
FIT_SAMPLE = 100_000  # rows the k search runs on; the chosen k is then fitted on all rows
SILHOUETTE_SAMPLE = 5_000  # silhouette costs O(n^2); +-0.01 at this size
STABILITY_SAMPLE = 10_000
REFITS = 10
# Threads for OpenMP (KMeans, silhouette) and BLAS. On the shared 2-vCPU machines two threads
# made KMeans 25x slower under load (k = 2..8 on 26,000 rows: 8.3 s against 0.33 s) because
# idle OpenMP workers spin for a busy core; the driver EM's small X'WX products were 4x
# slower. CMOT_THREADS overrides this on a dedicated machine.
THREADS = int(os.environ.get("CMOT_THREADS", "1"))


@dataclass(frozen=True)
class ClusterSettings:
    """How a clustering is fitted, with its defaults: k fixed, or None to choose it in
    `k_range` on a seeded sample of `fit_sample` rows (KMeans: highest silhouette on
    `silhouette_sample` rows; method "gmm": lowest BIC, `covariance_type` its components'
    covariance); `refits` seeded re-fits on `stability_sample` rows for the stability; `seed`
    seeds every sample and fit. The keywords of `cluster_attributes` and `cluster_needs`."""

    k: int | None = None
    k_range: tuple[int, int] = K_RANGE
    method: str = "kmeans"
    seed: int = 0
    covariance_type: str = "diag"
    fit_sample: int = FIT_SAMPLE
    silhouette_sample: int = SILHOUETTE_SAMPLE
    stability_sample: int = STABILITY_SAMPLE
    refits: int = REFITS


@dataclass(frozen=True)
class Stability:
    """How far seeded re-fits on resamples reproduce the segments (adjusted Rand, 1 = same)."""

    mean_ari: float
    min_ari: float
    scores: tuple[float, ...]
    refits: int
    sample_size: int
    verdict: str


def verdict(mean_ari: float) -> str:
    """Plain-language reading of a mean adjusted Rand index over re-fits."""
    if mean_ari >= 0.9:
        return "Very stable: re-fits on fresh samples find the same segments."
    if mean_ari >= 0.75:
        return "Stable: re-fits find nearly the same segments; a few respondents at the edges move."
    if mean_ari >= 0.5:
        return (
            "Moderately stable: the broad groups recur but many respondents change segment; "
            "treat the boundaries as soft."
        )
    return (
        "Unstable: re-fits find different segments; they may be artefacts of this sample. "
        "Try fewer segments or other attributes."
    )


def sample_rows(n: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """Sorted indices of a seeded sample of `size` of `n` rows (all rows when n <= size)."""
    return np.arange(n) if n <= size else np.sort(rng.choice(n, size, replace=False))


def _fit_kmeans(x: np.ndarray, k: int, seed: int, init: Any = "k-means++") -> KMeans:
    # One k-means++ start (sklearn's own default): the stability re-fits measure what extra
    # starts would hide, and each start costs a full Lloyd run.
    n_init = 1
    return KMeans(n_clusters=k, init=init, n_init=n_init, random_state=seed).fit(x)


def _fit_gmm(
    x: np.ndarray, k: int, seed: int, cov: str, init: GaussianMixture | None = None
) -> GaussianMixture:
    kw: dict[str, Any] = {}
    if init is not None:
        kw = {
            "weights_init": init.weights_,
            "means_init": init.means_,
            "precisions_init": init.precisions_,
        }
    # reg_covar: one-hot columns are degenerate within a cluster, so their covariance is
    # singular without a floor.
    return GaussianMixture(
        k,
        covariance_type=cov,
        reg_covar=1e-3,
        random_state=seed,
        n_init=1 if kw else 2,
        **kw,
    ).fit(x)


def _k_curve(
    x: np.ndarray, ks: Sequence[int], method: str, seed: int, cov: str, sil_n: int
) -> tuple[pd.DataFrame, dict[int, Any]]:
    """Fit every candidate k on `x`; silhouette on one seeded sub-sample (same for every k)."""
    rng = np.random.default_rng(seed + 101)
    sil_idx = sample_rows(len(x), sil_n, rng)
    rows, fits = [], {}
    for k in ks:
        if k >= len(x):
            break
        if method == "gmm":
            m: Any = _fit_gmm(x, k, seed, cov)
            lab = m.predict(x)
            bic, inertia = float(m.bic(x)), math.nan
        else:
            m = _fit_kmeans(x, k, seed)
            lab, bic, inertia = m.labels_, math.nan, float(m.inertia_)
        sl = lab[sil_idx]
        sil = float(silhouette_score(x[sil_idx], sl)) if len(np.unique(sl)) > 1 else math.nan
        rows.append(
            {
                "k": k,
                "silhouette": sil,
                "inertia": inertia,
                "bic": bic,
                "loglik": math.nan,
            }
        )
        fits[k] = m
    curve = pd.DataFrame(rows, columns=["k", "silhouette", "inertia", "bic", "loglik"])
    if curve.empty:
        raise CmotError("Too few respondents to form two segments; load more data.")
    return curve, fits


def check_stability(
    x: np.ndarray,
    ref_labels: np.ndarray,
    refit: Any,
    refits: int,
    seed: int,
    size: int,
) -> Stability:
    """Mean ARI between the reference labels and re-fits on bootstrap resamples of `x`.

    `refit(x_resample, seed)` returns a predictor f(x) -> labels; every re-fit is scored on the
    same seeded evaluation rows, so the score does not depend on which rows were drawn.
    """
    rng = np.random.default_rng(seed + 202)
    ev = sample_rows(len(x), size, rng)
    scores = []
    for b in range(refits):
        boot = rng.choice(ev, len(ev), replace=True)
        predict = refit(x[boot], seed + 1000 + b)
        scores.append(float(adjusted_rand_score(ref_labels[ev], predict(x[ev]))))
    mean = float(np.mean(scores)) if scores else math.nan
    return Stability(
        mean_ari=mean,
        min_ari=float(np.min(scores)) if scores else math.nan,
        scores=tuple(scores),
        refits=refits,
        sample_size=len(ev),
        verdict=verdict(mean) if scores else "Not checked (no re-fits asked for).",
    )


def cluster_matrix(
    x: np.ndarray, settings: ClusterSettings
) -> tuple[np.ndarray, pd.DataFrame, Stability, Any]:
    """Labels (0 = the largest segment), k curve, stability and the saved parameters of
    clustering the rows of `x` as `settings` say, under the thread limit."""
    with threadpool_limits(limits=THREADS):
        return _cluster_matrix_threads(x, settings)


def _cluster_matrix_threads(
    x: np.ndarray, settings: ClusterSettings
) -> tuple[np.ndarray, pd.DataFrame, Stability, Any]:
    """Choose k on a seeded sample, fit it on every row, check stability. Returns labels, curve."""
    k, k_range, method, seed = settings.k, settings.k_range, settings.method, settings.seed
    covariance_type, fit_sample = settings.covariance_type, settings.fit_sample
    silhouette_sample, stability_sample = settings.silhouette_sample, settings.stability_sample
    refits = settings.refits
    if method not in ("kmeans", "gmm"):
        raise CmotError(f"Unknown clustering method {method!r}; use kmeans or gmm.")
    rng = np.random.default_rng(seed)
    idx = sample_rows(len(x), fit_sample, rng)
    xs = x[idx]
    ks = [k] if k is not None else list(range(k_range[0], k_range[1] + 1))
    if k is not None and k < 2:
        raise CmotError("Ask for at least 2 segments (or leave k empty to choose it).")
    curve, fits = _k_curve(xs, ks, method, seed, covariance_type, silhouette_sample)
    if k is None:
        best = curve.loc[curve["bic"].idxmin() if method == "gmm" else curve["silhouette"].idxmax()]
        k = int(best["k"])
    curve["chosen"] = curve["k"] == k
    # The full fit starts from the sample's solution: same segments, a few passes over all rows.
    if method == "gmm":
        model: Any = (
            fits[k] if len(idx) == len(x) else _fit_gmm(x, k, seed, covariance_type, fits[k])
        )
        labels = model.predict(x)

        def refit(xb: np.ndarray, s: int) -> Any:
            return _fit_gmm(xb, k, s, covariance_type).predict

    else:
        model = fits[k] if len(idx) == len(x) else _fit_kmeans(x, k, seed, fits[k].cluster_centers_)
        labels = model.predict(x) if len(idx) != len(x) else model.labels_

        def refit(xb: np.ndarray, s: int) -> Any:
            return _fit_kmeans(xb, k, s).predict

    labels, model = _order_by_size(np.asarray(labels), model, method)
    stab = check_stability(x, labels, refit, refits, seed, stability_sample)
    return labels, curve, stab, model


def _order_by_size(labels: np.ndarray, model: Any, method: str) -> tuple[np.ndarray, Any]:
    """Number segments from the largest, so codes do not depend on the solver's order."""
    k = int(labels.max()) + 1
    order = np.argsort(-np.bincount(labels, minlength=k), kind="stable")
    remap = np.empty(k, dtype=np.int64)
    remap[order] = np.arange(k)
    params: dict[str, Any]
    if method == "gmm":
        params = {
            "weights": model.weights_[order].tolist(),
            "means": model.means_[order].tolist(),
            # tied: one matrix shared by every component, nothing to reorder
            "covariances": (
                model.covariances_ if model.covariance_type == "tied" else model.covariances_[order]
            ).tolist(),
            "covariance_type": model.covariance_type,
        }
    else:
        params = {"centers": model.cluster_centers_[order].tolist()}
    return remap[labels], params


def precisions_cholesky(covariances: np.ndarray, covariance_type: str) -> np.ndarray:
    """Cholesky factors of the precision matrices of a Gaussian mixture's components, as a
    fitted `GaussianMixture` holds them in `precisions_cholesky_`, from its `covariances_`.

    sklearn computes these only in a private function; this mirrors it (the upper factor
    inverse of each covariance's lower Cholesky factor, 1 / sd for diagonal and spherical)
    so that a mixture rebuilt from saved parameters predicts like the fitted one.
    """
    cov = np.asarray(covariances, dtype=np.float64)
    if covariance_type in ("diag", "spherical"):
        return np.asarray(1.0 / np.sqrt(cov))
    if covariance_type not in ("full", "tied"):
        raise CmotError(
            f"Unknown covariance type {covariance_type!r}; use full, tied, diag or spherical."
        )
    mats = cov if covariance_type == "full" else cov[None]
    out = np.empty_like(mats)
    for g, c in enumerate(mats):
        lower = scipy.linalg.cholesky(c, lower=True)
        out[g] = scipy.linalg.solve_triangular(lower, np.eye(len(c)), lower=True).T
    return out if covariance_type == "full" else out[0]


def assign_nearest(x: np.ndarray, params: dict[str, Any], method: str) -> np.ndarray:
    """Segment codes of the rows of `x` under saved parameters (`_order_by_size`): the nearest
    centre for k-means, the most probable component for a Gaussian mixture."""
    if method == "gmm":
        gm = GaussianMixture(len(params["weights"]), covariance_type=params["covariance_type"])
        gm.weights_ = np.array(params["weights"])
        gm.means_ = np.array(params["means"])
        gm.covariances_ = np.array(params["covariances"])
        gm.precisions_cholesky_ = precisions_cholesky(gm.covariances_, gm.covariance_type)
        return np.asarray(gm.predict(x))
    c = np.array(params["centers"])
    d = (x * x).sum(1)[:, None] - 2 * x @ c.T + (c * c).sum(1)[None, :]
    return np.asarray(d.argmin(1))
