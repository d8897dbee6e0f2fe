"""Tables a person reads: the Action plan and Compare's differences in plain words.

Headers are words (each defined where it appears: PLAN_HELP, DIFFERENCE_HELP), amounts in
the outcome's unit by the one formatter (cmot.results.headline.stake_text), shares as %, "–" where
there is nothing; the statistics behind them (standard errors, q-values) stay in the
CSV of `python -m cmot analyze` and under "How this is calculated".
"""

from __future__ import annotations

import math
from statistics import NormalDist

import pandas as pd

from cmot.present.scales import class_label
from cmot.results.headline import STAKE_MEANING, certainty, stake_text
from cmot.results.moments import MomentsResult
from cmot.results.summary import amount

EMPTY = "–"  # an empty cell: never "None" or "nan"
PLAN_HELP = {
    "Priority": "1 first: fix failing table stakes, then grow differentiators",
    "What to do": "fix, grow, improve, maintain (adequate already), monitor (little effect) "
    "or collect more responses",
    "At stake": "what the outcome would gain at this touchpoint today (see 'What it means'); "
    "not a forecast",
    "How sure": "clear, likely or could be chance (How this is calculated)",
    "Low raters": "share of those who rated it who gave a low rating",
    "Top raters": "share of those who rated it who gave a top rating",
    "Low rating costs": "how much lower the outcome is for a low rating than a middle one",
    "Top rating adds": "how much higher the outcome is for a top rating than a middle one",
    "Just enough": "the rating beyond which the outcome rises little: a target for a table "
    "stake (– when there is none)",
    "Note": "what the data cannot support, in words",
}


def _pct(v: float) -> str:
    return f"{v:.0%}" if math.isfinite(v) else EMPTY


def _note(reason: object) -> str:
    """A row's guardrail reason in plain words: a coefficient of the wrong sign is 'ignored
    (runs against the other ratings)' rather than 'wrong sign ... read as 0'."""
    text = str(reason or "")
    if not text:
        return EMPTY
    parts = []
    for part in text.split("; "):
        if part.startswith("wrong sign: "):
            what = part.removeprefix("wrong sign: ").split(" (")[0]
            part = f"{what}, against the other ratings: counted as no effect"
        elif part == "read as 0":
            continue
        parts.append(part)
    return "; ".join(parts) or EMPTY


def plan_rows(result: MomentsResult, plan: pd.DataFrame, segment: str) -> pd.DataFrame:
    """summary.action_plan's rows as a person reads them: words for headers (PLAN_HELP),
    the amount at stake by stake_text with what it means and how sure, shares as %, effects
    in the outcome's unit, '–' where there is nothing."""
    words = certainty(result)
    mine = words[words.segment == segment].set_index("touchpoint").certainty
    unit = result.unit
    out = pd.DataFrame(
        {
            "Priority": plan.priority.astype(int).to_numpy(),
            "What to do": [str(a).capitalize() for a in plan.action],
            "Touchpoint": plan.touchpoint.astype(str).to_numpy(),
            "Class": [class_label(str(c)) for c in plan["class"]],
            "At stake": [stake_text(float(v), unit) for v in plan.stake],
            "What it means": [STAKE_MEANING.get(str(b), EMPTY) for b in plan.stake_basis],
            "How sure": [mine.get(t, "") or EMPTY for t in plan.touchpoint],
            "Low raters": [_pct(float(v)) for v in plan.bottom_box],
            "Top raters": [_pct(float(v)) for v in plan.top_box],
            "Low rating costs": [stake_text(float(v), unit) for v in plan.penalty],
            "Top rating adds": [stake_text(float(v), unit) for v in plan.reward],
            "Just enough": [f"{v:g}" if math.isfinite(v) else EMPTY for v in plan.just_enough],
            "Note": [_note(r) for r in plan.reason],
        }
    )
    return out


