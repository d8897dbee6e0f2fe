"""Moments of truth per segment from the sums: penalty, reward, intervals, guardrails.

classify_moments walks each segment: its fit (_segment_model), one row per touchpoint
(_touchpoint_row: _performance, _effects, _checks, then risk and upside from cmot.results.stakes),
classes and actions (cmot.results.classes), the amount at stake (cmot.results.stakes.at_stake),
and the segment's own row (_segment_row); guardrails collects the warnings.

The sums live in cmot.engine.sums and importance in cmot.engine.importance (their public names are
re-exported here for existing importers); what-if in cmot.results.whatif, sensitivity in
cmot.results.sensitivity.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from statistics import NormalDist
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from cmot.engine.blocks import (
    BLOCK_ROWS,
    HC3_FLOAT32_MIN_ROWS,
    TASK_ROWS,
    single_threaded_blas,
)
from cmot.engine.cache import clear_cache as clear_sums_cache
from cmot.engine.design import MISSING, Layout
from cmot.engine.importance import (
    MAX_SHAPLEY_TOUCHPOINTS,
    all_subset_r2,
    compute_importance,
    compute_relative_weights,
    compute_shapley,
    pairwise_correlations,
)
from cmot.engine.level_sums import build_stats_sql
from cmot.engine.rows import segment_sql_expr
from cmot.engine.stats import SegmentStats, SufficientStats, levels_frame
from cmot.engine.sums import Engine, compute_stats
from cmot.results.classes import assign_classes, just_enough
from cmot.results.pooling import PairCovariance, PoolResult, partial_pool
from cmot.results.stakes import at_stake, risk_and_upside
from cmot.results.ztest import p_value
from cmot.settings import ALL, POOLING_WORDS, HybridRule, Measure, Settings
from cmot.spec import JourneySpec

__all__ = [
    "ALL",
    "BLOCK_ROWS",
    "HC3_FLOAT32_MIN_ROWS",
    "MAX_SHAPLEY_TOUCHPOINTS",
    "MISSING",
    "TASK_ROWS",
    "Engine",
    "HybridRule",
    "Layout",
    "Measure",
    "MomentsResult",
    "SegmentFit",
    "SegmentStats",
    "Settings",
    "SufficientStats",
    "all_subset_r2",
    "analyse_stats",
    "build_stats_sql",
    "classify_moments",
    "clear_cache",
    "compute_importance",
    "compute_relative_weights",
    "compute_shapley",
    "compute_stats",
    "find_moments",
    "pairwise_correlations",
    "segment_sql_expr",
]


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


WARNING_COLUMNS = ["segment", "touchpoint", "column", "kind", "message"]
# The figures of an effect: NaN on an insufficient row, whose class and reason say why. Its
# descriptives (n, mean, boxes, cells) stay: they describe the ratings, not an effect.
UNSUPPORTED = (
    "low_coef",
    "high_coef",
    "missing_coef",
    "low_se",
    "high_se",
    "penalty",
    "reward",
    "penalty_se",
    "reward_se",
    "penalty_lo",
    "penalty_hi",
    "reward_lo",
    "reward_hi",
    "penalty_p",
    "reward_p",
    "ris",
    "ris_se",
    "ia",
    "ia_lo",
    "ia_hi",
    "risk",
    "upside",
    "just_enough",
    "at_stake",
)
# A segmentation with more values than this is too fine to read; merge codes first.
MANY_SEGMENTS = 50
# An outcome with at least this share of distinct values over 20+ respondents is an id.
ID_LIKE_SHARE = 0.95


@dataclass(frozen=True)
class MomentsResult:
    """The moments of truth of every segment; frames are tidy, columns documented below.

    moments (one row per segment x touchpoint, journey order):
      segment, stage, touchpoint (display name), column (source column),
      n (respondents who rated it), mean (0-100), top_box, bottom_box (shares of those
      who rated), missing (share of respondents), n_low, n_high (respondents in the cells),
      low_coef, high_coef, missing_coef (raw PRCA coefficients), low_se, high_se (HC3),
      penalty, reward (max(0, -low_coef), max(0, high_coef)), penalty_se, reward_se,
      penalty_lo, penalty_hi, reward_lo, reward_hi (95% intervals), penalty_p, reward_p,
      ris, ris_se, ris_significant, ia, ia_lo, ia_hi (delta method), wrong_sign ("",
      "penalty", "reward", "penalty and reward"), vif_low, vif_high, reason (guardrails,
      "" when none), insufficient, risk (P x share of respondents in the bottom box),
      upside (R x share of respondents who rated below the top box), just_enough (rating
      above the largest step up in outcome below the top box), rank (by RIS), mot, class,
      adequate (a vulnerability with bottom box < adequate_bottom_box), action (fix,
      maintain, grow, improve, monitor, collect more responses), scale_min, scale_max (the
      touchpoint's own scale: mean, boxes and cells use it), at_stake (the one amount at
      stake every screen shows: risk for a vulnerability, upside for an opportunity,
      risk + upside for a hybrid, NaN otherwise; cmot.results.stakes.at_stake) and stake_basis
      (what it counts: "risk", "upside", "risk + upside", or ""), own_share (the
      weight of the segment's own data in its pooled estimate, cmot.results.pooling's
      PooledSegment.own_share, in [0, 1); NaN for "All" and any segment estimated alone).
      On an insufficient row every effect figure (UNSUPPORTED: coefficients, penalty,
      reward, their errors, intervals and p-values, RIS, IA, risk, upside, just_enough,
      at_stake) is NaN: the class and the reason say why, never a number.
      Weighted when the data has weights (counts n, n_low, n_high stay respondent counts).
    segments: segment, n, weight_sum, outcome_mean, r2, total_ris, mot_count,
      condition_index, collinear, insufficient, dropped, reason, min_segment, pooled
      (its estimate is pooled across segments), own_share (as in moments).
    importance: segment, touchpoint, column, relative_weight, relative_weight_share,
      shapley, shapley_share, r2 (of the touchpoint scores, pairwise-complete),
      relative_weight_note, shapley_note (why a value is NaN: skipped or not estimable).
    levels: segment, touchpoint, column, level, n, share, outcome_mean.
    warnings: segment, touchpoint, column, kind, message: the guardrails (see guardrails) for
      the page to show where the number is; "" in segment/touchpoint when about all of them.
    """

    moments: pd.DataFrame
    segments: pd.DataFrame
    importance: pd.DataFrame
    levels: pd.DataFrame
    fits: Mapping[str, SegmentFit]
    settings: Settings
    segmentation: tuple[str, ...]
    outcome_kind: str
    measure: Measure
    low_max: int
    high_min: int
    unit: str  # see outcome_unit
    seconds: float = field(default=0.0)
    warnings: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=WARNING_COLUMNS))
    weighted: bool = False  # the weights vary (all 1 counts as unweighted)
    weight_column: str | None = None
    # Why partial pooling, asked for, pooled nothing (cmot.results.pooling.PoolResult.note): "" when
    # it pooled, when each segment was asked to stand alone, or with no segmentation.
    pool_note: str = ""
    # How the pooled segments' estimates err together (cmot.results.pooling.PairCovariance): what
    # cmot.results.compare subtracts from a difference's variance. None alone.
    pairs: PairCovariance | None = None

    @property
    def method(self) -> str:
        """What every page, the report and the command line say about the estimates:
        "partial pooling across segments" or "each segment alone" (with why, when pooling
        was asked for but could not run)."""
        if self.settings.pooling == "partial" and self.pool_note:
            return f"{POOLING_WORDS['none']} (no partial pooling: {self.pool_note})"
        return POOLING_WORDS[self.settings.pooling]

    @property
    def weighting(self) -> str:
        """What every result page says: "weighted by X" or "unweighted"."""
        return (
            f"weighted by {self.weight_column or 'survey weights'}"
            if self.weighted
            else "unweighted"
        )


_NORMAL = NormalDist()


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


def classify_moments(
    stats: SufficientStats, settings: Settings | None = None, *, pooled: PoolResult | None = None
) -> MomentsResult:
    """Moments of truth, classes, importance and stakes from the sums as given (each
    segment's own fit, or the pooled estimates `pool` put in them): never reads data.

    `pooled`: the cmot.results.pooling.partial_pool whose stats these are, for each segment's own
    share and the size rule's words. analyse_stats applies the settings' pooling first."""
    settings = settings or Settings()
    with single_threaded_blas():
        return _classify(stats, settings, pooled)


def analyse_stats(stats: SufficientStats, settings: Settings | None = None) -> MomentsResult:
    """The settings' pooling applied to the sums (Settings.pooling, min_pool: pooled once
    per sums object and minimum, so a threshold change reclassifies without pooling
    again), then classify_moments. "All" is never pooled."""
    settings = settings or Settings()
    if settings.pooling != "partial" or any(s.cov is not None for s in stats.segments):
        return classify_moments(stats, settings)  # alone, or already pooled by the caller
    res = pooled_stats(stats, settings.min_pool)
    return classify_moments(res.stats, settings, pooled=res)


_POOLED: OrderedDict[tuple[int, int], tuple[SufficientStats, PoolResult]] = OrderedDict()
_POOLED_SIZE = 32  # as the sums' cache: one pool per cached sums object
_POOLED_LOCK = threading.Lock()


def clear_cache() -> None:
    """Forget the cached sums (cmot.engine.cache.clear_cache) and their pooled versions."""
    clear_sums_cache()
    with _POOLED_LOCK:
        _POOLED.clear()


def pooled_stats(stats: SufficientStats, min_pool: int) -> PoolResult:
    """cmot.results.pooling.partial_pool of `stats`, kept per sums object (the sums' cache hands
    out the same object for the same view, so the pages' and the CLI's reruns reuse it)."""
    key = (id(stats), min_pool)
    with _POOLED_LOCK:
        hit = _POOLED.get(key)
        if hit is not None and hit[0] is stats:
            _POOLED.move_to_end(key)
            return hit[1]
    res = partial_pool(stats, min_pool)
    with _POOLED_LOCK:
        _POOLED[key] = (stats, res)  # the stats held too: its id is not reused meanwhile
        while len(_POOLED) > _POOLED_SIZE:
            _POOLED.popitem(last=False)
    return res


def _classify(
    stats: SufficientStats, settings: Settings, pooled: PoolResult | None
) -> MomentsResult:
    """Each segment in turn: its fit, one row per touchpoint, their classes and stakes, and
    the segment's own row; then the result with importance, levels and guardrails."""
    start = time.perf_counter()
    z = _NORMAL.inv_cdf(1 - settings.alpha / 2)
    min_seg = settings.segment_minimum(stats.layout.t)
    own = {p.segment: p.own_share for p in pooled.segments} if pooled is not None else {}
    # The pool ran: a segment it left out needs its minimum; otherwise alone's rule speaks.
    pool_min = pooled.min_n if pooled is not None and pooled.segments else None
    labels = tuple(stats.layout.column_names(stats.names))
    rows: list[dict[str, Any]] = []
    seg_rows: list[dict[str, Any]] = []
    fits: dict[str, SegmentFit] = {}
    for s in stats.segments:
        seg = _segment_model(s, stats, labels)
        fits[s.segment] = seg.fit
        size = _size_reason(s, stats.layout.t, min_seg, pool_min, settings)
        seg_rs = [
            _touchpoint_row(stats, seg, i, z, min_seg, size, settings)
            for i in range(stats.layout.t)
        ]
        total_ris, n_mot = assign_classes(seg_rs, settings)  # rank, mot, class, adequate, action
        for r in seg_rs:
            r["at_stake"], r["stake_basis"] = at_stake(r["class"], r["risk"], r["upside"])
            if r["insufficient"]:  # insufficient means no number, anywhere (issue 23)
                r.update(dict.fromkeys(UNSUPPORTED, math.nan), ris_significant=False)
            r["own_share"] = own.get(s.segment, math.nan)
        rows += seg_rs
        seg_row = _segment_row(stats, seg, total_ris, n_mot, min_seg, size, settings)
        seg_row["pooled"] = s.segment in own
        seg_row["own_share"] = own.get(s.segment, math.nan)
        seg_rows.append(seg_row)
    moments = pd.DataFrame(rows)
    segments = pd.DataFrame(seg_rows)
    return MomentsResult(
        moments=moments,
        segments=segments,
        importance=stats.importance if len(stats.importance) else compute_importance(stats),
        levels=stats.levels if len(stats.levels) else levels_frame(stats),
        fits=fits,
        settings=settings,
        segmentation=stats.segmentation,
        outcome_kind=stats.outcome_kind,
        measure=stats.measure,
        low_max=stats.low_max,
        high_min=stats.high_min,
        unit=outcome_unit(stats.outcome_kind, stats.measure),
        warnings=guardrails(stats, segments, moments, settings),
        weighted=stats.weighted,
        weight_column=stats.weight_column,
        seconds=stats.seconds + time.perf_counter() - start,
        pool_note=_pool_note(stats, settings, pooled),
        pairs=pooled.pairs if pooled is not None else None,
    )


