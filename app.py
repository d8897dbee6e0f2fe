"""cmot: segment-specific moments of truth. Run with `streamlit run app.py`."""

import streamlit as st

from cmot.ui.auth import gate, one_read_per_run
from cmot.ui.frame import page_guard
from cmot.ui.sidebar import sidebar_view
from cmot.ui.state import app_frame, get_store, navigation_pages, select_dataset

st.set_page_config(page_title="cmot: moments of truth", page_icon=":material/route:", layout="wide")
# The login and role settings are read once a run (the same throughout it).
with one_read_per_run():
    gate()  # login screen when login is configured; role and logout in the sidebar

    page = st.navigation(
        navigation_pages(
            {
                "Results": [
                    ("pages/overview.py", "Overview", ":material/dashboard:", True),
                    ("pages/journey.py", "Journey map", ":material/route:", False),
                    ("pages/moments.py", "Moments", ":material/insights:", False),
                    ("pages/compare.py", "Compare", ":material/compare_arrows:", False),
                    ("pages/trends.py", "Trends", ":material/timeline:", False),
                    ("pages/actions.py", "Action plan", ":material/checklist:", False),
                    ("pages/alerts.py", "Alerts", ":material/notifications:", False),
                ],
                "Set up": [
                    ("pages/segments.py", "Segments", ":material/group_work:", False),
                    ("pages/data.py", "Data", ":material/table:", False),
                ],
            }
        )
    )
    # One guard around the frame and the page: no error reaches the browser as a red box.
    with page_guard():
        store = get_store()
        info = select_dataset(store)
        st.session_state["current_dataset"] = info
        st.session_state["view"] = None
        # A dataset that cannot be read (an external one whose files moved) says why, and every
        # page still runs: the Data page can delete it, result pages stop after the message.
        with page_guard():
            st.session_state["view"] = sidebar_view(store, info) if info is not None else None
        with app_frame():  # pages check it (require_app_frame): nothing runs outside the gate
            page.run()
