"""Segments: given, clustered (attributes or needs) and driver-based; names, profiles, stability."""

from __future__ import annotations

import itertools
import json
import math
import os
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from io import StringIO
from typing import Any, Literal

import duckdb
import numpy as np
import pandas as pd
from sklearn.cluster import KMeans
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.metrics import adjusted_rand_score, silhouette_score
from sklearn.mixture import GaussianMixture
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler
from threadpoolctl import threadpool_limits

from cmot.errors import CmotError
from cmot.spec import JourneySpec, Scale
from cmot.store import (
    ROW_COL,
    W_COL,
    Y_COL,
    SegmentationRecord,
    Store,
    check_segment_names,
    quote_ident,
)

Mode = Literal["given", "attributes", "needs", "drivers"]
MODES: tuple[str, ...] = ("given", "attributes", "needs", "drivers")
MISSING_LEVEL = "(missing)"

# Defaults; every one is a parameter of the functions below.
K_RANGE = (2, 8)
FIT_SAMPLE = 100_000  # rows the k search runs on; the chosen k is then fitted on all rows
SILHOUETTE_SAMPLE = 5_000  # silhouette costs O(n^2); +-0.01 at this size
STABILITY_SAMPLE = 10_000
REFITS = 10
DRIVER_K_MAX = 8
DRIVER_FIT_SAMPLE = 50_000
MAX_LEVELS = 100  # a category with more levels (an id, free text) would one-hot into noise
# Threads for OpenMP (KMeans, silhouette) and BLAS. On the shared 2-vCPU machines two threads
# made KMeans 25x slower under load (k = 2..8 on 26,000 rows: 8.3 s against 0.33 s) because
# idle OpenMP workers spin for a busy core; the driver EM's small X'WX products were 4x
# slower. CMOT_THREADS overrides this on a dedicated machine.
THREADS = int(os.environ.get("CMOT_THREADS", "1"))

# Every function reads `table`, an already quoted table name (`DatasetInfo.table`), through
# `con`, a DuckDB connection or the store's cursor, and pulls only the columns a fit needs.
# Rows are always in `__cmot_row` order; `Segmentation.rows` says which row each label is.


@dataclass(frozen=True)
class Stability:
    """How far seeded re-fits on resamples reproduce the segments (adjusted Rand, 1 = same)."""

    mean_ari: float
    min_ari: float
    scores: tuple[float, ...]
    refits: int
    sample_size: int
    verdict: str


@dataclass(frozen=True, eq=False)
class Segmentation:
    """A fitted segmentation of one dataset table.

    rows/labels: `__cmot_row` and the segment code (0..k-1; -1 = not assignable) of every row.
    names: one readable, editable name per code.
    sizes: segment, name, size (respondents), share (weighted by `__cmot_w`).
    profile: segment, name, attribute, level ("mean" for numbers), segment_value (weighted
        share of the level, or mean), overall_value, index (100 = as in the whole).
    k_curve: k, silhouette, inertia, bic, loglik, chosen (columns a method lacks are NaN).
    drivers (driver mode only): segment, name, touchpoint, low_coef, high_coef, missing_coef,
        penalty, reward, ris (outcome units, as PRCA in docs/METHODS.md).
    model: JSON-able parameters that `assign_segments` needs for new respondents.
    descriptions (driver mode): who is in each segment, from the attribute values that most
        distinguish it ("Business travel, Class: Business"); the names say what drives them.
    """

    mode: str
    method: str
    columns: tuple[str, ...]
    k: int
    seed: int
    names: tuple[str, ...]
    rows: np.ndarray
    labels: np.ndarray
    sizes: pd.DataFrame
    profile: pd.DataFrame
    k_curve: pd.DataFrame
    stability: Stability | None
    model: dict[str, Any]
    cuts: tuple[float, ...] = ()
    note: str = ""
    drivers: pd.DataFrame | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    descriptions: tuple[str, ...] = ()

    def with_names(self, names: Sequence[str]) -> Segmentation:
        """The same segmentation with user-edited names (one per segment, unique, non-empty)."""
        names = check_segment_names(names, self.k)
        return replace(
            self,
            names=names,
            sizes=_rename(self.sizes, names),
            profile=_rename(self.profile, names),
            drivers=None if self.drivers is None else _rename(self.drivers, names),
        )

    def label_series(self) -> pd.Series:
        """Segment name per `__cmot_row` (index)."""
        names = np.array([*self.names, MISSING_LEVEL], dtype=object)
        return pd.Series(
            names[self.labels], index=pd.Index(self.rows, name=ROW_COL), name="segment"
        )


def _rename(frame: pd.DataFrame, names: Sequence[str]) -> pd.DataFrame:
    out = frame.copy()
    out["name"] = [names[int(s)] for s in out["segment"]]
    return out


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


# ---- reading the dataset ------------------------------------------------------------


def _fetch(con: duckdb.DuckDBPyConnection, table: str, columns: Sequence[str]) -> pd.DataFrame:
    """The named columns plus row id and weight, in row order (only what the fit needs)."""
    cols = ", ".join(quote_ident(c) for c in dict.fromkeys(columns))
    sep = ", " if cols else ""
    try:
        return con.execute(
            f"SELECT {ROW_COL}, {W_COL}{sep}{cols} FROM {table} ORDER BY {ROW_COL}"
        ).df()
    except duckdb.BinderException as e:
        raise CmotError(
            f"A segmentation column is not in the dataset: {e}. Pick columns the dataset has."
        ) from None


def _ratings(con: duckdb.DuckDBPyConnection, table: str, columns: Sequence[str]) -> np.ndarray:
    """Touchpoint ratings as float64 with NaN for missing, rows in `__cmot_row` order."""
    sel = ", ".join(f"CAST({quote_ident(c)} AS DOUBLE)" for c in columns)
    res = con.execute(f"SELECT {sel} FROM {table} ORDER BY {ROW_COL}").fetchnumpy()
    return np.column_stack([np.ma.filled(v, np.nan) for v in res.values()]).astype(np.float64)