def _pool_note(stats: SufficientStats, settings: Settings, pooled: PoolResult | None) -> str:
    """Why partial pooling, asked for on a segmentation, pooled nothing ("" otherwise)."""
    if settings.pooling != "partial" or not stats.segmentation:
        return ""
    if pooled is None:
        return "" if any(s.cov is not None for s in stats.segments) else "not applied"
    return "" if pooled.segments else pooled.note


def _size_reason(
    s: SegmentStats, t: int, min_seg: int, pool_min: int | None, settings: Settings
) -> str:
    """Why a segment is too small, "" when it is not: the respondents it has and needs
    (pooling's minimum when the pool ran and left it out, else a fit alone's), and, where
    a fit alone is possible but thin, how many touchpoints its respondents could support."""
    if not _too_small(s, min_seg):
        return ""
    if pool_min is not None and s.n < pool_min:
        return f"{s.n} respondents; needs at least {pool_min} to be pooled across segments"
    text = f"{s.n} respondents; needs at least {min_seg}"
    if settings.min_segment is None and s.n >= 30 and s.n // 10 < t:
        # METHODS.md's rule is 10 respondents per touchpoint: alone it could take n // 10.
        text += f"; enough alone for {s.n // 10} of its {t} touchpoints"
    if settings.pooling == "none" and s.n >= settings.min_pool:
        text += f"; pooled across segments, {settings.min_pool} suffice"  # the switch to try
    return text


