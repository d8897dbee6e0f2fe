"""The PRCA design: which columns a respondent's ratings make (`Layout`), each touchpoint's
scale and cut-offs (`Cuts`, `touchpoint_cuts`), and the design itself for a block of
respondents in numpy (`design_matrix`) and for one row in SQL (`design_sql`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from cmot.errors import CmotError
from cmot.spec import JourneySpec

MISSING = -128  # int8 sentinel for a missing rating inside the numpy blocks


@dataclass(frozen=True)
class Cuts:
    """Each touchpoint's scale and cut-offs, journey order, as (T, 1) integer columns that
    broadcast over a block's (T, m) ratings: 1-5 and 0-10 touchpoints in one design."""

    lo: np.ndarray
    hi: np.ndarray
    low: np.ndarray  # ratings <= low are low (bottom box)
    high: np.ndarray  # ratings >= high are high (top box)

    @property
    def points(self) -> int:
        """Levels of the widest scale: the levels histogram's width before the missing slot."""
        return int((self.hi - self.lo).max(initial=0)) + 1

    def of(self, i: int) -> tuple[int, int, int, int]:
        return int(self.lo[i, 0]), int(self.hi[i, 0]), int(self.low[i, 0]), int(self.high[i, 0])


def touchpoint_cuts(spec: JourneySpec, low: int, high: int) -> Cuts:
    """A touchpoint with its own scale (spec.scales) keeps that scale's cut-offs; the others
    are on the survey scale with the chosen cut-offs `low`, `high` (Settings.cutoffs)."""
    rows = []
    for c in spec.touchpoint_columns:
        own = spec.scales.get(c)
        rows.append(
            (own.min, own.max, own.low_max, own.high_min)
            if own is not None
            else (spec.scale.min, spec.scale.max, low, high)
        )
    a = np.array(rows, dtype=np.int64).reshape(-1, 4)
    for c, (lo, hi, lw, hg) in zip(spec.touchpoint_columns, rows, strict=True):
        if lo < -127 or hi > 127:
            raise CmotError(f"Rating scales must lie within -127..127, got {lo}-{hi} for {c!r}.")
        if not lo <= lw < hg <= hi:
            raise CmotError(
                f"The cut-offs of {c!r} need {lo} <= low ({lw}) < high ({hg}) <= {hi}; "
                "fix its scale in the journey spec."
            )
    return Cuts(a[:, 0:1], a[:, 1:2], a[:, 2:3], a[:, 3:4])


# ---- the design --------------------------------------------------------------------
# Rows of the block matrix Z (one column per respondent), in this order so that every
# product the engine needs is a contiguous slice:
#   [low_1..T, high_1..T, 1, miss_1..T, y, score_1..T, score²_1..T, y²]
# X = Z[:3T+1] is the PRCA design (intercept in the middle); the "gram" is [X y]'W[X y];
# "pair" = [score, score², y²]'W[1, miss, y, score] gives pairwise-complete correlations.


@dataclass(frozen=True)
class Layout:
    """Index arithmetic of the design for T touchpoints."""

    t: int

    @property
    def k(self) -> int:  # design columns
        return 3 * self.t + 1

    @property
    def icpt(self) -> int:
        return 2 * self.t

    @property
    def y(self) -> int:  # y's index in the gram
        return self.k

    def low(self, i: int) -> int:
        return i

    def high(self, i: int) -> int:
        return self.t + i

    def miss(self, i: int) -> int:
        return 2 * self.t + 1 + i

    def column_names(self, names: Sequence[str]) -> list[str]:
        return (
            [f"low {n}" for n in names]
            + [f"high {n}" for n in names]
            + ["intercept"]
            + [f"missing {n}" for n in names]
        )


def design_matrix(
    r: np.ndarray,
    y: np.ndarray,
    low_max: int | np.ndarray,
    high_min: int | np.ndarray,
    dtype: type[np.floating[Any]],
    full: bool = True,
) -> np.ndarray:
    """The block matrix Z (rows as in the layout comment above) for one segment slice.

    With full=False only the design X (the first 3T+1 rows), for the HC3 pass. The cut-offs
    are numbers or (T, 1) columns (one per touchpoint, Cuts).
    """
    t, m = r.shape
    z = np.empty((5 * t + 3 if full else 3 * t + 1, m), dtype=dtype)
    low, high, miss = z[0:t], z[t : 2 * t], z[2 * t + 1 : 3 * t + 1]
    # ufuncs writing straight into the float rows: no boolean temporaries.
    np.equal(r, MISSING, out=miss, casting="unsafe")
    np.less_equal(r, low_max, out=low, casting="unsafe")
    low -= miss  # the missing sentinel is below every cut-off
    np.greater_equal(r, high_min, out=high, casting="unsafe")
    z[2 * t] = 1.0
    if not full:
        return z
    z[3 * t + 1] = y
    s = z[3 * t + 2 : 4 * t + 2]
    np.copyto(s, r, casting="unsafe")
    s *= 1.0 - miss  # missing scores count as 0 in the sums (pairwise-complete later)
    np.multiply(s, s, out=z[4 * t + 2 : 5 * t + 2])
    np.multiply(y, y, out=z[5 * t + 2])
    return z


def design_sql(q: Sequence[str], cuts: Cuts) -> list[str]:
    """The design X (low, high, intercept, missing: the layout's first 3T+1 rows) as SQL,
    over the quoted touchpoint columns `q`."""
    return (
        [f"CASE WHEN {c} <= {cuts.of(i)[2]} THEN 1 ELSE 0 END" for i, c in enumerate(q)]
        + [f"CASE WHEN {c} >= {cuts.of(i)[3]} THEN 1 ELSE 0 END" for i, c in enumerate(q)]
        + ["1"]
        + [f"CASE WHEN {c} IS NULL THEN 1 ELSE 0 END" for c in q]
    )
