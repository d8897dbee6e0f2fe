"""Read a survey CSV (wide or long) into a validated dataset: roles, codes, labels, report."""

from __future__ import annotations

import codecs
import hashlib
import os
import re
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import duckdb
import pyarrow as pa

from cmot.errors import CmotError
from cmot.limits import check_rows
from cmot.spec import (
    Code,
    JourneySpec,
    Outcome,
    Stage,
    Touchpoint,
    default_scale,
    validate_spec,
)
from cmot.store import (
    DERIVED_COLUMNS,
    ID_COL,
    ROW_COL,
    W_COL,
    Y_COL,
    DatasetInfo,
    Store,
    quote_ident,
)

Role = Literal["id", "outcome", "touchpoint", "attribute", "weight", "date", "ignore"]
ROLES: tuple[str, ...] = (
    "id",
    "outcome",
    "touchpoint",
    "attribute",
    "weight",
    "date",
    "ignore",
)
Layout = Literal["wide", "long"]

ENV_MAX_MB = "CMOT_MAX_UPLOAD_MB"
DEFAULT_MAX_MB = 500
SNIFF_BYTES = 1 << 16

_q = quote_ident


def max_upload_bytes() -> int:
    """The configured size cap ($CMOT_MAX_UPLOAD_MB, default 500 MB)."""
    try:
        return int(float(os.environ.get(ENV_MAX_MB, DEFAULT_MAX_MB)) * 1024 * 1024)
    except ValueError:
        raise CmotError(f"{ENV_MAX_MB} must be a number of megabytes.") from None


# ---- results ------------------------------------------------------------------------


@dataclass(frozen=True)
class ColumnGuess:
    """The role detected for one column, how sure the detection is and why."""

    column: str
    role: str
    kind: str  # rating, binary, categorical, numeric, text, date, id, weight
    confidence: float
    reason: str
    dtype: str
    distinct: int
    nulls: int


@dataclass(frozen=True)
class Change:
    """Values of a column that ingest set to missing or whose rows it dropped, and why."""

    column: str
    reason: str
    count: int
    action: str  # "set to missing" or "row dropped"


@dataclass(frozen=True)
class ValidationReport:
    source_name: str
    layout: str
    encoding: str
    rows_read: int
    rows_kept: int
    changes: tuple[Change, ...]
    duplicate_ids: int
    out_of_scale: int
    columns_ignored: tuple[str, ...]
    touchpoints: tuple[str, ...]
    outcome: str
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "source_name": self.source_name,
            "layout": self.layout,
            "encoding": self.encoding,
            "rows_read": self.rows_read,
            "rows_kept": self.rows_kept,
            "changes": [c.__dict__ for c in self.changes],
            "duplicate_ids": self.duplicate_ids,
            "out_of_scale": self.out_of_scale,
            "columns_ignored": list(self.columns_ignored),
            "touchpoints": list(self.touchpoints),
            "outcome": self.outcome,
            "notes": list(self.notes),
        }

    def to_text(self) -> str:
        lines = [
            f"Validation report for {self.source_name} ({self.layout} layout, {self.encoding})",
            f"  rows read:        {self.rows_read:,}",
            f"  rows kept:        {self.rows_kept:,}",
            f"  touchpoints:      {len(self.touchpoints)} ({', '.join(self.touchpoints)})",
            f"  outcome:          {self.outcome}",
            f"  duplicate ids:    {self.duplicate_ids}",
            f"  out-of-scale:     {self.out_of_scale}",
            f"  columns ignored:  {', '.join(self.columns_ignored) or 'none'}",
        ]
        if self.changes:
            lines.append("  changed or dropped values:")
            for c in self.changes:
                lines.append(f"    {c.column}: {c.count:,} {c.reason} ({c.action})")
        else:
            lines.append("  changed or dropped values: none")
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)


@dataclass(frozen=True)
class Detection:
    layout: str
    encoding: str
    rows: int
    columns: tuple[ColumnGuess, ...]
    spec: JourneySpec

    def roles(self) -> dict[str, str]:
        return {g.column: g.role for g in self.columns}


@dataclass(frozen=True)
class Prepared:
    """A validated dataset ready to store: rows in the stored layout, spec and report."""

    data: pa.Table
    spec: JourneySpec
    report: ValidationReport
    detection: Detection
    source_name: str
    sha256: str


@dataclass(frozen=True)
class IngestOptions:
    """What the user said about the file; anything left None is detected."""

    spec: JourneySpec | None = None
    roles: Mapping[str, str] = field(default_factory=dict)
    missing: tuple[Code, ...] | None = None
    outcome: str | None = None
    positive: tuple[str, ...] | None = None
    outcome_kind: str | None = None
    layout: str | None = None
    delimiter: str | None = None
    labels: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    max_bytes: int | None = None  # None: $CMOT_MAX_UPLOAD_MB
    max_rows: int | None = None  # None: $CMOT_MAX_ROWS


# ---- reading the raw file -----------------------------------------------------------