def _outcome(con: duckdb.DuckDBPyConnection, table: str) -> np.ndarray:
    res = con.execute(f"SELECT {Y_COL} FROM {table} ORDER BY {ROW_COL}").fetchnumpy()
    return np.ma.filled(res[Y_COL].astype(np.float64), np.nan)


def _is_numeric(s: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s)


def _as_text(s: pd.Series) -> pd.Series:
    """Categories as plain text with an explicit level for missing (it is information)."""
    return s.astype(object).where(s.notna(), MISSING_LEVEL).astype(str)


def _skewed(s: pd.Series) -> bool:
    # Money, distances and durations are multiplicative: log them, or a few large values
    # decide the clusters. Only for non-negative, clearly right-skewed numbers.
    v = pd.to_numeric(s, errors="coerce").dropna()
    return bool(len(v) > 2 and v.min() >= 0 and v.skew() > 1.0)


def _kinds(frame: pd.DataFrame, columns: Sequence[str]) -> tuple[list[str], list[str], list[str]]:
    """(log-scaled numbers, plain numbers, categories)."""
    logged: list[str] = []
    plain: list[str] = []
    cats: list[str] = []
    for c in columns:
        if _is_numeric(frame[c]) and frame[c].nunique(dropna=True) > 2:
            (logged if _skewed(frame[c]) else plain).append(c)
        else:
            levels = frame[c].nunique(dropna=False)
            if levels > MAX_LEVELS:
                raise CmotError(
                    f"{c!r} has {levels:,} distinct values: too many to segment on. Leave it "
                    "out, or band it first if it is a number stored as text."
                )
            cats.append(c)
    return logged, plain, cats


def _prepare(frame: pd.DataFrame, cats: Sequence[str]) -> pd.DataFrame:
    out = frame.copy()
    for c in cats:
        out[c] = _as_text(out[c])
    return out


def _features(logged: list[str], plain: list[str], cats: list[str]) -> ColumnTransformer:
    """Numbers imputed (median) and standardised, skewed ones logged first; categories one-hot."""
    parts: list[tuple[str, Any, list[str]]] = []
    if logged:
        steps = [
            ("log", FunctionTransformer(np.log1p, feature_names_out="one-to-one")),
            ("impute", SimpleImputer(strategy="median")),
            ("scale", StandardScaler()),
        ]
        parts.append(("log", Pipeline(steps), logged))
    if plain:
        steps = [
            ("impute", SimpleImputer(strategy="median")),
            ("scale", StandardScaler()),
        ]
        parts.append(("num", Pipeline(steps), plain))
    if cats:
        enc = OneHotEncoder(handle_unknown="ignore", sparse_output=False, dtype=np.float64)
        parts.append(("cat", enc, cats))
    return ColumnTransformer(parts, remainder="drop")


def _feature_params(ct: ColumnTransformer) -> dict[str, Any]:
    """What assign_segments needs to rebuild the feature matrix without pickles."""
    params: dict[str, Any] = {"numeric": [], "categorical": []}
    for name, est, cols in ct.transformers_:
        if name in ("log", "num"):
            imp, sc = est.named_steps["impute"], est.named_steps["scale"]
            for i, c in enumerate(cols):
                params["numeric"].append(
                    {
                        "column": c,
                        "log": name == "log",
                        "median": float(imp.statistics_[i]),
                        "mean": float(sc.mean_[i]),
                        "scale": float(sc.scale_[i]),
                    }
                )
        elif name == "cat":
            for c, levels in zip(cols, est.categories_, strict=True):
                params["categorical"].append({"column": c, "levels": [str(v) for v in levels]})
    return params


def _apply_features(params: dict[str, Any], frame: pd.DataFrame) -> np.ndarray:
    """The ColumnTransformer's output, rebuilt from stored parameters (same column order)."""
    blocks: list[np.ndarray] = []
    for p in params["numeric"]:
        v = pd.to_numeric(frame[p["column"]], errors="coerce").to_numpy(np.float64, na_value=np.nan)
        if p["log"]:
            with np.errstate(invalid="ignore", divide="ignore"):
                v = np.log1p(v)
        v = np.where(np.isfinite(v), v, p["median"])
        blocks.append(((v - p["mean"]) / p["scale"])[:, None])
    for p in params["categorical"]:
        v = _as_text(frame[p["column"]]).to_numpy()
        blocks.append((v[:, None] == np.array(p["levels"], dtype=object)[None, :]).astype(float))
    return np.hstack(blocks) if blocks else np.zeros((len(frame), 0))


# ---- naming and profiling -----------------------------------------------------------


def _level_text(column: str, level: str) -> str:
    # "Business travel" and "Loyal Customer" read alone; "Business" (Class) or "Yes" do not.
    words = set(re.findall(r"[a-z]+", column.lower()))
    if len(level.split()) > 1 or words & set(re.findall(r"[a-z]+", level.lower())):
        return level
    return f"{column}: {level}"


def _wmean(v: np.ndarray, w: np.ndarray) -> float:
    ok = np.isfinite(v)
    return float(np.sum(v[ok] * w[ok]) / np.sum(w[ok])) if ok.any() else math.nan


def _distinctions(
    frame: pd.DataFrame, labels: np.ndarray, k: int, columns: Sequence[str]
) -> list[list[tuple[float, str]]]:
    """Per segment, (score, phrase) for each column's most distinguishing value, best first.

    Categories score by how much more common their most over-represented level is in the
    segment than overall (share points, only levels held by at least half the segment);
    numbers by |standardised mean difference| / 2, so one SD ~ 50 share points.
    """
    out: list[list[tuple[float, str]]] = [[] for _ in range(k)]
    for c in columns:
        s = frame[c]
        if _is_numeric(s) and s.nunique(dropna=True) > 2:
            v = pd.to_numeric(s, errors="coerce").to_numpy(np.float64, na_value=np.nan)
            if _skewed(s):
                v = np.log1p(v)
            mu, sd = np.nanmean(v), np.nanstd(v)
            for g in range(k):
                if sd > 0 and (labels == g).any():
                    d = (np.nanmean(v[labels == g]) - mu) / sd
                    out[g].append((abs(d) / 2, f"{'high' if d > 0 else 'low'} {c}"))
        else:
            t = _as_text(s)
            overall = t.value_counts(normalize=True)
            for g in range(k):
                seg = t[labels == g].value_counts(normalize=True)
                lift = (seg - overall.reindex(seg.index)).where(seg >= 0.5).dropna()
                if len(lift):
                    lvl = str(lift.idxmax())
                    out[g].append((float(lift.max()), _level_text(c, lvl)))
    return [sorted(x, key=lambda t: -t[0]) for x in out]


