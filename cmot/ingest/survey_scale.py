"""A column's answers read as a coded scale (`Shape`, `shape_of`: the block of points, the
codes and text markers beside it), the survey's majority scale (`Scales`, `survey_scale`)
and each touchpoint's block, codes and stray answers against it."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from cmot.ingest.column_profiles import FEW_VALUES, ColumnProfile, as_number
from cmot.ingest.column_words import MARKER_WORDS
from cmot.spec import Code

_MARKER_MAX = 4  # a numeric column may carry this many distinct text markers


@dataclass(frozen=True)
class Shape:
    """A column's answers read as a coded scale: the block of points, codes and markers."""

    ints: dict[int, int]  # whole-number answers and their counts
    texts: dict[str, int]  # text answers (in a numeric column: markers such as "Blank")
    codes: tuple[int, ...]  # whole numbers beside the block: 9, 99, -99, 11 beside 0-10
    lo: int | None  # the block of ordinary answers
    hi: int | None
    coded: bool  # whole numbers (and at most a few text markers): a code list or a scale

    @property
    def points(self) -> tuple[int, ...]:
        return tuple(v for v in sorted(self.ints) if v not in self.codes)

    @property
    def answers(self) -> int:
        return sum(self.ints.values()) + sum(self.texts.values())


def _code_like(v: int) -> bool:
    """Numbers survey software uses for 'no answer': 9, 99, 999, 98, 97, 96, 88, 888."""
    s = str(v)
    return set(s) == {"9"} or v in (98, 97, 96, 88, 888, 998, 997)


def shape_of(p: ColumnProfile) -> Shape:
    """`p`'s counted values read as a coded scale (uncoded when they are not one)."""
    ints: dict[int, int] = {}
    texts: dict[str, int] = {}
    fractional = 0
    for v, k in zip(p.values, p.counts, strict=True):
        x = as_number(v)
        if x is None:
            texts[v] = k
        elif x == round(x):
            ints[int(x)] = k
        else:
            fractional += k
    # A stray 3.5 among whole ratings is an out-of-scale answer, not another kind of column.
    whole = p.distinct <= FEW_VALUES and bool(ints) and fractional <= 0.02 * p.count
    coded = (
        whole
        and len(texts) <= _MARKER_MAX
        and sum(texts.values()) <= 0.5 * p.count
        and sum(ints.values()) > 0
    )
    if not coded:
        return Shape(ints, texts, (), None, None, False)
    codes = [v for v in ints if v < 0]
    rest = sorted(v for v in ints if v >= 0)
    # Codes sit apart from the block, above a gap (1-5 then 9, 99): a 9 right after 8
    # is a scale point (a district 1-9), never a code.
    while len(rest) > 2 and _code_like(rest[-1]) and rest[-1] > rest[-2] + 1:
        codes.append(rest.pop())
    if rest and rest[0] == 0 and rest[-1] == 11 and 10 in rest:
        codes.append(rest.pop())  # 0-10 and an 11: the 11 is "blank", no scale has 12 points
    lo, hi = (rest[0], rest[-1]) if rest else (None, None)
    if codes and (len(rest) < 2 or len(rest) < 0.6 * (rest[-1] - rest[0] + 1)):
        # A sparse block (1, 7, 9) is too little to call anything a code.
        codes, rest = [v for v in codes if v < 0], sorted(v for v in ints if v >= 0)
        lo, hi = (rest[0], rest[-1]) if rest else (None, None)
    return Shape(ints, texts, tuple(sorted(codes)), lo, hi, True)


def markers(sh: Shape) -> tuple[str, ...]:
    """Text in a numeric column that reads as 'no answer' rather than a value."""
    return tuple(t for t in sh.texts if re.fullmatch(MARKER_WORDS, t.strip().lower()))


@dataclass(frozen=True)
class Scales:
    """The survey's majority rating scale and each rating column's own block and codes."""

    lo: int
    hi: int
    blocks: dict[str, tuple[int, int]]  # rating column -> its block, codes removed
    codes: dict[str, tuple[Code, ...]]  # column -> codes (numbers and text markers)
    # column -> its stray answers (_strays): outside lo-hi, proposed as codes
    strays: dict[str, tuple[int, ...]] = field(default_factory=dict)


# An answer outside the scale the bulk of the sibling columns use, held by under this share
# of a column's answers, is a stray (a typo, a code) proposed as a code, never a wider scale:
# one 7 among 1-5 answers made a scale 1-7 whose top box was 7 alone (issue 23).
STRAY_SHARE = 0.01


def _strays(sh: Shape, lo: int, hi: int) -> tuple[int, ...]:
    """The points of `sh` outside `lo`-`hi` when each holds under STRAY_SHARE of its
    answers and the column has at least two points inside; () otherwise (none outside, or
    one used more: an answer, so the column is on another scale)."""
    out = tuple(v for v in sh.points if v < lo or v > hi)
    inside = [v for v in sh.points if lo <= v <= hi]
    if not out or len(inside) < 2:
        return ()
    if any(sh.ints[v] >= STRAY_SHARE * sh.answers for v in out):
        return ()
    return out


