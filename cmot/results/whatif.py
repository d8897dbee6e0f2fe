"""What if a touchpoint's ratings moved up: the predicted outcome from the fitted model."""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist
from typing import Literal

from cmot.engine.design import Layout
from cmot.errors import CmotError

# The formatters every page uses (issue 28: one amount per moment, the same everywhere).
from cmot.results.headline import level_text, stake_text
from cmot.results.moments import MomentsResult
from cmot.results.summary import amount

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


# ---- the what-if in words (issue 28, item 7) -------------------------------------------

# Who moves and where to, for each move: "low raters" "to the middle".
MOVE_WORDS: dict[str, tuple[str, str]] = {
    "bottom_to_middle": ("low raters", "to the middle"),
    "middle_to_top": ("middle raters", "to the top box"),
}


@dataclass(frozen=True)
class WhatIfWords:
    """A what-if as a person reads it: the outcome today, the prediction, whether the
    change is clear, and how it relates to the touchpoint's amount at stake."""

    today: str  # the segment's outcome today: "56.0%" or "3.42"
    predicted: str  # the predicted outcome: "55.6%"
    change: str  # "-0.4 pts (95% interval -2.9 to +2.1 pts)"
    verdict: str  # "no clear change", "a clear rise", "a clear fall", "no one to move"
    sentence: str  # today, the move, the prediction and its verdict, in one sentence
    stake: str  # how the change relates to the amount at stake ("" when it cannot say)


def verdict(w: WhatIf) -> str:
    """ "no clear change" when the change's interval spans zero (the data cannot tell the
    move from none), "a clear rise" / "a clear fall" when it lies on one side, "no one to
    move" when nobody gives the rating that would move."""
    if not w.moved > 0:
        return "no one to move"
    if w.delta_lo > 0:
        return "a clear rise"
    if w.delta_hi < 0:
        return "a clear fall"
    return "no clear change"


def describe_what_if(
    w: WhatIf, unit: str, outcome: str, stake: StakeRow | None = None, alpha: float = 0.05
) -> WhatIfWords:
    """`w` in words for `outcome` (its name) in `unit`. `stake`: the touchpoint's class,
    amount at stake and its risk and upside (a row of MomentsResult.moments) to relate the
    change to; `alpha`: the interval's (the result's settings). No prediction (`w.reason`)
    gives words saying why."""
    today = level_text(w.baseline, unit)
    who, where = MOVE_WORDS[w.move]
    if w.reason:
        return WhatIfWords(
            today,
            "–",
            "–",
            "no prediction",
            f"{outcome} today: {today} for {w.segment}. No prediction for moving "
            f"{w.touchpoint}'s {who} {where}: {w.reason}.",
            "",
        )
    predicted = level_text(w.predicted, unit)
    lo, hi = (amount(v, unit, signed=True) for v in (w.delta_lo, w.delta_hi))
    tail = " pts" if lo.endswith(" pts") and hi.endswith(" pts") else ""
    change = (
        f"{amount(w.delta, unit, signed=True)} ({1 - alpha:.0%} interval "
        f"{lo.removesuffix(tail)} to {hi})"
    )
    word = verdict(w)
    why = {
        "no clear change": " (the interval spans zero: the data cannot tell this move from none)",
        "no one to move": f" (no one in {w.segment} gives {w.touchpoint} such a rating)",
    }.get(word, "")
    sentence = (
        f"{outcome} today: {today} for {w.segment}. If {w.share:.0%} of {w.touchpoint}'s "
        f"{who} moved {where} ({w.moved:.0%} of the segment), the model predicts "
        f"{predicted}, {change}: {word}{why}."
    )
    return WhatIfWords(today, predicted, change, word, sentence, _stake_words(w, unit, stake))


@dataclass(frozen=True)
class StakeRow:
    """What the what-if is related to: the touchpoint's class in the segment, its amount at
    stake (`at_stake`, NaN when none) and the risk and upside it is made of."""

    cls: str
    at_stake: float
    risk: float
    upside: float


def _stake_words(w: WhatIf, unit: str, stake: StakeRow | None) -> str:
    """How the change compares with what is at stake. The risk counts every low rater
    moved to the middle, the upside everyone below the top box moved to it (cmot.results.stakes):
    a move of some of them is a share of it, with its own uncertainty."""
    if stake is None or not w.moved > 0:
        return ""
    bottom = w.move == "bottom_to_middle"
    part, what = (
        (stake.risk, "the outcome the low ratings cost today (every low rater moved to the middle)")
        if bottom
        else (stake.upside, "still to gain if everyone below the top box moved to it")
    )
    if not (math.isfinite(part) and part > 0):
        return (
            f"Nothing is at stake from {w.touchpoint}'s "
            f"{'low ratings' if bottom else 'top box'} in {w.segment}: "
            f"{'a low rating' if bottom else 'a top rating'} does not move the outcome here."
        )
    share = w.delta / part
    counted = {
        "vulnerability": bottom,
        "opportunity": not bottom,
        "hybrid": True,
    }.get(stake.cls, False)
    if counted and math.isfinite(stake.at_stake):
        whole = f"; {w.touchpoint}'s amount at stake as a {stake.cls} is " + stake_text(
            stake.at_stake, unit
        )
    elif stake.cls in ("vulnerability", "opportunity", "hybrid"):
        whole = (
            f"; as a {stake.cls} its amount at stake, {stake_text(stake.at_stake, unit)}, "
            f"counts {'the top box' if bottom else 'the low ratings'}, not this move"
        )
    else:
        whole = f"; as a {stake.cls or 'touchpoint'} touchpoint here it has no amount at stake"
    return f"That is {share:.0%} of {amount(part, unit)}, {what}{whole}."
