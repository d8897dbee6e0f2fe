"""Segmentations: the `Segmentation` result and one entry point per mode (given, attributes,
needs, drivers), each wiring the steps: inputs (`cmot.segments.features`), the fit
(`cmot.segments.clustering`, `cmot.segments.drivers`), sizes, profiles and names
(`cmot.segments.profiles`); `assign_segments` for new respondents; the
conversion to and from the store's `SegmentationRecord`."""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from io import StringIO
from typing import Any, Literal

import duckdb
import numpy as np
import pandas as pd

from cmot.errors import CmotError
from cmot.names import ROW_COL, W_COL, Y_COL, quote_ident
from cmot.results.moments import ALL, MomentsResult, find_moments
from cmot.segments.clustering import (
    FIT_SAMPLE,
    K_RANGE,
    REFITS,
    SILHOUETTE_SAMPLE,
    STABILITY_SAMPLE,
    Stability,
    assign_nearest,
    cluster_matrix,
    sample_rows,
)
from cmot.segments.drivers import (
    DRIVER_FIT_SAMPLE,
    DRIVER_K_MAX,
    assign_drivers,
    concomitant_matrix,
    driver_table,
    fit_drivers,
    prca_design,
)
from cmot.segments.features import (
    MISSING_LEVEL,
    apply_features,
    as_text,
    column_kinds,
    feature_params,
    feature_transformer,
    is_numeric,
    needs_matrix,
    read_columns,
    read_outcome,
    read_ratings,
)
from cmot.segments.profiles import (
    distinctions,
    driver_names,
    names_from,
    needs_names,
    profile_table,
)
from cmot.settings import Settings
from cmot.spec import JourneySpec
from cmot.store.datasets import SegmentationRecord, Store, check_segment_names

Mode = Literal["given", "attributes", "needs", "drivers"]
MODES: tuple[str, ...] = ("given", "attributes", "needs", "drivers")


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
    key = as_text(frame[col[0]])
    for c in col[1:]:
        key = key + " / " + as_text(frame[c])
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
    frame = read_columns(con, table, [*columns, *describe])
    first = frame[columns[0]]
    banded = len(columns) == 1 and is_numeric(first) and (cuts is not None or first.nunique() > 12)
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
        key = as_text(frame[columns[0]])
        for c in columns[1:]:
            key = key + " / " + as_text(frame[c])
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
    frame = read_columns(con, table, [*attributes, *describe])
    if len(frame) < 10:
        raise CmotError(f"Only {len(frame)} respondents: too few to cluster; load more data.")
    logged, plain, cats = column_kinds(frame, attributes)
    for c in cats:  # in place: at 1M rows a copy of the frame is a few hundred MB
        frame[c] = as_text(frame[c])
    rng = np.random.default_rng(seed)
    fit_idx = sample_rows(len(frame), fit_sample, rng)
    features = feature_transformer(logged, plain, cats).fit(frame.iloc[fit_idx])
    x = np.ascontiguousarray(features.transform(frame), dtype=np.float64)
    labels, curve, stab, params = cluster_matrix(
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
    model = {"features": feature_params(features), "method": method, **params}
    names = names_from(distinctions(frame, labels, kk, attributes))
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
    r = read_ratings(con, table, tps)
    frame = read_columns(con, table, list(describe))
    x = needs_matrix(r, centre)
    labels, curve, stab, params = cluster_matrix(
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
    names = needs_names(x, labels, kk, tps)
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
    r = read_ratings(con, table, tps)
    y_all = read_outcome(con, table)
    frame = read_columns(con, table, [*attributes, *describe])
    has_y = np.isfinite(y_all)
    if has_y.sum() < 50:
        raise CmotError("Driver-based segments need at least 50 respondents with an outcome.")
    x_all, meta = prca_design(r, spec.scale)
    z_all, zparams = concomitant_matrix(frame, attributes)
    fit = fit_drivers(
        x_all,
        y_all,
        z_all,
        k=k,
        k_max=k_max,
        seed=seed,
        restarts=restarts,
        fit_sample=fit_sample,
        stability_sample=stability_sample,
        refits=refits,
    )
    m, labels, curve, stab, chosen = fit.mixture, fit.labels, fit.k_curve, fit.stability, fit.k
    drivers = driver_table(m, meta, tps)
    names = driver_names(drivers, float(np.nanstd(y_all)), chosen)
    drivers = _rename(drivers, names)
    who = list(dict.fromkeys([*attributes, *describe]))
    descriptions = names_from(distinctions(frame, labels, chosen, who)) if who else ()
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
        return assign_nearest(apply_features(m["features"], frame), m, m["method"])
    r = frame[m["touchpoints"]].apply(pd.to_numeric, errors="coerce").to_numpy(np.float64)
    if seg.mode == "needs":
        return assign_nearest(needs_matrix(r, m["centre"]), m, m["method"])
    return assign_drivers(m, r, frame, outcome)


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
# The store (cmot.store.datasets) persists a SegmentationRecord; these two turn one into the other.


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


# The driver segment of each row, joined onto the survey for the segments' own PRCA fits.
DRIVER_COL = "driver segment"


def driver_moments(
    con: duckdb.DuckDBPyConnection,
    table: str,
    spec: JourneySpec,
    seg: Segmentation,
    settings: Settings,
) -> MomentsResult:
    """The driver segments' moments of truth from the sums of the respondents assigned to
    each (penalty, reward, intervals, classes as `analyze` gives them), pooled across
    segments or each segment alone as `settings.pooling` says: the mixture's own
    coefficients (drivers.csv) come from the fit that found them; these are what the
    dashboard shows for the saved segmentation (the Segments page and `segments` show them
    for a fit not yet saved)."""
    named = [seg.names[g] if g >= 0 else None for g in seg.labels]
    con.register("cmot_driver_labels", pd.DataFrame({ROW_COL: seg.rows, DRIVER_COL: named}))
    try:
        col = quote_ident(DRIVER_COL)
        relation = (
            f"(SELECT t.*, d.{col} FROM {table} t JOIN cmot_driver_labels d "
            f"USING ({ROW_COL}) WHERE d.{col} IS NOT NULL)"
        )
        return find_moments(con, relation, spec, [DRIVER_COL], settings)
    finally:
        con.unregister("cmot_driver_labels")


def driver_overview(result: MomentsResult) -> pd.DataFrame:
    """One row per driver segment of driver_moments' result, for the Segments page: its
    respondents, its moments of truth with their classes (by rank), how much of its estimate
    is its own data (pooled; NaN alone) and why it has no result where it has none."""
    m = result.moments
    rows = []
    for r in result.segments[result.segments.segment != ALL].itertuples():
        mine = m[(m.segment == r.segment) & m.mot.astype(bool)].sort_values("rank")
        rows.append(
            {
                "segment": r.segment,
                "respondents": int(r.n),
                "moments of truth": ", ".join(
                    f"{t} ({c})" for t, c in zip(mine.touchpoint, mine["class"], strict=True)
                ),
                "own data": float(r.own_share),
                "note": str(r.reason or ""),
            }
        )
    return pd.DataFrame(
        rows, columns=["segment", "respondents", "moments of truth", "own data", "note"]
    )
