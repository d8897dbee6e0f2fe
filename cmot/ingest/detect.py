"""Profiling the raw columns and detecting roles, scale and outcome: the proposed mapping."""

from __future__ import annotations

import difflib
import re
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal, TypeVar

import duckdb

from cmot.errors import CmotError
from cmot.ingest.options import IngestOptions
from cmot.ingest.patterns import Match, match_items
from cmot.names import quote_ident
from cmot.spec import (
    OUTCOME_KINDS,
    Code,
    JourneySpec,
    Outcome,
    Stage,
    Touchpoint,
    default_scale,
    validate_spec,
)

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
Layout = Literal["wide", "long"]


_q = quote_ident


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


@dataclass(frozen=True)
class CodeProposal:
    """A value that looks like a code beside the scale rather than a scale point."""

    code: Code
    columns: tuple[str, ...]
    evidence: str  # e.g. "9 holds 21% of answers in 83 columns rated 1-5"
    applied: bool = True  # proposals are applied unless the analyst unticks them


@dataclass(frozen=True)
class Detection:
    """The proposed mapping: every column's role, and a spec once the mapping is valid."""

    layout: str
    encoding: str
    rows: int
    columns: tuple[ColumnGuess, ...]
    spec: JourneySpec | None  # None until the mapping is valid: see `problems`
    problems: tuple[str, ...] = ()  # what to choose before saving, e.g. "pick the outcome"
    proposals: tuple[CodeProposal, ...] = ()
    weight_candidates: tuple[str, ...] = ()  # proposed, never applied unasked
    format: str = "csv"
    sheets: tuple[str, ...] = ()
    sheet: str | None = None
    # What each of --touchpoints' items matched (`cmot.ingest.patterns`), for the command line to
    # say.
    patterns: tuple[Match, ...] = ()
    layout_reason: str = ""  # the evidence for `layout` (cmot.ingest.read.guess_layout)

    def roles(self) -> dict[str, str]:
        return {g.column: g.role for g in self.columns}

    def require_spec(self) -> JourneySpec:
        """The spec, or a CmotError that says what to choose first."""
        if self.spec is None:
            raise CmotError("The mapping is not complete: " + "; ".join(self.problems) + ".")
        return self.spec


# ---- profiling ------------------------------------------------------------------------


@dataclass(frozen=True)
class ColumnProfile:
    column: str
    dtype: str
    count: int
    nulls: int
    distinct: int
    lo: float | None  # of the values that read as numbers
    hi: float | None
    integral: bool
    values: tuple[str, ...]  # the distinct values when there are few (else the text ones)
    first_is_row_index: bool
    counts: tuple[int, ...] = ()  # how often each of `values` occurs
    numbers: int = 0  # non-blank values that read as numbers
    avg_len: float = 0.0  # mean length of a text value
    position: int = 0
    dates: int = 0  # non-blank text values that read as dates (_date_counts)
    # A text column that may hold comments (_text_lengths): the median answer's characters
    # and words. 0 for other columns.
    median_len: float = 0.0
    median_words: float = 0.0


def _as_number(text: str) -> float | None:
    try:
        x = float(text)
    except ValueError:
        return None
    return x if x == x and abs(x) != float("inf") else None


_NUMERIC = (
    "TINYINT",
    "SMALLINT",
    "INTEGER",
    "BIGINT",
    "HUGEINT",
    "UTINYINT",
    "USMALLINT",
)
_FLOAT = ("DOUBLE", "FLOAT", "DECIMAL")


def is_integer_type(dtype: str) -> bool:
    return dtype.startswith(_NUMERIC) or dtype.startswith("UINTEGER") or dtype == "UBIGINT"


def is_numeric_type(dtype: str) -> bool:
    return is_integer_type(dtype) or dtype.startswith(_FLOAT)


PROFILE_ROWS = 30_000
_FEW = 40  # up to this many distinct values a column's every value is counted
# Columns one statement reads at most. DuckDB's planning of one statement grows faster than
# its width (2,000 columns' profile in one statement: 18 s and 1 GB; in batches: linear), so
# a wide file is read in batches; the widest real surveys (226 columns) still take one.
BATCH_COLUMNS = 250
_T = TypeVar("_T")


def batches(items: Sequence[_T]) -> Iterator[Sequence[_T]]:
    """`items` in consecutive slices of at most BATCH_COLUMNS."""
    for start in range(0, len(items), BATCH_COLUMNS):
        yield items[start : start + BATCH_COLUMNS]


def _counts(
    con: duckdb.DuckDBPyConnection, relation: str, exprs: Sequence[str], cast: str = ""
) -> list[tuple[int, Any, int]]:
    """(i, value, count) for each non-NULL value of each of `exprs` (SQL of one type) over
    `relation`: unpivoted to one column of values under one GROUP BY, a batch a statement.
    One hash table for the batch, where a GROUP BY per column under UNION ALL made a plan
    per column (2,000 columns: 0.2 s against 6 s). `cast` (e.g. VARCHAR) applies to each
    value after grouping, as the native value hashes smaller than its text."""
    out: list[tuple[int, Any, int]] = []
    for start in range(0, len(exprs), BATCH_COLUMNS):
        batch = exprs[start : start + BATCH_COLUMNS]
        cols = ", ".join(f'{e} AS "{i}"' for i, e in enumerate(batch))
        names = ", ".join(f'"{i}"' for i in range(len(batch)))
        value = f"CAST(v AS {cast})" if cast else "v"
        rows = con.execute(
            f"SELECT k, {value}, count(*) FROM (SELECT {cols} FROM {relation}) "
            f"UNPIVOT (v FOR k IN ({names})) GROUP BY k, v"
        ).fetchall()
        out += [(start + int(k), v, int(n)) for k, v, n in rows]
    return out


def _num_expr(qc: str, dtype: str) -> str:
    if is_numeric_type(dtype):
        return f"{qc}::DOUBLE"
    if dtype == "VARCHAR":
        return f"TRY_CAST(trim({qc}) AS DOUBLE)"
    return "NULL::DOUBLE"


