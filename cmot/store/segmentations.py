"""Saved segmentations of a dataset version: their settings, names and assignments.

A segmentation's assignments are a Parquet file under segmentations/ (`__cmot_row`, segment),
published as a dataset version's file is (cmot.store.directory); its settings and segment
names are catalog rows, so renaming a segment rewrites no file. `segment_sql` joins them
back to the dataset's rows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from cmot.errors import CmotError
from cmot.names import ROW_COL, SEGMENT_CODE_COL, SEGMENT_COL, quote_literal
from cmot.store.directory import StoreDirectory, now_text


@dataclass(frozen=True)
class SegmentationRecord:
    """A saved segmentation as the store keeps it; cmot.segments.records turns it into a
    Segmentation (from_record) and back (to_record)."""

    mode: str
    method: str
    k: int
    seed: int
    body_json: str  # everything else the segmentation knows, as cmot.segments.records writes it
    names: tuple[str, ...]
    rows: np.ndarray  # __cmot_row of each assigned respondent
    labels: np.ndarray  # its segment, 0 .. k-1


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


_SEGMENTATION_COLUMNS = ("id", "dataset_id", "name", "mode", "method", "k", "seed", "created_at")


class Segmentations(StoreDirectory):
    """The saved segmentations of a store's datasets (cmot.store.datasets.Store)."""

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
                        now_text(),
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
