"""Saving an upload in a worker process: `submit_save` (the request written to a job folder, a
child process started), `job_status` (its progress or outcome as `JobStatus`), `forget`.

A save reads, checks and writes a whole survey file: seconds of CPU that, run inside a
serving process, every viewer that process serves would wait behind. The worker runs it
apart, at a lower priority, so a viewer's page switch goes first on a busy machine
(issue 27). The store's writes are crash-safe already (cmot.store.directory): a worker
killed at any point leaves no dataset, only a job folder that says nothing was stored.

A job is a folder `<store>/jobs/<uuid>/`:

    upload          the uploaded bytes (removed once the save has ended)
    options.pickle  the IngestOptions the page chose
    request.json    the dataset's name and the file's name
    status.json     state, step, outcome: replaced whole (a reader never sees half of it)
    lock            flock()ed by the worker for as long as it lives
    error.log       an unexpected failure's traceback (also on the server's stderr)

The worker is `python -m cmot.store.jobs <folder>`.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import pickle
import shutil
import subprocess
import sys
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from cmot.errors import CmotError
from cmot.ingest.options import IngestOptions
from cmot.store.datasets import Store
from cmot.store.intake import ingest
from cmot.store.versions import DatasetInfo

State = Literal["running", "done", "failed"]

# The steps a user reads while the worker runs, in order (the progress bar's share of each).
STARTING = "Starting the save…"
READING = "Reading and checking the file…"
SAVING = "Saving…"
STEPS = (STARTING, READING, SAVING)

NICENESS = 10  # the worker's priority below the serving processes'
KEEP_S = 24 * 3600.0  # a job folder nobody read is removed a day after it was last written

VANISHED = (
    "The save stopped before it finished (its worker process ended); nothing was stored. "
    "Save the dataset again."
)
LOST = (
    "This save's progress is no longer known; look for the dataset among the stored "
    "datasets below, and save it again if it is not there."
)
UNEXPECTED = (
    "The save ran into an unexpected problem ({kind}) and stopped; nothing was stored. "
    "Save again; if it happens again, the details are in the server log."
)

# The worker processes this server started, so their exits are reaped (no zombies). Their
# state is read from the job folder, never from here: a job outlives its server process.
_CHILDREN: dict[str, subprocess.Popen[bytes]] = {}


@dataclass(frozen=True)
class Job:
    """One save handed to a worker: its folder, and the worker's process id."""

    folder: Path
    pid: int


@dataclass(frozen=True)
class JobStatus:
    """What a job's folder says: running (at `step`), done (the dataset saved) or failed."""

    state: State
    step: str = ""
    started: float = 0.0  # time.time() when submitted
    name: str = ""  # done: the dataset saved
    version: int = 0
    rows_kept: int = 0
    report: str = ""  # done: the validation report's text
    message: str = ""  # failed: what went wrong, as a user may read it

    @property
    def fraction(self) -> float:
        """The progress bar's share for the current step (1.0 once ended)."""
        if self.state != "running":
            return 1.0
        index = STEPS.index(self.step) if self.step in STEPS else 0
        return (index + 1) / (len(STEPS) + 1)


# ---- the serving process's side --------------------------------------------------------


def submit_save(
    store: Store,
    data: bytes,
    name: str,
    options: IngestOptions,
    source_name: str,
) -> Job:
    """Save `data` as the dataset `name` in a worker process; returns at once.

    The worker does what `cmot.store.intake.ingest(store, data, name, options,
    source_name=...)` does inline, and `job_status` says how far it got."""
    jobs = store.path.resolve() / "jobs"
    jobs.mkdir(exist_ok=True)
    sweep_jobs(jobs)
    folder = jobs / uuid.uuid4().hex
    folder.mkdir()
    (folder / "upload").write_bytes(data)
    (folder / "options.pickle").write_bytes(pickle.dumps(options))
    request = {"name": name, "source_name": source_name}
    (folder / "request.json").write_text(json.dumps(request), encoding="utf-8")
    write_status(folder, {"state": "running", "step": STARTING, "started": time.time()})
    return Job(folder, _start_worker(folder))


