"""The one z-test: a difference over its standard error, with its two-sided normal p-value.

Penalty and reward against zero (cmot.results.touchpoint_rows), between segments
(cmot.results.compare) and between waves (cmot.results.trend_changes,
cmot.results.trend_fixes) all use it, so a p-value means the same everywhere.
"""

from __future__ import annotations

import math

import numpy as np

# math.erfc element by element: the same digits as the scalar test, on arrays.
_ERFC = np.frompyfunc(math.erfc, 1, 1)


def p_value(z: float) -> float:
    """Two-sided normal p-value of one z; NaN when z is not finite."""
    return math.erfc(abs(z) / math.sqrt(2.0)) if math.isfinite(z) else math.nan


def z_test(diff: np.ndarray, se: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """z = diff / se (0 where the difference is 0, so no difference is never significant,
    even with a zero error) and its two-sided normal p-value, NaN where z is not finite
    (no error, or a NaN in either)."""
    diff = np.asarray(diff, dtype=float)
    se = np.asarray(se, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        z = np.where(diff == 0, 0.0, diff / se)
    p = np.asarray(_ERFC(np.abs(z) / math.sqrt(2.0)), dtype=float)
    p[~np.isfinite(z)] = math.nan
    return z, p
