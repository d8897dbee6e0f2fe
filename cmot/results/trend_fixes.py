"""Did the fix work: for each vulnerability of an earlier wave, its bottom-box share and
risk at stake then and now, the risk's change with its interval, and the verdict
(`fix_check`, `fix_verdict`, `fix_sentence`). Formulas: docs/METHODS.md, "Waves and trends".
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from statistics import NormalDist

import numpy as np
import pandas as pd

from cmot.results.compare import adjust_bh
from cmot.results.summary import amount
from cmot.results.trend import TrendResult
from cmot.results.trend_changes import Family, fdr_families, percent, wave_pairs
from cmot.results.ztest import z_test

VERDICTS = ("removed", "reduced", "unchanged", "worse", "cannot tell")

_Z = NormalDist().inv_cdf

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
    for rows in fdr_families(fixes, family):
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
        f"{amount(hi, unit, signed=True)}); bottom-box share {percent(float(r['bottom_box_from']))}"  # type: ignore[arg-type]
        f" then, {percent(float(r['bottom_box_to']))} now."  # type: ignore[arg-type]
    )
