"""Moments of truth per segment from the sums: the entry points and the result.

find_moments computes the sums and hands them to analyse_stats, which applies the settings'
pooling (once per sums object, pooled_stats) before classify_moments. That walks each
segment: its fit and its own row (cmot.results.segment_fit), one row per touchpoint
(cmot.results.touchpoint_rows: performance, effects, checks, then risk and upside from
cmot.results.stakes), classes and actions (cmot.results.classes), the amount at stake
(cmot.results.stakes.at_stake); cmot.results.guardrails collects the warnings.
MomentsResult documents every column.

The sums live in cmot.engine and importance in cmot.engine.importance (their public names are
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
import pandas as pd

from cmot.engine.blocks import BLOCK_ROWS, HC3_LOOKUP_MIN_ROWS, TASK_ROWS, single_threaded_blas
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
from cmot.engine.sums import SumsPath, compute_stats
from cmot.results.classes import assign_classes
from cmot.results.guardrails import WARNING_COLUMNS, guardrails
from cmot.results.pooling import PairCovariance, PoolResult, partial_pool
from cmot.results.segment_fit import SegmentFit, segment_model, segment_row, too_small
from cmot.results.stakes import at_stake
from cmot.results.touchpoint_rows import touchpoint_row
from cmot.settings import ALL, POOLING_WORDS, HybridRule, Measure, Settings
from cmot.spec import JourneySpec

__all__ = [
    "ALL",
    "BLOCK_ROWS",
    "HC3_LOOKUP_MIN_ROWS",
    "MAX_SHAPLEY_TOUCHPOINTS",
    "MISSING",
    "TASK_ROWS",
    "HybridRule",
    "Layout",
    "Measure",
    "MomentsResult",
    "SegmentFit",
    "SegmentStats",
    "Settings",
    "SufficientStats",
    "SumsPath",
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
        seg = segment_model(s, stats, labels)
        fits[s.segment] = seg.fit
        size = _size_reason(s, stats.layout.t, min_seg, pool_min, settings)
        seg_rs = [
            touchpoint_row(stats, seg, i, z, min_seg, size, settings) for i in range(stats.layout.t)
        ]
        total_ris, n_mot = assign_classes(seg_rs, settings)  # rank, mot, class, adequate, action
        for r in seg_rs:
            r["at_stake"], r["stake_basis"] = at_stake(r["class"], r["risk"], r["upside"])
            if r["insufficient"]:  # insufficient means no number, anywhere (issue 23)
                r.update(dict.fromkeys(UNSUPPORTED, math.nan), ris_significant=False)
            r["own_share"] = own.get(s.segment, math.nan)
        rows += seg_rs
        seg_row = segment_row(stats, seg, total_ris, n_mot, min_seg, size, settings)
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
    if not too_small(s, min_seg):
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


def find_moments(
    con: duckdb.DuckDBPyConnection,
    table: str,
    spec: JourneySpec,
    segmentation: Sequence[str] | str | None = None,
    settings: Settings | None = None,
    *,
    params: Sequence[object] = (),
    cache_key: Hashable | None = None,
    engine: SumsPath = "numpy",
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
