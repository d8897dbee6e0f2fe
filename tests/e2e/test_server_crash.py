"""Crash safety at the server: SIGKILL `streamlit run` while it saves a large upload made in a
real browser, start it again, and check the store (the app, the operator's CLI, the tables)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from cmot.store.datasets import Store
from cmot.store.demo import DEMO_CSV, generate_demo
from cmot.store.directory import close_all
from cmot.store.intake import ingest
from tests.conftest import ROOT
from tests.e2e.conftest import start_server, wait_for_run

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

BIG_ROWS = 176_000


def _store_bytes(db: Path) -> int:
    """Bytes under the store folder, its tmp/ (where a save writes first) included."""
    total = 0
    for p in db.rglob("*"):
        with contextlib.suppress(FileNotFoundError):  # renamed or removed while we looked
            total += p.stat().st_size if p.is_file() else 0
    return total


@pytest.fixture(scope="module")
def big_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("bigupload") / "big.csv"
    generate_demo(n_per_segment=40_000, seed=5).frame.to_csv(path, index=False)
    return path


def test_sigkill_while_saving_an_upload_leaves_the_store_whole(
    tmp_path: Path, big_csv: Path, page: Any
) -> None:
    db = tmp_path / "store"
    earlier, _ = ingest(Store(db), DEMO_CSV, "earlier")
    close_all()  # the server process owns the file from here on

    # The save in the serving process (CMOT_SAVE_WORKER=0): the process killed here is the
    # one writing. A save in the worker (cmot.store.jobs) outlives the server; its kill is
    # tests/unit/test_save_jobs.py's.
    server = start_server(db, tmp_path / "server.log", env={"CMOT_SAVE_WORKER": "0"})
    outcome = "killed before the save began"
    try:
        page.goto(server.url + "/data")
        page.get_by_text("Stored datasets").wait_for(timeout=60_000)  # first run done
        uploader = page.locator(".st-key-upload").get_by_test_id("stFileUploader")  # the survey's
        uploader.locator("input[type=file]").set_input_files(str(big_csv))
        uploader.get_by_text(big_csv.name).wait_for(timeout=60_000)
        page.get_by_label("Dataset name").fill("big")
        wait_for_run(page, lambda: page.get_by_label("Dataset name").press("Enter"))
        baseline = _store_bytes(db)
        page.get_by_role("button", name="Save dataset").click()
        # The save writes the rows to a file under tmp/ and then publishes it: kill the
        # moment the store starts to grow, in the middle of that write.
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if _store_bytes(db) != baseline:
                outcome = "killed while the store grew (mid-save)"
                break
            if server.process.poll() is not None:
                pytest.fail("the server exited by itself")
            # Polling, as tight as it goes: the file system has no event to await here, and
            # the point is to kill within the few hundred milliseconds the write lasts.
            time.sleep(0.002)
        else:
            pytest.fail("the save never began writing")
        server.process.send_signal(signal.SIGKILL)
        server.process.wait(timeout=30)
    finally:
        if server.process.poll() is None:
            server.process.kill()
            server.process.wait(timeout=30)

    # Restart on the same file: it opens, the app runs, the datasets page shows no error.
    again = start_server(db, tmp_path / "server2.log")
    try:
        page.goto(again.url + "/data")
        page.get_by_text("Stored datasets").wait_for(timeout=60_000)
        assert page.locator('[data-testid="stException"]').count() == 0
    finally:
        again.process.terminate()
        again.process.wait(timeout=30)

    # The operator's check after an incident.
    cli = subprocess.run(
        [sys.executable, "-m", "cmot", "datasets"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={"CMOT_STORE": str(db), "PATH": "/usr/bin:/bin"},
        timeout=120,
    )
    assert cli.returncode == 0, cli.stderr
    assert "earlier" in cli.stdout

    store = Store(db)
    names = {d.name for d in store.list_datasets()}
    assert store.get_dataset("earlier") == earlier
    assert len(store.read_frame(earlier)) == 6600
    if "big" in names:  # committed before the kill: then whole
        big = store.get_dataset("big")
        n = store.cursor().execute(f"SELECT count(*) FROM {big.table}").fetchall()[0][0]
        assert n == big.rows_kept == BIG_ROWS
        outcome += "; the dataset is complete"
    else:
        outcome += "; the dataset is absent"
    files = {p.name for p in (db / "datasets").iterdir()}
    assert files == {d.file.name for d in store.list_datasets(all_versions=True)}  # no orphan
    assert not [p for p in (db / "tmp").iterdir() if not p.name.startswith(f"{os.getpid()}-")]
    close_all()
    print(f"\nserver crash test: {outcome}; 'earlier' intact; `python -m cmot datasets` exit 0")
