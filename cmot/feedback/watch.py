"""Watch a folder: every new survey file landing there is appended to a dataset, once.

Exactly once, across restarts and a process killed at any point, rests on two facts kept in
the store: the batch's sha256, checked inside the very transaction that publishes the batch
(`Store.append_query`), so a batch added before a kill is refused after it ("already in");
and the `watched_files` table, which records each file taken (path, size, modification
time) with what became of it, so a file is read once and a refused one is tried again only
once it changes. A file is taken once it has not changed for `settle` seconds; names that
start with "." or end in .part, .tmp, .crdownload (a writer's file before its rename) wait.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cmot.errors import CmotError
from cmot.store.append import already_added, append_batch, sha256_of
from cmot.store.datasets import Store
from cmot.store.intake import SURVEY_SUFFIXES

UNFINISHED = (".part", ".tmp", ".crdownload", ".partial")


@dataclass(frozen=True)
class Taken:
    """What became of one file: "added", "already" (its bytes were in) or "refused"."""

    path: Path
    outcome: str
    message: str
    version: int | None = None

    def text(self) -> str:
        return f"{self.path.name}: {self.outcome}: {self.message}"


def candidates(folder: Path, settle: float, now: float | None = None) -> list[Path]:
    """Survey files in `folder` (not in its subfolders) that are finished, oldest first."""
    if not folder.is_dir():
        raise CmotError(f"No folder {str(folder)!r} to watch; create it or give another.")
    now = time.time() if now is None else now
    found = []
    for p in folder.iterdir():
        name = p.name.lower()
        if name.startswith(".") or name.endswith(UNFINISHED) or not p.is_file():
            continue
        if not name.endswith(SURVEY_SUFFIXES):
            continue
        st = p.stat()
        if now - st.st_mtime >= settle:
            found.append((st.st_mtime_ns, p.name, p))
    return [p for _, _, p in sorted(found)]


def _seen(store: Store, dataset: str, path: Path) -> bool:
    st = path.stat()
    rows = store.catalog.read(
        "SELECT 1 FROM watched_files WHERE dataset = ? AND path = ? AND size = ? AND mtime_ns = ?",
        (dataset, str(path.resolve()), st.st_size, st.st_mtime_ns),
    )
    return bool(rows)


def _record(store: Store, dataset: str, path: Path, sha: str, taken: Taken) -> None:
    st = path.stat()
    now = datetime.now(UTC).replace(tzinfo=None, microsecond=0).isoformat(sep=" ")
    with store.catalog.write() as con:
        con.execute(
            "INSERT OR REPLACE INTO watched_files (dataset, path, size, mtime_ns, sha256, "
            "outcome, message, version, seen_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                dataset,
                str(path.resolve()),
                st.st_size,
                st.st_mtime_ns,
                sha,
                taken.outcome,
                taken.message,
                taken.version,
                now,
            ),
        )


def take(store: Store, dataset: str, path: Path) -> Taken:
    """Append one file, or say why not; what happened is recorded in the store."""
    sha = sha256_of(path)
    seen = already_added(store, dataset, sha)
    if seen:
        taken = Taken(path, "already", seen)
    else:
        try:
            done = append_batch(store, dataset, path, path.name)
        except CmotError as e:
            # A batch another process (or this one, before a kill) published meanwhile is
            # found by its hash inside the publishing transaction: already in, not refused.
            outcome = "already" if already_added(store, dataset, sha) else "refused"
            taken = Taken(path, outcome, str(e))
        else:
            taken = Taken(path, "added", done.text(), done.info.version)
    _record(store, dataset, path, sha, taken)
    return taken


def watch_once(store: Store, folder: Path, dataset: str, settle: float = 0.0) -> list[Taken]:
    """One look at the folder: every finished file not taken before, oldest first."""
    store.get_dataset(dataset)  # a wrong name is said before any file is read
    out = []
    for path in candidates(folder, settle):
        if not _seen(store, dataset, path):
            out.append(take(store, dataset, path))
    return out


def watch(
    store: Store,
    folder: Path,
    dataset: str,
    interval: float = 10.0,
    settle: float = 5.0,
    say: Callable[[Taken], None] = print,
    stop: Callable[[], bool] = lambda: False,
) -> None:
    """Look at the folder every `interval` seconds until `stop()` (or the process ends)."""
    while not stop():
        for taken in watch_once(store, folder, dataset, settle):
            say(taken)
        time.sleep(interval)
