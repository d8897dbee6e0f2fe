"""Altair chart builders: pure functions from result frames to charts (no Streamlit)."""

from __future__ import annotations

import json
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
# Beyond this many touchpoints the journey runs top to bottom: left to right, 56 px per
# touchpoint overflows the page (an 18-touchpoint map was cut off on the right), and narrower
# steps leave no room for question-text labels.
JOURNEY_ACROSS_MAX = 14
LABEL_LIMIT = 340  # px of a touchpoint label on a vertical axis (question text is long)
# The same, but at most 45% of the chart's container: on a phone the labels leave the plot room.
_LABEL_LIMIT_FIT = alt.ExprRef(
    f"min({LABEL_LIMIT}, containerSize()[0] > 0 ? containerSize()[0] * 0.45 : {LABEL_LIMIT})"
)
SCATTER_NAMES = 12  # touchpoints named beside their point in the impact-performance chart
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


def _fit(chart: Any, title: str, height: int, room: int = 220) -> Any:
    """`chart` as wide as its container, `height` px of plot, its title fitted."""
    return chart.properties(
        title=alt.TitleParams(title, anchor="start", frame="bounds", limit=_TITLE_LIMIT),
        height=height,
        width="container",
        usermeta={"room": room},
    )


def _class_colour(title: str | None = "class") -> alt.Color:
    return alt.Color(
        "class:N",
        scale=alt.Scale(domain=_CLASSES, range=list(CLASS_COLOURS.values())),
        legend=alt.Legend(title=title, orient="bottom", columns=_LEGEND_COLUMNS),
    )


def _class_shape() -> alt.Shape:
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


def _points(unit: str) -> tuple[float, str]:
    """Multiplier and axis wording for outcome units (shares read as percentage points)."""
    u = units(unit)
    return u.factor, u.words


def butterfly(moments: pd.DataFrame, unit: str, title: str = "") -> alt.LayerChart:
    """Penalty (left) and reward (right) of each touchpoint with 95% intervals, by class.

    `moments` is one segment's rows of MomentsResult.moments, in journey order.
    """
    k, words = _points(unit)
    fmt = units(unit).d3()
    order = list(moments.touchpoint)
    rows = []
    for r in moments.to_dict("records"):
        flag = " ⚠" if r["wrong_sign"] else ""
        for side, sign in (("penalty", -1.0), ("reward", 1.0)):
            v, lo, hi = (r[side], r[f"{side}_lo"], r[f"{side}_hi"])
            rows.append(
                {
                    "touchpoint": r["touchpoint"],
                    "side": side,
                    "value": sign * k * v,
                    "lo": sign * k * lo if math.isfinite(lo) else None,
                    "hi": sign * k * hi if math.isfinite(hi) else None,
                    "class": r["class"],
                    "label": class_label(r["class"]) + flag,
                    "reason": r["reason"] or "",
                }
            )
    data = pd.DataFrame(rows)
    y = alt.Y("touchpoint:N", sort=order, title=None, axis=alt.Axis(labelLimit=_LABEL_LIMIT_FIT))
    base = alt.Chart(data)
    # Room right of the widest whisker for the class labels (they were cut at the chart's
    # edge): the axis runs half as far again past it.
    reach = (
        max(_widest(data["lo"]), _widest(data["hi"]), _widest(data["value"])) if len(data) else 0
    )
    domain = [-1.05 * reach, 1.6 * reach] if reach > 0 else alt.Undefined
    bars = base.mark_bar(height={"band": 0.7}).encode(
        x=alt.X(
            "value:Q",
            title=f"← penalty · reward → ({words})",
            scale=alt.Scale(domain=domain, nice=False),
        ),
        y=y,
        color=_class_colour(),
        tooltip=[
            "touchpoint",
            "side",
            alt.Tooltip("value:Q", format=fmt),
            alt.Tooltip("lo:Q", format=fmt, title="95% from"),
            alt.Tooltip("hi:Q", format=fmt, title="95% to"),
            "label",
            "reason",
        ],
    )
    whiskers = base.mark_rule(color="#333333").encode(x="lo:Q", x2="hi:Q", y=y)
    labels = (
        alt.Chart(data[data.side == "reward"])
        .mark_text(align="left", dx=4, fontSize=11, color="#333333")
        .encode(x=alt.datum(_widest(data["hi"]) if len(data) else 0), y=y)
        .encode(text="label:N")
    )
    zero = alt.Chart(pd.DataFrame({"x": [0]})).mark_rule(color="#333333").encode(x="x:Q")
    return _fit(
        bars + whiskers + zero + labels, title or "Penalty and reward", max(200, 26 * len(order))
    )


