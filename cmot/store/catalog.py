"""The catalog: names, versions, specs, reports and segmentations, shared by every process.

SQLite in WAL mode (the standard library's `sqlite3`) in the store directory. Readers never
block the one writer and see only committed rows; writers queue on SQLite's own lock
(`BEGIN IMMEDIATE` with a busy timeout), across threads and processes alike. The data itself
lives in Parquet files beside it (cmot.store.datasets); a row names its file.

Everything that speaks SQLite is in this module and in plain SQL, so that a server database
(PostgreSQL, for several hosts) could replace it: see docs/ARCHITECTURE.md.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from cmot.errors import CmotError

CATALOG_FILENAME = "catalog.sqlite"
BUSY_TIMEOUT_S = 60.0  # a writer waits this long for another process's transaction

_SCHEMA = """
CREATE TABLE IF NOT EXISTS datasets (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    name          TEXT NOT NULL,
    version       INTEGER NOT NULL,
    created_at    TEXT NOT NULL,
    source_name   TEXT NOT NULL,
    source_sha256 TEXT NOT NULL,
    rows_read     INTEGER NOT NULL,
    rows_kept     INTEGER NOT NULL,
    spec_toml     TEXT NOT NULL,
    report_json   TEXT NOT NULL,
    file          TEXT NOT NULL UNIQUE,
    UNIQUE (name, version)
);
CREATE TABLE IF NOT EXISTS segmentations (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    dataset_id  INTEGER NOT NULL REFERENCES datasets (id) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    mode        TEXT NOT NULL,
    method      TEXT NOT NULL,
    k           INTEGER NOT NULL,
    seed        INTEGER NOT NULL,
    created_at  TEXT NOT NULL,
    body_json   TEXT NOT NULL,
    file        TEXT NOT NULL UNIQUE,
    UNIQUE (dataset_id, name)
);
CREATE TABLE IF NOT EXISTS segment_names (
    segmentation_id INTEGER NOT NULL REFERENCES segmentations (id) ON DELETE CASCADE,
    segment         INTEGER NOT NULL,
    name            TEXT NOT NULL,
    PRIMARY KEY (segmentation_id, segment)
);
-- Stored datasets linked as waves of one survey (cmot.store.datasets.Store.save_link): each wave's
-- dataset version, label and column mapping (its column -> the first wave's, as JSON).
CREATE TABLE IF NOT EXISTS links (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    name       TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS link_waves (
    link_id      INTEGER NOT NULL REFERENCES links (id) ON DELETE CASCADE,
    position     INTEGER NOT NULL,
    dataset_id   INTEGER NOT NULL REFERENCES datasets (id) ON DELETE CASCADE,
    label        TEXT NOT NULL,
    mapping_json TEXT NOT NULL,
    PRIMARY KEY (link_id, position)
);
-- Deleting a dataset deletes every link it is a wave of, in the same transaction: a link
-- with a wave missing is no longer the survey the analyst confirmed.
CREATE TRIGGER IF NOT EXISTS links_of_deleted_dataset BEFORE DELETE ON datasets
BEGIN
    DELETE FROM links WHERE id IN (SELECT link_id FROM link_waves WHERE dataset_id = OLD.id);
END;
-- An external dataset (cmot.store.external): rows read in place from a Parquet path or glob, or a
-- Spark table, through its engine; `types` (JSON) are the source columns' types its cleaning
-- SQL was planned with. Its datasets row's file is the seeded sample a Spark dataset's
-- respondent-level views read, or a name no file has (a DuckDB one reads the source itself).
CREATE TABLE IF NOT EXISTS external_sources (
    dataset_id INTEGER PRIMARY KEY REFERENCES datasets (id) ON DELETE CASCADE,
    engine     TEXT NOT NULL,
    kind       TEXT NOT NULL,
    location   TEXT NOT NULL,
    remote     TEXT,
    types_json TEXT NOT NULL
);
-- The Parquet files registering an external dataset found at its location, resolved (links
-- followed): what was validated, checked again on every read (cmot.store.sources.read_files).
-- A store of an earlier version gains the table on open; its datasets have no rows here.
CREATE TABLE IF NOT EXISTS external_files (
    dataset_id INTEGER NOT NULL REFERENCES datasets (id) ON DELETE CASCADE,
    position   INTEGER NOT NULL,
    path       TEXT NOT NULL,
    PRIMARY KEY (dataset_id, position)
);
-- An appended version's files (cmot.store.append): every batch's Parquet file in order, the
-- first the version it grew from, so a new batch adds one file and rewrites none. A version
-- with no rows here is its one `file`. `source_sha256` is each batch's content hash (the same
-- batch twice is refused); `row_offset` its first __cmot_row; `rows_kept` its rows.
CREATE TABLE IF NOT EXISTS dataset_parts (
    dataset_id    INTEGER NOT NULL REFERENCES datasets (id) ON DELETE CASCADE,
    position      INTEGER NOT NULL,
    file          TEXT NOT NULL,
    source_name   TEXT NOT NULL,
    source_sha256 TEXT NOT NULL,
    row_offset    INTEGER NOT NULL,
    rows_kept     INTEGER NOT NULL,
    added_at      TEXT NOT NULL,
    PRIMARY KEY (dataset_id, position)
);
-- Files `python -m cmot watch` took from a folder (cmot.feedback.watch), by path, size and time:
-- each is appended once, and a refused one is not tried again until it changes.
CREATE TABLE IF NOT EXISTS watched_files (
    dataset   TEXT NOT NULL,
    path      TEXT NOT NULL,
    size      INTEGER NOT NULL,
    mtime_ns  INTEGER NOT NULL,
    sha256    TEXT NOT NULL,
    outcome   TEXT NOT NULL,
    message   TEXT NOT NULL,
    version   INTEGER,
    seen_at   TEXT NOT NULL,
    PRIMARY KEY (dataset, path, size, mtime_ns)
);
-- Alerts raised by watching a dataset's moments (cmot.feedback.alert_log): the version that raised
-- each, what it says, and who acknowledged it when.
CREATE TABLE IF NOT EXISTS alerts (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    dataset         TEXT NOT NULL,
    dataset_id      INTEGER NOT NULL,
    kind            TEXT NOT NULL,
    segment         TEXT NOT NULL,
    touchpoint      TEXT NOT NULL,
    column_name     TEXT NOT NULL,
    period          TEXT NOT NULL,
    position        INTEGER NOT NULL,
    value           REAL,
    baseline        REAL,
    q               REAL,
    sentence        TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    acknowledged_at TEXT,
    acknowledged_by TEXT,
    UNIQUE (dataset, kind, segment, column_name, period)
);
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""


class _Lease:
    """A thread's hold on one pooled connection: when the thread ends, its thread-local
    data goes and with it this lease, whose finalizer puts the connection back."""

    def __init__(self, con: sqlite3.Connection, idle: list[sqlite3.Connection]) -> None:
        self.con = con
        self.returned = weakref.finalize(self, idle.append, con)


class Catalog:
    """One catalog file; a connection per thread at a time (sqlite3 connections are not
    shared), kept for the next thread when its thread ends.

    Streamlit runs every script run in a thread of its own: a connection per thread was a
    new connection and three PRAGMAs on every page switch (~0.5 ms of CPU). A connection is
    only ever used by the one thread holding it; a thread ends outside any transaction
    (`write` commits or rolls back before it returns).
    """

    def __init__(self, directory: Path) -> None:
        self.path = directory / CATALOG_FILENAME
        self._local = threading.local()
        self._idle: list[sqlite3.Connection] = []  # list.pop and append are atomic
        # Idempotent, and serialised by SQLite's lock when several processes start at once.
        self._connect().executescript("BEGIN IMMEDIATE;" + _SCHEMA + "COMMIT;")

    def _connect(self) -> sqlite3.Connection:
        lease: _Lease | None = getattr(self._local, "lease", None)
        if lease is not None:
            return lease.con
        try:
            con = self._idle.pop()
        except IndexError:
            con = self._open()
        self._local.lease = _Lease(con, self._idle)
        return con

    def _open(self) -> sqlite3.Connection:
        try:
            # isolation_level=None: we issue BEGIN ourselves, so a transaction is exactly
            # the statements between BEGIN and COMMIT, never an implicit one.
            # check_same_thread=False: a connection passes to another thread only when
            # the thread that held it has ended (_Lease).
            con = sqlite3.connect(
                self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
            )
            con.execute("PRAGMA journal_mode = WAL")
            # FULL: a committed save survives power loss too, not only a killed process.
            con.execute("PRAGMA synchronous = FULL")
            con.execute("PRAGMA foreign_keys = ON")
        except sqlite3.Error as e:
            raise CmotError(
                f"Cannot open the store's catalog {self.path}: {e}. Check that the folder "
                "is writable and holds a cmot store, or point CMOT_STORE elsewhere."
            ) from None
        return con

    def close(self) -> None:
        """Close this thread's connection, and those kept for other threads (a restart in
        tests)."""
        lease: _Lease | None = getattr(self._local, "lease", None)
        if lease is not None:
            lease.returned.detach()
            lease.con.close()
            self._local.lease = None
        while self._idle:
            self._idle.pop().close()

    # ---- the one transaction helper -------------------------------------------------

    @contextlib.contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """A write transaction: all of it commits, or none of it (an exception rolls back).

        BEGIN IMMEDIATE takes SQLite's write lock at once, so a read-then-write (the next
        version number) cannot interleave with another writer, in this process or another.
        """
        con = self._connect()
        try:
            con.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as e:
            raise CmotError(
                f"The store is busy (another save has held it for {BUSY_TIMEOUT_S:.0f} s): {e}. "
                "Try again in a moment."
            ) from None
        try:
            yield con
            con.execute("COMMIT")
        except BaseException:
            if con.in_transaction:
                con.execute("ROLLBACK")
            raise

    def read(self, sql: str, params: tuple[Any, ...] | list[Any] = ()) -> list[tuple[Any, ...]]:
        """Rows of one query, outside any transaction: a snapshot of what has committed."""
        return self._connect().execute(sql, params).fetchall()

    # ---- meta ------------------------------------------------------------------------

    def meta(self, key: str) -> str | None:
        rows = self.read("SELECT value FROM meta WHERE key = ?", (key,))
        return rows[0][0] if rows else None


def set_meta(con: sqlite3.Connection, key: str, value: str) -> None:
    """Inside a write(): remember one setting of the store (e.g. what it was migrated from)."""
    con.execute(
        "INSERT INTO meta (key, value) VALUES (?, ?) "
        "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (key, value),
    )
