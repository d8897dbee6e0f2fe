"""The Data page's Save: an upload stored as a dataset, in a worker process with its
progress shown (`$CMOT_SAVE_WORKER=1`, which serve.py sets), else inline under a spinner
(AppTest, `streamlit run app.py`).

A save inline takes its seconds of CPU from every session its server process serves; the
worker (cmot.store.jobs) runs it apart at a lower priority. Either way the user ends where
a save always ended: the saved message with the validation report, the new dataset
selected, or the error's message with the upload and its mapping still on the page.
"""

from __future__ import annotations

import os
import time

import streamlit as st

from cmot.errors import CmotError
from cmot.ingest.options import IngestOptions
from cmot.store import intake
from cmot.store.datasets import Store
from cmot.store.jobs import Job, JobStatus, forget, job_status, submit_save
from cmot.text import escape_markdown
from cmot.ui.frame import page_guard, show_error
from cmot.ui.state import show_dataset

ENV_WORKER = "CMOT_SAVE_WORKER"
JOB_KEY = "save_job"  # session state: this session's save in a worker, while it runs
FAILED_KEY = "save_failed"  # session state: a worker's failure, shown on the next run
POLL_S = 1.0  # how often the progress is read again (a fragment run: a file read)


def worker_on() -> bool:
    """Whether saves run in a worker process ($CMOT_SAVE_WORKER=1)."""
    return os.environ.get(ENV_WORKER, "") == "1"


def save_running() -> bool:
    """Whether this session's save is running in a worker (Save waits for it)."""
    return st.session_state.get(JOB_KEY) is not None


def save_upload(
    store: Store, data: bytes, name: str, options: IngestOptions, source_name: str
) -> None:
    """Save `data` as the dataset `name`: in a worker, or inline. Ends in the saved
    message and a rerun on the new dataset, or an error box."""
    if save_running():  # a second press before the page redrew the button disabled
        return
    if worker_on():
        st.session_state[JOB_KEY] = submit_save(store, data, name, options, source_name)
        st.rerun()  # at once: Save disabled, the progress under it
    try:
        with st.spinner("Reading, validating and saving the file…"):
            # Through the module: tests record what Save ingests by patching intake.ingest.
            info, report = intake.ingest(store, data, name, options, source_name=source_name)
    except CmotError as e:
        show_error(e)
    else:
        saved(info.name, info.version, info.rows_kept, report.to_text())


def saved(name: str, version: int, rows_kept: int, report: str) -> None:
    """The saved message and report for the next run, which shows the new dataset."""
    st.session_state["saved"] = (
        f"Saved {escape_markdown(repr(name))} version {version}: {rows_kept:,} respondents.",
        report,
    )
    show_dataset(name)  # reruns, so the sidebar lists and selects the new dataset


def save_progress() -> None:
    """Where Save's outcome shows: the running save's progress, or its failure (once)."""
    job = st.session_state.get(JOB_KEY)
    if isinstance(job, Job):
        _progress(job)
    if (message := st.session_state.pop(FAILED_KEY, None)) is not None:
        show_error(CmotError(message))


@st.fragment(run_every=POLL_S)
def _progress(job: Job) -> None:
    # A fragment: only this reruns while the worker saves, not the page around it.
    with page_guard():  # a fragment's own run is outside the page's guard
        status = job_status(job)
        if status.state == "running":
            seconds = max(0, round(time.time() - status.started))
            st.progress(status.fraction, text=f"{status.step} ({seconds} s)")
            return
        _ended(job, status)


def _ended(job: Job, status: JobStatus) -> None:
    # Acted on once: the job leaves the session before the rerun that shows its outcome.
    del st.session_state[JOB_KEY]
    forget(job)
    if status.state == "done":
        saved(status.name, status.version, status.rows_kept, status.report)
    else:
        st.session_state[FAILED_KEY] = status.message
        st.rerun()  # the whole page: Save enabled again, the error under it