def _apart(
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


def _widest(values: pd.Series) -> float:
    """The largest absolute value, 0 when there is none (every interval unknown: a column of
    None, which abs() refuses)."""
    top = pd.to_numeric(values, errors="coerce").abs().max()
    return float(top) if pd.notna(top) else 0.0


def impact_performance(
    moments: pd.DataFrame, vulnerability_ia: float, opportunity_ia: float, title: str = ""
) -> alt.LayerChart:
    """Asymmetric impact-performance: performance (0-100) across, impact asymmetry up,
    point size = range of impact; dashed lines at the class thresholds."""
    data = moments.assign(label=[class_label(c) for c in moments["class"]])[
        ["touchpoint", "mean", "ia", "ris", "class", "label", "reason"]
    ].dropna(subset=["mean", "ia"])
    # Past a dozen points the names pile on each other (many sit at IA ±1): name the ones with
    # the largest range of impact that have a result; the tooltip names every point.
    named = data
    if len(data) > SCATTER_NAMES:
        rated = data[data["class"] != "insufficient"]
        named = (rated if len(rated) else data).nlargest(SCATTER_NAMES, "ris")
    # Names that would print over each other (a dozen points at IA +1 and performance 58):
    # the one with the larger range of impact keeps its name, the others are in the tooltip.
    named = _apart(named, "mean", "ia", x_gap=30.0, y_gap=0.08, priority="ris")
    points = (
        alt.Chart(data)
        .mark_point(filled=True, opacity=0.9, stroke="#333333", strokeWidth=0.5)
        .encode(
            x=alt.X(
                "mean:Q",
                title="performance (mean rating, 0-100)",
                scale=alt.Scale(domain=list(PERFORMANCE), zero=True, nice=False),
            ),
            y=alt.Y(
                "ia:Q",
                title="impact asymmetry (−1 table stake … +1 differentiator)",
                scale=alt.Scale(domain=[-1.05, 1.05]),
            ),
            size=alt.Size("ris:Q", title="range of impact", legend=None),
            color=_class_colour(),
            shape=_class_shape(),
            tooltip=[
                "touchpoint",
                "label",
                alt.Tooltip("mean:Q", format=".0f"),
                alt.Tooltip("ia:Q", format="+.2f"),
                alt.Tooltip("ris:Q", format=".3f"),
                "reason",
            ],
        )
    )
    names = (
        alt.Chart(named)
        .mark_text(align="left", dx=8, fontSize=10, color="#333333", limit=180)
        .encode(x="mean:Q", y="ia:Q", text="touchpoint:N")
    )
    lines = (
        alt.Chart(pd.DataFrame({"y": [vulnerability_ia, opportunity_ia]}))
        .mark_rule(strokeDash=[4, 4], color="#777777")
        .encode(y="y:Q")
    )
    note = ""
    if len(named) < len(data):
        note = (
            f" (names of {len(named)} of the largest ranges of impact; hover for the others)"
            if len(named)
            else " (hover for the names)"
        )
    return _fit(
        lines + points + names, (title or "Impact asymmetry against performance") + note, 380
    )


def journey_map(
    moments: pd.DataFrame, stage_order: list[str], tags: dict[str, str] | None = None
) -> alt.TopLevelMixin:
    """Stages in order, touchpoints in order, each segment's performance curve, every
    touchpoint marked by its class (colour and shape) in each segment.

    One chart as wide as its container (no facets, whose panels have fixed widths): the
    touchpoints sit at positions 0..n-1 in journey order, named by the axis, the stages drawn
    as shaded bands named inside. Performance runs over the whole 0-100 scale (PERFORMANCE),
    so small gaps between segments look small. Up to JOURNEY_ACROSS_MAX touchpoints the
    stages run left to right; a longer journey runs top to bottom (one row per touchpoint,
    labels in full), so that a 30+ touchpoint survey stays legible and nothing is cut off.

    `moments` holds the segments to draw (rows of MomentsResult.moments); `tags` maps a
    touchpoint's display name to its CMoT tags text.
    """
    tags = tags or {}
    data = moments[["segment", "stage", "touchpoint", "mean", "class"]].copy()
    # The journey's touchpoints in order: stages as `stage_order` has them, the rows' order
    # within a stage (a stage not in `stage_order` goes last).
    first = data.drop_duplicates("touchpoint")
    rank = {s: i for i, s in enumerate(stage_order)}
    first = first.assign(_r=[rank.get(s, len(rank)) for s in first.stage]).sort_values(
        "_r", kind="stable"
    )
    names = list(first.touchpoint)
    pos = {t: i for i, t in enumerate(names)}
    n = len(names)
    data["pos"] = [pos[t] for t in data.touchpoint]
    data["tags"] = [tags.get(t, "") for t in data.touchpoint]
    data["label"] = [class_label(c) for c in data["class"]]
    data = data.sort_values(["segment", "pos"], kind="stable")
    stages = (
        first.assign(pos=range(n))
        .groupby("stage", sort=False)["pos"]
        .agg(["min", "max"])
        .reset_index()
    )
    stages = stages.assign(
        lo=stages["min"] - 0.5,
        hi=stages["max"] + 0.5,
        span=stages["max"] - stages["min"] + 1,
        shade=[i % 2 == 0 for i in range(len(stages))],
    )
    segs = list(dict.fromkeys(data.segment))
    across = n <= JOURNEY_ACROSS_MAX
    # Segments colour the lines' stroke, classes the markers' fill (with their shape): two
    # scales, so the class colour and shape share one scale domain and one "class" legend.
    seg_colour = alt.Stroke(
        "segment:N",
        scale=alt.Scale(domain=segs, range=list(SEGMENT_COLOURS[: len(segs)])),
        # Above the plot, the class legend below it: side by side they overflowed a phone.
        legend=alt.Legend(
            title="segment", orient="top", columns=alt.ExprRef("(width < 720 ? 1 : 4)")
        ),
    )
    dash = alt.StrokeDash(
        "segment:N",
        scale=alt.Scale(domain=segs, range=list(SEGMENT_DASHES[: len(segs)])),
        legend=None,
    )
    perf_title = "performance (mean rating, 0-100)"
    perf_scale = alt.Scale(domain=list(PERFORMANCE), zero=True, nice=False)
    tp_scale = alt.Scale(domain=[-0.5, n - 0.5], nice=False, zero=False, reverse=not across)
    # Every touchpoint named: Vega thins a continuous axis's values down to its tick count.
    values, tick_count = list(range(n)), max(n, 1)
    label_expr = f"{json.dumps(names)}[datum.value]"
    # The stage's name inside its band, cut to the band's width (the chart's width is the
    # container's: known only where it is drawn).
    if across:
        tp_axis = alt.Axis(
            values=values,
            tickCount=tick_count,
            labelExpr=label_expr,
            # Upright on a narrow screen (a phone), where slanted names would not fit.
            labelAngle=alt.ExprRef("(width < 560 ? -90 : -40)"),
            labelLimit=160,
            labelOverlap=False,
            labelBound=False,
            grid=False,
            ticks=False,
        )
        tp: alt.X | alt.Y = alt.X("pos:Q", title=None, scale=tp_scale, axis=tp_axis)
        value: alt.X | alt.Y = alt.Y("mean:Q", title=perf_title, scale=perf_scale)
        enc = {"x": tp, "y": value}
        tag_enc = {"x": tp, "y": alt.Y("max(mean):Q")}
        band = {"x": alt.X("lo:Q", scale=tp_scale), "x2": "hi:Q"}
        stage_text = (
            alt.Chart(stages)
            .mark_text(
                align="center",
                baseline="top",
                dy=4,
                fontWeight="bold",
                fontSize=11,
                color="#444444",
                limit=alt.ExprRef(f"max(0, width * datum.span / {max(n, 1)} - 4)"),
            )
            .encode(x=alt.X("mid:Q", scale=tp_scale), y=alt.value(0), text="stage:N")
            .transform_calculate(mid="(datum.lo + datum.hi) / 2")
        )
        dx, dy = 0, -14
        height = 340
    else:
        tp_axis = alt.Axis(
            values=values,
            tickCount=tick_count,
            labelExpr=label_expr,
            labelLimit=_LABEL_LIMIT_FIT,
            labelOverlap=False,
            labelFontSize=11,
            grid=False,
            ticks=False,
        )
        tp = alt.Y("pos:Q", title=None, scale=tp_scale, axis=tp_axis)
        value = alt.X("mean:Q", title=perf_title, scale=perf_scale, axis=alt.Axis(orient="top"))
        enc = {"x": value, "y": tp}
        tag_enc = {"x": alt.X("max(mean):Q"), "y": tp}
        band = {"y": alt.Y("lo:Q", scale=tp_scale), "y2": "hi:Q"}
        stage_text = (
            alt.Chart(stages)
            .mark_text(
                align="left",
                baseline="top",
                dx=4,
                dy=2,
                fontWeight="bold",
                fontSize=11,
                color="#444444",
                limit=alt.ExprRef("max(0, width - 8)"),
            )
            .encode(x=alt.value(0), y=alt.Y("lo:Q", scale=tp_scale), text="stage:N")
        )
        dx, dy = 14, 0
        height = max(200, 22 * n)
    bands = (
        alt.Chart(stages)
        .mark_rect(opacity=1)
        .encode(
            **band,
            fill=alt.condition("datum.shade", alt.value("#F0F2F6"), alt.value("#FFFFFF")),
            tooltip=["stage:N"],
        )
    )
    # The line joins touchpoints in journey order whichever way the journey runs.
    line = (
        alt.Chart(data)
        .mark_line(strokeWidth=2)
        .encode(**enc, order=alt.Order("pos:Q"), stroke=seg_colour, strokeDash=dash)
    )
    marks = (
        alt.Chart(data)
        .mark_point(
            filled=True, size=150 if across else 90, stroke="#333333", strokeWidth=0.5, opacity=1
        )
        .encode(
            **enc,
            color=_class_colour(),
            shape=_class_shape(),
            tooltip=[
                "segment",
                "stage",
                "touchpoint",
                "label",
                alt.Tooltip("mean:Q", format=".0f"),
                "tags",
            ],
        )
    )
    tag_marks = (
        alt.Chart(data)
        .transform_filter("datum.tags != ''")
        .mark_text(fontSize=12, color="#333333", text="✱", dx=dx, dy=dy)
        .encode(**tag_enc)
    )
    # Across, the slanted (on a phone upright) names and the legends need more room.
    return _fit(
        alt.layer(bands, stage_text, line, marks, tag_marks),
        "Journey map: performance by segment (✱ = CMoT tag)",
        height,
        380 if across else 220,
    )


# Vega's expression for a label of more than 12 characters split in two at its last space
# before the middle (else its first space); shorter ones, and one word, stay on one line.
_CUT = "lastindexof(slice(datum.label, 0, floor(length(datum.label) / 2) + 1), ' ')"
_AT = f"({_CUT} > 0 ? {_CUT} : indexof(datum.label, ' '))"
_TWO_LINES = (
    f"length(datum.label) > 12 && {_AT} > 0 ? "
    f"[slice(datum.label, 0, {_AT}), slice(datum.label, {_AT} + 1)] : datum.label"
)


def _splits(name: str) -> bool:
    """Whether `_TWO_LINES` puts `name` on two lines."""
    return len(name) > 12 and " " in name.strip()


def class_matrix(
    moments: pd.DataFrame, segments: list[str], unit: str, flips: frozenset[str] = frozenset()
) -> alt.LayerChart:
    """Touchpoint x segment: cell colour = class, text = class symbol and the amount at
    stake (`at_stake`, the number every page shows for that moment; none for low impact);
    touchpoints in `flips` (display names) get a heavy outline and ⇄ in their label."""
    u = units(unit)
    k, words = u.factor, u.words
    data = moments[moments.segment.isin(segments)].copy()
    data["impact"] = data.ris * k
    data["stake"] = data.at_stake * k
    # The amount as cmot.results.summary.amount writes it ('4.7' of '4.7 pts'): one number per
    # moment.
    data["text"] = [
        f"{CLASS_SYMBOLS[c]} {u.fmt(v)}" if math.isfinite(v) else CLASS_SYMBOLS[c]
        for c, v in zip(data["class"], data.at_stake, strict=True)
    ]
    data["label"] = [class_label(c) for c in data["class"]]
    data["touchpoint"] = [f"⇄ {t}" if t in flips else t for t in data.touchpoint]
    data["flip"] = [t.startswith("⇄ ") for t in data.touchpoint]
    order = list(dict.fromkeys(data.touchpoint))
    base = alt.Chart(data).encode(
        # A segment's name is cut to its column (two long names overlapped on a phone).
        x=alt.X(
            "segment:N",
            sort=segments,
            title=None,
            axis=alt.Axis(
                labelAngle=0,
                labelAlign="center",
                orient="top",
                labelLimit=alt.ExprRef(f"max(40, 0.8 * width / {max(len(segments), 1)})"),
                # A long name on two lines, split at the space nearest its middle, so a
                # narrow column (a phone) shows "Commercial / developers", not "Commercial d…".
                labelExpr=_TWO_LINES,
                # Vega stacks a label's second line downwards, into the plot: a split name
                # is lifted by a line's height (one-line names float higher, no harm).
                labelPadding=16 if any(_splits(s) for s in segments) else 2,
            ),
        ),
        y=alt.Y("touchpoint:N", sort=order, title=None, axis=alt.Axis(labelLimit=_LABEL_LIMIT_FIT)),
    )
    cells = base.mark_rect(strokeWidth=2).encode(
        color=_class_colour(),
        stroke=alt.condition("datum.flip", alt.value("#000000"), alt.value("white")),
        tooltip=[
            "segment",
            "touchpoint",
            "label",
            alt.Tooltip("stake:Q", format=u.d3(), title=f"at stake ({words})"),
            alt.Tooltip("impact:Q", format=u.d3(), title=f"range of impact ({words})"),
            "reason",
        ],
    )
    text = base.mark_text(fontSize=12, color="#111111").encode(text="text:N")
    return _fit(
        cells + text,
        f"Class and amount at stake ({words}) per segment (⇄ = flip)",
        max(200, 26 * len(order)),
    )


# The differences chart's legend in plain words (the test behind it, Benjamini-Hochberg's
# false discovery rate, is named under "How this is calculated").
CLEAR = "clear difference"
NOT_CLEAR = "could be chance"


def differences(comparison: pd.DataFrame, unit: str, z: float = 1.96) -> alt.TopLevelMixin:
    """Penalty and reward differences (a minus b) with 95% intervals; filled = a clear
    difference (significant after Benjamini-Hochberg, cmot.present.tables' "clear"), hollow =
    not."""
    k, words = _points(unit)
    signed = units(unit).d3(signed=True)
    if comparison.empty:
        return alt.LayerChart()
    a, b = comparison.segment_a.iloc[0], comparison.segment_b.iloc[0]
    data = comparison.assign(
        diff=comparison.difference * k,
        lo=(comparison.difference - z * comparison.se) * k,
        hi=(comparison.difference + z * comparison.se) * k,
        fdr=[CLEAR if s else NOT_CLEAR for s in comparison.significant],
    )[["touchpoint", "measure", "diff", "lo", "hi", "fdr", "q"]]
    order = list(dict.fromkeys(data.touchpoint))
    # One chart as wide as its container (facet panels have fixed widths): penalty and
    # reward side by side within each touchpoint's row, told apart by colour and the legend.
    y = alt.Y(
        "touchpoint:N",
        sort=order,
        title=None,
        axis=alt.Axis(labelLimit=_LABEL_LIMIT_FIT, grid=True, gridColor="#EEEEEE"),
    )
    offset = alt.YOffset("measure:N", sort=["penalty", "reward"])
    measure_colour = alt.Stroke(
        "measure:N",
        scale=alt.Scale(domain=["penalty", "reward"], range=["#CC79A7", "#0072B2"]),
        legend=alt.Legend(
            title=None, orient="bottom", direction="vertical", symbolFillColor="white"
        ),
    )
    rules = (
        alt.Chart(data)
        .mark_rule(strokeWidth=1.5)
        .encode(x="lo:Q", x2="hi:Q", y=y, yOffset=offset, stroke=measure_colour)
    )
    dots = (
        alt.Chart(data)
        .mark_point(size=70, strokeWidth=2, opacity=1)
        .encode(
            x=alt.X("diff:Q", title=f"how much more for {a} ({words})"),
            y=y,
            yOffset=offset,
            stroke=measure_colour,
            fill=alt.Fill(
                "fdr:N",
                scale=alt.Scale(domain=[CLEAR, NOT_CLEAR], range=["#333333", "white"]),
                # Outlined, or NOT_CLEAR (white) would not show in the legend.
                legend=alt.Legend(
                    title=None,
                    orient="bottom",
                    direction="vertical",
                    symbolStrokeColor="#333333",
                    symbolStrokeWidth=1.5,
                ),
            ),
            tooltip=[
                "touchpoint",
                "measure",
                alt.Tooltip("diff:Q", format=signed),
                alt.Tooltip("lo:Q", format=signed),
                alt.Tooltip("hi:Q", format=signed),
                alt.Tooltip("q:Q", format=".3f"),
                "fdr",
            ],
        )
    )
    zero = alt.Chart(data).mark_rule(color="#999999").encode(x=alt.datum(0))
    return _fit(
        alt.layer(zero, rules, dots),
        f"Differences in penalty and reward: {a} minus {b}",
        max(160, 30 * len(order)),
        180,
    )


def k_curve(curve: pd.DataFrame) -> alt.LayerChart:
    """Silhouette (or BIC) by number of segments; the chosen k marked."""
    metric = "silhouette" if curve["silhouette"].notna().any() else "bic"
    data = curve[["k", metric, "chosen"]].rename(columns={metric: "value"}).dropna()
    data["chosen"] = ["chosen" if c else "" for c in data.chosen.astype(bool)]
    base = alt.Chart(data).encode(
        x=alt.X("k:O", title="number of segments (k)", axis=alt.Axis(labelAngle=0)),
        y=alt.Y("value:Q", title=metric, scale=alt.Scale(zero=False)),
    )
    return (
        base.mark_line(color="#0072B2")
        + base.mark_point(filled=True, size=70, color="#0072B2")
        + base.mark_text(dy=-12, color="#333333").encode(text="chosen:N")
    ).properties(
        title=f"{metric} by k (higher is better)"
        if metric == "silhouette"
        else "BIC by k (lower is better)",
        height=240,
        width="container",
    )


# The planes a migration chart can draw: (x column, y column, x title, y title, in outcome units).
MIGRATION_PLANES = ("penalty-reward", "impact-asymmetry")


def migration(
    trend: pd.DataFrame,
    unit: str,
    plane: str = "penalty-reward",
    vulnerability_ia: float = -0.2,
    opportunity_ia: float = 0.2,
    title: str = "",
) -> alt.TopLevelMixin:
    """Each touchpoint moving from wave to wave: a line through its waves in order, a point per
    wave coloured and shaped by that wave's class, the wave's label beside it and the
    touchpoint's name at its last wave (the largest point: where it went).

    `trend` is one segment's rows of cmot.results.trend.TrendResult.trend (waves in order). plane
    "penalty-reward": penalty across, reward up (outcome units); "impact-asymmetry": range of
    impact across, impact asymmetry up with the class thresholds dashed. A wave whose numbers
    the data cannot support (insufficient, no estimate) has no point; the tooltip of the
    others says so through `reason`.
    """
    if plane not in MIGRATION_PLANES:
        raise ValueError(f"plane must be one of {MIGRATION_PLANES}, not {plane!r}")
    k, words = _points(unit)
    fmt = units(unit).d3()
    waves = list(dict.fromkeys(trend.wave))
    data = trend.assign(
        step=[waves.index(w) for w in trend.wave],
        last=[w == waves[-1] for w in trend.wave],
        label=[class_label(c) for c in trend["class"]],
        penalty_k=trend.penalty * k,
        reward_k=trend.reward * k,
        ris_k=trend.ris * k,
    )
    if plane == "penalty-reward":
        x_col, y_col = "penalty_k", "reward_k"
        x_title = f"penalty of a low rating ({words})"
        y_title = f"reward of a top rating ({words})"
        y_scale = alt.Scale(zero=True)
    else:
        x_col, y_col = "ris_k", "ia"
        x_title = f"range of impact ({words})"
        y_title = "impact asymmetry (−1 table stake … +1 differentiator)"
        y_scale = alt.Scale(domain=[-1.05, 1.05])
    data = data[
        ["wave", "step", "last", "touchpoint", "class", "label", "n", x_col, y_col, "reason"]
    ]
    xs, ys = data[x_col].astype(float), data[y_col].astype(float)
    data = data[(xs.abs() < math.inf) & (ys.abs() < math.inf)]  # finite: NaN and inf drop
    x = alt.X(f"{x_col}:Q", title=x_title, scale=alt.Scale(zero=True))
    y = alt.Y(f"{y_col}:Q", title=y_title, scale=y_scale)
    base = alt.Chart(data)
    lines = base.mark_line(color="#777777", strokeWidth=1.2, opacity=0.7).encode(
        x=x, y=y, detail="touchpoint:N", order="step:Q"
    )
    points = base.mark_point(filled=True, opacity=0.9, stroke="#333333", strokeWidth=0.5).encode(
        x=x,
        y=y,
        color=_class_colour(),
        shape=_class_shape(),
        size=alt.condition("datum.last", alt.value(160), alt.value(50)),
        tooltip=[
            "touchpoint",
            "wave",
            "label",
            alt.Tooltip("n:Q", format=",d"),
            alt.Tooltip(f"{x_col}:Q", format=fmt, title=x_title),
            alt.Tooltip(f"{y_col}:Q", format=fmt if plane == "penalty-reward" else "+.2f"),
            "reason",
        ],
    )
    # A name at each touchpoint's last wave, unless it would print over a larger one's (a
    # dozen sat at the origin, their names one blot; a wave label on every point the same):
    # the waves read from the points' size (small to large), the tooltip names each.
    last = data[data["last"].astype(bool)]
    span_x = float(last[x_col].max() - min(0.0, last[x_col].min())) if len(last) else 1.0
    span_y = float(last[y_col].max() - min(0.0, last[y_col].min())) if len(last) else 1.0
    last = last.assign(_size=last[x_col].abs() + last[y_col].abs())
    shown = _apart(last, x_col, y_col, 0.3 * span_x, 0.05 * span_y, "_size").drop(columns="_size")
    names = (
        alt.Chart(shown)
        .mark_text(align="left", dx=9, dy=4, fontSize=10, color="#333333", limit=180)
        .encode(x=x, y=y, text="touchpoint:N")
    )
    layers: list[alt.Chart] = [lines, points, names]
    if plane == "penalty-reward":
        top = data[[x_col, y_col]].max().max()  # NaN when no wave has a number
        diag = pd.DataFrame({"v": [0.0, float(top) if pd.notna(top) else 0.0]})
        # Above the diagonal reward outweighs penalty (differentiators), below it the reverse.
        layers.insert(
            0,
            alt.Chart(diag)
            .mark_line(strokeDash=[4, 4], color="#BBBBBB")
            .encode(x=alt.X("v:Q"), y=alt.Y("v:Q")),
        )
    else:
        layers.insert(
            0,
            alt.Chart(pd.DataFrame({"y": [vulnerability_ia, opportunity_ia]}))
            .mark_rule(strokeDash=[4, 4], color="#777777")
            .encode(y="y:Q"),
        )
    heading = title or (f"Migration, waves {waves[0]} → {waves[-1]}" if waves else "Migration")
    if len(waves) > 1:
        heading += " (small to large point: earlier to later wave)"
    return _fit(alt.layer(*layers), heading, 420)


NAME_ROOM = 90  # px right of the at-stake trend's plot for the last wave's names (or their …)


def at_stake_trend(trend: pd.DataFrame, unit: str, title: str = "") -> alt.TopLevelMixin:
    """The amount at stake per touchpoint across waves (one line each, waves in order).

    `trend`: wave, touchpoint, class, at_stake (the engine's column, from each wave's
    MomentsResult.moments), reason; one segment's rows. A wave where the data cannot support
    the number has no point (the line has a gap)."""
    k, words = _points(unit)
    fmt = units(unit).d3()
    waves = list(dict.fromkeys(trend.wave))
    data = trend.assign(value=trend.at_stake * k, label=[class_label(c) for c in trend["class"]])[
        ["wave", "touchpoint", "class", "label", "value", "reason"]
    ]
    # Upright wave names while each has some 60 px; on end below that (a phone), so all of
    # them show instead of every other one (slanted ones still overlapped and were dropped).
    slant = f"width < 60 * {max(len(waves), 1)}"
    axis = alt.Axis(
        labelAngle=alt.ExprRef(f"{slant} ? -90 : 0"),
        labelAlign=alt.ExprRef(f"{slant} ? 'right' : 'center'"),
        labelBaseline=alt.ExprRef(f"{slant} ? 'middle' : 'top'"),
    )
    x = alt.X("wave:N", sort=waves, title="wave", axis=axis)
    y = alt.Y("value:Q", title=f"at stake ({words})")
    base = alt.Chart(data)
    # One grey line per touchpoint, named at its last wave (a dash pattern per touchpoint
    # drew a dozen blue dashes nobody could tell apart); a name that would print over a
    # larger one's is left to the tooltip.
    lines = base.mark_line(strokeWidth=1.5, color="#8C8C8C").encode(x=x, y=y, detail="touchpoint:N")
    points = base.mark_point(filled=True, size=60).encode(
        x=x,
        y=y,
        color=_class_colour(),
        shape=_class_shape(),
        tooltip=["touchpoint", "wave", "label", alt.Tooltip("value:Q", format=fmt), "reason"],
    )
    finite = data[pd.to_numeric(data["value"], errors="coerce").abs() < math.inf]
    finite = finite.assign(wave_i=[waves.index(w) for w in finite.wave])
    ends = finite.sort_values("wave_i", kind="stable").drop_duplicates("touchpoint", keep="last")
    span = float(finite["value"].max() - min(0.0, finite["value"].min())) if len(finite) else 1.0
    # A name runs right from its point across about one and a half waves' width (a phone
    # gives a wave some 60 px): names a wave apart collide too ("Bid/proposal delivery" over
    # the next wave's "Project kickoff").
    shown = _apart(ends, "wave_i", "value", 1.5, 0.06 * span, "value").drop(columns="wave_i")
    names = (
        alt.Chart(shown)
        .mark_text(align="left", dx=8, fontSize=10, color="#333333", limit=NAME_ROOM - 5)
        .encode(x=x, y=y, text="touchpoint:N")
    )
    # The last wave's names run right of the plot: room for them inside the chart (a phone
    # cut 'Post-project support' at its edge).
    return _fit(lines + points + names, title or "At stake across waves", 260).properties(
        padding={"left": 5, "top": 5, "bottom": 5, "right": NAME_ROOM}
    )


def watch_chart(series: pd.DataFrame, title: str) -> alt.Chart:
    """One moment watched over the periods: its bottom-box share, the baseline before each
    period and the control band above it (cmot.feedback.alerts.watch_table rows of one moment)."""
    # Periods numbered from 1 as people count batches (the first is the baseline only).
    data = series.assign(number=series["position"] + 1)
    base = alt.Chart(data).encode(
        x=alt.X("number:O", title="batch or period", axis=alt.Axis(labelAngle=0))
    )
    band = base.mark_area(opacity=0.2, color="#999999").encode(
        y=alt.Y("base_share:Q", title="bottom-box share", axis=alt.Axis(format="%")),
        y2="band_hi:Q",
    )
    line = base.mark_line(point=True, color="#D55E00").encode(
        y="share:Q",
        tooltip=[
            alt.Tooltip("period:N"),
            alt.Tooltip("share:Q", format=".0%"),
            alt.Tooltip("base_share:Q", title="baseline", format=".0%"),
            alt.Tooltip("n:Q"),
        ],
    )
    return (band + line).properties(title=title, width="container", height=220)
