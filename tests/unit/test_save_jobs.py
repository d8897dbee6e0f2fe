"""Saving in a worker process (cmot.store.jobs, issue 27): the same dataset as an inline save,
a user's fixable problem comes back with its message, a killed worker stores nothing and
says so, and the worker runs below the serving process's priority."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from cmot.errors import CmotError
from cmot.ingest.options import IngestOptions
from cmot.names import ROW_COL
from cmot.spec import dumps_spec
from cmot.store import jobs
from cmot.store.datasets import Store
from cmot.store.intake import ingest
from cmot.store.jobs import (
    KEEP_S,
    LOST,
    READING,
    SAVING,
    STARTING,
    VANISHED,
    Job,
    JobStatus,
    forget,
    job_status,
    submit_save,
    sweep_jobs,
    write_status,
)
from tests.app.test_data_page import synthetic
from tests.conftest import ROOT

OPTIONS = IngestOptions(outcome="score", outcome_kind="scale", missing=(9, "Blank"))


def survey(n: int, seed: int = 3) -> bytes:
    """`synthetic`'s columns at `n` rows, built column-wise (a big file in well under 1 s)."""
    rng = np.random.default_rng(seed)
    cols = {"resp_id": np.arange(1, n + 1)}
    for q in "abcd":
        cols[f"q1_{q}"] = rng.integers(1, 6, n)
    cols["score"] = rng.integers(1, 6, n)
    cols["wt"] = np.round(rng.uniform(0.5, 2, n), 3)
    cols["region"] = rng.integers(1, 7, n)
    header = ",".join(cols)
    body = np.column_stack(list(cols.values()))
    lines = "\n".join(",".join(map(str, row)) for row in body.tolist())
    return f"{header}\n{lines}\n".encode()


def wait_for(job: Job, done: Callable[[JobStatus], bool], timeout: float = 120) -> JobStatus:
    """Read the job's status until `done` says so (bounded: a hung worker fails the test)."""
    deadline = time.monotonic() + timeout
    while True:
        status = job_status(job)
        if done(status):
            return status
        assert time.monotonic() < deadline, f"waited {timeout} s; the job says {status}"
        time.sleep(0.02)


def ended(status: JobStatus) -> bool:
    return status.state != "running"


@contextmanager
def catalog_held(store: Path) -> Iterator[None]:
    """The store's write lock held by this test: a save waits at its publish (or a process
    opening the store at its recovery) until the block ends."""
    con = sqlite3.connect(store / "catalog.sqlite", isolation_level=None)
    con.execute("BEGIN IMMEDIATE")
    try:
        yield
    finally:
        con.execute("ROLLBACK")
        con.close()


# ---- the status, without a worker ------------------------------------------------------


def _job(tmp_path: Path, status: dict[str, object] | None) -> Job:
    folder = tmp_path / "jobs" / "j1"
    folder.mkdir(parents=True)
    if status is not None:
        write_status(folder, status)
    (folder / "lock").touch()  # nobody holds it: no worker
    return Job(folder, pid=0)


def test_the_progress_bar_moves_with_the_steps() -> None:
    shares = [JobStatus("running", step=s).fraction for s in (STARTING, READING, SAVING)]
    assert shares == sorted(shares) and shares[0] > 0 and shares[-1] < 1
    assert JobStatus("done").fraction == JobStatus("failed").fraction == 1.0


def test_a_final_state_is_read_as_written(tmp_path: Path) -> None:
    job = _job(tmp_path, {"state": "done", "name": "x", "version": 2, "rows_kept": 5})
    status = job_status(job)
    assert (status.state, status.name, status.version, status.rows_kept) == ("done", "x", 2, 5)
    forget(job)
    assert not job.folder.exists()


def test_running_without_a_worker_is_a_failure_that_says_nothing_was_stored(
    tmp_path: Path,
) -> None:
    job = _job(tmp_path, {"state": "running", "step": SAVING, "started": 1.0})
    assert job_status(job) == JobStatus("failed", started=1.0, message=VANISHED)
    assert "nothing was stored" in VANISHED and "again" in VANISHED


def test_a_job_without_its_folder_is_lost(tmp_path: Path) -> None:
    assert job_status(Job(tmp_path / "gone", pid=0)) == JobStatus("failed", message=LOST)