MOMENT_HELP = {
    "Stage": "the journey stage the touchpoint belongs to",
    "Class": "vulnerability: a table stake (a low rating costs, a top one adds little); "
    "opportunity: a differentiator (a top rating lifts the outcome); hybrid: both; low "
    "impact: neither matters much",
    **{k: PLAN_HELP[k] for k in ("What to do", "At stake", "How sure")},
    "Rated by": "respondents who rated this touchpoint",
    "Average rating": "the mean rating on the survey's scale",
    **{k: PLAN_HELP[k] for k in ("Low raters", "Top raters")},
    "Low rating costs": PLAN_HELP["Low rating costs"] + ", with its 95% interval",
    "Top rating adds": PLAN_HELP["Top rating adds"] + ", with its 95% interval",
    **{k: PLAN_HELP[k] for k in ("Just enough", "Note")},
}


def _effect(v: float, lo: float, hi: float, unit: str) -> str:
    """'4.7 pts (2.1 to 7.3)': an effect by stake_text and its interval, '–' without one."""
    if not math.isfinite(v):
        return EMPTY
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return stake_text(v, unit)
    bare = [amount(x, unit).split(" ")[0] for x in (lo, hi)]  # the unit said once
    return f"{stake_text(v, unit)} ({bare[0]} to {bare[1]})"


def moment_rows(result: MomentsResult, segment: str) -> pd.DataFrame:
    """One segment's touchpoints in journey order as the Moments page shows them: headers
    in words (MOMENT_HELP), the amount at stake and the effects by stake_text in the
    outcome's unit, shares as %, '–' where there is nothing. Range of impact, impact
    asymmetry and the risk and upside apart stay in `python -m cmot analyze`'s CSV."""
    m = result.moments[result.moments.segment == segment]
    words = certainty(result)
    sure = words[words.segment == segment].set_index("touchpoint").certainty
    unit = result.unit
    base = _touchpoint_columns(m, unit)
    base.insert(4, "At stake", [stake_text(float(v), unit) for v in m.at_stake])
    base.insert(5, "What it means", [STAKE_MEANING.get(str(b), EMPTY) for b in m.stake_basis])
    base.insert(6, "How sure", [sure.get(t, "") or EMPTY for t in m.touchpoint])
    return base


def _touchpoint_columns(m: pd.DataFrame, unit: str) -> pd.DataFrame:
    """The columns the Moments and Trends tables share (MOMENT_HELP), one row per row of
    `m` (the engine's moments or trend rows)."""

    def num(v: float, fmt: str) -> str:
        return format(v, fmt) if math.isfinite(v) else EMPTY

    return pd.DataFrame(
        {
            "Stage": [str(s) if s else EMPTY for s in m.stage],
            "Touchpoint": m.touchpoint.astype(str).to_numpy(),
            "Class": [class_label(str(c)) for c in m["class"]],
            "What to do": [str(a).capitalize() if a else EMPTY for a in m.action],
            "Rated by": [num(float(v), ",.0f") for v in m.n],
            "Average rating": [num(float(v), ".1f") for v in m["mean"]],
            "Low raters": [_pct(float(v)) for v in m.bottom_box],
            "Top raters": [_pct(float(v)) for v in m.top_box],
            "Low rating costs": [
                _effect(float(v), float(lo), float(hi), unit)
                for v, lo, hi in zip(m.penalty, m.penalty_lo, m.penalty_hi, strict=True)
            ],
            "Top rating adds": [
                _effect(float(v), float(lo), float(hi), unit)
                for v, lo, hi in zip(m.reward, m.reward_lo, m.reward_hi, strict=True)
            ],
            "Just enough": [num(float(v), "g") for v in m.get("just_enough", [math.nan] * len(m))],
            "Note": [_note(r) for r in m.reason],
        }
    )


