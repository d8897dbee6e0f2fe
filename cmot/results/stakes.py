"""What is at stake at a touchpoint, in outcome units: risk, upside and the one amount at stake.

Every screen, list, plan, report and the command line read `at_stake` and `stake_basis`
from `MomentsResult.moments`; nothing else computes a stake (docs/METHODS.md, "What is at
stake").
"""

from __future__ import annotations

import math

# What each class puts at stake. A hybrid's "improve" plays both the penalty of its bottom
# box and the reward of its top box; P applies to bottom-box respondents and R to everyone
# below the top box, so risk + upside is what lifting them all to the top box would gain,
# nothing counted twice. Low impact and insufficient touchpoints have no stake the data
# supports.
STAKE_BASIS = {"vulnerability": "risk", "opportunity": "upside", "hybrid": "risk + upside"}


def risk_and_upside(
    penalty: float, reward: float, w_low: float, w_rated: float, w_high: float, w_all: float
) -> tuple[float, float]:
    """Outcome lost today (P x share of the segment in the bottom box) and still to gain
    (R x share of the segment who rated below the top box); NaN for an empty segment.

    Weights are the segment's weighted respondents: in the bottom box, who rated, in the
    top box, and all of them (those who skipped the touchpoint count in the denominator).
    """
    if w_all <= 0:
        return math.nan, math.nan
    return penalty * w_low / w_all, reward * (w_rated - w_high) / w_all


def at_stake(cls: str, risk: float, upside: float) -> tuple[float, str]:
    """The amount at stake of a touchpoint of class `cls`, and what it counts (its basis:
    "risk", "upside", "risk + upside"); (NaN, "") when nothing is at stake or the amount is
    not a number."""
    basis = STAKE_BASIS.get(cls, "")
    if basis == "risk":
        value = risk
    elif basis == "upside":
        value = upside
    elif basis == "risk + upside":
        value = risk + upside
    else:
        return math.nan, ""
    if not math.isfinite(value):
        return math.nan, ""
    return float(value), basis