def _bulk(sh: Shape, lo: int, hi: int) -> tuple[int, int]:
    """`lo`-`hi` without rare end points apart from the rest (a 7 above 1-5 with no 6), so
    that a stray does not vote for a wider scale."""
    pts = [v for v in sh.points if lo <= v <= hi]
    rare = STRAY_SHARE * sh.answers
    while len(pts) > 3 and pts[-1] > pts[-2] + 1 and sh.ints[pts[-1]] < rare:
        pts.pop()
    while len(pts) > 3 and pts[0] < pts[1] - 1 and sh.ints[pts[0]] < rare:
        pts.pop(0)
    return (pts[0], pts[-1]) if len(pts) >= 2 else (lo, hi)


def survey_scale(ratings: dict[str, Shape]) -> Scales:
    """The majority block among the rating-like columns, and the codes beside it.

    A 0 beside 1-5 or 1-7 is 'not applicable'; a 6 beside 1-5 (columns on 1-6 next to
    columns on 1-5) is 'never used': neither widens the scale.
    """
    blocks: dict[str, tuple[int, int]] = {}
    codes: dict[str, list[Code]] = {}
    for c, sh in ratings.items():
        assert sh.lo is not None and sh.hi is not None
        lo, hi = sh.lo, sh.hi
        codes[c] = [*sh.codes, *markers(sh)]
        pts = sh.points
        if lo == 0 and len(pts) > 1 and pts[1] <= 2 and hi <= 7:
            lo = pts[1]
            codes[c].insert(0, 0)
        blocks[c] = (lo, hi)
    # The scale the bulk of the columns use: each column votes with its block less any stray.
    tally = Counter(_bulk(ratings[c], *b) for c, b in blocks.items())
    (lo, hi) = max(tally, key=lambda b: (tally[b], b[1] - b[0])) if tally else (1, 5)
    if (lo, hi) == (1, 6) and tally.get((1, 5)):
        for c, b in blocks.items():
            if b == (1, 6):
                blocks[c] = (1, 5)
                codes[c].append(6)
        hi = 5
    for c, (bottom, top) in blocks.items():
        # A stray point just above the scale (a 6 in one 1-5 column) is an out-of-scale
        # code, not a wider scale: it must not push the column out of the journey.
        sh = ratings[c]
        stray = sh.ints[top] <= 0.05 * sh.answers
        if bottom >= lo and top == hi + 1 and hi in (4, 5, 7, 10) and stray:
            blocks[c] = (bottom, hi)
            codes[c].append(top)
    strays: dict[str, tuple[int, ...]] = {}
    for c, (bottom, top) in blocks.items():
        found = _strays(ratings[c], lo, hi) if (bottom, top) != (lo, hi) else ()
        if found and [v for v in found if v not in codes[c]]:
            blocks[c] = (max(bottom, lo), min(top, hi))
            strays[c] = found
            codes[c].extend(v for v in found if v not in codes[c])
    return Scales(lo, hi, blocks, {c: tuple(v) for c, v in codes.items()}, strays)


def order_codes(codes: Sequence[Code]) -> tuple[Code, ...]:
    """`codes` once each: numbers in order, then text."""
    uniq = list(dict.fromkeys(codes))
    return tuple(
        sorted(uniq, key=lambda c: (isinstance(c, str), c if isinstance(c, int) else 0, str(c)))
    )


def touchpoint_block(sh: Shape, sc: Scales, col: str) -> tuple[int, int] | None:
    """A touchpoint's own block with the survey's zero rule, or None when it has none."""
    if col in sc.blocks:
        return sc.blocks[col]
    if not sh.coded or sh.lo is None or sh.hi is None:
        return None
    pts = sh.points
    if sh.lo == 0 and sc.lo == 1 and len(pts) > 1 and pts[1] <= 2 and sh.hi <= 7:
        return (pts[1], sh.hi)
    if _strays(sh, sc.lo, sc.hi):
        return (max(sh.lo, sc.lo), min(sh.hi, sc.hi))
    return (sh.lo, sh.hi)


def touchpoint_strays(sh: Shape, sc: Scales, col: str) -> tuple[int, ...]:
    """A touchpoint's stray answers beside the survey's scale (see STRAY_SHARE)."""
    if col in sc.blocks:
        return sc.strays.get(col, ())
    if not sh.coded or sh.lo is None or sh.hi is None or (sh.lo == 0 and sc.lo == 1):
        return ()
    return _strays(sh, sc.lo, sc.hi)


def touchpoint_codes(sh: Shape, sc: Scales, col: str) -> tuple[Code, ...]:
    """A touchpoint's codes: the survey's reading of it, else its own and a 0 below a 1-x."""
    if col in sc.codes:
        return sc.codes[col]
    extra: list[Code] = (
        [0] if (touchpoint_block(sh, sc, col) or (0, 0))[0] == 1 and 0 in sh.ints else []
    )
    return (*extra, *sh.codes, *markers(sh), *touchpoint_strays(sh, sc, col))
