"""Ingest: read, detect, clean and store a survey; the entry points the app and the CLI use."""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import duckdb
import pyarrow as pa

from cmot.candidates import needs_outcome, with_outcome_hint
from cmot.clean import (
    CleaningPlan,
    ValidationReport,
    check_columns,
    plan_cleaning,
    shorten_labels,
)
from cmot.detect import Detection, _Profile, detect, profile_columns, value_counts
from cmot.errors import CmotError
from cmot.formats import metadata_role
from cmot.limits import max_columns, max_rows
from cmot.options import IngestOptions
from cmot.patterns import said
from cmot.read import RawFile, max_upload_bytes, open_raw
from cmot.spec import (
    JourneySpec,
    validate_spec,
)
from cmot.store import (
    DatasetInfo,
    Store,
    quote_ident,
)


@dataclass(frozen=True)
class Prepared:
    """A validated dataset ready to store: rows in the stored layout, spec and report."""

    data: pa.Table
    spec: JourneySpec
    report: ValidationReport
    detection: Detection
    source_name: str
    sha256: str


def _detection(
    raw: RawFile,
    opts: IngestOptions,
    profiles: Sequence[_Profile] | None = None,
    counts: Mapping[str, tuple[tuple[str, int], ...]] | None = None,
) -> Detection:
    """Profile and detect, with what the file itself says: question text, value labels,
    declared missing values (all three handled by `detect`) and which columns Qualtrics or
    SurveyMonkey added (roles here, as they depend on the software, not on the values).
    With `profiles` given, `raw`'s table is not read (its connection may be closed)."""
    roles: dict[str, str] = {}
    why: dict[str, str] = {}
    for c in raw.columns:
        found = metadata_role(raw.format, c, raw.labels.get(c, ""))
        if found:
            roles[c], why[c] = found
    det_opts = replace(opts, roles={**roles, **opts.roles})
    declared = {c: v for c, v in raw.declared_missing.items() if v}
    if declared and opts.missing is None:
        # Codes the file declares missing are the analyst's choice made in SPSS: they stand
        # for --missing and replace the proposals. A --missing given here replaces them.
        codes = tuple(dict.fromkeys(v for c in declared.values() for v in c))
        det_opts = replace(det_opts, missing=codes)
    if profiles is None:
        profiles = profile_columns(raw.con, raw.rows)
    det = detect(
        list(profiles),
        raw.rows,
        det_opts,
        raw.layout,
        raw.encoding,
        labels=raw.labels,
        value_labels=raw.value_labels,
        declared_missing=declared,
    )
    guesses = tuple(
        replace(g, confidence=0.95, reason=why[g.column])
        if g.column in roles and g.column not in opts.roles and g.role == roles[g.column]
        else g
        for g in det.columns
    )
    if counts:
        guesses = tuple(replace(g, counts=counts.get(g.column, ())) for g in guesses)
    det = replace(
        det,
        columns=guesses,
        format=raw.format,
        sheets=raw.sheets,
        sheet=raw.sheet,
        layout_reason=raw.layout_reason,
    )
    if det.spec is not None and raw.stages:
        staged = [c for s in raw.stages for c in s.touchpoints]
        if set(staged) == set(det.spec.touchpoint_columns):
            det = replace(det, spec=replace(det.spec, stages=tuple(raw.stages)))
    return det


def detect_roles(
    source: str | Path | bytes,
    options: IngestOptions | None = None,
    source_name: str | None = None,
) -> Detection:
    """Detected roles, scale and outcome with their confidence: what the mapping step shows."""
    opts = options or IngestOptions()
    key = _read_key(source, opts, source_name)
    cached = _cached(key, opts)
    if cached is None:
        with open_raw(source, opts, source_name) as raw:
            profiles = tuple(profile_columns(raw.con, raw.rows))
            cached = (raw, profiles, value_counts(raw.con, profiles))
        if key is not None and (opts.spec is None or raw.layout == "wide"):
            with _READ_LOCK:
                _READ[key] = cached
                while len(_READ) > _READ_KEPT:
                    _READ.popitem(last=False)
    return _detection(cached[0], opts, cached[1], cached[2])


# The mapping page detects again on every choice (outcome, its type, codes, weight): the
# file, its profile and its value counts do not change with them, so the last few files'
# are kept (a few hundred kB each, no rows) and a choice re-detects in milliseconds.
_READ_KEPT = 4
_READ: OrderedDict[
    tuple[object, ...],
    tuple[RawFile, tuple[_Profile, ...], dict[str, tuple[tuple[str, int], ...]]],
] = OrderedDict()
_READ_LOCK = threading.Lock()


