"""Overview: respondents, outcome, each segment's moments of truth, stakes, the headline."""

import streamlit as st

from cmot.summary import amount, headline, top_stakes
from cmot.text import escape_markdown
from cmot.ui.alerts import alerts_section
from cmot.ui.context import show_context
from cmot.ui.frame import current_view, data_warnings, moments, ranked_segments, settings_caption
from cmot.ui.memo import derived
from cmot.ui.state import get_store, require_app_frame
from cmot.ui.trends import headline_change
from cmot.ui.widgets import moment_cards, moment_line

require_app_frame()

view = current_view()
st.title("Moments of truth")
show_context(view)
st.caption(
    f"**{escape_markdown(view.label)}.** Each card lists a segment's moments of truth: "
    "▼ vulnerabilities (table stakes: failing them costs the outcome) and ▲ opportunities "
    "(differentiators: excelling lifts it); the amount is what is at stake in outcome points."
)
result = moments(view)
segs = ranked_segments(result)
whole = result.segments.iloc[0]
a, b, c = st.columns(3)
a.metric("Respondents", f"{int(whole.n):,}")
pct = result.unit == "percentage points"
b.metric(
    "Positive outcome" if pct else "Mean outcome",
    f"{whole.outcome_mean:.1%}" if pct else f"{whole.outcome_mean:.2f}",
)
c.metric("Segments", len(segs) if segs != ["All"] else "—")
# Derived once per (result, segments): a warm page switch only draws them.
key = tuple(segs)
# Sentences naming segments and touchpoints (data): escaped where Markdown renders them.
st.info(
    escape_markdown(derived.get(result, ("headline", key), lambda: headline(result, segs))),
    icon=":material/compare_arrows:",
)
change = headline_change(view)  # None without waves: the Overview stays as it was
if change:
    st.info(escape_markdown(change), icon=":material/timeline:")
moment_cards(result, segs)


def _stake_lines() -> tuple[tuple[str, str, str], ...]:
    t = top_stakes(result, segs)
    return tuple(
        (str(r["class"]), str(r.touchpoint), f"for {r.segment}: {amount(r.at_stake, result.unit)}")
        for _, r in t.iterrows()
    )


st.subheader("Most at stake")
st.caption(
    "Across the segments: a vulnerability's risk (outcome lost today), an opportunity's "
    "upside (still to gain), a hybrid's both."
)
stakes = derived.get(result, ("stakes", key), _stake_lines)
for cls, touchpoint, text in stakes:
    moment_line(cls, touchpoint, text)
if not stakes:
    st.markdown("None stands out.")
st.caption(settings_caption(view, result))
data_warnings(result)
alerts_section(get_store(), view.info)  # open alerts of the batches added (issue 26)
