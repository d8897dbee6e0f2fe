"""Survey-software exports: what a file is, decided by its content, and what it says about
its columns (Qualtrics and SurveyMonkey header rows, SPSS .sav, Excel workbooks).

Every reader here ends in an Arrow table or a rewritten CSV that `cmot.ingest.read` loads into the
TEMP table `raw`, so detection and cleaning never see which software wrote the file.
"""

from __future__ import annotations

import csv
import io
import math
import re
import zipfile
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from cmot.errors import CmotError
from cmot.ingest import limits
from cmot.spec import Code

# ---- what kind of file: magic bytes first, the name only as a hint ----------------------

SAV_MAGIC = (b"$FL2", b"$FL3")  # $FL3 is the compressed .zsav
ZIP_MAGIC = b"PK\x03\x04"
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # legacy .xls, and any encrypted Office file


def sniff_container(path: Path, head: bytes, name: str) -> str:
    """'spss', 'excel', 'utf16' or 'text' from the first bytes; a CmotError for a binary file
    that is none of them. The name only sharpens the message."""
    suffix = Path(name).suffix.lower()
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "utf16"  # text behind a byte-order mark, NUL bytes and all
    if head[:4] in SAV_MAGIC:
        return "spss"
    if head.startswith(ZIP_MAGIC):
        try:
            with zipfile.ZipFile(path) as z:
                names = set(z.namelist())
        except zipfile.BadZipFile:
            # Its table of contents sits at the end: an upload cut short loses it.
            raise CmotError(
                f"{name} is damaged or incomplete (a zip file, as .xlsx files are, that cannot "
                "be opened). Save it again from Excel and upload it again."
            ) from None
        if "xl/workbook.xml" in names or "xl/workbook.bin" in names or "content.xml" in names:
            return "excel"
        raise CmotError(
            f"{name} is a zip archive but not an Excel workbook. Upload the survey as CSV, "
            "Excel (.xlsx), or SPSS (.sav)."
        )
    if head.startswith(OLE_MAGIC):
        if suffix in (".xlsx", ".xlsm"):
            # Office stores a password-protected .xlsx inside an OLE container.
            raise CmotError(
                f"{name} looks password-protected. Remove the password in Excel "
                "(File > Info > Protect Workbook) and upload it again."
            )
        return "excel"  # a legacy .xls workbook
    if b"\x00" in head:
        hint = f" ({suffix} files are not supported)" if suffix not in ("", ".csv", ".txt") else ""
        raise CmotError(
            f"This file does not look like a CSV, an Excel workbook or an SPSS file: it contains "
            f"binary data{hint}. Upload a CSV (comma- or semicolon-separated text), "
            "an Excel workbook (.xlsx) or an SPSS file (.sav)."
        )
    return "text"


# ---- header rows of survey-software CSVs -----------------------------------------------


@dataclass(frozen=True)
class Header:
    """What the first rows of a text export say: how many are headers, names and labels."""

    format: str  # qualtrics or surveymonkey
    rows: int  # header records before the first data row
    names: tuple[str, ...]
    labels: Mapping[str, str] = field(default_factory=dict)  # column -> question text


_IMPORT_ID = re.compile(r"""^\{\s*["']ImportId["']\s*:""")
# SurveyMonkey's sub-answer row names the one column of a single-answer question so.
_SM_SINGLE = ("Response", "Open-Ended Response")
_SM_META = ("Respondent ID", "Collector ID")


def _norm(text: str) -> str:
    return re.sub(r"[\s_-]+", "", text).lower()


def _clean_text(text: str) -> str:
    # Question text may span lines in the export; one line reads better everywhere.
    return re.sub(r"\s+", " ", text).strip()


def guess_delimiter(first_line: str) -> str:
    return max((",", ";", "\t", "|"), key=first_line.count)


def detect_header(records: Sequence[Sequence[str]]) -> Header | None:
    """Qualtrics (three rows with ImportIds, or the legacy two) or SurveyMonkey (two rows);
    None for a plain CSV with one header row."""
    if len(records) < 2:
        return None
    r1, r2 = [c.lstrip("\ufeff") for c in records[0]], list(records[1])
    if len(r2) != len(r1):
        return None
    r3 = list(records[2]) if len(records) > 2 else []
    import_ids = [c for c in r3 if c.strip()]
    if len(r3) == len(r1) and import_ids:
        hits = sum(bool(_IMPORT_ID.match(c.strip())) for c in import_ids)
        if hits >= 0.5 * len(import_ids):
            return _qualtrics(r1, r2, 3)
    # Legacy Qualtrics: row 1 holds V1, V2, ... or Q ids, row 2 names the response id.
    if any(_norm(c) == "responseid" for c in r2):
        return _qualtrics(r1, r2, 2)
    if any(c in _SM_SINGLE for c in r2) and (
        any(c in _SM_META for c in r1) or any(not c.strip() for c in r1[1:])
    ):
        return _surveymonkey(r1, r2)
    return None


