"""Charts over waves and periods: the touchpoints' migration across waves (`migration`), the
amount at stake per wave (`at_stake_trend`) and one watched moment over the periods
(`watch_chart`)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import altair as alt
import pandas as pd

from cmot.present.scales import (
    apart,
    class_colour,
    class_label,
    class_shape,
    factor_words,
    fit,
    units,
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
    k, words = factor_words(unit)
    waves = list(dict.fromkeys(trend.wave))
    p = _plane(plane, words, units(unit).d3())
    data = _migration_rows(trend, k, waves, p)
    x = alt.X(f"{p.x_col}:Q", title=p.x_title, scale=alt.Scale(zero=True))
    y = alt.Y(f"{p.y_col}:Q", title=p.y_title, scale=p.y_scale)
    base = alt.Chart(data)
    lines = base.mark_line(color="#777777", strokeWidth=1.2, opacity=0.7).encode(
        x=x, y=y, detail=alt.Detail("touchpoint:N"), order=alt.Order("step:Q")
    )
    guide = (
        _diagonal(data, p)
        if plane == "penalty-reward"
        else _thresholds(vulnerability_ia, opportunity_ia)
    )
    layers = [guide, lines, _wave_points(base, x, y, p), _last_names(data, x, y, p)]
    heading = title or (f"Migration, waves {waves[0]} → {waves[-1]}" if waves else "Migration")
    if len(waves) > 1:
        heading += " (small to large point: earlier to later wave)"
    return fit(alt.layer(*layers), heading, 420)


@dataclass(frozen=True)
class _Plane:
    """What a migration chart draws across and up: the columns, their titles, the upward
    scale and the tooltips' formats."""

    x_col: str
    y_col: str
    x_title: str
    y_title: str
    y_scale: alt.Scale
    x_format: str
    y_format: str


def _plane(plane: str, words: str, fmt: str) -> _Plane:
    """The plane `plane` in outcome units named `words`, effects formatted `fmt`."""
    if plane == "penalty-reward":
        return _Plane(
            "penalty_k",
            "reward_k",
            f"penalty of a low rating ({words})",
            f"reward of a top rating ({words})",
            alt.Scale(zero=True),
            fmt,
            fmt,
        )
    return _Plane(
        "ris_k",
        "ia",
        f"range of impact ({words})",
        "impact asymmetry (−1 table stake … +1 differentiator)",
        alt.Scale(domain=[-1.05, 1.05]),
        fmt,
        "+.2f",
    )


def _migration_rows(trend: pd.DataFrame, k: float, waves: list[str], p: _Plane) -> pd.DataFrame:
    """The rows a migration chart draws: each wave's step and whether it is the last, the
    class label, the effects times `k`; only those with a finite number on both axes."""
    data = trend.assign(
        step=[waves.index(w) for w in trend.wave],
        last=[w == waves[-1] for w in trend.wave],
        label=[class_label(c) for c in trend["class"]],
        penalty_k=trend.penalty * k,
        reward_k=trend.reward * k,
        ris_k=trend.ris * k,
    )
    data = data[
        ["wave", "step", "last", "touchpoint", "class", "label", "n", p.x_col, p.y_col, "reason"]
    ]
    xs, ys = data[p.x_col].astype(float), data[p.y_col].astype(float)
    return data[(xs.abs() < math.inf) & (ys.abs() < math.inf)]  # finite: NaN and inf drop


def _wave_points(base: alt.Chart, x: alt.X, y: alt.Y, p: _Plane) -> alt.Chart:
    """A point per touchpoint and wave, coloured and shaped by that wave's class, the last
    wave's larger."""
    return base.mark_point(filled=True, opacity=0.9, stroke="#333333", strokeWidth=0.5).encode(
        x=x,
        y=y,
        color=class_colour(),
        shape=class_shape(),
        size=alt.SizeValue(50, condition={"test": "datum.last", "value": 160}),
        tooltip=[
            alt.Tooltip("touchpoint:N"),
            alt.Tooltip("wave:N"),
            alt.Tooltip("label:N"),
            alt.Tooltip("n:Q", format=",d"),
            alt.Tooltip(f"{p.x_col}:Q", format=p.x_format, title=p.x_title),
            alt.Tooltip(f"{p.y_col}:Q", format=p.y_format),
            alt.Tooltip("reason:N"),
        ],
    )


