"""An upload's temporary copies are named for their process and removed by the next server
start when that process is gone (a server killed mid-read left 20 MB copies in /tmp)."""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import pytest

from cmot.ingest import read
from cmot.ingest.options import IngestOptions
from cmot.ingest.read import UPLOAD_PREFIX, sweep_uploads
from cmot.processes import pid_running


def _gone_pid() -> int:
    """A pid no process has: counted down from the system's largest (no child started)."""
    top = int(Path("/proc/sys/kernel/pid_max").read_text()) - 1
    return next(pid for pid in range(top, 1, -1) if not pid_running(pid))


def test_copies_of_processes_gone_and_old_unowned_ones_are_removed(tmp_path: Path) -> None:
    now = time.time()
    gone = _gone_pid()
    live = tmp_path / f"{UPLOAD_PREFIX}{os.getpid()}-bytes-a1"
    dead = tmp_path / f"{UPLOAD_PREFIX}{gone}-utf8-b2.csv"
    old = tmp_path / f"{UPLOAD_PREFIX}x8k2q"  # named before the pid was in the name
    young = tmp_path / f"{UPLOAD_PREFIX}z9w1e"
    other = tmp_path / "someone-elses-file"
    for p in (live, dead, old, young, other):
        p.write_bytes(b"q1,q2\n1,2\n")
    os.utime(old, (now - 2 * 24 * 3600, now - 2 * 24 * 3600))
    os.utime(other, (now - 9 * 24 * 3600, now - 9 * 24 * 3600))
    assert sorted(sweep_uploads(tmp_path, now)) == sorted([dead, old])
    assert live.exists() and young.exists() and other.exists()
    assert sweep_uploads(tmp_path, now) == []  # nothing more to do


def test_a_copy_is_named_for_its_process_and_gone_after_the_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    seen: list[str] = []
    real = read._temp_copy

    def spy(kind: str, suffix: str = "") -> tuple[int, str]:
        fd, name = real(kind, suffix)
        seen.append(Path(name).name)
        return fd, name

    monkeypatch.setattr(read, "_temp_copy", spy)
    with read.open_raw(b"q1,q2\n1,2\n3,4\n", IngestOptions(), "s.csv") as raw:
        assert raw is not None
    assert seen and all(n.startswith(f"{UPLOAD_PREFIX}{os.getpid()}-") for n in seen)
    assert not list(tmp_path.glob(UPLOAD_PREFIX + "*"))  # removed when the read ended
    assert sweep_uploads(tmp_path) == []
