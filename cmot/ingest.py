"""Ingest: read, detect, clean and store a survey; the entry points the app and the CLI use."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import duckdb
import pyarrow as pa

from cmot.clean import CleaningPlan, ValidationReport, check_columns, plan_cleaning
from cmot.detect import Detection, detect, profile_columns
from cmot.errors import CmotError
from cmot.formats import metadata_role
from cmot.options import IngestOptions, parse_codes
from cmot.read import RawFile, open_raw
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


def _detection(raw: RawFile, opts: IngestOptions) -> Detection:
    """Profile and detect, with what the file itself says: question text, value labels,
    declared missing values and which columns Qualtrics or SurveyMonkey added."""
    roles: dict[str, str] = {}
    why: dict[str, str] = {}
    for c in raw.columns:
        found = metadata_role(raw.format, c, raw.labels.get(c, ""))
        if found:
            roles[c], why[c] = found
    declared = {c: v for c, v in raw.declared_missing.items() if v}
    det_opts = replace(opts, roles={**roles, **opts.roles})
    if declared and opts.missing is None:
        # Codes the file declares missing are the analyst's choice made in SPSS: they replace
        # proposals as --missing would. A --missing given here replaces them in turn.
        codes = tuple(dict.fromkeys(v for c in declared.values() for v in c))
        det_opts = replace(det_opts, missing=codes)
    profiles = profile_columns(raw.con, raw.rows)
    det = detect(profiles, raw.rows, det_opts, raw.layout, raw.encoding)
    guesses = []
    for g in det.columns:
        if g.column in roles and g.column not in opts.roles and g.role == roles[g.column]:
            g = replace(g, confidence=0.95, reason=why[g.column])
        label = raw.labels.get(g.column, "")
        guesses.append(replace(g, label=label) if label else g)
    det = replace(
        det, columns=tuple(guesses), format=raw.format, sheets=raw.sheets, sheet=raw.sheet
    )
    if det.spec is None:
        return det
    spec = det.spec
    if raw.stages:
        staged = [c for s in raw.stages for c in s.touchpoints]
        if set(staged) == set(spec.touchpoint_columns):
            spec = replace(spec, stages=tuple(raw.stages))
    tps = set(spec.touchpoint_columns)
    touchpoints = tuple(
        replace(t, label=raw.labels[t.column]) if not t.label and raw.labels.get(t.column) else t
        for t in spec.touchpoints
    )
    # Value labels name the codes of segments and attributes; a rating's name its scale
    # points. The analyst's own labels (opts.labels, already in the spec) win.
    attrs = set(spec.attributes)
    labels = {c: dict(v) for c, v in raw.value_labels.items() if c in attrs and v}
    labels.update({c: dict(v) for c, v in spec.labels.items()})
    column_labels = {c: t for c, t in raw.labels.items() if c not in tps}
    column_labels.update(spec.column_labels)
    missing = dict(spec.missing)
    if opts.missing is None:
        for c, codes in declared.items():
            # On top of what the column already treats as missing (for a touchpoint, its
            # scale's codes): a column's own entry replaces those, it must not drop them.
            have = spec.missing_codes(c)
            if not set(codes) <= set(have):
                missing[c] = tuple(dict.fromkeys([*have, *codes]))
    spec = replace(
        spec,
        touchpoints=touchpoints,
        labels=labels,
        column_labels=column_labels,
        missing=missing,
    )
    return replace(det, spec=validate_spec(spec))


def detect_roles(
    source: str | Path | bytes,
    options: IngestOptions | None = None,
    source_name: str | None = None,
) -> Detection:
    """Detected roles, scale and outcome with their confidence: what the mapping step shows."""
    opts = options or IngestOptions()
    with open_raw(source, opts, source_name) as raw:
        return _detection(raw, opts)


@contextmanager
def _prepare(
    source: str | Path | bytes,
    opts: IngestOptions,
    source_name: str | None,
    con: duckdb.DuckDBPyConnection | None = None,
) -> Iterator[tuple[RawFile, Detection, JourneySpec, CleaningPlan]]:
    with open_raw(source, opts, source_name, con) as raw:
        det = _detection(raw, opts)
        spec = opts.spec or det.require_spec()
        if opts.spec is not None and opts.missing is not None:
            spec = replace(spec, scale=replace(spec.scale, missing=opts.missing))
        if opts.spec is not None and opts.labels:
            spec = replace(spec, labels={**spec.labels, **opts.labels})
        spec = validate_spec(spec)
        check_columns(spec, raw.columns)
        types = {g.column: g.dtype for g in det.columns}
        yield raw, det, spec, plan_cleaning(raw, spec, types)


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

    The file is read into a temp table on this thread's store cursor and copied into the
    store by one CREATE TABLE AS SELECT inside the save's transaction: no second copy.
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
        )
    return info, plan.report


@dataclass(frozen=True)
class Survey:
    """A survey ready to analyse: a CSV read in memory, or a stored dataset."""

    con: duckdb.DuckDBPyConnection
    table: str  # a quoted relation name on `con`
    spec: JourneySpec
    store: Store | None = None  # set for a stored dataset
    info: DatasetInfo | None = None


def options_from_flags(
    spec: str | None = None,
    missing: str | None = None,
    outcome: str | None = None,
    positive: str | None = None,
    layout: str | None = None,
) -> IngestOptions:
    """The command line's --spec, --missing, --outcome, --positive and --layout as options."""
    from cmot.spec import load_spec

    return IngestOptions(
        spec=load_spec(spec) if spec else None,
        missing=parse_codes(missing) if missing is not None else None,
        outcome=outcome,
        positive=tuple(v.strip() for v in positive.split(",")) if positive else None,
        layout=layout,
    )


def open_survey(ref: str, options: IngestOptions | None = None) -> Survey:
    """A CSV path is read and validated in memory; anything else names a stored dataset.

    `options` apply to a CSV only: a stored dataset keeps the spec it was ingested with.
    """
    path = Path(ref)
    if path.is_file():
        prepared = read_csv(path, options)
        con = duckdb.connect()
        con.register("cmot_survey", prepared.data)
        return Survey(con, quote_ident("cmot_survey"), prepared.spec)
    if path.suffix.lower() in (".csv", ".txt", ".tsv", ".gz"):
        raise CmotError(f"No file {ref!r}; give a CSV path or a stored dataset name.")
    if options is not None and options != IngestOptions():
        raise CmotError(
            "--spec, --missing, --outcome and --positive apply to CSV files; a stored dataset "
            "keeps the spec it was ingested with (re-ingest it to change them)."
        )
    store = Store()
    info = store.get_dataset(ref)
    return Survey(store.cursor(), info.table, info.spec, store, info)