def _read_key(
    source: str | Path | bytes, opts: IngestOptions, source_name: str | None
) -> tuple[object, ...] | None:
    """What the read depends on: the content and the options and limits `open_raw` reads
    with (and a spec, for a long file: see `_cached`). Only uploaded bytes are kept (the
    page's case): a path's content can change under the same size and modification time
    within the clock's tick."""
    if not isinstance(source, bytes):
        return None
    what = ("bytes", hashlib.sha256(source).hexdigest())
    return (
        *what,
        source_name,
        opts.sheet,
        opts.delimiter,
        opts.layout,
        opts.max_rows if opts.max_rows is not None else max_rows(),
        opts.max_columns if opts.max_columns is not None else max_columns(),
        opts.max_bytes if opts.max_bytes is not None else max_upload_bytes(),
    )


def _cached(
    key: tuple[object, ...] | None, opts: IngestOptions
) -> tuple[RawFile, tuple[_Profile, ...], dict[str, tuple[tuple[str, int], ...]]] | None:
    """The kept read for `key`. A long file is pivoted on the spec's id column, so with a
    spec (the save) only a wide file's read is taken: the page detected without one."""
    if key is None:
        return None
    with _READ_LOCK:
        cached = _READ.get(key)
    if cached is not None and opts.spec is not None and cached[0].layout != "wide":
        return None
    return cached


@contextmanager
def _prepare(
    source: str | Path | bytes,
    opts: IngestOptions,
    source_name: str | None,
    con: duckdb.DuckDBPyConnection | None = None,
    batch: bool = False,
    detection: Detection | None = None,
) -> Iterator[tuple[RawFile, Detection, JourneySpec, CleaningPlan]]:
    cached = _cached(_read_key(source, opts, source_name), opts)
    with open_raw(source, opts, source_name, con) as raw:
        if (
            detection is not None
            and opts.spec is not None
            and [g.column for g in detection.columns] == list(raw.columns)
        ):
            # The mapping page's detection of these choices on this read: with a spec given,
            # only its columns' types and patterns are used, so it is not detected again.
            det = detection
        else:
            # Saving what the mapping page just detected: the same bytes read the same way
            # have the profile it kept, so only validation and the copy remain.
            det = _detection(raw, opts, cached[1] if cached is not None else None)
        if opts.spec is None and needs_outcome(det):
            det = with_outcome_hint(det, raw.con, "raw", raw.rows)  # the refusal names some
        spec = opts.spec or det.require_spec()
        if opts.spec is not None and opts.missing is not None:
            spec = replace(spec, scale=replace(spec.scale, missing=opts.missing))
        if opts.spec is not None and opts.labels:
            spec = replace(spec, labels={**spec.labels, **opts.labels})
        spec, shortened = shorten_labels(validate_spec(spec))
        check_columns(spec, raw.columns)
        types = {g.column: g.dtype for g in det.columns}
        plan = plan_cleaning(raw, spec, types, shortened, batch)
        matched = said(det.patterns, raw.columns)  # what each --touchpoints pattern took
        if matched:
            notes = (*matched, *plan.report.notes)
            plan = replace(plan, report=replace(plan.report, notes=notes))
        yield raw, det, spec, plan


def with_candidates(
    source: str | Path | bytes, options: IngestOptions, det: Detection
) -> Detection:
    """`det` of `detect_roles`, its missing outcome's problem naming the likeliest columns
    (`cmot.candidates`): the file is read again, so only for a refusal's words."""
    if not needs_outcome(det):
        return det
    with open_raw(source, options, None) as raw:
        return with_outcome_hint(det, raw.con, "raw", raw.rows)


def validate(
    source: str | Path | bytes,
    options: IngestOptions | None = None,
    source_name: str | None = None,
    detection: Detection | None = None,
) -> ValidationReport:
    """The validation report Save would give, with nothing copied or stored: what a choice
    drops is said before saving (the Data page). `detection`: the page's detection of these
    choices on the same file, reused when `options` carry a spec (one detection per change)."""
    opts = options or IngestOptions()
    with _prepare(source, opts, source_name, detection=detection) as (_, _, _, plan):
        return plan.report


def read_csv(
    source: str | Path | bytes,
    options: IngestOptions | None = None,
    source_name: str | None = None,
) -> Prepared:
    """Read, map and validate a survey CSV in memory; nothing is stored."""
    with _prepare(source, options or IngestOptions(), source_name) as (raw, det, spec, plan):
        data = raw.con.sql(plan.sql, params=plan.params).to_arrow_table()
        return Prepared(data, spec, plan.report, det, raw.source_name, raw.sha256)


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
    with _prepare(source, opts, source_name, store.cursor()) as (raw, _, spec, plan):
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
    from cmot.flags import check_sheet

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
        from cmot.external import sample_words  # cmot.external builds on this module

        # Its sample, not its Parquet read by DuckDB: a saved segmentation must name the
        # rows the dashboard reads (their ids are hashed by Spark).
        note = f"{info.label} is read by Spark; this command reads {sample_words(info)}."
    return Survey(store.cursor(), info.table, info.spec, store, info, note=note)
