"""Append: new responses added to a stored dataset as one more batch, nothing rewritten.

A batch is a survey file with the dataset's columns. It is read, mapped with the stored
spec and validated as an upload is (the same `ValidationReport`), then checked against
what is stored: its columns' types must fit the stored ones, no respondent id may repeat
one already stored, and the same bytes are never added twice (by sha256). Its rows are
numbered on from the last stored row (`__cmot_row`), written to one new Parquet file and
published as a new version whose files are the earlier version's plus this one
(`Store.append_query`, the `dataset_parts` table): an append costs the batch, not the
dataset. A refused batch leaves the store as it was.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from cmot.errors import CmotError
from cmot.ingest.clean import CleaningPlan
from cmot.ingest.options import IngestOptions
from cmot.ingest.pipeline import prepare
from cmot.ingest.read import RawFile
from cmot.ingest.validation import ValidationReport
from cmot.names import ID_COL, ROW_COL, quote_ident, quote_literal
from cmot.store.datasets import Store
from cmot.store.versions import DatasetInfo

_q = quote_ident


@dataclass(frozen=True)
class Appended:
    """What an append did: the new version and the batch's validation report."""

    info: DatasetInfo  # the new version
    report: ValidationReport  # the batch's, as an upload's
    rows: int  # respondents the batch added

    def text(self) -> str:
        return (
            f"Added {self.rows:,} respondents from {self.report.source_name} to "
            f"{self.info.name}: now {self.info.label}, {self.info.rows_kept:,} respondents "
            f"in {len(self.info.files)} batch file(s)."
        )


@dataclass(frozen=True)
class _Batch:
    select: str  # the batch's rows in the stored layout, numbered on
    params: list[Any]
    report: ValidationReport
    source_name: str
    sha256: str
    offset: int  # its first __cmot_row


def sha256_of(source: str | Path | bytes) -> str:
    """The content hash a batch is known by (the same bytes twice are refused)."""
    if isinstance(source, bytes):
        return hashlib.sha256(source).hexdigest()
    h = hashlib.sha256()
    with Path(source).open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def appendable(store: Store, name: str) -> DatasetInfo:
    """The latest version of `name`, if batches can be added to it (a CmotError if not)."""
    info = store.get_dataset(name)
    if info.external is not None:
        raise CmotError(
            f"{info.label} is read in place from {info.external.label}: add files there "
            "instead (a registered folder reads new files on the next run)."
        )
    return info


def already_added(store: Store, name: str, sha256: str) -> str | None:
    """Why a batch with these bytes cannot be added to `name` again, or None."""
    rows = store.catalog.read(
        "SELECT d.version, p.source_name FROM dataset_parts p JOIN datasets d "
        "ON d.id = p.dataset_id WHERE d.name = ? AND p.source_sha256 = ? "
        "UNION ALL SELECT version, source_name FROM datasets WHERE name = ? "
        "AND source_sha256 = ? ORDER BY 1 LIMIT 1",
        (name, sha256, name, sha256),
    )
    if not rows:
        return None
    return (
        f"This batch is already in {name!r} (the same bytes as {rows[0][1]!r}, added in "
        f"version {rows[0][0]}); nothing was added."
    )


def _types(store: Store, relation: str, params: list[Any]) -> dict[str, str]:
    """Each column of `relation` and its DuckDB type, in order."""
    rows = store.cursor().execute(f"DESCRIBE SELECT * FROM ({relation})", params).fetchall()
    return {str(r[0]): str(r[1]) for r in rows}


def _columns(store: Store, info: DatasetInfo, batch: str, params: list[Any], offset: int) -> str:
    """The batch's select items in the stored columns' order and types, numbered on; a value
    the stored type cannot hold is refused with its column and examples."""
    stored = _types(store, f"SELECT * FROM {info.table}", [])
    got = _types(store, batch, params)
    items: list[str] = []
    checks: list[tuple[str, str]] = []
    for col, typ in stored.items():
        c = _q(col)
        if col == ROW_COL:
            items.append(f"(b.{c} + {offset})::BIGINT AS {c}")
        elif col == ID_COL and not info.spec.id_column:
            items.append(f"(b.{_q(ROW_COL)} + {offset} + 1)::VARCHAR AS {c}")
        elif col not in got:
            items.append(f"NULL::{typ} AS {c}")
        elif got[col] == typ:
            items.append(f"b.{c}")
        else:
            items.append(f"CAST(b.{c} AS {typ}) AS {c}")
            checks.append((col, typ))
    cur = store.cursor()
    for col, typ in checks:
        c = _q(col)
        bad = cur.execute(
            f"SELECT count(*), list(DISTINCT b.{c}::VARCHAR)[:3] FROM ({batch}) b "
            f"WHERE b.{c} IS NOT NULL AND TRY_CAST(b.{c} AS {typ}) IS NULL",
            params,
        ).fetchall()[0]
        if bad[0]:
            raise CmotError(
                f"Column {col!r} holds {bad[0]:,} value(s) the dataset stores as {typ} cannot "
                f"hold (e.g. {', '.join(map(repr, bad[1]))}): fix them in the file, or "
                "ingest it as a new dataset."
            )
    return ", ".join(items)


