"""DuckDB store: a registry of versioned datasets, atomic saves, one connection per process."""

from __future__ import annotations

import contextlib
import json
import os
import threading
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import platformdirs
import pyarrow as pa

from cmot.errors import CmotError
from cmot.spec import JourneySpec, dumps_spec, loads_spec

ENV_DB = "CMOT_DB"

# Every stored dataset table has these derived columns besides the user's own
# (touchpoints as TINYINT with NULL = missing, attributes as read or labelled):
ROW_COL = "__cmot_row"  # BIGINT, 0-based position in the source file
ID_COL = "__cmot_id"  # VARCHAR respondent id (the row number when the file has none)
Y_COL = "__cmot_y"  # DOUBLE outcome: 1/0 for binary, the score for scale and recommend
W_COL = "__cmot_w"  # DOUBLE survey weight, 1.0 when the file has none
DERIVED_COLUMNS = (ROW_COL, ID_COL, Y_COL, W_COL)
DB_FILENAME = "cmot.duckdb"

_REGISTRY_DDL = """
CREATE SEQUENCE IF NOT EXISTS cmot_dataset_id START 1;
CREATE TABLE IF NOT EXISTS cmot_datasets (
    id           BIGINT PRIMARY KEY,
    name         VARCHAR NOT NULL,
    version      INTEGER NOT NULL,
    created_at   TIMESTAMP NOT NULL,
    source_name  VARCHAR NOT NULL,
    source_sha256 VARCHAR NOT NULL,
    rows_read    BIGINT NOT NULL,
    rows_kept    BIGINT NOT NULL,
    spec_toml    VARCHAR NOT NULL,
    report_json  VARCHAR NOT NULL,
    UNIQUE (name, version)
);
"""


def quote_ident(name: str) -> str:
    """The one way a user's column or table name enters SQL: as a quoted identifier."""
    if "\x00" in name:
        raise CmotError(f"The name {name!r} contains a NUL character; rename it.")
    return '"' + name.replace('"', '""') + '"'


def default_db_path() -> Path:
    """$CMOT_DB if set, else the user's data directory (never the source tree)."""
    env = os.environ.get(ENV_DB)
    if env:
        return Path(env).expanduser()
    return Path(platformdirs.user_data_dir("cmot", appauthor=False)) / DB_FILENAME


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

    @property
    def table(self) -> str:
        """The quoted table holding this version's rows."""
        return quote_ident(table_name(self.id))

    @property
    def label(self) -> str:
        return f"{self.name} v{self.version}"


def table_name(dataset_id: int) -> str:
    return f"ds_{int(dataset_id)}"


_PROCESS_LOCK = threading.Lock()
_WRITE_LOCK = threading.RLock()
_CONNECTIONS: dict[str, duckdb.DuckDBPyConnection] = {}


def _process_connection(path: Path) -> duckdb.DuckDBPyConnection:
    # DuckDB allows one read-write instance per file and process; every thread
    # shares it through its own cursor.
    key = str(path.resolve())
    with _PROCESS_LOCK:
        con = _CONNECTIONS.get(key)
        if con is None:
            path.parent.mkdir(parents=True, exist_ok=True)
            try:
                con = duckdb.connect(key)
            except duckdb.Error as e:
                raise CmotError(
                    f"Cannot open the dataset store {key}: {e}. Check that the file is a cmot "
                    f"store and that no other program holds it, or point {ENV_DB} elsewhere."
                ) from None
            con.execute(_REGISTRY_DDL)
            _CONNECTIONS[key] = con
        return con


def close_all() -> None:
    """Close every process connection (tests simulate a restart with this)."""
    with _PROCESS_LOCK:
        for con in _CONNECTIONS.values():
            con.close()
        _CONNECTIONS.clear()


_COLUMNS = (
    "id, name, version, created_at, source_name, source_sha256, rows_read, rows_kept, "
    "spec_toml, report_json"
)


def _info(row: tuple[Any, ...]) -> DatasetInfo:
    return DatasetInfo(
        id=row[0],
        name=row[1],
        version=row[2],
        created_at=row[3],
        source_name=row[4],
        source_sha256=row[5],
        rows_read=row[6],
        rows_kept=row[7],
        spec=loads_spec(row[8]),
        report=json.loads(row[9]),
    )


# Tables (made by cmot.segments) whose rows belong to a dataset version, child first:
# (table, SQL selecting its rows of the datasets bound as a list).
_DEPENDENTS = (
    (
        "cmot_segment_assignments",
        "segmentation_id IN (SELECT id FROM cmot_segmentations WHERE list_contains(?, dataset_id))",
    ),
    (
        "cmot_segment_names",
        "segmentation_id IN (SELECT id FROM cmot_segmentations WHERE list_contains(?, dataset_id))",
    ),
    ("cmot_segmentations", "list_contains(?, dataset_id)"),
)