# ---- per segment: its fit and its own row -----------------------------------------------


@dataclass(frozen=True)
class _SegmentModel:
    """One segment's sums and fit, with what its touchpoints' rows read from them."""

    stats: SegmentStats
    fit: SegmentFit
    se: np.ndarray  # HC3 standard errors of the design columns
    vif: dict[int, float]  # variance inflation factor of each kept column but the intercept
    vif_columns: tuple[int, ...]  # those columns, in the order of corr's rows
    corr: np.ndarray


def _segment_model(
    s: SegmentStats, stats: SufficientStats, labels: tuple[str, ...]
) -> _SegmentModel:
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
    return _SegmentModel(s, fit, se, vif, tuple(c for c in s.kept if c != lay.icpt), corr)


def _segment_row(
    stats: SufficientStats,
    seg: _SegmentModel,
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
        "insufficient": _too_small(s, min_seg) or bool(s.problem),
        "dropped": "; ".join(labels[c] for c, _ in s.dropped),
        "reason": "; ".join(seg_reasons),
        "min_segment": min_seg,
    }


# ---- per touchpoint: performance, effects, checks, stakes ---------------------------------


@dataclass(frozen=True)
class _Cells:
    """One touchpoint in one segment: its scale and who is in its cells (counts, weights)."""

    lo: int  # the touchpoint's own scale and cut-offs
    hi: int
    low_max: int
    high_min: int
    n_rated: int  # respondents
    n_low: int
    n_high: int
    w_rated: float  # weighted respondents
    w_low: float
    w_high: float
    w_miss: float
    w_all: float  # the whole segment
    score_sum: float  # Σw·score over those who rated it


