"""Importance of the touchpoint scores from the sums: relative weights and Shapley values."""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from cmot.engine.design import Layout
    from cmot.engine.stats import SegmentStats, SufficientStats

MAX_SHAPLEY_TOUCHPOINTS = 15
# Subset R²s evaluated over all segments: 2^21 is ~0.4 s (64 segments of 15 touchpoints).
SHAPLEY_BUDGET = 1 << 21


def pairwise_correlations(s: SegmentStats, lay: Layout) -> tuple[np.ndarray, np.ndarray]:
    """Correlations among touchpoint scores and with the outcome, pairwise-complete, weighted."""
    t = lay.t
    g, pr = s.gram, s.pair
    sw = g[lay.icpt, lay.icpt]
    miss = np.array([lay.miss(i) for i in range(t)])
    sm = g[lay.icpt, miss]  # Σ M_i
    mm = g[np.ix_(miss, miss)]  # Σ M_i M_j
    n = sw - sm[:, None] - sm[None, :] + mm  # both rated
    # pair rows: S 0..T-1, Q T..2T-1, y² 2T; columns: 1, M 1..T, y T+1, S T+2..2T+1
    s1, q1 = pr[:t, 0], pr[t : 2 * t, 0]
    s_m, q_m = pr[:t, 1 : t + 1], pr[t : 2 * t, 1 : t + 1]
    sx = s1[:, None] - s_m  # Σ S_i P_j
    sxx = q1[:, None] - q_m
    sxy = pr[:t, t + 2 : 2 * t + 2]
    with np.errstate(invalid="ignore", divide="ignore"):
        cov = sxy / n - sx * sx.T / n**2
        var = sxx / n - (sx / n) ** 2
        rxx = cov / np.sqrt(var * var.T)
        np.fill_diagonal(rxx, 1.0)
        n_i = sw - sm
        sy = g[lay.icpt, lay.y] - g[miss, lay.y]  # Σ P_i y
        syy = pr[2 * t, 0] - pr[2 * t, 1 : t + 1]  # Σ P_i y²
        cxy = pr[:t, t + 1] / n_i - s1 / n_i * sy / n_i
        vx = q1 / n_i - (s1 / n_i) ** 2
        vy = syy / n_i - (sy / n_i) ** 2
        rxy = cxy / np.sqrt(vx * vy)
    return np.nan_to_num(rxx), np.nan_to_num(rxy)


def compute_relative_weights(rxx: np.ndarray, rxy: np.ndarray) -> np.ndarray:
    """Johnson's (2000) relative weights; they sum to the R² of the scores."""
    evals, evecs = np.linalg.eigh(rxx)
    evals = np.clip(evals, 1e-12, None)
    lam = evecs @ np.diag(np.sqrt(evals)) @ evecs.T  # corr(X, Z), Z orthonormal nearest X
    beta = np.linalg.solve(lam, rxy)
    return np.asarray((lam**2) @ (beta**2))


def all_subset_r2(rxx: np.ndarray, rxy: np.ndarray) -> np.ndarray:
    """R² of every subset of predictors (indexed by bitmask) from the correlation matrix.

    Subsets grow by adding a predictor above their highest one; a subset's residual
    covariance of the later predictors and y comes from its parent's by one Schur
    complement step, vectorised over all parents: no per-subset solve.
    """
    t = len(rxy)
    c = np.empty((t + 1, t + 1))
    c[:t, :t], c[:t, t], c[t, :t], c[t, t] = rxx, rxy, rxy, 1.0
    r2 = np.zeros(1 << t)
    # groups[g]: subsets whose highest predictor is g - 1 (g = 0: the empty set), with the
    # residual covariance of predictors g.. and y (y last)
    groups: list[tuple[np.ndarray, np.ndarray]] = [(np.zeros(1, dtype=np.int64), c[None])]
    for j in range(t):
        # Every grown matrix is over predictors j+1.. and y: written in place, one array.
        count = sum(len(m) for m, _ in groups)
        masks, mats = np.empty(count, dtype=np.int64), np.empty((count, t - j, t - j))
        at = 0
        for g, (parent_masks, parents) in enumerate(groups):
            k = j - g  # j's place in this group's matrices
            pivot = parents[:, k, k]
            ok = pivot > 1e-12  # an aliased predictor adds nothing
            step = np.where(ok, 1.0 / np.where(ok, pivot, 1.0), 0.0)
            col = parents[:, k + 1 :, k]
            out = mats[at : at + len(parent_masks)]
            np.multiply(col[:, :, None], col[:, None, :], out=out)
            out *= step[:, None, None]
            np.subtract(parents[:, k + 1 :, k + 1 :], out, out=out)
            masks[at : at + len(parent_masks)] = parent_masks | (1 << j)
            at += len(parent_masks)
        r2[masks] = 1.0 - mats[:, -1, -1]
        groups.append((masks, mats))
    return r2


