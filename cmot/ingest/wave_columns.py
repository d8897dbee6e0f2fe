"""Columns to propose as a survey's waves (named like a wave, 2 to MAX_WAVES values, not
yes/no answers or weekdays). Only proposed: the analyst confirms the wave column.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from cmot.spec import JourneySpec

# More waves than this are not waves but a date or an id: two years of months is the most a
# trend table and a migration chart can still be read at.
MAX_WAVES = 24

# A word of a column's name that says it holds waves ("quarte": exports cut names to six).
WAVE_WORDS = frozenset({"wave", "quarter", "quarte", "year", "period", "round"})

# Answers that make a column a question, not waves, whatever its name says: a yes/no (issue
# 23: "lived here over a year" offered as waves) or days of the week (an interview day).
_NOT_WAVES = frozenset(
    {"yes", "no", "y", "n", "true", "false", "don't know", "dk", "refused"}
    | {"mon", "tue", "wed", "thu", "fri", "sat", "sun", "monday", "tuesday", "wednesday"}
    | {"thursday", "friday", "saturday", "sunday"}
)


def named_like_wave(column: str) -> bool:
    """A column named like a wave: a word of its name is wave, quarter (or "quarte"), year,
    period or round; "Years as client" is not."""
    words = re.split(r"[^a-z0-9]+", column.strip().lower())
    return any(w in WAVE_WORDS for w in words)


def wave_candidates(
    spec: JourneySpec, values: Mapping[str, Sequence[str]]
) -> list[tuple[str, str]]:
    """Columns to propose as the survey's waves, each with the evidence in words: a segment
    or attribute column named like a wave whose 2 to MAX_WAVES values (`values`: column ->
    its distinct values) are not yes/no answers or weekdays. Only proposed: waves come from
    the column the analyst confirms (`JourneySpec.wave_column`), never from these."""
    skip = {spec.outcome.column, spec.weight_column, *spec.touchpoint_columns}
    out: list[tuple[str, str]] = []
    for c in dict.fromkeys((*spec.segments, *spec.attributes)):
        vals = [str(v) for v in values.get(c, ())]
        if c in skip or not named_like_wave(c) or not 2 <= len(vals) <= MAX_WAVES:
            continue
        if any(v.strip().lower() in _NOT_WAVES for v in vals):
            continue
        shown = ", ".join(vals[:6]) + (" ..." if len(vals) > 6 else "")
        out.append((c, f"named like a wave, {len(vals)} values: {shown}"))
    return out