def _cells(stats: SufficientStats, s: SegmentStats, i: int) -> _Cells:
    lay = stats.layout
    lv = s.levels[i]
    lo, hi, low_max, high_min = stats.scale_at(i)  # its own scale (spec.scales)
    w_low, w_high, w_miss = (
        float(s.gram[lay.icpt, c]) for c in (lay.low(i), lay.high(i), lay.miss(i))
    )
    return _Cells(
        lo=lo,
        hi=hi,
        low_max=low_max,
        high_min=high_min,
        n_rated=int(lv[:-1, 0].sum()),
        n_low=int(lv[: low_max - lo + 1, 0].sum()),
        n_high=int(lv[high_min - lo : -1, 0].sum()),
        w_rated=float(lv[:-1, 1].sum()),
        w_low=w_low,
        w_high=w_high,
        w_miss=w_miss,
        w_all=float(s.gram[lay.icpt, lay.icpt]),
        score_sum=float(s.pair[i, 0]),
    )


def _touchpoint_row(
    stats: SufficientStats,
    seg: _SegmentModel,
    i: int,
    z: float,
    min_seg: int,
    size: str,
    settings: Settings,
) -> dict[str, Any]:
    """Touchpoint i's row of MomentsResult.moments, all but what cmot.results.classes and the stake
    add once the segment's rows are known (rank, mot, class, adequate, action, at_stake)."""
    c = _cells(stats, seg.stats, i)
    row: dict[str, Any] = {
        "segment": seg.stats.segment,
        "stage": stats.stages[i],
        "touchpoint": stats.names[i],
        "column": stats.columns[i],
    }
    row |= _performance(c)
    row |= _effects(seg, stats.layout, i, z)
    row |= _checks(stats, seg, i, c, row, z, min_seg, size, settings)
    row["risk"], row["upside"] = risk_and_upside(
        row["penalty"], row["reward"], c.w_low, c.w_rated, c.w_high, c.w_all
    )
    row["just_enough"] = just_enough(seg.stats.levels[i], c.lo, c.high_min, settings.min_cell)
    row["scale_min"], row["scale_max"] = c.lo, c.hi
    return row


