"""The Data page's Save through the worker process ($CMOT_SAVE_WORKER=1, as served): the
progress while it runs, then the saved message and the new dataset as an inline save ends;
a worker's failure shown as an inline save's error, the upload and its mapping kept."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from cmot.store.datasets import Store
from cmot.store.jobs import SAVING, VANISHED, Job, job_status, write_status
from cmot.text import escape_message
from cmot.ui.saving import FAILED_KEY, JOB_KEY
from tests.app.test_data_page import synthetic
from tests.app.test_pages import APP, ok


@pytest.fixture
def page(store_dir: Path, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    monkeypatch.setenv("CMOT_SAVE_WORKER", "1")
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    return at.switch_page("pages/data.py").run()


def mapped(at: AppTest) -> AppTest:
    """The synthetic survey uploaded, its outcome chosen and named: ready to save."""
    at.file_uploader(key="upload").set_value(("survey.csv", synthetic(), "text/csv")).run()
    at.selectbox(key="map_outcome").set_value("score").run()
    at.text_input(key="upload_name").set_value("synthetic").run()
    ok(at)
    assert not at.button(key="upload_save").disabled
    return at


def pending(at: AppTest) -> Job | None:
    # AppTest's session state has no .get
    job = at.session_state[JOB_KEY] if JOB_KEY in at.session_state else None  # noqa: SIM401
    return job if isinstance(job, Job) else None


@pytest.mark.slow
def test_save_runs_in_the_worker_shows_progress_and_ends_as_an_inline_save(
    page: AppTest,
) -> None:
    at = mapped(page)
    at.button(key="upload_save").click().run()
    ok(at)
    job = pending(at)
    assert isinstance(job, Job), "the save went to a worker"
    assert at.button(key="upload_save").disabled, "one save at a time"
    (bar,) = at.get("progress")
    assert "…" in bar.proto.text and "s)" in bar.proto.text
    # Until the worker has ended (bounded), then the run that reads its outcome.
    deadline = time.monotonic() + 120
    while job_status(job).state == "running":
        assert time.monotonic() < deadline, job_status(job)
        time.sleep(0.05)
    at.run()
    ok(at)
    assert pending(at) is None
    assert at.success and at.success[0].value == "Saved 'synthetic' version 1: 292 respondents."
    assert "Validation report for survey.csv" in at.code[0].value
    assert at.session_state["dataset"] == "synthetic", "the new dataset is selected"
    assert Store().get_dataset("synthetic").rows_kept == 292
    assert not job.folder.exists(), "the job's folder goes once its outcome is shown"
    assert not at.button(key="upload_save").disabled


def _ended_job(tmp_path: Path, status: dict[str, object]) -> Job:
    folder = tmp_path / "job"
    folder.mkdir()
    (folder / "lock").touch()  # no worker holds it
    write_status(folder, status)
    return Job(folder, pid=0)


def test_a_worker_gone_half_way_is_an_error_and_the_mapping_stays(
    page: AppTest, tmp_path: Path
) -> None:
    at = mapped(page)
    job = _ended_job(tmp_path, {"state": "running", "step": SAVING, "started": time.time()})
    at.session_state[JOB_KEY] = job
    at.run()
    ok(at)
    assert [e.value for e in at.error] == [escape_message(VANISHED)]
    assert pending(at) is None and FAILED_KEY not in at.session_state
    assert not at.button(key="upload_save").disabled, "Save again"
    assert at.selectbox(key="map_outcome").value == "score"
    assert not Store().has_dataset("synthetic")
    at.run()
    assert not at.error, "the error is shown once, as an inline save's"


def test_a_users_problem_from_the_worker_shows_as_its_message(
    page: AppTest, tmp_path: Path
) -> None:
    at = mapped(page)
    message = "No column named 'q_*x*' in `survey.csv`; pick the outcome again."
    job = _ended_job(tmp_path, {"state": "failed", "message": message})
    at.session_state[JOB_KEY] = job
    ok(at.run())
    assert [e.value for e in at.error] == [escape_message(message)]
    assert not job.folder.exists()
