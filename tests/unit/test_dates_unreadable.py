"""Issue 23: a column of times of day (6:00:00, 8:30 AM, a marker N) is no date, and a date
column whose values do not read as dates makes the date filter 'not available', never an
error: detection and the view's SQL (every page on such a dataset, saved by the app or the
command line: tests/app/test_dates_pages.py)."""

from __future__ import annotations

import datetime as dt
import random

from cmot.engine.view import DateFilter, View, date_span, view_sql
from cmot.ingest.pipeline import detect_roles
from cmot.store.datasets import Store

TIMES = ["6:00:00", "8:30 AM", "N", "12:15:00", "7:45 PM", "9:05:10", "N"]


def times_csv(rows: int = 80, seed: int = 1, column: str = "time") -> bytes:
    """A survey whose `column` holds times of day and a text marker N (over 20 values)."""
    rng = random.Random(seed)
    lines = [f"{column},service,staff,checkin,overall"]
    for i in range(rows):
        t = rng.choice(TIMES) if i % 3 else f"{rng.randint(1, 12)}:{rng.randint(10, 59)}:00"
        r = [rng.randint(1, 5) for _ in range(3)]
        lines.append(f"{t},{r[0]},{r[1]},{r[2]},{min(5, max(1, round(sum(r) / 3)))}")
    return ("\n".join(lines) + "\n").encode()


def dates_csv(rows: int = 80, seed: int = 2) -> bytes:
    """ISO dates with a marker among them (so the reader keeps the column as text)."""
    rng = random.Random(seed)
    lines = ["visit date,service,staff,checkin,overall"]
    for i in range(rows):
        d = "N" if i % 9 == 4 else str(dt.date(2024, 1, 1) + dt.timedelta(days=rng.randint(0, 400)))
        r = [rng.randint(1, 5) for _ in range(3)]
        lines.append(f"{d},{r[0]},{r[1]},{r[2]},{min(5, max(1, round(sum(r) / 3)))}")
    return ("\n".join(lines) + "\n").encode()


def test_a_time_of_day_is_not_a_date() -> None:
    det = detect_roles(times_csv(), source_name="times.csv")
    assert det.roles()["time"] != "date"
    assert det.spec is not None and det.spec.date_column is None


def test_dates_with_a_marker_are_the_date_column() -> None:
    det = detect_roles(dates_csv(), source_name="dates.csv")
    assert det.roles()["visit date"] == "date"
    assert det.spec is not None and det.spec.date_column == "visit date"


def test_dates_in_a_format_that_does_not_read_are_no_date_column() -> None:
    text = dates_csv().decode()
    lines = text.splitlines()
    us = [lines[0]]
    for line in lines[1:]:
        d, rest = line.split(",", 1)
        if d != "N":
            y, m, day = d.split("-")
            d = f"{m}/{day}/{y}"
        us.append(f"{d},{rest}")
    det = detect_roles(("\n".join(us) + "\n").encode(), source_name="us.csv")
    assert det.spec is not None
    # Either the reader read them as dates (then they are), or they stay text, not a date.
    date = det.spec.date_column
    assert date is None or next(g.dtype for g in det.columns if g.column == date) != "VARCHAR"


def test_date_span_and_filter_of_a_column_without_dates(store: Store) -> None:
    con = store.cursor()
    con.execute("CREATE OR REPLACE TEMP TABLE t AS SELECT * FROM (VALUES ('6:00:00'), ('N'))")
    con.execute('ALTER TABLE t RENAME COLUMN col0 TO "time"')
    assert date_span(con, "t", "time") == (None, None)
    q = view_sql(View("t", dates=DateFilter("time", dt.date(2024, 1, 1), dt.date(2024, 2, 1))))
    assert con.execute(f"SELECT count(*) FROM {q.relation}", q.params).fetchall() == [(0,)]


def test_date_span_reads_dates_among_markers_and_timestamps(store: Store) -> None:
    con = store.cursor()
    con.execute(
        "CREATE OR REPLACE TEMP TABLE t AS SELECT * FROM "
        "(VALUES ('2024-03-01'), ('N'), ('2024-01-05 10:00:00'), ('8:30 AM'))"
    )
    assert date_span(con, "t", "col0") == (dt.date(2024, 1, 5), dt.date(2024, 3, 1))
    q = view_sql(View("t", dates=DateFilter("col0", dt.date(2024, 1, 1), dt.date(2024, 2, 1))))
    assert con.execute(f"SELECT count(*) FROM {q.relation}", q.params).fetchall() == [(1,)]
