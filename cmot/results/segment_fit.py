"""One segment's fit from its sums: `SegmentFit` (its PRCA coefficients and their
covariance, HC3 or pooled, for what-ifs and comparisons), `SegmentModel` / `segment_model`
(with the standard errors and the collinearity its touchpoints' rows read), its row of
MomentsResult.segments (`segment_row`: size, fit, collinearity and their reasons) and the
size rule (`too_small`)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from cmot.engine.design import Layout
from cmot.engine.stats import SegmentStats, SufficientStats
from cmot.settings import Settings


@dataclass(frozen=True)
class SegmentFit:
    """A segment's fitted PRCA model, for what-ifs and comparisons."""

    segment: str
    n: int
    weight_sum: float
    columns: tuple[str, ...]  # design column names (low ..., high ..., intercept, missing ...)
    beta: np.ndarray  # NaN where a column was dropped
    cov: (
        np.ndarray
    )  # HC3, or pooled (cmot.results.pooling); NaN where dropped or undefined (a lone one)
    mean_x: np.ndarray  # weighted share of respondents in each design column
    outcome_mean: float


def _vif(gram: np.ndarray, lay: Layout, kept: Sequence[int]) -> tuple[dict[int, float], np.ndarray]:
    """Variance inflation factors of the kept columns and their correlation matrix."""
    cols = [c for c in kept if c != lay.icpt]
    sw = gram[lay.icpt, lay.icpt]
    if not cols or sw <= 0:
        return {}, np.zeros((0, 0))
    ca = np.array(cols)
    m = gram[lay.icpt, ca] / sw
    cov = gram[np.ix_(ca, ca)] / sw - np.outer(m, m)
    sd = np.sqrt(np.clip(np.diag(cov), 1e-300, None))
    corr = cov / np.outer(sd, sd)
    try:
        inv = np.linalg.inv(corr)
        vif = np.diag(inv)
    except np.linalg.LinAlgError:
        vif = np.full(len(cols), math.inf)
    return {c: float(v) for c, v in zip(cols, vif, strict=True)}, corr


@dataclass(frozen=True)
class SegmentModel:
    """One segment's sums and fit, with what its touchpoints' rows read from them."""

    stats: SegmentStats
    fit: SegmentFit
    se: np.ndarray  # HC3 standard errors of the design columns
    vif: dict[int, float]  # variance inflation factor of each kept column but the intercept
    vif_columns: tuple[int, ...]  # those columns, in the order of corr's rows
    corr: np.ndarray


def segment_model(s: SegmentStats, stats: SufficientStats, labels: tuple[str, ...]) -> SegmentModel:
    """The segment's coefficients, HC3 covariance and errors, column shares, mean outcome
    and the collinearity of its design."""
    lay = stats.layout
    sw = float(s.gram[lay.icpt, lay.icpt])
    if (
        s.cov is not None
    ):  # pooled (cmot.results.pooling): its covariance is defined wherever beta is
        cov, undefined = s.cov.copy(), np.isnan(s.beta)
    else:
        cov = s.bread @ s.meat @ s.bread
        # HC3 is undefined for a column only one respondent is in (leverage 1): no error.
        undefined = np.isnan(s.beta) | (_column_counts(s, stats) <= 1)
    cov[undefined, :] = np.nan
    cov[:, undefined] = np.nan
    se = np.sqrt(np.clip(np.diag(cov), 0, None))
    mean_x = s.gram[lay.icpt, : lay.k] / sw if sw > 0 else np.zeros(lay.k)
    ybar = float(s.gram[lay.icpt, lay.y] / sw) if sw > 0 else math.nan
    fit = SegmentFit(s.segment, s.n, sw, labels, s.beta, cov, mean_x, ybar)
    # A pooled estimate's variance already holds what collinearity does to it: no VIF.
    vif, corr = _vif(s.gram, lay, s.kept) if s.cov is None else ({}, np.zeros((0, 0)))
    return SegmentModel(s, fit, se, vif, tuple(c for c in s.kept if c != lay.icpt), corr)


def segment_row(
    stats: SufficientStats,
    seg: SegmentModel,
    total_ris: float,
    n_mot: int,
    min_seg: int,
    size: str,
    settings: Settings,
) -> dict[str, Any]:
    """The segment's row of MomentsResult.segments: size, fit, collinearity and its reasons."""
    s, lay, labels, vif = seg.stats, stats.layout, seg.fit.columns, seg.vif
    # Collinear: the design as a whole, or the low or high column of any touchpoint.
    collinear = s.condition_index > settings.max_condition_index or any(
        max(vif.get(lay.low(i), 0.0), vif.get(lay.high(i), 0.0)) > settings.max_vif
        for i in range(lay.t)
    )
    seg_reasons = []
    if size:
        seg_reasons.append(size)
    if s.problem:
        seg_reasons.append(s.problem)
    if s.condition_index > settings.max_condition_index:
        seg_reasons.append(
            f"collinearity: condition index {s.condition_index:.0f} "
            f"> {settings.max_condition_index:.0f}"
        )
    if collinear and max(vif.values(), default=0.0) > settings.max_vif:
        seg_reasons.append(f"collinearity: largest VIF {max(vif.values()):.0f}")
    for why, text in (("empty", "nobody in them"), ("aliased", "combinations of others")):
        # An empty missing-indicator only means everyone rated it: data, not a warning.
        cols = [
            labels[c] for c, w in s.dropped if w == why and not (why == "empty" and c > lay.icpt)
        ]
        if cols:
            seg_reasons.append(f"left out of the model ({text}): {', '.join(cols)}")
    return {
        "segment": s.segment,
        "n": s.n,
        "weight_sum": seg.fit.weight_sum,
        "outcome_mean": seg.fit.outcome_mean,
        "r2": _r_squared(s.gram, lay, s.beta),
        "total_ris": total_ris,
        "mot_count": n_mot,
        "condition_index": s.condition_index,
        "collinear": collinear,
        "insufficient": too_small(s, min_seg) or bool(s.problem),
        "dropped": "; ".join(labels[c] for c, _ in s.dropped),
        "reason": "; ".join(seg_reasons),
        "min_segment": min_seg,
    }


def too_small(s: SegmentStats, min_seg: int) -> bool:
    """Below the size a fit alone needs; a pooled segment passed cmot.results.pooling's minimum."""
    return s.n < min_seg and s.cov is None


def _column_counts(s: SegmentStats, stats: SufficientStats) -> np.ndarray:
    """Respondents (unweighted) in each design column."""
    lay = stats.layout
    counts = np.full(lay.k, float(s.n))
    lv = s.levels[:, :, 0]
    for i in range(lay.t):
        lo, _, low_max, high_min = stats.scale_at(i)
        counts[lay.low(i)] = lv[i, : low_max - lo + 1].sum()
        counts[lay.high(i)] = lv[i, high_min - lo : -1].sum()
    counts[lay.icpt + 1 :] = lv[:, -1]
    return counts


def _r_squared(gram: np.ndarray, lay: Layout, beta: np.ndarray) -> float:
    sw = gram[lay.icpt, lay.icpt]
    if sw <= 0:
        return math.nan
    b = np.nan_to_num(beta)
    xty = gram[: lay.k, lay.y]
    yty = gram[lay.y, lay.y]
    sst = yty - gram[lay.icpt, lay.y] ** 2 / sw
    ssr = yty - float(b @ xty)
    return float(1 - ssr / sst) if sst > 0 else math.nan
