"""`column_histograms`: the mapping page's value counts, computed in the engine."""

from __future__ import annotations

import duckdb
import pandas as pd
import pytest

from cmot.ingest.column_profiles import COUNTED, column_histograms


@pytest.fixture
def con() -> duckdb.DuckDBPyConnection:
    c = duckdb.connect()
    frame = pd.DataFrame(
        {
            "rating": [1, 2, 2, 9, None, 2],
            'odd "name"; --': ["a", "b", "b", None, "it's", "a"],
            "many": list(range(6)),
        }
    )
    c.register("frame", frame)
    c.execute(
        'CREATE TABLE raw AS SELECT rating::BIGINT AS rating, "odd ""name""; --", many FROM frame'
    )
    return c


@pytest.mark.parametrize(
    ("columns", "expected"),
    [
        ([], {}),
        ([("rating", True)], {"rating": (("2", 3), ("1", 1), ("9", 1))}),
        (
            [('odd "name"; --', False)],
            {'odd "name"; --': (("a", 2), ("b", 2), ("it's", 1))},
        ),
        (
            [("rating", False), ('odd "name"; --', False)],
            {
                "rating": (("2", 3), ("1", 1), ("9", 1)),
                'odd "name"; --': (("a", 2), ("b", 2), ("it's", 1)),
            },
        ),
    ],
)
def test_counts_per_column_without_blanks_most_frequent_first(
    con: duckdb.DuckDBPyConnection,
    columns: list[tuple[str, bool]],
    expected: dict[str, tuple[tuple[str, int], ...]],
) -> None:
    assert column_histograms(con, columns) == expected


def test_only_the_most_frequent_values_are_kept() -> None:
    c = duckdb.connect()
    c.execute(f"CREATE TABLE raw AS SELECT range % {COUNTED + 20} AS v FROM range(1000)")
    got = column_histograms(c, [("v", True)])["v"]
    assert len(got) == COUNTED
    # 1000 rows over 80 values: 0-39 occur 13 times, 40-79 12 times; ties go by text.
    assert [n for _, n in got] == [13] * 40 + [12] * 20
    assert [v for v, _ in got[40:]] == [str(v) for v in range(40, 60)]
