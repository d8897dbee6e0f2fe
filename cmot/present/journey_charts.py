"""The journey's charts: the journey map (each segment's performance along the stages and
touchpoints, every touchpoint marked by its class) and the class matrix (touchpoint x
segment: class and amount at stake)."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

import altair as alt
import pandas as pd

from cmot.present.scales import (
    CLASS_SYMBOLS,
    LABEL_LIMIT_FIT,
    PERFORMANCE,
    SEGMENT_COLOURS,
    SEGMENT_DASHES,
    class_colour,
    class_label,
    class_shape,
    fit,
    units,
)

# Beyond this many touchpoints the journey runs top to bottom: left to right, 56 px per
# touchpoint overflows the page (an 18-touchpoint map was cut off on the right), and narrower
# steps leave no room for question-text labels.
JOURNEY_ACROSS_MAX = 14


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
    data = moments[["segment", "stage", "touchpoint", "mean", "class"]].copy()
    first = _journey_order(data, stage_order)
    names = list(first.touchpoint)
    data = _placed(data, names, tags or {})
    stages = _stage_spans(first)
    across = len(names) <= JOURNEY_ACROSS_MAX
    tp_scale = alt.Scale(
        domain=[-0.5, len(names) - 0.5], nice=False, zero=False, reverse=not across
    )
    layout = (_across if across else _down)(stages, names, tp_scale)
    return fit(
        alt.layer(
            _stage_bands(stages, layout),
            layout.stage_text,
            _segment_lines(data, layout),
            _class_marks(data, layout),
            _tag_marks(data, layout),
        ),
        "Journey map: performance by segment (✱ = CMoT tag)",
        layout.height,
        layout.room,
    )


def _journey_order(data: pd.DataFrame, stage_order: list[str]) -> pd.DataFrame:
    """The journey's touchpoints in order, one row each: stages as `stage_order` has them, the
    rows' order within a stage (a stage not in `stage_order` goes last)."""
    first = data.drop_duplicates("touchpoint")
    rank = {s: i for i, s in enumerate(stage_order)}
    return first.assign(_r=[rank.get(s, len(rank)) for s in first.stage]).sort_values(
        "_r", kind="stable"
    )


def _placed(data: pd.DataFrame, names: list[str], tags: dict[str, str]) -> pd.DataFrame:
    """`data` with each touchpoint's position on the journey (`pos`), its CMoT tags and its
    class label, by segment in journey order."""
    pos = {t: i for i, t in enumerate(names)}
    data["pos"] = [pos[t] for t in data.touchpoint]
    data["tags"] = [tags.get(t, "") for t in data.touchpoint]
    data["label"] = [class_label(c) for c in data["class"]]
    return data.sort_values(["segment", "pos"], kind="stable")


def _stage_spans(first: pd.DataFrame) -> pd.DataFrame:
    """Each stage's band on the touchpoints' axis: its first and last position (`lo`, `hi`
    half a step out), how many touchpoints it spans and whether it is shaded (every other)."""
    stages = (
        first.assign(pos=range(len(first)))
        .groupby("stage", sort=False)["pos"]
        .agg(["min", "max"])
        .reset_index()
    )
    return stages.assign(
        lo=stages["min"] - 0.5,
        hi=stages["max"] + 0.5,
        span=stages["max"] - stages["min"] + 1,
        shade=[i % 2 == 0 for i in range(len(stages))],
    )


@dataclass(frozen=True)
class _Layout:
    """Which way the journey runs: the encodings of the points, the tags and the stage bands,
    the stages' names, the tags' offset from their point, the plot's height, the points' size
    and the room beside the plot."""

    enc: dict[str, Any]
    tag_enc: dict[str, Any]
    band: dict[str, Any]
    stage_text: alt.Chart
    dx: int
    dy: int
    height: int
    point_size: int
    room: int


_PERFORMANCE_TITLE = "performance (mean rating, 0-100)"


def _performance_scale() -> alt.Scale:
    return alt.Scale(domain=list(PERFORMANCE), zero=True, nice=False)


def _touchpoint_axis(names: list[str], **style: Any) -> alt.Axis:
    """The touchpoints' axis, `style` after the names."""
    # Every touchpoint named: Vega thins a continuous axis's values down to its tick count.
    return alt.Axis(
        values=list(range(len(names))),
        tickCount=max(len(names), 1),
        labelExpr=f"{json.dumps(names)}[datum.value]",
        **style,
    )


