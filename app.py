"""cmot: segment-specific moments of truth. Run with `streamlit run app.py`."""

import streamlit as st

from cmot.ui.state import get_store, select_dataset

st.set_page_config(page_title="cmot: moments of truth", page_icon=":material/route:", layout="wide")

page = st.navigation(
    [
        st.Page(
            "pages/overview.py",
            title="Overview",
            icon=":material/dashboard:",
            default=True,
        ),
        st.Page("pages/data.py", title="Data", icon=":material/table:"),
    ]
)
store = get_store()
st.session_state["current_dataset"] = select_dataset(store)
page.run()
