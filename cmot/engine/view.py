"""The view every result is computed on, as SQL: a dataset, its segmentation, its filters.

The sidebar (`cmot.ui.sidebar`) gathers its widgets into a `View`; `view_sql` turns it into a
`Query`: a relation text plus the values bound to its `?` placeholders, which the engine
(`find_moments`, `at_risk`, ...) reads from. Nothing here imports Streamlit, so the SQL is
tested from a table of cases in tests/unit/test_view.py.

Identifiers enter the text only through `quote_ident`; filter values and dates only as bound
parameters. The one literal text is a saved segmentation's relation from
`Store.segment_sql`, which writes the segment names as literals on purpose (a rename then
changes the text, and so every cache keyed on it).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import duckdb

from cmot.names import ROW_COL, SEGMENT_COL, quote_ident

# A segment value declared 'no answer' reads as this in a view: the engine counts its
# respondents in "All" and never makes it a segment (issue 23; `cmot.engine.sums.compute_stats`).
NO_ANSWER = "(no answer)"


@dataclass(frozen=True)
class DateFilter:
    """Keep the rows whose `column`, read as a date, lies in [start, end] (both included)."""

    column: str
    start: dt.date
    end: dt.date


@dataclass(frozen=True)
class ValueFilter:
    """Keep the rows whose `column`, read as text, is one of `values`.

    Values are compared as text (CAST AS STRING, which Spark SQL reads too), as the sidebar
    lists them. No values means no filter. A row whose column is NULL never passes (and a
    None among the values matches nothing), as in SQL's IN.
    """

    column: str
    values: tuple[str, ...]


@dataclass(frozen=True)
class View:
    """Which rows a result is computed on, and how they are split into segments.

    table: the dataset's relation (`DatasetInfo.table`, `read_parquet('<file>')`).
    segmentation: the dataset's columns whose levels are the segments; () = whole sample.
    saved: a saved segmentation's relation (`Store.segment_sql(id)`), joined on the row
        number; it replaces `segmentation` with its segment-name column.
    dates, filters: which rows to keep; all of them must hold.
    no_answer: per segmentation column, its values (as text) declared 'no answer'
        (`no_answer_values`): they read as NO_ANSWER, so they are no segment.
    """

    table: str
    segmentation: tuple[str, ...] = ()
    saved: str | None = None
    dates: DateFilter | None = None
    filters: tuple[ValueFilter, ...] = ()
    no_answer: tuple[tuple[str, tuple[str, ...]], ...] = ()


@dataclass(frozen=True)
class Query:
    """A view as SQL: `relation` (a table or a parenthesised SELECT) to read FROM, the values
    bound to its `?` placeholders in order, and the columns of `relation` naming segments."""

    relation: str
    params: tuple[object, ...]
    columns: tuple[str, ...]


def view_sql(view: View) -> Query:
    """The relation, bound values and segment columns of `view`.

    Without filters or a saved segmentation the relation is the dataset's table itself, so a
    result's cache key is the same as for the unfiltered dataset everywhere.
    """
    conditions: list[str] = []  # with `?` placeholders: values are bound, in this order
    params: list[object] = []
    if view.dates is not None:
        # TRY_CAST: a value that is no date (a time of day, a marker) is no row of the span.
        conditions.append(f"TRY_CAST({quote_ident(view.dates.column)} AS DATE) BETWEEN ? AND ?")
        params += [view.dates.start, view.dates.end]
    for f in view.filters:
        if f.values:
            inlist = ", ".join("?" for _ in f.values)
            conditions.append(f"CAST({quote_ident(f.column)} AS STRING) IN ({inlist})")
            params += f.values
    where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
    if view.saved is not None:
        relation = (
            f"(SELECT d.*, s.{SEGMENT_COL} FROM {view.table} d "
            f"JOIN {view.saved} s USING ({ROW_COL}){where})"
        )
        return Query(relation, tuple(params), (SEGMENT_COL,))
    marks = [(c, v) for c, v in view.no_answer if c in view.segmentation and v]
    if marks:  # DuckDB's REPLACE: the column keeps its name, its no-answer values read alike
        swaps = ", ".join(
            f"CASE WHEN CAST({quote_ident(c)} AS STRING) IN ({', '.join('?' for _ in v)}) "
            f"THEN '{NO_ANSWER}' ELSE CAST({quote_ident(c)} AS STRING) END AS {quote_ident(c)}"
            for c, v in marks
        )
        bound = [x for _, v in marks for x in v]  # the select list's `?` come before WHERE's
        relation = f"(SELECT * REPLACE ({swaps}) FROM {view.table}{where})"
        return Query(relation, (*bound, *params), view.segmentation)
    relation = f"(SELECT * FROM {view.table}{where})" if where else view.table
    return Query(relation, tuple(params), view.segmentation)


# ---- what the sidebar offers to filter on ---------------------------------------------


def filter_values(
    con: duckdb.DuckDBPyConnection, table: str, column: str, limit: int = 201
) -> list[str]:
    """The values `column` takes in `table`, as text, sorted, NULL left out: the choices of a
    `ValueFilter` (compared as text too). At most `limit` (the sidebar asks for one more than
    it lists, so it can tell a long list)."""
    col = quote_ident(column)
    rows = con.execute(
        f"SELECT DISTINCT CAST({col} AS VARCHAR) FROM {table} WHERE {col} IS NOT NULL "
        f"ORDER BY 1 LIMIT {int(limit)}"
    ).fetchall()
    return [r[0] for r in rows]


def date_span(con: duckdb.DuckDBPyConnection, table: str, column: str) -> tuple[Any, Any]:
    """The first and last date of `column` in `table` ((None, None) when it has none): the
    span a `DateFilter` chooses within. Values that do not read as dates are left out (any
    value a saved column holds can make the filter unavailable, never stop a page)."""
    col = quote_ident(column)
    day = f"TRY_CAST({col} AS DATE)"
    row = con.execute(f"SELECT min({day}), max({day}) FROM {table}").fetchall()[0]
    return row[0], row[1]
