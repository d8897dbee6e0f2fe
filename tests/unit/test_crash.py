"""Crash safety: SIGKILL in the middle of saving a large upload leaves no partial dataset."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cmot.store.datasets import Store
from cmot.store.demo import DEMO_CSV, generate_demo
from cmot.store.directory import close_all
from cmot.store.intake import ingest
from tests.conftest import ROOT

SAVER = """
import sys
from cmot.store import datasets as s
from cmot.store.intake import ingest

real = s.Store.save_query
def announce(self, *a, **k):
    print("SAVING", flush=True)
    return real(self, *a, **k)
s.Store.save_query = announce
ingest(s.Store(sys.argv[1]), sys.argv[2], "big")
print("SAVED", flush=True)
"""


@pytest.fixture(scope="module")
def big_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("crash") / "big.csv"
    generate_demo(n_per_segment=40_000, seed=5).frame.to_csv(path, index=False)
    return path


# The delay is the point: kills at several moments of the save (8 s: most likely after it
# committed). A subprocess each: the full suite runs them, not the quick loop.
@pytest.mark.slow  # a saving subprocess killed at each delay, on a big file
@pytest.mark.parametrize("delay", [0.0, 0.05, 0.15, 0.4, 8.0])
def test_kill_during_save_leaves_the_store_whole(
    tmp_path: Path, big_csv: Path, delay: float
) -> None:
    db = tmp_path / "store"
    earlier, _ = ingest(Store(db), DEMO_CSV, "earlier")
    close_all()
    proc = subprocess.Popen(
        [sys.executable, "-c", SAVER, str(db), str(big_csv)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.strip() == "SAVING", proc.stderr.read() if proc.stderr else ""
    time.sleep(delay)  # the moment of the kill, the point of the test
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)

    store = Store(db)  # the restart: the store opens
    names = {d.name for d in store.list_datasets()}
    assert "earlier" in names
    assert store.get_dataset("earlier") == earlier
    assert len(store.read_frame(earlier)) == 6600
    if "big" in names:  # the save committed before the kill: then it is whole
        big = store.get_dataset("big")
        n = store.cursor().execute(f"SELECT count(*) FROM {big.table}").fetchall()[0][0]
        assert n == big.rows_kept == 176_000
    # No trace of the killed save: every data file is named by the catalog, tmp/ is empty.
    files = {p.name for p in (db / "datasets").iterdir()}
    assert files == {d.file.name for d in store.list_datasets(all_versions=True)}
    assert list((db / "tmp").iterdir()) == []
