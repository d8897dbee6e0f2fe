"""Read, detect and validate a survey file in memory, nothing stored: the Data page's
detection and warnings (`detect_roles`, `validate`) and the prepared rows that
`cmot.store.intake` saves (`prepare`, `read_csv`).
"""

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

from cmot.ingest.candidates import needs_outcome, with_outcome_hint
from cmot.ingest.clean import (
    CleaningPlan,
    plan_cleaning,
    shorten_labels,
)
from cmot.ingest.column_profiles import ColumnProfile, profile_columns, value_counts
from cmot.ingest.detect import Detection, detect
from cmot.ingest.formats import metadata_role
from cmot.ingest.limits import max_columns, max_rows
from cmot.ingest.options import IngestOptions
from cmot.ingest.patterns import said
from cmot.ingest.read import RawFile, max_upload_bytes, open_raw
from cmot.ingest.storable import check_columns
from cmot.ingest.validation import ValidationReport
from cmot.spec import (
    JourneySpec,
    validate_spec,
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


def detection_of(
    raw: RawFile,
    opts: IngestOptions,
    profiles: Sequence[ColumnProfile] | None = None,
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
    return detection_of(cached[0], opts, cached[1], cached[2])


# The mapping page detects again on every choice (outcome, its type, codes, weight): the
# file, its profile and its value counts do not change with them, so the last few files'
# are kept (a few hundred kB each, no rows) and a choice re-detects in milliseconds.
_READ_KEPT = 4

_READ: OrderedDict[
    tuple[object, ...],
    tuple[RawFile, tuple[ColumnProfile, ...], dict[str, tuple[tuple[str, int], ...]]],
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
) -> tuple[RawFile, tuple[ColumnProfile, ...], dict[str, tuple[tuple[str, int], ...]]] | None:
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
def prepare(
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
            det = detection_of(raw, opts, cached[1] if cached is not None else None)
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
    (`cmot.ingest.candidates`): the file is read again, so only for a refusal's words."""
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
    with prepare(source, opts, source_name, detection=detection) as (_, _, _, plan):
        return plan.report


def read_csv(
    source: str | Path | bytes,
    options: IngestOptions | None = None,
    source_name: str | None = None,
) -> Prepared:
    """Read, map and validate a survey CSV in memory; nothing is stored."""
    with prepare(source, options or IngestOptions(), source_name) as (raw, det, spec, plan):
        data = raw.con.sql(plan.sql, params=plan.params).to_arrow_table()
        return Prepared(data, spec, plan.report, det, raw.source_name, raw.sha256)
