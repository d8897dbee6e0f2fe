"""Profiling the raw columns: each column's shape from a sample of the rows
(`profile_columns`, `ColumnProfile`) and exact counts of the values of the few-valued ones
(`value_counts`, `column_histograms`), a statement per column type and batch of
`BATCH_COLUMNS`, so the work stays linear in a wide file's columns."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import duckdb

from cmot.ingest.column_words import DATE_WORDS, ID_WORDS, MIN_COMMENT_VALUES
from cmot.names import quote_ident

_q = quote_ident


@dataclass(frozen=True)
class ColumnProfile:
    """A column's shape over the profile's sample: what role detection reads."""

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


def as_number(text: str) -> float | None:
    """`text` as a finite number, or None."""
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
FEW_VALUES = 40  # up to this many distinct values a column's every value is counted
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
    nums = _read_sample(con, types, step)
    n = con.execute("SELECT count(*) FROM sample").fetchall()[0][0]
    stats = _shapes(con, types)
    _whole_number_shapes(stats, types)
    # Second pass: every value of the few-valued columns, the text among numbers, and an
    # exact distinct count where uniqueness decides a role (an id). A hash table of native
    # values (`_counts`) is several times faster than histogram()'s map per column.
    groups, distinct = _to_count(types, stats, nums)
    found = _values_found(con, groups)
    exact = _exact_distinct(con, distinct)
    dates = _date_counts(con, types, step)
    lengths = _text_lengths(con, [c for c, t in types.items() if _may_be_comments(t, stats[c])])
    out = [
        _profile(i, c, t, stats[c], n, found.get(c), exact, dates, lengths)
        for i, (c, t) in enumerate(types.items())
    ]
    con.execute("DROP TABLE IF EXISTS temp.sample")
    return out


def _read_sample(
    con: duckdb.DuckDBPyConnection, types: Mapping[str, str], step: int
) -> dict[str, str]:
    """The TEMP table `sample`: every `step`-th row of `raw` with its row number `__cmot_r`;
    each column's numbers as SQL over it (the returned mapping). A text column's numbers are
    read once, into the sample as `__cmot_n<i>`, not in each aggregate after."""
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
    return nums


def _whole_number_shapes(stats: dict[str, Any], types: Mapping[str, str]) -> None:
    """A whole-number column's shape filled in (in place): its numbers are its values, all
    integral, its min and max as floats (`_shapes` left them out)."""
    for c, t in types.items():
        if is_integer_type(t):
            cnt, dist, _, lo, hi, _, is_index, avg_len, texts = stats[c]
            lo, hi = (float(lo), float(hi)) if cnt else (None, None)
            stats[c] = (cnt, dist, cnt, lo, hi, cnt > 0, is_index, avg_len, texts)


def _count_expr(column: str, dtype: str, stat: Sequence[Any], num: str) -> tuple[str, int] | None:
    """The SQL whose values are counted for `column` and its group (0: whole numbers, 1:
    floats, 2: text), or None: every value of a few-valued column, or the text among a text
    column's numbers when there are few."""
    _, dist, numbers, lo, hi, integral, _, _, texts = stat
    qc = _q(column)
    if dist <= FEW_VALUES:
        small = integral and lo is not None and abs(lo) < 1e15 and abs(hi) < 1e15
        if small and is_numeric_type(dtype):
            return f"{qc}::BIGINT", 0
        if is_integer_type(dtype):
            return f"{qc}::HUGEINT", 0
        if dtype.startswith(("DOUBLE", "FLOAT")):
            return f"{qc}::DOUBLE", 1
        if is_numeric_type(dtype):
            return f"{qc}::VARCHAR", 2  # DECIMAL: its text, as histogram() keyed it
        return f"trim({qc}::VARCHAR)", 2
    if dtype == "VARCHAR" and numbers and texts <= 10:
        return f"CASE WHEN {num} IS NULL THEN trim({qc}) END", 2
    return None


def _to_count(
    types: Mapping[str, str], stats: Mapping[str, Any], nums: Mapping[str, str]
) -> tuple[tuple[list[tuple[str, str]], ...], list[str]]:
    """The columns whose values the second pass counts, as (column, SQL) in three groups
    (whole numbers, floats, text: `_count_expr`), and those it counts distinct exactly."""
    groups: tuple[list[tuple[str, str]], ...] = ([], [], [])  # whole numbers, floats, text
    distinct: list[str] = []
    for i, (c, t) in enumerate(types.items()):
        cnt, dist = stats[c][0], stats[c][1]
        counted = _count_expr(c, t, stats[c], nums[c])
        if counted is not None:
            expr, slot = counted
            groups[slot].append((c, expr))
        if dist > 0.8 * cnt and cnt > FEW_VALUES and (i == 0 or re.search(ID_WORDS, c.lower())):
            # approx_count_distinct can be 6% off: too coarse to call a column unique.
            distinct.append(c)
    return groups, distinct


def _values_found(
    con: duckdb.DuckDBPyConnection, groups: Sequence[Sequence[tuple[str, str]]]
) -> dict[str, dict[object, int]]:
    """Each counted column's values in the sample and their counts, a group at a time."""
    found: dict[str, dict[object, int]] = {c: {} for group in groups for c, _ in group}
    for group in groups:
        for k, value, cnt in _counts(con, "sample", [expr for _, expr in group]):
            found[group[k][0]][value] = cnt
    return found


def _exact_distinct(con: duckdb.DuckDBPyConnection, columns: Sequence[str]) -> dict[str, int]:
    """The exact count of distinct values of each of `columns` in the sample."""
    exact: dict[str, int] = {}
    for batch in batches(columns):
        got = con.execute(
            "SELECT " + ", ".join(f"count(DISTINCT {_q(c)})" for c in batch) + " FROM sample"
        ).fetchall()[0]
        exact.update({c: int(v) for c, v in zip(batch, got, strict=True)})
    return exact


def _profile(
    position: int,
    column: str,
    dtype: str,
    stat: Sequence[Any],
    n: int,
    found: Mapping[object, int] | None,
    exact: Mapping[str, int],
    dates: Mapping[str, int],
    lengths: Mapping[str, tuple[float, float]],
) -> ColumnProfile:
    """One column's profile of the `n` sampled rows: its shape (`stat`), its counted values
    (`found`, in number order, then text), an exact distinct count where one was taken."""
    cnt, dist, nums, lo, hi, integral, is_index, avg_len, _ = stat
    items = sorted(
        ((_key(k), int(v)) for k, v in (found or {}).items() if k is not None),
        key=lambda kv: (as_number(kv[0]) is None, as_number(kv[0]) or 0.0, kv[0]),
    )
    if found is not None and dist <= FEW_VALUES:
        dist = len(items)
    dist = exact.get(column, dist)
    return ColumnProfile(
        column,
        dtype,
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
        position,
        dates.get(column, 0),
        *lengths.get(column, (0.0, 0.0)),
    )


def _may_be_comments(dtype: str, stats: Sequence[Any]) -> bool:
    """Text without numbers and with enough different answers to be comments (see
    `cmot.ingest.guesses.guess`)."""
    cnt, dist, nums = stats[0], stats[1], stats[2]
    return dtype == "VARCHAR" and not nums and dist > MIN_COMMENT_VALUES and cnt > 0


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
    named = [c for c, t in types.items() if t == "VARCHAR" and re.search(DATE_WORDS, c.lower())]
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
