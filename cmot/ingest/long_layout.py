"""The long layout: one row per respondent and touchpoint, told from a wide file
(`guess_layout`) and pivoted to one column per touchpoint (`pivot_long`) in the TEMP table
`raw`."""

from __future__ import annotations

import re
from typing import Any

import duckdb

from cmot.errors import CmotError
from cmot.ingest.column_words import ID_WORDS
from cmot.ingest.limits import check_column_count
from cmot.ingest.options import IngestOptions
from cmot.names import quote_ident
from cmot.spec import Stage

_q = quote_ident

_LONG_TP = r"touchpoint|item|question|attribute_name|aspect|^attribute$|^variable$"
_LONG_SCORE = r"score|rating|value|answer"
_LONG_STAGE = r"^stage$|phase|step"


def long_columns(columns: list[str]) -> tuple[str, str, str | None] | None:
    """The columns named like a long file's touchpoint, score and stage (None when there is
    no touchpoint and score pair); names only, the values are not looked at."""

    def find(pattern: str) -> str | None:
        hits = [c for c in columns if re.search(pattern, c.lower())]
        return hits[0] if hits else None

    tp, score = find(_LONG_TP), find(_LONG_SCORE)
    if tp and score and tp != score:
        return tp, score, find(_LONG_STAGE)
    return None


def guess_layout(con: duckdb.DuckDBPyConnection, columns: list[str]) -> tuple[str, str]:
    """The layout ("long" or "wide") and its evidence in words. Long needs all of: a
    column named like a touchpoint whose text repeats, one named like a score, and a
    respondent id column whose values repeat (several rows per respondent). Names alone
    decide nothing: a wide export of hundreds of columns has an "item..." text and a
    "...rating" beside unique ids (issue 23: read as long, two columns vanished into a
    pivot)."""
    found = long_columns(columns)
    if found is None:
        return "wide", (
            "wide: no pair of columns named like a long file's touchpoint and score "
            "(e.g. 'touchpoint' and 'score')"
        )
    tp, score, _ = found
    row = con.execute(
        f"SELECT typeof(any_value({_q(tp)})), count(DISTINCT {_q(tp)}), count(*) FROM raw"
    ).fetchall()[0]
    kind, names, rows = str(row[0]), int(row[1]), int(row[2])
    if kind != "VARCHAR" or names >= rows:
        return "wide", f"wide: {tp!r} holds no repeated touchpoint names"
    ids = [c for c in columns if c not in (tp, score) and re.search(ID_WORDS, c.lower())]
    if not ids:
        return "wide", (
            f"wide: {tp!r} and {score!r} are named like a long file's, but no respondent id "
            "column links one respondent's rows"
        )
    id_col = ids[0]
    people = int(con.execute(f"SELECT count(DISTINCT {_q(id_col)}) FROM raw").fetchall()[0][0])
    if people >= rows:
        return "wide", (
            f"wide: one row per respondent ({id_col!r} differs in each of the {rows:,} rows)"
        )
    return "long", (
        f"long: {rows:,} rows for {people:,} respondents ({id_col!r}), "
        f"{rows / max(people, 1):.0f} rows per respondent; {tp!r} names {names:,} "
        f"touchpoints and {score!r} holds the answers"
    )


def pivot_long(
    con: duckdb.DuckDBPyConnection,
    columns: list[str],
    opts: IngestOptions,
) -> tuple[list[str], list[Stage]]:
    """The long `raw` replaced by its wide pivot: the respondent columns as they came, then
    one column per touchpoint in the order they first appear; the stages when a column
    names them."""
    found = long_columns(columns)
    if found is None:
        raise CmotError(
            "A long file needs a touchpoint column (named e.g. 'touchpoint' or 'item') and a "
            "score column (e.g. 'score' or 'rating'). Rename them or use the wide layout."
        )
    tp, score, stage = found
    rest = [c for c in columns if c not in (tp, score, stage)]
    id_col = _respondent_column(rest, opts)
    stage_expr = f"any_value({_q(stage)})::VARCHAR" if stage else "NULL"
    order = con.execute(
        f"SELECT {_q(tp)}::VARCHAR, {stage_expr} FROM raw GROUP BY 1 ORDER BY min(rowid)"
    ).fetchall()
    names = [r[0] for r in order]
    # One column per touchpoint after the pivot: the cap holds for the wide table too.
    check_column_count(
        len(rest) + len(names), opts.max_columns, "Pivoted to one column per touchpoint, the file"
    )
    clash = sorted(set(names) & set(rest))
    if clash:
        raise CmotError(f"Touchpoint names clash with other columns: {clash}. Rename them.")
    stages: list[Stage] = []
    if stage:
        by_stage: dict[str, list[str]] = {}
        for name, st in order:
            by_stage.setdefault(st or "Journey", []).append(name)
        stages = [Stage(s, tuple(t)) for s, t in by_stage.items()]
    _check_one_row_each(con, id_col, tp, [c for c in rest if c != id_col])
    _pivot(con, id_col, tp, score, rest, names)
    # Keep the wide file's column order: the respondent columns as they came, ratings after.
    ordered = [c for c in columns if c in rest] + names
    _reorder(con, ordered)
    return ordered, stages