def _performance(c: _Cells) -> dict[str, Any]:
    """How it is rated: n, mean on 0-100, top and bottom box, missing, cell counts."""
    rated = c.w_rated > 0
    return {
        "n": c.n_rated,
        "mean": 100.0 * (c.score_sum / c.w_rated - c.lo) / (c.hi - c.lo) if rated else math.nan,
        "top_box": c.w_high / c.w_rated if rated else math.nan,
        "bottom_box": c.w_low / c.w_rated if rated else math.nan,
        "missing": c.w_miss / c.w_all if c.w_all > 0 else math.nan,
        "n_low": c.n_low,
        "n_high": c.n_high,
    }


def _effects(seg: _SegmentModel, lay: Layout, i: int, z: float) -> dict[str, Any]:
    """What a low or top rating does to the outcome: coefficients, penalty, reward, RIS, IA,
    their errors, intervals and p-values."""
    beta, cov, se = seg.fit.beta, seg.fit.cov, seg.se
    cl, ch, cm = lay.low(i), lay.high(i), lay.miss(i)
    p, r, m_coef = (float(beta[c]) for c in (cl, ch, cm))
    p_se, r_se = float(se[cl]), float(se[ch])
    pen, rew = _clip(-p), _clip(r)
    # RIS is the sum of the active sides; its SE is that contrast's HC3 error.
    sides = [(c, sign) for c, sign, on in ((cl, -1.0, pen > 0), (ch, 1.0, rew > 0)) if on]
    ris = pen + rew if math.isfinite(pen + rew) else math.nan
    ris_var = sum(sa * sb * cov[a, b] for a, sa in sides for b, sb in sides)
    ris_se = math.sqrt(max(ris_var, 0.0)) if ris > 0 else math.nan
    ia_lo, ia_hi = _ia_interval(p, r, cov[cl, cl], cov[ch, ch], cov[cl, ch], z)
    return {
        "low_coef": p,
        "high_coef": r,
        "missing_coef": m_coef,
        "low_se": p_se,
        "high_se": r_se,
        "penalty": pen,
        "reward": rew,
        "penalty_se": p_se,
        "reward_se": r_se,
        "penalty_lo": _clip(-p - z * p_se),
        "penalty_hi": _clip(-p + z * p_se),
        "reward_lo": _clip(r - z * r_se),
        "reward_hi": _clip(r + z * r_se),
        "penalty_p": p_value(p / p_se) if p_se > 0 else math.nan,
        "reward_p": p_value(r / r_se) if r_se > 0 else math.nan,
        "ris": ris,
        "ris_se": ris_se,
        "ris_significant": bool(ris > 0 and ris_se > 0 and ris / ris_se > z),
        "ia": (rew - pen) / ris if ris > 0 else math.nan,
        "ia_lo": ia_lo,
        "ia_hi": ia_hi,
    }