def _key(v: object) -> str:
    if isinstance(v, float) and abs(v) < 1e15 and v == round(v):  # inf and nan stay text
        return str(int(v))
    return str(v)


def _shapes(con: duckdb.DuckDBPyConnection, types: Mapping[str, str]) -> dict[str, Any]:
    """Each column of the TEMP table `sample` (with its row number `__cmot_r` and a text
    column's numbers in `__cmot_n<i>`): count, distinct (approximate), numbers, min, max,
    integral, is a row index, mean text length, distinct text among numbers.

    The columns of one type are unpivoted into one value column (a text column's numbers
    beside it) and aggregated by column: the same aggregates as one per column, ten times
    faster, as a statement of a few aggregates stays small however many columns it reads."""
    by_type: dict[str, list[tuple[int, str]]] = {}
    for i, (c, t) in enumerate(types.items()):
        by_type.setdefault(t, []).append((i, c))
    names = list(types)
    stats: dict[str, Any] = {}
    for t, columns in by_type.items():
        text = t == "VARCHAR"
        whole = is_integer_type(t)
        num = "num" if text else _num_expr("v", t)
        # A whole-number column's numbers are its values: count, min and max need no cast
        # and every value is integral (filled in below), which halves the work on them.
        aggregates = [
            "count(v)",
            "approx_count_distinct(v)",
            "NULL" if whole else f"count({num})",
            "min(v)" if whole else f"min({num})",
            "max(v)" if whole else f"max({num})",
            "NULL" if whole else f"coalesce(bool_and({num} = round({num})), false)",
            # A leading 0..n-1 or 1..n counter is a row index, not data.
            "coalesce(bool_and(v = r) OR bool_and(v = r + 1), false)" if whole else "false",
            "avg(length(v))" if text else "NULL",
            f"approx_count_distinct(CASE WHEN {num} IS NULL THEN v END)" if text else "0",
        ]
        for batch in batches(columns):
            if text:
                cols = ", ".join(
                    f'{_q(c)} AS "v{k}", __cmot_n{i} AS "n{k}"' for k, (i, c) in enumerate(batch)
                )
                into = ", ".join(f'("v{k}", "n{k}") AS \'{k}\'' for k in range(len(batch)))
                unpivot = f"((v, num) FOR k IN ({into}))"
            else:
                cols = ", ".join(f'{_q(c)} AS "{k}"' for k, (_, c) in enumerate(batch))
                into = ", ".join(f'"{k}"' for k in range(len(batch)))
                unpivot = f"(v FOR k IN ({into}))"
            rows = con.execute(
                f"SELECT k, {', '.join(aggregates)} FROM (SELECT __cmot_r AS r, {cols} "
                f"FROM sample) UNPIVOT INCLUDE NULLS {unpivot} GROUP BY k"
            ).fetchall()
            for k, *values in rows:
                stats[names[batch[int(k)][0]]] = values
    return {c: stats[c] for c in names}