def _repeated_ids(store: Store, info: DatasetInfo, batch: str, params: list[Any]) -> None:
    if not info.spec.id_column:
        return
    i = _q(ID_COL)
    hits = (
        store.cursor()
        .execute(
            f"SELECT count(*), list(b.{i})[:5] FROM ({batch}) b "
            f"WHERE b.{i} IN (SELECT {i} FROM {info.table})",
            params,
        )
        .fetchall()[0]
    )
    if hits[0]:
        raise CmotError(
            f"{hits[0]:,} respondent(s) of this batch are already in {info.label} (ids "
            f"{', '.join(map(str, hits[1]))}): remove them from the file (they may have been "
            "added before)."
        )


@contextmanager
def _planned(
    store: Store, info: DatasetInfo, source: str | Path | bytes, source_name: str | None
) -> Iterator[_Batch]:
    """The batch read, validated with `info`'s spec and checked against what is stored."""
    opts = IngestOptions(spec=info.spec)
    try:
        with _read(store, source, opts, source_name) as (raw, plan):
            yield _checked(store, info, raw, plan)
    except CmotError as e:
        raise CmotError(f"{e} Nothing was added to {info.name!r}.") from None


@contextmanager
def _read(
    store: Store, source: str | Path | bytes, opts: IngestOptions, source_name: str | None
) -> Iterator[tuple[RawFile, CleaningPlan]]:
    with prepare(source, opts, source_name, store.cursor(), batch=True) as (raw, _, _, plan):
        yield raw, plan


def _checked(store: Store, info: DatasetInfo, raw: RawFile, plan: CleaningPlan) -> _Batch:
    """The batch numbered on from the stored rows, in their types, its ids new."""
    offset = int(
        store.cursor()
        .execute(f"SELECT coalesce(max({_q(ROW_COL)}), -1) + 1 FROM {info.table}")
        .fetchall()[0][0]
    )
    _repeated_ids(store, info, plan.sql, plan.params)
    items = _columns(store, info, plan.sql, plan.params, offset)
    select = f"SELECT {items} FROM ({plan.sql}) b"
    note = (
        f"a batch for {info.name}: its {plan.report.rows_kept:,} respondents follow the "
        f"{info.rows_kept:,} of {info.label}"
    )
    report = replace(plan.report, notes=(*plan.report.notes, note))
    return _Batch(select, plan.params, report, raw.source_name, raw.sha256, offset)


def _new_to(store: Store, name: str, source: str | Path | bytes) -> DatasetInfo:
    """The dataset `name` if `source` can be appended to it: refused (CmotError) when the
    dataset cannot take a batch or already holds this very file."""
    info = appendable(store, name)
    seen = already_added(store, name, sha256_of(source))
    if seen:
        raise CmotError(seen)
    return info


def check_batch_file(
    store: Store, name: str, source: str | Path | bytes, source_name: str | None = None
) -> ValidationReport:
    """The report appending would give, nothing stored (a refusal raises CmotError)."""
    info = _new_to(store, name, source)
    with _planned(store, info, source, source_name) as batch:
        return batch.report


def append_batch(
    store: Store, name: str, source: str | Path | bytes, source_name: str | None = None
) -> Appended:
    """Add the survey file `source` to the dataset `name` as a new version (see module)."""
    info = _new_to(store, name, source)
    with _planned(store, info, source, source_name) as batch:
        new = store.append_query(
            info,
            batch.select,
            batch.params,
            batch.report.to_dict(),
            batch.source_name,
            batch.sha256,
            batch.offset,
        )
    return Appended(new, batch.report, new.rows_kept - info.rows_kept)


def batch_ranges(info: DatasetInfo) -> list[tuple[int, int, int | None]]:
    """(batch number from 1, first __cmot_row, first row of the next batch or None)."""
    parts = info.parts
    if not parts:
        return [(1, 0, None)]
    out: list[tuple[int, int, int | None]] = []
    for i, p in enumerate(parts):
        nxt = parts[i + 1].row_offset if i + 1 < len(parts) else None
        out.append((i + 1, p.row_offset, nxt))
    return out


def file_relation(path: Path) -> str:
    """One stored file as a relation (a batch alone)."""
    return f"read_parquet({quote_literal(str(path))})"
