"""Clustered segments: respondents clustered on who they are (`cluster_attributes`: one
Pipeline of scaled numbers and one-hot categories) or on their touchpoint rating profile
(`cluster_needs`); the fit is cmot.segments.clustering's, the inputs
cmot.segments.features', sizes, profiles and names cmot.segments.profiles'."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

import duckdb
import numpy as np

from cmot.errors import CmotError
from cmot.names import ROW_COL, W_COL
from cmot.segments.clustering import ClusterSettings, cluster_matrix, sample_rows
from cmot.segments.features import (
    as_text,
    column_kinds,
    feature_params,
    feature_transformer,
    needs_matrix,
    read_columns,
    read_ratings,
)
from cmot.segments.profiles import distinctions, names_from, needs_names, profile_table
from cmot.segments.segmentation import Segmentation, fit_settings
from cmot.spec import JourneySpec


def cluster_attributes(
    con: duckdb.DuckDBPyConnection,
    table: str,
    attributes: Sequence[str],
    *,
    describe: Sequence[str] = (),
    **options: Any,
) -> Segmentation:
    """Cluster respondents on who they are: one Pipeline (scaled numbers, one-hot categories).

    `options` are `ClusterSettings`' (k, k_range, method, seed, ...): k fixed, or None to
    choose in `k_range` on a seeded sample of `fit_sample` rows (KMeans: highest silhouette on
    `silhouette_sample` rows; method="gmm": lowest BIC). The chosen k is then fitted on every
    row, starting from the sample's solution. Segment codes run from the largest segment.
    Names come from each segment's most distinguishing attribute values.
    """
    settings = ClusterSettings(**options)
    seed, method = settings.seed, settings.method
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
    fit_idx = sample_rows(len(frame), settings.fit_sample, rng)
    features = feature_transformer(logged, plain, cats).fit(frame.iloc[fit_idx])
    x = np.ascontiguousarray(features.transform(frame), dtype=np.float64)
    labels, curve, stab, params = cluster_matrix(x, settings)
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
        settings=fit_settings({**locals(), **asdict(settings)}),
    )


def cluster_needs(
    con: duckdb.DuckDBPyConnection,
    table: str,
    spec: JourneySpec,
    *,
    touchpoints: Sequence[str] | None = None,
    centre: bool = True,
    describe: Sequence[str] = (),
    **options: Any,
) -> Segmentation:
    """Cluster respondents on their touchpoint rating profile (needs-based segments).

    Missing ratings take the respondent's own mean; with `centre` each profile is centred on
    the respondent's mean, so segments differ in *which* touchpoints they rate well, not in
    how generous they are. Names read "rates A, B high; C low" (relative to everyone).
    `options` are `ClusterSettings`', as for `cluster_attributes`.
    """
    settings = ClusterSettings(**options)
    seed, method = settings.seed, settings.method
    tps = list(touchpoints or spec.touchpoint_columns)
    r = read_ratings(con, table, tps)
    frame = read_columns(con, table, list(describe))
    x = needs_matrix(r, centre)
    labels, curve, stab, params = cluster_matrix(x, settings)
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
        settings=fit_settings({**locals(), **asdict(settings)}),
    )
