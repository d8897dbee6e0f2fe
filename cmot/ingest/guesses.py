"""Each column's role guessed from its name and its values (`guess`, a `ColumnGuess` with
confidence and reason), and the ratings refined by the survey's scale (`refine_ratings`)."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Literal

from cmot.ingest.column_profiles import FEW_VALUES, ColumnProfile
from cmot.ingest.column_words import (
    COMMENT_CHARS,
    COMMENT_UNIQUE,
    COMMENT_WORDS,
    DATE_WORDS,
    ID_WORDS,
    MIN_COMMENT_VALUES,
    MODEL_WORDS,
    NOT_RATING_WORDS,
    OUTCOME_WORDS,
    UNNAMED,
    WEIGHT_WORDS,
    name_stem,
)
from cmot.ingest.survey_scale import Scales, Shape, markers, survey_scale

Role = Literal["id", "outcome", "touchpoint", "attribute", "weight", "date", "comment", "ignore"]
ROLES: tuple[str, ...] = (
    "id",
    "outcome",
    "touchpoint",
    "attribute",
    "weight",
    "date",
    "comment",
    "ignore",
)
_STANDARD_OTHER = ((0, 10),)  # touchpoints on another scale than the majority: 0-10 only


@dataclass(frozen=True)
class ColumnGuess:
    """The role detected for one column, how sure the detection is and why."""

    column: str
    role: str
    kind: str  # rating, binary, categorical, numeric, text, date, id, weight
    confidence: float
    reason: str
    dtype: str
    distinct: int
    nulls: int
    sample: str = ""  # a look at the values: "1 (12%), 2 (30%), ... 9 (20%)" or examples
    label: str = ""  # question text, when the file carries it
    # Every row's non-blank values and their counts (the COUNTED most frequent), as text the
    # stored dataset compares; only `detect_roles` fills them, for columns of few values.
    counts: tuple[tuple[str, int], ...] = ()


def _sample_text(p: ColumnProfile) -> str:
    """A look at the values: each with its share, or the range and a count of values."""
    if p.values and p.distinct <= FEW_VALUES:
        total = sum(p.counts) or 1
        return ", ".join(
            f"{v} ({k / total:.0%})" for v, k in zip(p.values[:20], p.counts[:20], strict=True)
        ) + (" ..." if len(p.values) > 20 else "")
    if p.numbers and p.lo is not None and p.hi is not None:
        extra = f"; text: {', '.join(p.values[:4])}" if p.values else ""
        return f"{p.distinct:,} values from {p.lo:g} to {p.hi:g}{extra}"
    return f"{p.distinct:,} different texts" if p.count else "all blank"


def guess(p: ColumnProfile, sh: Shape) -> ColumnGuess:
    """The role a column has on its own; the survey-wide scale refines ratings later."""
    name = p.column.lower()
    return (
        _id_date_or_weight(p, name)
        or _comments(p)
        or _named_outcome(p, sh, name)
        or _by_values(p, sh, name)
    )


def _made(p: ColumnProfile, role: str, kind: str, conf: float, why: str) -> ColumnGuess:
    """`p`'s guess: its role, the kind of its values, how sure and why."""
    return ColumnGuess(
        p.column, role, kind, conf, why, p.dtype, p.distinct, p.nulls, _sample_text(p)
    )