def _across(stages: pd.DataFrame, names: list[str], tp_scale: alt.Scale) -> _Layout:
    """The journey left to right: touchpoints across, performance up, a stage's name at the
    top of its band."""
    tp_axis = _touchpoint_axis(
        names,
        # Upright on a narrow screen (a phone), where slanted names would not fit.
        labelAngle=alt.ExprRef("(width < 560 ? -90 : -40)"),
        labelLimit=160,
        labelOverlap=False,
        labelBound=False,
        grid=False,
        ticks=False,
    )
    tp = alt.X("pos:Q", title=None, scale=tp_scale, axis=tp_axis)
    value = alt.Y("mean:Q", title=_PERFORMANCE_TITLE, scale=_performance_scale())
    # The stage's name inside its band, cut to the band's width (the chart's width is the
    # container's: known only where it is drawn).
    stage_text = (
        alt.Chart(stages)
        .mark_text(
            align="center",
            baseline="top",
            dy=4,
            fontWeight="bold",
            fontSize=11,
            color="#444444",
            limit=alt.ExprRef(f"max(0, width * datum.span / {max(len(names), 1)} - 4)"),
        )
        .encode(x=alt.X("mid:Q", scale=tp_scale), y=alt.YValue(0), text=alt.Text("stage:N"))
        .transform_calculate(mid="(datum.lo + datum.hi) / 2")
    )
    # Across, the slanted (on a phone upright) names and the legends need more room.
    return _Layout(
        enc={"x": tp, "y": value},
        tag_enc={"x": tp, "y": alt.Y("max(mean):Q")},
        band={"x": alt.X("lo:Q", scale=tp_scale), "x2": alt.X2("hi:Q")},
        stage_text=stage_text,
        dx=0,
        dy=-14,
        height=340,
        point_size=150,
        room=380,
    )


def _down(stages: pd.DataFrame, names: list[str], tp_scale: alt.Scale) -> _Layout:
    """The journey top to bottom: one row per touchpoint, its name in full, performance
    across, a stage's name at the left of its band's top."""
    tp_axis = _touchpoint_axis(
        names,
        labelLimit=LABEL_LIMIT_FIT,
        labelOverlap=False,
        labelFontSize=11,
        grid=False,
        ticks=False,
    )
    tp = alt.Y("pos:Q", title=None, scale=tp_scale, axis=tp_axis)
    value = alt.X(
        "mean:Q", title=_PERFORMANCE_TITLE, scale=_performance_scale(), axis=alt.Axis(orient="top")
    )
    # The stage's name inside its band, cut to the chart's width.
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
        .encode(x=alt.XValue(0), y=alt.Y("lo:Q", scale=tp_scale), text=alt.Text("stage:N"))
    )
    return _Layout(
        enc={"x": value, "y": tp},
        tag_enc={"x": alt.X("max(mean):Q"), "y": tp},
        band={"y": alt.Y("lo:Q", scale=tp_scale), "y2": alt.Y2("hi:Q")},
        stage_text=stage_text,
        dx=14,
        dy=0,
        height=max(200, 22 * len(names)),
        point_size=90,
        room=220,
    )


def _stage_bands(stages: pd.DataFrame, layout: _Layout) -> alt.Chart:
    """The stages as bands behind the plot, every other one shaded."""
    return (
        alt.Chart(stages)
        .mark_rect(opacity=1)
        .encode(
            **layout.band,
            fill=alt.FillValue("#FFFFFF", condition={"test": "datum.shade", "value": "#F0F2F6"}),
            tooltip=[alt.Tooltip("stage:N")],
        )
    )


def _segment_lines(data: pd.DataFrame, layout: _Layout) -> alt.Chart:
    """A line per segment through its touchpoints, told apart by colour and dash."""
    segs = list(dict.fromkeys(data.segment))
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
    # The line joins touchpoints in journey order whichever way the journey runs.
    return (
        alt.Chart(data)
        .mark_line(strokeWidth=2)
        .encode(**layout.enc, order=alt.Order("pos:Q"), stroke=seg_colour, strokeDash=dash)
    )


def _class_marks(data: pd.DataFrame, layout: _Layout) -> alt.Chart:
    """Every touchpoint of every segment marked by its class (colour and shape)."""
    return (
        alt.Chart(data)
        .mark_point(
            filled=True, size=layout.point_size, stroke="#333333", strokeWidth=0.5, opacity=1
        )
        .encode(
            **layout.enc,
            color=class_colour(),
            shape=class_shape(),
            tooltip=[
                alt.Tooltip("segment:N"),
                alt.Tooltip("stage:N"),
                alt.Tooltip("touchpoint:N"),
                alt.Tooltip("label:N"),
                alt.Tooltip("mean:Q", format=".0f"),
                alt.Tooltip("tags:N"),
            ],
        )
    )


def _tag_marks(data: pd.DataFrame, layout: _Layout) -> alt.Chart:
    """✱ beside the best point of a touchpoint with CMoT tags."""
    return (
        alt.Chart(data)
        .transform_filter("datum.tags != ''")
        .mark_text(fontSize=12, color="#333333", text="✱", dx=layout.dx, dy=layout.dy)
        .encode(**layout.tag_enc)
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
        y=alt.Y("touchpoint:N", sort=order, title=None, axis=alt.Axis(labelLimit=LABEL_LIMIT_FIT)),
    )
    cells = base.mark_rect(strokeWidth=2).encode(
        color=class_colour(),
        stroke=alt.StrokeValue("white", condition={"test": "datum.flip", "value": "#000000"}),
        tooltip=[
            alt.Tooltip("segment:N"),
            alt.Tooltip("touchpoint:N"),
            alt.Tooltip("label:N"),
            alt.Tooltip("stake:Q", format=u.d3(), title=f"at stake ({words})"),
            alt.Tooltip("impact:Q", format=u.d3(), title=f"range of impact ({words})"),
            alt.Tooltip("reason:N"),
        ],
    )
    text = base.mark_text(fontSize=12, color="#111111").encode(text=alt.Text("text:N"))
    return fit(
        cells + text,
        f"Class and amount at stake ({words}) per segment (⇄ = flip)",
        max(200, 26 * len(order)),
    )
