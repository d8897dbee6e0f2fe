"""Data: upload a survey, check and finish the mapping, save; manage stored datasets."""

import streamlit as st

from cmot.errors import CmotError
from cmot.ui.append import append_form
from cmot.ui.auth import is_analyst, require_analyst
from cmot.ui.datasets import manage_datasets
from cmot.ui.edit import edit_mapping, edit_picker
from cmot.ui.frame import show_error
from cmot.ui.hosting import upload_limit_mb
from cmot.ui.links import link_datasets
from cmot.ui.mapping import UPLOAD_TYPES, MappingResult, mapping_step, no_file
from cmot.ui.register import register_form
from cmot.ui.saving import save_progress, save_running, save_upload
from cmot.ui.state import get_store, require_app_frame

require_app_frame()

store = get_store()
st.title("Data")
st.caption(
    "Upload a survey (CSV, SPSS .sav or Excel .xlsx). Every column's role is detected with a "
    "confidence; pick or fix the outcome, confirm the codes that mean 'no answer' (they never "
    "count as low scores), choose whether to weight, label segments, order the journey, then "
    "save as a named dataset."
)
if not is_analyst():
    st.info("You can browse and export. Uploading and changing datasets is for analysts.")
    manage_datasets(store)
    st.stop()
if edit_mapping(store):  # a stored dataset's mapping is open: it alone is on the page
    st.stop()
upload = st.file_uploader(
    "Survey file", type=UPLOAD_TYPES, key="upload", max_upload_size=upload_limit_mb()
)
name = st.text_input("Dataset name", key="upload_name", placeholder="the file's name")
result: MappingResult | None = None
if upload is None:
    no_file()
else:
    try:
        result = mapping_step(upload.getvalue(), upload.name)
    except CmotError as e:  # the file itself cannot be read: nothing to map
        show_error(e)
ready = result is not None and result.spec is not None
saving = st.button(
    "Save dataset", key="upload_save", disabled=not ready or save_running(), type="primary"
)
if saving and upload is not None and result is not None and require_analyst("save datasets"):
    given = name.strip() or upload.name.rsplit(".", 1)[0]
    save_upload(store, upload.getvalue(), given, result.options, source_name=upload.name)
save_progress()
if saved := st.session_state.get("saved"):
    st.success(saved[0])
    st.code(saved[1], language=None)
register_form(store)
append_form(store)
manage_datasets(store)
edit_picker(store)
link_datasets(store)