def dedupe(names: Sequence[str]) -> list[str]:
    """Blank names become column1, column2, ...; a repeated name gets _2, _3, ..."""
    out: list[str] = []
    taken: set[str] = set()
    for i, raw in enumerate(names):
        base = raw.strip() or f"column{i + 1}"
        n, k = base, 1
        while n in taken:
            k += 1
            n = f"{base}_{k}"
        taken.add(n)
        out.append(n)
    return out


def _qualtrics(r1: list[str], r2: list[str], rows: int) -> Header:
    names = dedupe(r1)
    labels = {}
    for n, text in zip(names, r2, strict=True):
        t = _clean_text(text)
        if t and t != n:
            labels[n] = t
    return Header("qualtrics", rows, tuple(names), labels)


def _short(text: str, limit: int = 60) -> str:
    if len(text) <= limit:
        return text
    cut = text[:limit].rsplit(" ", 1)[0]
    return (cut or text[:limit]).rstrip(" ,;:-") + "…"


def _surveymonkey(r1: list[str], r2: list[str]) -> Header:
    # A question spans its own column and the blank-headed columns after it.
    question: list[str] = []
    last = ""
    for c in r1:
        last = _clean_text(c) or last
        question.append(last)
    span = Counter(question)
    counts = [span[q] for q in question]
    names: list[str] = []
    labels: list[str] = []
    for i, (q, sub) in enumerate(zip(question, r2, strict=True)):
        s = _clean_text(sub)
        if counts[i] == 1 or not s or s in _SM_SINGLE:
            names.append(_short(q or s or f"column{i + 1}"))
            labels.append(q if q and s in ("", *_SM_SINGLE) else f"{q} - {s}".strip(" -"))
        else:
            # A matrix or multiple-choice question: its options tell the columns apart.
            names.append(_short(s))
            labels.append(f"{q} - {s}")
    names = dedupe(_unique(names, question))
    return Header(
        "surveymonkey",
        2,
        tuple(names),
        {n: lab for n, lab in zip(names, labels, strict=True) if lab and lab != n},
    )


def _unique(names: list[str], question: list[str]) -> list[str]:
    """Names made unique: a repeated option name takes its question's number, then a count."""
    qnum: dict[str, int] = {}
    for q in question:
        qnum.setdefault(q, len(qnum) + 1)
    dup = {n for n, k in Counter(names).items() if k > 1}
    out = [f"Q{qnum[q]} {n}" if n in dup else n for n, q in zip(names, question, strict=True)]
    seen: dict[str, int] = {}
    final = []
    for n in out:
        k = seen.get(n, 0) + 1
        seen[n] = k
        final.append(n if k == 1 else f"{n} ({k})")
    return final


def read_head_records(head: bytes, encoding: str, delimiter: str, n: int = 3) -> list[list[str]]:
    """The first `n` records of a text file's first bytes (fewer when it has fewer)."""
    text = head.decode(encoding, errors="replace")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    out = []
    try:
        for row in reader:
            out.append(row)
            if len(out) >= n:
                break
    except csv.Error:
        return out
    return out


def data_offset(head: bytes, encoding: str, delimiter: str, records: int) -> int:
    """Byte offset of the first data record after `records` header records."""
    text = head.decode(encoding, errors="replace")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    for _ in range(records):
        next(reader)
    lines = reader.line_num  # physical lines: a quoted question text may hold line breaks
    pos = 0
    for _ in range(lines):
        nl = head.find(b"\n", pos)
        if nl < 0:
            raise CmotError(
                "The header rows are longer than expected; export the survey with fewer "
                "columns or as one header row."
            )
        pos = nl + 1
    return pos


def header_line(names: Sequence[str], delimiter: str, newline: str) -> str:
    buf = io.StringIO()
    csv.writer(buf, delimiter=delimiter, lineterminator=newline).writerow(names)
    return buf.getvalue()