def _checks(
    stats: SufficientStats,
    seg: _SegmentModel,
    i: int,
    c: _Cells,
    fx: Mapping[str, Any],
    z: float,
    min_seg: int,
    size: str,
    settings: Settings,
) -> dict[str, Any]:
    """Why its result is not to be read as is (reason), wrong signs, VIFs, and whether it
    can be classified at all (insufficient). `fx` holds the _effects columns."""
    s, labels, vif = seg.stats, seg.fit.columns, seg.vif
    cl, ch = stats.layout.low(i), stats.layout.high(i)
    p, r, p_se, r_se = fx["low_coef"], fx["high_coef"], fx["low_se"], fx["high_se"]
    dropped = dict(s.dropped)  # column -> why
    reasons: list[str] = []
    if s.cov is not None:  # pooled: its estimate rests on the whole journey's cells
        c = _cells(stats, stats.segments[0], i)
    if size:
        reasons.append(f"segment has {size}")
    if s.problem:
        reasons.append(s.problem)
    if c.n_low < settings.min_cell:
        reasons.append(f"only {c.n_low} rated it low (<= {c.low_max}); needs {settings.min_cell}")
    if c.n_high < settings.min_cell:
        reasons.append(
            f"only {c.n_high} rated it high (>= {c.high_min}); needs {settings.min_cell}"
        )
    wrong = []
    for side, coef, sd, col, bad in (
        ("penalty", p, p_se, cl, p > 0),
        ("reward", r, r_se, ch, r < 0),
    ):
        if not bad:
            continue
        wrong.append(side)
        if sd > 0 and abs(coef) / sd > z:
            what = "low ratings raise" if side == "penalty" else "top ratings lower"
            note = f"wrong sign: {what} the outcome ({coef:+.3f})"
            if col in vif:
                j = seg.vif_columns.index(col)
                rr = seg.corr[j].copy()
                rr[j] = 0.0
                other = int(np.argmax(np.abs(rr)))
                note += (
                    f", VIF {vif[col]:.1f}, most correlated with "
                    f"'{labels[seg.vif_columns[other]]}' (r = {rr[other]:+.2f})"
                )
            reasons.append(note + "; read as 0")
    worst_vif = max(vif.get(cl, 0.0), vif.get(ch, 0.0))
    if worst_vif > settings.max_vif:
        reasons.append(f"collinear: VIF {worst_vif:.0f} > {settings.max_vif:.0f}")
    reasons += [
        f"'{labels[col]}' left out: "
        + ("nobody in it" if dropped[col] == "empty" else "a combination of other columns")
        for col in (cl, ch)
        if col in dropped
    ]
    # A low or high column left out of the fit has no estimate: not classifiable.
    unestimated = cl in dropped or ch in dropped
    return {
        "wrong_sign": " and ".join(wrong),
        "vif_low": vif.get(cl, math.nan),
        "vif_high": vif.get(ch, math.nan),
        "reason": "; ".join(reasons),
        "insufficient": _too_small(s, min_seg)
        or bool(s.problem)
        or c.n_low < settings.min_cell
        or c.n_high < settings.min_cell
        or unestimated,
    }