@contextmanager
def _as_path(source: str | Path | bytes, max_bytes: int) -> Iterator[Path]:
    if isinstance(source, bytes):
        if len(source) > max_bytes:
            raise _too_big(len(source), max_bytes)
        fd, name = tempfile.mkstemp(suffix=".csv", prefix="cmot-upload-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(source)
            yield Path(name)
        finally:
            os.unlink(name)
        return
    path = Path(source)
    try:
        size = path.stat().st_size
    except OSError as e:
        raise CmotError(f"Cannot read {path}: {e.strerror}. Check the path.") from None
    if not path.is_file():
        raise CmotError(f"{path} is not a file.")
    if size > max_bytes:
        raise _too_big(size, max_bytes)
    yield path


def _too_big(size: int, cap: int) -> CmotError:
    return CmotError(
        f"The file is {size / 1e6:,.1f} MB, over the {cap / 1e6:,.0f} MB limit. "
        f"Split it, drop unused columns, or raise the limit ({ENV_MAX_MB})."
    )


def _scan_file(path: Path) -> tuple[str, str]:
    """sha256 and encoding in one read: utf-8 (BOM or not) when every byte decodes, else
    latin-1; binary content is refused."""
    h = hashlib.sha256()
    decoder = codecs.getincrementaldecoder("utf-8")()
    encoding = "utf-8"
    with path.open("rb") as f:
        head = f.read(SNIFF_BYTES)
        if not head:
            raise CmotError("The file is empty. Upload a CSV with a header row and data rows.")
        if b"\x00" in head:
            raise CmotError(
                "This file does not look like a CSV (it contains binary data). "
                "Export the survey as CSV (comma- or semicolon-separated text) and upload that."
            )
        block = head
        while block:
            h.update(block)
            if encoding == "utf-8":
                try:
                    decoder.decode(block)
                except UnicodeDecodeError:
                    encoding = "latin-1"
            block = f.read(1 << 22)
    if encoding == "utf-8":
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            encoding = "latin-1"
    return h.hexdigest(), encoding


def _explain_single_column(path: Path, encoding: str) -> CmotError:
    with path.open("r", encoding=encoding, errors="replace", newline="") as f:
        lines = [ln.rstrip("\r\n") for _, ln in zip(range(200), f, strict=False)]
    lines = [ln for ln in lines if ln.strip()]
    header = lines[0] if lines else ""
    best = max((",", ";", "\t", "|"), key=header.count)
    if header.count(best) > 0:
        want = header.count(best) + 1
        for i, ln in enumerate(lines[1:], start=2):
            got = ln.count(best) + 1
            if got != want:
                return CmotError(
                    f"Row {i} has {got} fields but the header has {want} "
                    f"(separated by {best!r}). Every row needs the same number of fields: "
                    "fix or remove the ragged rows and upload again."
                )
    return CmotError(
        "Only one column was found, so the delimiter could not be recognised. "
        "Save the file with commas, semicolons, tabs or | between the fields."
    )


def _read_raw(
    con: duckdb.DuckDBPyConnection, path: Path, encoding: str, delimiter: str | None
) -> list[str]:
    # No BOOLEAN candidate: "Yes"/"No" answers stay the text the respondent saw.
    options = (
        "header = true, encoding = ?, "
        "auto_type_candidates = ['BIGINT', 'DOUBLE', 'DATE', 'TIMESTAMP', 'VARCHAR']"
    )
    params: list[Any] = [str(path), encoding]
    if delimiter:
        options += ", delim = ?"
        params.append(delimiter)
    try:
        try:
            con.execute(f"CREATE TEMP TABLE raw AS SELECT * FROM read_csv(?, {options})", params)
        except duckdb.ConversionException:
            # A late value broke the type sniffed from the first rows: sniff the whole file.
            con.execute(
                f"CREATE TEMP TABLE raw AS SELECT * FROM read_csv(?, {options}, sample_size = -1)",
                params,
            )
    except duckdb.Error as e:
        msg = str(e)
        m = re.search(r"CSV Error on Line: (\d+)", msg)
        line = f" at line {m.group(1)}" if m else ""
        if "Expected Number of Columns" in msg:
            found = re.search(r"Expected Number of Columns: (\d+) Found: (\d+)", msg)
            detail = f" ({found.group(2)} fields, header has {found.group(1)})" if found else ""
            raise CmotError(
                f"The file has a ragged row{line}{detail}. Every row needs as many fields as "
                "the header: fix or remove that row and upload again."
            ) from None
        if "unicode" in msg.lower():
            raise CmotError(
                f"The file mixes text encodings{line}. Save it as UTF-8 and upload again."
            ) from None
        first = msg.splitlines()[0] if msg else type(e).__name__
        raise CmotError(
            f"The file could not be read as CSV{line}: {first}. Check quoting and delimiters."
        ) from None
    cols = [r[0] for r in con.execute("DESCRIBE raw").fetchall()]
    stripped = [c.strip() for c in cols]
    # A column named rowid would hide DuckDB's row number, which keeps the file's order.
    taken = [c for c in stripped if c.lower() == "rowid"]
    if taken:
        raise CmotError(f"The column name {taken[0]!r} is reserved; rename that column.")
    if stripped != cols:
        if len(set(stripped)) != len(stripped):
            dup = sorted({c for c in stripped if stripped.count(c) > 1})
            raise CmotError(f"Column names repeat after trimming spaces: {dup}. Rename them.")
        for old, new in zip(cols, stripped, strict=True):
            if old != new:
                con.execute(f"ALTER TABLE raw RENAME COLUMN {_q(old)} TO {_q(new)}")
    return stripped


# ---- profiling and role detection ---------------------------------------------------


@dataclass(frozen=True)
class _Profile:
    column: str
    dtype: str
    count: int
    nulls: int
    distinct: int
    lo: float | None
    hi: float | None
    integral: bool
    values: tuple[str, ...]  # the distinct values when there are few
    first_is_row_index: bool
    counts: tuple[int, ...] = ()  # how often each of `values` occurs

    def share_above(self, limit: float) -> float:
        """Share of the non-blank values that are numbers above `limit`."""
        above = 0
        for v, k in zip(self.values, self.counts, strict=True):
            x = _as_number(v)
            if x is not None and x > limit:
                above += k
        return above / self.count if self.count else 0.0


def _as_number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


_NUMERIC = (
    "TINYINT",
    "SMALLINT",
    "INTEGER",
    "BIGINT",
    "HUGEINT",
    "UTINYINT",
    "USMALLINT",
)
_FLOAT = ("DOUBLE", "FLOAT", "DECIMAL")


def _is_int(dtype: str) -> bool:
    return dtype.startswith(_NUMERIC) or dtype.startswith("UINTEGER") or dtype == "UBIGINT"


def _is_num(dtype: str) -> bool:
    return _is_int(dtype) or dtype.startswith(_FLOAT)


PROFILE_ROWS = 200_000


def _profile(con: duckdb.DuckDBPyConnection, rows: int) -> list[_Profile]:
    """Per-column statistics for role detection, from every k-th row of a large file.

    Detection needs shapes (types, ranges, few distinct values), not exact counts: the
    validation pass counts every value anyway. A systematic sample keeps it deterministic.
    """
    types = dict((r[0], r[1]) for r in con.execute("DESCRIBE raw").fetchall())
    step = max(1, -(-rows // PROFILE_ROWS))
    # Materialised once: the per-column queries below each read it again.
    con.execute(
        "CREATE OR REPLACE TEMP TABLE sample AS "
        f"SELECT rowid AS __cmot_r, * FROM raw WHERE rowid % {step} = 0"
    )
    table = "sample"
    parts = ["count(*)"]
    for c, t in types.items():
        qc = _q(c)
        parts.append(f"count({qc})")
        parts.append(f"approx_count_distinct({qc})")
        if _is_num(t):
            parts.append(f"min({qc})::DOUBLE")
            parts.append(f"max({qc})::DOUBLE")
            parts.append(f"bool_and({qc} = round({qc}))" if t.startswith(_FLOAT) else "true")
            # A leading 0..n-1 or 1..n counter is a row index, not data.
            parts.append(f"bool_and({qc} = __cmot_r) OR bool_and({qc} = __cmot_r + 1)")
        else:
            parts += ["NULL", "NULL", "false", "false"]
    row = con.execute(f"SELECT {', '.join(parts)} FROM {table}").fetchall()[0]
    n = row[0]
    out = []
    for i, (c, t) in enumerate(types.items()):
        cnt, dist, lo, hi, integral, is_index = row[1 + 6 * i : 7 + 6 * i]
        values: tuple[str, ...] = ()
        counts: tuple[int, ...] = ()
        if dist <= 30:
            vals = con.execute(
                f"SELECT {_q(c)}::VARCHAR, count(*) FROM {table} WHERE {_q(c)} IS NOT NULL "
                "GROUP BY 1 ORDER BY 1 LIMIT 40"
            ).fetchall()
            values = tuple(v[0] for v in vals)
            counts = tuple(int(v[1]) for v in vals)
            dist = len(values)
        elif re.search(_ID_WORDS, c.lower()):
            # approx_count_distinct can be 6% off: too coarse to call a column unique.
            dist = con.execute(f"SELECT count(DISTINCT {_q(c)}) FROM {table}").fetchall()[0][0]
        out.append(
            _Profile(
                c, t, cnt, n - cnt, dist, lo, hi, bool(integral), values, bool(is_index), counts
            )
        )
    con.execute("DROP TABLE IF EXISTS temp.sample")
    return out


_OUTCOME_WORDS = (
    r"satisf|outcome|target|recommend|\bnps\b|\bltr\b|loyal(ty)?\b|retain|retention|churn|"
    r"renew|again|overall"
)
_STRONG_OUTCOME = r"^(satisfaction|satisfied|outcome|target|overall|nps|churn|retained)$"
_ID_WORDS = r"(^|[\s_])(id|respondent|resp|uuid|record)($|[\s_])|^id$|_id$|\bid\b"
_WEIGHT_WORDS = r"weight|^wt$|wgt|weighting"
_DATE_WORDS = r"date|time|when|day"
_NOT_RATING_WORDS = r"\bage\b|year|count|number|\bnum\b|children|distance|delay|minutes|size"
_NEGATIVE = r"\bnot\b|\bno\b|dis|unsat|neutral|false|\bdetractor|unlikely|never|^0$|^n$"


def _positive_values(values: Sequence[str]) -> tuple[str, ...]:
    """For a two-valued outcome, the value meaning 'positive': the one that is not a negation."""
    pos = [v for v in values if not re.search(_NEGATIVE, v.strip().lower())]
    if len(pos) == 1:
        return (pos[0],)
    if set(values) == {"0", "1"}:
        return ("1",)
    return (sorted(values)[-1],)


def _guess(p: _Profile, n: int, scale_max: int | None) -> ColumnGuess:
    name = p.column.lower()

    def g(role: str, kind: str, conf: float, why: str) -> ColumnGuess:
        return ColumnGuess(p.column, role, kind, conf, why, p.dtype, p.distinct, p.nulls)

    if p.count == 0:
        return g("ignore", "text", 0.9, "every value is blank")
    if p.first_is_row_index and not re.search(_ID_WORDS, name):
        return g("ignore", "id", 0.8, "a row counter (0, 1, 2, ...)")
    if p.dtype in ("DATE", "TIMESTAMP", "TIMESTAMP WITH TIME ZONE"):
        return g("date", "date", 0.9, "read as dates")
    if re.search(_ID_WORDS, name):
        if p.distinct >= 0.95 * p.count:
            return g("id", "id", 0.9, "named like an id and (nearly) unique")
        return g("id", "id", 0.5, "named like an id, but some values repeat")
    if re.search(_WEIGHT_WORDS, name) and _is_num(p.dtype) and (p.lo or 0) > 0:
        return g("weight", "weight", 0.85, "named like a weight, positive numbers")
    if re.search(_OUTCOME_WORDS, name):
        if p.distinct == 1:
            return g("outcome", "binary", 0.5, "named like an outcome, but one value only")
        if p.distinct == 2:
            return g("outcome", "binary", 0.9, "two values, named like an outcome")
        if _is_num(p.dtype) and p.integral and p.distinct <= 11:
            return g("outcome", "scale", 0.7, "a small scale, named like an outcome")
    is_rating = (
        (_is_int(p.dtype) or (_is_num(p.dtype) and p.integral))
        and p.lo is not None
        and p.hi is not None
        and p.lo >= 0
        and p.hi <= 10
        and p.distinct >= 3
    )
    whole = [
        (v, k)
        for v, k in zip(p.values, p.counts, strict=True)
        if (x := _as_number(v)) is not None and 0 <= x <= 10 and x == round(x)
    ]
    if (
        not _is_num(p.dtype)
        and len(whole) >= 3
        and sum(k for _, k in whole) >= 0.9 * p.count
        and not re.search(_NOT_RATING_WORDS, name)
    ):
        text = [v for v in p.values if v not in dict(whole)]
        return g("touchpoint", "rating", 0.6, f"whole numbers with text ({', '.join(text)})")
    if is_rating and not re.search(_NOT_RATING_WORDS, name):
        conf = 0.9 if scale_max is None or p.hi == scale_max or p.hi == scale_max - 1 else 0.5
        return g("touchpoint", "rating", conf, f"whole numbers {p.lo:g}-{p.hi:g}")
    if p.distinct <= (7 if _is_num(p.dtype) else 12) or not _is_num(p.dtype):
        if not _is_num(p.dtype) and p.distinct > 50 and p.distinct > 0.5 * p.count:
            return g("ignore", "text", 0.6, "free text (mostly unique values)")
        return g("attribute", "categorical", 0.8, f"{p.distinct} distinct values")
    if p.dtype == "VARCHAR" and re.search(_DATE_WORDS, name):
        return g("date", "date", 0.5, "named like a date")
    return g("attribute", "numeric", 0.8, f"numbers {p.lo:g}-{p.hi:g}")


def _typical_max(p: _Profile) -> int:
    """The largest rating that is not a stray: at most 2% of the answers lie above it."""
    nums = sorted(x for x in map(_as_number, p.values) if x is not None)
    for x in nums:
        if p.share_above(x) <= 0.02:
            return int(x)
    return int(p.hi) if p.hi is not None else 5


def _infer_scale(ratings: list[_Profile]) -> tuple[int, int, tuple[Code, ...]]:
    his = [_typical_max(p) for p in ratings]
    hi = max(set(his), key=lambda h: (his.count(h), h)) if his else 5
    has_zero = any(p.lo == 0 for p in ratings)
    if hi <= 7 and has_zero:
        # On 5- and 7-point scales a 0 is the survey's "not applicable", not a score.
        return 1, hi, (0,)
    return (0 if has_zero else 1), hi, ()


def _detect(
    profiles: list[_Profile], n: int, opts: IngestOptions, layout: str, encoding: str
) -> Detection:
    first = [_guess(p, n, None) for p in profiles]
    ratings = [p for p, g in zip(profiles, first, strict=True) if g.role == "touchpoint"]
    lo, hi, missing = _infer_scale(ratings)
    guesses = {p.column: _guess(p, n, hi) for p in profiles}
    for p in profiles:
        g = guesses[p.column]
        # A stray 9 on a 1-5 scale is an out-of-scale answer; many values above it mean
        # the column is something else (a count, another scale).
        if g.role == "touchpoint" and p.hi is not None and p.share_above(hi) > 0.02:
            guesses[p.column] = replace(
                g,
                role="attribute",
                kind="numeric",
                confidence=0.5,
                reason=f"whole numbers {p.lo:g}-{p.hi:g}, beyond the {lo}-{hi} rating scale",
            )
    # Only one outcome: the best named one, else the last two-valued column.
    outcomes = [g for g in guesses.values() if g.role == "outcome"]
    if opts.outcome:
        outcomes = []
    elif len(outcomes) > 1:
        strong = [g for g in outcomes if re.search(_STRONG_OUTCOME, g.column.lower())]
        keep = (strong or sorted(outcomes, key=lambda g: (g.kind != "binary", -g.confidence)))[0]
        for g in outcomes:
            if g is not keep:
                guesses[g.column] = replace(g, role="attribute", kind="categorical")
        outcomes = [keep]
    elif not outcomes:
        binary = [g for g in guesses.values() if g.role == "attribute" and g.distinct == 2]
        if binary and binary[-1].column == profiles[-1].column:
            last = binary[-1]
            guesses[last.column] = replace(
                last,
                role="outcome",
                kind="binary",
                confidence=0.4,
                reason="last column, two values",
            )
    for col, role in opts.roles.items():
        if col not in guesses:
            raise CmotError(f"The mapping names a column {col!r} that the file does not have.")
        if role not in ROLES:
            raise CmotError(f"Unknown role {role!r} for {col!r}; use one of {', '.join(ROLES)}.")
        guesses[col] = replace(guesses[col], role=role, confidence=1.0, reason="set by you")
    if opts.outcome:
        if opts.outcome not in guesses:
            raise CmotError(
                f"There is no column {opts.outcome!r} to use as the outcome. "
                f"Columns: {', '.join(guesses)}."
            )
        for g in list(guesses.values()):
            if g.role == "outcome" and g.column != opts.outcome:
                guesses[g.column] = replace(g, role="attribute", kind="categorical")
        g = guesses[opts.outcome]
        guesses[opts.outcome] = replace(g, role="outcome", confidence=1.0, reason="set by you")

    by_col = {p.column: p for p in profiles}
    spec = _infer_spec(guesses, by_col, (lo, hi, missing), opts)
    return Detection(layout, encoding, n, tuple(guesses.values()), spec)


def _infer_spec(
    guesses: dict[str, ColumnGuess],
    profiles: dict[str, _Profile],
    scale: tuple[int, int, tuple[Code, ...]],
    opts: IngestOptions,
) -> JourneySpec:
    def cols(role: str) -> list[str]:
        return [c for c, g in guesses.items() if g.role == role]

    outcome_cols = cols("outcome")
    if not outcome_cols:
        raise CmotError(
            "No outcome column was found. Name the column that measures the whole relationship "
            "(e.g. overall satisfaction, would recommend, renewed) with --outcome COLUMN, "
            "or map one column to the role 'outcome'. Columns: " + ", ".join(guesses) + "."
        )
    if len(outcome_cols) > 1:
        raise CmotError(f"Only one column can be the outcome; you mapped {outcome_cols}.")
    oc = outcome_cols[0]
    op = profiles[oc]
    kind = opts.outcome_kind
    if kind is None:
        if opts.positive or op.distinct <= 2:
            kind = "binary"
        elif _is_num(op.dtype) and op.lo is not None and op.lo >= 0 and op.hi == 10:
            kind = "recommend" if re.search(r"recommend|nps|ltr", oc.lower()) else "scale"
        elif _is_num(op.dtype):
            kind = "scale"
        else:
            kind = "binary"
    positive: tuple[str, ...] = ()
    if kind == "binary":
        positive = opts.positive or _positive_values(op.values)
    touchpoints = cols("touchpoint")
    if not touchpoints:
        raise CmotError(
            "No touchpoint ratings were found: no column holds whole-number ratings such as "
            "1-5 or 0-10. Map the rating columns to the role 'touchpoint'."
        )
    lo, hi, missing = scale
    if opts.missing is not None:
        missing = opts.missing
        if lo == 1 and 0 not in missing and any(profiles[t].lo == 0 for t in touchpoints):
            lo = 0
    attributes = cols("attribute")
    segments = [
        c for c in attributes if guesses[c].kind == "categorical" and 2 <= guesses[c].distinct <= 12
    ]
    ids, weights, dates = cols("id"), cols("weight"), cols("date")
    spec = JourneySpec(
        stages=(Stage("Journey", tuple(touchpoints)),),
        touchpoints=tuple(Touchpoint(t) for t in touchpoints),
        scale=default_scale(lo, hi, missing),
        outcome=Outcome(
            oc,
            kind,  # type: ignore[arg-type]
            positive,
            0.0 if kind == "recommend" else None,
            10.0 if kind == "recommend" else None,
        ),
        id_column=ids[0] if ids else None,
        weight_column=weights[0] if weights else None,
        date_column=dates[0] if dates else None,
        segments=tuple(segments),
        attributes=tuple(attributes),
        ignored=tuple(cols("ignore") + ids[1:] + weights[1:] + dates[1:]),
        labels=dict(opts.labels),
    )
    return validate_spec(spec)


# ---- long layout --------------------------------------------------------------------


_LONG_TP = r"touchpoint|item|question|attribute_name|aspect|^attribute$|^variable$"
_LONG_SCORE = r"score|rating|value|answer"
_LONG_STAGE = r"^stage$|phase|step"


def _long_columns(columns: list[str]) -> tuple[str, str, str | None] | None:
    def find(pattern: str) -> str | None:
        hits = [c for c in columns if re.search(pattern, c.lower())]
        return hits[0] if hits else None

    tp, score = find(_LONG_TP), find(_LONG_SCORE)
    if tp and score and tp != score:
        return tp, score, find(_LONG_STAGE)
    return None


def _pivot_long(
    con: duckdb.DuckDBPyConnection,
    columns: list[str],
    opts: IngestOptions,
) -> tuple[list[str], list[Stage]]:
    found = _long_columns(columns)
    if found is None:
        raise CmotError(
            "A long file needs a touchpoint column (named e.g. 'touchpoint' or 'item') and a "
            "score column (e.g. 'score' or 'rating'). Rename them or use the wide layout."
        )
    tp, score, stage = found
    rest = [c for c in columns if c not in (tp, score, stage)]
    id_col = next((c for c in rest if re.search(_ID_WORDS, c.lower())), None)
    if opts.spec and opts.spec.id_column in rest:
        id_col = opts.spec.id_column
    if id_col is None:
        raise CmotError(
            "A long file needs a respondent column (named e.g. 'respondent' or 'id') "
            "that links each respondent's rows."
        )
    stage_expr = f"any_value({_q(stage)})::VARCHAR" if stage else "NULL"
    order = con.execute(
        f"SELECT {_q(tp)}::VARCHAR, {stage_expr} FROM raw GROUP BY 1 ORDER BY min(rowid)"
    ).fetchall()
    names = [r[0] for r in order]
    clash = sorted(set(names) & set(rest))
    if clash:
        raise CmotError(f"Touchpoint names clash with other columns: {clash}. Rename them.")
    stages: list[Stage] = []
    if stage:
        by_stage: dict[str, list[str]] = {}
        for name, st in order:
            by_stage.setdefault(st or "Journey", []).append(name)
        stages = [Stage(s, tuple(t)) for s, t in by_stage.items()]
    varying = con.execute(
        "SELECT "
        + ", ".join(f"count(DISTINCT {_q(c)})" for c in rest if c != id_col)
        + f" , 1 FROM raw GROUP BY {_q(id_col)} HAVING "
        + " OR ".join([f"count(DISTINCT {_q(c)}) > 1" for c in rest if c != id_col] or ["false"])
        + " LIMIT 1"
    ).fetchall()
    if varying:
        raise CmotError(
            "In the long file, a respondent's other columns (outcome, attributes) change from "
            "row to row; they must be the same on each of a respondent's rows."
        )
    dup = con.execute(
        f"SELECT {_q(id_col)}::VARCHAR, {_q(tp)}::VARCHAR FROM raw "
        f"GROUP BY ALL HAVING count(*) > 1 LIMIT 3"
    ).fetchall()
    if dup:
        ex = ", ".join(f"{a}/{b}" for a, b in dup)
        raise CmotError(f"Respondents rate the same touchpoint twice (e.g. {ex}); keep one row.")
    pivots = ", ".join(
        f"max({_q(score)}) FILTER (WHERE {_q(tp)}::VARCHAR = ?) AS {_q(n)}" for n in names
    )
    keep = ", ".join(f"any_value({_q(c)}) AS {_q(c)}" for c in rest if c != id_col)
    keep = (keep + ", ") if keep else ""
    con.execute(
        f"CREATE TEMP TABLE wide AS SELECT {_q(id_col)}, {keep}{pivots} FROM raw "
        f"GROUP BY {_q(id_col)} ORDER BY min(rowid)",
        names,
    )
    con.execute("DROP TABLE raw")
    con.execute("ALTER TABLE wide RENAME TO raw")
    cols_after = [r[0] for r in con.execute("DESCRIBE raw").fetchall()]
    # Keep the wide file's column order: the respondent columns as they came, ratings after.
    ordered = [c for c in columns if c in rest] + names
    if cols_after != ordered:
        con.execute(
            "CREATE TEMP TABLE wide AS SELECT "
            + ", ".join(_q(c) for c in ordered)
            + " FROM raw ORDER BY rowid"
        )
        con.execute("DROP TABLE raw")
        con.execute("ALTER TABLE wide RENAME TO raw")
    return ordered, stages


# ---- cleaning -----------------------------------------------------------------------


def _in_list(codes: Sequence[Code], text: bool) -> tuple[str, list[Any]]:
    vals = [str(c) for c in codes] if text else [c for c in codes if isinstance(c, int)]
    if not vals:
        return "(NULL)", []
    return "(" + ", ".join("?" for _ in vals) + ")", vals


def _check_columns(spec: JourneySpec, columns: list[str]) -> None:
    need = list(spec.touchpoint_columns) + [spec.outcome.column]
    need += [c for c in (spec.id_column, spec.weight_column, spec.date_column) if c]
    need += list(spec.attributes)
    missing = [c for c in dict.fromkeys(need) if c not in columns]
    if missing:
        raise CmotError(
            f"The file lacks column(s) the journey spec needs: {', '.join(missing)}. "
            f"The file has: {', '.join(columns)}."
        )
    reserved = [c for c in columns if c in DERIVED_COLUMNS]
    if reserved:
        raise CmotError(f"Column name(s) {reserved} are reserved by cmot; rename them.")


def _clean(
    spec: JourneySpec, types: dict[str, str]
) -> tuple[list[tuple[str, list[Any]]], list[tuple[str, str, str, str, list[Any]]]]:
    """The select items (SQL, params) of the stored layout, and the report's counting rules."""
    items: list[tuple[str, list[Any]]] = []
    counts: list[tuple[str, str, str, str, list[Any]]] = []  # column, reason, action, sql, params
    s = spec.scale

    o = spec.outcome
    oc = _q(o.column)
    out_codes, out_params = _in_list(spec.missing_codes(o.column), text=True)
    if o.kind == "binary":
        pos, pos_params = _in_list(o.positive, text=True)
        y = (
            f"CASE WHEN {oc} IS NULL OR trim({oc}::VARCHAR) IN {out_codes} THEN NULL "
            f"WHEN trim({oc}::VARCHAR) IN {pos} THEN 1.0 ELSE 0.0 END"
        )
        y_params = out_params + pos_params
    else:
        lo = o.min if o.min is not None else -1e300
        hi = o.max if o.max is not None else 1e300
        v = f"TRY_CAST(trim({oc}::VARCHAR) AS DOUBLE)"
        y = (
            f"CASE WHEN trim({oc}::VARCHAR) IN {out_codes} OR {v} < ? OR {v} > ? "
            f"THEN NULL ELSE {v} END"
        )
        y_params = out_params + [lo, hi]
    counts.append(
        (
            o.column,
            "outcome missing or not usable",
            "row dropped",
            f"({y}) IS NULL",
            y_params,
        )
    )

    if spec.weight_column:
        w = f"TRY_CAST({_q(spec.weight_column)}::VARCHAR AS DOUBLE)"
        w_expr = f"CASE WHEN {w} > 0 THEN {w} ELSE NULL END"
        counts.append(
            (
                spec.weight_column,
                "weight missing or not positive",
                "row dropped",
                f"({w_expr}) IS NULL",
                [],
            )
        )
    else:
        w_expr = "1.0"

    if spec.id_column:
        id_expr = f"nullif(trim({_q(spec.id_column)}::VARCHAR), '')"
        counts.append(
            (
                spec.id_column,
                "respondent id missing",
                "row dropped",
                f"{id_expr} IS NULL",
                [],
            )
        )
    else:
        id_expr = "(rowid + 1)::VARCHAR"

    items.append((f"rowid AS {_q(ROW_COL)}", []))
    items.append((f"{id_expr} AS {_q(ID_COL)}", []))
    items.append((f"({y})::DOUBLE AS {_q(Y_COL)}", list(y_params)))
    items.append((f"({w_expr})::DOUBLE AS {_q(W_COL)}", []))

    keep = [c for c in (spec.id_column, spec.date_column) if c] + list(spec.attributes)
    keep += [o.column] + ([spec.weight_column] if spec.weight_column else [])
    for col in dict.fromkeys(keep):
        c = _q(col)
        codes = spec.missing_codes(col)
        labels = spec.labels.get(col, {})
        cc, cp = _in_list(codes, text=True)
        if codes:
            counts.append(
                (
                    col,
                    f"declared missing code ({', '.join(map(str, codes))})",
                    "set to missing",
                    f"trim({c}::VARCHAR) IN {cc}",
                    cp,
                )
            )
        if labels:
            cases = " ".join("WHEN ? THEN ?" for _ in labels)
            lp = [x for kv in labels.items() for x in kv]
            items.append(
                (
                    f"CASE WHEN trim({c}::VARCHAR) IN {cc} THEN NULL ELSE CASE trim({c}::VARCHAR) "
                    f"{cases} ELSE {c}::VARCHAR END END AS {c}",
                    cp + lp,
                )
            )
        elif codes:
            items.append(
                (
                    f"CASE WHEN trim({c}::VARCHAR) IN {cc} THEN NULL ELSE {c} END AS {c}",
                    cp,
                )
            )
        else:
            items.append((c, []))

    for tp in spec.touchpoint_columns:
        c, t = _q(tp), types[tp]
        codes = spec.missing_codes(tp)
        if _is_num(t):
            value = f"{c}::DOUBLE"
            is_code, code_params = _in_list(codes, text=False)
            is_code = f"coalesce({c} IN {is_code}, false)" if code_params else "false"
        else:
            raw_text = f"trim({c}::VARCHAR)"
            value = f"TRY_CAST({raw_text} AS DOUBLE)"
            is_code, code_params = _in_list(codes, text=True)
            is_code = f"coalesce({raw_text} IN {is_code}, false)" if code_params else "false"
            counts.append(
                (
                    tp,
                    "text that is not a rating",
                    "set to missing",
                    f"{c} IS NOT NULL AND NOT {is_code} AND {value} IS NULL",
                    list(code_params),
                )
            )
        bad = f"coalesce({value} < ? OR {value} > ? OR {value} <> round({value}), false)"
        if codes:
            counts.append(
                (
                    tp,
                    f"declared missing code ({', '.join(map(str, codes))})",
                    "set to missing",
                    is_code,
                    list(code_params),
                )
            )
        counts.append(
            (
                tp,
                f"outside the {s.min}-{s.max} scale",
                "set to missing",
                f"NOT {is_code} AND {bad}",
                list(code_params) + [s.min, s.max],
            )
        )
        items.append(
            (
                f"CASE WHEN {is_code} OR {bad} THEN NULL ELSE {value} END::TINYINT AS {c}",
                list(code_params) + [s.min, s.max],
            )
        )
    return items, counts


# ---- the public entry points --------------------------------------------------------


def parse_codes(text: str) -> tuple[Code, ...]:
    """'0, 6, Blank' -> (0, 6, 'Blank'): whole numbers become ints, the rest stays text."""
    out: list[Code] = []
    for part in text.split(","):
        part = part.strip()
        if part:
            out.append(int(part) if re.fullmatch(r"-?\d+", part) else part)
    return tuple(out)


def _looks_long(con: duckdb.DuckDBPyConnection, columns: list[str]) -> bool:
    found = _long_columns(columns)
    if found is None:
        return False
    tp = found[0]
    row = con.execute(
        f"SELECT typeof(any_value({_q(tp)})), count(DISTINCT {_q(tp)}), count(*) FROM raw"
    ).fetchall()[0]
    return bool(row[0] == "VARCHAR" and row[1] < row[2])


@dataclass(frozen=True)
class _Raw:
    con: duckdb.DuckDBPyConnection
    columns: list[str]
    rows: int
    encoding: str
    layout: str
    stages: list[Stage]
    sha256: str
    source_name: str


@contextmanager
def _open_raw(
    source: str | Path | bytes,
    opts: IngestOptions,
    source_name: str | None,
    con: duckdb.DuckDBPyConnection | None = None,
) -> Iterator[_Raw]:
    """The file as a TEMP table `raw` (wide), on `con` or on a private in-memory database.

    Temp tables live in memory, never in the store's file: a file that fails validation
    leaves the store byte-for-byte as it was.
    """
    cap = opts.max_bytes if opts.max_bytes is not None else max_upload_bytes()
    name = source_name or (Path(source).name if not isinstance(source, bytes) else "upload.csv")
    own = con is None
    with _as_path(source, cap) as path:
        sha, encoding = _scan_file(path)
        check_rows(path, opts.max_rows)  # $CMOT_MAX_ROWS, on the bytes before DuckDB parses them
        if con is None:
            con = duckdb.connect()
        try:
            columns = _read_raw(con, path, encoding, opts.delimiter)
            rows = con.execute("SELECT count(*) FROM raw").fetchall()[0][0]
            if len(columns) < 2:
                raise _explain_single_column(path, encoding)
            if rows == 0:
                raise CmotError("The file has a header but no data rows. Export the responses too.")
            layout = opts.layout or ("long" if _looks_long(con, columns) else "wide")
            stages: list[Stage] = []
            if layout == "long":
                columns, stages = _pivot_long(con, columns, opts)
                rows = con.execute("SELECT count(*) FROM raw").fetchall()[0][0]
            elif layout != "wide":
                raise CmotError(f"Unknown layout {layout!r}: use 'wide' or 'long'.")
            yield _Raw(con, columns, rows, encoding, layout, stages, sha, name)
        finally:
            if own:
                con.close()
            else:
                for t in ("raw", "wide", "sample"):
                    con.execute(f"DROP TABLE IF EXISTS temp.{t}")


def _detection(raw: _Raw, opts: IngestOptions) -> Detection:
    profiles = _profile(raw.con, raw.rows)
    det = _detect(profiles, raw.rows, opts, raw.layout, raw.encoding)
    if raw.stages:
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
    with _open_raw(source, opts, source_name) as raw:
        return _detection(raw, opts)


@contextmanager
def _prepare(
    source: str | Path | bytes,
    opts: IngestOptions,
    source_name: str | None,
    con: duckdb.DuckDBPyConnection | None = None,
) -> Iterator[tuple[_Raw, Detection, JourneySpec, _Plan]]:
    with _open_raw(source, opts, source_name, con) as raw:
        det = _detection(raw, opts)
        spec = opts.spec or det.spec
        if opts.spec is not None and opts.missing is not None:
            spec = replace(spec, scale=replace(spec.scale, missing=opts.missing))
        if opts.spec is not None and opts.labels:
            spec = replace(spec, labels={**spec.labels, **opts.labels})
        spec = validate_spec(spec)
        _check_columns(spec, raw.columns)
        types = {g.column: g.dtype for g in det.columns}
        yield raw, det, spec, _plan(raw, spec, types)


def read_csv(
    source: str | Path | bytes,
    options: IngestOptions | None = None,
    source_name: str | None = None,
) -> Prepared:
    """Read, map and validate a survey CSV in memory; nothing is stored."""
    with _prepare(source, options or IngestOptions(), source_name) as (raw, det, spec, plan):
        data = raw.con.sql(plan.sql, params=plan.params).to_arrow_table()
        return Prepared(data, spec, plan.report, det, raw.source_name, raw.sha256)


@dataclass(frozen=True)
class _Plan:
    """The validated SELECT that makes the stored layout from `raw`, and its report."""

    sql: str
    params: list[Any]
    report: ValidationReport


def _plan(raw: _Raw, spec: JourneySpec, types: dict[str, str]) -> _Plan:
    con = raw.con
    items, counts = _clean(spec, types)
    select = ", ".join(i[0] for i in items)
    params = [p for i in items for p in i[1]]
    where = f"{_q(Y_COL)} IS NOT NULL AND {_q(W_COL)} IS NOT NULL AND {_q(ID_COL)} IS NOT NULL"
    sql = f"SELECT * FROM (SELECT {select} FROM raw) WHERE {where}"

    # One pass for every count the report and the checks need. counts[0] is the outcome
    # rule; items 1-3 are the id, outcome and weight expressions.
    y, y_params = items[2][0].rsplit(" AS ", 1)[0], items[2][1]
    ok = f"({counts[0][3]}) IS NOT TRUE"  # same parameters as y
    w_ok = f"({items[3][0].rsplit(' AS ', 1)[0]}) IS NOT NULL"
    id_ok = f"({items[1][0].rsplit(' AS ', 1)[0]}) IS NOT NULL"
    keep = f"({ok} AND {w_ok} AND {id_ok})"
    idc = _q(spec.id_column) if spec.id_column else None
    stats = [f"count_if({c[3]})" for c in counts]
    stat_params = [p for c in counts for p in c[4]]
    stats += [
        f"count_if({keep})",
        f"min({y}) FILTER (WHERE {keep})",
        f"max({y}) FILTER (WHERE {keep})",
        f"count({idc}) - count(DISTINCT trim({idc}::VARCHAR))" if idc else "0",
    ]
    stat_params += y_params * 5  # count_if(keep); min(y) FILTER (keep); max(y) FILTER (keep)
    row = con.execute(f"SELECT {', '.join(stats)} FROM raw", stat_params).fetchall()[0]
    tallies, (kept, y_lo, y_hi, dup_rows) = row[: len(counts)], row[len(counts) :]
    changes = tuple(
        Change(col, reason, int(k), action)
        for (col, reason, action, _, _), k in zip(counts, tallies, strict=True)
        if k
    )
    if dup_rows:
        dups = con.execute(
            f"SELECT trim({idc}::VARCHAR) FROM raw WHERE {idc} IS NOT NULL "
            "GROUP BY 1 HAVING count(*) > 1 ORDER BY min(rowid) LIMIT 5"
        ).fetchall()
        ex = ", ".join(str(d[0]) for d in dups)
        raise CmotError(
            f"{dup_rows} row(s) repeat a respondent id in {spec.id_column!r} (e.g. {ex}). "
            "Remove the duplicate rows, or map another id column."
        )
    o = spec.outcome
    if kept == 0:
        raise CmotError(
            f"No usable rows: every row lacks a usable outcome ({o.column!r}), weight or id. "
            "Check the outcome column and its positive values."
        )
    if y_lo == y_hi:
        what = "positive" if y_lo == 1 and o.kind == "binary" else "the same value"
        raise CmotError(
            f"The outcome {o.column!r} is {what} for every respondent, so nothing can explain it. "
            + (
                f"Positive values are {list(o.positive)}; check them, or pick another outcome."
                if o.kind == "binary"
                else "Pick another outcome column."
            )
        )
    notes: list[str] = []
    if spec.scale.missing:
        notes.append(
            f"{', '.join(map(str, spec.scale.missing))} in a rating means 'not applicable': "
            "treated as missing, never as a low score"
        )
    if o.kind == "binary":
        notes.append(f"outcome {o.column!r}: positive = {', '.join(o.positive)}")
    if o.kind == "recommend":
        pro, det = con.execute(
            f"SELECT avg((({y}) >= 9)::INT), avg((({y}) <= 6)::INT) FROM raw WHERE {keep}",
            y_params * 3,
        ).fetchall()[0]
        notes.append(
            f"NPS {100 * (pro - det):+.0f}: promoters (9-10) {pro:.0%}, "
            f"passives (7-8) {1 - pro - det:.0%}, detractors (0-6) {det:.0%}"
        )
    report = ValidationReport(
        source_name=raw.source_name,
        layout=raw.layout,
        encoding=raw.encoding,
        rows_read=raw.rows,
        rows_kept=int(kept),
        changes=changes,
        duplicate_ids=0,
        out_of_scale=sum(c.count for c in changes if c.reason.startswith("outside the")),
        columns_ignored=tuple(c for c in raw.columns if c not in _used_columns(spec)),
        touchpoints=spec.touchpoint_columns,
        outcome=f"{o.column} ({o.kind})",
        notes=tuple(notes),
    )
    return _Plan(sql, params, report)


def _used_columns(spec: JourneySpec) -> set[str]:
    used = set(spec.touchpoint_columns) | set(spec.attributes) | {spec.outcome.column}
    return used | {c for c in (spec.id_column, spec.weight_column, spec.date_column) if c}


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
