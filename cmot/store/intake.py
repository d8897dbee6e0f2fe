"""A survey file into a stored dataset (read, detect, clean, save: `ingest`, `reingest`), and
a survey file or a stored dataset opened for analysis (`open_survey`): the entry points the
app and the command line use."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb

from cmot.errors import CmotError
from cmot.ingest.detect import Detection
from cmot.ingest.options import IngestOptions
from cmot.ingest.pipeline import prepare, read_csv
from cmot.ingest.validation import ValidationReport
from cmot.names import quote_ident
from cmot.spec import (
    JourneySpec,
)
from cmot.store.datasets import Store
from cmot.store.versions import DatasetInfo


def ingest(
    store: Store,
    source: str | Path | bytes,
    name: str,
    options: IngestOptions | None = None,
    source_name: str | None = None,
) -> tuple[DatasetInfo, ValidationReport]:
    """Read and validate, then save as a new version of `name`: a stored dataset or an error.

    The file is read into a temp table on this thread's store cursor, and the cleaning
    SELECT streams from it into the version's Parquet file (Store.save_query): no second copy.
    """
    opts = options or IngestOptions()
    with prepare(source, opts, source_name, store.cursor()) as (raw, _, spec, plan):
        info = store.save_query(
            name,
            plan.sql,
            plan.params,
            spec,
            plan.report.to_dict(),
            raw.source_name,
            raw.sha256,
            source=source if isinstance(source, bytes) else Path(source),
        )
    return info, plan.report


def source_of(store: Store, info: DatasetInfo) -> bytes:
    """The survey file a stored version was ingested from, or a CmotError saying why there
    is none (saved before files were kept, migrated, or external)."""
    data = store.source_of(info)
    if data is None:
        why = (
            "its rows stay where they lie (register it again to change its mapping)"
            if info.external is not None
            else "it was saved before cmot kept the files it ingests: upload the file again"
        )
        raise CmotError(f"{info.label} has no kept survey file to map again: {why}.")
    return data


def reingest(
    store: Store, info: DatasetInfo, options: IngestOptions
) -> tuple[DatasetInfo, ValidationReport]:
    """A new version of `info`'s dataset with another mapping (`options`, its spec), read
    and cleaned again from the kept survey file: every choice (roles, scales, codes, labels,
    merges, weight, waves) applies to the raw answers as at upload, which a stored version's
    cleaned rows (codes already blank, ignored columns gone) could not give back."""
    data = source_of(store, info)
    return ingest(store, data, info.name, options, source_name=info.source_name)


@dataclass(frozen=True)
class Survey:
    """A survey ready to analyse: a CSV read in memory, or a stored dataset."""

    con: duckdb.DuckDBPyConnection
    table: str  # a quoted relation name on `con`
    spec: JourneySpec
    store: Store | None = None  # set for a stored dataset
    info: DatasetInfo | None = None
    detection: Detection | None = None  # set for a file: what was proposed and chosen
    note: str = ""  # what a command says first: a Spark dataset's rows here are its sample


# Suffixes of survey files: a missing one is a wrong path, not the name of a dataset.
SURVEY_SUFFIXES = (".csv", ".txt", ".tsv", ".gz", ".sav", ".zsav", ".xlsx", ".xls")


def open_survey(ref: str, options: IngestOptions | None = None) -> Survey:
    """A survey file is read and validated in memory; anything else names a stored dataset.

    `options` apply to a file only: a stored dataset keeps the spec it was ingested with.
    """
    from cmot.ingest.formats import check_sheet

    path = Path(ref)
    if path.is_file():
        check_sheet(path, options.sheet if options else None)
        prepared = read_csv(path, options)
        con = duckdb.connect()
        con.register("cmot_survey", prepared.data)
        return Survey(
            con,
            quote_ident("cmot_survey"),
            prepared.spec,
            detection=prepared.detection,
            note=prepared.report.drop_warning,  # a choice that drops many says so first
        )
    if path.is_dir():
        raise CmotError(f"{ref!r} is a folder; give a survey file or a stored dataset name.")
    if path.suffix.lower() in SURVEY_SUFFIXES:
        raise CmotError(f"No file {ref!r}; give a survey file's path or a stored dataset name.")
    if options is not None and options != IngestOptions():
        raise CmotError(
            "The mapping flags (--spec, --outcome, --outcome-type, --positive, --outcome-range, "
            "--missing, --touchpoints, --weight, --label, --sheet, --layout) apply to survey "
            f"files; the stored dataset {ref!r} keeps the mapping it was ingested with "
            "(ingest the file again to change it)."
        )
    store = Store()
    info = store.get_dataset(ref)
    note = ""
    if info.sampled:
        from cmot.store.external import sample_words  # cmot.store.external builds on this module

        # Its sample, not its Parquet read by DuckDB: a saved segmentation must name the
        # rows the dashboard reads (their ids are hashed by Spark).
        note = f"{info.label} is read by Spark; this command reads {sample_words(info)}."
    return Survey(store.cursor(), info.table, info.spec, store, info, note=note)
