"""Data: upload a survey CSV, see the validation report, manage stored datasets."""

import streamlit as st

from cmot.errors import CmotError
from cmot.ingest import IngestOptions, ingest, parse_codes
from cmot.ui.state import get_store, require_app_frame, show_dataset

require_app_frame()

store = get_store()
st.title("Data")
st.caption(
    "Upload a survey CSV (wide or long). Roles, scale and outcome are detected; "
    "declare the codes that mean 'not applicable' so they never count as low scores."
)

upload = st.file_uploader("Survey CSV", type=["csv", "txt"], key="upload")
name = st.text_input("Dataset name", key="upload_name", placeholder="the file's name")
missing = st.text_input("Missing codes in ratings (blank: detect)", key="upload_missing")
if st.button("Save dataset", key="upload_save", disabled=upload is None, type="primary"):
    try:
        codes = parse_codes(missing) if missing.strip() else None
        with st.spinner("Reading and validating the file…"):
            info, report = ingest(
                store,
                upload.getvalue(),
                name.strip() or upload.name.rsplit(".", 1)[0],
                IngestOptions(missing=codes),
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

st.subheader("Stored datasets")
rows = [
    {
        "name": d.name,
        "version": d.version,
        "respondents": d.rows_kept,
        "rows read": d.rows_read,
        "source": d.source_name,
        "created": d.created_at,
    }
    for d in store.list_datasets(all_versions=True)
]
st.dataframe(rows, key="datasets_table", hide_index=True)