# ---- tables from cells (Excel, SPSS) -----------------------------------------------------

_INT = re.compile(r"^[+-]?\d+$")
_INT64 = 2**63


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _whole(x: float) -> bool:
    return math.isfinite(x) and x == round(x) and abs(x) < _INT64


def _code_text(v: Any) -> str:
    if isinstance(v, float) and _whole(v):
        return str(int(v))
    return str(v)


def typed_column(values: Sequence[Any]) -> pa.Array:
    """One column typed as the CSV reader would type its text: whole numbers BIGINT, other
    numbers DOUBLE, dates DATE or TIMESTAMP, anything mixed VARCHAR; blanks are NULL."""
    vals = [
        None
        if v is None
        or (isinstance(v, str) and not v.strip())
        or (isinstance(v, float) and math.isnan(v))
        else v
        for v in values
    ]
    kinds = {type(v) for v in vals}
    if kinds <= {int, float, type(None)} and kinds != {type(None)}:
        # The common case, numbers and blanks, in numpy: a sheet may hold millions of cells.
        if int in kinds and any(type(v) is int and abs(v) >= 2**53 for v in vals):
            return pa.array(vals, type=pa.int64() if float not in kinds else pa.float64())
        return _numeric_array(np.array(vals, dtype=np.float64))
    present = [v for v in vals if v is not None]
    if not present:
        return pa.array([None] * len(vals), type=pa.string())
    if all(isinstance(v, datetime) for v in present):
        if all(v == datetime(v.year, v.month, v.day) for v in present):
            return pa.array([None if v is None else v.date() for v in vals], type=pa.date32())
        return pa.array(vals, type=pa.timestamp("us"))
    if all(isinstance(v, date) and not isinstance(v, datetime) for v in present):
        return pa.array(vals, type=pa.date32())
    if all(isinstance(v, str) for v in present):
        text = [v.strip() for v in present]
        if all(_INT.match(t) for t in text) and all(abs(int(t)) < _INT64 for t in text):
            return pa.array([None if v is None else int(v) for v in vals], type=pa.int64())
        try:
            [float(t) for t in text]
        except ValueError:
            pass
        else:
            return pa.array([None if v is None else float(v) for v in vals], type=pa.float64())
    return pa.array([None if v is None else _cell_text(v) for v in vals], type=pa.string())


def _cell_text(v: Any) -> str:
    if isinstance(v, bool):
        return "TRUE" if v else "FALSE"
    if isinstance(v, float):
        return _code_text(v)
    return str(v)


def table_from_columns(names: Sequence[str], columns: Sequence[Sequence[Any]]) -> pa.Table:
    return pa.table({n: typed_column(c) for n, c in zip(names, columns, strict=True)})


# ---- Excel ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Workbook:
    table: pa.Table
    sheets: tuple[str, ...]
    sheet: str
    format: str  # excel, or qualtrics / surveymonkey when the sheet carries their header rows
    labels: Mapping[str, str]


def _has_table(rows: list[list[Any]]) -> bool:
    """A sheet with data: at least a header and a row, each with two filled cells."""
    filled = 0
    for r in rows:
        if sum(1 for v in r if v is not None and not (isinstance(v, str) and not v.strip())) >= 2:
            filled += 1
            if filled >= 2:
                return True
    return False