def profile_columns(con: duckdb.DuckDBPyConnection, rows: int) -> list[ColumnProfile]:
    """Per-column statistics for role detection, from every k-th row of a large file.

    Two passes over one materialised sample: shapes first (types, ranges, distinct counts),
    then every value of the few-valued columns, each pass a statement per type and batch of
    BATCH_COLUMNS (one for most surveys), so the work is linear in the columns. Detection
    needs shapes, not exact counts: validation counts every value.
    """
    types = dict((r[0], r[1]) for r in con.execute("DESCRIBE raw").fetchall())
    step = max(1, -(-rows // PROFILE_ROWS))
    # A text column's numbers are read once, into the sample, not in each aggregate below.
    nums = {
        c: f"__cmot_n{i}" if t == "VARCHAR" else _num_expr(_q(c), t)
        for i, (c, t) in enumerate(types.items())
    }
    read_nums = "".join(
        f", {_num_expr(_q(c), t)} AS {nums[c]}" for c, t in types.items() if t == "VARCHAR"
    )
    con.execute(
        "CREATE OR REPLACE TEMP TABLE sample AS "
        f"SELECT rowid AS __cmot_r, *{read_nums} FROM raw WHERE rowid % {step} = 0"
    )
    n = con.execute("SELECT count(*) FROM sample").fetchall()[0][0]
    stats = _shapes(con, types)
    for c, t in types.items():
        if is_integer_type(t):
            cnt, dist, _, lo, hi, _, is_index, avg_len, texts = stats[c]
            lo, hi = (float(lo), float(hi)) if cnt else (None, None)
            stats[c] = (cnt, dist, cnt, lo, hi, cnt > 0, is_index, avg_len, texts)
    # Second pass: every value of the few-valued columns, the text among numbers, and an
    # exact distinct count where uniqueness decides a role (an id). A hash table of native
    # values (`_counts`) is several times faster than histogram()'s map per column.
    groups: tuple[list[tuple[str, str]], ...] = ([], [], [])  # whole numbers, floats, text
    distinct: list[str] = []
    for i, (c, t) in enumerate(types.items()):
        cnt, dist, numbers, lo, hi, integral, _, _, texts = stats[c]
        qc = _q(c)
        expr = None
        if dist <= _FEW:
            small = integral and lo is not None and abs(lo) < 1e15 and abs(hi) < 1e15
            if small and is_numeric_type(t):
                expr, slot = f"{qc}::BIGINT", 0
            elif is_integer_type(t):
                expr, slot = f"{qc}::HUGEINT", 0
            elif t.startswith(("DOUBLE", "FLOAT")):
                expr, slot = f"{qc}::DOUBLE", 1
            elif is_numeric_type(t):
                expr, slot = f"{qc}::VARCHAR", 2  # DECIMAL: its text, as histogram() keyed it
            else:
                expr, slot = f"trim({qc}::VARCHAR)", 2
        elif t == "VARCHAR" and numbers and texts <= 10:
            expr, slot = f"CASE WHEN {nums[c]} IS NULL THEN trim({qc}) END", 2
        if expr is not None:
            groups[slot].append((c, expr))
        if dist > 0.8 * cnt and cnt > _FEW and (i == 0 or re.search(ID_WORDS, c.lower())):
            # approx_count_distinct can be 6% off: too coarse to call a column unique.
            distinct.append(c)
    found: dict[str, dict[object, int]] = {c: {} for group in groups for c, _ in group}
    exact: dict[str, int] = {}
    for group in groups:
        for k, value, cnt in _counts(con, "sample", [expr for _, expr in group]):
            found[group[k][0]][value] = cnt
    for batch in batches(distinct):
        got = con.execute(
            "SELECT " + ", ".join(f"count(DISTINCT {_q(c)})" for c in batch) + " FROM sample"
        ).fetchall()[0]
        exact.update({c: int(v) for c, v in zip(batch, got, strict=True)})
    dates = _date_counts(con, types, step)
    lengths = _text_lengths(con, [c for c, t in types.items() if _may_be_comments(t, stats[c])])
    out = []
    for i, (c, t) in enumerate(types.items()):
        cnt, dist, nums, lo, hi, integral, is_index, avg_len, _ = stats[c]
        items = sorted(
            ((_key(k), int(v)) for k, v in found.get(c, {}).items() if k is not None),
            key=lambda kv: (_as_number(kv[0]) is None, _as_number(kv[0]) or 0.0, kv[0]),
        )
        if c in found and dist <= _FEW:
            dist = len(items)
        dist = exact.get(c, dist)
        out.append(
            ColumnProfile(
                c,
                t,
                int(cnt),
                n - int(cnt),
                int(dist),
                lo,
                hi,
                bool(integral),
                tuple(k for k, _ in items),
                bool(is_index),
                tuple(v for _, v in items),
                int(nums),
                float(avg_len or 0.0),
                i,
                dates.get(c, 0),
                *lengths.get(c, (0.0, 0.0)),
            )
        )
    con.execute("DROP TABLE IF EXISTS temp.sample")
    return out


def _may_be_comments(dtype: str, stats: Sequence[Any]) -> bool:
    """Text without numbers and with enough different answers to be comments (see _guess)."""
    cnt, dist, nums = stats[0], stats[1], stats[2]
    return dtype == "VARCHAR" and not nums and dist > _MIN_COMMENT_VALUES and cnt > 0


def _text_lengths(
    con: duckdb.DuckDBPyConnection, columns: Sequence[str]
) -> dict[str, tuple[float, float]]:
    """The median answer's length in characters and words of each of `columns`, over the
    profile's sample (the few text columns that may be comments: one statement each)."""
    out: dict[str, tuple[float, float]] = {}
    for c in columns:
        v = f"trim({_q(c)})"
        row = con.execute(
            f"SELECT median(length({v})), median(len(string_split_regex({v}, '\\s+'))) "
            f"FROM sample WHERE {v} <> ''"
        ).fetchall()[0]
        out[c] = (float(row[0] or 0.0), float(row[1] or 0.0))
    return out


def _date_counts(
    con: duckdb.DuckDBPyConnection, types: dict[str, str], step: int
) -> dict[str, int]:
    """Each text column named like a date: how many of its non-blank values (in the profile's
    rows) read as dates, as the view reads them (TRY_CAST AS DATE: 2026-03-01, with or without
    a time). A time of day (6:00:00, 8:30 AM) or a marker does not; a column that is mostly
    those is no date column (issue 23: its date filter broke every page)."""
    named = [c for c, t in types.items() if t == "VARCHAR" and re.search(_DATE_WORDS, c.lower())]
    out: dict[str, int] = {}
    for start in range(0, len(named), 200):  # a wide file: a few hundred aggregates a statement
        batch = named[start : start + 200]
        parts = ", ".join(f"count(TRY_CAST(trim({_q(c)}) AS DATE))" for c in batch)
        row = con.execute(f"SELECT {parts} FROM raw WHERE rowid % {step} = 0").fetchall()[0]
        out.update((c, int(n)) for c, n in zip(batch, row, strict=True))
    return out


COUNTED = 60  # the value counts carried for the mapping page: its outcome and segment tables


def value_counts(
    con: duckdb.DuckDBPyConnection, profiles: Sequence[ColumnProfile]
) -> dict[str, tuple[tuple[str, int], ...]]:
    """Exact counts of every value of the columns with few values, over all the rows of
    `raw`: the mapping page's outcome values and segment sizes are respondents, so a sample
    (fine for detection's shares) would not do. Grouped by the native value and cast after:
    a BIGINT's text is Python's str of it, and the hash table is smaller than of text."""
    few = [p.column for p in profiles if p.distinct <= COUNTED]
    if not few:
        return {}
    found: dict[str, list[tuple[str, int]]] = {c: [] for c in few}
    by_type: dict[str, list[str]] = {}  # unpivoted together: one type, no value converted
    for p in profiles:
        if p.distinct <= COUNTED:
            by_type.setdefault(p.dtype, []).append(p.column)
    for columns in by_type.values():
        for k, v, n in _counts(con, "raw", [_q(c) for c in columns], "VARCHAR"):
            found[columns[k]].append((str(v), n))
    # Ties in value order: the same file gives the same counts whatever the hash order.
    return {
        c: tuple(sorted(pairs, key=lambda p: (-p[1], p[0]))[:COUNTED]) for c, pairs in found.items()
    }


def column_histograms(
    con: duckdb.DuckDBPyConnection, columns: Sequence[tuple[str, bool]]
) -> dict[str, tuple[tuple[str, int], ...]]:
    """Each (column, is whole numbers) of `raw`: its non-blank values and their counts, the
    COUNTED most frequent, in one scan for all of them (a histogram per column). Whole
    numbers are counted as they are (their text is the same as SQL's cast); other types as
    text, as the stored dataset compares them. For a column `value_counts` left uncounted."""
    if not columns:
        return {}
    parts = [
        f"histogram({_q(c)})" if whole else f"histogram({_q(c)}::VARCHAR)" for c, whole in columns
    ]
    row: list[Any] = []
    for batch in batches(parts):
        row += con.execute(f"SELECT {', '.join(batch)} FROM raw").fetchall()[0]
    out: dict[str, tuple[tuple[str, int], ...]] = {}
    for (column, _), hist in zip(columns, row, strict=True):
        pairs = [(str(v), int(n)) for v, n in (hist or {}).items()]
        out[column] = tuple(sorted(pairs, key=lambda p: (-p[1], p[0]))[:COUNTED])
    return out


# ---- the shape of a column's answers -------------------------------------------------

_MARKER_MAX = 4  # a numeric column may carry this many distinct text markers


@dataclass(frozen=True)
class _Shape:
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


def _shape(p: ColumnProfile) -> _Shape:
    ints: dict[int, int] = {}
    texts: dict[str, int] = {}
    fractional = 0
    for v, k in zip(p.values, p.counts, strict=True):
        x = _as_number(v)
        if x is None:
            texts[v] = k
        elif x == round(x):
            ints[int(x)] = k
        else:
            fractional += k
    # A stray 3.5 among whole ratings is an out-of-scale answer, not another kind of column.
    whole = p.distinct <= _FEW and bool(ints) and fractional <= 0.02 * p.count
    coded = (
        whole
        and len(texts) <= _MARKER_MAX
        and sum(texts.values()) <= 0.5 * p.count
        and sum(ints.values()) > 0
    )
    if not coded:
        return _Shape(ints, texts, (), None, None, False)
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
    return _Shape(ints, texts, tuple(sorted(codes)), lo, hi, True)


def _sample_text(p: ColumnProfile) -> str:
    """A look at the values: each with its share, or the range and a count of values."""
    if p.values and p.distinct <= _FEW:
        total = sum(p.counts) or 1
        return ", ".join(
            f"{v} ({k / total:.0%})" for v, k in zip(p.values[:20], p.counts[:20], strict=True)
        ) + (" ..." if len(p.values) > 20 else "")
    if p.numbers and p.lo is not None and p.hi is not None:
        extra = f"; text: {', '.join(p.values[:4])}" if p.values else ""
        return f"{p.distinct:,} values from {p.lo:g} to {p.hi:g}{extra}"
    return f"{p.distinct:,} different texts" if p.count else "all blank"


# ---- role detection ----------------------------------------------------------------------

_OUTCOME_WORDS = (
    r"satisf|outcome|target|recommend|\bnps\b|\bltr\b|loyal(ty)?\b|retain|retention|churn|"
    r"renew|again|overall|netpro|^global$|^o_experience$|^experience$"
)
_STRONG_OUTCOME = r"^(satisfaction|satisfied|outcome|target|overall|nps|churn|retained|global)$"
_FIRST_OUTCOME = r"overall|satisf|global|experience"  # preferred over recommend when both
ID_WORDS = r"(^|[\s_])(id|respondent|resp|uuid|record)($|[\s_])|^id$|_id$|\bid\b"
_WEIGHT_WORDS = r"weight|^wt$|wgt|weighting"
_DATE_WORDS = r"date|time|when|day"
_NOT_RATING_WORDS = (
    r"\bage\b|year|count|number|\bnum\b|children|distance|delay|minutes|size|gender|\bsex\b|"
    r"income|language|method|mode\b|district|\bzip|postcode|race|ethnic|education|occupation|"
    r"region|country|\bstrat|segment|tier|purpose|_code\b|\bcode\b|wave|quarter|month|hour|"
    r"\blang|peak|residen|county|marital|employ|household"
)
_MODEL_WORDS = r"predict|^prob|\bprob\b|prob\(|fitted|most likely|residual|\bscore_hat"
_UNNAMED = r"^(column\d+|unnamed:? ?\d*|index|\.\.\.\d+|)$"
_MARKER_WORDS = (
    r"^(n/?a|#n/a|nan|null|none|blank|missing|don'?t know|do not know|dk|refused|no answer|"
    r"not applicable|not rated|never used|prefer not to (say|answer)|-|\.|\?)$"
)
_NEGATIVE = r"\bnot\b|\bno\b|dis|unsat|neutral|false|\bdetractor|unlikely|never|^0$|^n$"
_STANDARD_OTHER = ((0, 10),)  # touchpoints on another scale than the majority: 0-10 only
# A comment column: over this many different answers, at least this share of them different
# (mostly unique), and a typical (median) answer of this many words and characters. Real
# comments: 16 words, 97 characters, 98% different (Santa Monica); a review title is three
# or four words, a lounge's name five but repeated.
_MIN_COMMENT_VALUES = 50
_COMMENT_UNIQUE = 0.5
_COMMENT_WORDS = 6
_COMMENT_CHARS = 30


def _positive_values(values: Sequence[str]) -> tuple[str, ...]:
    """For a two-valued outcome, the value meaning 'positive': the one that is not a negation."""
    pos = [v for v in values if not re.search(_NEGATIVE, v.strip().lower())]
    if len(pos) == 1:
        return (pos[0],)
    if set(values) == {"0", "1"}:
        return ("1",)
    return (sorted(values)[-1],)


def name_stem(name: str) -> str:
    return re.sub(r"\d+", "#", re.sub(r"\s+", " ", name.strip().lower()))


def _guess(p: ColumnProfile, sh: _Shape) -> ColumnGuess:
    """The role a column has on its own; the survey-wide scale refines ratings later."""
    name = p.column.lower()

    def g(role: str, kind: str, conf: float, why: str) -> ColumnGuess:
        return ColumnGuess(
            p.column, role, kind, conf, why, p.dtype, p.distinct, p.nulls, _sample_text(p)
        )

    unique = p.count > 1 and p.distinct >= 0.95 * p.count
    if p.count == 0:
        return g("ignore", "text", 0.9, "every value is blank")
    if re.fullmatch(_UNNAMED, name.strip()) and (p.first_is_row_index or unique):
        return g("ignore", "id", 0.8, "an unnamed row index")
    if p.dtype in ("DATE", "TIMESTAMP", "TIMESTAMP WITH TIME ZONE"):
        return g("date", "date", 0.9, "read as dates")
    if re.search(ID_WORDS, name):
        if unique:
            return g("id", "id", 0.9, "named like an id and unique")
        return g("id", "id", 0.5, "named like an id, but some values repeat")
    if p.first_is_row_index and p.position == 0 and p.count > 2:
        return g("id", "id", 0.7, "a sequential counter in the first column")
    if p.position == 0 and unique and p.count > _FEW and (p.integral or not p.numbers):
        return g("id", "id", 0.6, "the first column, a different value in every row")
    if re.search(_MODEL_WORDS, name):
        return g("ignore", "numeric", 0.7, "named like a model output, not a survey answer")
    if re.search(_WEIGHT_WORDS, name) and p.numbers == p.count and (p.lo or 0) > 0:
        return g(
            "attribute",
            "weight",
            0.7,
            "named like a survey weight, positive numbers: proposed, not applied "
            "(make it the weight to weight the results)",
        )
    named_date = p.dtype == "VARCHAR" and re.search(_DATE_WORDS, name) and p.distinct > 20
    if named_date and p.dates >= 0.8 * p.count:  # only dates make it: a time of day is none
        return g("date", "date", 0.8, "named like a date, and its values read as dates")
    if not p.numbers and p.dtype == "VARCHAR":
        # Comments: long answers (sentences, not a few words) and mostly different ones. A
        # title is a few words; a name (an airline, a lounge, a city) repeats (issue 23).
        unique_share = p.distinct / p.count if p.count else 0.0
        if p.distinct > _MIN_COMMENT_VALUES and unique_share >= _COMMENT_UNIQUE:
            if p.median_words >= _COMMENT_WORDS and p.median_len >= _COMMENT_CHARS:
                return g(
                    "comment",
                    "text",
                    0.7,
                    f"free text: {p.median_words:g} words a typical answer, "
                    f"{unique_share:.0%} different",
                )
            return g(
                "ignore",
                "text",
                0.6,
                f"short text ({p.median_words:g} words a typical answer): titles or names, "
                "not comments",
            )
    if re.search(_OUTCOME_WORDS, name):
        main = len(sh.points) if sh.coded else p.distinct - len(_markers(sh))
        if main == 2 or (not sh.coded and p.distinct == 2):
            return g("outcome", "binary", 0.9, "two values, named like an outcome")
        if sh.coded and len(sh.points) >= 3 and (sh.hi or 0) <= 11:
            return g("outcome", "scale", 0.7, "a scale, named like an outcome")
        if main <= 1:
            return g("outcome", "binary", 0.5, "named like an outcome, but one value only")
        numbers = p.numbers >= 0.9 * p.count and not sh.coded
        if numbers and p.distinct > 2 and not re.search(_NOT_RATING_WORDS, name):
            return g("outcome", "scale", 0.6, f"numbers {p.lo:g}-{p.hi:g}, named like an outcome")
    if sh.coded and sh.lo is not None and sh.hi is not None:
        pts = sh.points
        rating = len(pts) >= 3 and sh.lo >= 0 and sh.hi - sh.lo <= 11 and 3 <= sh.hi <= 11
        if rating and not re.search(_NOT_RATING_WORDS, name):
            return g("touchpoint", "rating", 0.7, _rating_reason(sh))
        if len(pts) <= 20:
            return g("attribute", "categorical", 0.8, f"{len(pts)} codes" + _codes_note(sh))
        return g("attribute", "numeric", 0.7, f"whole numbers {sh.lo}-{sh.hi}")
    if p.numbers and p.numbers >= 0.5 * p.count:
        return g("attribute", "numeric", 0.8, f"numbers {p.lo:g}-{p.hi:g}")
    if p.distinct <= 20:
        return g("attribute", "categorical", 0.8, f"{p.distinct} distinct values")
    return g("attribute", "text", 0.5, f"{p.distinct} distinct values: too many for a segment")


def _markers(sh: _Shape) -> tuple[str, ...]:
    """Text in a numeric column that reads as 'no answer' rather than a value."""
    return tuple(t for t in sh.texts if re.fullmatch(_MARKER_WORDS, t.strip().lower()))


def _codes_note(sh: _Shape) -> str:
    extra = [str(c) for c in sh.codes] + list(sh.texts)
    return f" (besides {', '.join(extra)})" if extra else ""


def _rating_reason(sh: _Shape) -> str:
    return f"whole numbers {sh.lo}-{sh.hi}" + _codes_note(sh)


@dataclass(frozen=True)
class _Scales:
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


def _strays(sh: _Shape, lo: int, hi: int) -> tuple[int, ...]:
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


def _bulk(sh: _Shape, lo: int, hi: int) -> tuple[int, int]:
    """`lo`-`hi` without rare end points apart from the rest (a 7 above 1-5 with no 6), so
    that a stray does not vote for a wider scale."""
    pts = [v for v in sh.points if lo <= v <= hi]
    rare = STRAY_SHARE * sh.answers
    while len(pts) > 3 and pts[-1] > pts[-2] + 1 and sh.ints[pts[-1]] < rare:
        pts.pop()
    while len(pts) > 3 and pts[0] < pts[1] - 1 and sh.ints[pts[0]] < rare:
        pts.pop(0)
    return (pts[0], pts[-1]) if len(pts) >= 2 else (lo, hi)


def _survey_scale(ratings: dict[str, _Shape]) -> _Scales:
    """The majority block among the rating-like columns, and the codes beside it.

    A 0 beside 1-5 or 1-7 is 'not applicable'; a 6 beside 1-5 (columns on 1-6 next to
    columns on 1-5) is 'never used': neither widens the scale.
    """
    blocks: dict[str, tuple[int, int]] = {}
    codes: dict[str, list[Code]] = {}
    for c, sh in ratings.items():
        assert sh.lo is not None and sh.hi is not None
        lo, hi = sh.lo, sh.hi
        codes[c] = [*sh.codes, *_markers(sh)]
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
    return _Scales(lo, hi, blocks, {c: tuple(v) for c, v in codes.items()}, strays)


def _resolve_touchpoints(patterns: Sequence[str], columns: Sequence[str]) -> list[Match]:
    """Exact column names first, else patterns (`Q7*`; only * and ? are wildcards, brackets
    are literal: `cmot.ingest.patterns`); unmatched names are an error."""
    return match_items(columns, patterns, "the touchpoint")


def _close(name: str, columns: Sequence[str]) -> str:
    """Names really close to `name`: the same but for case, spacing and punctuation, or a slip
    of a letter or two with the same numbers (q2_01 is no close name of q2_1: issue 23)."""

    def norm(text: str) -> str:
        return re.sub(r"[\W_]+", "", text.casefold())

    def digits(text: str) -> list[str]:
        return re.findall(r"\d+", text)

    key = norm(name)
    close = [c for c in columns if norm(c) == key]
    for c in difflib.get_close_matches(name, columns, n=5, cutoff=0.8):
        if c not in close and digits(c) == digits(name) and len(key) >= 4:
            close.append(c)
    return f" Close names: {', '.join(close[:5])}." if close else ""


@dataclass(frozen=True)
class _Meta:
    """What the survey software said about the columns (SPSS, Qualtrics): kept, not guessed."""

    labels: Mapping[str, str] = field(default_factory=dict)
    value_labels: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    declared_missing: Mapping[str, tuple[Code, ...]] = field(default_factory=dict)

    def declared(self, column: str) -> tuple[Code, ...]:
        return tuple(self.declared_missing.get(column, ()))


def detect(
    profiles: list[ColumnProfile],
    n: int,
    opts: IngestOptions,
    layout: str,
    encoding: str,
    labels: Mapping[str, str] | None = None,
    value_labels: Mapping[str, Mapping[str, str]] | None = None,
    declared_missing: Mapping[str, tuple[Code, ...]] | None = None,
) -> Detection:
    """The proposed mapping. `labels` (question text), `value_labels` and `declared_missing`
    come from the file's own metadata (RawFile) where it has any."""
    meta = _Meta(labels or {}, value_labels or {}, declared_missing or {})
    shapes = {p.column: _shape(p) for p in profiles}
    guesses = {p.column: _guess(p, shapes[p.column]) for p in profiles}
    guesses = {c: replace(g, label=meta.labels.get(c, "")) for c, g in guesses.items()}
    by_col = {p.column: p for p in profiles}
    columns = list(guesses)

    # The survey's scale from the rating-like columns; a name family that mostly holds
    # other answers (Q16, Q17, Q22 ... beside Q5) makes its 1-5 member an attribute.
    rating_like = {c: shapes[c] for c, g in guesses.items() if g.role == "touchpoint"}
    sc = _survey_scale(rating_like)
    stems = Counter(name_stem(c) for c in columns)
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
                guesses[c] = replace(
                    g,
                    role="attribute",
                    kind="categorical",
                    confidence=0.5,
                    reason=f"{_rating_reason(shapes[c])}: coded unlike the ratings, whose "
                    f"code is {common[0]}",
                )
            elif stems[fam] >= 3 and on_scale[fam] < 0.5 * stems[fam]:
                guesses[c] = replace(
                    g,
                    role="attribute",
                    kind="categorical",
                    confidence=0.5,
                    reason=f"{_rating_reason(shapes[c])}, but most columns named like it "
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
            reason=f"{_rating_reason(shapes[c])}, not the survey's {sc.lo}-{sc.hi} scale",
        )

    # One outcome: what the user names, else the best named one, else none (a prompt).
    if opts.outcome is not None and opts.outcome not in guesses:
        raise CmotError(
            f"There is no column {opts.outcome!r} to use as the outcome."
            + _close(opts.outcome, columns)
        )
    named = [g for g in guesses.values() if g.role == "outcome"]
    keep: ColumnGuess | None = None
    if named and opts.outcome is None:
        keep = sorted(
            named,
            key=lambda g: (
                not re.search(_STRONG_OUTCOME, g.column.lower()),
                not re.search(_FIRST_OUTCOME, g.column.lower()),
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
    if opts.outcome is not None:
        g = guesses[opts.outcome]
        guesses[opts.outcome] = replace(g, role="outcome", confidence=1.0, reason="set by you")

    # What the user fixed: touchpoints by name or pattern, then roles column by column.
    matched: list[Match] = []
    if opts.touchpoints is not None:
        matched = _resolve_touchpoints(opts.touchpoints, columns)
        chosen = [c for m in matched for c in m.columns]
        for c, g in guesses.items():
            if c in chosen and g.role != "outcome":
                guesses[c] = replace(g, role="touchpoint", confidence=1.0, reason="set by you")
            elif g.role == "touchpoint":
                guesses[c] = replace(
                    g, role="attribute", confidence=1.0, reason="not among your touchpoints"
                )
    for col, role in opts.roles.items():
        if col not in guesses:
            raise CmotError(
                f"The mapping names a column {col!r} that the file does not have."
                + _close(col, columns)
            )
        if role not in ROLES:
            raise CmotError(f"Unknown role {role!r} for {col!r}; use one of {', '.join(ROLES)}.")
        guesses[col] = replace(guesses[col], role=role, confidence=1.0, reason="set by you")

    weights = tuple(c for c, g in guesses.items() if g.kind == "weight")
    weight: str | None = None
    if opts.weight is not None and opts.weight.lower() != "none":
        if opts.weight not in guesses:
            raise CmotError(
                f"There is no column {opts.weight!r} to weight by." + _close(opts.weight, columns)
            )
        weight = opts.weight
        g = guesses[weight]
        guesses[weight] = replace(g, role="weight", confidence=1.0, reason="set by you")
    elif opts.weight is None:
        chosen_w = [c for c, g in guesses.items() if g.role == "weight"]
        weight = chosen_w[0] if chosen_w else None
    else:
        for c, g in guesses.items():
            if g.role == "weight":
                guesses[c] = replace(g, role="attribute", reason="you chose no weight")

    det = _build(
        guesses, by_col, shapes, sc, other_scale, weight, weights, n, opts, layout, encoding, meta
    )
    return replace(det, patterns=tuple(matched)) if matched else det


def _order(codes: Sequence[Code]) -> tuple[Code, ...]:
    uniq = list(dict.fromkeys(codes))
    return tuple(
        sorted(uniq, key=lambda c: (isinstance(c, str), c if isinstance(c, int) else 0, str(c)))
    )


def _tp_block(sh: _Shape, sc: _Scales, col: str) -> tuple[int, int] | None:
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


def _tp_strays(sh: _Shape, sc: _Scales, col: str) -> tuple[int, ...]:
    """A touchpoint's stray answers beside the survey's scale (see STRAY_SHARE)."""
    if col in sc.blocks:
        return sc.strays.get(col, ())
    if not sh.coded or sh.lo is None or sh.hi is None or (sh.lo == 0 and sc.lo == 1):
        return ()
    return _strays(sh, sc.lo, sc.hi)


def _tp_codes(sh: _Shape, sc: _Scales, col: str) -> tuple[Code, ...]:
    if col in sc.codes:
        return sc.codes[col]
    extra: list[Code] = [0] if (_tp_block(sh, sc, col) or (0, 0))[0] == 1 and 0 in sh.ints else []
    return (*extra, *sh.codes, *_markers(sh), *_tp_strays(sh, sc, col))


def _build(
    guesses: dict[str, ColumnGuess],
    profiles: dict[str, ColumnProfile],
    shapes: dict[str, _Shape],
    sc: _Scales,
    other_scale: dict[str, tuple[int, int]],
    weight: str | None,
    weight_candidates: tuple[str, ...],
    n: int,
    opts: IngestOptions,
    layout: str,
    encoding: str,
    meta: _Meta | None = None,
) -> Detection:
    meta = meta or _Meta()

    def cols(role: str) -> list[str]:
        return [c for c, g in guesses.items() if g.role == role]

    problems: list[str] = []
    touchpoints = cols("touchpoint")
    # Each touchpoint: the survey's scale, or its own when it is another whole scale.
    own: dict[str, tuple[int, int]] = {}
    found: dict[str, tuple[Code, ...]] = {}  # column -> codes detected in it
    for t in touchpoints:
        sh = shapes[t]
        block = other_scale.get(t) or _tp_block(sh, sc, t)
        if block and block[1] - block[0] >= 2 and not (sc.lo <= block[0] and block[1] <= sc.hi):
            own[t] = block
        codes = _order([*_tp_codes(sh, sc, t), *meta.declared(t)])
        if codes:
            found[t] = codes
    lo, hi = sc.lo, sc.hi
    main_tps = [t for t in touchpoints if t not in own]
    if opts.missing is not None:
        scale_missing = tuple(opts.missing)
        if lo == 1 and 0 not in scale_missing and any(0 in shapes[t].ints for t in main_tps):
            lo = 0  # the user says 0 is no code: it is a scale point
        # A code the analyst declares at an end of the detected scale (6 = never used, read
        # as a sixth point beside 1-5) is no scale point: the scale ends before it.
        ends = {c for c in scale_missing if isinstance(c, int)}
        while hi - lo > 2 and hi in ends:
            hi -= 1
        while hi - lo > 2 and lo in ends:
            lo += 1
    else:
        scale_missing = _order([c for t in main_tps for c in found.get(t, ())])
    scales = {
        t: default_scale(a, b, opts.missing if opts.missing is not None else found.get(t, ()))
        for t, (a, b) in own.items()
    }

    missing: dict[str, tuple[Code, ...]] = {}
    attributes = [c for c in cols("attribute") if c != weight]
    for c in attributes:
        sh = shapes[c]
        own_codes: list[Code] = [*sh.codes, *_markers(sh)] if sh.coded else []
        codes = _order([*own_codes, *meta.declared(c)])
        if codes:
            found[c] = codes
            if opts.missing is None:
                missing[c] = _order(codes)

    outcome_cols = cols("outcome")
    outcome: Outcome | None = None
    if not outcome_cols:
        problems.append(
            "pick the outcome column: no column is named like an overall rating, a recommend "
            "score or a yes/no outcome (--outcome COLUMN, or give one column the role 'outcome')"
        )
    elif len(outcome_cols) > 1:
        problems.append(f"only one column can be the outcome; you mapped {outcome_cols}")
    else:
        outcome, ocodes = _outcome(outcome_cols[0], profiles, shapes, sc, scale_missing, opts)
        ocodes = _order([*ocodes, *meta.declared(outcome.column)])
        if ocodes:
            found.setdefault(outcome.column, ocodes)
        oc_missing = _outcome_missing(outcome, ocodes, shapes[outcome.column], opts)
        if oc_missing:
            missing[outcome.column] = oc_missing
        op = profiles[outcome.column]
        if op.count > 20 and op.distinct >= 0.95 * op.count and not opts.positive:
            problems.append(
                f"pick another outcome column: {outcome.column!r} has a different value in "
                "nearly every row, like an id, so it measures nothing about the journey"
            )
    if not touchpoints:
        problems.append(
            "pick the touchpoint columns: no column holds whole-number ratings such as 1-5 or "
            "0-10 (--touchpoints with names or patterns such as Q7*, or the role 'touchpoint')"
        )
    strays = {t: v for t in touchpoints if (v := _tp_strays(shapes[t], sc, t)) and t not in own}
    proposals = _proposals(
        found, guesses, shapes, sc, own, opts, sampled=n > PROFILE_ROWS, meta=meta, strays=strays
    )

    spec: JourneySpec | None = None
    if not problems and outcome is not None:
        segments = [c for c in attributes if _is_segment(profiles[c], shapes[c], guesses[c])]
        ids, dates = cols("id"), cols("date")
        try:
            spec = validate_spec(
                JourneySpec(
                    stages=(Stage("Journey", tuple(touchpoints)),),
                    touchpoints=_touchpoints(touchpoints, meta.labels),
                    scale=default_scale(lo, hi, scale_missing),
                    outcome=outcome,
                    id_column=ids[0] if ids else None,
                    weight_column=weight,
                    date_column=dates[0] if dates else None,
                    segments=tuple(segments),
                    attributes=tuple(attributes),
                    ignored=tuple(
                        cols("ignore")
                        + ids[1:]
                        + [w for w in cols("weight") if w != weight]
                        + dates[1:]
                    ),
                    missing=missing,
                    labels={
                        **{c: v for c, v in meta.value_labels.items() if c in attributes},
                        **opts.labels,
                    },
                    scales=scales,
                    comments=tuple(cols("comment")),
                    column_labels={
                        c: t
                        for c, t in meta.labels.items()
                        if c in guesses and c not in touchpoints
                    },
                )
            )
        except CmotError as e:
            problems.append(str(e).rstrip("."))
    return Detection(
        layout,
        encoding,
        n,
        tuple(guesses.values()),
        spec,
        tuple(problems),
        proposals,
        weight_candidates,
    )


def _touchpoints(columns: Sequence[str], labels: Mapping[str, str]) -> tuple[Touchpoint, ...]:
    """The touchpoints labelled with their question text; a text two of them share (a
    Qualtrics export's duplicate columns) gets the column beside it, as every result is keyed
    on a touchpoint's name (issue 23: the Journey page's pivot refused the twins)."""
    names = Counter(labels.get(c) or c for c in columns)
    out = []
    for c in columns:
        label = labels.get(c, "")
        out.append(Touchpoint(c, f"{label} ({c})" if label and names[label] > 1 else label))
    return tuple(out)


def _is_segment(p: ColumnProfile, sh: _Shape, g: ColumnGuess) -> bool:
    """Few codes or few texts: a segmentation to offer; hundreds of values are not one."""
    if g.kind != "categorical":
        return False  # a weight, a number, another outcome's scale
    if sh.coded:
        return 2 <= len(sh.points) <= 20
    return not p.numbers and 2 <= p.distinct <= 20


def _outcome(
    col: str,
    profiles: dict[str, ColumnProfile],
    shapes: dict[str, _Shape],
    sc: _Scales,
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
    codes: list[Code] = [*sh.codes, *_markers(sh)] if numeric else []
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
        marks = _markers(sh)
        values = [v for v in p.values if v not in marks and _code_value(v) not in sh.codes]
        positive = opts.positive or (_positive_values(values) if values else ())
        codes = [*marks]
    elif kind == "recommend":
        omin, omax = 0.0, 10.0
    if opts.outcome_range is not None:
        omin, omax = float(opts.outcome_range[0]), float(opts.outcome_range[1])
        if omin >= omax:
            raise CmotError(
                f"The outcome range {omin:g}-{omax:g} is empty: give the lowest value first."
            )
    elif kind == "scale" and sh.coded and lo is not None and hi is not None:
        omin, omax = float(lo), float(hi)
    return Outcome(col, kind, positive, omin, omax), _order(codes)  # type: ignore[arg-type]


def _code_value(v: str) -> Code:
    x = _as_number(v)
    return int(x) if x is not None and x == round(x) else v


def _outcome_missing(
    o: Outcome, found: tuple[Code, ...], sh: _Shape, opts: IngestOptions
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


def _proposals(
    found: dict[str, tuple[Code, ...]],
    guesses: dict[str, ColumnGuess],
    shapes: dict[str, _Shape],
    sc: _Scales,
    own: dict[str, tuple[int, int]],
    opts: IngestOptions,
    sampled: bool = False,
    meta: _Meta | None = None,
    strays: Mapping[str, tuple[int, ...]] | None = None,
) -> tuple[CodeProposal, ...]:
    """One proposal per code, with the evidence in words and numbers; a stray answer
    (`strays`: touchpoint -> its answers outside the survey's scale) says so."""
    strays = strays or {}
    by_code: dict[Code, list[str]] = {}
    for col, codes in found.items():
        for code in codes:
            by_code.setdefault(code, []).append(col)
    declared = {str(c) for c in opts.missing} if opts.missing is not None else None
    out = []
    for code in _order(list(by_code)):
        cs = by_code[code]
        rated = [c for c in cs if guesses[c].role in ("touchpoint", "outcome")]
        other = [c for c in cs if c not in rated]

        def share(columns: list[str], code: Code = code) -> tuple[int, int]:
            hits = total = 0
            for c in columns:
                sh = shapes[c]
                hits += sh.ints.get(code, 0) if isinstance(code, int) else sh.texts.get(code, 0)
                total += sh.answers
            return hits, total

        parts = []
        said = [c for c in cs if meta and code in meta.declared(c)]
        if said:
            names = ", ".join(said[:3]) + (" ..." if len(said) > 3 else "")
            parts.append(f"the file declares {code} missing in {len(said)} column(s) ({names})")
        stray = [c for c in rated if code in strays.get(c, ())]
        rated = [c for c in rated if c not in stray]
        if stray:
            hits, total = share(stray)
            names = ", ".join(stray[:3]) + (" ..." if len(stray) > 3 else "")
            parts.append(
                f"{hits:,} answer{'s' if hits != 1 else ''} ({hits / max(total, 1):.1%}) in "
                f"{names}, outside the {sc.lo}-{sc.hi} the bulk of the sibling columns use: "
                f"a stray answer (under {STRAY_SHARE:.0%} of a column's), not a wider scale"
            )
        if rated:
            hits, total = share(rated)
            scales = sorted({own.get(c, (sc.lo, sc.hi)) for c in rated})
            rng = " or ".join(f"{a}-{b}" for a, b in scales)
            parts.append(
                f"{code} holds {hits / max(total, 1):.0%} of the answers ({hits:,}) in "
                f"{len(rated)} column(s) otherwise rated {rng}"
            )
        if other:
            hits, total = share(other)
            names = ", ".join(other[:3]) + (" ..." if len(other) > 3 else "")
            parts.append(
                f"{'also ' if rated else ''}{code} stands apart from the other codes in "
                f"{len(other)} coded column(s) ({names}): {hits / max(total, 1):.0%} of their "
                "answers"
            )
        applied = declared is None or str(code) in declared
        where = " (counted in a sample of the rows)" if sampled else ""
        out.append(CodeProposal(code, tuple(cs), "; ".join(parts) + where, applied))
    return tuple(out)
