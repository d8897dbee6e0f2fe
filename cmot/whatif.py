"""What if a touchpoint's ratings moved up, and does each class hold under nearby choices."""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, replace
from statistics import NormalDist
from typing import TYPE_CHECKING, Literal

import duckdb
import pandas as pd

from cmot.errors import CmotError
from cmot.spec import JourneySpec
from cmot.sums import Layout, Settings

if TYPE_CHECKING:
    from cmot.moments import MomentsResult

Move = Literal["bottom_to_middle", "middle_to_top"]
_NORMAL = NormalDist()


@dataclass(frozen=True)
class WhatIf:
    """The predicted outcome after moving a share of one touchpoint's ratings up."""

    segment: str
    touchpoint: str
    move: Move
    share: float  # of the bottom box (or middle) that moves
    moved: float  # share of the segment's respondents that moves
    baseline: float  # the segment's outcome today (fitted mean = observed weighted mean)
    predicted: float
    delta: float
    delta_lo: float
    delta_hi: float


def predict_what_if(
    result: MomentsResult, segment: str, touchpoint: str, move: Move, share: float
) -> WhatIf:
    """Move `share` of the bottom box to the middle (or of the middle to the top box) at a
    touchpoint for a segment, and predict the outcome with the fitted PRCA coefficients."""
    if not 0.0 <= share <= 1.0:
        raise CmotError(f"The share to move must lie between 0 and 1, got {share}.")
    fit = result.fits.get(segment)
    if fit is None:
        raise CmotError(f"No segment named {segment!r}; segments: {sorted(result.fits)}.")
    rows = result.moments[result.moments.segment == segment]
    match = rows[(rows.touchpoint == touchpoint) | (rows.column == touchpoint)]
    if match.empty:
        raise CmotError(f"No touchpoint named {touchpoint!r}.")
    i = int(match.index[0] - rows.index[0])
    lay = Layout(len(rows))
    cl, ch, cm = lay.low(i), lay.high(i), lay.miss(i)
    if move == "bottom_to_middle":
        moved = share * fit.mean_x[cl]
        coef, var = -fit.beta[cl], fit.cov[cl, cl]
    elif move == "middle_to_top":
        middle = 1.0 - fit.mean_x[cl] - fit.mean_x[ch] - fit.mean_x[cm]
        moved = share * middle
        coef, var = fit.beta[ch], fit.cov[ch, ch]
    else:
        raise CmotError(f"Unknown move {move!r}: use bottom_to_middle or middle_to_top.")
    coef = 0.0 if not math.isfinite(coef) else float(coef)
    delta = moved * coef
    half = _NORMAL.inv_cdf(1 - result.settings.alpha / 2) * moved * math.sqrt(max(var, 0.0))
    return WhatIf(
        segment,
        str(match.touchpoint.iloc[0]),
        move,
        share,
        float(moved),
        fit.outcome_mean,
        fit.outcome_mean + delta,
        delta,
        delta - half,
        delta + half,
    )


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
    # Imported here: cmot.moments re-exports this module, so a top-level import would cycle.
    from cmot.moments import find_moments

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
