"""The Data page's "Edit mapping": a stored dataset's mapping changed without uploading again.

The store keeps the survey file each version was ingested from (`Store.source_of`); the
mapping step opens on that file with the version's choices (`cmot.ui.mapping.Start`), and
saving reads and cleans the file again into a new version (`cmot.store.intake.reingest`): roles,
scales, codes, labels, merges, weight, waves and layout all apply to the raw answers, which
a version's cleaned rows (codes blank, ignored columns gone) could not give back. Earlier
versions stay as they were. For analysts only.
"""

from __future__ import annotations

import streamlit as st

from cmot.errors import CmotError
from cmot.store.datasets import Store
from cmot.store.intake import reingest, source_of
from cmot.text import escape_markdown
from cmot.ui.auth import require_analyst
from cmot.ui.frame import show_error
from cmot.ui.mapping import Start, mapping_step
from cmot.ui.state import show_dataset

EDITING = "edit_id"  # session state: the id of the version whose mapping is being edited


def edit_picker(store: Store) -> None:
    """Pick a stored dataset and open its mapping (the page then shows only the edit)."""
    datasets = [d for d in store.list_datasets() if d.external is None]
    if not datasets:
        return
    st.subheader("Edit a saved mapping")
    st.caption(
        "Change the roles, scales, codes, labels, merges, weight, waves or layout of a "
        "stored dataset. Saving makes a new version, read again from the file it was "
        "saved from; earlier versions stay."
    )
    labels = {d.id: d.label for d in datasets}
    pick = st.selectbox(
        "Dataset to edit", list(labels), key="edit_pick", format_func=labels.__getitem__
    )
    if st.button("Edit mapping", key="edit_open") and require_analyst("edit a saved mapping"):
        st.session_state[EDITING] = pick
        st.rerun()


def edit_mapping(store: Store) -> bool:
    """The mapping of the version being edited, and its save; False when none is."""
    did = st.session_state.get(EDITING)
    if did is None or not require_analyst("edit a saved mapping"):
        return False
    try:
        info = store.get_dataset_by_id(int(did))
    except CmotError:  # deleted meanwhile
        st.session_state.pop(EDITING, None)
        return False
    st.subheader(f"Mapping of {escape_markdown(info.label)}")
    if st.button("Cancel editing", key="edit_cancel"):
        st.session_state.pop(EDITING, None)
        st.rerun()
    try:
        data = source_of(store, info)
        result = mapping_step(
            data,
            info.source_name,
            Start(f"edit-{info.id}", info.spec, str(info.report.get("layout") or "") or None),
        )
    except CmotError as e:
        show_error(e)
        return True
    ready = result.spec is not None
    save = st.button(
        f"Save as a new version of {info.name}",
        key="edit_save",
        disabled=not ready,
        type="primary",
    )
    if save and require_analyst("save datasets"):
        try:
            with st.spinner("Reading, validating and saving the file again…"):
                new, report = reingest(store, info, result.options)
        except CmotError as e:
            show_error(e)
        else:
            st.session_state.pop(EDITING, None)
            st.session_state["saved"] = (
                f"Saved {escape_markdown(repr(new.name))} version {new.version}: "
                f"{new.rows_kept:,} respondents.",
                report.to_text(),
            )
            show_dataset(new.name)
    return True
