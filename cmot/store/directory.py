"""The store: immutable Parquet files, a shared catalog, and this process's DuckDB over them.

A store is a directory (`$CMOT_STORE`, else the user's data directory):

    catalog.sqlite            names, versions, specs, reports, segmentations (cmot.store.catalog)
    datasets/<uuid>.parquet   one file per dataset version, never changed once written
    segmentations/<uuid>.parquet   one file per saved segmentation's assignments
    samples/<uuid>.parquet    a Spark dataset's seeded sample (cmot.store.external): its rows stay
                              where they lie, in a Parquet path or a Spark table
    sources/<sha256>          the survey file a version was ingested from, as uploaded, kept
                              while a version names it: its mapping can be edited into a
                              new version without uploading again (cmot.ui.edit)
    tmp/<pid>-...             files being written; a dead process's leftovers are removed

A save writes its file under tmp/, flushes it, and then, inside one catalog transaction,
renames it into place and adds the row that names it: a reader sees the new version
whole or not at all, and a process killed at any point leaves no visible trace (its file
in tmp/, or an unnamed file in datasets/, is removed the next time a process opens the
store). Every process queries the files with its own in-memory DuckDB (`FROM
read_parquet(file)`, see DatasetInfo.table), so reads never block writes or each other,
and the CLI, several app servers and other engines share one store.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import platformdirs

from cmot.errors import CmotError
from cmot.names import quote_literal
from cmot.processes import pid_running
from cmot.store.catalog import Catalog, set_meta

ENV_STORE = "CMOT_STORE"
ENV_DB = "CMOT_DB"  # the single DuckDB file of earlier versions: migrated, never written
LEGACY_DB_FILENAME = "cmot.duckdb"


def _data_dir() -> Path:
    return Path(platformdirs.user_data_dir("cmot", appauthor=False))


def default_store_path() -> Path:
    """$CMOT_STORE if set, else the user's data directory (never the source tree)."""
    env = os.environ.get(ENV_STORE)
    return Path(env).expanduser() if env else _data_dir() / "store"


def legacy_db_path(store: Path) -> Path | None:
    """The single-file store of earlier versions to migrate into `store`, if there is one.

    $CMOT_DB names it; without it, the old default file is migrated into the default store
    only (a store elsewhere, such as a test's, never picks up the user's old file).
    """
    env = os.environ.get(ENV_DB)
    if env:
        path = Path(env).expanduser()
    elif store.resolve() == (_data_dir() / "store").resolve():
        path = _data_dir() / LEGACY_DB_FILENAME
    else:
        return None
    return path if path.is_file() else None


# ---- files ---------------------------------------------------------------------------


def fsync_file(path: Path) -> None:
    """Flush a written file to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(path: Path) -> None:
    """Flush a folder to disk: a rename into it is durable once it is flushed."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def now_text() -> str:
    """Now as the catalog writes it: naive UTC, to the second (what the pages and the CLI
    show)."""
    return datetime.now(UTC).replace(tzinfo=None, microsecond=0).isoformat(sep=" ")


# ---- one per process and store directory ----------------------------------------------


