"""Display units and decimals by outcome kind; charts legible on long journeys."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from cmot import charts


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
    u = charts.units_of_kind(kind, measure)
    assert u.words == words
    assert u.fmt(0.1234) == shown
    unit = "percentage points" if words == "percentage points" else "points"
    assert charts.units(unit) == u
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


def test_matrix_cells_keep_decimals_on_a_scale_outcome() -> None:
    m = _moments(3)
    scale = charts.class_matrix(m, ["A", "B"], "points").to_dict()
    share = charts.class_matrix(m, ["A", "B"], "percentage points").to_dict()
    scale_text = [r["text"] for r in next(iter(scale["datasets"].values()))]
    share_text = [r["text"] for r in next(iter(share["datasets"].values()))]
    assert scale_text[:3] == ["· 0.01", "· 0.02", "· 0.04"]  # not "· 0" three times
    assert share_text[:3] == ["· 1", "· 2", "· 4"]


@pytest.mark.parametrize(("n", "across"), [(14, True), (15, False), (47, False)])
def test_journey_map_turns_top_to_bottom_past_fourteen_touchpoints(n: int, across: bool) -> None:
    spec = charts.journey_map(_moments(n), [f"Stage {i}" for i in range(5)]).to_dict()
    assert ("column" in spec["facet"]) is across
    assert ("row" in spec["facet"]) is (not across)
    if not across:
        assert spec["spec"]["height"] == {"step": 22}  # the chart grows with the journey
        assert isinstance(spec["spec"]["width"], int) and spec["spec"]["width"] <= 600


def test_scatter_names_only_the_largest_on_a_long_journey() -> None:
    m = _moments(40, ("A",)).assign(ia=np.linspace(-1, 1, 40))
    spec = charts.impact_performance(m, -0.2, 0.2).to_dict()
    named = [layer for layer in spec["layer"] if layer.get("mark", {}).get("type") == "text"]
    data = spec["datasets"][named[0]["data"]["name"]]
    assert len(data) == charts.SCATTER_NAMES
    assert {r["touchpoint"] for r in data} == {
        f"Touchpoint {i} with a long question text" for i in range(28, 40)
    }
    assert "hover for the others" in str(spec["title"])


def test_scatter_names_some_points_when_no_segment_has_a_result() -> None:
    m = _moments(40, ("A",)).assign(ia=np.linspace(-1, 1, 40), **{"class": "insufficient"})
    spec = charts.impact_performance(m, -0.2, 0.2).to_dict()
    texts = [layer for layer in spec["layer"] if layer.get("mark", {}).get("type") == "text"]
    assert len(spec["datasets"][texts[0]["data"]["name"]]) == charts.SCATTER_NAMES
    assert "names of the 12 largest" in str(spec["title"])
