"""Process-wide store, the demo on first start, and the sidebar's dataset choice (in the URL)."""

from __future__ import annotations

import streamlit as st

from cmot.demo import ensure_demo
from cmot.store import DatasetInfo, Store, default_store_path


def require_app_frame() -> None:
    """Every page calls this first, so a deep link never runs a page without app.py.

    With a pages/ folder, Streamlit serves the first request after a server start through
    its legacy multipage path: a first visit to /data would run pages/data.py alone, with the
    legacy sidebar and no shared frame. Leaving that mode and rerunning sends the request
    through app.py's st.navigation, which routes to the same page.
    """
    from streamlit.runtime.pages_manager import PagesManager

    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        st.rerun()


@st.cache_resource(show_spinner=False)
def _store_at(path: str) -> Store:
    store = Store(path)
    ensure_demo(store)
    return store


def get_store() -> Store:
    """The store named by $CMOT_STORE (or the default), with the demo loaded on first use."""
    return _store_at(str(default_store_path()))


def select_dataset(store: Store) -> DatasetInfo | None:
    """The sidebar's dataset picker; its choice lives in the URL as ?dataset=NAME."""
    names = [d.name for d in store.list_datasets()]
    if not names:
        st.sidebar.info("No datasets yet: upload one on the Data page.")
        return None
    wanted = st.query_params.get("dataset")
    pending = st.session_state.pop("_pending_dataset", None)
    if pending in names:
        # Set before the widget exists: this beats the value the browser sends back for it.
        st.session_state["dataset"] = pending
    elif st.session_state.get("dataset") not in names:
        st.session_state.pop("dataset", None)  # deleted or renamed meanwhile
    index = names.index(wanted) if wanted in names else 0
    name = st.sidebar.selectbox("Dataset", names, index=index, key="dataset")
    st.query_params["dataset"] = name
    return store.get_dataset(name)


def show_dataset(name: str) -> None:
    """Make `name` the sidebar's dataset and rerun (after a save, a rename or a delete)."""
    st.session_state["_pending_dataset"] = name
    st.query_params["dataset"] = name
    st.rerun()
