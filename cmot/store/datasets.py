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
import json
import os
import shutil
import threading
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import platformdirs
import pyarrow as pa
import pyarrow.parquet as pq

from cmot.errors import CmotError
from cmot.names import ROW_COL, SEGMENT_CODE_COL, SEGMENT_COL, quote_ident, quote_literal
from cmot.spec import JourneySpec, dumps_spec, loads_spec
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


@dataclass(frozen=True)
class ExternalSource:
    """Where an external dataset's rows lie and which engine reads them (cmot.store.external).

    kind: "parquet" (a file, folder or glob) or "table" (a Spark table's name).
    types: the source columns' types (DuckDB's names) its cleaning SQL is planned with.
    files: the Parquet files registering found there (resolved, sorted): what was validated,
    checked again on every read (cmot.store.external.read_files); () for a table, or a dataset of
    a store from before file lists were kept.
    """

    engine: str  # "duckdb" or "spark" (cmot.engine.engines.EngineName)
    kind: str
    location: str
    remote: str | None = None  # sc://host:port of a Spark Connect server; None: local
    types: tuple[tuple[str, str], ...] = ()
    files: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        what = "Spark table" if self.kind == "table" else "Parquet"
        return f"{what} {self.location}"


@dataclass(frozen=True)
class Part:
    """One batch of an appended version (cmot.store.append): its file and where it came from."""

    file: Path
    source_name: str
    source_sha256: str
    row_offset: int  # its first __cmot_row: batches number their rows on from the last
    rows_kept: int
    added_at: datetime


@dataclass(frozen=True)
class DatasetInfo:
    id: int
    name: str
    version: int
    created_at: datetime
    source_name: str
    source_sha256: str
    rows_read: int
    rows_kept: int
    spec: JourneySpec
    report: dict[str, Any]
    file: Path  # the version's Parquet file (a Spark dataset's sample)
    external: ExternalSource | None = None  # rows read in place, not stored
    # An appended version's batches, the first being the version it grew from (each a file
    # never rewritten); () for a version that is its one `file`.
    parts: tuple[Part, ...] = ()

    @property
    def files(self) -> tuple[Path, ...]:
        """The Parquet files holding this version's rows (one unless batches were appended)."""
        return tuple(p.file for p in self.parts) if self.parts else (self.file,)

    @property
    def engine(self) -> str:
        """Where this dataset's sums run: "duckdb" (this process) or "spark"."""
        return self.external.engine if self.external is not None else "duckdb"

    @property
    def sampled(self) -> bool:
        """True when `table` is a seeded sample of the rows (a Spark dataset's), not all."""
        return self.engine == "spark"

    @property
    def table(self) -> str:
        """This version's rows as a DuckDB table expression (`SELECT ... FROM {info.table}`).

        The file itself rather than a view: any process's DuckDB (or any cursor, even one of
        another store) can read it, and the text names the version uniquely, so a cache
        keyed on it can never mix two stores' datasets. An external DuckDB dataset's is its
        cleaning SELECT over the source, read in place: over exactly the files its location
        holds now, expanded and checked again on every access (cmot.store.external.read_files),
        so a file added is read and a file turned into a link out of the allowed folders is
        refused; a Spark dataset's is its sample.
        """
        if self.external is not None and self.external.engine == "duckdb":
            # Lazy: cmot.store.external plans with cmot.ingest.clean, which imports this module.
            from cmot.store.external import duckdb_relation

            return duckdb_relation(self.external, self.spec)
        if self.parts:
            listed = ", ".join(quote_literal(str(f)) for f in self.files)
            return f"read_parquet([{listed}])"
        return f"read_parquet({quote_literal(str(self.file))})"

    @property
    def label(self) -> str:
        return f"{self.name} v{self.version}"


@dataclass(frozen=True)
class SegmentationRecord:
    """A saved segmentation as the store keeps it; cmot.segments.segmentation turns it into a
    Segmentation."""

    mode: str
    method: str
    k: int
    seed: int
    body_json: (
        str  # everything else the segmentation knows, as cmot.segments.segmentation writes it
    )
    names: tuple[str, ...]
    rows: np.ndarray  # __cmot_row of each assigned respondent
    labels: np.ndarray  # its segment, 0 .. k-1


@dataclass(frozen=True)
class Link:
    """Stored datasets linked as waves of one survey, in wave order.

    mapping: per later dataset id, its column -> the first wave's column (columns it does
    not list keep their names).
    """

    id: int
    name: str
    dataset_ids: tuple[int, ...]
    labels: tuple[str, ...]
    mapping: Mapping[int, Mapping[str, str]]


