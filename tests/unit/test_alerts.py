"""The alert rule (issue 26, item 3) on planted streams: a planted slip is found within two
batches of its week; with none, at most the nominal share of runs raises any alert."""

from __future__ import annotations

import duckdb
import pandas as pd
import pytest

from cmot.engine.incremental import segment_sums
from cmot.engine.sums import compute_stats
from cmot.feedback.alerts import (
    Period,
    WatchSettings,
    class_flips,
    find_alerts,
    flip_sentence,
    sentence,
    watch_table,
)
from cmot.feedback.feed import Slip, feed_csv, feed_spec
from cmot.ingest.options import IngestOptions
from cmot.ingest.pipeline import read_csv
from cmot.settings import Settings

SPEC = feed_spec()
WS = WatchSettings()


def _stream(seed: int, slip: Slip | None, weeks: int = 8, n: int = 600) -> list[Period]:
    con = duckdb.connect()
    out = []
    for w in range(1, weeks + 1):
        data = read_csv(feed_csv(w, n, seed, slip), IngestOptions(spec=SPEC)).data
        con.register("b", data)
        stats = compute_stats(con, '"b"', SPEC, ["Segment"], Settings())
        con.unregister("b")
        out.append(Period(f"week {w}", segment_sums(stats)))
    return out


def _found(seed: int, slip: Slip) -> bool:
    alerts = find_alerts(watch_table(SPEC, _stream(seed, slip), WS), WS)
    week = alerts.position + 1
    hit = alerts[
        (alerts.segment == slip.segment)
        & (alerts.touchpoint == slip.touchpoint)
        & (week >= slip.week)
        & (week <= slip.week + 1)
    ]
    return not hit.empty


def test_a_planted_slip_is_found_and_said_in_words() -> None:
    slip = Slip(week=5)
    table = watch_table(SPEC, _stream(101, slip), WS)
    alerts = find_alerts(table, WS)
    assert not alerts.empty
    first = alerts.sort_values("position").iloc[0]
    assert (first.segment, first.touchpoint) == (slip.segment, slip.touchpoint)
    assert slip.week <= first.position + 1 <= slip.week + 1  # within two batches
    assert first.value > first.baseline and first.value > first.band_hi
    assert sentence(first).startswith("Pricing clarity is slipping for Private clients")
    # Nothing else in the first week watched after the baseline moves.
    assert alerts[alerts.position == 1].empty


@pytest.mark.slow
def test_found_in_nine_of_ten_streams_and_rare_without_a_slip() -> None:
    found = sum(_found(seed, Slip(week=5)) for seed in range(10))
    assert found >= 9
    false = [
        not find_alerts(watch_table(SPEC, _stream(1000 + s, None), WS), WS).empty for s in range(30)
    ]
    # Nominal: alpha x 7 periods / horizon = 1.3% of runs; 3 of 30 would be 10%.
    assert sum(false) <= 2, sum(false)


def test_a_class_flip_is_found_between_two_results() -> None:
    before = pd.DataFrame(
        {
            "segment": ["A", "A", "B"],
            "column": ["x", "y", "x"],
            "touchpoint": ["X", "Y", "X"],
            "class": ["vulnerability", "insufficient", "low impact"],
        }
    )
    after = before.assign(**{"class": ["opportunity", "vulnerability", "low impact"]})
    flips = class_flips(before, after)
    assert flips[["segment", "column", "before", "after"]].values.tolist() == [
        ["A", "x", "vulnerability", "opportunity"]
    ]  # from insufficient is no flip
    row = flips.iloc[0]
    assert flip_sentence(row, "batch 3") == (
        "X is now opportunity for A (it was vulnerability) after batch 3."
    )
