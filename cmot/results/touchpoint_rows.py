"""One touchpoint's row of MomentsResult.moments in one segment (`touchpoint_row`): who
is in its cells (_cells), how it is rated (_performance), what a low or top rating does to
the outcome with intervals and p-values (_effects), why its result is not to be read as is
(_checks), then risk and upside (cmot.results.stakes) and just enough (cmot.results.classes)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from cmot.engine.design import Layout
from cmot.engine.stats import SegmentStats, SufficientStats
from cmot.results.classes import just_enough
from cmot.results.segment_fit import SegmentModel, too_small
from cmot.results.stakes import risk_and_upside
from cmot.results.ztest import p_value
from cmot.settings import Settings


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


def touchpoint_row(
    stats: SufficientStats,
    seg: SegmentModel,
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


def _effects(seg: SegmentModel, lay: Layout, i: int, z: float) -> dict[str, Any]:
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
    seg: SegmentModel,
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
        "insufficient": too_small(s, min_seg)
        or bool(s.problem)
        or c.n_low < settings.min_cell
        or c.n_high < settings.min_cell
        or unestimated,
    }


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
