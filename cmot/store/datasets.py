"""The store of one directory: `Store`, and how dataset versions are saved, grown, deleted
and renamed.

A version's rows go to a Parquet file under tmp/ first (the long part, holding no lock),
then the file is published with its catalog row in one short transaction
(cmot.store.directory: the layout and why a reader sees a version whole or not at all).
A version is never changed: appending a batch (cmot.store.append) makes a new version
sharing the earlier files, and an external dataset's version names where its rows lie
(cmot.store.external). `Store` also reads versions (cmot.store.versions), keeps saved
segmentations (cmot.store.segmentations) and links (cmot.store.links).
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from cmot.errors import CmotError
from cmot.names import quote_literal
from cmot.spec import JourneySpec, dumps_spec
from cmot.store.directory import fsync_dir, fsync_file, legacy_db_path, now_text
from cmot.store.links import Links
from cmot.store.migrate import migrate_file
from cmot.store.segmentations import Segmentations
from cmot.store.sources import ExternalSource
from cmot.store.versions import DatasetInfo, Part, Versions


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


class Store(Versions, Segmentations, Links):
    """The datasets of one store directory; cheap to create, safe to share across threads."""

    def __init__(self, path: str | Path | None = None, *, migrate: bool = True) -> None:
        super().__init__(path)
        legacy = legacy_db_path(self.path) if migrate else None
        if legacy is not None and self._proc.catalog.meta("migrated_from") is None:
            # The old DuckDB layout, read once.
            with self.lock("migrate"):  # two servers starting at once migrate once
                if self._proc.catalog.meta("migrated_from") is None:
                    migrate_file(legacy, self)

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
                        now_text() if created_at is None else created_at.isoformat(sep=" "),
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
                        fsync_dir(final.parent)
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
                now = now_text()
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
        fsync_file(tmp)
        return tmp

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
                    now_text(),
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
