"""What if a touchpoint's ratings moved up: the predicted outcome from the fitted model."""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist
from typing import Literal

from cmot.errors import CmotError
from cmot.moments import MomentsResult
from cmot.sums import Layout

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
    # Why there is no prediction ("" when there is one): a touchpoint insufficient in the
    # segment has no effect the data supports, so predicted, delta and its interval are NaN.
    reason: str = ""


def predict_what_if(
    result: MomentsResult, segment: str, touchpoint: str, move: Move, share: float
) -> WhatIf:
    """Move `share` of the bottom box to the middle (or of the middle to the top box) at a
    touchpoint for a segment, and predict the outcome with the fitted PRCA coefficients.
    A touchpoint insufficient in the segment predicts nothing: NaN, with `reason`."""
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
    if bool(match.insufficient.iloc[0]):  # insufficient means no number (issue 23)
        nan = math.nan
        why = str(match.reason.iloc[0]) or "not enough data"
        return WhatIf(
            segment,
            str(match.touchpoint.iloc[0]),
            move,
            share,
            nan,
            fit.outcome_mean,
            nan,
            nan,
            nan,
            nan,
            reason=why,
        )
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
