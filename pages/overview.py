"""Overview: the outcome, what to fix first and where to invest next, then each segment."""

import streamlit as st

from cmot.text import escape_markdown
from cmot.ui.alerts import alerts_section
from cmot.ui.context import show_context
from cmot.ui.explain import how_calculated
from cmot.ui.frame import current_view, data_warnings, moments, ranked_segments, settings_caption
from cmot.ui.overview import cards_intro, first_screen
from cmot.ui.report import brief_buttons
from cmot.ui.state import get_store, require_app_frame
from cmot.ui.trends import headline_change
from cmot.ui.widgets import moment_cards

require_app_frame()

view = current_view()
st.title("Moments of truth")
show_context(view)
result = moments(view)
segs = ranked_segments(result)
h = first_screen(view, result, segs)  # outcome, banner, Fix first / Invest next
brief_buttons(view, result, segs, h)  # the same, one page to download (PDF, PNG)
data_warnings(result)
alerts_section(get_store(), view.info)  # open alerts of the batches added (issue 26)
change = headline_change(view)  # None without waves: the Overview stays as it was
if change:
    st.info(escape_markdown(change), icon=":material/timeline:")
cards_intro(h)
moment_cards(result, segs)
how_calculated(settings_caption(view, result))
