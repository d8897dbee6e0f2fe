"""Sums that add up: a dataset's per-segment sufficient statistics as the sum of its files'.

A stored file never changes, so its sums (`compute_stats` on that file alone) are cached
under its path and never recomputed; after a batch only the new file is read, and the
dataset's sums are the earlier files' plus its own. What adds: each segment's respondent
count, gram [X y]'W[X y], pair sums and rating-level histogram, hence the least-squares
fit (penalty, reward), the bottom-box shares and the classical (non-robust) covariance
sigma^2 (X'WX)^-1 with sigma^2 = (y'Wy - b'X'Wy) / (n - k). What does not: HC3's meat,
sum of w^2 e^2 / (1 - h)^2 x x', whose residuals and leverages depend on the fit of all
rows; the dashboard's intervals therefore still take a pass over every row (cmot.engine.sums),
while the alerts (cmot.feedback.alerts) work on these sums alone.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np

from cmot.engine.design import Layout
from cmot.engine.fits import fit_sums
from cmot.engine.stats import SufficientStats
from cmot.engine.sums import compute_stats
from cmot.names import quote_literal
from cmot.settings import Settings
from cmot.spec import JourneySpec


@dataclass(frozen=True)
class Sums:
    """One segment's additive sums (the arrays of cmot.engine.stats.SegmentStats)."""

    n: int
    gram: np.ndarray
    pair: np.ndarray
    levels: np.ndarray

    def __add__(self, other: Sums) -> Sums:
        return Sums(
            self.n + other.n,
            self.gram + other.gram,
            self.pair + other.pair,
            self.levels + other.levels,
        )


@dataclass(frozen=True)
class Estimate:
    """A segment's fit from its sums: coefficients and their classical standard errors."""

    n: int
    beta: np.ndarray  # (k,), NaN where a column was dropped
    se: np.ndarray  # (k,), classical: sigma^2 (X'WX)^-1
    problem: str


def segment_sums(stats: SufficientStats) -> dict[str, Sums]:
    """Each segment's additive sums, "All" included."""
    return {s.segment: Sums(s.n, s.gram, s.pair, s.levels) for s in stats.segments}


def add_sums(parts: Sequence[dict[str, Sums]]) -> dict[str, Sums]:
    """The sums of several slices of respondents (files, periods) as one."""
    out: dict[str, Sums] = {}
    for part in parts:
        for name, s in part.items():
            out[name] = out[name] + s if name in out else s
    return out


def file_stats(
    con: duckdb.DuckDBPyConnection,
    file: Path,
    spec: JourneySpec,
    segmentation: Sequence[str],
    settings: Settings,
) -> SufficientStats:
    """One stored file's sums, cached under its path (a stored file never changes) in this
    module's own LRU, so that a long run of weekly batches does not push the pages' sums
    out of cmot.engine.cache's smaller LRU (nor theirs out of it)."""
    table = f"read_parquet({quote_literal(str(file))})"
    key = (str(file), tuple(segmentation), settings.cutoffs(spec), settings.measure)
    with _FILES_LOCK:
        hit = _FILES.get(key)
        if hit is not None:
            _FILES.move_to_end(key)
            return hit
    stats = compute_stats(con, table, spec, list(segmentation), settings)
    with _FILES_LOCK:
        _FILES[key] = stats
        while len(_FILES) > FILES_KEPT:
            _FILES.popitem(last=False)
    return stats


# A file's sums are small (a segment's gram is (3T+2)², 14 kB at 12 touchpoints): two years
# of weekly batches by a few segmentations fit.
FILES_KEPT = 512
_FILES: OrderedDict[tuple[object, ...], SufficientStats] = OrderedDict()
_FILES_LOCK = threading.Lock()


def clear_files_cache() -> None:
    with _FILES_LOCK:
        _FILES.clear()


def files_sums(
    con: duckdb.DuckDBPyConnection,
    files: Sequence[Path],
    spec: JourneySpec,
    segmentation: Sequence[str],
    settings: Settings,
) -> dict[str, Sums]:
    """A version's sums as its files' added: after a batch only the new file is read."""
    return add_sums([segment_sums(file_stats(con, f, spec, segmentation, settings)) for f in files])


def estimate(s: Sums, t: int) -> Estimate:
    """Weighted least squares from the sums, with classical standard errors."""
    lay = Layout(t)
    fit = fit_sums(s.gram, lay)
    k = lay.k
    if fit.problem or not fit.kept:
        nan = np.full(k, np.nan)
        return Estimate(s.n, nan, nan, fit.problem or "no column could be fitted")
    beta = np.nan_to_num(fit.beta)
    yy = s.gram[lay.y, lay.y]
    rss = max(float(yy - beta @ s.gram[:k, lay.y]), 0.0)
    dof = s.n - len(fit.kept)
    if dof <= 0:
        nan = np.full(k, np.nan)
        return Estimate(s.n, fit.beta, nan, "fewer respondents than coefficients")
    # The weights' scale: sigma^2 per unit weight, with n - k degrees of freedom.
    sigma2 = rss / dof * (s.n / s.gram[lay.icpt, lay.icpt])
    var = sigma2 * np.diag(fit.bread)
    se = np.where(np.isin(np.arange(k), fit.kept), np.sqrt(np.maximum(var, 0.0)), np.nan)
    return Estimate(s.n, fit.beta, se, "")


def bottom_box(s: Sums, low_max: Sequence[int], scale_min: Sequence[int]) -> np.ndarray:
    """(T, 2): respondents rating each touchpoint in its bottom box, and rating it at all."""
    counts = s.levels[:, :-1, 0]  # (T, points): respondents per rating level
    points = counts.shape[1]
    lows = np.arange(points)[None, :] <= (np.asarray(low_max) - np.asarray(scale_min))[:, None]
    return np.stack([(counts * lows).sum(axis=1), counts.sum(axis=1)], axis=1)


def penalty(e: Estimate, i: int, t: int) -> tuple[float, float]:
    """Touchpoint i's penalty (minus its low rating's coefficient) and its standard error."""
    j = Layout(t).low(i)
    b, se = float(e.beta[j]), float(e.se[j])
    return (-b if math.isfinite(b) else math.nan), se
