"""The executive's headline: the outcome by name with its level and change, what to fix
first and where to invest next, each with its amount at stake and how sure we are.

Pure functions of a `MomentsResult` (and, for the change, per-period sums read from the
view's relation); the Overview, the Action plan, Compare and the one-page brief draw them.
The certainty words are defined once here (`certainty`) and in docs/METHODS.md ("How sure:
clear, likely, could be chance").
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from statistics import NormalDist
from typing import Literal

import duckdb
import numpy as np
import pandas as pd

from cmot.names import W_COL, Y_COL, quote_ident
from cmot.results.compare import adjust_bh
from cmot.results.moments import ALL, MomentsResult
from cmot.results.summary import PICK_SEGMENTS, amount, biggest_difference, difference_sentence
from cmot.spec import JourneySpec
from cmot.waves.sources import Period, wave_expression

Certainty = Literal["clear", "likely", "could be chance"]
CERTAINTY: tuple[Certainty, ...] = ("clear", "likely", "could be chance")
# What each word means, where a person reads it (a tooltip, the brief's footnote).
CERTAINTY_TEXT: dict[str, str] = {
    "clear": "its 95% interval excludes zero and it holds after allowing for the many "
    "touchpoints and segments tested at once (false discovery rate below 5%)",
    "likely": "its 95% interval excludes zero, but with this many touchpoints and segments "
    "tested at once it could be one of the chance findings",
    "could be chance": "its 95% interval includes zero: the data cannot tell it from no effect",
}
# What an amount at stake means, by what it counts (MomentsResult.stake_basis): what the
# outcome would gain, not a forecast of what will happen.
STAKE_MEANING: dict[str, str] = {
    "risk": "if its low raters moved to the middle",
    "upside": "if those rating it below the top moved to the top",
    "risk + upside": "if its low raters moved to the middle and everyone below the top to the top",
}
VERB = {"vulnerability": "Fix", "opportunity": "Grow", "hybrid": "Improve"}
EVERYONE = "everyone"  # the segment column of a row about the whole sample
MOST = 3  # rows per list on the first screen


def stake_text(value: float, unit: str) -> str:
    """The one amount at stake as every page, table and export shows it: `amount` in the
    outcome's unit ('4.7 pts', '0.45 points'), '–' where there is none."""
    return amount(value, unit) if math.isfinite(value) else "–"


def certainty_of(lo: float, q: float, alpha: float) -> Certainty:
    """The word for one effect (a penalty or a reward): "clear" when its interval (at 1 - α)
    excludes zero and its Benjamini-Hochberg q-value is below α, "likely" when only the
    interval excludes zero, "could be chance" otherwise."""
    if not (math.isfinite(lo) and lo > 0):
        return "could be chance"
    return "clear" if math.isfinite(q) and q < alpha else "likely"


def certainty(result: MomentsResult) -> pd.DataFrame:
    """Each segment x touchpoint's certainty: columns segment, touchpoint, penalty_q,
    reward_q, penalty_word, reward_word, certainty.

    The q-values adjust, by Benjamini-Hochberg, every penalty and reward p-value of the
    result at once (every segment, "All" included, insufficient rows left out): one family
    for the whole screen, so a moment reads the same on every page whatever else is shown.
    A side clipped to 0 (a coefficient of the wrong sign) enters with p = 1. A moment's
    word is that of the side(s) its amount at stake counts (stake_basis): the penalty for
    risk, the reward for upside, the less sure of the two for risk + upside; "" for a
    touchpoint with nothing at stake.
    """
    m = result.moments
    ok = ~m.insufficient.astype(bool).to_numpy()
    p = np.concatenate(
        [
            np.where(ok & (m.penalty.to_numpy(float) > 0), m.penalty_p.to_numpy(float), 1.0),
            np.where(ok & (m.reward.to_numpy(float) > 0), m.reward_p.to_numpy(float), 1.0),
        ]
    )
    p[np.concatenate([~ok, ~ok])] = np.nan  # not tested: not counted in the family
    q = adjust_bh(p)
    n = len(m)
    alpha = result.settings.alpha
    pw = [certainty_of(lo, qq, alpha) for lo, qq in zip(m.penalty_lo, q[:n], strict=True)]
    rw = [certainty_of(lo, qq, alpha) for lo, qq in zip(m.reward_lo, q[n:], strict=True)]
    words: list[str] = []
    for basis, a, b in zip(m.stake_basis, pw, rw, strict=True):
        if basis == "risk":
            words.append(a)
        elif basis == "upside":
            words.append(b)
        elif basis == "risk + upside":
            words.append(max(a, b, key=CERTAINTY.index))
        else:
            words.append("")
    return pd.DataFrame(
        {
            "segment": m.segment.to_numpy(),
            "touchpoint": m.touchpoint.to_numpy(),
            "penalty_q": q[:n],
            "reward_q": q[n:],
            "penalty_word": pw,
            "reward_word": rw,
            "certainty": words,
        }
    )


