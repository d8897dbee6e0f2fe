"""Moments over time, wave by wave: each wave's results and the tidy per-wave table
(`compute_trend` -> `TrendResult`).

Each wave is analysed on its own by the engine (cmot.engine.engines.DuckDBEngine.statistics and
cmot.results.moments.classify_moments on that wave's rows), so a wave's numbers are exactly those of
a single-wave analysis of its rows. This module adds the standard errors of the box shares
and of the risk at stake (one extra GROUP BY per wave); the changes between waves are
cmot.results.trend_changes, did the fix work cmot.results.trend_fixes.
Formulas and guardrails: docs/METHODS.md, "Waves and trends".
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from cmot.engine.engines import DuckDBEngine
from cmot.engine.rows import segment_sql_expr
from cmot.engine.stats import SufficientStats
from cmot.engine.sums import SumsPath
from cmot.engine.view import Query
from cmot.errors import CmotError
from cmot.names import W_COL, Y_COL, quote_ident
from cmot.results.moments import ALL, MomentsResult, analyse_stats
from cmot.settings import Settings
from cmot.spec import JourneySpec
from cmot.waves.sources import Wave, WaveSource

# The per-wave table (one row per wave x segment x touchpoint); see TrendResult.
# TrendResult.segments: each wave's segments, with the own share of a pooled estimate.
SEGMENT_COLUMNS = [
    "wave",
    "segment",
    "n",
    "weight_sum",
    "outcome_mean",
    "insufficient",
    "reason",
    "own_share",
]
TREND_COLUMNS = [
    "wave",
    "segment",
    "stage",
    "touchpoint",
    "column",
    "n",
    "mean",
    "bottom_box",
    "bottom_box_se",
    "top_box",
    "top_box_se",
    "penalty",
    "penalty_se",
    "penalty_lo",
    "penalty_hi",
    "reward",
    "reward_se",
    "reward_lo",
    "reward_hi",
    "ris",
    "ia",
    "mot",
    "class",
    "adequate",
    "action",
    "risk",
    "risk_se",
    "upside",
    "insufficient",
    "reason",
]
NO_RESPONDENTS = "no respondents in this wave"
NO_OUTCOME = "no respondent in this wave has an outcome"


@dataclass(frozen=True)
class TrendResult:
    """The engine's results per wave and the tidy per-wave table.

    trend (TREND_COLUMNS, waves in order, then segments, then journey order): the engine's
    columns for that wave's rows, plus bottom_box_se / top_box_se (weighted-proportion
    standard errors among those who rated) and risk_se (delta method for P x bottom-box
    share of all respondents). A segment absent from a wave has a row per touchpoint with
    n 0, class "insufficient" and reason "no respondents in this wave".
    segments: wave, segment, n, weight_sum, outcome_mean, insufficient, reason.
    results: each wave's MomentsResult (its warnings, importance, fits).
    """

    waves: tuple[str, ...]
    trend: pd.DataFrame
    segments: pd.DataFrame
    results: Mapping[str, MomentsResult]
    settings: Settings
    unit: str
    segmentation: tuple[str, ...]
    notes: tuple[str, ...] = ()


def compute_trend(
    source: WaveSource,
    segmentation: Sequence[str] | str | None = None,
    settings: Settings | None = None,
    *,
    engine: SumsPath = "numpy",
) -> TrendResult:
    """Moments of truth of every wave x segment (and "All"), each wave analysed on its own."""
    settings = settings or Settings()
    seg = (segmentation,) if isinstance(segmentation, str) else tuple(segmentation or ())
    spec = source.spec
    results: dict[str, MomentsResult] = {}
    frames, seg_frames = [], []
    empty: dict[str, str] = {}  # waves where nobody has an outcome: their rows say so
    for wave in source.waves:
        if _usable_rows(wave) == 0:
            empty[wave.label] = NO_OUTCOME
            continue
        query = Query(wave.relation, wave.params, seg)
        stats = DuckDBEngine(wave.con, engine).statistics(
            query, spec, settings, cache_key=wave.cache_key
        )
        res = analyse_stats(stats, settings)
        results[wave.label] = res
        m = res.moments.copy()
        shares = _share_errors(wave, spec, seg, stats)
        m = m.merge(shares, on=["segment", "column"], how="left", validate="one_to_one")
        m["risk_se"] = np.sqrt(
            (m.risk_share * m.penalty_se) ** 2 + (m.penalty * m.risk_share_se) ** 2
        )
        # A penalty with no estimate (a dropped cell) has no risk error either.
        m.loc[~np.isfinite(m.penalty_se.to_numpy(float)), "risk_se"] = math.nan
        m.insert(0, "wave", wave.label)
        frames.append(m)
        s = res.segments[SEGMENT_COLUMNS[1:]]
        seg_frames.append(s.assign(wave=wave.label))
    if not results:
        raise CmotError(
            "No respondent of any wave has an outcome; check the outcome column and its values."
        )
    segs = _segment_order(seg_frames)
    trend = _fill_missing(pd.concat(frames, ignore_index=True), source, segs, spec, empty)
    segments = pd.concat(seg_frames, ignore_index=True)
    segments = _fill_segments(segments, source.labels, segs, empty)
    first = next(iter(results.values()))
    notes = (*source.notes, *[f"Wave {w}: {why}; its rows say so." for w, why in empty.items()])
    return TrendResult(
        waves=source.labels,
        trend=trend[TREND_COLUMNS],
        segments=segments,
        results=results,
        settings=settings,
        unit=first.unit,
        segmentation=seg,
        notes=notes,
    )


def _usable_rows(wave: Wave) -> int:
    """Rows the engine would read (outcome and weight present)."""
    sql = (
        f"SELECT count(*) FROM {wave.relation} WHERE {quote_ident(Y_COL)} IS NOT NULL "
        f"AND {quote_ident(W_COL)} IS NOT NULL"
    )
    return int(wave.con.execute(sql, list(wave.params)).fetchall()[0][0])


def _share_errors(
    wave: Wave, spec: JourneySpec, seg: tuple[str, ...], stats: SufficientStats
) -> pd.DataFrame:
    """Weighted-proportion standard errors of the box shares, and the risk's share.

    For a share p = Σ w·x / Σ w (x = 1 in the box) the linearised variance is
    Σ w²(x - p)² / (Σ w)² = (Σ w²x·(1 - 2p) + p²·Σ w²) / (Σ w)²; it needs Σ w² per box,
    which the engine's sums do not hold, hence one GROUP BY over the wave's rows. The rows
    and cut-offs are the engine's (outcome and weight present; low <= low_max, high >=
    high_min of each touchpoint's own scale).
    """
    w = "CAST(" + quote_ident(W_COL) + " AS DOUBLE)"
    aggs = ["SUM(w)", "SUM(w * w)"]
    for i, col in enumerate(stats.columns):
        c = f"CAST({quote_ident(col)} AS INTEGER)"
        _, _, low_max, high_min = stats.scale_at(i)
        # Integers from the spec's scale, formatted as build_stats_sql does (no user text).
        for cond in (
            f"{c} IS NOT NULL",
            f"{c} <= {int(low_max)}",
            f"{c} >= {int(high_min)}",
        ):
            aggs += [f"SUM(CASE WHEN {cond} THEN w END)", f"SUM(CASE WHEN {cond} THEN w * w END)"]
    grouping = "GROUP BY GROUPING SETS ((seg), ())" if seg else ""
    flag = "GROUPING(seg)" if seg else "1"
    name = "seg" if seg else "NULL"
    sql = (
        f"SELECT {flag} AS whole, {name}, {', '.join(aggs)} FROM ("
        f"SELECT {segment_sql_expr(seg)} AS seg, {w} AS w, "
        + ", ".join(quote_ident(c) for c in stats.columns)
        + f" FROM {wave.relation} WHERE {quote_ident(Y_COL)} IS NOT NULL "
        f"AND {quote_ident(W_COL)} IS NOT NULL) {grouping}"
    )
    rows = wave.con.execute(sql, list(wave.params)).fetchall()
    out = []
    for r in rows:
        name = ALL if r[0] == 1 else str(r[1])
        sw, sw2 = _f(r[2]), _f(r[3])
        for i, col in enumerate(stats.columns):
            rated, rated2, low, low2, high, high2 = (_f(v) for v in r[4 + 6 * i : 10 + 6 * i])
            out.append(
                {
                    "segment": name,
                    "column": col,
                    "bottom_box_se": _share_se(low, low2, rated, rated2),
                    "top_box_se": _share_se(high, high2, rated, rated2),
                    "risk_share": low / sw if sw > 0 else math.nan,
                    "risk_share_se": _share_se(low, low2, sw, sw2),
                }
            )
    return pd.DataFrame(
        out,
        columns=["segment", "column", "bottom_box_se", "top_box_se", "risk_share", "risk_share_se"],
    )


def _f(v: object) -> float:
    return 0.0 if v is None else float(v)  # type: ignore[arg-type]


def _share_se(s: float, s2: float, total: float, total2: float) -> float:
    """SE of p = s / total from Σw·x = s, Σw²·x = s2, Σw = total, Σw² = total2."""
    if total <= 0:
        return math.nan
    p = s / total
    var = s2 * (1 - 2 * p) + p * p * total2
    return math.sqrt(max(var, 0.0)) / total


def _segment_order(seg_frames: list[pd.DataFrame]) -> list[str]:
    seen: dict[str, None] = {}
    for f in seg_frames:
        for s in f.segment:
            seen.setdefault(str(s), None)
    return list(seen)


def _fill_missing(
    trend: pd.DataFrame,
    source: WaveSource,
    segs: list[str],
    spec: JourneySpec,
    empty: Mapping[str, str],
) -> pd.DataFrame:
    """A row for every wave x segment x touchpoint: a segment a wave lacks says so."""
    cols = list(spec.touchpoint_columns)
    stage_of = {c: s.name for s in spec.stages for c in s.touchpoints}
    name_of = {c: _display(spec, c) for c in cols}
    have = set(zip(trend.wave, trend.segment, strict=True))
    shown = dict(zip(trend.column, trend.touchpoint, strict=True))  # the engine's names
    extra = [
        {
            "wave": w,
            "segment": s,
            "stage": stage_of[c],
            "touchpoint": shown.get(c, name_of[c]),
            "column": c,
            "n": 0,
            "class": "insufficient",
            "insufficient": True,
            "mot": False,
            "adequate": False,
            "action": "collect more responses",
            "reason": empty.get(w, NO_RESPONDENTS),
        }
        for w in source.labels
        for s in segs
        if (w, s) not in have
        for c in cols
    ]
    if extra:
        trend = pd.concat([trend, pd.DataFrame(extra)], ignore_index=True)
    wave_rank = {w: k for k, w in enumerate(source.labels)}
    seg_rank = {s: k for k, s in enumerate(segs)}
    col_rank = {c: k for k, c in enumerate(cols)}
    order = np.lexsort(
        (
            trend.column.map(col_rank).to_numpy(),
            trend.segment.map(seg_rank).to_numpy(),
            trend.wave.map(wave_rank).to_numpy(),
        )
    )
    return trend.iloc[order].reset_index(drop=True)


def _display(spec: JourneySpec, column: str) -> str:
    try:
        return spec.touchpoint(column).label or column
    except KeyError:
        return column


def _fill_segments(
    segments: pd.DataFrame, waves: Sequence[str], segs: list[str], empty: Mapping[str, str]
) -> pd.DataFrame:
    have = set(zip(segments.wave, segments.segment, strict=True))
    extra = [
        {"wave": w, "segment": s, "n": 0, "weight_sum": 0.0, "insufficient": True}
        | {"outcome_mean": math.nan, "reason": empty.get(w, NO_RESPONDENTS), "own_share": math.nan}
        for w in waves
        for s in segs
        if (w, s) not in have
    ]
    if extra:
        segments = pd.concat([segments, pd.DataFrame(extra)], ignore_index=True)
    cols = SEGMENT_COLUMNS
    rank = {w: k for k, w in enumerate(waves)}
    srank = {s: k for k, s in enumerate(segs)}
    order = np.lexsort((segments.segment.map(srank).to_numpy(), segments.wave.map(rank).to_numpy()))
    return segments.iloc[order][cols].reset_index(drop=True)
