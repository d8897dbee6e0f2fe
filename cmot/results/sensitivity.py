"""Sensitivity: does each class hold under the neighbouring analytic choices."""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import replace

import duckdb
import pandas as pd

from cmot.results.moments import find_moments
from cmot.settings import Settings
from cmot.spec import JourneySpec


def assess_sensitivity(
    con: duckdb.DuckDBPyConnection,
    table: str,
    spec: JourneySpec,
    segmentation: Sequence[str] | str | None = None,
    settings: Settings | None = None,
    *,
    params: Sequence[object] = (),
    cache_key: Hashable | None = None,
) -> pd.DataFrame:
    """Does each class hold under the neighbouring analytic choices (METHODS.md §7)?

    Columns: segment, touchpoint, class, then one column per variant with the class it
    gives (low_one, high_two, ia_0.1, ia_0.3, interval_hybrid), holds (count of variants
    that agree) and fragile (any variant disagrees). Variants the scale cannot express
    (e.g. top two on a 1-3 scale) are left out. The cut-off variants move the survey
    scale's cut-offs; a touchpoint with its own scale (spec.scales) keeps its own.
    """
    base = settings or Settings()
    low, high = base.cutoffs(spec)
    variants: dict[str, Settings] = {}
    if low != spec.scale.min:
        variants["low_one"] = replace(base, low_max=spec.scale.min, high_min=high)
    if high - 1 > low:
        variants["high_two"] = replace(base, low_max=low, high_min=high - 1)
    variants["ia_0.1"] = replace(base, vulnerability_ia=-0.1, opportunity_ia=0.1)
    variants["ia_0.3"] = replace(base, vulnerability_ia=-0.3, opportunity_ia=0.3)
    variants["interval_hybrid"] = replace(base, hybrid_rule="interval")
    ref = find_moments(con, table, spec, segmentation, base, params=params, cache_key=cache_key)
    out = ref.moments[["segment", "touchpoint", "class"]].copy()
    for name, var in variants.items():
        res = find_moments(con, table, spec, segmentation, var, params=params, cache_key=cache_key)
        out[name] = res.moments["class"].to_numpy()
    names = list(variants)
    agree = out[names].eq(out["class"], axis=0)
    out["holds"] = agree.sum(axis=1)
    out["fragile"] = ~agree.all(axis=1)
    return out