def _id_date_or_weight(p: ColumnProfile, name: str) -> ColumnGuess | None:
    """A column that is no answer, told by its name, type or a counter: blank, a row index,
    an id, dates, a model's output, a survey weight; None for the others."""
    unique = p.count > 1 and p.distinct >= 0.95 * p.count
    if p.count == 0:
        return _made(p, "ignore", "text", 0.9, "every value is blank")
    if re.fullmatch(UNNAMED, name.strip()) and (p.first_is_row_index or unique):
        return _made(p, "ignore", "id", 0.8, "an unnamed row index")
    if p.dtype in ("DATE", "TIMESTAMP", "TIMESTAMP WITH TIME ZONE"):
        return _made(p, "date", "date", 0.9, "read as dates")
    if re.search(ID_WORDS, name):
        if unique:
            return _made(p, "id", "id", 0.9, "named like an id and unique")
        return _made(p, "id", "id", 0.5, "named like an id, but some values repeat")
    if p.first_is_row_index and p.position == 0 and p.count > 2:
        return _made(p, "id", "id", 0.7, "a sequential counter in the first column")
    if p.position == 0 and unique and p.count > FEW_VALUES and (p.integral or not p.numbers):
        return _made(p, "id", "id", 0.6, "the first column, a different value in every row")
    if re.search(MODEL_WORDS, name):
        return _made(p, "ignore", "numeric", 0.7, "named like a model output, not a survey answer")
    if re.search(WEIGHT_WORDS, name) and p.numbers == p.count and (p.lo or 0) > 0:
        return _made(
            p,
            "attribute",
            "weight",
            0.7,
            "named like a survey weight, positive numbers: proposed, not applied "
            "(make it the weight to weight the results)",
        )
    named_date = p.dtype == "VARCHAR" and re.search(DATE_WORDS, name) and p.distinct > 20
    if named_date and p.dates >= 0.8 * p.count:  # only dates make it: a time of day is none
        return _made(p, "date", "date", 0.8, "named like a date, and its values read as dates")
    return None


def _comments(p: ColumnProfile) -> ColumnGuess | None:
    """Text of many different answers: comments when they are long, else titles or names."""
    if p.numbers or p.dtype != "VARCHAR":
        return None
    # Comments: long answers (sentences, not a few words) and mostly different ones. A
    # title is a few words; a name (an airline, a lounge, a city) repeats (issue 23).
    unique_share = p.distinct / p.count if p.count else 0.0
    if p.distinct > MIN_COMMENT_VALUES and unique_share >= COMMENT_UNIQUE:
        if p.median_words >= COMMENT_WORDS and p.median_len >= COMMENT_CHARS:
            return _made(
                p,
                "comment",
                "text",
                0.7,
                f"free text: {p.median_words:g} words a typical answer, "
                f"{unique_share:.0%} different",
            )
        return _made(
            p,
            "ignore",
            "text",
            0.6,
            f"short text ({p.median_words:g} words a typical answer): titles or names, "
            "not comments",
        )
    return None


def _named_outcome(p: ColumnProfile, sh: Shape, name: str) -> ColumnGuess | None:
    """A column named like an outcome whose values make one: two values, or a scale."""
    if not re.search(OUTCOME_WORDS, name):
        return None
    main = len(sh.points) if sh.coded else p.distinct - len(markers(sh))
    if main == 2 or (not sh.coded and p.distinct == 2):
        return _made(p, "outcome", "binary", 0.9, "two values, named like an outcome")
    if sh.coded and len(sh.points) >= 3 and (sh.hi or 0) <= 11:
        return _made(p, "outcome", "scale", 0.7, "a scale, named like an outcome")
    if main <= 1:
        return _made(p, "outcome", "binary", 0.5, "named like an outcome, but one value only")
    numbers = p.numbers >= 0.9 * p.count and not sh.coded
    if numbers and p.distinct > 2 and not re.search(NOT_RATING_WORDS, name):
        return _made(
            p, "outcome", "scale", 0.6, f"numbers {p.lo:g}-{p.hi:g}, named like an outcome"
        )
    return None


def _by_values(p: ColumnProfile, sh: Shape, name: str) -> ColumnGuess:
    """A rating, codes, numbers or text, by the shape of the values."""
    if sh.coded and sh.lo is not None and sh.hi is not None:
        pts = sh.points
        rating = len(pts) >= 3 and sh.lo >= 0 and sh.hi - sh.lo <= 11 and 3 <= sh.hi <= 11
        if rating and not re.search(NOT_RATING_WORDS, name):
            return _made(p, "touchpoint", "rating", 0.7, rating_reason(sh))
        if len(pts) <= 20:
            return _made(p, "attribute", "categorical", 0.8, f"{len(pts)} codes" + _codes_note(sh))
        return _made(p, "attribute", "numeric", 0.7, f"whole numbers {sh.lo}-{sh.hi}")
    if p.numbers and p.numbers >= 0.5 * p.count:
        return _made(p, "attribute", "numeric", 0.8, f"numbers {p.lo:g}-{p.hi:g}")
    if p.distinct <= 20:
        return _made(p, "attribute", "categorical", 0.8, f"{p.distinct} distinct values")
    return _made(
        p, "attribute", "text", 0.5, f"{p.distinct} distinct values: too many for a segment"
    )


