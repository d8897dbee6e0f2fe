"""Chart labels that fit (issue 28, item 4): a long segment name over the class matrix's
narrow column is split on two lines (it was cut to 'Commercial d…' on a phone), and names
in the at-stake trend a wave apart at nearly the same height are not both printed (one ran
over the next wave's)."""

from __future__ import annotations

import re

import pandas as pd
import vl_convert as vlc

from cmot.present import journey_charts, trend_charts
from cmot.present.exports import _fixed_width

SEGMENTS = ["Commercial developers", "Public agencies", "Retail"]


def _svg(chart: object, width: int) -> str:
    spec = chart.to_dict()  # type: ignore[attr-defined]
    _fixed_width(spec, width)
    return str(vlc.vegalite_to_svg(spec))


def test_long_segment_names_take_two_lines_over_the_matrix() -> None:
    m = pd.DataFrame(
        {
            "segment": SEGMENTS,
            "touchpoint": ["Invoicing"] * 3,
            "class": ["vulnerability", "opportunity", "hybrid"],
            "ris": [0.2, 0.1, 0.1],
            "at_stake": [0.04, 0.02, 0.03],
            "reason": [""] * 3,
        }
    )
    # a phone's column
    svg = _svg(journey_charts.class_matrix(m, SEGMENTS, "percentage points"), 240)
    words = re.findall(r">([^<>]+)<", svg)
    for word in ("Commercial", "developers", "Public", "agencies", "Retail"):
        assert word in words, word  # each line whole, none cut with an ellipsis
    assert not any("…" in w for w in words if "Commercial" in w or "Public" in w)
    assert all(
        not journey_charts._splits(s) for s in ["Retail", "Site visits", "Longwordwithoutspace"]
    )


def test_trend_names_a_wave_apart_do_not_print_over_each_other() -> None:
    trend = pd.DataFrame(
        {
            "wave": ["Q1", "Q2", "Q3", "Q3", "Q4", "Q4", "Q1"],
            "touchpoint": [
                "Bid/proposal delivery",
                "Bid/proposal delivery",
                "Bid/proposal delivery",
                "Invoicing",
                "Project kickoff",
                "Post-project support",
                "Site visits",
            ],
            "class": ["opportunity"] * 7,
            "at_stake": [0.05, 0.05, 0.081, 0.02, 0.085, 0.12, 0.01],
            "reason": [""] * 7,
        }
    )
    spec = trend_charts.at_stake_trend(trend, "percentage points").to_dict()
    (names,) = [layer for layer in spec["layer"] if layer["mark"]["type"] == "text"]
    shown = set(pd.DataFrame(spec["datasets"][names["data"]["name"]]).touchpoint)
    # Q3's 8.1 and Q4's 8.5 a wave apart: the larger keeps its name; the others stay.
    assert "Project kickoff" in shown and "Bid/proposal delivery" not in shown
    assert {"Post-project support", "Invoicing", "Site visits"} <= shown


def test_the_last_waves_names_have_room_inside_the_chart() -> None:
    trend = pd.DataFrame(
        {
            "wave": ["Q1", "Q2"],
            "touchpoint": ["Site visits"] * 2,
            "class": ["opportunity"] * 2,
            "at_stake": [0.1, 0.12],
            "reason": [""] * 2,
        }
    )
    spec = trend_charts.at_stake_trend(trend, "percentage points").to_dict()
    (names,) = [layer for layer in spec["layer"] if layer["mark"]["type"] == "text"]
    assert spec["padding"]["right"] == trend_charts.NAME_ROOM
    assert names["mark"]["dx"] + names["mark"]["limit"] <= trend_charts.NAME_ROOM + 5
    svg = _svg(trend_charts.at_stake_trend(trend, "percentage points"), 360)
    assert "Site visits" in re.findall(r">([^<>]+)<", svg)  # a short name whole


def test_wave_names_slant_where_they_would_not_all_fit() -> None:
    waves = ["2026-Q1", "2026-Q2", "2026-Q3", "2026-Q4"]
    trend = pd.DataFrame(
        {
            "wave": waves,
            "touchpoint": ["Site visits"] * 4,
            "class": ["opportunity"] * 4,
            "at_stake": [0.01, 0.02, 0.03, 0.04],
            "reason": [""] * 4,
        }
    )
    chart = trend_charts.at_stake_trend(trend, "percentage points")

    def slanted(width: int) -> int:  # wave names drawn rotated
        svg = _svg(chart, width)
        return sum(1 for w in waves if re.search(rf"rotate\(-90\)[^>]*>{re.escape(w)}<", svg))

    assert slanted(160) == 4  # a phone's plot: every name, on end
    assert slanted(800) == 0  # a desktop's: upright
