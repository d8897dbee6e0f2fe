"""Tables a person reads: the Action plan and Compare's differences in plain words.

Headers are words (each defined where it appears: PLAN_HELP, DIFFERENCE_HELP), amounts in
the outcome's unit by the one formatter (cmot.headline.stake_text), shares as %, "–" where
there is nothing; the statistics behind them (standard errors, q-values) stay in the
CSV of `python -m cmot analyze` and under "How this is calculated".
"""

from __future__ import annotations

import math
from statistics import NormalDist

import pandas as pd

from cmot.charts import class_label
from cmot.headline import STAKE_MEANING, certainty, stake_text
from cmot.moments import MomentsResult
from cmot.summary import amount

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

    def num(v: float, fmt: str) -> str:
        return format(v, fmt) if math.isfinite(v) else EMPTY

    return pd.DataFrame(
        {
            "Stage": [str(s) if s else EMPTY for s in m.stage],
            "Touchpoint": m.touchpoint.astype(str).to_numpy(),
            "Class": [class_label(str(c)) for c in m["class"]],
            "What to do": [str(a).capitalize() if a else EMPTY for a in m.action],
            "At stake": [stake_text(float(v), unit) for v in m.at_stake],
            "What it means": [STAKE_MEANING.get(str(b), EMPTY) for b in m.stake_basis],
            "How sure": [sure.get(t, "") or EMPTY for t in m.touchpoint],
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
            "Just enough": [num(float(v), "g") for v in m.just_enough],
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


DIFFERENCE_HELP = {
    "Effect": "a low rating costs: how much lower the outcome is for a low rating than a "
    "middle one; a top rating adds: how much higher for a top rating",
    "95% interval": "the range the difference lies in with 95% confidence",
    "How sure": "clear: holds after allowing for every touchpoint compared; likely: the "
    "interval excludes zero, but with this many comparisons it could be chance; could be "
    "chance: the interval includes zero",
}
