"""Display units and decimals by outcome kind; charts legible on long journeys."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import pytest

from cmot.present import charts, journey_charts, trend_charts
from cmot.present.scales import units, units_of_kind
from cmot.results.summary import amount


@pytest.mark.parametrize(
    ("kind", "measure", "words", "shown"),
    [
        ("binary", "score", "percentage points", "12.3"),
        ("recommend", "promoter", "percentage points", "12.3"),
        ("scale", "score", "points", "0.12"),
        ("recommend", "score", "points", "0.12"),
    ],
)
def test_units_follow_the_outcome_kind(kind: str, measure: str, words: str, shown: str) -> None:
    u = units_of_kind(kind, measure)
    assert u.words == words
    assert u.fmt(0.1234) == shown
    unit = "percentage points" if words == "percentage points" else "points"
    assert units(unit) == u
    assert u.fmt(math.nan) == "n/a"
    assert u.fmt(-0.1234, signed=True).startswith("-")
    assert u.fmt(0.1234, signed=True).startswith("+")


def _moments(n: int, segments: tuple[str, ...] = ("A", "B")) -> pd.DataFrame:
    rows = []
    for s in segments:
        for i in range(n):
            rows.append(
                {
                    "segment": s,
                    "stage": f"Stage {i // 10}",
                    "touchpoint": f"Touchpoint {i} with a long question text",
                    "mean": 50.0 + i,
                    "class": "low impact",
                    "ris": 0.0123 * (i + 1),
                    "reason": "",
                }
            )
    return pd.DataFrame(rows)


def test_matrix_cells_show_the_amount_at_stake_as_the_pages_do() -> None:
    m = _moments(3).assign(at_stake=lambda f: f.ris / 2)
    m.loc[m.index[-1], "at_stake"] = math.nan  # nothing at stake: the symbol alone
    scale = journey_charts.class_matrix(m, ["A", "B"], "points").to_dict()
    share = journey_charts.class_matrix(m, ["A", "B"], "percentage points").to_dict()
    scale_text = [r["text"] for r in next(iter(scale["datasets"].values()))]
    share_text = [r["text"] for r in next(iter(share["datasets"].values()))]
    assert scale_text[:3] == ["· 0.01", "· 0.01", "· 0.02"]  # not "· 0" three times
    # The number of cmot.results.summary.amount's '0.6 pts': one amount per moment on every page.
    assert share_text[:3] == [f"· {amount(v, 'percentage points')[:-4]}" for v in m.at_stake[:3]]
    assert share_text[-1] == "·"


@pytest.mark.parametrize(("n", "across"), [(14, True), (15, False), (47, False)])
def test_journey_map_turns_top_to_bottom_past_fourteen_touchpoints(n: int, across: bool) -> None:
    spec = journey_charts.journey_map(_moments(n), [f"Stage {i}" for i in range(5)]).to_dict()
    axis = "x" if across else "y"
    line = next(lay for lay in spec["layer"] if lay["mark"]["type"] == "line")
    assert line["encoding"][axis]["field"] == "pos"  # touchpoints run along this axis
    assert line["encoding"][axis]["axis"]["values"] == list(range(n))  # every one named
    if not across:
        assert spec["height"] == 22 * n  # the chart grows with the journey


def _performance_axes(spec: dict[str, Any]) -> list[dict[str, Any]]:
    """Every encoding of the mean rating (performance) in a layered spec."""
    return [
        enc
        for lay in spec.get("layer", [spec])
        for enc in lay.get("encoding", {}).values()
        if isinstance(enc, dict) and enc.get("field") == "mean"
    ]


@pytest.mark.parametrize("n", [12, 30])
def test_performance_axes_start_at_the_scales_floor(n: int) -> None:
    """Issue 28: a journey map whose axis ran 57.0-60.5 made a gap of a point look dramatic."""
    m = _moments(n).assign(ia=0.1)
    for chart in (
        journey_charts.journey_map(m, ["Stage 0"]),
        charts.impact_performance(m, -0.2, 0.2),
    ):
        # Layers share the scale: the encodings that set it set the whole scale.
        scales = [enc["scale"] for enc in _performance_axes(chart.to_dict()) if "scale" in enc]
        assert scales and all(sc["domain"] == [0.0, 100.0] for sc in scales)


def test_every_chart_takes_its_containers_width() -> None:
    """Issue 28: charts of a fixed width (the journey map's 1,152 px, the differences' two
    260 px panels) were cut off at 1,024 px and on a phone."""
    m = _moments(12).assign(
        ia=0.1,
        penalty=0.1,
        reward=0.2,
        penalty_lo=0.0,
        penalty_hi=0.2,
        reward_lo=0.1,
        reward_hi=0.3,
        wrong_sign=False,
        at_stake=0.05,
    )
    one = m[m.segment == "A"]
    diffs = pd.DataFrame(
        {
            "segment_a": "A",
            "segment_b": "B",
            "touchpoint": list(one.touchpoint) * 2,
            "measure": ["penalty"] * 12 + ["reward"] * 12,
            "difference": 0.01,
            "se": 0.02,
            "significant": [True, False] * 12,
            "q": 0.04,
        }
    )
    trend = pd.concat([one.assign(wave=w, n=100) for w in ("2024", "2025")])
    built = {
        "butterfly": charts.butterfly(one, "points"),
        "impact-performance": charts.impact_performance(one, -0.2, 0.2),
        "journey across": journey_charts.journey_map(m, ["Stage 0", "Stage 1"]),
        "journey down": journey_charts.journey_map(_moments(30), ["Stage 0"]),
        "class matrix": journey_charts.class_matrix(m, ["A", "B"], "points"),
        "differences": charts.differences(diffs, "points"),
        "migration": trend_charts.migration(trend, "points"),
        "at stake": trend_charts.at_stake_trend(trend, "points"),
    }
    for name, chart in built.items():
        spec = chart.to_dict()  # validates the schema
        assert spec.get("width") == "container", name
        assert "facet" not in spec and "hconcat" not in spec, name


def test_scatter_names_only_the_largest_on_a_long_journey() -> None:
    m = _moments(40, ("A",)).assign(ia=np.linspace(-1, 1, 40))
    spec = charts.impact_performance(m, -0.2, 0.2).to_dict()
    named = [layer for layer in spec["layer"] if layer.get("mark", {}).get("type") == "text"]
    data = spec["datasets"][named[0]["data"]["name"]]
    # Of the twelve largest, those whose names do not print over each other (issue 28).
    assert 0 < len(data) <= charts.SCATTER_NAMES
    assert {r["touchpoint"] for r in data} <= {
        f"Touchpoint {i} with a long question text" for i in range(28, 40)
    }
    assert "Touchpoint 39 with a long question text" in {r["touchpoint"] for r in data}
    _names_apart(data)
    assert "hover for the others" in str(spec["title"])


def _names_apart(rows: list[dict[str, Any]]) -> None:
    """No two names within a line's height (0.08 of IA) and a name's width (30 points)."""
    for i, a in enumerate(rows):
        for b in rows[i + 1 :]:
            assert abs(a["ia"] - b["ia"]) >= 0.08 or abs(a["mean"] - b["mean"]) >= 30


def test_scatter_names_do_not_print_over_each_other() -> None:
    """Issue 28: a dozen touchpoints at IA +1 and performance 58 printed one blot of names."""
    m = _moments(6, ("A",)).assign(mean=58.0, ia=[1.0, 1.0, 1.0, -1.0, -1.0, 0.3])
    spec = charts.impact_performance(m, -0.2, 0.2).to_dict()
    named = [layer for layer in spec["layer"] if layer.get("mark", {}).get("type") == "text"]
    data = spec["datasets"][named[0]["data"]["name"]]
    assert sorted(r["ia"] for r in data) == [-1.0, 0.3, 1.0]  # one name per crowd
    assert {r["touchpoint"] for r in data} >= {"Touchpoint 2 with a long question text"}


def test_scatter_names_some_points_when_no_segment_has_a_result() -> None:
    m = _moments(40, ("A",)).assign(ia=np.linspace(-1, 1, 40), **{"class": "insufficient"})
    spec = charts.impact_performance(m, -0.2, 0.2).to_dict()
    texts = [layer for layer in spec["layer"] if layer.get("mark", {}).get("type") == "text"]
    shown = spec["datasets"][texts[0]["data"]["name"]]
    assert 0 < len(shown) <= charts.SCATTER_NAMES
    assert f"names of {len(shown)} of the largest" in str(spec["title"])