# ---- helpers -----------------------------------------------------------------------


def _too_small(s: SegmentStats, min_seg: int) -> bool:
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


def _clip(v: float) -> float:
    return max(0.0, v) if math.isfinite(v) else math.nan


def _ia_interval(
    p: float, r: float, vp: float, vr: float, cpr: float, z: float
) -> tuple[float, float]:
    """Delta-method interval of IA = (r + p) / (r - p), the unclipped form, clipped to [-1, 1]."""
    d = r - p
    if not (math.isfinite(d) and d > 0):
        return math.nan, math.nan
    ia = (r + p) / d
    gp, gr = 2 * r / d**2, -2 * p / d**2
    var = gp * gp * vp + gr * gr * vr + 2 * gp * gr * cpr
    half = z * math.sqrt(max(var, 0.0))
    return max(-1.0, ia - half), min(1.0, ia + half)


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


def find_moments(
    con: duckdb.DuckDBPyConnection,
    table: str,
    spec: JourneySpec,
    segmentation: Sequence[str] | str | None = None,
    settings: Settings | None = None,
    *,
    params: Sequence[object] = (),
    cache_key: Hashable | None = None,
    engine: Engine = "numpy",
) -> MomentsResult:
    """Moments of truth of the whole data ("All") and of every segment of `segmentation`.

    `table` and its bound `params` are as in compute_stats.
    """
    settings = settings or Settings()
    stats = compute_stats(
        con, table, spec, segmentation, settings, params=params, cache_key=cache_key, engine=engine
    )
    return analyse_stats(stats, settings)


def outcome_unit(kind: str, measure: str) -> str:
    """The unit penalties and rewards are in: the outcome's own unit.

    "percentage points" for a 0/1 outcome (binary or promoter share; coefficients are
    fractions the pages show x100), "points of 0-10" for a recommend score, "scale points"
    for a scale outcome. Pages test only for "percentage points"; the rest is read as is.
    """
    if kind == "binary" or measure == "promoter":
        return "percentage points"
    return "points of 0-10" if kind == "recommend" else "scale points"