@dataclass(frozen=True)
class Priority:
    """One row of "Fix first" or "Invest next": verb, touchpoint, for whom, the amount at
    stake (engine value in outcome units and as shown), what it means, and how sure."""

    verb: str  # Fix, Grow, Improve
    touchpoint: str
    segment: str  # a segment's name, or EVERYONE for the whole sample
    cls: str  # vulnerability, opportunity, hybrid
    stake: float  # MomentsResult.at_stake, outcome units (a fraction for a 0/1 outcome)
    amount: str  # stake_text: '4.7 pts'
    meaning: str  # STAKE_MEANING of its basis
    certainty: Certainty


@dataclass(frozen=True)
class OutcomeChange:
    """The outcome's level in the last period against the one before, with the 95%
    interval of the change and its certainty word ("clear" or "could be chance": one test)."""

    column: str  # the date or wave column the periods come from
    previous: str  # period labels ("2026-Q2", "Wave 2")
    current: str
    before: float  # outcome level (a share for a 0/1 outcome, else the mean score)
    now: float
    n_before: int
    n_now: int
    change: float  # now - before, in the level's units
    lo: float
    hi: float
    certainty: Certainty

    def short(self, unit: str) -> str:
        """'+2.1 pts since 2026-Q2, could be chance': what fits under a number."""
        return f"{amount(self.change, unit, signed=True)} since {self.previous}, {self.certainty}"

    def text(self, unit: str) -> str:
        """'+2.1 pts since 2026-Q2 (95%: -1.0 to +5.2; could be chance)'."""
        return (
            f"{amount(self.change, unit, signed=True)} since {self.previous} "
            f"(95%: {amount(self.lo, unit, signed=True)} to {amount(self.hi, unit, signed=True)};"
            f" {self.certainty})"
        )


@dataclass(frozen=True)
class Headline:
    """What the first screen says: the outcome by name, its level and change, Fix first and
    Invest next (MOST rows each), and whether the segments differ at all."""

    outcome: str  # the outcome's name: the question text or column ("Would hire again")
    level: float  # the whole (filtered) sample's outcome: a share, or the mean score
    level_text: str  # '56.0%' or '3.42'
    meaning: str  # what the level counts: 'answered Yes', 'mean score'
    unit: str  # MomentsResult.unit
    n: int
    change: OutcomeChange | None  # None: no dates or waves, or a single period
    fix_first: tuple[Priority, ...]
    invest_next: tuple[Priority, ...]
    segmented: bool  # two or more segments shown
    segments_differ: bool  # some difference between two segments is significant (FDR)
    difference: str  # the banner: summary.difference_sentence, or PICK_SEGMENTS

    @property
    def scope(self) -> str:
        """For whom the lists speak, in words."""
        if not self.segmented:
            return "for everyone (no segmentation chosen)"
        if self.segments_differ:
            return "across the segments"
        return "for everyone: no segment differs from another by more than chance"


