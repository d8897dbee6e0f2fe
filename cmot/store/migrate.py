"""Migrate a single-file DuckDB store (cmot 0.2, `$CMOT_DB`) into a store directory.

Runs on first use of a store when `$CMOT_DB` names an old file (or the old default file sits
beside the default store), or by `python -m cmot migrate --from FILE`. The old file is only
read, never changed: keep it until the migrated store is checked, then delete it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

import duckdb
import numpy as np

from cmot.errors import CmotError
from cmot.names import ROW_COL, quote_ident, quote_literal
from cmot.spec import JourneySpec, loads_spec
from cmot.store.catalog import Catalog
from cmot.store.segmentations import SegmentationRecord
from cmot.store.versions import DatasetInfo


class Target(Protocol):
    """What migrating needs of the store it fills (cmot.store.datasets.Store, whose
    constructor migrates an old file on first use)."""

    @property
    def catalog(self) -> Catalog: ...

    def cursor(self) -> duckdb.DuckDBPyConnection: ...

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
    ) -> DatasetInfo: ...

    def save_segmentation(
        self, dataset_id: int, name: str, record: SegmentationRecord, *, replace: bool = False
    ) -> int: ...

    def set_meta(self, key: str, value: str) -> None: ...


@dataclass(frozen=True)
class Migration:
    source: Path
    datasets: int  # dataset versions copied
    segmentations: int
    skipped: int  # versions an earlier, interrupted run had copied already


def _done_key(source: Path, old_id: int) -> str:
    return f"migrated:{source}:{old_id}"


def migrate_file(source: str | Path, store: Target) -> Migration:
    """Copy every dataset version and saved segmentation of `source` into `store`.

    Each version is saved through the store's one write path (a new Parquet file and its
    catalog row), keeping its name, version order, creation time, spec and report. A run
    that was interrupted resumes: versions already copied are remembered in the catalog.
    """
    source = Path(source).expanduser().resolve()
    if not source.is_file():
        raise CmotError(f"No old store file at {source}; give the path of a cmot .duckdb file.")
    cur = store.cursor()
    try:
        cur.execute(f"ATTACH {quote_literal(str(source))} AS cmot_legacy (READ_ONLY)")
    except duckdb.Error as e:
        raise CmotError(
            f"Cannot read the old store {source}: {e}. If a cmot server of an earlier version "
            "still runs on it, stop that server and try again."
        ) from None
    try:
        tables = {
            r[0]
            for r in cur.execute(
                "SELECT table_name FROM duckdb_tables() WHERE database_name = 'cmot_legacy'"
            ).fetchall()
        }
        if "cmot_datasets" not in tables:
            raise CmotError(f"{source} is not a cmot store (it has no dataset registry).")
        rows = cur.execute(
            "SELECT id, name, version, created_at, source_name, source_sha256, rows_read, "
            "spec_toml, report_json FROM cmot_legacy.cmot_datasets ORDER BY id"
        ).fetchall()
        copied = skipped = segs = 0
        new_ids: dict[int, int] = {}
        for old_id, name, _version, created, src, sha, rows_read, spec_toml, report_json in rows:
            done = store.catalog.meta(_done_key(source, old_id))
            if done is not None:
                new_ids[old_id] = int(done)
                skipped += 1
                continue
            report = {**json.loads(report_json), "rows_read": rows_read}
            table = f"cmot_legacy.main.{quote_ident(f'ds_{int(old_id)}')}"
            info = store.save_query(
                name,
                f"SELECT * FROM {table}",
                [],
                loads_spec(spec_toml),
                report,
                src,
                sha,
                created_at=created,
            )
            new_ids[old_id] = info.id
            store.set_meta(_done_key(source, old_id), str(info.id))
            copied += 1
        if "cmot_segmentations" in tables:
            segs = _migrate_segmentations(cur, store, source, new_ids)
    finally:
        cur.execute("DETACH cmot_legacy")
    store.set_meta("migrated_from", str(source))
    return Migration(source, copied, segs, skipped)


def _migrate_segmentations(
    cur: duckdb.DuckDBPyConnection, store: Target, source: Path, new_ids: dict[int, int]
) -> int:
    n = 0
    for sid, did, name, mode, method, k, seed, body in cur.execute(
        "SELECT id, dataset_id, name, mode, method, k, seed, body_json "
        "FROM cmot_legacy.cmot_segmentations ORDER BY id"
    ).fetchall():
        key = f"migrated:{source}:segmentation:{sid}"
        if did not in new_ids or store.catalog.meta(key) is not None:
            continue
        names = tuple(
            r[0]
            for r in cur.execute(
                "SELECT name FROM cmot_legacy.cmot_segment_names WHERE segmentation_id = ? "
                "ORDER BY segment",
                [sid],
            ).fetchall()
        )
        got = cur.execute(
            f"SELECT {ROW_COL}, segment FROM cmot_legacy.cmot_segment_assignments "
            f"WHERE segmentation_id = ? ORDER BY {ROW_COL}",
            [sid],
        ).fetchnumpy()
        record = SegmentationRecord(
            mode=mode,
            method=method,
            k=int(k),
            seed=int(seed),
            body_json=body,
            names=names,
            rows=np.asarray(got[ROW_COL], dtype=np.int64),
            labels=np.asarray(got["segment"], dtype=np.int64),
        )
        store.save_segmentation(new_ids[did], name, record, replace=True)
        store.set_meta(key, "1")
        n += 1
    return n
