"""A dataset version as the store describes it, and how the store looks versions up.

`DatasetInfo` is one version: its name and number, spec, report, and where its rows are
(`table`: its Parquet file, its batches' files, or an external source read in place,
cmot.store.sources). `Versions` reads them from the catalog, parsing each version's spec and
report once per process (a version never changes).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from cmot.errors import CmotError
from cmot.names import ROW_COL, quote_ident, quote_literal
from cmot.spec import JourneySpec, loads_spec
from cmot.store.directory import StoreDirectory
from cmot.store.sources import ExternalSource, duckdb_relation


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
        holds now, expanded and checked again on every access (cmot.store.sources.read_files),
        so a file added is read and a file turned into a link out of the allowed folders is
        refused; a Spark dataset's is its sample.
        """
        if self.external is not None and self.external.engine == "duckdb":
            return duckdb_relation(self.external, self.spec)
        if self.parts:
            listed = ", ".join(quote_literal(str(f)) for f in self.files)
            return f"read_parquet([{listed}])"
        return f"read_parquet({quote_literal(str(self.file))})"

    @property
    def label(self) -> str:
        return f"{self.name} v{self.version}"


# What a version's row holds, parsed once: its spec, report, external source and batches.
Parsed = tuple[JourneySpec, dict[str, Any], ExternalSource | None, tuple[Part, ...]]

_DATASET_COLUMNS = (
    "id, name, version, created_at, source_name, source_sha256, rows_read, rows_kept, "
    "spec_toml, report_json, file"
)


class Versions(StoreDirectory):
    """The dataset versions of a store directory, as DatasetInfo (cmot.store.datasets.Store)."""

    def _info(self, row: tuple[Any, ...]) -> DatasetInfo:
        did = int(row[0])
        parsed: Parsed | None = self._proc.parsed.get(did)
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