def test_an_unexpected_failure_keeps_its_log_until_the_sweep(tmp_path: Path) -> None:
    job = _job(tmp_path, {"state": "failed", "message": "m"})
    (job.folder / "error.log").write_text("Traceback ...")
    forget(job)
    assert job.folder.exists()
    fresh = tmp_path / "jobs" / "fresh"
    fresh.mkdir()
    old = time.time() - KEEP_S - 60
    os.utime(job.folder, (old, old))
    sweep_jobs(tmp_path / "jobs")
    assert not job.folder.exists() and fresh.exists()


# ---- the worker ----------------------------------------------------------------------------


@pytest.mark.slow
def test_a_save_in_the_worker_stores_what_an_inline_save_does(tmp_path: Path) -> None:
    data = synthetic()
    inline = Store(tmp_path / "inline")
    info, report = ingest(inline, data, "syn", OPTIONS, source_name="survey.csv")
    store = Store(tmp_path / "worker")
    job = submit_save(store, data, "syn", OPTIONS, "survey.csv")
    status = wait_for(job, ended)
    assert status.state == "done", status.message
    saved = store.get_dataset("syn")
    assert (status.name, status.version, status.rows_kept) == ("syn", 1, info.rows_kept)
    assert status.report == report.to_text()
    assert dumps_spec(saved.spec) == dumps_spec(info.spec)
    assert saved.report == info.report
    assert (saved.source_name, saved.source_sha256) == (info.source_name, info.source_sha256)
    ours, theirs = pq.read_table(saved.file), pq.read_table(info.file)
    assert ours.schema == theirs.schema
    assert ours.sort_by(ROW_COL).equals(theirs.sort_by(ROW_COL))
    assert store.source_of(saved) == data, "the survey file is kept, as an inline save keeps it"
    assert not (job.folder / "upload").exists(), "the upload goes once the save has ended"
    forget(job)
    assert not job.folder.exists()


@pytest.mark.slow
def test_a_users_problem_comes_back_with_its_message_and_nothing_stored(
    tmp_path: Path,
) -> None:
    data = synthetic()  # its outcome has no outcome-like name: it must be chosen
    with pytest.raises(CmotError) as inline:
        ingest(Store(tmp_path / "inline"), data, "syn", IngestOptions(), source_name="s.csv")
    store = Store(tmp_path / "worker")
    job = submit_save(store, data, "syn", IngestOptions(), "s.csv")
    status = wait_for(job, ended)
    assert status.state == "failed"
    assert status.message == str(inline.value)
    assert not store.has_dataset("syn")
    assert not (job.folder / "error.log").exists(), "a user's problem is no crash"


@pytest.mark.slow
def test_a_killed_worker_reads_as_failed_and_leaves_no_dataset(tmp_path: Path) -> None:
    root = tmp_path / "store"
    store = Store(root)
    job = submit_save(store, survey(100_000), "big", OPTIONS, "big.csv")
    # Past the worker's recovery (which takes the store's lock), the lock held by this test
    # keeps the save from publishing: the kill lands while it writes or waits, never after.
    wait_for(job, lambda s: s.step in (READING, SAVING) or ended(s))
    with catalog_held(root):
        status = wait_for(job, lambda s: s.step == SAVING or ended(s))
        assert status.state == "running", f"the save ended before it could be killed: {status}"
        deadline = time.monotonic() + 60
        while not list((root / "tmp").glob(f"{job.pid}-*.parquet")):  # it is writing
            assert time.monotonic() < deadline
            time.sleep(0.02)
        os.kill(job.pid, signal.SIGKILL)
        status = wait_for(job, ended, timeout=30)
    assert status == JobStatus("failed", started=status.started, message=VANISHED)
    assert not store.has_dataset("big")
    assert json.loads((job.folder / "status.json").read_text())["state"] == "running"
    # The next process on the store removes what the killed save left (as after any crash).
    opened = f"from cmot.store.datasets import Store; Store({str(root)!r})"
    subprocess.run([sys.executable, "-c", opened], cwd=ROOT, check=True)
    assert not list((root / "datasets").iterdir())
    assert not list((root / "tmp").glob(f"{job.pid}-*"))
    assert not list((root / "sources").iterdir())