def check_segment_names(names: Sequence[str], k: int) -> tuple[str, ...]:
    """Segment names as stored: one per segment, trimmed, none empty, no two alike."""
    out = tuple(str(n).strip() for n in names)
    if len(out) != k:
        raise CmotError(f"Give exactly {k} segment names, one per segment (got {len(out)}).")
    if any(not n for n in out):
        raise CmotError("Segment names cannot be empty; type a name for every segment.")
    if len(set(out)) != len(out):
        raise CmotError("Segment names must differ from each other; rename the duplicates.")
    return out


def check_batch(con: Any, base: DatasetInfo, sha256: str) -> None:
    """Inside a write(): `base` is still its dataset's latest version, and no version of
    it already holds a batch (or an upload) with these bytes. Raises CmotError."""
    latest = con.execute(
        "SELECT max(version) FROM datasets WHERE name = ?", (base.name,)
    ).fetchone()[0]
    if latest != base.version:
        raise CmotError(
            f"{base.name!r} gained version {latest} while this batch was read (another "
            "batch came first); append it again."
        )
    seen = con.execute(
        "SELECT d.version, p.source_name FROM dataset_parts p JOIN datasets d "
        "ON d.id = p.dataset_id WHERE d.name = ? AND p.source_sha256 = ? "
        "UNION ALL SELECT version, source_name FROM datasets WHERE name = ? "
        "AND source_sha256 = ? ORDER BY 1 LIMIT 1",
        (base.name, sha256, base.name, sha256),
    ).fetchall()
    if seen:
        raise CmotError(
            f"This batch is already in {base.name!r} (the same bytes as "
            f"{seen[0][1]!r}, added in version {seen[0][0]})."
        )


# ---- files ---------------------------------------------------------------------------


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(path: Path) -> None:
    # A rename is durable once its directory is flushed.
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's live process
    return True


def _now() -> str:
    # Naive UTC, to the second: what the pages and the CLI show.
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
        self.parsed: dict[
            int, tuple[JourneySpec, dict[str, Any], ExternalSource | None, tuple[Part, ...]]
        ] = {}
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
            if pid.isdigit() and not _pid_alive(int(pid)):
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


_DATASET_COLUMNS = (
    "id, name, version, created_at, source_name, source_sha256, rows_read, rows_kept, "
    "spec_toml, report_json, file"
)
_SEGMENTATION_COLUMNS = ("id", "dataset_id", "name", "mode", "method", "k", "seed", "created_at")


