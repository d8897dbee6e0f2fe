"""Waves: from a date grouped by period, from a wave column's values, or one relation each."""

from __future__ import annotations

from dataclasses import replace

import duckdb
import pandas as pd
import pytest

from cmot.errors import CmotError
from cmot.ingest.wave_columns import MAX_WAVES
from cmot.spec import JourneySpec, Outcome, Stage, Touchpoint, default_scale
from cmot.waves.sources import Wave, wave_expression, waves_from_column, waves_from_relations


def spec(touchpoints: tuple[str, ...] = ("a", "b")) -> JourneySpec:
    return JourneySpec(
        stages=(Stage("Journey", touchpoints),),
        touchpoints=tuple(Touchpoint(c) for c in touchpoints),
        scale=default_scale(1, 5, ()),
        outcome=Outcome("y", "binary", ("1",)),
        date_column="when",
        attributes=("wave", "name"),
    )


def table(con: duckdb.DuckDBPyConnection, **columns: list[object]) -> str:
    n = len(next(iter(columns.values())))
    frame = pd.DataFrame({"__cmot_row": range(n), "a": 3, "b": 4, "__cmot_y": 1.0, **columns})
    con.register("t", frame)
    return "t"


def labels_and_counts(con: duckdb.DuckDBPyConnection, src) -> list[tuple[str, int]]:
    out = []
    for w in src.waves:
        n = con.execute(f"SELECT count(*) FROM {w.relation}", list(w.params)).fetchall()[0][0]
        out.append((w.label, n))
    return out


def test_numbers_order_numerically_text_by_first_appearance() -> None:
    con = duckdb.connect()
    t = table(con, wave=[10, 2, 2, 1, 10], name=["late", "early", "late", "mid", "early"])
    src = waves_from_column(con, t, spec(), "wave")
    assert labels_and_counts(con, src) == [("1", 1), ("2", 2), ("10", 2)]
    assert src.by == "value" and src.column == "wave"
    src = waves_from_column(con, t, spec(), "name")
    assert src.labels == ("late", "early", "mid")  # first appearance, not alphabetical


def test_text_numbers_and_dates_as_text_order_as_numbers_and_time() -> None:
    con = duckdb.connect()
    t = table(con, wave=["10", "9", "10"], name=["2025-03-01", "2024-12-31", "2025-03-01"])
    assert waves_from_column(con, t, spec(), "wave").labels == ("9", "10")
    assert waves_from_column(con, t, spec(), "name").labels == ("2024-12-31", "2025-03-01")


def test_labels_give_the_order_or_rename() -> None:
    con = duckdb.connect()
    t = table(con, wave=["spring", "autumn", "spring"])
    src = waves_from_column(con, t, spec(), "wave", labels=["autumn", "spring"])
    assert labels_and_counts(con, src) == [("autumn", 1), ("spring", 2)]
    src = waves_from_column(con, t, spec(), "wave", labels=["W1", "W2"])
    assert labels_and_counts(con, src) == [("W1", 2), ("W2", 1)]  # natural order, renamed
    with pytest.raises(CmotError, match="has 2 waves"):
        waves_from_column(con, t, spec(), "wave", labels=["W1", "W2", "W3"])
    with pytest.raises(CmotError, match="repeat"):
        waves_from_column(con, t, spec(), "wave", labels=["W1", "W1"])


@pytest.mark.parametrize(
    ("by", "labels"),
    [
        ("month", [("2025-01", 2), ("2025-02", 1), ("2026-01", 1)]),
        ("quarter", [("2025-Q1", 3), ("2026-Q1", 1)]),
        ("year", [("2025", 3), ("2026", 1)]),
    ],
)
def test_dates_grouped_by_period(by, labels) -> None:
    con = duckdb.connect()
    t = table(con, when=["2025-01-03", "2025-02-10", "2026-01-01", "2025-01-31"])
    assert labels_and_counts(con, waves_from_column(con, t, spec(), "when", by=by)) == labels


def test_rows_without_a_wave_are_left_out_with_a_note() -> None:
    con = duckdb.connect()
    t = table(con, when=["2025-01-03", None, "not a date", "2026-01-01"])
    src = waves_from_column(con, t, spec(), "when", by="year")
    assert labels_and_counts(con, src) == [("2025", 1), ("2026", 1)]
    assert src.notes == ("2 rows have no wave ('when' without a readable date) and are left out.",)


def test_bound_params_come_first_and_the_wave_value_last() -> None:
    con = duckdb.connect()
    t = table(con, wave=[1, 2, 1, 2], name=["x", "x", "y", "x"])
    rel = f"(SELECT * FROM {t} WHERE name = ?)"
    src = waves_from_column(con, rel, spec(), "wave", params=["x"])
    assert labels_and_counts(con, src) == [("1", 1), ("2", 2)]
    assert src.waves[0].params == ("x", "1")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"column": "wave"}, "'wave' has one value: a trend needs two waves"),
        ({"column": "name", "by": "year"}, "holds no dates that can be read \\(e.g. 'x0'\\)"),
        ({"column": "nope"}, "No column 'nope' to take waves from"),
        ({"column": "y"}, "is the outcome"),
        ({"column": "a"}, "is a touchpoint"),
        ({"column": "name"}, f"gives 30 distinct waves; at most {MAX_WAVES}.*--by"),
        ({"column": "when", "by": "month"}, "gives 30 distinct waves.*quarter or year"),
    ],
)
def test_errors_say_what_to_do(kwargs, message) -> None:
    con = duckdb.connect()
    n = 30
    t = table(
        con,
        wave=[1] * n,
        name=[f"x{i}" for i in range(n)],
        when=[str(pd.Timestamp("2020-01-15") + pd.DateOffset(months=i))[:10] for i in range(n)],
        y=[1] * n,
    )
    with pytest.raises(CmotError, match=message):
        waves_from_column(con, t, spec(), **kwargs)


def test_wave_expression_rejects_an_unknown_period() -> None:
    with pytest.raises(CmotError, match="month, quarter, year"):
        wave_expression("when", "week")  # type: ignore[arg-type]


def test_several_relations_keep_the_shared_touchpoints() -> None:
    con = duckdb.connect()
    con.register("w1", pd.DataFrame({"a": [1], "b": [2], "c": [3], "__cmot_y": [1.0]}))
    con.register("w2", pd.DataFrame({"a": [1], "b": [2], "__cmot_y": [1.0]}))
    s = spec(("a", "b", "c"))
    src = waves_from_relations([Wave("one", con, "w1"), Wave("two", con, "w2")], [s, s])
    assert src.spec.touchpoint_columns == ("a", "b")
    assert src.notes == ("Left out 1 touchpoint wave 'two' does not have: c.",)
    assert src.labels == ("one", "two") and src.column is None


def test_several_relations_must_share_outcome_and_scale() -> None:
    con = duckdb.connect()
    con.register("w1", pd.DataFrame({"a": [1], "b": [2], "__cmot_y": [1.0]}))
    s = spec()
    waves = [Wave("one", con, "w1"), Wave("two", con, "w1")]
    other = replace(s, outcome=Outcome("z", "scale"))
    with pytest.raises(CmotError, match="must share the outcome"):
        waves_from_relations(waves, [s, other])
    with pytest.raises(CmotError, match="must share the rating scale"):
        waves_from_relations(waves, [s, replace(s, scale=default_scale(0, 10, ()))])
    with pytest.raises(CmotError, match="two waves or more"):
        waves_from_relations(waves[:1], [s])
    with pytest.raises(CmotError, match="called the same"):
        waves_from_relations([waves[0], waves[0]], [s, s])
