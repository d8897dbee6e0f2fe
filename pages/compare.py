"""Compare: two to four segments side by side: class matrix, differences, flips, report."""

import pandas as pd
import streamlit as st

from cmot.present import charts, journey_charts
from cmot.present.tables import DIFFERENCE_HELP, difference_rows
from cmot.results.compare import compare_segments, find_flips
from cmot.text import escape_markdown
from cmot.ui.context import show_context
from cmot.ui.explain import how_calculated
from cmot.ui.frame import (
    current_view,
    data_warnings,
    default_segments,
    moments,
    own_data,
    ranked_segments,
    settings_caption,
)
from cmot.ui.memo import derived
from cmot.ui.report import report_buttons
from cmot.ui.state import require_app_frame
from cmot.ui.url import url_widget
from cmot.ui.widgets import result_chart, table

require_app_frame()

view = current_view()
st.title("Compare segments")
show_context(view)
st.caption(
    "Each cell: the touchpoint's class in that segment (▼ vulnerability: a table stake, a low "
    "rating costs the outcome; ▲ opportunity: a differentiator, a top rating lifts it; ◆ "
    "hybrid: both; ● low impact) and its amount at stake, the same as on the Overview and the "
    "Action plan. Below, how much more a low rating costs or a top rating adds in one segment "
    "than in the other, with 95% intervals; filled dots are clear differences. A flip is a "
    "vulnerability in one segment and an opportunity in another."
)
result = moments(view)
options = [s for s in ranked_segments(result) if s != "All"]
if len(options) < 2:
    st.info("Pick a segmentation with two or more segments in the sidebar to compare them.")
    st.stop()
chosen = url_widget(
    st.multiselect,
    "Segments (2 to 4)",
    options,
    key="compare",
    default=default_segments(result, 2, 2),
    max_selections=4,
)
if len(chosen) < 2:
    st.warning("Pick at least two segments.")
    st.stop()
shares = derived.get(
    result,
    ("own_shares", tuple(chosen)),
    lambda: [f"{escape_markdown(s)}: {own_data(result, s)}" for s in chosen if own_data(result, s)],
)
if shares:  # pooled: how much of each estimate is the segment's own data
    st.caption(f"{'; '.join(shares)} (the rest is the whole journey's).")
data_warnings(result, chosen)
# Flips, charts and differences derive from (result, segments): built once per result, so a
# warm page switch only draws them. The frames are shared: read, never edited.


def _flips() -> pd.DataFrame:
    flips = find_flips(result)
    return flips[flips.vulnerable_in.isin(chosen) & flips.opportunity_in.isin(chosen)]


flips = derived.get(result, ("flips", tuple(chosen)), _flips)
for sentence in flips.sentence:  # names touchpoints and segments (data): escaped
    st.warning(escape_markdown(sentence), icon=":material/swap_horiz:")
flipped = frozenset(flips.touchpoint)
result_chart(
    result,
    tuple(chosen),
    lambda: journey_charts.class_matrix(result.moments, chosen, result.unit, flipped),
    "matrix",
    "class-matrix",
)
a, b = chosen[0], chosen[1]
if len(chosen) > 2:
    pairs = [f"{x} | {y}" for i, x in enumerate(chosen) for y in chosen[i + 1 :]]
    pair = url_widget(st.selectbox, "Differences between", pairs, key="pair", default=pairs[0])
    a, b = pair.split(" | ")
diffs = derived.get(result, ("differences", a, b), lambda: compare_segments(result, a, b))
result_chart(
    result,
    (a, b),
    lambda: charts.differences(diffs, result.unit),
    "differences",
    f"differences-{a}-{b}",
)
rows = derived.get(result, ("difference_rows", a, b), lambda: difference_rows(diffs, result.unit))
table(
    rows,
    "differences_table",
    f"differences-{a}-{b}",
    column_config={c: st.column_config.Column(c, help=h) for c, h in DIFFERENCE_HELP.items()},
)
how_calculated(settings_caption(view, result), ("penalty", "class", "stake", "sure", "differ"))
report_buttons(view, result, chosen, diffs, flips)