def difference_rows(diffs: pd.DataFrame, unit: str, alpha: float = 0.05) -> pd.DataFrame:
    """compare.compare_segments' rows for Compare's table: what a low rating costs and a top
    rating adds in each segment (stake_text: the outcome's unit), how much more in the
    first, its 95% interval and how sure ("clear" when q < α, "likely" when only p < α,
    "could be chance" otherwise: certainty_of's rule on the pair's Benjamini-Hochberg
    q-values); blank where a touchpoint was not tested."""
    if diffs.empty:
        return pd.DataFrame(columns=["Touchpoint", "Effect"])
    a, b = str(diffs.segment_a.iloc[0]), str(diffs.segment_b.iloc[0])
    z = NormalDist().inv_cdf(1 - alpha / 2)

    def sure(p: float, q: float) -> str:
        if not math.isfinite(p):
            return EMPTY
        return "clear" if q < alpha else "likely" if p < alpha else "could be chance"

    def interval(d: float, se: float) -> str:
        if not (math.isfinite(d) and math.isfinite(se)):
            return EMPTY
        lo, hi = amount(d - z * se, unit, signed=True), amount(d + z * se, unit, signed=True)
        return f"{lo} to {hi}"

    effect = {"penalty": "a low rating costs", "reward": "a top rating adds"}
    return pd.DataFrame(
        {
            "Touchpoint": diffs.touchpoint.astype(str).to_numpy(),
            "Effect": [effect.get(str(m), str(m)) for m in diffs.measure],
            a: [stake_text(float(v), unit) for v in diffs.value_a],
            b: [stake_text(float(v), unit) for v in diffs.value_b],
            f"How much more for {a}": [
                amount(float(v), unit, signed=True) if math.isfinite(v) else EMPTY
                for v in diffs.difference
            ],
            "95% interval": [
                interval(float(d), float(s))
                for d, s in zip(diffs.difference, diffs.se, strict=True)
            ],
            "How sure": [sure(float(p), float(q)) for p, q in zip(diffs.p, diffs.q, strict=True)],
            f"Class for {a}": [class_label(str(c)) for c in diffs.class_a],
            f"Class for {b}": [class_label(str(c)) for c in diffs.class_b],
        }
    )


CHANGE_HELP = {
    "Class then": "the touchpoint's class in the earlier wave",
    "Class now": "its class in the later wave",
    "Low rating costs": "how much more (+) or less (−) a low rating costs the outcome in the "
    "later wave, with its 95% interval",
    "Top rating adds": "how much more (+) or less (−) a top rating adds in the later wave, "
    "with its 95% interval",
    "Low raters": "change in the share who gave a low rating, in percentage points of those "
    "who rated it",
    "Top raters": "change in the share who gave a top rating, in percentage points",
    "How sure": "clear: the change holds after allowing for every touchpoint, measure and "
    "segment compared; could be chance: it does not",
    "Note": PLAN_HELP["Note"],
}


def _change(d: float, se: float, unit: str, z: float) -> str:
    """'+2.1 pts (−0.3 to +4.5)': a change between waves and its interval, '–' without."""
    if not math.isfinite(d):
        return EMPTY
    if not math.isfinite(se):
        return amount(d, unit, signed=True)
    bare = [amount(x, unit, signed=True).split(" ")[0] for x in (d - z * se, d + z * se)]
    return f"{amount(d, unit, signed=True)} ({bare[0]} to {bare[1]})"


def _share_change(v: float) -> str:
    return f"{100 * v:+.1f} pts" if math.isfinite(v) else EMPTY


def change_rows(changes: pd.DataFrame, unit: str, alpha: float = 0.05) -> pd.DataFrame:
    """trend_changes.compare_waves' rows for the Trends page (CHANGE_HELP): each change later −
    earlier in the outcome's unit with its 95% interval, share changes in percentage
    points, "clear" when its Benjamini-Hochberg q (p_adj) is below α, else "could be
    chance"; '–' where a measure was not estimated."""
    z = NormalDist().inv_cdf(1 - alpha / 2)
    c = changes
    return pd.DataFrame(
        {
            "Touchpoint": c.touchpoint.astype(str).to_numpy(),
            "From": c.from_wave.astype(str).to_numpy(),
            "To": c.to_wave.astype(str).to_numpy(),
            "Class then": [class_label(str(x)) for x in c.from_class],
            "Class now": [class_label(str(x)) for x in c.to_class],
            "Low rating costs": [
                _change(float(d), float(se), unit, z)
                for d, se in zip(c.d_penalty, c.d_penalty_se, strict=True)
            ],
            "Top rating adds": [
                _change(float(d), float(se), unit, z)
                for d, se in zip(c.d_reward, c.d_reward_se, strict=True)
            ],
            "Low raters": [_share_change(float(v)) for v in c.d_bottom_box],
            "Top raters": [_share_change(float(v)) for v in c.d_top_box],
            "How sure": [
                EMPTY if not math.isfinite(q) else "clear" if q < alpha else "could be chance"
                for q in c.p_adj.astype(float)
            ],
            "Note": [_note(r) for r in c.reason],
        }
    )