class Store:
    """The datasets of one store directory; cheap to create, safe to share across threads."""

    def __init__(self, path: str | Path | None = None, *, migrate: bool = True) -> None:
        self.path = Path(path).expanduser() if path is not None else default_store_path()
        self._proc = _process(self.path)
        self._local = threading.local()
        legacy = legacy_db_path(self.path) if migrate else None
        if legacy is not None and self._proc.catalog.meta("migrated_from") is None:
            from cmot.store.migrate import migrate_file  # the old DuckDB layout, read once

            with self.lock("migrate"):  # two servers starting at once migrate once
                if self._proc.catalog.meta("migrated_from") is None:
                    migrate_file(legacy, self)

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

    # ---- reading -------------------------------------------------------------------

    def _info(self, row: tuple[Any, ...]) -> DatasetInfo:
        did = int(row[0])
        parsed = self._proc.parsed.get(did)
        if parsed is None:  # a version never changes: parse its spec and report once
            spec, report = loads_spec(row[8]), json.loads(row[9])
            parsed = (spec, report, self._external(did), self._parts(did))
            self._proc.parsed[did] = parsed
        file = self.path / row[10]
        return DatasetInfo(
            id=did,
            name=row[1],
            version=int(row[2]),
            created_at=datetime.fromisoformat(row[3]),
            source_name=row[4],
            source_sha256=row[5],
            rows_read=int(row[6]),
            rows_kept=int(row[7]),
            spec=parsed[0],
            report=parsed[1],
            file=file,
            external=parsed[2],
            parts=parsed[3],
        )

    def _parts(self, dataset_id: int) -> tuple[Part, ...]:
        sql = (
            "SELECT file, source_name, source_sha256, row_offset, rows_kept, added_at "
            "FROM dataset_parts WHERE dataset_id = ? ORDER BY position"
        )
        return tuple(
            Part(self.path / f, n, h, int(o), int(k), datetime.fromisoformat(a))
            for f, n, h, o, k, a in self.catalog.read(sql, (dataset_id,))
        )

    def _external(self, dataset_id: int) -> ExternalSource | None:
        sql = (
            "SELECT engine, kind, location, remote, types_json FROM external_sources "
            "WHERE dataset_id = ?"
        )
        rows = self.catalog.read(sql, (dataset_id,))
        if not rows:
            return None
        engine, kind, location, remote, types = rows[0]
        pairs = tuple((str(c), str(t)) for c, t in json.loads(types))
        sql = "SELECT path FROM external_files WHERE dataset_id = ? ORDER BY position"
        files = tuple(str(r[0]) for r in self.catalog.read(sql, (dataset_id,)))
        return ExternalSource(engine, kind, location, remote, pairs, files)

    def list_datasets(self, all_versions: bool = False) -> list[DatasetInfo]:
        where = (
            ""
            if all_versions
            else "WHERE version = (SELECT max(version) FROM datasets d2 WHERE d2.name = d.name)"
        )
        sql = f"SELECT {_DATASET_COLUMNS} FROM datasets d {where} ORDER BY name, version"
        return [self._info(r) for r in self.catalog.read(sql)]

    def get_dataset(self, name: str, version: int | None = None) -> DatasetInfo:
        if version is None:
            sql = f"SELECT {_DATASET_COLUMNS} FROM datasets WHERE name = ? ORDER BY version DESC"
            rows = self.catalog.read(sql + " LIMIT 1", (name,))
        else:
            sql = f"SELECT {_DATASET_COLUMNS} FROM datasets WHERE name = ? AND version = ?"
            rows = self.catalog.read(sql, (name, int(version)))
        if not rows:
            known = ", ".join(d.name for d in self.list_datasets()) or "none yet"
            what = name if version is None else f"{name} v{version}"
            raise CmotError(f"No dataset named {what!r}. Stored datasets: {known}.")
        return self._info(rows[0])

    def has_dataset(self, name: str) -> bool:
        sql = "SELECT count(*) FROM datasets WHERE name = ?"
        return bool(self.catalog.read(sql, (name,))[0][0])

    def get_dataset_by_id(self, dataset_id: int) -> DatasetInfo:
        """One dataset version by its id (a link names versions by id)."""
        sql = f"SELECT {_DATASET_COLUMNS} FROM datasets WHERE id = ?"
        rows = self.catalog.read(sql, (int(dataset_id),))
        if not rows:
            raise CmotError(
                f"No dataset version with id {dataset_id}: it was deleted. List the stored "
                "datasets and pick one."
            )
        return self._info(rows[0])

    def read_frame(self, info: DatasetInfo, columns: list[str] | None = None) -> Any:
        """A dataset (or some of its columns) as a pandas frame, for small data and tests."""
        cols = "*" if columns is None else ", ".join(quote_ident(c) for c in columns)
        return self.cursor().execute(f"SELECT {cols} FROM {info.table} ORDER BY {ROW_COL}").df()

    # ---- writing -------------------------------------------------------------------

    def _tmp(self, suffix: str) -> Path:
        # The pid lets the next process tell a live writer's file from a dead one's.
        return self.path / "tmp" / f"{os.getpid()}-{uuid.uuid4().hex}{suffix}"

    def _publish(self, tmp: Path, sub: str, insert: Any) -> Any:
        """Rename a flushed file into `sub`/ and commit the catalog rows `insert` adds, as one.

        `insert(con, file)` runs inside the write transaction and returns what to return. If
        anything fails, the rows roll back and the file goes; if the process dies, recover()
        removes the unnamed file.
        """
        _fsync_file(tmp)
        rel = f"{sub}/{uuid.uuid4().hex}.parquet"
        final = self.path / rel
        try:
            with self.catalog.write() as con:
                out = insert(con, rel)
                os.replace(tmp, final)
                _fsync_dir(final.parent)
        except BaseException:
            final.unlink(missing_ok=True)
            raise
        return out

    def save_dataset(
        self,
        name: str,
        data: pa.Table,
        spec: JourneySpec,
        report: dict[str, Any],
        source_name: str,
        source_sha256: str,
    ) -> DatasetInfo:
        """Save rows given as an Arrow table as a new version of `name`: all or nothing."""
        cur = self.cursor()
        cur.register("cmot_incoming", data)
        try:
            return self.save_query(
                name, "SELECT * FROM cmot_incoming", [], spec, report, source_name, source_sha256
            )
        finally:
            cur.unregister("cmot_incoming")

    def save_query(
        self,
        name: str,
        select: str,
        params: list[Any],
        spec: JourneySpec,
        report: dict[str, Any],
        source_name: str,
        source_sha256: str,
        *,
        created_at: datetime | None = None,
        source: bytes | Path | None = None,
    ) -> DatasetInfo:
        """Save the rows of `select` (run on this thread's cursor) as a new version of `name`.

        The rows go to a Parquet file first (the long part, holding no lock); the version
        number is taken and the file published in one short catalog transaction. `source`,
        the survey file itself (whose sha256 is `source_sha256`), is kept under sources/,
        renamed into place in the same transaction (`source_of` reads it back).
        """
        name = name.strip()
        if not name:
            raise CmotError("Give the dataset a name.")
        cur = self.cursor()
        tmp = self._tmp(".parquet")
        kept_source = self._stage_source(source) if source is not None else None
        try:
            # Row order is kept in ROW_COL; not preserving it lets DuckDB write in parallel.
            cur.execute("SET preserve_insertion_order = false")
            try:
                cur.execute(
                    f"COPY ({select}) TO {quote_literal(str(tmp))} "
                    "(FORMAT parquet, COMPRESSION zstd)",
                    params,
                )
            finally:
                cur.execute("RESET preserve_insertion_order")
            kept = int(pq.ParquetFile(tmp).metadata.num_rows)
            spec_toml, report_json = dumps_spec(spec), json.dumps(report)
            rows_read = int(report.get("rows_read", kept))

            def insert(con: Any, rel: str) -> int:
                version = con.execute(
                    "SELECT coalesce(max(version), 0) + 1 FROM datasets WHERE name = ?", (name,)
                ).fetchone()[0]
                con.execute(
                    "INSERT INTO datasets (name, version, created_at, source_name, "
                    "source_sha256, rows_read, rows_kept, spec_toml, report_json, file) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        name,
                        version,
                        _now() if created_at is None else created_at.isoformat(sep=" "),
                        source_name,
                        source_sha256,
                        rows_read,
                        kept,
                        spec_toml,
                        report_json,
                        rel,
                    ),
                )
                if kept_source is not None:
                    final = self.path / "sources" / source_sha256
                    if not final.exists():
                        os.replace(kept_source, final)
                        _fsync_dir(final.parent)
                return int(version)

            version = self._publish(tmp, "datasets", insert)
        finally:
            tmp.unlink(missing_ok=True)
            if kept_source is not None:
                kept_source.unlink(missing_ok=True)
        return self.get_dataset(name, version)

    def append_query(
        self,
        base: DatasetInfo,
        select: str,
        params: list[Any],
        report: dict[str, Any],
        source_name: str,
        source_sha256: str,
        row_offset: int,
    ) -> DatasetInfo:
        """Save the rows of `select` as one more batch of `base`: a new version whose files
        are `base`'s (shared, not rewritten) and the batch's own, published as `save_query`
        publishes. Refused when `base` is no longer the latest version (another batch came
        first: its rows were numbered from `row_offset`) or when a version of the dataset
        already holds a batch with these bytes (`source_sha256`)."""
        tmp = self._tmp(".parquet")
        try:
            self.cursor().execute(
                f"COPY ({select}) TO {quote_literal(str(tmp))} (FORMAT parquet, COMPRESSION zstd)",
                params,
            )
            kept = int(pq.ParquetFile(tmp).metadata.num_rows)
            first = base.parts or (
                Part(
                    base.file,
                    base.source_name,
                    base.source_sha256,
                    0,
                    base.rows_kept,
                    base.created_at,
                ),
            )

            def insert(con: Any, rel: str) -> int:
                check_batch(con, base, source_sha256)
                now = _now()
                cur = con.execute(
                    "INSERT INTO datasets (name, version, created_at, source_name, "
                    "source_sha256, rows_read, rows_kept, spec_toml, report_json, file) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        base.name,
                        base.version + 1,
                        now,
                        source_name,
                        source_sha256,
                        base.rows_read + int(report.get("rows_read", kept)),
                        base.rows_kept + kept,
                        dumps_spec(base.spec),
                        json.dumps(report),
                        rel,
                    ),
                )
                rows = [
                    (
                        str(p.file.relative_to(self.path)),
                        p.source_name,
                        p.source_sha256,
                        p.row_offset,
                        p.rows_kept,
                        p.added_at.isoformat(sep=" "),
                    )
                    for p in first
                ]
                rows.append((rel, source_name, source_sha256, row_offset, kept, now))
                con.executemany(
                    "INSERT INTO dataset_parts (dataset_id, position, file, source_name, "
                    "source_sha256, row_offset, rows_kept, added_at) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    [(cur.lastrowid, i, *r) for i, r in enumerate(rows)],
                )
                return base.version + 1

            version = self._publish(tmp, "datasets", insert)
        finally:
            tmp.unlink(missing_ok=True)
        return self.get_dataset(base.name, version)

    def _stage_source(self, source: bytes | Path) -> Path:
        """A copy of the survey file under tmp/, flushed, to rename into sources/."""
        tmp = self._tmp(".source")
        if isinstance(source, bytes):
            tmp.write_bytes(source)
        else:
            shutil.copyfile(source, tmp)
        _fsync_file(tmp)
        return tmp

    def source_of(self, info: DatasetInfo) -> bytes | None:
        """The survey file `info` was ingested from, or None: a version saved before files
        were kept, a migrated or external one (whose rows stay where they lie)."""
        if info.external is not None or info.parts:
            return None  # an appended version's rows come from several files (its batches)
        path = self.path / "sources" / info.source_sha256
        try:
            return path.read_bytes()
        except OSError:
            return None

    def save_external(
        self,
        name: str,
        source: ExternalSource,
        spec: JourneySpec,
        report: dict[str, Any],
        sample: pa.Table | None = None,
    ) -> DatasetInfo:
        """Register rows that stay where they lie as a new version of `name`: the catalog
        rows, and a Spark dataset's seeded `sample` (stored layout) as its file."""
        name = name.strip()
        if not name:
            raise CmotError("Give the dataset a name.")
        spec_toml, report_json = dumps_spec(spec), json.dumps(report)
        types_json = json.dumps([list(p) for p in source.types])

        def insert(con: Any, rel: str) -> int:
            version = con.execute(
                "SELECT coalesce(max(version), 0) + 1 FROM datasets WHERE name = ?", (name,)
            ).fetchone()[0]
            cur = con.execute(
                "INSERT INTO datasets (name, version, created_at, source_name, "
                "source_sha256, rows_read, rows_kept, spec_toml, report_json, file) "
                "VALUES (?, ?, ?, ?, '', ?, ?, ?, ?, ?)",
                (
                    name,
                    version,
                    _now(),
                    source.label,
                    int(report["rows_read"]),
                    int(report["rows_kept"]),
                    spec_toml,
                    report_json,
                    rel,
                ),
            )
            con.execute(
                "INSERT INTO external_sources (dataset_id, engine, kind, location, remote, "
                "types_json) VALUES (?, ?, ?, ?, ?, ?)",
                (
                    cur.lastrowid,
                    source.engine,
                    source.kind,
                    source.location,
                    source.remote,
                    types_json,
                ),
            )
            con.executemany(
                "INSERT INTO external_files (dataset_id, position, path) VALUES (?, ?, ?)",
                [(cur.lastrowid, i, f) for i, f in enumerate(source.files)],
            )
            return int(version)

        if sample is None:
            with self.catalog.write() as con:  # no file: the name only keeps `file` unique
                version = insert(con, f"external/{uuid.uuid4().hex}")
            return self.get_dataset(name, version)
        tmp = self._tmp(".parquet")
        try:
            pq.write_table(sample, tmp, compression="zstd")
            version = self._publish(tmp, "samples", insert)
        finally:
            tmp.unlink(missing_ok=True)
        return self.get_dataset(name, version)

    def delete_dataset(self, name: str) -> int:
        """Delete every version of `name` and their segmentations; returns how many versions."""
        with self.catalog.write() as con:
            sql = "SELECT id, file FROM datasets WHERE name = ?"
            versions = con.execute(sql, (name,)).fetchall()
            if not versions:
                raise CmotError(f"No dataset named {name!r}; nothing to delete.")
            ids = [int(i) for i, _ in versions]
            marks = ", ".join("?" for _ in ids)
            segs = con.execute(
                f"SELECT id, file FROM segmentations WHERE dataset_id IN ({marks})", ids
            ).fetchall()
            parts = con.execute(
                f"SELECT dataset_id, file FROM dataset_parts WHERE dataset_id IN ({marks})", ids
            ).fetchall()
            # ON DELETE CASCADE takes the segmentations and their names in this transaction.
            con.execute("DELETE FROM datasets WHERE name = ?", (name,))
            # What was watched and raised under the name goes with it (cmot.feedback.watch, alerts).
            con.execute("DELETE FROM alerts WHERE dataset = ?", (name,))
            con.execute("DELETE FROM watched_files WHERE dataset = ?", (name,))
        # Files go after the commit: a crash in between leaves unnamed files for recover().
        for f in {f for _, f in [*versions, *segs, *parts]}:
            (self.path / f).unlink(missing_ok=True)
        self._drop_unnamed_sources()
        return len(versions)

    def _drop_unnamed_sources(self) -> None:
        """Remove the kept survey files no version names any more (after a delete)."""
        with self.catalog.write() as con:
            shas = {r[0] for r in con.execute("SELECT source_sha256 FROM datasets")}
            for f in (self.path / "sources").iterdir():
                if f.name not in shas:
                    f.unlink(missing_ok=True)

    def rename_dataset(self, old: str, new: str) -> None:
        new = new.strip()
        if not new:
            raise CmotError("Give the dataset a new name.")
        with self.catalog.write() as con:
            if not con.execute("SELECT count(*) FROM datasets WHERE name = ?", (old,)).fetchone()[
                0
            ]:
                raise CmotError(f"No dataset named {old!r}; nothing to rename.")
            taken = con.execute("SELECT count(*) FROM datasets WHERE name = ?", (new,))
            if new != old and taken.fetchone()[0]:
                raise CmotError(
                    f"A dataset named {new!r} exists already; delete it or pick another."
                )
            con.execute("UPDATE datasets SET name = ? WHERE name = ?", (new, old))
            con.execute("UPDATE alerts SET dataset = ? WHERE dataset = ?", (new, old))
            con.execute("UPDATE watched_files SET dataset = ? WHERE dataset = ?", (new, old))

    # ---- segmentations ---------------------------------------------------------------

    def save_segmentation(
        self, dataset_id: int, name: str, record: SegmentationRecord, *, replace: bool = False
    ) -> int:
        """Save a segmentation (settings, names, assignments) with its dataset; returns its id.

        A name already used for the dataset is an error unless `replace`.
        """
        name = name.strip()
        if not name:
            raise CmotError("Give the segmentation a name.")
        names = check_segment_names(list(record.names), record.k)
        keep = np.asarray(record.labels) >= 0
        table = pa.table(
            {
                ROW_COL: pa.array(np.asarray(record.rows)[keep], pa.int64()),
                "segment": pa.array(np.asarray(record.labels)[keep].astype(np.int32), pa.int32()),
            }
        )
        tmp = self._tmp(".parquet")
        old_files: list[tuple[int, str]] = []
        try:
            pq.write_table(table, tmp, compression="zstd")

            def insert(con: Any, rel: str) -> int:
                if not con.execute(
                    "SELECT count(*) FROM datasets WHERE id = ?", (int(dataset_id),)
                ).fetchone()[0]:
                    raise CmotError(f"No dataset with id {dataset_id}; save the dataset first.")
                old = con.execute(
                    "SELECT id, file FROM segmentations WHERE dataset_id = ? AND name = ?",
                    (int(dataset_id), name),
                ).fetchall()
                if old and not replace:
                    raise CmotError(
                        f"This dataset already has a segmentation named {name!r}; "
                        "pick another name or replace it."
                    )
                for oid, ofile in old:
                    con.execute("DELETE FROM segmentations WHERE id = ?", (oid,))
                    old_files.append((int(oid), ofile))
                new_id = con.execute(
                    "INSERT INTO segmentations (dataset_id, name, mode, method, k, seed, "
                    "created_at, body_json, file) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
                    "RETURNING id",
                    (
                        int(dataset_id),
                        name,
                        record.mode,
                        record.method,
                        int(record.k),
                        int(record.seed),
                        _now(),
                        record.body_json,
                        rel,
                    ),
                ).fetchone()[0]
                con.executemany(
                    "INSERT INTO segment_names (segmentation_id, segment, name) VALUES (?, ?, ?)",
                    [(new_id, g, n) for g, n in enumerate(names)],
                )
                return int(new_id)

            seg_id: int = self._publish(tmp, "segmentations", insert)
        finally:
            tmp.unlink(missing_ok=True)
        for _, ofile in old_files:
            (self.path / ofile).unlink(missing_ok=True)
        return seg_id

    def list_segmentations(self, dataset_id: int | None = None) -> pd.DataFrame:
        """id, dataset_id, name, mode, method, k, seed, created_at; newest first."""
        where, params = (
            ("WHERE dataset_id = ?", (int(dataset_id),)) if dataset_id is not None else ("", ())
        )
        rows = self.catalog.read(
            f"SELECT {', '.join(_SEGMENTATION_COLUMNS)} FROM segmentations {where} "
            "ORDER BY created_at DESC, id DESC",
            params,
        )
        frame = pd.DataFrame(rows, columns=list(_SEGMENTATION_COLUMNS))
        frame["created_at"] = pd.to_datetime(frame["created_at"])
        return frame

    def segmentation_id(self, ref: int | tuple[int, str]) -> int:
        """The id of a saved segmentation given by id or by (dataset id, name)."""
        if isinstance(ref, tuple):
            rows = self.catalog.read(
                "SELECT id FROM segmentations WHERE dataset_id = ? AND name = ?",
                (int(ref[0]), ref[1]),
            )
        else:
            rows = self.catalog.read("SELECT id FROM segmentations WHERE id = ?", (int(ref),))
        if not rows:
            raise CmotError(f"No saved segmentation {ref!r}; list the saved ones and pick one.")
        return int(rows[0][0])

    def _segment_names(self, seg_id: int) -> tuple[str, ...]:
        rows = self.catalog.read(
            "SELECT name FROM segment_names WHERE segmentation_id = ? ORDER BY segment", (seg_id,)
        )
        return tuple(r[0] for r in rows)

    def load_segmentation(self, ref: int | tuple[int, str]) -> SegmentationRecord:
        """A saved segmentation with its current names and its assignments in row order."""
        seg_id = self.segmentation_id(ref)
        row = self.catalog.read(
            "SELECT mode, method, k, seed, body_json, file FROM segmentations WHERE id = ?",
            (seg_id,),
        )[0]
        assigned = pq.read_table(self.path / row[5]).sort_by(ROW_COL)
        return SegmentationRecord(
            mode=row[0],
            method=row[1],
            k=int(row[2]),
            seed=int(row[3]),
            body_json=row[4],
            names=self._segment_names(seg_id),
            rows=assigned.column(ROW_COL).to_numpy().astype(np.int64),
            labels=assigned.column("segment").to_numpy().astype(np.int64),
        )

    def delete_segmentation(self, ref: int | tuple[int, str]) -> None:
        seg_id = self.segmentation_id(ref)
        with self.catalog.write() as con:
            files = con.execute("SELECT file FROM segmentations WHERE id = ?", (seg_id,))
            found = files.fetchall()
            con.execute("DELETE FROM segmentations WHERE id = ?", (seg_id,))
        for (f,) in found:
            (self.path / f).unlink(missing_ok=True)

    def rename_segments(self, ref: int | tuple[int, str], renames: Mapping[int, str]) -> None:
        """Give saved segments new names (unique within the segmentation): one transaction."""
        seg_id = self.segmentation_id(ref)
        with self.catalog.write() as con:
            names = [
                r[0]
                for r in con.execute(
                    "SELECT name FROM segment_names WHERE segmentation_id = ? ORDER BY segment",
                    (seg_id,),
                )
            ]
            for segment, new in renames.items():
                if not 0 <= int(segment) < len(names):
                    raise CmotError(
                        f"Segment {segment} does not exist; segments run from 0 to "
                        f"{len(names) - 1}."
                    )
                names[int(segment)] = new
            checked = check_segment_names(names, len(names))
            con.executemany(
                "UPDATE segment_names SET name = ? WHERE segmentation_id = ? AND segment = ?",
                [(checked[int(g)], seg_id, int(g)) for g in renames],
            )

    def segment_sql(self, segmentation_id: int) -> str:
        """A parenthesised SQL subquery giving one row per assigned `__cmot_row`:

            __cmot_row BIGINT, __cmot_segment VARCHAR (the segment's current name),
            __cmot_segment_code INTEGER (0 = largest segment)

        Join it to the dataset to analyse by the saved segmentation, e.g.
        `SELECT s.__cmot_segment, avg(d.__cmot_y) FROM {info.table} d
         JOIN {store.segment_sql(seg_id)} s USING (__cmot_row) GROUP BY 1`.
        The names are written into the text as literals, so a rename changes the text (and
        any cache keyed on it); rows that could not be assigned are absent (LEFT JOIN keeps
        them as NULL).
        """
        sid = int(segmentation_id)
        rows = self.catalog.read("SELECT file FROM segmentations WHERE id = ?", (sid,))
        if not rows:
            raise CmotError(f"No saved segmentation {sid}; list the saved ones and pick one.")
        file = quote_literal(str(self.path / rows[0][0]))
        names = ", ".join(
            f"({g}, {quote_literal(n)})" for g, n in enumerate(self._segment_names(sid))
        )
        return (
            f"(SELECT a.{ROW_COL}, n.name AS {SEGMENT_COL}, a.segment AS {SEGMENT_CODE_COL} "
            f"FROM read_parquet({file}) a JOIN (VALUES {names}) n (segment, name) "
            "ON n.segment = a.segment)"
        )

    # ---- links: stored datasets as waves of one survey ---------------------------------

    def save_link(
        self,
        name: str,
        dataset_ids: Sequence[int],
        labels: Sequence[str],
        mapping: Mapping[int, Mapping[str, str]],
        *,
        replace: bool = False,
    ) -> int:
        """Keep datasets (versions, in wave order) as the waves of `name`; returns its id.

        mapping: per later dataset id, its column -> the first wave's column. replace: an
        existing link of that name is replaced, else it is an error.
        """
        name = name.strip()
        ids = [int(i) for i in dataset_ids]
        labels = [str(x).strip() for x in labels]
        if not name:
            raise CmotError("Give the link a name.")
        if len(ids) < 2:
            raise CmotError("Link two datasets or more: one per wave.")
        if len(set(ids)) != len(ids):
            raise CmotError("A dataset appears twice among the waves; pick each once.")
        if len(labels) != len(ids) or not all(labels) or len(set(labels)) != len(labels):
            raise CmotError(f"Give each of the {len(ids)} waves its own label.")
        unknown = [i for i in mapping if int(i) not in ids[1:]]
        if unknown:
            raise CmotError(
                f"The mapping names dataset ids {unknown} that are not later waves of the link."
            )
        for did, cols in mapping.items():
            targets = list(cols.values())
            if len(set(targets)) != len(targets):
                twice = sorted({t for t in targets if targets.count(t) > 1})
                raise CmotError(
                    f"Two columns of dataset {did} are mapped to the same first-wave column "
                    f"({', '.join(twice)}); map each to its own."
                )
        with self.catalog.write() as con:
            marks = ", ".join("?" for _ in ids)
            found = {
                r[0] for r in con.execute(f"SELECT id FROM datasets WHERE id IN ({marks})", ids)
            }
            if len(found) != len(ids):
                missing = [i for i in ids if i not in found]
                raise CmotError(f"No dataset versions with ids {missing}; they were deleted.")
            old = con.execute("SELECT id FROM links WHERE name = ?", (name,)).fetchall()
            if old and not replace:
                raise CmotError(
                    f"A link named {name!r} exists already; replace it or pick another."
                )
            if old:
                con.execute("DELETE FROM links WHERE id = ?", (old[0][0],))
            link_id = int(
                con.execute(
                    "INSERT INTO links (name, created_at) VALUES (?, ?) RETURNING id",
                    (name, _now()),
                ).fetchone()[0]
            )
            for pos, (did, label) in enumerate(zip(ids, labels, strict=True)):
                cols = {str(k): str(v) for k, v in dict(mapping.get(did, {})).items()}
                con.execute(
                    "INSERT INTO link_waves (link_id, position, dataset_id, label, mapping_json) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (link_id, pos, did, label, json.dumps(cols, sort_keys=True)),
                )
        return link_id

    def list_links(self) -> pd.DataFrame:
        """id, name, datasets ('name vN' in wave order), labels, created_at; by name."""
        # Joined in Python: SQLite's group_concat has no ORDER BY before 3.44.
        waves = self.catalog.read(
            "SELECT l.id, l.name, l.created_at, d.name || ' v' || d.version, w.label "
            "FROM links l JOIN link_waves w ON w.link_id = l.id "
            "JOIN datasets d ON d.id = w.dataset_id ORDER BY l.name, w.position"
        )
        grouped: dict[int, list[Any]] = {}
        for lid, name, created, dataset, label in waves:
            row = grouped.setdefault(lid, [lid, name, [], [], created])
            row[2].append(dataset)
            row[3].append(label)
        rows = [[r[0], r[1], ", ".join(r[2]), ", ".join(r[3]), r[4]] for r in grouped.values()]
        frame = pd.DataFrame(rows, columns=["id", "name", "datasets", "labels", "created_at"])
        frame["created_at"] = pd.to_datetime(frame["created_at"])
        return frame

    def get_link(self, name: str) -> Link:
        rows = self.catalog.read(
            "SELECT l.id, w.dataset_id, w.label, w.mapping_json FROM links l "
            "JOIN link_waves w ON w.link_id = l.id WHERE l.name = ? ORDER BY w.position",
            (name,),
        )
        if not rows:
            known = ", ".join(self.list_links().name) or "none yet"
            raise CmotError(f"No link named {name!r}. Stored links: {known}.")
        mapping = {int(r[1]): json.loads(r[3]) for r in rows[1:]}
        return Link(
            id=int(rows[0][0]),
            name=name,
            dataset_ids=tuple(int(r[1]) for r in rows),
            labels=tuple(str(r[2]) for r in rows),
            mapping=mapping,
        )

    def delete_link(self, name: str) -> None:
        with self.catalog.write() as con:
            if not con.execute("DELETE FROM links WHERE name = ? RETURNING id", (name,)).fetchall():
                raise CmotError(f"No link named {name!r}; nothing to delete.")

    def set_meta(self, key: str, value: str) -> None:
        """Remember one fact about the store (what it was migrated from, and how far)."""
        with self.catalog.write() as con:
            set_meta(con, key, value)