def guardrails(
    stats: SufficientStats, segments: pd.DataFrame, moments: pd.DataFrame, settings: Settings
) -> pd.DataFrame:
    """Warnings in plain words, each where its number is shown (WARNING_COLUMNS).

    kinds: id_outcome (an outcome unique per row), outcome_range (outside its declared
    range), one_value (a touchpoint everyone rated alike), thin_cell (an empty or tiny
    top-box or bottom-box cell), empty_boxes (that cell empty for every touchpoint: the
    scale or its missing codes are wrong), many_segments (a segment column with too many
    values),
    fit (a model that cannot be fitted), importance (Shapley or relative weights skipped).
    """
    out: list[tuple[str, str, str, str, str]] = []
    n_all = stats.segments[0].n if stats.segments else 0
    if n_all >= 20 and stats.outcome_distinct >= ID_LIKE_SHARE * n_all:
        out.append(
            (
                "",
                "",
                "",
                "id_outcome",
                f"The outcome has {stats.outcome_distinct} different values among {n_all} "
                "respondents: it looks like an id, not an outcome. Pick the column that "
                "measures the whole relationship (satisfaction, recommend, renewed).",
            )
        )
    rng = stats.outcome_range
    lo_y, hi_y = stats.outcome_min, stats.outcome_max
    if rng is not None and math.isfinite(lo_y) and (lo_y < rng[0] or hi_y > rng[1]):
        out.append(
            (
                "",
                "",
                "",
                "outcome_range",
                f"The outcome runs from {lo_y:g} to {hi_y:g}, outside its declared range "
                f"{rng[0]:g}-{rng[1]:g}: declare the codes outside it (e.g. 9 or 99 for "
                "'don't know') as missing, or correct the range.",
            )
        )
    if stats.segments:
        lv = stats.segments[0].levels
        for i in range(len(stats.columns)):
            given = np.flatnonzero(lv[i, :-1, 0] > 0)
            if len(given) == 1:
                value = stats.scale_at(i)[0] + int(given[0])
                out.append(
                    (
                        ALL,
                        stats.names[i],
                        stats.columns[i],
                        "one_value",
                        f"Everyone who rated {stats.names[i]} gave {value}: a touchpoint with "
                        "one value cannot explain the outcome; leave it out of the journey.",
                    )
                )
    everyone = moments[moments.segment == ALL] if len(moments) else moments
    for side, col in (("top", "n_high"), ("bottom", "n_low")):
        if len(everyone) and (everyone[col] == 0).all():
            cut = (
                f">= {stats.high_min}" if side == "top" else f"<= {stats.low_max}"
            )  # the survey scale's; own scales are named per touchpoint below
            out.append(
                (
                    "",
                    "",
                    "",
                    "empty_boxes",
                    f"Nobody is in the {side} box ({cut}) of any touchpoint, so no "
                    f"{'reward' if side == 'top' else 'penalty'} can be estimated and no "
                    "moment of truth found: check the scale (is its end a 'not used' or "
                    "'don't know' code?) and the missing codes.",
                )
            )
    # Only for segments big enough to analyse: small ones already say so as a whole.
    min_seg = settings.segment_minimum(len(stats.columns))
    big = {s.segment for s in stats.segments if s.n >= min_seg} | {ALL}
    # A pooled segment's (cmot.results.pooling) estimates rest on the journey's cells, not its own.
    own = {s.segment for s in stats.segments if s.cov is None}
    thin = (
        moments[
            moments.segment.isin(big & own)
            & ((moments.n_low < settings.min_cell) | (moments.n_high < settings.min_cell))
        ]
        if len(moments)
        else moments
    )
    for r in thin.itertuples(index=False):
        for side, n_cell in (("bottom", r.n_low), ("top", r.n_high)):
            if n_cell < settings.min_cell:
                what = "nobody" if n_cell == 0 else f"only {n_cell} respondents"
                out.append(
                    (
                        str(r.segment),
                        str(r.touchpoint),
                        str(r.column),
                        "thin_cell",
                        f"{what} in the {side} box of {r.touchpoint} (needs "
                        f"{settings.min_cell}): its {'penalty' if side == 'bottom' else 'reward'}"
                        " cannot be estimated; check the scale's cut-offs and missing codes.",
                    )
                )
    n_segs = len(stats.segments) - 1
    if stats.segmentation and n_segs > MANY_SEGMENTS:
        small = int(segments.insufficient.iloc[1:].sum()) if len(segments) > 1 else 0
        out.append(
            (
                "",
                "",
                "",
                "many_segments",
                f"{' / '.join(stats.segmentation)} has {n_segs} values ({small} too small to "
                "analyse): merge its codes into a few groups, or pick another segmentation.",
            )
        )
    for s in stats.segments:
        if s.problem:
            out.append(
                (
                    s.segment,
                    "",
                    "",
                    "fit",
                    f"Segment {s.segment}: {s.problem}; its results are left out. Merge it "
                    "with a similar segment or drop touchpoints few respondents rated.",
                )
            )
    imp = stats.importance
    if len(imp):
        # Segments too small to analyse say so as a whole: no importance note for them.
        notes = imp[imp.segment.isin(big)].drop_duplicates("segment")
        for col in ("shapley_note", "relative_weight_note"):
            if col not in notes:
                continue
            # One line per distinct reason, for the largest segment it applies to.
            firsts = notes[notes[col] != ""].drop_duplicates(col)
            for r in firsts.itertuples(index=False):
                out.append((str(r.segment), "", "", "importance", str(getattr(r, col))))
    return pd.DataFrame(out, columns=WARNING_COLUMNS)