def _codes_note(sh: Shape) -> str:
    extra = [str(c) for c in sh.codes] + list(sh.texts)
    return f" (besides {', '.join(extra)})" if extra else ""


def rating_reason(sh: Shape) -> str:
    """Why a column reads as ratings: its block of whole numbers and the codes beside it."""
    return f"whole numbers {sh.lo}-{sh.hi}" + _codes_note(sh)


def refine_ratings(
    guesses: dict[str, ColumnGuess], shapes: Mapping[str, Shape]
) -> tuple[Scales, dict[str, tuple[int, int]]]:
    """The survey's scale from the rating-like columns, and each of them read against it:
    one off the scale, coded unlike the ratings or in a family of other answers becomes an
    attribute (`guesses` changed in place); one on a standard other scale (0-10) stays a
    touchpoint on its own scale (returned: column -> its block)."""
    # The survey's scale from the rating-like columns; a name family that mostly holds
    # other answers (Q16, Q17, Q22 ... beside Q5) makes its 1-5 member an attribute.
    rating_like = {c: shapes[c] for c, g in guesses.items() if g.role == "touchpoint"}
    sc = survey_scale(rating_like)
    stems = Counter(name_stem(c) for c in guesses)
    on_scale = Counter(
        name_stem(c)
        for c, b in sc.blocks.items()
        if b[1] == sc.hi and b[0] >= sc.lo and b[1] - b[0] >= 2
    )
    # The code most ratings carry (9 = don't know); a column on the scale whose codes are
    # all others (99, NA) is coded like the pick lists beside it, not like the ratings.
    usual = Counter(k for c in rating_like for k in set(sc.codes[c]))
    common = [k for k, m in usual.most_common(1) if m >= 0.5 * len(rating_like)]
    other_scale: dict[str, tuple[int, int]] = {}
    for c in rating_like:
        lo, hi = sc.blocks[c]
        g = guesses[c]
        fam = name_stem(c)
        # A small sample may leave the top point unused (1-4 among 1-5 ratings).
        # (Only below the top: 3-6 in eleven answers is a code list beside 1-5, not a scale.)
        top = hi == sc.hi or (shapes[c].answers < 50 and sc.hi - 1 <= hi <= sc.hi)
        if top and lo >= sc.lo and hi - lo >= 2:
            if common and sc.codes[c] and common[0] not in sc.codes[c]:
                guesses[c] = _apart(
                    g,
                    f"{rating_reason(shapes[c])}: coded unlike the ratings, whose "
                    f"code is {common[0]}",
                )
            elif stems[fam] >= 3 and on_scale[fam] < 0.5 * stems[fam]:
                guesses[c] = _apart(
                    g,
                    f"{rating_reason(shapes[c])}, but most columns named like it "
                    "hold other answers",
                )
            continue
        if (lo, hi) in _STANDARD_OTHER:
            other_scale[c] = (lo, hi)
            guesses[c] = replace(g, reason=g.reason + f": a {lo}-{hi} scale beside {sc.lo}-{sc.hi}")
            continue
        guesses[c] = replace(
            g,
            role="attribute",
            kind="categorical" if len(shapes[c].points) <= 20 else "numeric",
            confidence=0.6,
            reason=f"{rating_reason(shapes[c])}, not the survey's {sc.lo}-{sc.hi} scale",
        )
    return sc, other_scale


def _apart(g: ColumnGuess, reason: str) -> ColumnGuess:
    """A column on the survey's scale read as codes of an attribute, for `reason`."""
    return replace(g, role="attribute", kind="categorical", confidence=0.5, reason=reason)