def _respondent_column(rest: list[str], opts: IngestOptions) -> str:
    """The column linking a respondent's rows: the spec's id, else the first named like one."""
    id_col = next((c for c in rest if re.search(ID_WORDS, c.lower())), None)
    if opts.spec and opts.spec.id_column in rest:
        id_col = opts.spec.id_column
    if id_col is None:
        raise CmotError(
            "A long file needs a respondent column (named e.g. 'respondent' or 'id') "
            "that links each respondent's rows."
        )
    return id_col


def _check_one_row_each(
    con: duckdb.DuckDBPyConnection, id_col: str, tp: str, others: list[str]
) -> None:
    """A respondent's other columns are the same on each of their rows, and no touchpoint is
    rated twice: otherwise the pivot would keep one value and drop the rest unsaid."""
    varying: list[tuple[Any, ...]] = []
    if others:  # none in a file of id, touchpoint and score
        varying = con.execute(
            "SELECT "
            + ", ".join(f"count(DISTINCT {_q(c)})" for c in others)
            + f" FROM raw GROUP BY {_q(id_col)} HAVING "
            + " OR ".join(f"count(DISTINCT {_q(c)}) > 1" for c in others)
            + " LIMIT 1"
        ).fetchall()
    if varying:
        raise CmotError(
            "In the long file, a respondent's other columns (outcome, attributes) change from "
            "row to row; they must be the same on each of a respondent's rows."
        )
    dup = con.execute(
        f"SELECT {_q(id_col)}::VARCHAR, {_q(tp)}::VARCHAR FROM raw "
        f"GROUP BY ALL HAVING count(*) > 1 LIMIT 3"
    ).fetchall()
    if dup:
        ex = ", ".join(f"{a}/{b}" for a, b in dup)
        raise CmotError(f"Respondents rate the same touchpoint twice (e.g. {ex}); keep one row.")


def _pivot(
    con: duckdb.DuckDBPyConnection,
    id_col: str,
    tp: str,
    score: str,
    rest: list[str],
    names: list[str],
) -> None:
    """`raw` as one row per respondent, in the order they first appear, and one column per
    touchpoint holding its score."""
    pivots = ", ".join(
        f"max({_q(score)}) FILTER (WHERE {_q(tp)}::VARCHAR = ?) AS {_q(n)}" for n in names
    )
    keep = ", ".join(f"any_value({_q(c)}) AS {_q(c)}" for c in rest if c != id_col)
    keep = (keep + ", ") if keep else ""
    con.execute(
        f"CREATE TEMP TABLE wide AS SELECT {_q(id_col)}, {keep}{pivots} FROM raw "
        f"GROUP BY {_q(id_col)} ORDER BY min(rowid)",
        names,
    )
    con.execute("DROP TABLE raw")
    con.execute("ALTER TABLE wide RENAME TO raw")


def _reorder(con: duckdb.DuckDBPyConnection, ordered: list[str]) -> None:
    """`raw`'s columns in the order `ordered`, its rows as they are."""
    cols_after = [r[0] for r in con.execute("DESCRIBE raw").fetchall()]
    if cols_after != ordered:
        con.execute(
            "CREATE TEMP TABLE wide AS SELECT "
            + ", ".join(_q(c) for c in ordered)
            + " FROM raw ORDER BY rowid"
        )
        con.execute("DROP TABLE raw")
        con.execute("ALTER TABLE wide RENAME TO raw")
