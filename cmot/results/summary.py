"""Plain-language summaries of a result: stakes, the headline difference, action plans, at-risk."""

from __future__ import annotations

import math
from collections.abc import Sequence

import duckdb
import numpy as np
import pandas as pd

from cmot.names import ID_COL, ROW_COL, quote_ident
from cmot.results.compare import compare_segments, pair_tests
from cmot.results.moments import ALL, MomentsResult
from cmot.spec import JourneySpec

ACTION_ORDER = ("fix", "grow", "improve", "maintain", "monitor", "collect more responses")
ACTION_TEXT = {
    "fix": "Fix: a table stake failing too many customers",
    "grow": "Grow: a differentiator with room to delight",
    "improve": "Improve: failing and excelling both matter",
    "maintain": "Maintain: adequate already, do not over-invest",
    "monitor": "Monitor: little effect on the outcome",
    "collect more responses": "Collect more responses before deciding",
}


def amount(value: float, unit: str, signed: bool = False) -> str:
    """An effect in outcome units as an executive reads it ('12 pts' or '0.45 points')."""
    if not math.isfinite(value):
        return "n/a"
    if unit == "percentage points":
        return f"{100 * value:+.1f} pts" if signed else f"{100 * value:.1f} pts"
    return f"{value:+.2f} points" if signed else f"{value:.2f} points"


def segments_of(result: MomentsResult) -> list[str]:
    """The segments to show, in reading order: those with enough data first, largest first,
    then the insufficient ones (largest first); "All" when the data is not segmented.

    Pages default to the first few, so they open on the largest segments with enough data,
    never on the alphabetically first codes ("0", "10") that are too small to read.
    """
    segs = result.segments[result.segments.segment != ALL]
    if segs.empty:
        return [ALL]
    ordered = segs.assign(_size=-segs.n).sort_values(["insufficient", "_size"], kind="stable")
    return [str(s) for s in ordered.segment]


STAKE_COLUMNS = ["segment", "touchpoint", "class", "at_stake", "stake_basis"]


def top_stakes(result: MomentsResult, segments: Sequence[str], n: int = 5) -> pd.DataFrame:
    """The n moments of truth most at stake among `segments`, largest first, each once.

    Ranked by the engine's `at_stake` (risk for a vulnerability, upside for an opportunity,
    risk + upside for a hybrid; docs/METHODS.md "What is at stake"), in outcome units; ties
    keep the segments' and the journey's order. Columns: STAKE_COLUMNS.
    """
    m = result.moments
    m = m[m.segment.isin(list(segments)) & m.at_stake.notna()]
    top = m.sort_values("at_stake", ascending=False, kind="stable").head(n)
    return top[STAKE_COLUMNS].reset_index(drop=True)


def biggest_difference(result: MomentsResult, segments: Sequence[str]) -> pd.Series | None:
    """The largest significant difference in penalty or reward between two of `segments`
    (a row of compare.compare_segments, significant after Benjamini-Hochberg), or None when
    no two segments differ significantly (or fewer than two are given)."""
    segs = [s for s in segments if s != ALL]
    best: tuple[float, str, str, int] | None = None  # |difference|, a, b, row of the pair
    alpha = result.settings.alpha
    for i, a in enumerate(segs):
        for b in segs[i + 1 :]:
            # The pair's tests as arrays: its frame is made for the winning pair only.
            t = pair_tests(result, a, b)
            diff = np.concatenate([t.tests["penalty"][2], t.tests["reward"][2]])
            significant = t.q < alpha
            if not significant.any():
                continue
            # The first largest |difference| among the significant rows (as idxmax).
            k = int(np.argmax(np.where(significant, np.abs(diff), -np.inf)))
            if best is None or abs(diff[k]) > best[0]:
                best = (abs(diff[k]), a, b, k)
    if best is None:
        return None
    return compare_segments(result, best[1], best[2]).loc[best[3]]


# The banner when no two segments differ: plain words; the test behind it is named under
# "How this is calculated" (docs/METHODS.md, "Across segments").
NO_DIFFERENCE = (
    "No segment differs from another by more than chance in what a low or top rating does "
    "to the outcome: read the segments' moments as one picture."
)


PICK_SEGMENTS = "Pick a segmentation with two or more segments to see how they differ."


def headline(result: MomentsResult, segments: Sequence[str]) -> str:
    """One sentence: the largest significant difference in penalty or reward between two of
    `segments` (after Benjamini-Hochberg), or that none stands out."""
    if len([s for s in segments if s != ALL]) < 2:
        return PICK_SEGMENTS
    return difference_sentence(result, biggest_difference(result, segments))