class _Process:
    """This process's view of one store: its DuckDB, its catalog handle, what it has parsed."""

    def __init__(self, root: Path) -> None:
        self.root = root
        for sub in ("datasets", "segmentations", "samples", "sources", "tmp"):
            (root / sub).mkdir(parents=True, exist_ok=True)
        self.catalog = Catalog(root)
        self.duck = duckdb.connect(":memory:")
        # Spills of big queries go under tmp/, named by this process so a crash is cleaned up.
        spill = quote_literal(str(root / "tmp" / f"{os.getpid()}-duckdb"))
        self.duck.execute(f"SET temp_directory = {spill}")
        self.duck.execute("SET parquet_metadata_cache = true")  # the files never change
        # Per version id, what cmot.store.versions parses of it once (a version never changes).
        self.parsed: dict[int, Any] = {}
        self.recover()

    def recover(self) -> None:
        """Remove what interrupted saves left: unnamed data files and dead processes' tmp/."""
        # Under the catalog's write lock no save is between its rename and its commit, so a
        # file no row names belongs to a save that failed or was killed.
        with self.catalog.write() as con:
            named = {r[0] for r in con.execute("SELECT file FROM datasets")}
            named |= {r[0] for r in con.execute("SELECT file FROM segmentations")}
            named |= {r[0] for r in con.execute("SELECT file FROM dataset_parts")}
            for sub in ("datasets", "segmentations", "samples"):
                for f in (self.root / sub).glob("*.parquet"):
                    if f"{sub}/{f.name}" not in named:
                        f.unlink(missing_ok=True)
            # A source is renamed into sources/ inside its version's transaction, like the
            # version's file: one no row names was left by a save that failed.
            shas = {r[0] for r in con.execute("SELECT source_sha256 FROM datasets")}
            for f in (self.root / "sources").iterdir():
                if f.name not in shas:
                    f.unlink(missing_ok=True)
        for f in (self.root / "tmp").iterdir():
            pid = f.name.split("-", 1)[0]
            if pid.isdigit() and not pid_running(int(pid)):
                if f.is_dir():
                    for g in f.iterdir():
                        g.unlink(missing_ok=True)
                    f.rmdir()
                else:
                    f.unlink(missing_ok=True)

    def close(self) -> None:
        self.duck.close()
        self.catalog.close()


_PROCESS_LOCK = threading.Lock()
_PROCESSES: dict[str, _Process] = {}


def _process(root: Path) -> _Process:
    key = str(root.resolve())
    with _PROCESS_LOCK:
        proc = _PROCESSES.get(key)
        if proc is None:
            if root.exists() and not root.is_dir():
                raise CmotError(
                    f"The store {root} is a file, not a folder. Since cmot 0.3 a store is a "
                    f"folder: set {ENV_STORE} to a folder; an old single-file store is migrated "
                    f"with `python -m cmot migrate --from {root}`."
                )
            try:
                proc = _Process(root)
            except OSError as e:
                raise CmotError(
                    f"Cannot open the dataset store {root}: {e}. Check that the folder is "
                    f"writable, or point {ENV_STORE} elsewhere."
                ) from None
            _PROCESSES[key] = proc
        return proc


def close_all() -> None:
    """Forget every store this process opened (tests simulate a restart with this)."""
    with _PROCESS_LOCK:
        for proc in _PROCESSES.values():
            proc.close()
        _PROCESSES.clear()


class StoreDirectory:
    """One store directory as this process sees it: its DuckDB cursors and catalog, the
    locks every process shares, and the publishing of a written file (cmot.store.datasets.Store
    builds on it)."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path).expanduser() if path is not None else default_store_path()
        self._proc = _process(self.path)
        self._local = threading.local()

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """This thread's cursor on this process's in-memory DuckDB."""
        cur = getattr(self._local, "cursor", None)
        if cur is None:
            cur = self._proc.duck.cursor()
            self._local.cursor = cur
        return cur

    @property
    def catalog(self) -> Catalog:
        return self._proc.catalog

    @contextlib.contextmanager
    def lock(self, name: str) -> Iterator[None]:
        """A lock every process on this store shares (e.g. loading the demo once)."""
        with (self.path / f".{name}.lock").open("a") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)

    def _tmp(self, suffix: str) -> Path:
        # The pid lets the next process tell a live writer's file from a dead one's.
        return self.path / "tmp" / f"{os.getpid()}-{uuid.uuid4().hex}{suffix}"

    def _publish(self, tmp: Path, sub: str, insert: Any) -> Any:
        """Rename a flushed file into `sub`/ and commit the catalog rows `insert` adds, as one.

        `insert(con, file)` runs inside the write transaction and returns what to return. If
        anything fails, the rows roll back and the file goes; if the process dies, recover()
        removes the unnamed file.
        """
        fsync_file(tmp)
        rel = f"{sub}/{uuid.uuid4().hex}.parquet"
        final = self.path / rel
        try:
            with self.catalog.write() as con:
                out = insert(con, rel)
                os.replace(tmp, final)
                fsync_dir(final.parent)
        except BaseException:
            final.unlink(missing_ok=True)
            raise
        return out

    def set_meta(self, key: str, value: str) -> None:
        """Remember one fact about the store (what it was migrated from, and how far)."""
        with self.catalog.write() as con:
            set_meta(con, key, value)
