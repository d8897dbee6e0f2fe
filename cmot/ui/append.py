"""The Data page's "Add a batch of new responses": a survey file with a stored dataset's
columns appended to it as a new version (cmot.store.append), with the upload's validation report."""

from __future__ import annotations

import streamlit as st

from cmot.errors import CmotError
from cmot.store.append import append_batch, check_batch_file
from cmot.store.datasets import Store
from cmot.text import escape_markdown
from cmot.ui.auth import require_analyst
from cmot.ui.frame import show_error
from cmot.ui.hosting import upload_limit_mb
from cmot.ui.mapping import UPLOAD_TYPES
from cmot.ui.state import show_dataset


def append_form(store: Store) -> None:
    """The expander: pick a stored dataset, upload a batch, see its report, add it."""
    names = [d.name for d in store.list_datasets() if d.external is None]
    with st.expander("Add a batch of new responses to a dataset", expanded=False):
        st.caption(
            "New answers with the dataset's columns (a weekly or daily export) are mapped "
            "with its saved mapping, validated as an upload is, and added as a new version: "
            "the rows stored already are kept as they are. The same file twice is refused."
        )
        if not names:
            st.info("Save a dataset first; batches are added to a stored one.")
            return
        # The dataset the sidebar has open comes first: a batch usually extends it.
        current = st.session_state.get("current_dataset")
        at = names.index(current.name) if current is not None and current.name in names else 0
        pick = st.selectbox("Dataset to add to", names, index=at, key="append_dataset")
        batch = st.file_uploader(
            "Batch file", type=UPLOAD_TYPES, key="append_file", max_upload_size=upload_limit_mb()
        )
        if batch is None:
            return
        data = batch.getvalue()
        try:
            report = check_batch_file(store, pick, data, batch.name)
        except CmotError as e:
            show_error(e)
            return
        st.caption("What adding it would give (nothing is stored yet):")
        st.code(report.to_text(), language=None)
        if not st.button("Add batch", key="append_go", type="primary"):
            return
        if not require_analyst("add batches"):
            return
        try:
            with st.spinner("Adding the batch…"):
                done = append_batch(store, pick, data, batch.name)
        except CmotError as e:
            show_error(e)
            return
        st.session_state["saved"] = (escape_markdown(done.text()), done.report.to_text())
        show_dataset(done.info.name)