def _names_from(
    phrases: list[list[tuple[float, str]]], most: int = 3, floor: float = 0.1
) -> tuple[str, ...]:
    """Up to `most` distinguishing phrases per segment; unique, never empty."""
    names: list[str] = []
    for g, ph in enumerate(phrases):
        good = [p for s, p in ph if s >= floor][:most]
        names.append(", ".join(good) if good else f"Segment {g + 1} (no distinct profile)")
    # Two segments with the same leading traits: add their next trait, then number them.
    for g in range(len(names)):
        if names.count(names[g]) > 1:
            extra = [p for s, p in phrases[g][most:] if s >= floor / 2]
            if extra:
                names[g] = f"{names[g]}, {extra[0]}"
    seen: dict[str, int] = {}
    for g, n in enumerate(names):
        seen[n] = seen.get(n, 0) + 1
        if seen[n] > 1 or names.count(n) > 1:
            names[g] = f"{n} ({g + 1})"
    return tuple(names)


def profile_table(
    frame: pd.DataFrame,
    labels: np.ndarray,
    names: Sequence[str],
    columns: Sequence[str],
    weights: np.ndarray | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(sizes, profile) frames as documented on Segmentation; statistics weighted."""
    k = len(names)
    w = np.ones(len(frame)) if weights is None else np.asarray(weights, dtype=np.float64)
    w = np.where(np.isfinite(w), w, 0.0)
    total = w.sum() or 1.0
    sizes = pd.DataFrame(
        {
            "segment": np.arange(k),
            "name": list(names),
            "size": [int((labels == g).sum()) for g in range(k)],
            "share": [float(w[labels == g].sum() / total) for g in range(k)],
        }
    )
    rows: list[tuple[int, str, str, str, float, float]] = []
    for c in columns:
        s = frame[c]
        if _is_numeric(s):  # a 0/1 number (an outcome) reads best as its mean: a share
            v = pd.to_numeric(s, errors="coerce").to_numpy(np.float64, na_value=np.nan)
            overall = _wmean(v, w)
            for g in range(k):
                m = labels == g
                rows.append((g, names[g], c, "mean", _wmean(v[m], w[m]), overall))
        else:
            # One weighted bincount per column: (segment, level) cells in a single pass.
            codes, levels = pd.factorize(_as_text(s), sort=True)
            n_lv = len(levels)
            ok = labels >= 0
            cells = np.bincount(
                labels[ok] * n_lv + codes[ok], weights=w[ok], minlength=k * n_lv
            ).reshape(k, n_lv)
            seg_w = cells.sum(axis=1, keepdims=True)
            shares = cells / np.where(seg_w > 0, seg_w, 1.0)
            overall_w = np.bincount(codes, weights=w, minlength=n_lv) / total
            for g in range(k):
                for li, lv in enumerate(levels):
                    rows.append((g, names[g], c, str(lv), shares[g, li], overall_w[li]))
    profile = pd.DataFrame(
        rows,
        columns=[
            "segment",
            "name",
            "attribute",
            "level",
            "segment_value",
            "overall_value",
        ],
    )
    ov = profile["overall_value"].where(profile["overall_value"] > 0)
    profile["index"] = 100.0 * profile["segment_value"] / ov
    return sizes, profile


# ---- choosing k and checking stability ----------------------------------------------


def _sample(n: int, size: int, rng: np.random.Generator) -> np.ndarray:
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
    sil_idx = _sample(len(x), sil_n, rng)
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


def _stability(
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
    ev = _sample(len(x), size, rng)
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


def _cluster_matrix(
    x: np.ndarray, **options: Any
) -> tuple[np.ndarray, pd.DataFrame, Stability, Any]:
    with threadpool_limits(limits=THREADS):
        return _cluster_matrix_threads(x, **options)


def _cluster_matrix_threads(
    x: np.ndarray,
    *,
    k: int | None,
    k_range: tuple[int, int],
    method: str,
    seed: int,
    covariance_type: str,
    fit_sample: int,
    silhouette_sample: int,
    stability_sample: int,
    refits: int,
) -> tuple[np.ndarray, pd.DataFrame, Stability, Any]:
    """Choose k on a seeded sample, fit it on every row, check stability. Returns labels, curve."""
    if method not in ("kmeans", "gmm"):
        raise CmotError(f"Unknown clustering method {method!r}; use kmeans or gmm.")
    rng = np.random.default_rng(seed)
    idx = _sample(len(x), fit_sample, rng)
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
    stab = _stability(x, labels, refit, refits, seed, stability_sample)
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
            "covariances": model.covariances_[order].tolist(),
            "covariance_type": model.covariance_type,
        }
    else:
        params = {"centers": model.cluster_centers_[order].tolist()}
    return remap[labels], params


def _nearest(x: np.ndarray, params: dict[str, Any], method: str) -> np.ndarray:
    if method == "gmm":
        gm = GaussianMixture(len(params["weights"]), covariance_type=params["covariance_type"])
        gm.weights_ = np.array(params["weights"])
        gm.means_ = np.array(params["means"])
        gm.covariances_ = np.array(params["covariances"])
        from sklearn.mixture._gaussian_mixture import _compute_precision_cholesky

        gm.precisions_cholesky_ = _compute_precision_cholesky(gm.covariances_, gm.covariance_type)
        return np.asarray(gm.predict(x))
    c = np.array(params["centers"])
    d = (x * x).sum(1)[:, None] - 2 * x @ c.T + (c * c).sum(1)[None, :]
    return np.asarray(d.argmin(1))


# ---- given segments -----------------------------------------------------------------


def _nice(v: float, step: float) -> float:
    return float(round(v / step) * step)


def suggest_cuts(
    values: Sequence[float] | np.ndarray | pd.Series, bands: int = 4
) -> tuple[float, ...]:
    """Cut points for `bands` roughly equal-sized bands, rounded to readable numbers."""
    v = pd.to_numeric(pd.Series(values), errors="coerce").dropna().to_numpy(np.float64)
    if len(v) == 0 or bands < 2:
        return ()
    qs = np.quantile(v, np.linspace(0, 1, bands + 1)[1:-1])
    spread = float(np.quantile(v, 0.95) - np.quantile(v, 0.05)) or float(v.max() - v.min()) or 1.0
    step = 10.0 ** math.floor(math.log10(spread)) / 10
    if step >= 1 and spread / step > 50:  # 1,840 -> 1,800 rather than 1,840 for a 5,000 spread
        step *= 5
    cuts = sorted({_nice(q, step) for q in qs})
    lo, hi = float(v.min()), float(v.max())
    return tuple(c for c in cuts if lo < c <= hi)


def _fmt(x: float) -> str:
    return f"{x:,.0f}" if float(x).is_integer() else f"{x:,.4g}"


def band_names(column: str, cuts: Sequence[float]) -> tuple[str, ...]:
    """Labels of the bands [-inf, c1), [c1, c2), ... [c_last, inf)."""
    if not cuts:
        return (f"{column}: all",)
    names = [f"{column} < {_fmt(cuts[0])}"]
    names += [f"{column} {_fmt(a)} to < {_fmt(b)}" for a, b in itertools.pairwise(cuts)]
    names.append(f"{column} {_fmt(cuts[-1])}+")
    return tuple(names)


def _given_labels(frame: pd.DataFrame, model: dict[str, Any]) -> np.ndarray:
    """Segment codes from the stored levels (or cuts); unknown levels get -1."""
    col = model["columns"]
    if model.get("cuts") is not None:
        v = pd.to_numeric(frame[col[0]], errors="coerce").to_numpy(np.float64, na_value=np.nan)
        code = np.searchsorted(np.array(model["cuts"], dtype=np.float64), v, side="right")
        return np.where(np.isnan(v), -1, code).astype(np.int64)
    key = _as_text(frame[col[0]])
    for c in col[1:]:
        key = key + " / " + _as_text(frame[c])
    lookup = {lv: i for i, lv in enumerate(model["levels"])}
    return key.map(lookup).fillna(-1).astype(np.int64).to_numpy()


def given_segments(
    con: duckdb.DuckDBPyConnection,
    table: str,
    columns: Sequence[str],
    *,
    cuts: Sequence[float] | None = None,
    bands: int = 4,
    describe: Sequence[str] = (),
) -> Segmentation:
    """Segments from one categorical column, a combination of two, or a banded number.

    A numeric column with more than 12 distinct values is cut into `bands` bands at
    `suggest_cuts` (or the caller's `cuts`, returned in `.cuts` for editing); bands are
    [lower, upper). Missing values form their own "(missing)" segment for categories and are
    left unassigned (-1) for numbers.
    """
    columns = list(columns)
    if not 1 <= len(columns) <= 2:
        raise CmotError("Pick one column, or two to combine, for given segments.")
    frame = _fetch(con, table, [*columns, *describe])
    first = frame[columns[0]]
    banded = len(columns) == 1 and _is_numeric(first) and (cuts is not None or first.nunique() > 12)
    model: dict[str, Any] = {"columns": columns}
    if banded:
        cut_t = tuple(
            sorted(float(c) for c in (cuts if cuts is not None else suggest_cuts(first, bands)))
        )
        names = band_names(columns[0], cut_t)
        model["cuts"] = list(cut_t)
        method = "bands"
    else:
        cut_t = ()
        key = _as_text(frame[columns[0]])
        for c in columns[1:]:
            key = key + " / " + _as_text(frame[c])
        levels = sorted(key.unique())
        if len(levels) > 50:
            raise CmotError(
                f"{' x '.join(columns)} has {len(levels)} distinct values: too many segments. "
                "Pick a column with fewer values, or band a numeric column."
            )
        names = tuple(levels)  # the user's own values are the clearest names
        model["levels"] = levels
        method = "combination" if len(columns) == 2 else "column"
    labels = _given_labels(frame, model)
    names = check_segment_names(names, len(names))
    sizes, profile = profile_table(
        frame,
        labels,
        names,
        list(dict.fromkeys([*columns, *describe])),
        frame[W_COL].to_numpy(),
    )
    return Segmentation(
        mode="given",
        method=method,
        columns=tuple(columns),
        k=len(names),
        seed=0,
        names=names,
        rows=frame[ROW_COL].to_numpy(np.int64),
        labels=labels,
        sizes=sizes,
        profile=profile,
        k_curve=pd.DataFrame(columns=["k", "silhouette", "inertia", "bic", "loglik", "chosen"]),
        stability=None,
        model=model,
        cuts=cut_t,
        settings={"bands": bands, "describe": list(describe)},
    )


# ---- clustered segments -------------------------------------------------------------


def cluster_attributes(
    con: duckdb.DuckDBPyConnection,
    table: str,
    attributes: Sequence[str],
    *,
    k: int | None = None,
    k_range: tuple[int, int] = K_RANGE,
    method: str = "kmeans",
    seed: int = 0,
    covariance_type: str = "diag",
    fit_sample: int = FIT_SAMPLE,
    silhouette_sample: int = SILHOUETTE_SAMPLE,
    stability_sample: int = STABILITY_SAMPLE,
    refits: int = REFITS,
    describe: Sequence[str] = (),
) -> Segmentation:
    """Cluster respondents on who they are: one Pipeline (scaled numbers, one-hot categories).

    k: fixed, or None to choose in `k_range` on a seeded sample of `fit_sample` rows (KMeans:
    highest silhouette on `silhouette_sample` rows; method="gmm": lowest BIC). The chosen k is
    then fitted on every row, starting from the sample's solution. Segment codes run from the
    largest segment. Names come from each segment's most distinguishing attribute values.
    """
    attributes = list(dict.fromkeys(attributes))
    if not attributes:
        raise CmotError("Pick at least one attribute to cluster on.")
    frame = _fetch(con, table, [*attributes, *describe])
    if len(frame) < 10:
        raise CmotError(f"Only {len(frame)} respondents: too few to cluster; load more data.")
    logged, plain, cats = _kinds(frame, attributes)
    for c in cats:  # in place: at 1M rows a copy of the frame is a few hundred MB
        frame[c] = _as_text(frame[c])
    rng = np.random.default_rng(seed)
    fit_idx = _sample(len(frame), fit_sample, rng)
    features = _features(logged, plain, cats).fit(frame.iloc[fit_idx])
    x = np.ascontiguousarray(features.transform(frame), dtype=np.float64)
    labels, curve, stab, params = _cluster_matrix(
        x,
        k=k,
        k_range=k_range,
        method=method,
        seed=seed,
        covariance_type=covariance_type,
        fit_sample=fit_sample,
        silhouette_sample=silhouette_sample,
        stability_sample=stability_sample,
        refits=refits,
    )
    kk = int(labels.max()) + 1
    # One sklearn Pipeline holds the fitted steps; the store keeps its parameters, not a pickle.
    model = {"features": _feature_params(features), "method": method, **params}
    names = _names_from(_distinctions(frame, labels, kk, attributes))
    sizes, profile = profile_table(
        frame, labels, names, list(dict.fromkeys([*attributes, *describe])), frame[W_COL].to_numpy()
    )
    return Segmentation(
        mode="attributes",
        method=method,
        columns=tuple(attributes),
        k=kk,
        seed=seed,
        names=names,
        rows=frame[ROW_COL].to_numpy(np.int64),
        labels=labels,
        sizes=sizes,
        profile=profile,
        k_curve=curve,
        stability=stab,
        model=model,
        settings=_settings(locals()),
    )


def _settings(args: dict[str, Any]) -> dict[str, Any]:
    keep = (
        "k_range", "method", "covariance_type", "fit_sample", "silhouette_sample",
        "stability_sample", "refits", "describe", "centre", "k_max", "restarts", "attributes",
    )  # fmt: skip
    out = {}
    for key in keep:
        if key in args:
            v = args[key]
            out[key] = list(v) if isinstance(v, (tuple, list)) else v
    out["k_requested"] = args.get("k")
    return out


def _needs_matrix(r: np.ndarray, centre: bool) -> np.ndarray:
    """Ratings with a missing one read as the respondent's own average, so "not applicable"
    neither pulls the profile down nor up; centred per respondent when `centre`, because the
    halo (some rate everything high) would otherwise be the only thing the clusters find."""
    empty = np.isnan(r).all(1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # "mean of empty slice": handled below
        row_mean = np.nanmean(r, 1)
        col_mean = np.nan_to_num(np.nanmean(r, 0), nan=0.0)
    x = np.where(np.isnan(r), row_mean[:, None], r)
    x[empty] = col_mean  # nothing rated: the average respondent
    return x - x.mean(1, keepdims=True) if centre else x


def cluster_needs(
    con: duckdb.DuckDBPyConnection,
    table: str,
    spec: JourneySpec,
    *,
    touchpoints: Sequence[str] | None = None,
    centre: bool = True,
    k: int | None = None,
    k_range: tuple[int, int] = K_RANGE,
    method: str = "kmeans",
    seed: int = 0,
    covariance_type: str = "diag",
    fit_sample: int = FIT_SAMPLE,
    silhouette_sample: int = SILHOUETTE_SAMPLE,
    stability_sample: int = STABILITY_SAMPLE,
    refits: int = REFITS,
    describe: Sequence[str] = (),
) -> Segmentation:
    """Cluster respondents on their touchpoint rating profile (needs-based segments).

    Missing ratings take the respondent's own mean; with `centre` each profile is centred on
    the respondent's mean, so segments differ in *which* touchpoints they rate well, not in
    how generous they are. Names read "rates A, B high; C low" (relative to everyone).
    """
    tps = list(touchpoints or spec.touchpoint_columns)
    r = _ratings(con, table, tps)
    frame = _fetch(con, table, list(describe))
    x = _needs_matrix(r, centre)
    labels, curve, stab, params = _cluster_matrix(
        x,
        k=k,
        k_range=k_range,
        method=method,
        seed=seed,
        covariance_type=covariance_type,
        fit_sample=fit_sample,
        silhouette_sample=silhouette_sample,
        stability_sample=stability_sample,
        refits=refits,
    )
    kk = int(labels.max()) + 1
    overall = x.mean(0)
    names_l = []
    for g in range(kk):
        diff = x[labels == g].mean(0) - overall
        top = [j for j in np.argsort(-np.abs(diff)) if abs(diff[j]) >= 0.2][:3]
        hi = [tps[j] for j in top if diff[j] > 0]
        lo = [tps[j] for j in top if diff[j] < 0]
        parts = ([f"rates {', '.join(hi)} high"] if hi else []) + (
            [f"{', '.join(lo)} low"] if lo else []
        )
        names_l.append("; ".join(parts) or f"Segment {g + 1} (average profile)")
    names = _names_from([[(1.0, n)] for n in names_l], most=1)
    rated = frame.copy()
    for j, c in enumerate(tps):
        rated[c] = r[:, j]
    sizes, profile = profile_table(rated, labels, names, [*tps, *describe], frame[W_COL].to_numpy())
    return Segmentation(
        mode="needs",
        method=method,
        columns=tuple(tps),
        k=kk,
        seed=seed,
        names=names,
        rows=frame[ROW_COL].to_numpy(np.int64),
        labels=labels,
        sizes=sizes,
        profile=profile,
        k_curve=curve,
        stability=stab,
        model={"touchpoints": tps, "centre": centre, "method": method, **params},
        settings=_settings(locals()),
    )


# ---- driver-based segments: a mixture of penalty-reward regressions ----------------


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


def _design_from(r: np.ndarray, scale: Scale, meta: list[tuple[int, str]]) -> np.ndarray:
    cols = [np.ones(len(r))]
    for j, kind in meta:
        v = r[:, j]
        with np.errstate(invalid="ignore"):
            ind = {"low": v <= scale.low_max, "high": v >= scale.high_min, "missing": np.isnan(v)}
        cols.append(ind[kind].astype(np.float64))
    return np.column_stack(cols)


@dataclass(frozen=True, eq=False)
class _Mixture:
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


def _e_step(x: np.ndarray, y: np.ndarray, z: np.ndarray, m: _Mixture) -> tuple[np.ndarray, float]:
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
) -> tuple[_Mixture, np.ndarray]:
    k = post.shape[1]
    binary = bool(np.isin(y, (0.0, 1.0)).all())
    # A floor on the residual variance of a numeric outcome keeps a component from shrinking
    # onto a few respondents it fits exactly.
    var_floor = 1e-2 * float(np.var(y)) + 1e-12
    g = np.zeros((z.shape[1], k)) if gamma is None else gamma
    m = _Mixture(np.zeros((k, x.shape[1])), np.ones(k), g, -np.inf)
    prev = -np.inf
    x32 = x.astype(np.float32)
    for _ in range(max_iter):
        beta, sigma2, g = _m_step(x, y, z, post, m.gamma, var_floor, binary, x32)
        m = _Mixture(beta, sigma2, g, m.loglik)
        post, ll = _e_step(x, y, z, m)
        m = _Mixture(beta, sigma2, g, ll)
        # Least squares is not the Bernoulli maximiser, so the likelihood may wobble: stop on
        # small changes either way. 1e-4 of the log-likelihood is far below the BIC gaps that
        # choose k; the tail of EM's slow convergence cost most of the fit.
        if abs(ll - prev) < tol * abs(ll):
            break
        prev = ll
    beta, sigma2, g = _m_step(x, y, z, post, m.gamma, var_floor, binary)  # exact last step
    m = _Mixture(beta, sigma2, g, m.loglik)
    post, ll = _e_step(x, y, z, m)
    return _Mixture(beta, sigma2, g, ll), post


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
) -> tuple[_Mixture, np.ndarray]:
    """Best of `restarts` seeded starts: each runs 10 EM steps, the best runs to convergence."""
    rng = np.random.default_rng(seed)
    if k == 1:
        return _em(x, y, z[:, :1], np.ones((len(y), 1)), 5)
    best: tuple[_Mixture, np.ndarray] | None = None
    for p0 in _init_posts(z, len(y), k, restarts, rng):
        m, post = _em(x, y, z, p0, 10)
        if best is None or m.loglik > best[0].loglik:
            best = (m, post)
    assert best is not None
    return _em(x, y, z, best[1], 300, gamma=best[0].gamma)


def _n_params(m: _Mixture) -> int:
    k, d = m.beta.shape
    q = m.gamma.shape[0]
    return k * d + int(np.isfinite(m.sigma2).sum()) + (k - 1) * q


def _concomitant(
    frame: pd.DataFrame, attributes: Sequence[str]
) -> tuple[np.ndarray, dict[str, Any]]:
    if not attributes:
        return np.ones((len(frame), 1)), {"numeric": [], "categorical": []}
    logged, plain, cats = _kinds(frame, attributes)
    ct = _features(logged, plain, cats).fit(_prepare(frame, cats))
    params = _feature_params(ct)
    return np.column_stack([np.ones(len(frame)), _apply_features(params, frame)]), params


def driver_segments(
    con: duckdb.DuckDBPyConnection,
    table: str,
    spec: JourneySpec,
    *,
    attributes: Sequence[str] = (),
    k: int | None = None,
    k_max: int = DRIVER_K_MAX,
    seed: int = 0,
    restarts: int = 3,
    fit_sample: int = DRIVER_FIT_SAMPLE,
    stability_sample: int = 10_000,
    refits: int = 5,
    describe: Sequence[str] = (),
) -> Segmentation:
    """Segments that differ in what drives their outcome: a mixture of PRCA regressions (EM).

    Each segment g has its own outcome = X b_g + e, X the PRCA design (`prca_design`): for a
    binary outcome a linear probability model with a Bernoulli likelihood (probabilities read
    within [0.02, 0.98]), else e ~ N(0, s_g^2). One respondent's outcome says little about
    which regression they follow, so `attributes`, when given, enter as concomitant
    variables: membership shares follow a multinomial logit on them (a mixture of experts).
    The segments are still defined by their regressions: if the drivers are the same
    everywhere, one segment fits as well and BIC keeps k = 1. k is chosen by BIC over
    1..k_max on a seeded sample of `fit_sample` rows (k = 1 is a candidate: "one driver
    segment" is an honest answer; the scan stops once BIC rises), then refined on every row.
    Respondents without an outcome are assigned by their attributes alone.
    """
    tps = list(spec.touchpoint_columns)
    attributes = list(dict.fromkeys(attributes))
    r = _ratings(con, table, tps)
    y_all = _outcome(con, table)
    frame = _fetch(con, table, [*attributes, *describe])
    has_y = np.isfinite(y_all)
    if has_y.sum() < 50:
        raise CmotError("Driver-based segments need at least 50 respondents with an outcome.")
    x_all, meta = prca_design(r, spec.scale)
    z_all, zparams = _concomitant(frame, attributes)
    fit_rows = np.flatnonzero(has_y)
    rng = np.random.default_rng(seed)
    samp = fit_rows[_sample(len(fit_rows), fit_sample, rng)]
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
        m = _sort_components(m, _posterior(x_all, y_all, z_all, m).argmax(1))
        labels = _posterior(x_all, y_all, z_all, m).argmax(1).astype(np.int64)

        def refit(idx: np.ndarray, s: int) -> Any:
            mb, _ = _fit_mixture(
                x_all[idx], y_all[idx], z_all[idx], chosen, s, max(2, restarts // 2)
            )
            return lambda ev: _posterior(x_all[ev], y_all[ev], z_all[ev], mb).argmax(1)

        if chosen > 1:
            stab = _stability(fit_rows, labels[fit_rows], refit, refits, seed, stability_sample)
        else:
            stab = Stability(math.nan, math.nan, (), 0, 0, "One segment: nothing to re-fit.")
    drivers = _driver_table(m, meta, tps)
    names = _driver_names(drivers, float(np.nanstd(y_all)), chosen)
    drivers = _rename(drivers, names)
    who = list(dict.fromkeys([*attributes, *describe]))
    descriptions = _names_from(_distinctions(frame, labels, chosen, who)) if who else ()
    if k is not None:
        note = f"{k} driver segment(s) as asked; BIC did not choose k."
    elif chosen == 1:
        note = (
            "The data support one driver segment: splitting respondents by what drives their "
            "outcome does not fit better than one model for everyone (BIC)."
        )
    else:
        note = f"{chosen} driver segments fit better than one (BIC); see the k curve."
    prof = frame.copy()
    outcome_col = "Outcome" if "Outcome" not in prof.columns else Y_COL
    prof[outcome_col] = y_all  # the outcome's mean per segment leads the profile
    sizes, profile = profile_table(
        prof, labels, names, list(dict.fromkeys([outcome_col, *attributes, *describe])),
        frame[W_COL].to_numpy(),
    )  # fmt: skip
    model = {
        "touchpoints": tps,
        "scale": [spec.scale.low_max, spec.scale.high_min],
        "design": [[j, kind] for j, kind in meta],
        "concomitant": zparams,
        "beta": m.beta.tolist(),
        "sigma2": m.sigma2.tolist(),
        "gamma": m.gamma.tolist(),
    }
    return Segmentation(
        mode="drivers",
        method="mixture of PRCA regressions",
        columns=tuple(attributes),
        k=chosen,
        seed=seed,
        names=names,
        rows=frame[ROW_COL].to_numpy(np.int64),
        labels=labels,
        sizes=sizes,
        profile=profile,
        k_curve=curve,
        stability=stab,
        model=model,
        note=note,
        drivers=drivers,
        descriptions=descriptions,
        settings=_settings(locals()),
    )


def _posterior(x: np.ndarray, y: np.ndarray, z: np.ndarray, m: _Mixture) -> np.ndarray:
    """Membership probabilities; rows without an outcome get their prior (attributes only)."""
    zz = z if m.gamma.shape[0] == z.shape[1] else z[:, :1]
    prior = np.exp(_log_prior(zz, m.gamma))
    ok = np.isfinite(y)
    if ok.any():
        post, _ = _e_step(x[ok], y[ok], zz[ok], m)
        prior[ok] = post
    return prior


def _sort_components(m: _Mixture, labels: np.ndarray) -> _Mixture:
    k = m.beta.shape[0]
    order = np.argsort(-np.bincount(labels, minlength=k), kind="stable")
    gamma = m.gamma[:, order]
    return _Mixture(m.beta[order], m.sigma2[order], gamma - gamma[:, :1], m.loglik)


def _driver_table(m: _Mixture, meta: list[tuple[int, str]], tps: Sequence[str]) -> pd.DataFrame:
    rows = []
    for g in range(m.beta.shape[0]):
        coef = {(j, kind): m.beta[g, i + 1] for i, (j, kind) in enumerate(meta)}
        for j, tp in enumerate(tps):
            lo, hi, mi = (coef.get((j, kd), 0.0) for kd in ("low", "high", "missing"))
            pen, rew = max(0.0, -lo), max(0.0, hi)
            rows.append((g, f"{g}", tp, lo, hi, mi, pen, rew, pen + rew))
    cols = ["segment", "name", "touchpoint", "low_coef", "high_coef", "missing_coef"]
    return pd.DataFrame(rows, columns=[*cols, "penalty", "reward", "ris"])


def _driver_names(drivers: pd.DataFrame, y_sd: float, k: int) -> tuple[str, ...]:
    """ "Hurt by A, B; lifted by C": the effects where a segment differs most from the rest."""
    if k == 1:
        return ("All respondents",)
    floor = 0.1 * (y_sd if y_sd > 0 else 1.0)
    phrases: list[list[tuple[float, str]]] = []
    for g in range(k):
        eff = []
        for kind in ("penalty", "reward"):
            piv = drivers.pivot(index="touchpoint", columns="segment", values=kind)
            others = piv.drop(columns=g).mean(axis=1)
            for tp, v in (piv[g] - others).items():
                eff.append((float(v), kind, str(tp)))
        top = [e for e in sorted(eff, reverse=True) if e[0] >= floor][:3]
        hurt = [tp for _, kd, tp in top if kd == "penalty"]
        lift = [tp for _, kd, tp in top if kd == "reward"]
        parts = ([f"hurt by {', '.join(hurt)}"] if hurt else []) + (
            [f"lifted by {', '.join(lift)}"] if lift else []
        )
        text = "; ".join(parts) or "no distinct drivers"
        phrases.append([(1.0, text[0].upper() + text[1:])])
    return _names_from(phrases, most=1)


# ---- one entry point, and assigning new respondents ---------------------------------


def segment(
    con: duckdb.DuckDBPyConnection,
    table: str,
    spec: JourneySpec,
    mode: str,
    columns: Sequence[str] = (),
    *,
    k: int | None = None,
    seed: int = 0,
    **options: Any,
) -> Segmentation:
    """Dispatch on `mode`: given (columns), attributes (columns), needs (touchpoints or
    `columns` as a subset), drivers (`columns` as concomitant attributes)."""
    if mode == "given":
        return given_segments(con, table, columns, **options)
    if mode == "attributes":
        return cluster_attributes(con, table, columns, k=k, seed=seed, **options)
    if mode == "needs":
        return cluster_needs(
            con, table, spec, touchpoints=columns or None, k=k, seed=seed, **options
        )
    if mode == "drivers":
        return driver_segments(con, table, spec, attributes=columns, k=k, seed=seed, **options)
    raise CmotError(f"Unknown segmentation mode {mode!r}; use one of {', '.join(MODES)}.")


def assign_segments(
    seg: Segmentation, frame: pd.DataFrame, outcome: Sequence[float] | None = None
) -> np.ndarray:
    """Segment codes (0..k-1, -1 = cannot assign) for new respondents in `frame`.

    `frame` holds the columns the segmentation used, in the stored layout (touchpoint ratings
    with NaN/None for missing). Driver segments use `outcome` when given (the posterior
    membership) and the attributes alone otherwise (the prior membership).
    """
    m = seg.model
    missing = [c for c in _model_columns(seg) if c not in frame.columns]
    if missing:
        raise CmotError(f"To assign segments the data need the columns {missing}; add them.")
    if seg.mode == "given":
        return _given_labels(frame, m)
    if seg.mode == "attributes":
        return _nearest(_apply_features(m["features"], frame), m, m["method"])
    r = frame[m["touchpoints"]].apply(pd.to_numeric, errors="coerce").to_numpy(np.float64)
    if seg.mode == "needs":
        return _nearest(_needs_matrix(r, m["centre"]), m, m["method"])
    scale = Scale(low_max=m["scale"][0], high_min=m["scale"][1], min=-(10**9), max=10**9)
    x = _design_from(r, scale, [(int(j), str(kd)) for j, kd in m["design"]])
    z = np.column_stack([np.ones(len(frame)), _apply_features(m["concomitant"], frame)])
    y = np.full(len(frame), np.nan) if outcome is None else np.asarray(outcome, dtype=np.float64)
    mix = _Mixture(
        np.array(m["beta"]), np.array(m["sigma2"], dtype=np.float64), np.array(m["gamma"]), math.nan
    )
    return _posterior(x, y, z, mix).argmax(1).astype(np.int64)


def _model_columns(seg: Segmentation) -> list[str]:
    m = seg.model
    if seg.mode == "given":
        return list(m["columns"])
    if seg.mode == "attributes":
        return [p["column"] for p in m["features"]["numeric"] + m["features"]["categorical"]]
    cols = list(m["touchpoints"])
    if seg.mode == "drivers":
        cols += [p["column"] for p in m["concomitant"]["numeric"] + m["concomitant"]["categorical"]]
    return cols


# ---- as the store keeps it -------------------------------------------------------------
# The store (cmot.store) persists a SegmentationRecord; these two turn one into the other.


def _frame_json(f: pd.DataFrame | None) -> Any:
    return None if f is None else json.loads(f.to_json(orient="split", index=False))


def _json_frame(d: Any) -> pd.DataFrame | None:
    # dtype=False: a level "1" or a column named like a date stays as it was saved.
    text = StringIO(json.dumps(d))
    return None if d is None else pd.read_json(text, orient="split", dtype=False)


def _json_default(o: Any) -> Any:
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"not JSON: {type(o)}")


def to_record(seg: Segmentation) -> SegmentationRecord:
    """What the store saves of a segmentation: its settings, names and assignments."""
    st = seg.stability
    body = json.dumps(
        {
            "columns": list(seg.columns),
            "cuts": list(seg.cuts),
            "note": seg.note,
            "settings": seg.settings,
            "model": seg.model,
            "stability": None if st is None else {**st.__dict__, "scores": list(st.scores)},
            "k_curve": _frame_json(seg.k_curve),
            "sizes": _frame_json(seg.sizes),
            "profile": _frame_json(seg.profile),
            "drivers": _frame_json(seg.drivers),
            "descriptions": list(seg.descriptions),
        },
        default=_json_default,
    )
    return SegmentationRecord(
        mode=seg.mode,
        method=seg.method,
        k=seg.k,
        seed=seg.seed,
        body_json=body,
        names=tuple(seg.names),
        rows=np.asarray(seg.rows, dtype=np.int64),
        labels=np.asarray(seg.labels, dtype=np.int64),
    )


def from_record(record: SegmentationRecord) -> Segmentation:
    """A saved segmentation back from the store, with its current names."""
    body = json.loads(record.body_json)
    st = body["stability"]
    empty = pd.DataFrame()
    seg = Segmentation(
        mode=record.mode,
        method=record.method,
        columns=tuple(body["columns"]),
        k=record.k,
        seed=record.seed,
        names=record.names,
        rows=record.rows,
        labels=record.labels,
        sizes=_json_frame(body["sizes"]) if body["sizes"] else empty,
        profile=_json_frame(body["profile"]) if body["profile"] else empty,
        k_curve=_json_frame(body["k_curve"]) if body["k_curve"] else empty,
        stability=None if st is None else Stability(**{**st, "scores": tuple(st["scores"])}),
        model=body["model"],
        cuts=tuple(body["cuts"]),
        note=body["note"],
        drivers=_json_frame(body["drivers"]),
        descriptions=tuple(body.get("descriptions", ())),
        settings=body["settings"],
    )
    return seg.with_names(record.names)


def save_segmentation(
    store: Store, dataset_id: int, name: str, seg: Segmentation, *, replace: bool = False
) -> int:
    """Save `seg` with its dataset through the store's one write path; returns its id."""
    return store.save_segmentation(dataset_id, name, to_record(seg), replace=replace)


def load_segmentation(store: Store, ref: int | tuple[int, str]) -> Segmentation:
    """A saved segmentation by id, or by (dataset id, name), with its current names."""
    return from_record(store.load_segmentation(ref))
