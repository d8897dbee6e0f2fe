"""Journey map: stages left to right, each segment's performance curve, moments by class."""

import pandas as pd
import streamlit as st

from cmot.present import journey_charts
from cmot.present.scales import class_label
from cmot.results.summary import action_plan
from cmot.spec import CMOT_TAGS
from cmot.text import escape_markdown
from cmot.ui.context import show_context
from cmot.ui.explain import how_calculated
from cmot.ui.frame import (
    current_view,
    data_warnings,
    default_segments,
    moments,
    ranked_segments,
    settings_caption,
)
from cmot.ui.memo import derived
from cmot.ui.state import require_app_frame
from cmot.ui.url import url_widget
from cmot.ui.widgets import result_chart, table

require_app_frame()

view = current_view()
spec = view.info.spec
st.title("Journey map")
show_context(view)
across = len(spec.touchpoint_columns) <= journey_charts.JOURNEY_ACROSS_MAX
st.caption(
    ("Stages run left to right" if across else "Stages run top to bottom (a long journey)")
    + ", touchpoints in journey order. Each line is a segment's "
    "performance (its emotion curve); each marker is the touchpoint's class in that segment "
    "(▼ vulnerability, ▲ opportunity, ◆ hybrid, ● low impact, ✚ insufficient); ✱ marks a "
    "customer-moment-of-truth tag from the journey spec."
)
result = moments(view)
options = ranked_segments(result)
chosen = url_widget(
    st.multiselect,
    "Segments",
    options,
    key="journey_segments",
    default=default_segments(result, 4),
    max_selections=5,
)
tags = {t.name: ", ".join(CMOT_TAGS[g] for g in t.tags) for t in spec.touchpoints}
shown = tuple(chosen or options[:1])
# Everything below derives from (result, segments): built once, a page switch only draws it.
rows = derived.get(
    result, ("journey_rows", shown), lambda: result.moments[result.moments.segment.isin(shown)]
)
stages = [s.name for s in spec.stages]
result_chart(
    result,
    (shown, tuple(stages), tuple(tags.items())),
    lambda: journey_charts.journey_map(rows, stages, tags),
    "journey",
    "journey-map",
)
data_warnings(result, chosen)
steps = st.tabs(
    [
        "1 Define the journey",
        "2 Emotions and expectations",
        "3 Label the moments",
        "4 Assess performance",
        "5 Redesign",
    ]
)
# Stage, touchpoint and segment names are data: escaped wherever Markdown renders them.
with steps[0]:
    for stage in spec.stages:
        names = [escape_markdown(spec.touchpoint(c).name) for c in stage.touchpoints]
        st.markdown(f"**{escape_markdown(stage.name)}**: " + " → ".join(names))
with steps[1]:
    tagged = {k: v for k, v in tags.items() if v}
    st.markdown(
        "\n".join(f"- ✱ **{escape_markdown(k)}**: {v}" for k, v in tagged.items())
        or "No touchpoint carries a CMoT tag yet: add tags on the Data page."
    )


def _classes() -> pd.DataFrame:
    wide = rows.pivot(index="touchpoint", columns="segment", values="class")
    wide = wide.reindex(list(dict.fromkeys(rows.touchpoint))).map(class_label)
    return wide.reset_index()


def _performance() -> pd.DataFrame:
    perf = rows.pivot(index="touchpoint", columns="segment", values="mean")
    return perf.reindex(list(dict.fromkeys(rows.touchpoint))).round(1).reset_index()


def _redesign() -> tuple[str, ...]:
    lines = []
    for seg in shown:
        plan = action_plan(result, seg)
        top = plan[plan.action.isin(["fix", "grow"])].head(3)
        items = ", ".join(
            f"{a} {escape_markdown(t)}" for a, t in zip(top.action, top.touchpoint, strict=True)
        )
        lines.append(
            f"**{escape_markdown(seg)}**: {items or 'nothing urgent'} "
            "(details on the Action plan page)"
        )
    return tuple(lines)


with steps[2]:
    table(
        derived.get(result, ("journey_classes", shown), _classes),
        "journey_classes",
        "journey-classes",
    )
with steps[3]:
    table(
        derived.get(result, ("journey_performance", shown), _performance),
        "journey_performance",
        "journey-performance",
    )
with steps[4]:
    for line in derived.get(result, ("journey_redesign", shown), _redesign):
        st.markdown(line)
# The thresholds (IA, α) and the method's terms behind one expander: plain words first.
how_calculated(settings_caption(view, result), ("penalty", "class", "stake", "sure"))
