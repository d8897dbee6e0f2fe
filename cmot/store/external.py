"""External datasets: survey rows that stay where they lie, analysed through their engine.

A Parquet file, folder or glob, or a Spark table, is registered as a dataset without copying
it: its journey spec (detected from a seeded sample, or given as flags or a spec file), the
validation report counted on the engine over every row, and the source's column types are
all the store keeps. Every read goes through the same cleaning SELECT that makes a stored
dataset (`cmot.ingest.clean.cleaning_select`), as a view over the source:

- on DuckDB, `DatasetInfo.table` is that SELECT over `read_parquet(...)` (values written
  in as literals, so the text stands alone like a stored file's; cmot.store.sources), and
  every page and query works as on a stored dataset, pushing filters and segment columns
  into the scan;
- on Spark, it is a temporary view of the session (cmot.store.spark), which the sums, with
  the sidebar's filters and segment columns, read where the data lies; the rows that pages
  list or cluster come from a seeded sample the engine draws at registration
  (`SAMPLE_ROWS`), stored as the dataset's file, and the pages say so.

This module registers a source (`register_external`) and says what a dataset's sample is.
Rows of a lake have no fixed position, so a row's number (`ROW_COL`) is a hash of its
respondent id, and an external dataset needs an id column.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from cmot.errors import CmotError, engine_message
from cmot.ingest.candidates import needs_outcome, with_outcome_hint
from cmot.ingest.clean import plan_select
from cmot.ingest.detect import Detection
from cmot.ingest.limits import check_column_count
from cmot.ingest.options import IngestOptions
from cmot.ingest.patterns import said
from cmot.ingest.pipeline import detection_of  # a file's detection, run here on the sample
from cmot.ingest.read import RawFile
from cmot.ingest.storable import check_columns
from cmot.ingest.validation import ValidationReport
from cmot.spec import JourneySpec, validate_spec
from cmot.store.datasets import Store
from cmot.store.sources import (
    EngineName,
    ExternalSource,
    NoParquet,
    SourceError,
    allowed_roots,
    id_hash,
    is_parquet_source,
    parquet_files,
    read_files,
    read_parquet,
    refuse_dot_dot,
)
from cmot.store.spark import spark_rows, spark_session, spark_source
from cmot.store.versions import DatasetInfo
from cmot.text import code_span

SEED = 20261205  # every sample an engine draws here: the same rows again for the same files
DETECT_ROWS = 50_000  # rows detection profiles (it reads at most PROFILE_ROWS of them)
SAMPLE_ROWS = 100_000  # respondents a Spark dataset's lists, filters and clustering read


@dataclass(frozen=True)
class Opened:
    """An external source opened on its engine: its FROM text, how to query it, its rows."""

    source: ExternalSource
    relation: str
    session: Any  # a Spark session (cmot.store.spark), or None for DuckDB
    con: duckdb.DuckDBPyConnection | None

    def run(self, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        if self.session is not None:
            return spark_rows(self.session, sql, params)
        assert self.con is not None
        try:
            return self.con.execute(sql, list(params)).fetchall()
        except duckdb.Error as e:
            raise SourceError(
                f"DuckDB cannot read {code_span(self.source.location)}: {engine_message(e)}",
                f"DuckDB cannot read this dataset's files: {type(e).__name__}. Ask an analyst.",
            ) from None

    def sample(self, relation: str, rows: int, total: int, params: Sequence[Any] = ()) -> pa.Table:
        """A seeded sample of about `rows` rows of `relation` (all of them when it has no
        more), drawn by the engine, as Arrow (never through PySpark's pandas)."""
        fraction = min(1.0, rows / max(total, 1))
        if self.session is not None:
            df = self.session.sql(f"SELECT * FROM {relation}", args=list(params) or None)
            if fraction < 1.0:
                df = df.sample(fraction=fraction, seed=SEED)
            try:
                return df.toArrow()
            except Exception as e:
                raise CmotError(f"Spark cannot sample {self.source.label}: {e}") from None
        assert self.con is not None
        pick = f" USING SAMPLE {100 * fraction}% (bernoulli, {SEED})" if fraction < 1.0 else ""
        return self.con.sql(f"SELECT * FROM {relation}{pick}", params=list(params)).to_arrow_table()


def open_external(
    location: str,
    engine: EngineName,
    remote: str | None = None,
    con: duckdb.DuckDBPyConnection | None = None,
) -> Opened:
    """A Parquet location (either engine) or a Spark table's name, opened for reading."""
    location = location.strip()
    if not location:
        raise CmotError("Give a Parquet path or glob, or a Spark table's name.")
    parquet = is_parquet_source(location) or (engine == "spark" and "/" in location)
    roots = allowed_roots() or None
    if engine == "duckdb" or parquet:
        refuse_dot_dot(location)
        if roots is not None:  # before anything tells whether a path exists
            parquet_files(location, roots)
    if engine == "duckdb":
        if remote:
            raise CmotError("--spark-remote runs on Spark: add --engine spark.")
        if not parquet:
            if Path(location).exists():
                raise CmotError(
                    f"{code_span(location)} is no Parquet file: register a .parquet file, a "
                    "folder or a glob of them (a survey file is ingested with `cmot ingest`)."
                )
            raise CmotError(
                f"No Parquet file at {code_span(location)}. A table name needs `--engine spark`."
            )
        files = read_files(location)
        source = ExternalSource("duckdb", "parquet", location, files=tuple(files))
        return Opened(source, read_parquet(files), None, con or duckdb.connect())
    kind = "parquet" if parquet else "table"
    # The files this machine sees (under the roots when set); Spark may see more (a cluster).
    files = parquet_files(location, roots) if parquet else []
    source = ExternalSource("spark", kind, location, remote, files=tuple(files))
    session = spark_session(remote)
    return Opened(source, spark_source(session, source), session, None)


def _detection_sample(opened: Opened, rows: int) -> tuple[RawFile, int]:
    """A seeded sample of the source in a private DuckDB as the TEMP table `raw`, for
    detection, and the source's row count."""
    total = int(opened.run(f"SELECT count(*) FROM {opened.relation}", [])[0][0])
    if total == 0:
        raise CmotError(f"{opened.source.label} has no rows.")
    data = opened.sample(opened.relation, DETECT_ROWS, total)
    con = duckdb.connect()
    con.register("cmot_sample", data)
    con.execute("CREATE TEMP TABLE raw AS SELECT * FROM cmot_sample")
    con.unregister("cmot_sample")
    raw = RawFile(
        con,
        list(data.column_names),
        data.num_rows,
        "parquet",
        "wide",
        [],
        "",
        opened.source.label,
        format="parquet",
    )
    return raw, total


def map_external(opened: Opened, options: IngestOptions) -> tuple[Detection, JourneySpec, int]:
    """Detect roles on a seeded sample (with what `options` say), the spec and the rows."""
    # $CMOT_MAX_COLUMNS from the schema (DESCRIBE SELECT: one row a column, on either engine).
    width = len(opened.run(f"DESCRIBE SELECT * FROM {opened.relation}", []))
    check_column_count(width, options.max_columns, "The source")
    raw, total = _detection_sample(opened, DETECT_ROWS)
    try:
        det = detection_of(raw, options)
        if options.spec is None and needs_outcome(det):
            det = with_outcome_hint(det, raw.con, "raw", raw.rows)  # the refusal names some
    finally:
        raw.con.close()
    spec = options.spec or det.require_spec()
    if options.spec is not None and options.missing is not None:
        spec = replace(spec, scale=replace(spec.scale, missing=options.missing))
    spec = validate_spec(spec)
    check_columns(spec, raw.columns)
    return det, spec, total


def register_external(
    store: Store,
    name: str,
    location: str,
    engine: EngineName = "duckdb",
    remote: str | None = None,
    options: IngestOptions | None = None,
) -> tuple[DatasetInfo, ValidationReport]:
    """Register `location` as a new version of `name`, read in place by `engine`: mapped on a
    seeded sample, validated on every row (the report counts them on the engine), nothing
    copied but a Spark dataset's seeded sample of SAMPLE_ROWS respondents."""
    opened = open_external(location, engine, remote)
    try:
        det, spec, total = map_external(opened, options or IngestOptions())
        types = {g.column: g.dtype for g in det.columns}
        row = id_hash(engine, spec)
        plan = plan_select(
            opened.run,
            opened.relation,
            spec,
            types,
            opened.source.label,
            "wide",
            "parquet",
            total,
            [g.column for g in det.columns],
            row=row,
        )
        matched = said(det.patterns, list(types))  # what each --touchpoints pattern took
        if matched:
            notes = (*matched, *plan.report.notes)
            plan = replace(plan, report=replace(plan.report, notes=notes))
        source = replace(opened.source, types=tuple(types.items()))
        report = plan.report.to_dict()
        sample = None
        if engine == "spark":
            cleaned = f"({plan.sql})"
            sample = opened.sample(cleaned, SAMPLE_ROWS, plan.report.rows_kept, plan.params)
            report["sample_rows"] = sample.num_rows
            report["sample_seed"] = SEED
        info = store.save_external(name, source, spec, report, sample)
    finally:
        if opened.con is not None:
            opened.con.close()
    return info, plan.report


TABLE_FRESH_S = 900  # a Spark table's results are kept this long: it has no cheap version


def source_version(info: DatasetInfo, now: float | None = None) -> str:
    """A token that changes when an external dataset's rows may have, for cache keys ("" for
    a stored dataset, which never changes): its Parquet files' names, sizes and modification
    times where this machine sees them; else (a table, or files only a Spark cluster sees)
    the current quarter hour, so results are recomputed at least that often."""
    ext = info.external
    if ext is None:
        return ""
    if ext.kind == "parquet":
        try:  # the files a read takes, checked as a read checks them (refusals propagate)
            files = read_files(ext.location, ext.files, registered=True)
        except NoParquet:
            files = []  # none here: a Spark cluster's own, or gone (the read says so)
        if files:
            h = hashlib.sha256()
            for f in files:
                try:
                    st = os.stat(f)
                except OSError:
                    continue  # gone since: the next version says so
                h.update(f"{f}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
            return h.hexdigest()[:16]
    clock = time.time() if now is None else now
    return f"t{int(clock // TABLE_FRESH_S)}"


def sample_note(info: DatasetInfo, saved: bool = False) -> str:
    """What a page says when it reads a Spark dataset's sample ("" for any other dataset);
    `saved`: the view is by a saved segmentation, which only the sample's rows have."""
    if not info.sampled:
        return ""
    drawn = sample_words(info)
    if saved:
        return (
            f"A saved segmentation was clustered on {drawn}: every result by it, the moments "
            "of truth included, is computed on those respondents."
        )
    return (
        f"The moments of truth, their importance and comparisons are Spark's sums over all "
        f"{info.rows_kept:,} respondents; respondent lists, filter values, distributions, "
        f"trends and clustering read {drawn}."
    )


def sample_words(info: DatasetInfo) -> str:
    """What a Spark dataset's stored sample is, in words."""
    n = int(info.report.get("sample_rows", 0))
    if n >= info.rows_kept:
        return (
            f"a copy of all {n:,} respondents, written by Spark at registration (fewer than "
            f"a sample's {SAMPLE_ROWS:,})"
        )
    return (
        f"a seeded sample of {n:,} of the {info.rows_kept:,} respondents, drawn by Spark at "
        f"registration (seed {SEED})"
    )
