"""The outcome: which column (`choose_outcome`: the user's, else the best named one), its
kind, positive values and range (`outcome_of`), and the codes that mean no answer in it
(`missing_in_outcome`)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace

from cmot.errors import CmotError
from cmot.ingest.column_profiles import ColumnProfile, as_number
from cmot.ingest.column_words import FIRST_OUTCOME, NEGATIVE, STRONG_OUTCOME
from cmot.ingest.guesses import ColumnGuess
from cmot.ingest.options import IngestOptions
from cmot.ingest.outcome_choice import RECOMMEND_RANGE
from cmot.ingest.survey_scale import Scales, Shape, markers, order_codes
from cmot.spec import OUTCOME_KINDS, Code, Outcome


def choose_outcome(guesses: dict[str, ColumnGuess], chosen: str | None) -> None:
    """One outcome (`guesses` changed in place): `chosen`, the column the user names, else
    the best of those named like an outcome; the others named so become attributes."""
    named = [g for g in guesses.values() if g.role == "outcome"]
    keep: ColumnGuess | None = None
    if named and chosen is None:
        keep = sorted(
            named,
            key=lambda g: (
                not re.search(STRONG_OUTCOME, g.column.lower()),
                not re.search(FIRST_OUTCOME, g.column.lower()),
                -g.confidence,
                g.kind != "binary",
            ),
        )[0]
    for g in named:
        if keep is None or g.column != keep.column:
            guesses[g.column] = replace(
                g,
                role="attribute",
                kind="scale" if g.kind == "scale" else "categorical",
                confidence=0.5,
                reason=g.reason + "; another outcome was chosen",
            )
    if chosen is not None:
        g = guesses[chosen]
        guesses[chosen] = replace(g, role="outcome", confidence=1.0, reason="set by you")


def _positive_values(values: Sequence[str]) -> tuple[str, ...]:
    """For a two-valued outcome, the value meaning 'positive': the one that is not a negation."""
    pos = [v for v in values if not re.search(NEGATIVE, v.strip().lower())]
    if len(pos) == 1:
        return (pos[0],)
    if set(values) == {"0", "1"}:
        return ("1",)
    return (sorted(values)[-1],)


def outcome_of(
    col: str,
    profiles: dict[str, ColumnProfile],
    shapes: dict[str, Shape],
    sc: Scales,
    scale_missing: tuple[Code, ...],
    opts: IngestOptions,
) -> tuple[Outcome, tuple[Code, ...]]:
    """The outcome's kind, positive values and range, and the codes found in it."""
    p, sh = profiles[col], shapes[col]
    kind = opts.outcome_kind
    if kind is not None and kind not in OUTCOME_KINDS:
        raise CmotError(f"Unknown outcome type {kind!r}: use one of {', '.join(OUTCOME_KINDS)}.")
    numeric = sh.coded or (p.numbers >= 0.9 * p.count and p.numbers > 0)
    lo, hi = (sh.lo, sh.hi) if sh.coded else (p.lo, p.hi)
    codes: list[Code] = [*sh.codes, *markers(sh)] if numeric else []
    if (
        sh.coded
        and sh.lo == 0
        and sc.lo == 1
        and 0 in scale_missing
        and 1 in sh.ints
        and (sh.hi or 0) <= 7
    ):
        codes.insert(0, 0)  # 0 is "not applicable" on this survey's 1-5 / 1-7 ratings
        lo = 1
    if sh.coded and (lo, hi) == (1, 6) and sc.hi == 5 and 6 in scale_missing:
        codes.append(6)
        hi = 5
    recommend = re.search(r"recommend|\bnps\b|\bltr\b|netpro", col.lower()) is not None
    points = len(sh.points) if sh.coded else p.distinct
    if kind is None:
        if opts.positive:
            kind = "binary"
        elif numeric and points > 2:
            kind = "recommend" if recommend and lo is not None and lo >= 0 and hi == 10 else "scale"
        else:
            kind = "binary"
    positive: tuple[str, ...] = ()
    omin: float | None = None
    omax: float | None = None
    if kind == "binary":
        marks = markers(sh)
        values = [v for v in p.values if v not in marks and _code_value(v) not in sh.codes]
        positive = opts.positive or (_positive_values(values) if values else ())
        codes = [*marks]
    elif kind == "recommend":
        omin, omax = RECOMMEND_RANGE
    if opts.outcome_range is not None:
        omin, omax = float(opts.outcome_range[0]), float(opts.outcome_range[1])
        if omin >= omax:
            raise CmotError(
                f"The outcome range {omin:g}-{omax:g} is empty: give the lowest value first."
            )
    elif kind == "scale" and sh.coded and lo is not None and hi is not None:
        omin, omax = float(lo), float(hi)
    return Outcome(col, kind, positive, omin, omax), order_codes(codes)  # type: ignore[arg-type]


def _code_value(v: str) -> Code:
    """A value as a code: a whole number as an int, else its text."""
    x = as_number(v)
    return int(x) if x is not None and x == round(x) else v


def missing_in_outcome(
    o: Outcome, found: tuple[Code, ...], sh: Shape, opts: IngestOptions
) -> tuple[Code, ...]:
    """Codes that mean 'no answer' in the outcome: the ones found, else the user's list
    without the points of the outcome's range.

    A yes/no outcome keeps its two answers whatever the list says: a declared 0 for the
    ratings must not empty a 0/1 outcome.
    """
    if opts.missing is None:
        return found
    if o.kind != "binary":
        # A code inside the outcome's own range is an answer there (a 7 that is "don't know"
        # on 1-5 ratings is a score on a 1-10 outcome): it applies to the other columns only.
        return tuple(
            c
            for c in opts.missing
            if not (isinstance(c, int) and o.min is not None and o.max is not None)
            or not o.min <= c <= o.max
        )
    top = (
        sorted(sh.ints, key=lambda v: -sh.ints[v])[:2]
        + sorted(sh.texts, key=lambda v: -sh.texts[v])[:2]
    )
    keep = {str(v) for v in top} | set(o.positive)
    return tuple(c for c in opts.missing if str(c) not in keep)
