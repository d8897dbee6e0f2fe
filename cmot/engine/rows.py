"""The rows the sums read, as SQL: a row's segment name (`segment_sql_expr`) and outcome
(`outcome_sql`), the SELECT the numpy blocks read (`select_sql`) and the one the portable SQL
sums read (`inner_sql`); `as_columns`, a segmentation argument as its columns.
"""

from __future__ import annotations

from collections.abc import Sequence

from cmot.errors import CmotError
from cmot.names import W_COL, Y_COL, quote_ident
from cmot.settings import ALL, Measure
from cmot.spec import JourneySpec


def as_columns(segmentation: Sequence[str] | str | None) -> tuple[str, ...]:
    """A segmentation given as None, one column or several, as a tuple of columns."""
    if segmentation is None:
        return ()
    if isinstance(segmentation, str):
        return (segmentation,)
    return tuple(segmentation)


def outcome_sql(spec: JourneySpec, measure: Measure) -> str:
    """SQL giving a row's outcome as the measure reads it (the score, or 1/0 for a promoter)."""
    y = quote_ident(Y_COL)
    if measure == "promoter":
        if spec.outcome.kind != "recommend":
            raise CmotError("Promoter share needs a 0-10 recommend outcome; use the score.")
        return f"CASE WHEN {y} >= 9 THEN 1.0 ELSE 0.0 END"
    return f"CAST({y} AS DOUBLE)"


def segment_sql_expr(segmentation: Sequence[str]) -> str:
    """SQL giving a row's segment name from the `segmentation` columns, as the engine names
    segments ("All" without columns; levels joined by " / ", NULL as "(missing)")."""
    if not segmentation:
        return f"'{ALL}'"
    # STRING, not VARCHAR: Spark SQL needs a length after VARCHAR; DuckDB reads both alike.
    parts = [f"coalesce(CAST({quote_ident(c)} AS STRING), '(missing)')" for c in segmentation]
    return " || ' / ' || ".join(parts)


def select_sql(table: str, spec: JourneySpec, segmentation: Sequence[str], measure: Measure) -> str:
    """The rows the numpy blocks read: __seg, __y, __w and the touchpoints as TINYINT,
    respondents with an outcome and a weight."""
    tps = ", ".join(
        f"CAST({quote_ident(c)} AS TINYINT) AS {quote_ident(c)}" for c in spec.touchpoint_columns
    )
    w = quote_ident(W_COL)
    return (
        f"SELECT {segment_sql_expr(segmentation)} AS __seg, {outcome_sql(spec, measure)} AS __y, "
        f"CAST({w} AS DOUBLE) AS __w, {tps} FROM {table} "
        f"WHERE {quote_ident(Y_COL)} IS NOT NULL AND {w} IS NOT NULL"
    )


def inner_sql(table: str, spec: JourneySpec, segmentation: Sequence[str], measure: Measure) -> str:
    """The rows the SQL sums read: seg, y, w and the touchpoints, respondents with an outcome."""
    q = [quote_ident(c) for c in spec.touchpoint_columns]
    return (
        f"SELECT {segment_sql_expr(segmentation)} AS seg, {outcome_sql(spec, measure)} AS y, "
        f"CAST({quote_ident(W_COL)} AS DOUBLE) AS w, "
        + ", ".join(f"CAST({c} AS INTEGER) AS {c}" for c in q)
        + f" FROM {table} WHERE {quote_ident(Y_COL)} IS NOT NULL "
        f"AND {quote_ident(W_COL)} IS NOT NULL"
    )
