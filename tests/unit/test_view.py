"""cmot.engine.view: the sidebar's view as SQL, from a table of cases run on a small stored dataset.

The dataset has hostile column names and values (quotes, semicolons, unicode, NULL) and a
saved segmentation whose names carry quotes too; each case says which rows (and segments)
the view's relation must give.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from cmot.engine.rows import segment_sql_expr
from cmot.engine.view import (
    DateFilter,
    Query,
    ValueFilter,
    View,
    date_span,
    filter_values,
    view_sql,
)
from cmot.names import ROW_COL, SEGMENT_COL, quote_ident
from cmot.spec import load_spec
from cmot.store.datasets import Store
from cmot.store.demo import DEMO_SPEC
from cmot.store.segmentations import SegmentationRecord

REGION = 'Reg"ion; DROP TABLE x;--'  # a column name that must stay an identifier
WHEN = "visité le"
SCORE = "score"
DATA = {
    ROW_COL: [0, 1, 2, 3, 4, 5],
    REGION: ["North", "O'Brien; --", "Zürich ✈", None, "North", "south"],
    WHEN: [dt.date(2024, 1, d) for d in (1, 5, 10, 15, 20, 25)],
    SCORE: [1, 2, 1, 2, None, 3],
}
# The saved segmentation: rows 0-4 assigned (row 5 could not be), names as a user typed them.
SAVED_ROWS = [0, 1, 2, 3, 4]
SAVED_LABELS = [0, 1, 0, 2, 1]
SAVED_NAMES = ('Big "quoted" one', "it's; two", "ü ✈ three")


@pytest.fixture
def stored(store: Store) -> tuple[str, str]:
    """(the dataset's table, the saved segmentation's relation) in a fresh store."""
    spec = load_spec(DEMO_SPEC)  # the spec is not read here: only the rows matter
    info = store.save_dataset("hostile", pa.table(DATA), spec, {}, "hostile.csv", "0" * 64)
    record = SegmentationRecord(
        mode="given",
        method="test",
        k=3,
        seed=0,
        body_json="{}",
        names=SAVED_NAMES,
        rows=np.array(SAVED_ROWS),
        labels=np.array(SAVED_LABELS),
    )
    sid = store.save_segmentation(info.id, "saved; 'one'", record)
    return info.table, store.segment_sql(sid)


def _rows(store: Store, query: Query) -> list[tuple[Any, ...]]:
    """Each kept row's number and segment name, in row order."""
    seg = segment_sql_expr(query.columns)
    sql = f"SELECT {ROW_COL}, {seg} FROM {query.relation} ORDER BY 1"
    return [tuple(r) for r in store.cursor().execute(sql, list(query.params)).fetchall()]


ALL = "All"
CASES: list[tuple[str, dict[str, Any], list[tuple[int, str]]]] = [
    ("whole sample", {}, [(i, ALL) for i in range(6)]),
    (
        "an empty filter keeps every row",
        {"filters": (ValueFilter(REGION, ()),)},
        [(i, ALL) for i in range(6)],
    ),
    (
        "a value with a quote and a semicolon",
        {"filters": (ValueFilter(REGION, ("O'Brien; --",)),)},
        [(1, ALL)],
    ),
    (
        "unicode and two values",
        {"filters": (ValueFilter(REGION, ("Zürich ✈", "North")),)},
        [(0, ALL), (2, ALL), (4, ALL)],
    ),
    (
        "an injection attempt is only a value",
        {"filters": (ValueFilter(REGION, ("North' OR 1=1 --",)),)},
        [],
    ),
    ("NULL matches nothing", {"filters": (ValueFilter(REGION, (None,)),)}, []),  # type: ignore[arg-type]
    (
        "numbers compare as text",
        {"filters": (ValueFilter(SCORE, ("2",)),)},
        [(1, ALL), (3, ALL)],
    ),
    (
        "dates, both ends included",
        {"dates": DateFilter(WHEN, dt.date(2024, 1, 5), dt.date(2024, 1, 15))},
        [(1, ALL), (2, ALL), (3, ALL)],
    ),
    (
        "dates and a value filter together",
        {
            "dates": DateFilter(WHEN, dt.date(2024, 1, 1), dt.date(2024, 1, 20)),
            "filters": (ValueFilter(REGION, ("North",)),),
        },
        [(0, ALL), (4, ALL)],
    ),
    (
        "two filters: both must hold",
        {"filters": (ValueFilter(REGION, ("North", "south")), ValueFilter(SCORE, ("1", "3")))},
        [(0, ALL), (5, ALL)],
    ),
    (
        "segmented by a column with a hostile name; NULL is a segment of its own",
        {"segmentation": (REGION,)},
        [
            (0, "North"),
            (1, "O'Brien; --"),
            (2, "Zürich ✈"),
            (3, "(missing)"),
            (4, "North"),
            (5, "south"),
        ],
    ),
    (
        "a filter on the segment column",
        {"segmentation": (REGION,), "filters": (ValueFilter(REGION, ("North", "south")),)},
        [(0, "North"), (4, "North"), (5, "south")],
    ),
    (
        "two segment columns",
        {"segmentation": (REGION, SCORE), "filters": (ValueFilter(SCORE, ("1",)),)},
        [(0, "North / 1"), (2, "Zürich ✈ / 1")],
    ),
    (
        "a saved segmentation: unassigned rows drop out",
        {"saved": True},
        [(i, SAVED_NAMES[g]) for i, g in zip(SAVED_ROWS, SAVED_LABELS, strict=True)],
    ),
    (
        "a saved segmentation, filtered on a column of the dataset",
        {"saved": True, "filters": (ValueFilter(REGION, ("North",)),)},
        [(0, SAVED_NAMES[0]), (4, SAVED_NAMES[1])],
    ),
    (
        "a saved segmentation, filtered on its segment column",
        {"saved": True, "filters": (ValueFilter(SEGMENT_COL, (SAVED_NAMES[1],)),)},
        [(1, SAVED_NAMES[1]), (4, SAVED_NAMES[1])],
    ),
    (
        "a saved segmentation with dates: the given columns give way to it",
        {
            "saved": True,
            "segmentation": (REGION,),
            "dates": DateFilter(WHEN, dt.date(2024, 1, 10), dt.date(2024, 1, 31)),
        },
        [(2, SAVED_NAMES[0]), (3, SAVED_NAMES[2]), (4, SAVED_NAMES[1])],
    ),
]


