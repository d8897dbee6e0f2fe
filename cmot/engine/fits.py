"""Weighted least squares from a segment's sums (`Fit`, `fit_sums`), and what every engine's
passes end in: each segment's `SegmentStats` (`segment_stats`) and the `SufficientStats`
with its importance and levels table (`sufficient_stats`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd
from scipy.linalg.lapack import dtrtrs

from cmot.engine.design import Cuts, Layout
from cmot.engine.importance import compute_importance
from cmot.engine.stats import (
    Accum,
    SegmentStats,
    SufficientStats,
    declared_range,
    levels_frame,
)
from cmot.settings import Measure
from cmot.spec import JourneySpec


@dataclass(frozen=True)
class Fit:
    """A segment's fit: the design columns kept and dropped (with why), the coefficients,
    the bread (X'WX)^-1 on the kept columns, the condition index and, when the sums could
    not be solved, the reason (`problem`)."""

    kept: tuple[int, ...]
    dropped: tuple[tuple[int, str], ...]
    beta: np.ndarray
    bread: np.ndarray
    condition_index: float
    problem: str = ""


def segment_stats(name: str, acc: Accum, fit: Fit, meat: np.ndarray) -> SegmentStats:
    """A segment's sums, fit and meat as one result (both engines' passes end here)."""
    return SegmentStats(
        name,
        acc.n,
        acc.gram,
        acc.pair,
        acc.levels,
        fit.kept,
        fit.dropped,
        fit.beta,
        fit.bread,
        meat,
        fit.condition_index,
        fit.problem,
    )


# Beyond this condition index (of the unit-diagonal X'WX) a float64 inverse keeps fewer
# than ~4 significant digits: the coefficients are numerical noise, not estimates.
ILL_CONDITIONED = 1e6


def fit_sums(gram: np.ndarray, lay: Layout) -> Fit:
    """Weighted least squares from the gram, dropping empty and aliased columns (with reasons).

    Never raises: sums that cannot be solved (non-finite, singular, ill-conditioned) give a
    fit with no coefficients and the reason in `problem`.
    """
    k = lay.k
    empty = Fit((), (), np.full(k, np.nan), np.zeros((k, k)), math.nan)
    if not np.isfinite(gram).all():
        return replace(empty, problem="the sums are not finite (check the weights)")
    try:
        fit = _solve(gram, lay)
    except (np.linalg.LinAlgError, ValueError, ZeroDivisionError) as e:
        return replace(empty, problem=f"the model cannot be fitted ({e})")
    finite = np.isfinite(fit.beta[list(fit.kept)]).all() and np.isfinite(fit.bread).all()
    if fit.kept and not finite:
        return replace(empty, problem="the model cannot be fitted (singular sums)")
    if fit.condition_index > ILL_CONDITIONED:
        return replace(
            empty,
            condition_index=fit.condition_index,
            problem=f"the model is ill-conditioned (condition index {fit.condition_index:.3g})",
        )
    return fit


def _solve(gram: np.ndarray, lay: Layout) -> Fit:
    k = lay.k
    xtx, xty = gram[:k, :k], gram[:k, lay.y]
    diag = np.diag(xtx).copy()
    beta = np.full(k, np.nan)
    bread = np.zeros((k, k))
    if diag[lay.icpt] <= 0:
        return Fit((), ((lay.icpt, "empty"),), beta, bread, math.nan)
    # Try the intercept first, then each touchpoint's low, high, missing columns: a column
    # enters when the part of it the kept columns cannot explain is not negligible
    # (an incremental Cholesky of the unit-diagonal matrix, as R's lm does with QR).
    order = [lay.icpt] + [c for i in range(lay.t) for c in (lay.low(i), lay.high(i), lay.miss(i))]
    kept: list[int] = []
    dropped: list[tuple[int, str]] = []
    chol = np.zeros((k, k))  # the factor of the kept columns is its top-left corner
    for j in order:
        if diag[j] <= 0:
            dropped.append((j, "empty"))
            continue
        n = len(kept)
        if kept:
            c = xtx[kept, j] / np.sqrt(diag[kept] * diag[j])
            # A triangular solve: O(n²) where a general solve is O(n³) (121 touchpoints:
            # 0.11 s a segment with np.linalg.solve).
            zvec, _ = dtrtrs(chol[:n, :n], c, lower=1)  # LAPACK direct: no wrapper overhead
            resid = 1.0 - float(zvec @ zvec)
        else:
            zvec, resid = np.zeros(0), 1.0
        if resid < 1e-9:
            dropped.append((j, "aliased"))
            continue
        chol[n, :n] = zvec
        chol[n, n] = math.sqrt(resid)
        kept.append(j)
    kept.sort()
    ka = np.array(kept)
    sub = xtx[np.ix_(ka, ka)]
    inv = np.linalg.inv(sub)
    beta[ka] = inv @ xty[ka]
    bread[np.ix_(ka, ka)] = inv
    d = np.sqrt(np.diag(sub))
    ev = np.linalg.eigvalsh(sub / np.outer(d, d))
    cond = math.sqrt(ev[-1] / ev[0]) if ev[0] > 0 else math.inf
    return Fit(tuple(kept), tuple(dropped), beta, bread, cond)


def sufficient_stats(
    spec: JourneySpec,
    cuts: Cuts,
    cutoffs: tuple[int, int],
    measure: Measure,
    seg_cols: tuple[str, ...],
    weighted: bool,
    segments: Sequence[SegmentStats],
    facts: Mapping[str, Any],
    start: float,
    derived: tuple[pd.DataFrame, pd.DataFrame] | None = None,
) -> SufficientStats:
    """The result of a pass over the rows: the segments' sums and fits ("All" first) with
    the journey's facts, the outcome's (`facts`: outcome_distinct, outcome_min,
    outcome_max), the importance and the levels table derived from them (or `derived`,
    made already by `derived_tables` from the same sums), and the seconds since `start`
    (time.perf_counter)."""
    columns = spec.touchpoint_columns
    stats = SufficientStats(
        columns=columns,
        names=tuple(spec.touchpoint(c).name for c in columns),
        stages=tuple(spec.stage_of(c) for c in columns),
        scale_min=spec.scale.min,
        scale_max=spec.scale.max,
        low_max=cutoffs[0],
        high_min=cutoffs[1],
        outcome_kind=spec.outcome.kind,
        measure=measure,
        segmentation=seg_cols,
        weighted=weighted,
        segments=tuple(segments),
        seconds=0.0,
        outcome_range=declared_range(spec, measure),
        touchpoint_scales=tuple(cuts.of(i) for i in range(len(columns))),
        weight_column=spec.weight_column,
        **facts,
    )
    importance, levels = derived if derived is not None else derived_tables(stats)
    return replace(stats, importance=importance, levels=levels, seconds=time.perf_counter() - start)


def derived_tables(stats: SufficientStats) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The importance and the levels table: functions of the sums alone (no fit, no meat),
    so compute_stats makes them while the HC3 pass runs."""
    return compute_importance(stats), levels_frame(stats)