def _start_worker(folder: Path) -> int:
    # The lock is taken here and handed to the child, which holds it until it exits: from
    # the moment the job exists, a free lock means its worker is gone (no window where a
    # worker not yet started reads as dead, and no pid that another process may reuse).
    fd = os.open(folder / "lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        env = dict(os.environ)
        # cmot runs from its source tree (not installed): the child finds it where we did.
        root = str(Path(__file__).resolve().parents[2])
        env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
        child = subprocess.Popen(
            [sys.executable, "-m", "cmot.store.jobs", str(folder)],
            env=env,
            stdin=subprocess.DEVNULL,
            pass_fds=(fd,),
            # Its own session: a server stopped by Ctrl-C or its supervisor lets the save
            # finish (the dataset is there after a restart) instead of killing it half way.
            start_new_session=True,
        )
    finally:
        os.close(fd)  # the child's copy now holds the lock alone
    _reap()
    _CHILDREN[str(folder)] = child
    return child.pid


def _reap() -> None:
    for key, child in list(_CHILDREN.items()):
        if child.poll() is not None:
            _CHILDREN.pop(key, None)  # another session's thread may have reaped it too


def _worker_alive(folder: Path) -> bool:
    """Whether the job's worker still holds its lock (it is released when the worker ends,
    however it ends)."""
    try:
        fd = os.open(folder / "lock", os.O_RDWR)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # closing releases the lock if we got it
    return False


def job_status(job: Job) -> JobStatus:
    """The job's state as its folder says: a worker gone without a final state failed."""
    _reap()
    # The lock first, then the status: a worker that ended before the lock was found free
    # wrote its final state before, so the status read next has it.
    alive = _worker_alive(job.folder)
    try:
        raw = json.loads((job.folder / "status.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        return JobStatus("failed", message=LOST)
    status = _status_of(raw)
    if status.state == "running" and not alive:
        return JobStatus("failed", started=status.started, message=VANISHED)
    return status


def _status_of(raw: dict[str, Any]) -> JobStatus:
    return JobStatus(
        state=raw["state"],
        step=str(raw.get("step", "")),
        started=float(raw.get("started", 0.0)),
        name=str(raw.get("name", "")),
        version=int(raw.get("version", 0)),
        rows_kept=int(raw.get("rows_kept", 0)),
        report=str(raw.get("report", "")),
        message=str(raw.get("message", "")),
    )


def forget(job: Job) -> None:
    """Remove an ended job's folder once its outcome has been read. A job that failed
    unexpectedly keeps its error.log until the day's sweep, for whoever looks into it."""
    if not (job.folder / "error.log").exists():
        shutil.rmtree(job.folder, ignore_errors=True)


def sweep_jobs(jobs: Path) -> None:
    """Remove job folders older than a day whose worker has ended (nobody read them)."""
    cutoff = time.time() - KEEP_S
    for folder in jobs.iterdir():
        with contextlib.suppress(OSError):  # another server may sweep it at the same time
            if folder.stat().st_mtime < cutoff and not _worker_alive(folder):
                shutil.rmtree(folder)


def write_status(folder: Path, status: dict[str, Any]) -> None:
    """Replace the job's status.json whole: written aside, then renamed over it."""
    tmp = folder / f"status.json.{os.getpid()}.tmp"
    tmp.write_text(json.dumps(status), encoding="utf-8")
    os.replace(tmp, folder / "status.json")


# ---- the worker's side ------------------------------------------------------------------


class _StepStore(Store):
    """The store, saying "Saving…" when ingest has read and checked the file and starts to
    write it: ingest's steps stay ingest's (not copied here) and the user still sees them."""

    def __init__(self, path: Path, on_save: Callable[[], None]) -> None:
        # No migration: the serving process that submitted the job opened this store first.
        super().__init__(path, migrate=False)
        self._on_save = on_save

    def save_query(self, *args: Any, **kwargs: Any) -> DatasetInfo:
        self._on_save()
        return super().save_query(*args, **kwargs)


AUTOGROUP = Path("/proc/self/autogroup")  # Linux: this session's scheduling group


def lower_priority() -> None:
    """The save's CPU and disk after the serving processes': nice NICENESS, for the process
    and for its session's scheduling group.

    With the kernel's autogroups on (sched_autogroup_enabled, the default of most
    distributions), a process's nice ranks it only within its session's group, and CPU is
    shared between groups first. The worker has a session of its own (start_new_session), so
    its nice alone would leave it an equal share with the whole server: the group's nice is
    what ranks it below the servers. The kernel takes one group change per 0.1 s across the
    machine (EAGAIN otherwise): a few tries, then the process's nice alone.
    """
    os.nice(NICENESS)
    for _ in range(5):
        try:
            AUTOGROUP.write_text(str(NICENESS))
            return
        except BlockingIOError:  # another group changed within the last 0.1 s
            time.sleep(0.11)
        except OSError:  # no autogroups (kernel, container): the process's nice is the rank
            return


def run_job(folder: Path) -> None:
    """The worker: lower its priority, save, and write the outcome to status.json."""
    # First, before any work: the save's CPU and disk go after the serving processes'.
    lower_priority()
    started = json.loads((folder / "status.json").read_text(encoding="utf-8"))["started"]

    def step(words: str) -> None:
        write_status(folder, {"state": "running", "step": words, "started": started})

    try:
        request = json.loads((folder / "request.json").read_text(encoding="utf-8"))
        options = pickle.loads((folder / "options.pickle").read_bytes())
        data = (folder / "upload").read_bytes()
        store = _StepStore(folder.parent.parent, lambda: step(SAVING))
        step(READING)
        info, report = ingest(
            store, data, request["name"], options, source_name=request["source_name"]
        )
    except CmotError as e:  # the user's fixable problem: its message says what to do
        outcome: dict[str, Any] = {"state": "failed", "message": str(e)}
    except Exception as e:
        text = traceback.format_exc()
        (folder / "error.log").write_text(text, encoding="utf-8")
        print(f"cmot save worker {folder.name} failed:\n{text}", file=sys.stderr, flush=True)
        outcome = {"state": "failed", "message": UNEXPECTED.format(kind=type(e).__name__)}
    else:
        outcome = {
            "state": "done",
            "name": info.name,
            "version": info.version,
            "rows_kept": info.rows_kept,
            "report": report.to_text(),
        }
    write_status(folder, {**outcome, "step": "", "started": started})
    (folder / "upload").unlink(missing_ok=True)  # the store keeps its own copy of the file


if __name__ == "__main__":
    run_job(Path(sys.argv[1]))