@pytest.mark.parametrize(("what", "kwargs", "expected"), CASES, ids=[c[0] for c in CASES])
def test_view_sql_keeps_the_right_rows(
    store: Store,
    stored: tuple[str, str],
    what: str,
    kwargs: dict[str, Any],
    expected: list[tuple[int, str]],
) -> None:
    table, saved = stored
    view = View(table, **{**kwargs, "saved": saved if kwargs.get("saved") else None})
    query = view_sql(view)
    assert _rows(store, query) == expected, what
    # Values never enter the text: every one is a bound parameter, one per placeholder.
    assert query.relation.count("?") == len(query.params)
    own = query.relation.replace(table, "").replace(saved, "")  # the text this module wrote
    for f in view.filters:
        for v in f.values:
            if v is not None:
                assert v not in own


def test_an_unfiltered_view_is_the_table_itself(stored: tuple[str, str]) -> None:
    # The results' cache keys on the relation text: no filter must mean the same text.
    table, _ = stored
    assert view_sql(View(table)) == Query(table, (), ())
    assert view_sql(View(table, (REGION,), filters=(ValueFilter(REGION, ()),))) == Query(
        table, (), (REGION,)
    )


def test_the_sql_text_is_what_the_sidebar_built_before_it_moved() -> None:
    # Cache keys (and the benchmarks' figures) depend on the exact text: it must not drift.
    view = View(
        "read_parquet('d.parquet')",
        saved="(SELECT 1)",
        dates=DateFilter("when", dt.date(2024, 1, 1), dt.date(2024, 2, 1)),
        filters=(ValueFilter("Region", ("West", "East")),),
    )
    q = view_sql(view)
    assert q.relation == (
        "(SELECT d.*, s.__cmot_segment FROM read_parquet('d.parquet') d JOIN (SELECT 1) s "
        'USING (__cmot_row) WHERE TRY_CAST("when" AS DATE) BETWEEN ? AND ? AND '
        'CAST("Region" AS STRING) IN (?, ?))'
    )
    assert q.params == (dt.date(2024, 1, 1), dt.date(2024, 2, 1), "West", "East")
    assert q.columns == (SEGMENT_COL,)
    plain = view_sql(View("t", ("Region",), filters=(ValueFilter("Region", ("W",)),)))
    assert plain == Query(
        '(SELECT * FROM t WHERE CAST("Region" AS STRING) IN (?))', ("W",), ("Region",)
    )
    assert (
        quote_ident(REGION) in view_sql(View("t", filters=(ValueFilter(REGION, ("x",)),))).relation
    )


def test_the_filter_choices_are_the_values_as_text(store: Store, stored: tuple[str, str]) -> None:
    table, _ = stored
    con = store.cursor()
    assert filter_values(con, table, REGION) == sorted(
        ["North", "O'Brien; --", "Zürich ✈", "south"]
    )  # NULL is no choice; every value a filter on it can keep
    assert filter_values(con, table, SCORE) == ["1", "2", "3"]
    assert filter_values(con, table, REGION, limit=2) == ["North", "O'Brien; --"]
    for value in filter_values(con, table, REGION):  # each choice keeps its rows
        kept = _rows(store, view_sql(View(table, filters=(ValueFilter(REGION, (value,)),))))
        assert kept and all(DATA[REGION][r] == value for r, _ in kept)


def test_the_date_span(store: Store, stored: tuple[str, str]) -> None:
    table, _ = stored
    assert date_span(store.cursor(), table, WHEN) == (dt.date(2024, 1, 1), dt.date(2024, 1, 25))
    empty = f"(SELECT * FROM {table} WHERE false)"
    assert date_span(store.cursor(), empty, WHEN) == (None, None)
