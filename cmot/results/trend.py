"""Moments over time: per-wave results, changes between waves, class migrations, and "did the
fix work".

Each wave is analysed on its own by the engine (cmot.engine.sums.compute_stats and
cmot.results.moments.classify_moments on that wave's rows), so a wave's numbers are exactly those of
a single-wave analysis of its rows. This module adds the standard errors of the box shares
and of the risk at stake (one extra GROUP BY per wave), and the comparisons between waves.
Formulas and guardrails: docs/METHODS.md, "Waves and trends".
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from statistics import NormalDist
from typing import Literal

import numpy as np
import pandas as pd

from cmot.engine.rows import segment_sql_expr
from cmot.engine.stats import SufficientStats
from cmot.engine.sums import Engine, compute_stats
from cmot.errors import CmotError
from cmot.names import W_COL, Y_COL, quote_ident
from cmot.results.compare import adjust_bh
from cmot.results.moments import ALL, MomentsResult, analyse_stats
from cmot.results.summary import amount
from cmot.results.ztest import z_test
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
MEASURES = ("penalty", "reward", "bottom_box", "top_box")
MOMENT_CLASSES = ("vulnerability", "opportunity", "hybrid")
VERDICTS = ("removed", "reduced", "unchanged", "worse", "cannot tell")
NO_RESPONDENTS = "no respondents in this wave"
NO_OUTCOME = "no respondent in this wave has an outcome"
# Benjamini-Hochberg families: each (segment, wave pair), or every row of the comparison.
Family = Literal["segment", "all"]


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


_Z = NormalDist().inv_cdf


def compute_trend(
    source: WaveSource,
    segmentation: Sequence[str] | str | None = None,
    settings: Settings | None = None,
    *,
    engine: Engine = "numpy",
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
        stats = compute_stats(
            wave.con,
            wave.relation,
            spec,
            seg or None,
            settings,
            params=wave.params,
            cache_key=wave.cache_key,
            engine=engine,
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


# ---- changes between waves ------------------------------------------------------------------


def wave_pairs(
    trend: TrendResult, pairs: Sequence[tuple[str, str]] | None = None
) -> list[tuple[str, str]]:
    """Consecutive waves by default; chosen pairs are checked against the waves."""
    if pairs is None:
        return list(zip(trend.waves[:-1], trend.waves[1:], strict=True))
    for a, b in pairs:
        for w in (a, b):
            if w not in trend.waves:
                raise CmotError(f"No wave {w!r}; waves: {', '.join(trend.waves)}.")
        if a == b:
            raise CmotError(f"Compare two different waves, not {a!r} with itself.")
    return list(pairs)


def migration(from_class: str, to_class: str, from_adequate: bool, to_adequate: bool) -> str:
    """How a touchpoint's class moved between two waves, in words ("" when it did not).

    "vulnerability -> adequate (maintain)" when a vulnerability's bottom box fell below the
    adequate share; "new moment (opportunity)" / "lost moment (was vulnerability)" when it
    became or stopped being a moment of truth; "not comparable" when either wave has too
    little data; otherwise "opportunity -> hybrid" and the like.
    """
    if "insufficient" in (from_class, to_class):
        return "" if from_class == to_class else "not comparable"
    was, now = from_class in MOMENT_CLASSES, to_class in MOMENT_CLASSES
    if was and not now:
        return f"lost moment (was {from_class})"
    if now and not was:
        return f"new moment ({to_class})"
    if from_class == to_class == "vulnerability" and from_adequate != to_adequate:
        return (
            "vulnerability -> adequate (maintain)"
            if to_adequate
            else "adequate -> vulnerability (fix)"
        )
    if from_class == to_class:
        return ""
    return f"{from_class} -> {to_class}"


CHANGE_COLUMNS = [
    "segment",
    "stage",
    "touchpoint",
    "column",
    "from_wave",
    "to_wave",
    "from_class",
    "to_class",
    "migration",
    *[
        f"{part}"
        for m in MEASURES
        for part in (
            f"{m}_from",
            f"{m}_to",
            f"d_{m}",
            f"d_{m}_se",
            f"d_{m}_lo",
            f"d_{m}_hi",
            f"d_{m}_p",
            f"d_{m}_q",
        )
    ],
    "p_adj",
    "significant",
    "reason",
    "sentence",
]


def compare_waves(
    trend: TrendResult,
    pairs: Sequence[tuple[str, str]] | None = None,
    family: Family = "all",
) -> pd.DataFrame:
    """Changes of penalty, reward and the bottom/top-box shares between two waves.

    One row per segment x touchpoint x pair (CHANGE_COLUMNS). d = later - earlier, SE
    sqrt(se1² + se2²) (independent samples), 95% interval, two-sided z-test p;
    Benjamini-Hochberg q across the touchpoints and the four measures of each (segment,
    pair) (family "segment"), or of every row at once (family "all": any change anywhere
    in the report is then FDR-controlled); p_adj is the row's smallest q and `significant`
    p_adj < alpha. Penalty and reward
    are untested when either wave's touchpoint is insufficient (reason says which wave);
    shares are tested whenever both waves have raters.
    """
    t = trend.trend
    alpha = trend.settings.alpha
    z_crit = _Z(1 - alpha / 2)
    frames = []
    for a, b in wave_pairs(trend, pairs):
        ta = t[t.wave == a].reset_index(drop=True)
        tb = t[t.wave == b].reset_index(drop=True)
        out = ta[["segment", "stage", "touchpoint", "column"]].copy()
        out["from_wave"], out["to_wave"] = a, b
        out["from_class"], out["to_class"] = ta["class"], tb["class"]
        out["migration"] = [
            migration(fc, tc, bool(fa), bool(tad))
            for fc, tc, fa, tad in zip(
                ta["class"], tb["class"], ta.adequate, tb.adequate, strict=True
            )
        ]
        untestable = (ta.insufficient.astype(bool) | tb.insufficient.astype(bool)).to_numpy()
        no_raters = ((ta.n <= 0) | (tb.n <= 0)).to_numpy()
        for m in MEASURES:
            v1, v2 = ta[m].to_numpy(float), tb[m].to_numpy(float)
            se = np.hypot(ta[f"{m}_se"].to_numpy(float), tb[f"{m}_se"].to_numpy(float))
            d = v2 - v1
            _, p = z_test(d, se)
            p[untestable if m in ("penalty", "reward") else no_raters] = math.nan
            out[f"{m}_from"], out[f"{m}_to"] = v1, v2
            out[f"d_{m}"], out[f"d_{m}_se"] = d, se
            out[f"d_{m}_lo"], out[f"d_{m}_hi"] = d - z_crit * se, d + z_crit * se
            out[f"d_{m}_p"] = p
        out["reason"] = [
            _change_reason(ra, rb, a, b) for ra, rb in zip(ta.reason, tb.reason, strict=True)
        ]
        frames.append(out)
    if not frames:
        return pd.DataFrame(columns=CHANGE_COLUMNS)
    changes = pd.concat(frames, ignore_index=True)
    for rows in _families(changes, family):
        ps = np.concatenate([changes[f"d_{m}_p"].to_numpy(float)[rows] for m in MEASURES])
        qs = adjust_bh(ps).reshape(len(MEASURES), len(rows))
        for k, m in enumerate(MEASURES):
            changes.loc[changes.index[rows], f"d_{m}_q"] = qs[k]
    q = changes[[f"d_{m}_q" for m in MEASURES]].to_numpy(float)
    finite = np.isfinite(q)
    changes["p_adj"] = np.where(
        finite.any(axis=1), np.where(finite, q, np.inf).min(axis=1), math.nan
    )
    changes["significant"] = (changes.p_adj < alpha).to_numpy()
    changes["sentence"] = [
        change_sentence(r, trend.unit, alpha) if r["significant"] else ""
        for r in changes.to_dict("records")
    ]
    return changes[CHANGE_COLUMNS]


def _families(frame: pd.DataFrame, family: Family) -> list[np.ndarray]:
    """Row positions of each Benjamini-Hochberg family."""
    if family == "all":
        return [np.arange(len(frame))]
    if family != "segment":
        raise CmotError(f"The FDR family is 'segment' or 'all', not {family!r}.")
    keys = frame.segment.astype(str) + "\0" + frame.from_wave + "\0" + frame.to_wave
    return [np.flatnonzero((keys == k).to_numpy()) for k in keys.unique()]


def _change_reason(ra: object, rb: object, a: str, b: str) -> str:
    parts = [f"{w}: {r}" for w, r in ((a, ra), (b, rb)) if isinstance(r, str) and r]
    return "; ".join(parts)


def _pct(x: float) -> str:
    return f"{100 * x:.0f}%" if math.isfinite(x) else "n/a"


def change_sentence(r: Mapping[str, object], unit: str, alpha: float = 0.05) -> str:
    """One plain sentence for a row of compare_waves: what changed significantly, and how."""
    bits = []
    for m in MEASURES:
        q = float(r[f"d_{m}_q"])  # type: ignore[arg-type]
        if not (math.isfinite(q) and q < alpha):
            continue
        v1, v2, d = (float(r[k]) for k in (f"{m}_from", f"{m}_to", f"d_{m}"))  # type: ignore[arg-type]
        lo, hi = float(r[f"d_{m}_lo"]), float(r[f"d_{m}_hi"])  # type: ignore[arg-type]
        verb = "rose" if d > 0 else "fell"
        if m in ("penalty", "reward"):
            what = "what a low rating costs" if m == "penalty" else "what a top rating adds"
            bits.append(
                f"{what} {verb} from {amount(v1, unit)} to {amount(v2, unit)} "
                f"({amount(d, unit, signed=True)}, 95% interval {amount(lo, unit, signed=True)}"
                f" to {amount(hi, unit, signed=True)})"
            )
        else:
            box = "bottom-box" if m == "bottom_box" else "top-box"
            share = "percentage points"
            bits.append(
                f"the {box} share {verb} from {_pct(v1)} to {_pct(v2)} "
                f"({amount(d, share, signed=True)}, 95% interval {amount(lo, share, signed=True)}"
                f" to {amount(hi, share, signed=True)})"
            )
    if not bits:
        return ""
    text = f"{r['touchpoint']} ({r['segment']}), {r['from_wave']} to {r['to_wave']}: " + "; ".join(
        bits
    )
    if r.get("migration"):
        text += f"; class: {r['migration']}"
    return text + "."


# ---- did the fix work -----------------------------------------------------------------------

FIX_COLUMNS = [
    "segment",
    "touchpoint",
    "column",
    "from_wave",
    "to_wave",
    "to_class",
    "bottom_box_from",
    "bottom_box_to",
    "risk_from",
    "risk_from_se",
    "risk_to",
    "risk_to_se",
    "risk_to_lo",
    "risk_to_hi",
    "d_risk",
    "d_risk_se",
    "d_risk_lo",
    "d_risk_hi",
    "p",
    "q",
    "verdict",
    "reason",
    "sentence",
]


def fix_verdict(d_risk: float, q: float, risk_to_lo: float, alpha: float = 0.05) -> str:
    """The rule, from the risk difference's test (q after Benjamini-Hochberg):

    removed: a significant decrease and the later risk's interval reaches 0;
    reduced: a significant decrease, the later risk's interval above 0;
    worse: a significant increase; unchanged: no significant change;
    cannot tell: the difference could not be tested (too little data in a wave).
    """
    if not math.isfinite(q):
        return "cannot tell"
    if q >= alpha:
        return "unchanged"
    if d_risk > 0:
        return "worse"
    return "removed" if risk_to_lo <= 0 else "reduced"


def fix_check(
    trend: TrendResult,
    pairs: Sequence[tuple[str, str]] | None = None,
    family: Family = "all",
) -> pd.DataFrame:
    """For each vulnerability of the earlier wave: bottom-box share and risk at stake then and
    now (outcome units), the risk's change with its interval, and the verdict (FIX_COLUMNS).

    risk = P x share of all respondents in the bottom box (the engine's `risk` column); its
    SE by the delta method, sqrt((b·se_P)² + (P·se_b)²); the change's SE sqrt(se1² + se2²);
    BH across the vulnerabilities of each (segment, pair), or of all rows (family "all").
    See fix_verdict for the rule.
    """
    t = trend.trend
    alpha = trend.settings.alpha
    z_crit = _Z(1 - alpha / 2)
    frames = []
    for a, b in wave_pairs(trend, pairs):
        ta = t[t.wave == a].reset_index(drop=True)
        tb = t[t.wave == b].reset_index(drop=True)
        vul = (ta["class"] == "vulnerability").to_numpy()
        if not vul.any():
            continue
        ta, tb = ta[vul].reset_index(drop=True), tb[vul].reset_index(drop=True)
        out = ta[["segment", "touchpoint", "column"]].copy()
        out["from_wave"], out["to_wave"], out["to_class"] = a, b, tb["class"]
        out["bottom_box_from"], out["bottom_box_to"] = ta.bottom_box, tb.bottom_box
        out["risk_from"], out["risk_from_se"] = ta.risk, ta.risk_se
        out["risk_to"], out["risk_to_se"] = tb.risk, tb.risk_se
        out["risk_to_lo"] = tb.risk - z_crit * tb.risk_se
        out["risk_to_hi"] = tb.risk + z_crit * tb.risk_se
        d = (tb.risk - ta.risk).to_numpy(float)
        se = np.hypot(ta.risk_se.to_numpy(float), tb.risk_se.to_numpy(float))
        out["d_risk"], out["d_risk_se"] = d, se
        out["d_risk_lo"], out["d_risk_hi"] = d - z_crit * se, d + z_crit * se
        _, p = z_test(d, se)
        p[tb.insufficient.astype(bool).to_numpy()] = math.nan
        out["p"] = p
        out["to_reason"] = tb.reason.to_numpy()
        frames.append(out)
    if not frames:
        return pd.DataFrame(columns=FIX_COLUMNS)
    fixes = pd.concat(frames, ignore_index=True)
    fixes["q"] = math.nan
    for rows in _families(fixes, family):
        fixes.loc[fixes.index[rows], "q"] = adjust_bh(fixes.p.to_numpy(float)[rows])
    fixes["verdict"] = [
        fix_verdict(dd, qq, lo, alpha)
        for dd, qq, lo in zip(fixes.d_risk, fixes.q, fixes.risk_to_lo, strict=True)
    ]
    fixes["reason"] = [
        f"{b}: {r}" if v == "cannot tell" and isinstance(r, str) and r else ""
        for v, r, b in zip(fixes.verdict, fixes.to_reason, fixes.to_wave, strict=True)
    ]
    fixes["sentence"] = [fix_sentence(r, trend.unit) for r in fixes.to_dict("records")]
    return fixes[FIX_COLUMNS]


def fix_sentence(r: Mapping[str, object], unit: str) -> str:
    """The verdict in one sentence, with the risk then and now and the change's interval."""
    head = f"{r['touchpoint']} ({r['segment']}), a vulnerability in {r['from_wave']}"
    v = str(r["verdict"])
    if v == "cannot tell":
        return f"{head}: cannot tell in {r['to_wave']} ({r['reason'] or 'too little data'})."
    risk_from, risk_to = float(r["risk_from"]), float(r["risk_to"])  # type: ignore[arg-type]
    lo, hi = float(r["d_risk_lo"]), float(r["d_risk_hi"])  # type: ignore[arg-type]
    says = {
        "removed": "risk removed",
        "reduced": "risk reduced",
        "unchanged": "risk unchanged",
        "worse": "risk worse",
    }[v]
    return (
        f"{head}: {says} in {r['to_wave']}, {amount(risk_from, unit)} at stake then, "
        f"{amount(risk_to, unit)} now (change 95% interval {amount(lo, unit, signed=True)} to "
        f"{amount(hi, unit, signed=True)}); bottom-box share {_pct(float(r['bottom_box_from']))}"  # type: ignore[arg-type]
        f" then, {_pct(float(r['bottom_box_to']))} now."  # type: ignore[arg-type]
    )