def level_text(value: float, unit: str) -> str:
    """An outcome level: a share as a percentage, a score with two decimals, '–' if none."""
    if not math.isfinite(value):
        return "–"
    return f"{value:.1%}" if unit == "percentage points" else f"{value:.2f}"


def outcome_name(spec: JourneySpec) -> str:
    """The outcome as a person reads it: its question text (label) or column name."""
    return spec.label_of(spec.outcome.column)


def _meaning(spec: JourneySpec, unit: str) -> str:
    o = spec.outcome
    if unit == "percentage points":
        said = ", ".join(o.positive)
        return f"answered {said}" if said and o.kind == "binary" else "share positive"
    return "mean score" + (f" ({o.min:g} to {o.max:g})" if o.min is not None and o.max else "")


def priorities(
    result: MomentsResult, segments: Sequence[str], words: pd.DataFrame | None = None
) -> tuple[tuple[Priority, ...], tuple[Priority, ...]]:
    """Fix first (failing vulnerabilities: action "fix") and Invest next (opportunities and
    hybrids) among `segments`, MOST each: the sure before the "could be chance", then by
    amount at stake, largest first. `words`: certainty(result), if already computed."""
    words = certainty(result) if words is None else words
    m = result.moments.reset_index(drop=True)
    m = m.assign(certainty=words.certainty.to_numpy())
    m = m[m.segment.isin(list(segments)) & m.at_stake.notna()]
    m = m.assign(_chance=m.certainty == "could be chance", _neg=-m.at_stake)
    m = m.sort_values(["_chance", "_neg"], kind="stable")

    def rows(frame: pd.DataFrame) -> tuple[Priority, ...]:
        return tuple(
            Priority(
                verb=VERB[str(r["class"])],
                touchpoint=str(r.touchpoint),
                segment=EVERYONE if r.segment == ALL else str(r.segment),
                cls=str(r["class"]),
                stake=float(r.at_stake),
                amount=stake_text(float(r.at_stake), result.unit),
                meaning=STAKE_MEANING[str(r.stake_basis)],
                certainty=r.certainty,
            )
            for _, r in frame.head(MOST).iterrows()
        )

    fix = m[(m["class"] == "vulnerability") & (m.action == "fix")]
    invest = m[m["class"].isin(["opportunity", "hybrid"])]
    return rows(fix), rows(invest)


def build_headline(
    result: MomentsResult,
    spec: JourneySpec,
    segments: Sequence[str],
    change: OutcomeChange | None = None,
    words: pd.DataFrame | None = None,
) -> Headline:
    """The first screen's numbers and words. With two or more `segments`, the lists run
    across them when some two differ significantly (summary.biggest_difference); when none
    does, they are the whole sample's ("All"), so no list presents a segment's estimate as
    if it set that segment apart. `words`: certainty(result), if already computed."""
    segs = [s for s in segments if s != ALL]
    segmented = len(segs) >= 2
    best = biggest_difference(result, segs) if segmented else None
    differ = best is not None
    fix, invest = priorities(result, segs if differ else [ALL], words)
    whole = result.segments[result.segments.segment == ALL].iloc[0]
    level = float(whole.outcome_mean)
    return Headline(
        outcome=outcome_name(spec),
        level=level,
        level_text=level_text(level, result.unit),
        meaning=_meaning(spec, result.unit),
        unit=result.unit,
        n=int(whole.n),
        change=change,
        fix_first=fix,
        invest_next=invest,
        segmented=segmented,
        segments_differ=differ,
        difference=difference_sentence(result, best) if segmented else PICK_SEGMENTS,
    )


# --- The outcome's change since the previous period ---------------------------------------

PERIOD_COLUMNS = ["period", "n", "sw", "swy", "sw2", "sw2y", "sw2y2"]


