"""One entry point over the modes (`segment`: given, attributes, needs, drivers; `MODES`)
and new respondents assigned to a fitted segmentation's segments by its mode
(`assign_segments`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from cmot.errors import CmotError
from cmot.segments.clustered import cluster_attributes, cluster_needs
from cmot.segments.clustering import assign_nearest
from cmot.segments.driver_based import driver_segments
from cmot.segments.drivers import assign_drivers
from cmot.segments.features import apply_features, needs_matrix
from cmot.segments.given import given_labels, given_segments
from cmot.segments.segmentation import MODES, Segmentation
from cmot.spec import JourneySpec


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
        return given_labels(frame, m)
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
