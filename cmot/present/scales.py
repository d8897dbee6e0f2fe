"""What every chart shares: the class colours, shapes and symbols (`class_label`), the
segments' colours and dashes, the display units of an effect (`Units`, `units`), the chart's
frame (`fit`: as wide as its container, its title and the room beside the plot) and names
kept apart (`apart`)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import altair as alt
import pandas as pd

# Okabe-Ito, safe for the common colour-vision deficiencies; one colour per class everywhere,
# and every chart repeats the class as a shape or a text label (never colour alone).
CLASS_COLOURS: dict[str, str] = {
    "vulnerability": "#D55E00",
    "opportunity": "#009E73",
    "hybrid": "#E69F00",
    "low impact": "#999999",
    "insufficient": "#DDDDDD",
}
CLASS_SHAPES: dict[str, str] = {
    "vulnerability": "triangle-down",
    "opportunity": "triangle-up",
    "hybrid": "diamond",
    "low impact": "circle",
    "insufficient": "cross",
}
CLASS_SYMBOLS: dict[str, str] = {
    "vulnerability": "▼",
    "opportunity": "▲",
    "hybrid": "◆",
    "low impact": "·",
    "insufficient": "?",
}
# Segments get the Okabe-Ito colours no class uses, plus a dash pattern each.
SEGMENT_COLOURS = ("#0072B2", "#000000", "#56B4E9", "#CC79A7", "#F0E442")
SEGMENT_DASHES = ([1, 0], [6, 3], [2, 2], [8, 3, 2, 3], [4, 4])

_CLASSES = list(CLASS_COLOURS)
LABEL_LIMIT = 340  # px of a touchpoint label on a vertical axis (question text is long)
# The same, but at most 45% of the chart's container: on a phone the labels leave the plot room.
LABEL_LIMIT_FIT = alt.ExprRef(
    f"min({LABEL_LIMIT}, containerSize()[0] > 0 ? containerSize()[0] * 0.45 : {LABEL_LIMIT})"
)
# A performance (a mean rating put on 0-100: 0 the scale's floor, 100 its top) is drawn over
# the whole scale: an axis zoomed to 57-60.5 makes a gap of a point look like a chasm.
PERFORMANCE = (0.0, 100.0)


def class_label(cls: str) -> str:
    """The class as symbol and word, e.g. '▼ vulnerability'."""
    return f"{CLASS_SYMBOLS.get(cls, '')} {cls}".strip()


# The class legend in one row where it fits, else in rows of two (a phone): a legend wider
# than its chart is cut off.
_LEGEND_COLUMNS = alt.ExprRef("(width < 720 ? 2 : 5)")


# A title starts at the left and is cut to the container's width (centred, a long title ran
# off both sides on a phone); containerSize() is 0 where nothing contains the chart (a file).
_TITLE_LIMIT = alt.ExprRef("containerSize()[0] > 0 ? containerSize()[0] - 8 : 0")
# The room a chart needs beside its plot (axes, legend, title), in px, told to the page in
# the spec's usermeta: Streamlit fits a chart as wide as the page into one height, and with
# too little room the plot is squeezed (a phone's legend wraps into more rows).
ROOM = 140


def fit(chart: Any, title: str, height: int, room: int = 220) -> Any:
    """`chart` as wide as its container, `height` px of plot, its title fitted."""
    return chart.properties(
        title=alt.TitleParams(title, anchor="start", frame="bounds", limit=_TITLE_LIMIT),
        height=height,
        width="container",
        usermeta={"room": room},
    )


def class_colour(title: str | None = "class") -> alt.Color:
    """The class as a colour, one Okabe-Ito colour per class, its legend below the plot."""
    return alt.Color(
        "class:N",
        scale=alt.Scale(domain=_CLASSES, range=list(CLASS_COLOURS.values())),
        legend=alt.Legend(title=title, orient="bottom", columns=_LEGEND_COLUMNS),
    )


def class_shape() -> alt.Shape:
    """The class as a shape (the same legend as `class_colour`'s: never colour alone)."""
    return alt.Shape(
        "class:N",
        scale=alt.Scale(domain=_CLASSES, range=list(CLASS_SHAPES.values())),
        legend=alt.Legend(title="class", orient="bottom", columns=_LEGEND_COLUMNS),
    )


@dataclass(frozen=True)
class Units:
    """How an effect on the outcome is shown: scale, words and decimals.

    A share (binary outcome, promoter share) reads as percentage points with one decimal
    (0 in the compact matrix cells); a score (a 1-5 scale, a 0-10 recommend score) reads in
    outcome points with two decimals, because its effects are fractions of a point and
    rounding them to integers shows 0 everywhere.
    """

    factor: float  # value x factor = shown number
    words: str  # "percentage points" or "points"
    decimals: int  # in tables, tooltips and sentences
    cell_decimals: int  # in compact cells (the class matrix)
    suffix: str  # after a number in a sentence

    def fmt(self, value: float, signed: bool = False, compact: bool = False) -> str:
        """The number alone, e.g. '12.3' or '+0.45' ('n/a' when not finite)."""
        if not math.isfinite(value):
            return "n/a"
        d = self.cell_decimals if compact else self.decimals
        return f"{value * self.factor:{'+' if signed else ''}.{d}f}"

    def d3(self, signed: bool = False) -> str:
        """The same as a Vega/d3 format string, for tooltips."""
        return f"{'+' if signed else ''}.{self.decimals}f"


PERCENTAGE_POINTS = Units(100.0, "percentage points", 1, 0, " pts")
OUTCOME_POINTS = Units(1.0, "points", 2, 2, " points")


def units(unit: str) -> Units:
    """The display units of a result's `unit` (MomentsResult.unit, set by the outcome kind:
    binary and promoter share in percentage points, scale and recommend score in points)."""
    return PERCENTAGE_POINTS if unit == "percentage points" else OUTCOME_POINTS


def units_of_kind(outcome_kind: str, measure: str = "score") -> Units:
    """The display units of an outcome kind, as the engine decides its result's unit."""
    share = outcome_kind == "binary" or measure == "promoter"
    return PERCENTAGE_POINTS if share else OUTCOME_POINTS


def factor_words(unit: str) -> tuple[float, str]:
    """Multiplier and axis wording for outcome units (shares read as percentage points)."""
    u = units(unit)
    return u.factor, u.words


def apart(
    frame: pd.DataFrame, x: str, y: str, x_gap: float, y_gap: float, priority: str
) -> pd.DataFrame:
    """The rows of `frame` whose names (left-aligned text at (x, y)) do not collide: taken in
    order of `priority` (largest first), a row is kept unless a kept one lies within `y_gap`
    up or down and `x_gap` across (about a line's height and a name's width, in data units).
    Vega-Lite has no label placement of its own."""
    kept: list[tuple[float, float]] = []
    rows = []
    for i, r in frame.sort_values(priority, ascending=False, kind="stable").iterrows():
        px, py = float(r[x]), float(r[y])
        if not (math.isfinite(px) and math.isfinite(py)):
            continue
        if any(abs(py - ky) < y_gap and abs(px - kx) < x_gap for kx, ky in kept):
            continue
        kept.append((px, py))
        rows.append(i)
    return frame.loc[[i for i in frame.index if i in set(rows)]]


def widest(values: pd.Series) -> float:
    """The largest absolute value, 0 when there is none (every interval unknown: a column of
    None, which abs() refuses)."""
    top = pd.to_numeric(values, errors="coerce").abs().max()
    return float(top) if pd.notna(top) else 0.0