@lru_cache(maxsize=2)
def _shapley_terms(t: int) -> tuple[tuple[np.ndarray, np.ndarray], ...]:
    """Per predictor j, the subsets without j and their Shapley weights |S|!(t-|S|-1)!/t!:
    the same for every segment of t touchpoints, so made once (a third of the Shapley
    values' time, issue 27)."""
    masks = np.arange(1 << t)
    sizes = np.zeros(1 << t, dtype=np.int64)
    for j in range(t):
        sizes += (masks >> j) & 1
    fact = [math.factorial(i) for i in range(t + 1)]
    weight = np.array([fact[s] * fact[t - s - 1] / fact[t] for s in range(t)])
    terms = []
    for j in range(t):
        without = masks[(masks >> j) & 1 == 0]
        w = weight[sizes[without]]
        without.setflags(write=False)
        w.setflags(write=False)
        terms.append((without, w))
    return tuple(terms)


def compute_shapley(rxx: np.ndarray, rxy: np.ndarray) -> np.ndarray:
    """Shapley value regression: each touchpoint's average R² gain over all orders."""
    t = len(rxy)
    if t > MAX_SHAPLEY_TOUCHPOINTS:
        return np.full(t, np.nan)
    r2 = all_subset_r2(rxx, rxy)
    phi = np.empty(t)
    for j, (without, weight) in enumerate(_shapley_terms(t)):
        phi[j] = float((weight * (r2[without | (1 << j)] - r2[without])).sum())
    return phi


def shapley_plan(t: int, sizes: Sequence[int]) -> list[str]:
    """Which segments get exact Shapley values: "" for those that do, else the reason.

    Exact Shapley costs 2^T subset R²s per segment, so it runs only where it is cheap: at
    most MAX_SHAPLEY_TOUCHPOINTS touchpoints, segments (after the first, "All") with at
    least the default segment minimum max(30, 10 T) respondents, largest first, within
    SHAPLEY_BUDGET subset evaluations in all. Relative weights are always computed.
    """
    if t > MAX_SHAPLEY_TOUCHPOINTS:
        return [
            f"Shapley values skipped: {t} touchpoints (exact Shapley runs up to "
            f"{MAX_SHAPLEY_TOUCHPOINTS}); relative weights shown"
        ] * len(sizes)
    minimum = max(30, 10 * t)
    plan = [""] * len(sizes)
    spent = 0
    for k in sorted(range(len(sizes)), key=lambda k: (k != 0, -sizes[k])):
        if k != 0 and sizes[k] < minimum:
            plan[k] = (
                f"Shapley values skipped: {sizes[k]} respondents, fewer than {minimum}; "
                "relative weights shown"
            )
        elif spent + (1 << t) > SHAPLEY_BUDGET and k != 0:
            plan[k] = (
                "Shapley values skipped: computed for the largest segments only, to keep "
                "the analysis fast; relative weights shown"
            )
        else:
            spent += 1 << t
    return plan


def compute_importance(stats: SufficientStats) -> pd.DataFrame:
    """Relative weights and Shapley values of the touchpoint scores, per segment.

    Where a statistic cannot be estimated (or Shapley is not cheap, see shapley_plan) it is
    NaN and `relative_weight_note` / `shapley_note` say why; nothing raises.
    """
    lay = stats.layout
    plan = shapley_plan(lay.t, [s.n for s in stats.segments])
    rows = []
    for s, sh_note in zip(stats.segments, plan, strict=True):
        rw_note = ""
        nan = np.full(lay.t, np.nan)
        rw, sh = nan, nan
        try:
            with np.errstate(all="ignore"):
                rxx, rxy = pairwise_correlations(s, lay)
                if s.n < 3 or not rxy.any():
                    raise ValueError("too few respondents or no variation to correlate")
                rw = compute_relative_weights(rxx, rxy)
                if not sh_note:
                    sh = compute_shapley(rxx, rxy)
        except (np.linalg.LinAlgError, ValueError) as e:
            rw_note = f"Relative weights not estimable: {e}"
            sh_note = sh_note or f"Shapley values not estimable: {e}"
        if not np.isfinite(rw).all() and not rw_note:
            rw, rw_note = nan, "Relative weights not estimable: the correlations are undefined"
        if not np.isfinite(sh).all() and not sh_note:
            sh, sh_note = nan, "Shapley values not estimable: the correlations are undefined"
        r2 = float(rw.sum())
        sh_sum = float(sh.sum())
        for i in range(lay.t):
            rows.append(
                {
                    "segment": s.segment,
                    "touchpoint": stats.names[i],
                    "column": stats.columns[i],
                    "relative_weight": float(rw[i]),
                    "relative_weight_share": float(rw[i] / r2) if r2 > 0 else math.nan,
                    "shapley": float(sh[i]),
                    "shapley_share": float(sh[i] / sh_sum) if sh_sum > 0 else math.nan,
                    "r2": r2,
                    "relative_weight_note": rw_note,
                    "shapley_note": sh_note,
                }
            )
    return pd.DataFrame(rows, columns=IMPORTANCE_COLUMNS)


IMPORTANCE_COLUMNS = [
    "segment",
    "touchpoint",
    "column",
    "relative_weight",
    "relative_weight_share",
    "shapley",
    "shapley_share",
    "r2",
    "relative_weight_note",
    "shapley_note",
]