def difference_sentence(result: MomentsResult, best: pd.Series | None) -> str:
    """biggest_difference's row as one sentence (NO_DIFFERENCE for None)."""
    if best is None:
        return NO_DIFFERENCE
    hi, lo = (
        (best.segment_a, best.segment_b)
        if best.difference > 0
        else (best.segment_b, best.segment_a)
    )
    v_hi, v_lo = max(best.value_a, best.value_b), min(best.value_a, best.value_b)
    what = "a low rating costs" if best.measure == "penalty" else "a top rating adds"
    # The effect per respondent is not the moment's amount at stake (it counts how many
    # rate it low, or below the top): name that one too, the number every page shows for
    # this moment, so the banner and the lists below never seem to disagree.
    m = result.moments
    row = m[(m.segment == hi) & (m.touchpoint == best.touchpoint)]
    stake = float(row.iloc[0].at_stake) if not row.empty else math.nan
    at_stake = f" ({amount(stake, result.unit)} at stake there)" if math.isfinite(stake) else ""
    return (
        f"The biggest difference: at {best.touchpoint}, {what} {amount(v_hi, result.unit)} "
        f"of the outcome per respondent for {hi}{at_stake} but {amount(v_lo, result.unit)} "
        f"for {lo}."
    )


def action_plan(result: MomentsResult, segment: str) -> pd.DataFrame:
    """One segment's touchpoints in priority order: fix, grow, improve, maintain (adequate
    vulnerabilities: do not over-invest), each by what is at stake, largest first; then
    monitor and collect more responses, which have nothing at stake (NaN), in journey order.

    Columns: priority, action, touchpoint, class, stake (the engine's `at_stake`, outcome
    units), stake_basis, why, penalty, reward, bottom_box, top_box, just_enough, reason.
    """
    m = result.moments[result.moments.segment == segment].copy()
    m["stake"] = m.at_stake
    m["order"] = [ACTION_ORDER.index(a) for a in m.action]
    m = m.sort_values(["order", "stake"], ascending=[True, False], kind="stable")
    m["why"] = [ACTION_TEXT[a] for a in m.action]
    m["priority"] = range(1, len(m) + 1)
    return m[
        [
            "priority",
            "action",
            "touchpoint",
            "class",
            "stake",
            "stake_basis",
            "why",
            "penalty",
            "reward",
            "bottom_box",
            "top_box",
            "just_enough",
            "reason",
        ]
    ].reset_index(drop=True)


def at_risk(
    con: duckdb.DuckDBPyConnection,
    relation: str,
    spec: JourneySpec,
    segment_sql: str | None,
    segment: str,
    columns: Sequence[str],
    low_max: int,
    *,
    params: Sequence[object] = (),
) -> pd.DataFrame:
    """Respondents of `segment` who rated at least one of `columns` (its vulnerabilities) in
    the bottom box: id, segment, how many of those they rated low, their ratings there, and their
    comments when the spec has comment columns (unmasked: the analyst follows up; mask with
    `cmot.text.for_display` where it is shown).

    `relation` is the (possibly filtered) dataset relation, its `?` placeholders bound to
    `params` in order; `segment_sql` the SQL expression giving a row's segment (None: every
    row is in "All").
    """
    return _box_respondents(
        con, relation, spec, segment_sql, segment, columns, "<=", low_max, "low ratings", params
    )


def delight(
    con: duckdb.DuckDBPyConnection,
    relation: str,
    spec: JourneySpec,
    segment_sql: str | None,
    segment: str,
    columns: Sequence[str],
    high_min: int,
    *,
    params: Sequence[object] = (),
) -> pd.DataFrame:
    """Respondents of `segment` who rated at least one of `columns` (its opportunities) in
    the top box, for reinforcement such as a referral ask: id, segment, how many of those
    they rated high, their ratings there, and their comments when the spec has comment columns.
    Arguments as for `at_risk`."""
    return _box_respondents(
        con, relation, spec, segment_sql, segment, columns, ">=", high_min, "high ratings", params
    )


def _box_respondents(
    con: duckdb.DuckDBPyConnection,
    relation: str,
    spec: JourneySpec,
    segment_sql: str | None,
    segment: str,
    columns: Sequence[str],
    op: str,
    cut: int,
    count_name: str,
    params: Sequence[object],
) -> pd.DataFrame:
    """The closed-loop list behind `at_risk` (op "<=") and `delight` (op ">=")."""
    if not columns:
        return pd.DataFrame(columns=["respondent", "segment", count_name])
    hits = " + ".join(f"CASE WHEN {quote_ident(c)} {op} ? THEN 1 ELSE 0 END" for c in columns)
    # The voice beside the numbers: each comment column after the ratings (issue 13).
    rated = ", ".join(f"{quote_ident(c)}" for c in [*columns, *spec.comments])
    seg_where = f"({segment_sql}) = ?" if segment_sql else "TRUE"
    # The segment travels with each row: a list exported and merged with others (one per
    # segment) still says whose it is.
    sql = (
        f"SELECT {quote_ident(ID_COL)} AS respondent, ? AS segment, "
        f"{hits} AS {quote_ident(count_name)}, "
        f"{rated} FROM {relation} WHERE {seg_where} AND ({hits}) > 0 "
        f"ORDER BY {quote_ident(count_name)} DESC, {quote_ident(ROW_COL)}"
    )
    # Placeholders in the order they appear: SELECT's segment and hits, the relation's,
    # WHERE's.
    bound: list[object] = [segment, *[cut] * len(columns)]
    bound += params
    if segment_sql:
        bound.append(segment)
    bound += [cut] * len(columns)
    out = con.execute(sql, bound).df()
    return out
