"""Survey-software exports: what a file is, decided by its content, and what it says about
its columns (Qualtrics and SurveyMonkey header rows and metadata columns; `--sheet` on a
workbook only). SPSS .sav files and Excel workbooks are read in `cmot.ingest.excel_spss`.

A header row is rewritten as a CSV that `cmot.ingest.read` loads into the TEMP table `raw`, so
detection and cleaning never see which software wrote the file.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from cmot.errors import CmotError

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


def one_line(text: str) -> str:
    """Text on one line, its runs of spaces and line breaks one space, trimmed."""
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
        t = one_line(text)
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
        last = one_line(c) or last
        question.append(last)
    span = Counter(question)
    counts = [span[q] for q in question]
    names: list[str] = []
    labels: list[str] = []
    for i, (q, sub) in enumerate(zip(question, r2, strict=True)):
        s = one_line(sub)
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