def _last_names(data: pd.DataFrame, x: alt.X, y: alt.Y, p: _Plane) -> alt.Chart:
    """The touchpoints' names at their last wave."""
    # A name at each touchpoint's last wave, unless it would print over a larger one's (a
    # dozen sat at the origin, their names one blot; a wave label on every point the same):
    # the waves read from the points' size (small to large), the tooltip names each.
    x_col, y_col = p.x_col, p.y_col
    last = data[data["last"].astype(bool)]
    span_x = float(last[x_col].max() - min(0.0, last[x_col].min())) if len(last) else 1.0
    span_y = float(last[y_col].max() - min(0.0, last[y_col].min())) if len(last) else 1.0
    last = last.assign(_size=last[x_col].abs() + last[y_col].abs())
    shown = apart(last, x_col, y_col, 0.3 * span_x, 0.05 * span_y, "_size").drop(columns="_size")
    return (
        alt.Chart(shown)
        .mark_text(align="left", dx=9, dy=4, fontSize=10, color="#333333", limit=180)
        .encode(x=x, y=y, text=alt.Text("touchpoint:N"))
    )


def _diagonal(data: pd.DataFrame, p: _Plane) -> alt.Chart:
    """The penalty-reward plane's diagonal, dashed from the origin to the largest number."""
    top = data[[p.x_col, p.y_col]].max().max()  # NaN when no wave has a number
    diag = pd.DataFrame({"v": [0.0, float(top) if pd.notna(top) else 0.0]})
    # Above the diagonal reward outweighs penalty (differentiators), below it the reverse.
    return (
        alt.Chart(diag)
        .mark_line(strokeDash=[4, 4], color="#BBBBBB")
        .encode(x=alt.X("v:Q"), y=alt.Y("v:Q"))
    )


def _thresholds(vulnerability_ia: float, opportunity_ia: float) -> alt.Chart:
    """The impact-asymmetry plane's class thresholds, dashed."""
    return (
        alt.Chart(pd.DataFrame({"y": [vulnerability_ia, opportunity_ia]}))
        .mark_rule(strokeDash=[4, 4], color="#777777")
        .encode(y=alt.Y("y:Q"))
    )


NAME_ROOM = 90  # px right of the at-stake trend's plot for the last wave's names (or their …)


def at_stake_trend(trend: pd.DataFrame, unit: str, title: str = "") -> alt.TopLevelMixin:
    """The amount at stake per touchpoint across waves (one line each, waves in order).

    `trend`: wave, touchpoint, class, at_stake (the engine's column, from each wave's
    MomentsResult.moments), reason; one segment's rows. A wave where the data cannot support
    the number has no point (the line has a gap)."""
    k, words = factor_words(unit)
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
    lines = base.mark_line(strokeWidth=1.5, color="#8C8C8C").encode(
        x=x, y=y, detail=alt.Detail("touchpoint:N")
    )
    points = base.mark_point(filled=True, size=60).encode(
        x=x,
        y=y,
        color=class_colour(),
        shape=class_shape(),
        tooltip=[
            alt.Tooltip("touchpoint:N"),
            alt.Tooltip("wave:N"),
            alt.Tooltip("label:N"),
            alt.Tooltip("value:Q", format=fmt),
            alt.Tooltip("reason:N"),
        ],
    )
    finite = data[pd.to_numeric(data["value"], errors="coerce").abs() < math.inf]
    finite = finite.assign(wave_i=[waves.index(w) for w in finite.wave])
    ends = finite.sort_values("wave_i", kind="stable").drop_duplicates("touchpoint", keep="last")
    span = float(finite["value"].max() - min(0.0, finite["value"].min())) if len(finite) else 1.0
    # A name runs right from its point across about one and a half waves' width (a phone
    # gives a wave some 60 px): names a wave apart collide too ("Bid/proposal delivery" over
    # the next wave's "Project kickoff").
    shown = apart(ends, "wave_i", "value", 1.5, 0.06 * span, "value").drop(columns="wave_i")
    names = (
        alt.Chart(shown)
        .mark_text(align="left", dx=8, fontSize=10, color="#333333", limit=NAME_ROOM - 5)
        .encode(x=x, y=y, text=alt.Text("touchpoint:N"))
    )
    # The last wave's names run right of the plot: room for them inside the chart (a phone
    # cut 'Post-project support' at its edge).
    return fit(lines + points + names, title or "At stake across waves", 260).properties(
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
        y2=alt.Y2("band_hi:Q"),
    )
    line = base.mark_line(point=True, color="#D55E00").encode(
        y=alt.Y("share:Q"),
        tooltip=[
            alt.Tooltip("period:N"),
            alt.Tooltip("share:Q", format=".0%"),
            alt.Tooltip("base_share:Q", title="baseline", format=".0%"),
            alt.Tooltip("n:Q"),
        ],
    )
    return (band + line).properties(title=title, width="container", height=220)
