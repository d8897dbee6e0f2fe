"""How segments differ: penalty and reward differences with z-tests, FDR, and flips."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd

from cmot.errors import CmotError
from cmot.moments import ALL, MomentsResult

COMPARE_COLUMNS = [
    "segment_a",
    "segment_b",
    "touchpoint",
    "column",
    "measure",  # "penalty" or "reward"
    "value_a",
    "value_b",
    "difference",  # value_a - value_b
    "se",
    "z",
    "p",
    "q",  # Benjamini-Hochberg adjusted over the pair's touchpoints and both measures
    "significant",  # q < alpha
    "class_a",
    "class_b",
]
FLIP_COLUMNS = [
    "touchpoint",
    "column",
    "vulnerable_in",
    "opportunity_in",
    "penalty",
    "penalty_se",
    "reward",
    "reward_se",
    "sentence",
]


def adjust_bh(p: np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values (q-values); NaN stays NaN and is not counted."""
    p = np.asarray(p, dtype=float)
    q = np.full_like(p, np.nan)
    ok = np.flatnonzero(np.isfinite(p))
    m = len(ok)
    if m == 0:
        return q
    order = ok[np.argsort(p[ok])]
    ranked = p[order] * m / np.arange(1, m + 1)
    q[order] = np.minimum(1.0, np.minimum.accumulate(ranked[::-1])[::-1])
    return q


def compare_segments(result: MomentsResult, a: str, b: str) -> pd.DataFrame:
    """Penalty and reward of every touchpoint, segment a against b (COMPARE_COLUMNS).

    The test is on the clipped values (P = max(0, -p), R = max(0, r)) with the two
    segments' HC3 errors as independent samples: z = (P_a - P_b) / sqrt(se_a² + se_b²);
    a touchpoint with no penalty in either segment shows no difference. Touchpoints
    insufficient in either segment are left untested (p NaN).
    """
    m = result.moments
    known = list(m.segment.unique())
    for s in (a, b):
        if s not in known:
            raise CmotError(f"No segment named {s!r}; segments: {known}.")
    if a == b:
        raise CmotError("Pick two different segments to compare.")
    ta = m[m.segment == a].reset_index(drop=True)
    tb = m[m.segment == b].reset_index(drop=True)
    untestable = (ta.insufficient | tb.insufficient).to_numpy()
    frames = []
    for measure in ("penalty", "reward"):
        va, vb = ta[measure].to_numpy(float), tb[measure].to_numpy(float)
        se = np.hypot(ta[f"{measure}_se"].to_numpy(float), tb[f"{measure}_se"].to_numpy(float))
        diff = va - vb
        with np.errstate(invalid="ignore", divide="ignore"):
            z = np.where(diff == 0, 0.0, diff / se)
        p = np.array([math.erfc(abs(v) / math.sqrt(2)) for v in z])
        p[untestable | ~np.isfinite(z)] = np.nan
        frames.append(
            pd.DataFrame(
                {
                    "segment_a": a,
                    "segment_b": b,
                    "touchpoint": ta.touchpoint,
                    "column": ta.column,
                    "measure": measure,
                    "value_a": va,
                    "value_b": vb,
                    "difference": diff,
                    "se": se,
                    "z": z,
                    "p": p,
                    "class_a": ta["class"],
                    "class_b": tb["class"],
                }
            )
        )
    out = pd.concat(frames, ignore_index=True)
    out["q"] = adjust_bh(out.p.to_numpy())
    out["significant"] = out.q < result.settings.alpha
    return out[COMPARE_COLUMNS]


def compare_all(result: MomentsResult) -> pd.DataFrame:
    """compare_segments for every pair of segments (not "All"); FDR within each pair."""
    segs = [s for s in result.moments.segment.unique() if s != ALL]
    frames = [compare_segments(result, a, b) for a, b in itertools.combinations(segs, 2)]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=COMPARE_COLUMNS)


def find_flips(result: MomentsResult) -> pd.DataFrame:
    """Touchpoints that are a vulnerability in one segment and an opportunity in another.

    Both classes must be moments of truth (significant RIS) and the defining side
    significant: the penalty where it is a vulnerability, the reward where it is an
    opportunity (FLIP_COLUMNS, one row per ordered pair of segments).
    """
    m = result.moments[result.moments.segment != ALL]
    alpha = result.settings.alpha
    vul = m[(m["class"] == "vulnerability") & (m.penalty_p < alpha)]
    opp = m[(m["class"] == "opportunity") & (m.reward_p < alpha)]
    rows = []
    for _, v in vul.iterrows():
        for _, o in opp[opp.column == v.column].iterrows():
            rows.append(
                [
                    v.touchpoint,
                    v.column,
                    v.segment,
                    o.segment,
                    v.penalty,
                    v.penalty_se,
                    o.reward,
                    o.reward_se,
                    flip_sentence(
                        v.touchpoint, v.segment, o.segment, v.penalty, o.reward, result.unit
                    ),
                ]
            )
    return pd.DataFrame(rows, columns=FLIP_COLUMNS)


def _amount(value: float, unit: str) -> str:
    if unit == "percentage points":
        return f"{100 * value:.0f} percentage points"
    return f"{value:.2f} points"


def flip_sentence(
    touchpoint: str,
    vulnerable_in: str,
    opportunity_in: str,
    penalty: float,
    reward: float,
    unit: str,
) -> str:
    """One plain sentence a strategy team can read out."""
    return (
        f"{touchpoint} is a vulnerability for {vulnerable_in} (a low rating costs "
        f"{_amount(penalty, unit)} of the outcome) but an opportunity for {opportunity_in} "
        f"(a top rating adds {_amount(reward, unit)})."
    )