def read_excel(path: Path, sheet: str | None, max_columns: int | None = None) -> Workbook:
    """The chosen sheet (default: the first with data) as a typed Arrow table. A sheet wider
    than `max_columns` (None: $CMOT_MAX_COLUMNS) is refused from its extent, before its
    cells become Python values; unasked, such a sheet is passed over for the next with data."""
    from python_calamine import CalamineWorkbook

    cap = max_columns if max_columns is not None else limits.max_columns()
    too_wide: tuple[str, int] | None = None

    try:
        with path.open("rb") as f:
            wb = CalamineWorkbook.from_filelike(f)
            names = tuple(wb.sheet_names)
            if sheet is not None and sheet not in names:
                raise CmotError(
                    f"The workbook has no sheet {sheet!r}. Its sheets: {', '.join(names)}."
                )
            chosen: str | None = None
            rows: list[list[Any]] = []
            for n in [sheet] if sheet is not None else list(names):
                found = wb.get_sheet_by_name(n)
                if found.width > cap:
                    if sheet is not None:
                        limits.check_column_count(found.width, cap, f"Sheet {n!r}")
                    too_wide = too_wide or (n, found.width)
                    continue
                rows = found.to_python(skip_empty_area=True)
                if sheet is not None or _has_table(rows):
                    chosen = n
                    break
    except CmotError:
        raise
    except Exception as e:  # calamine raises its own errors for damaged or encrypted files
        raise CmotError(
            f"The workbook could not be read ({type(e).__name__}: {str(e)[:120]}). "
            "Open it in Excel, save it again as .xlsx, or export the sheet as CSV."
        ) from None
    if chosen is None and too_wide is not None:
        limits.check_column_count(too_wide[1], cap, f"Sheet {too_wide[0]!r}")
    if chosen is None:
        raise CmotError(
            f"No sheet holds a table (a header row and data rows): sheets {', '.join(names)}."
        )
    rows = [list(r) for r in rows if any(v not in (None, "") for v in r)]
    if len(rows) < 2:
        raise CmotError(
            f"Sheet {chosen!r} has no data rows under its header. Pick the sheet that holds "
            f"the responses: {', '.join(names)}."
        )
    width = max(len(r) for r in rows)
    rows = [r + [None] * (width - len(r)) for r in rows]
    text = [[_cell_text(v) if v is not None else "" for v in r] for r in rows[:3]]
    header = detect_header(text)
    if header is None:
        header = Header("excel", 1, tuple(dedupe(text[0])), {})
    data = rows[header.rows :]
    columns = [[r[i] for r in data] for i in range(width)]
    return Workbook(
        table_from_columns(header.names, columns),
        names,
        chosen,
        header.format,
        header.labels,
    )


# ---- SPSS -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SavFile:
    table: pa.Table
    rows: int
    encoding: str
    labels: Mapping[str, str]
    value_labels: Mapping[str, Mapping[str, str]]
    declared_missing: Mapping[str, tuple[Code, ...]]


def sav_shape(path: Path) -> tuple[int | None, int]:
    """The row count the file declares (None when it does not say) and its columns, read
    from the metadata before the data."""
    import pyreadstat

    try:
        _, meta = pyreadstat.read_sav(str(path), metadataonly=True)
    except Exception as e:  # pyreadstat's ReadstatError and friends
        raise _bad_sav(e) from None
    n = meta.number_rows
    return (int(n) if n is not None and n >= 0 else None), len(meta.column_names)


def sav_rows(path: Path) -> int | None:
    """The row count the file declares, read before the data (None when it does not say)."""
    return sav_shape(path)[0]


def _bad_sav(e: Exception) -> CmotError:
    return CmotError(
        f"The SPSS file could not be read ({str(e)[:120] or type(e).__name__}). "
        "Save it again from SPSS as .sav, or export the data as CSV."
    )


def _as_code(v: Any) -> Code:
    if isinstance(v, float) and _whole(v):
        return int(v)
    if isinstance(v, int):
        return v
    return str(v)


def _numeric_array(x: np.ndarray) -> pa.Array:
    """SPSS numbers (all doubles) as BIGINT when every value is whole, as the CSV reader would
    type them; vectorised, since a .sav may hold millions of values."""
    nan = np.isnan(x)
    vals = x[~nan]
    if (
        vals.size
        and np.isfinite(vals).all()
        and (vals == np.round(vals)).all()
        and (np.abs(vals) < 2.0**62).all()
    ):
        return pa.array(np.where(nan, 0, x).astype(np.int64), mask=nan)
    if not vals.size:
        return pa.array([None] * len(x), type=pa.string())  # an empty column, as CSV types it
    return pa.array(x, mask=nan)


