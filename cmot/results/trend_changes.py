"""Changes between waves: penalty, reward and the box shares compared wave to wave, with
Benjamini-Hochberg q-values (`compare_waves`), class migrations (`migration`) and one
sentence per significant change (`change_sentence`). Each wave's own numbers are
cmot.results.trend's; did the fix work is cmot.results.trend_fixes.
Formulas: docs/METHODS.md, "Waves and trends".
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from statistics import NormalDist
from typing import Literal

import numpy as np
import pandas as pd

from cmot.errors import CmotError
from cmot.results.compare import adjust_bh
from cmot.results.summary import amount
from cmot.results.trend import TrendResult
from cmot.results.ztest import z_test

MEASURES = ("penalty", "reward", "bottom_box", "top_box")
MOMENT_CLASSES = ("vulnerability", "opportunity", "hybrid")
# Benjamini-Hochberg families: each (segment, wave pair), or every row of the comparison.
Family = Literal["segment", "all"]

_Z = NormalDist().inv_cdf


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
    for rows in fdr_families(changes, family):
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


def fdr_families(frame: pd.DataFrame, family: Family) -> list[np.ndarray]:
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


def percent(x: float) -> str:
    """A share as a whole percentage ("n/a" when not finite)."""
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
                f"the {box} share {verb} from {percent(v1)} to {percent(v2)} "
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