def nice_of(pid: int) -> int:
    """A process's nice value: field 19 of /proc/<pid>/stat (after the command's parens)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat.rsplit(")", 1)[1].split()[16])


def a_new_session_can_lower_its_group() -> bool:
    """Whether this machine lets a process in a session of its own set its group's nice, as
    the worker does: kernels without autogroups, and containers that show or take none, do
    not (there the process's nice alone ranks it, and the test checks that)."""
    probe = subprocess.run(
        [sys.executable, "-c", PROBE], start_new_session=True, capture_output=True, text=True
    )
    return probe.stdout.split()[-1:] == ["10"]


PROBE = """
import time
from pathlib import Path
group = Path("/proc/self/autogroup")
for _ in range(20):
    try:
        group.write_text("10")
        print(group.read_text())
        break
    except BlockingIOError:  # another group changed within 0.1 s
        time.sleep(0.11)
    except OSError:
        break
"""


def autogroup_nice(pid: int) -> int | None:
    """The nice of `pid`'s session group: /proc/<pid>/autogroup reads "/autogroup-N nice K".

    None where the file is empty: the kernel shows nothing for a process still in the default
    group (a container's first session never made one; CI's machine is such a case).
    """
    words = Path(f"/proc/{pid}/autogroup").read_text().split()
    return int(words[-1]) if words else None


@pytest.mark.slow
def test_the_worker_runs_below_the_servers_priority(tmp_path: Path) -> None:
    root = tmp_path / "store"
    store = Store(root)
    ours = os.getpriority(os.PRIO_PROCESS, 0)
    own_group_was_10 = autogroup_nice(os.getpid()) == 10
    groups = a_new_session_can_lower_its_group()
    with catalog_held(root):  # the worker waits at its recovery: alive, long enough to look
        job = submit_save(store, synthetic(), "syn", OPTIONS, "s.csv")
        deadline = time.monotonic() + 60
        while nice_of(job.pid) != min(19, ours + 10):
            assert time.monotonic() < deadline, f"nice {nice_of(job.pid)}, ours {ours}"
            time.sleep(0.02)
        assert os.getpriority(os.PRIO_PROCESS, job.pid) == min(19, ours + 10)
        # Its own session's scheduling group is lowered too where the kernel has them: there
        # the group's nice, not the process's, ranks it against the servers' group.
        if groups:
            while autogroup_nice(job.pid) != 10:
                assert time.monotonic() < deadline, Path(f"/proc/{job.pid}/autogroup").read_text()
                time.sleep(0.02)
            assert autogroup_nice(os.getpid()) != 10 or own_group_was_10, "ours was not lowered"
        assert job_status(job).state == "running"
    assert wait_for(job, ended).state == "done"
    assert os.getpriority(os.PRIO_PROCESS, 0) == ours, "only the worker was lowered"


class _BusyOnce:
    """An autogroup file that refuses the first write as the kernel does within 0.1 s of
    another group's change (EAGAIN), then takes it."""

    def __init__(self) -> None:
        self.writes: list[str] = []

    def write_text(self, text: str) -> None:
        self.writes.append(text)
        if len(self.writes) == 1:
            raise BlockingIOError("EAGAIN")


def test_the_workers_group_is_lowered_after_a_busy_moment(monkeypatch: pytest.MonkeyPatch) -> None:
    busy = _BusyOnce()
    monkeypatch.setattr(jobs, "AUTOGROUP", busy)
    monkeypatch.setattr(jobs.os, "nice", lambda n: 0)
    monkeypatch.setattr(jobs.time, "sleep", lambda s: None)
    jobs.lower_priority()
    assert busy.writes == [str(jobs.NICENESS)] * 2


def test_without_autogroups_the_process_nice_is_enough(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    niced: list[int] = []
    monkeypatch.setattr(jobs, "AUTOGROUP", tmp_path / "no-such-dir" / "autogroup")
    monkeypatch.setattr(jobs.os, "nice", lambda n: niced.append(n) or 0)
    jobs.lower_priority()  # no error: the kernel has no groups to lower
    assert niced == [jobs.NICENESS]
