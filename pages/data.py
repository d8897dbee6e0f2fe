"""Data: upload a survey CSV, check and fix the mapping, save; manage stored datasets."""

import streamlit as st

from cmot.errors import CmotError
from cmot.ingest import IngestOptions, ingest, parse_codes
from cmot.ui.auth import is_analyst, require_analyst
from cmot.ui.datasets import manage_datasets
from cmot.ui.mapping import journey_editor, roles_editor
from cmot.ui.state import get_store, require_app_frame, show_dataset

require_app_frame()

store = get_store()
st.title("Data")
st.caption(
    "Upload a survey CSV (wide or long). Roles, scale and outcome are detected with a "
    "confidence; fix what is wrong, declare the codes that mean 'not applicable' (they never "
    "count as low scores), order the journey, then save as a named dataset."
)
if not is_analyst():
    st.info("You can browse and export. Uploading and changing datasets is for analysts.")
    manage_datasets(store)
    st.stop()
upload = st.file_uploader("Survey CSV", type=["csv", "txt"], key="upload")
name = st.text_input("Dataset name", key="upload_name", placeholder="the file's name")
missing = st.text_input("Missing codes in ratings (blank: detect)", key="upload_missing")
spec = None
try:
    codes = parse_codes(missing) if missing.strip() else None
    if upload is not None:
        detection = roles_editor(upload.getvalue(), upload.name, codes)
        with st.expander("Journey: stages, order, labels, CMoT tags", expanded=False):
            spec = journey_editor(detection.require_spec())
except CmotError as e:
    st.error(str(e))
saving = st.button("Save dataset", key="upload_save", disabled=spec is None, type="primary")
if saving and upload is not None and spec is not None and require_analyst("save datasets"):
    try:
        with st.spinner("Reading, validating and saving the file…"):
            info, report = ingest(
                store,
                upload.getvalue(),
                name.strip() or upload.name.rsplit(".", 1)[0],
                IngestOptions(spec=spec, missing=codes),
                source_name=upload.name,
            )
    except CmotError as e:
        st.error(str(e))
    else:
        st.session_state["saved"] = (
            f"Saved {info.name!r} version {info.version}: {info.rows_kept:,} respondents.",
            report.to_text(),
        )
        show_dataset(info.name)  # reruns, so the sidebar lists and selects the new dataset
if saved := st.session_state.get("saved"):
    st.success(saved[0])
    st.code(saved[1], language=None)
manage_datasets(store)