def _delete_dependents(cur: duckdb.DuckDBPyConnection, dataset_ids: list[int]) -> None:
    """Saved segmentations go with their dataset, in the caller's transaction."""
    present = {r[0] for r in cur.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
    for table, where in _DEPENDENTS:
        if table in present:
            cur.execute(f"DELETE FROM {table} WHERE {where}", [dataset_ids])


def _rollback(cur: duckdb.DuckDBPyConnection) -> None:
    # A failed COMMIT has already rolled back; a second ROLLBACK would mask the real error.
    with contextlib.suppress(duckdb.TransactionException):
        cur.execute("ROLLBACK")


class Store:
    """The datasets of one DuckDB file; cheap to create, safe to share across threads."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path).expanduser() if path is not None else default_db_path()
        self._local = threading.local()
        _process_connection(self.path)

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """This thread's cursor on the process connection."""
        cur = getattr(self._local, "cursor", None)
        if cur is None:
            cur = _process_connection(self.path).cursor()
            self._local.cursor = cur
        return cur

    # ---- reading -------------------------------------------------------------------

    def list_datasets(self, all_versions: bool = False) -> list[DatasetInfo]:
        where = (
            ""
            if all_versions
            else "WHERE version = "
            "(SELECT max(version) FROM cmot_datasets d2 WHERE d2.name = d.name)"
        )
        rows = (
            self.cursor()
            .execute(f"SELECT {_COLUMNS} FROM cmot_datasets d {where} ORDER BY name, version")
            .fetchall()
        )
        return [_info(r) for r in rows]

    def get_dataset(self, name: str, version: int | None = None) -> DatasetInfo:
        if version is None:
            sql = (
                f"SELECT {_COLUMNS} FROM cmot_datasets WHERE name = ? ORDER BY version DESC LIMIT 1"
            )
            rows = self.cursor().execute(sql, [name]).fetchall()
        else:
            sql = f"SELECT {_COLUMNS} FROM cmot_datasets WHERE name = ? AND version = ?"
            rows = self.cursor().execute(sql, [name, version]).fetchall()
        if not rows:
            known = ", ".join(d.name for d in self.list_datasets()) or "none yet"
            what = name if version is None else f"{name} v{version}"
            raise CmotError(f"No dataset named {what!r}. Stored datasets: {known}.")
        return _info(rows[0])

    def has_dataset(self, name: str) -> bool:
        sql = "SELECT count(*) FROM cmot_datasets WHERE name = ?"
        return bool(self.cursor().execute(sql, [name]).fetchall()[0][0])

    def read_frame(self, info: DatasetInfo, columns: list[str] | None = None) -> Any:
        """A dataset (or some of its columns) as a pandas frame, for small data and tests."""
        cols = "*" if columns is None else ", ".join(quote_ident(c) for c in columns)
        return self.cursor().execute(f"SELECT {cols} FROM {info.table} ORDER BY {ROW_COL}").df()

    # ---- writing -------------------------------------------------------------------

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
    ) -> DatasetInfo:
        """Save the rows of `select` (run on this thread's cursor) as a new version of `name`.

        One transaction: the data table and its registry row land together or not at all.
        """
        name = name.strip()
        if not name:
            raise CmotError("Give the dataset a name.")
        cur = self.cursor()
        # Writers queue on one process lock: version numbers are read-then-written, and
        # DuckDB would abort the second of two concurrent writers anyway.
        with _WRITE_LOCK:
            cur.execute("BEGIN TRANSACTION")
            try:
                new_id = cur.execute("SELECT nextval('cmot_dataset_id')").fetchall()[0][0]
                version = cur.execute(
                    "SELECT coalesce(max(version), 0) + 1 FROM cmot_datasets WHERE name = ?",
                    [name],
                ).fetchall()[0][0]
                table = quote_ident(table_name(new_id))
                # Row order is kept in ROW_COL; not preserving it lets DuckDB write in parallel.
                cur.execute("SET preserve_insertion_order = false")
                try:
                    cur.execute(f"CREATE TABLE {table} AS {select}", params)
                finally:
                    cur.execute("RESET preserve_insertion_order")
                kept = cur.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0]
                cur.execute(
                    f"INSERT INTO cmot_datasets ({_COLUMNS}) "
                    "VALUES (?, ?, ?, now()::TIMESTAMP, ?, ?, ?, ?, ?, ?)",
                    [
                        new_id,
                        name,
                        version,
                        source_name,
                        source_sha256,
                        int(report.get("rows_read", kept)),
                        kept,
                        dumps_spec(spec),
                        json.dumps(report),
                    ],
                )
                cur.execute("COMMIT")
            except BaseException:
                _rollback(cur)
                raise
        return self.get_dataset(name, version)

    def delete_dataset(self, name: str) -> int:
        """Delete every version of `name`; returns how many versions went."""
        versions = [d for d in self.list_datasets(all_versions=True) if d.name == name]
        if not versions:
            self.get_dataset(name)  # raises the helpful error
        cur = self.cursor()
        with _WRITE_LOCK:
            cur.execute("BEGIN TRANSACTION")
            try:
                for d in versions:
                    cur.execute(f"DROP TABLE IF EXISTS {d.table}")
                cur.execute("DELETE FROM cmot_datasets WHERE name = ?", [name])
                _delete_dependents(cur, [d.id for d in versions])
                cur.execute("COMMIT")
            except BaseException:
                _rollback(cur)
                raise
        return len(versions)

    def rename_dataset(self, old: str, new: str) -> None:
        new = new.strip()
        if not new:
            raise CmotError("Give the dataset a new name.")
        with _WRITE_LOCK:
            self.get_dataset(old)
            if new != old and self.has_dataset(new):
                raise CmotError(
                    f"A dataset named {new!r} exists already; delete it or pick another."
                )
            self.cursor().execute("UPDATE cmot_datasets SET name = ? WHERE name = ?", [new, old])
