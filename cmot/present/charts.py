"""Charts of one result: penalty and reward (`butterfly`), impact against performance
(`impact_performance`), two segments' differences (`differences`) and the k curve of a
segmentation (`k_curve`); pure functions from result frames to Altair charts (no Streamlit)."""

from __future__ import annotations

import math

import altair as alt
import pandas as pd

from cmot.present.scales import (
    LABEL_LIMIT_FIT,
    PERFORMANCE,
    apart,
    class_colour,
    class_label,
    class_shape,
    factor_words,
    fit,
    units,
    widest,
)

SCATTER_NAMES = 12  # touchpoints named beside their point in the impact-performance chart


def butterfly(moments: pd.DataFrame, unit: str, title: str = "") -> alt.LayerChart:
    """Penalty (left) and reward (right) of each touchpoint with 95% intervals, by class.

    `moments` is one segment's rows of MomentsResult.moments, in journey order.
    """
    k, words = factor_words(unit)
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
    y = alt.Y("touchpoint:N", sort=order, title=None, axis=alt.Axis(labelLimit=LABEL_LIMIT_FIT))
    base = alt.Chart(data)
    # Room right of the widest whisker for the class labels (they were cut at the chart's
    # edge): the axis runs half as far again past it.
    reach = max(widest(data["lo"]), widest(data["hi"]), widest(data["value"])) if len(data) else 0
    domain = [-1.05 * reach, 1.6 * reach] if reach > 0 else alt.Undefined
    bars = base.mark_bar(height={"band": 0.7}).encode(
        x=alt.X(
            "value:Q",
            title=f"← penalty · reward → ({words})",
            scale=alt.Scale(domain=domain, nice=False),
        ),
        y=y,
        color=class_colour(),
        tooltip=[
            alt.Tooltip("touchpoint:N"),
            alt.Tooltip("side:N"),
            alt.Tooltip("value:Q", format=fmt),
            alt.Tooltip("lo:Q", format=fmt, title="95% from"),
            alt.Tooltip("hi:Q", format=fmt, title="95% to"),
            alt.Tooltip("label:N"),
            alt.Tooltip("reason:N"),
        ],
    )
    whiskers = base.mark_rule(color="#333333").encode(x=alt.X("lo:Q"), x2=alt.X2("hi:Q"), y=y)
    labels = (
        alt.Chart(data[data.side == "reward"])
        .mark_text(align="left", dx=4, fontSize=11, color="#333333")
        .encode(x=alt.XDatum(widest(data["hi"]) if len(data) else 0), y=y)
        .encode(text=alt.Text("label:N"))
    )
    zero = alt.Chart(pd.DataFrame({"x": [0]})).mark_rule(color="#333333").encode(x=alt.X("x:Q"))
    return fit(
        bars + whiskers + zero + labels, title or "Penalty and reward", max(200, 26 * len(order))
    )


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
    named = apart(named, "mean", "ia", x_gap=30.0, y_gap=0.08, priority="ris")
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
            color=class_colour(),
            shape=class_shape(),
            tooltip=[
                alt.Tooltip("touchpoint:N"),
                alt.Tooltip("label:N"),
                alt.Tooltip("mean:Q", format=".0f"),
                alt.Tooltip("ia:Q", format="+.2f"),
                alt.Tooltip("ris:Q", format=".3f"),
                alt.Tooltip("reason:N"),
            ],
        )
    )
    names = (
        alt.Chart(named)
        .mark_text(align="left", dx=8, fontSize=10, color="#333333", limit=180)
        .encode(x=alt.X("mean:Q"), y=alt.Y("ia:Q"), text=alt.Text("touchpoint:N"))
    )
    lines = (
        alt.Chart(pd.DataFrame({"y": [vulnerability_ia, opportunity_ia]}))
        .mark_rule(strokeDash=[4, 4], color="#777777")
        .encode(y=alt.Y("y:Q"))
    )
    note = ""
    if len(named) < len(data):
        note = (
            f" (names of {len(named)} of the largest ranges of impact; hover for the others)"
            if len(named)
            else " (hover for the names)"
        )
    return fit(
        lines + points + names, (title or "Impact asymmetry against performance") + note, 380
    )


# The differences chart's legend in plain words (the test behind it, Benjamini-Hochberg's
# false discovery rate, is named under "How this is calculated").
CLEAR = "clear difference"
NOT_CLEAR = "could be chance"


def differences(comparison: pd.DataFrame, unit: str, z: float = 1.96) -> alt.TopLevelMixin:
    """Penalty and reward differences (a minus b) with 95% intervals; filled = a clear
    difference (significant after Benjamini-Hochberg, cmot.present.tables' "clear"), hollow =
    not."""
    k, words = factor_words(unit)
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
        axis=alt.Axis(labelLimit=LABEL_LIMIT_FIT, grid=True, gridColor="#EEEEEE"),
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
        .encode(x=alt.X("lo:Q"), x2=alt.X2("hi:Q"), y=y, yOffset=offset, stroke=measure_colour)
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
                alt.Tooltip("touchpoint:N"),
                alt.Tooltip("measure:N"),
                alt.Tooltip("diff:Q", format=signed),
                alt.Tooltip("lo:Q", format=signed),
                alt.Tooltip("hi:Q", format=signed),
                alt.Tooltip("q:Q", format=".3f"),
                alt.Tooltip("fdr:N"),
            ],
        )
    )
    zero = alt.Chart(data).mark_rule(color="#999999").encode(x=alt.XDatum(0))
    return fit(
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
        + base.mark_text(dy=-12, color="#333333").encode(text=alt.Text("chosen:N"))
    ).properties(
        title=f"{metric} by k (higher is better)"
        if metric == "silhouette"
        else "BIC by k (lower is better)",
        height=240,
        width="container",
    )
