"""`watch` (issue 26, item 1): each file landing in a folder is appended exactly once,
across restarts and a process killed at any point."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cmot.cli.main import main
from cmot.feedback import watch as watch_mod
from cmot.feedback.feed import feed_csv, feed_spec
from cmot.ingest.options import IngestOptions
from cmot.store.datasets import Store
from cmot.store.directory import close_all
from cmot.store.intake import ingest
from tests.conftest import ROOT


def _setup(store_dir: Path, folder: Path, weeks: range, n: int = 40) -> int:
    store = Store(store_dir)
    ingest(store, feed_csv(1, 200, 9), "feed", IngestOptions(spec=feed_spec()), "week01.csv")
    folder.mkdir()
    for w in weeks:
        (folder / f"week{w:02d}.csv").write_bytes(feed_csv(w, n, 9))
    return 200 + n * len(weeks)


def test_each_file_once_then_nothing_new(store_dir: Path, tmp_path: Path) -> None:
    folder = tmp_path / "inbox"
    total = _setup(store_dir, folder, range(2, 5))
    (folder / "week05.csv.part").write_bytes(feed_csv(5, 40, 9))  # still being written
    (folder / "notes.md").write_text("not a survey")
    store = Store(store_dir)
    taken = watch_mod.watch_once(store, folder, "feed")
    assert [t.outcome for t in taken] == ["added"] * 3
    assert store.get_dataset("feed").rows_kept == total
    close_all()  # a restart: the state is in the store
    assert watch_mod.watch_once(Store(store_dir), folder, "feed") == []
    # A copy of a file already added, under another name, is not added again.
    (folder / "copy.csv").write_bytes((folder / "week02.csv").read_bytes())
    again = watch_mod.watch_once(Store(store_dir), folder, "feed")
    assert [(t.path.name, t.outcome) for t in again] == [("copy.csv", "already")]
    assert Store(store_dir).get_dataset("feed").version == 4


def test_a_refused_file_waits_until_it_changes(store_dir: Path, tmp_path: Path) -> None:
    folder = tmp_path / "inbox"
    _setup(store_dir, folder, range(2, 2))
    bad = folder / "week02.csv"
    bad.write_text("Client ID,Invoicing\nX1,3\n")
    store = Store(store_dir)
    [t] = watch_mod.watch_once(store, folder, "feed")
    assert t.outcome == "refused" and "lacks column" in t.message
    assert watch_mod.watch_once(store, folder, "feed") == []  # not tried again unchanged
    bad.write_bytes(feed_csv(2, 30, 9))
    [t] = watch_mod.watch_once(store, folder, "feed")
    assert t.outcome == "added" and t.version == 2


def test_killed_between_the_append_and_its_record(
    store_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "inbox"
    total = _setup(store_dir, folder, range(2, 4))

    def killed(*args: object) -> None:
        raise KeyboardInterrupt  # the process dies after the batch committed

    monkeypatch.setattr(watch_mod, "_record", killed)
    with pytest.raises(KeyboardInterrupt):
        watch_mod.watch_once(Store(store_dir), folder, "feed")
    monkeypatch.undo()
    close_all()
    taken = watch_mod.watch_once(Store(store_dir), folder, "feed")
    assert [t.outcome for t in taken] == ["already", "added"]
    assert Store(store_dir).get_dataset("feed").rows_kept == total


def test_watch_command_once(
    store_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "inbox"
    _setup(store_dir, folder, range(2, 4))
    assert main(["watch", str(folder), "--dataset", "feed", "--once", "--settle", "0"]) == 0
    out = capsys.readouterr().out
    assert "week02.csv: added" in out and "week03.csv: added" in out
    assert main(["watch", str(folder), "--dataset", "feed", "--once", "--settle", "0"]) == 0
    assert "No new file" in capsys.readouterr().out


@pytest.mark.slow
@pytest.mark.parametrize("delay", [0.5, 1.5, 3.0, 4.5])
def test_sigkill_at_any_point_appends_each_file_once(
    store_dir: Path, tmp_path: Path, delay: float
) -> None:
    folder = tmp_path / "inbox"
    total = _setup(store_dir, folder, range(2, 8), n=60)
    close_all()
    env = {**os.environ, "CMOT_STORE": str(store_dir)}
    cmd = [sys.executable, "-m", "cmot", "watch", str(folder), "--dataset", "feed"]
    proc = subprocess.Popen(
        [*cmd, "--interval", "0.2", "--settle", "0"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(delay)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    again = subprocess.run(
        [*cmd, "--once", "--settle", "0"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert again.returncode == 0, again.stderr
    info = Store(store_dir).get_dataset("feed")
    assert info.rows_kept == total
    assert len(info.files) == 7
    rows = Store(store_dir).read_frame(info, ["__cmot_id"])
    assert rows["__cmot_id"].is_unique