def read_sav(path: Path) -> SavFile:
    """Data, variable labels, value labels and user-declared missing values of a .sav file.

    Declared missing values are read as their values (user_missing=True) so the spec, not
    the reader, decides what they mean, and the analyst sees them.
    """
    import pyreadstat

    try:
        df, meta = pyreadstat.read_sav(str(path), user_missing=True)
    except Exception as e:
        raise _bad_sav(e) from None
    names = [str(c) for c in df.columns]
    arrays = []
    for c in df.columns:
        s = df[c]
        if s.dtype.kind in "fiu":
            arrays.append(_numeric_array(s.to_numpy(dtype="float64")))
        elif s.dtype.kind == "M":
            arrays.append(pa.array(s, from_pandas=True))
        else:
            arrays.append(typed_column(list(s)))
    table = pa.table(dict(zip(names, arrays, strict=True)))
    labels = {str(k): _clean_text(v) for k, v in meta.column_names_to_labels.items() if v}
    value_labels = {
        str(col): {_code_text(k): str(v) for k, v in vl.items()}
        for col, vl in meta.variable_value_labels.items()
        if vl
    }
    missing: dict[str, tuple[Code, ...]] = {}
    for col, ranges in meta.missing_ranges.items():
        codes: list[Code] = []
        for r in ranges:
            rng: Any = r  # a dict {"lo": ..., "hi": ...} for .sav files
            lo, hi = rng["lo"], rng["hi"]
            if lo == hi:
                codes.append(_as_code(lo))
                continue
            # A range (e.g. 97 thru 99): the values the data holds within it, and its ends.
            inside = {
                _as_code(v) for v in df[col] if _is_num(v) and not math.isnan(v) and lo <= v <= hi
            }
            codes += sorted(inside | {_as_code(lo), _as_code(hi)}, key=str)
        missing[str(col)] = tuple(dict.fromkeys(codes))
    return SavFile(
        table,
        len(df),
        str(meta.file_encoding or "utf-8").lower(),
        labels,
        value_labels,
        missing,
    )


# ---- what the survey software says about its columns ---------------------------------------

# Columns Qualtrics adds to every export; none is an answer. ResponseId is the respondent id.
QUALTRICS_META = (
    "StartDate",
    "EndDate",
    "Status",
    "IPAddress",
    "Progress",
    "Duration (in seconds)",
    "Finished",
    "RecordedDate",
    "ResponseId",
    "ExternalReference",
    "DistributionChannel",
    "UserLanguage",
    # the legacy export's names
    "ResponseSet",
    "ExternalDataReference",
    "EmailAddress",
    "Name",
)
_QUALTRICS_PREFIXES = ("recipient", "location")
_META_NORM = frozenset(_norm(m) for m in QUALTRICS_META)


def qualtrics_role(column: str, label: str = "") -> str | None:
    """'id' for the response id, 'ignore' for other Qualtrics metadata, else None.

    The legacy export names its metadata V1..V10 and puts the real names in the label row;
    a label must match a name exactly, since question text may start with "Location".
    """
    n, lab = _norm(column), _norm(label)
    if "responseid" in (n, lab):
        return "id"
    if n in _META_NORM or lab in _META_NORM or n.startswith(_QUALTRICS_PREFIXES):
        return "ignore"
    if lab.startswith(_QUALTRICS_PREFIXES) and label.strip().isalpha():
        return "ignore"  # RecipientLastName, LocationLatitude, ... as one word
    return None


# Columns SurveyMonkey adds before the questions; Respondent ID is the respondent id.
SURVEYMONKEY_META = (
    "Collector ID",
    "Start Date",
    "End Date",
    "IP Address",
    "Email Address",
    "First Name",
    "Last Name",
    "Custom Data",
    "Custom Data 1",
)
_SM_META_NORM = frozenset(_norm(m) for m in SURVEYMONKEY_META)


def metadata_role(fmt: str, column: str, label: str = "") -> tuple[str, str] | None:
    """(role, reason) for a column the survey software added, else None."""
    if fmt == "qualtrics":
        role = qualtrics_role(column, label)
        return (role, "Qualtrics metadata") if role else None
    if fmt == "surveymonkey":
        n = _norm(column)
        if n == "respondentid":
            return ("id", "SurveyMonkey metadata")
        if n in _SM_META_NORM:
            return ("ignore", "SurveyMonkey metadata")
    return None


# The first bytes of an Excel workbook: .xlsx is a zip file, .xls an OLE2 compound file.
_WORKBOOK_MAGIC = (b"PK\x03\x04", b"\xd0\xcf\x11\xe0")


def check_sheet(path: str | Path, sheet: str | None) -> None:
    """--sheet names a sheet of an Excel workbook: on any other file it is a mistake to say."""
    if sheet is None:
        return
    try:
        with open(path, "rb") as f:
            head = f.read(4)
    except OSError:
        return  # the reader says what is wrong with the path
    if not head.startswith(_WORKBOOK_MAGIC):
        raise CmotError(
            f"--sheet applies to Excel workbooks (.xlsx); {Path(path).name} is not one. "
            "Drop --sheet."
        )