FIX_HELP = {
    "Class now": "the touchpoint's class in the later wave",
    "At stake then": "what the outcome would gain in the earlier wave if the touchpoint's low "
    "raters moved to the middle",
    "At stake now": "the same in the later wave",
    "Change": "now − then, with its 95% interval",
    "Verdict": "removed, reduced, unchanged, worse, or cannot tell (too little data)",
}


def fix_rows(fixes: pd.DataFrame, unit: str) -> pd.DataFrame:
    """trend_fixes.fix_check's rows for "Did the fix work" (FIX_HELP): the risk then and now by
    stake_text, the change with its 95% interval, the verdict."""
    f = fixes

    def change(d: float, lo: float, hi: float) -> str:
        if not math.isfinite(d):
            return EMPTY
        if not (math.isfinite(lo) and math.isfinite(hi)):
            return amount(d, unit, signed=True)
        bare = [amount(x, unit, signed=True).split(" ")[0] for x in (lo, hi)]
        return f"{amount(d, unit, signed=True)} ({bare[0]} to {bare[1]})"

    return pd.DataFrame(
        {
            "Touchpoint": f.touchpoint.astype(str).to_numpy(),
            "From": f.from_wave.astype(str).to_numpy(),
            "To": f.to_wave.astype(str).to_numpy(),
            "Class now": [class_label(str(x)) for x in f.to_class],
            "At stake then": [stake_text(float(v), unit) for v in f.risk_from],
            "At stake now": [stake_text(float(v), unit) for v in f.risk_to],
            "Change": [
                change(float(d), float(lo), float(hi))
                for d, lo, hi in zip(f.d_risk, f.d_risk_lo, f.d_risk_hi, strict=True)
            ],
            "Verdict": [str(v) if v else EMPTY for v in f.verdict],
        }
    )


def trend_rows(rows: pd.DataFrame, unit: str) -> pd.DataFrame:
    """One segment's rows of trend.compute_trend's table for the Trends page: the wave,
    then the Moments table's columns (MOMENT_HELP) without the amount at stake, which the
    chart above shows per wave."""
    out = _touchpoint_columns(rows, unit).drop(columns="Just enough")  # not per wave
    out.insert(0, "Wave", rows.wave.astype(str).to_numpy())
    return out


DRIVER_HELP = {
    "Moments of truth": "its moments of truth, largest range of impact first, with their class",
    "Own data": "the share of the segment's estimate that comes from its own respondents "
    "when segments are pooled (– when each segment stands alone)",
    "Note": PLAN_HELP["Note"],
}


def driver_rows(overview: pd.DataFrame) -> pd.DataFrame:
    """segments.driver_overview's rows for the Segments page (DRIVER_HELP): own data as %,
    '–' where there is nothing."""
    o = overview
    return pd.DataFrame(
        {
            "Segment": o.segment.astype(str).to_numpy(),
            "Respondents": [f"{int(v):,}" for v in o.respondents],
            "Moments of truth": [str(v) or EMPTY for v in o["moments of truth"]],
            "Own data": [_pct(float(v)) for v in o["own data"]],
            "Note": [_note(r) for r in o.note],
        }
    )


DIFFERENCE_HELP = {
    "Effect": "a low rating costs: how much lower the outcome is for a low rating than a "
    "middle one; a top rating adds: how much higher for a top rating",
    "95% interval": "the range the difference lies in with 95% confidence",
    "How sure": "clear: holds after allowing for every touchpoint compared; likely: the "
    "interval excludes zero, but with this many comparisons it could be chance; could be "
    "chance: the interval includes zero",
}
