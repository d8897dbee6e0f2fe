"""Moments: one segment in depth: penalty-reward butterfly, impact-performance, the table."""

import streamlit as st

from cmot.present import charts
from cmot.present.tables import MOMENT_HELP, moment_rows
from cmot.text import escape_markdown
from cmot.ui.context import show_context
from cmot.ui.evidence import evidence_panel
from cmot.ui.explain import how_calculated
from cmot.ui.frame import (
    current_view,
    data_warnings,
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
st.title("Moments")
show_context(view)
st.caption(
    "One segment in depth. Bars left: what a low rating costs the outcome; bars right: what a "
    "top rating adds (whiskers: 95% intervals). Long left bars are vulnerabilities, long "
    "right bars opportunities; ⚠ marks a rating that runs against the others (a low rating "
    "that raises the outcome, or a top one that lowers it): counted as no effect."
)
result = moments(view)
options = ["All", *[s for s in ranked_segments(result) if s != "All"]]
seg = url_widget(
    st.selectbox,
    "Segment",
    options,
    key="segment",
    default=options[1] if len(options) > 1 else options[0],
)
# The segment's rows and summary, taken from the cached result once (read, never edited).
rows, info = derived.get(
    result,
    ("segment_rows", seg),
    lambda: (
        result.moments[result.moments.segment == seg],
        result.segments.set_index("segment").loc[seg],
    ),
)
if info.reason:  # guardrails sit where the numbers would be
    # One line up front; a long list of collinear or empty columns only on demand.
    clauses = str(info.reason).split("; ")
    head = [clauses[0]]
    for c in clauses[1:]:
        if len("; ".join([*head, c])) > 90:
            break
        head.append(c)
    first, more = "; ".join(head), len(head) < len(clauses)
    lead = "not enough data for a result" if info.insufficient else "read with care"
    # The segment's name and the reasons (which name touchpoints) are data: escaped.
    (st.warning if info.insufficient else st.info)(
        f"{escape_markdown(seg)}: {lead} ({escape_markdown(first)}).", icon="⚠️"
    )
    if more:
        with st.expander("Why, in detail"):
            st.markdown(escape_markdown(str(info.reason)))
data_warnings(result, [seg])
s = result.settings
if info.insufficient:  # insufficient means no number: no bars, no points (issue 23)
    st.caption(
        "No penalty, reward or impact is shown for this segment: its data cannot support "
        "them (the reason is above). The table keeps its ratings."
    )
else:
    # Built once per (result, segment): a warm page switch reuses the converted charts.
    result_chart(
        result,
        seg,
        lambda: charts.butterfly(rows, result.unit, f"Penalty and reward: {seg}"),
        "butterfly",
        "penalty-reward",
    )
    result_chart(
        result,
        seg,
        lambda: charts.impact_performance(rows, s.vulnerability_ia, s.opportunity_ia),
        "aipa",
        "impact-performance",
    )
st.subheader("All touchpoints")
table(
    derived.get(result, ("moment_rows", seg), lambda: moment_rows(result, seg)),
    "moments_table",
    f"moments-{seg}",
    column_config={c: st.column_config.Column(c, help=h) for c, h in MOMENT_HELP.items()},
)
evidence_panel(view, result, seg)
# The thresholds (IA, α) and the method's terms behind one expander: plain words first.
how_calculated(settings_caption(view, result, seg), ("penalty", "class", "stake", "sure"))