def date_period(first: date | datetime, last: date | datetime) -> Period:
    """The coarsest period that splits a date span in two or more (as the Trends page opens):
    year, else quarter, else month."""
    if first.year != last.year:
        return "year"
    return "quarter" if (first.month - 1) // 3 != (last.month - 1) // 3 else "month"


def period_sums(
    con: duckdb.DuckDBPyConnection,
    relation: str,
    column: str,
    by: Period | None,
    params: Sequence[object] = (),
) -> pd.DataFrame:
    """Per period of `column` (a wave column's values when `by` is None, else its dates by
    month / quarter / year): respondents with an outcome and the weighted sums the level and
    its error need (PERIOD_COLUMNS), periods in order. Rows without a period are left out."""
    per = wave_expression(column, by)
    y, w = f'"{Y_COL}"', f'"{W_COL}"'
    sql = (
        f"SELECT {per} AS period, count(*) AS n, sum({w}) AS sw, sum({w}*{y}) AS swy, "
        f"sum({w}*{w}) AS sw2, sum({w}*{w}*{y}) AS sw2y, sum({w}*{w}*{y}*{y}) AS sw2y2 "
        f"FROM {relation} WHERE {y} IS NOT NULL AND {w} IS NOT NULL AND {per} IS NOT NULL "
        "GROUP BY 1 ORDER BY 1"
    )
    rows = con.execute(sql, list(params)).fetchall()
    return pd.DataFrame(rows, columns=PERIOD_COLUMNS)


def _level(r: pd.Series) -> tuple[float, float]:
    """A period's weighted mean outcome and its standard error (the sandwich form of a
    weighted mean, Σw²(y - m)² / (Σw)², times n / (n - 1): the usual s / √n unweighted)."""
    n, sw = float(r.n), float(r.sw)
    mean = float(r.swy) / sw
    ss = float(r.sw2y2) - 2 * mean * float(r.sw2y) + mean * mean * float(r.sw2)
    var = max(ss, 0.0) / sw**2 * n / (n - 1) if n > 1 else math.nan
    return mean, math.sqrt(var)


def outcome_change(
    sums: pd.DataFrame, column: str, alpha: float = 0.05, min_n: int = 30
) -> OutcomeChange | None:
    """The last period's outcome against the previous one's (period_sums' rows in order),
    with the normal interval at 1 - α of the difference of two independent means; None with
    fewer than two periods or when either has fewer than `min_n` respondents."""
    if len(sums) < 2:
        return None
    prev, last = sums.iloc[-2], sums.iloc[-1]
    if min(int(prev.n), int(last.n)) < max(min_n, 2):
        return None
    (m0, s0), (m1, s1) = _level(prev), _level(last)
    diff, se = m1 - m0, math.hypot(s0, s1)
    z = NormalDist().inv_cdf(1 - alpha / 2)
    lo, hi = diff - z * se, diff + z * se
    word: Certainty = "clear" if lo > 0 or hi < 0 else "could be chance"
    return OutcomeChange(
        column, str(prev.period), str(last.period), m0, m1, int(prev.n), int(last.n),
        diff, lo, hi, word,
    )  # fmt: skip


def view_change(
    con: duckdb.DuckDBPyConnection,
    relation: str,
    spec: JourneySpec,
    params: Sequence[object] = (),
    alpha: float = 0.05,
) -> OutcomeChange | None:
    """The outcome's change since the previous period of a view (its `relation` with
    `params`): periods from the confirmed wave column's values, else from the date column
    (date_period of its span); None without either, or as outcome_change says."""
    if spec.wave_column:
        column, by = spec.wave_column, None
    elif spec.date_column:
        column = spec.date_column
        ts = f"TRY_CAST({quote_ident(column)} AS DATE)"
        span = con.execute(f"SELECT min({ts}), max({ts}) FROM {relation}", list(params)).fetchall()
        first, last = span[0] if span else (None, None)
        if first is None or last is None:
            return None
        by = date_period(first, last)
    else:
        return None
    return outcome_change(period_sums(con, relation, column, by, params), column, alpha)
