"""Action plan: per segment, what to fix, grow and maintain; a what-if; at-risk respondents."""

import pandas as pd
import streamlit as st

from cmot.present.tables import PLAN_HELP, plan_rows
from cmot.results.summary import action_plan, at_risk, delight
from cmot.text import escape_markdown
from cmot.ui.context import show_context
from cmot.ui.evidence import closed_loop, item_quotes, show_item_quotes
from cmot.ui.explain import how_calculated
from cmot.ui.frame import (
    current_view,
    data_warnings,
    moments,
    ranked_segments,
    settings_caption,
)
from cmot.ui.memo import derived
from cmot.ui.state import get_store, require_app_frame
from cmot.ui.url import url_widget
from cmot.ui.whatif import what_if_panel
from cmot.ui.widgets import table

require_app_frame()

view = current_view()
st.title("Action plan")
show_context(view)
st.caption(
    "Priorities for one segment: fix failing table stakes first, then grow differentiators; "
    "a table stake already adequate says maintain: do not over-invest. 'At stake' is what "
    "the outcome would gain at that touchpoint today ('What it means' says how), in the "
    "outcome's unit; not a forecast. Hover a column's name for what it means."
)
result = moments(view)
options = ranked_segments(result)
seg = url_widget(st.selectbox, "Segment", options, key="segment", default=options[0])
data_warnings(result, [seg])
plan = derived.get(result, ("plan", seg), lambda: action_plan(result, seg))  # not edited
shown = derived.get(result, ("plan_rows", seg), lambda: plan_rows(result, plan, seg))
table(
    shown,
    "plan_table",
    f"action-plan-{seg}",
    column_config={c: st.column_config.Column(c, help=h) for c, h in PLAN_HELP.items()},
)
how_calculated(settings_caption(view, result, seg), ("penalty", "class", "stake", "sure"))
quotes = derived.get(result, ("quotes", seg), lambda: item_quotes(view, result, seg, plan))
show_item_quotes(quotes, list(plan.touchpoint))
what_if_panel(result, seg, list(plan.touchpoint), view.info.spec)
st.subheader("At-risk respondents")
# What to fix and what to grow, from the (cached, never edited) plan once.
vul, opp = derived.get(
    plan,
    "fix_grow",
    lambda: (
        tuple(plan[plan.action == "fix"].touchpoint),
        tuple(plan[plan.action == "grow"].touchpoint),
    ),
)
cols = [c for c in view.info.spec.touchpoint_columns if view.info.spec.touchpoint(c).name in vul]
spec = view.info.spec
# Segment, touchpoint and column names are data: escaped in the captions (Markdown).
who = (
    f"respondent is the survey's {escape_markdown(repr(spec.label_of(spec.id_column)))}"
    if spec.id_column
    else "respondent is the row's number in the uploaded file (the survey has no id column: "
    "map one on the Data page to follow people up by it)"
)
st.caption(
    f"Respondents of {escape_markdown(seg)} who rated a vulnerability to fix "
    f"({escape_markdown(', '.join(vul)) or 'none'}) "
    f"at {result.low_max} or below, with the ratings that put them at risk: follow them up. "
    f"The {who}."
)
expr = view.segment_expression if seg != "All" else None


def _at_risk() -> pd.DataFrame:
    # The result is cached per (dataset version, relation, params, segmentation, settings)
    # and a dataset version never changes: these rows are the same on every run.
    people = at_risk(
        get_store().cursor(),
        view.relation,
        spec,
        expr,
        seg,
        cols,
        result.low_max,
        params=view.params,
    )
    # Ratings under the touchpoint's name (question text), as everywhere else.
    return people.rename(columns={c: spec.label_of(c) for c in cols})


people = derived.get(result, ("at_risk", seg, tuple(cols)), _at_risk)
closed_loop(people, spec.comments, "at_risk_table", f"at-risk-{seg}")
st.subheader("Delighted respondents")
high = [c for c in spec.touchpoint_columns if spec.label_of(c) in opp]
st.caption(
    f"Respondents of {escape_markdown(seg)} who rated an opportunity "
    f"({escape_markdown(', '.join(opp)) or 'none'}) at "
    f"{result.high_min} or above: ask them for a referral or a testimonial."
)


def _delight() -> pd.DataFrame:
    fans = delight(
        get_store().cursor(),
        view.relation,
        spec,
        expr,
        seg,
        high,
        result.high_min,
        params=view.params,
    )
    return fans.rename(columns={c: spec.label_of(c) for c in high})


fans = derived.get(result, ("delight", seg, tuple(high)), _delight)
closed_loop(fans, spec.comments, "delight_table", f"delight-{seg}")
