"""Reading a survey file into a raw table: size and row caps, encoding, CSV dialect; a long
layout pivoted to wide (`cmot.ingest.long_layout`)."""

from __future__ import annotations

import codecs
import hashlib
import os
import re
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import duckdb

from cmot.errors import CmotError
from cmot.ingest import excel_spss, formats
from cmot.ingest.limits import ENV_MAX_ROWS, check_column_count, check_rows, header_fields, max_rows
from cmot.ingest.long_layout import guess_layout, pivot_long
from cmot.ingest.options import IngestOptions
from cmot.names import quote_ident
from cmot.processes import pid_running
from cmot.spec import (
    Code,
    Stage,
)

ENV_MAX_MB = "CMOT_MAX_UPLOAD_MB"
DEFAULT_MAX_MB = 500
SNIFF_BYTES = 1 << 16
HEADER_BYTES = 1 << 22  # survey-software header rows (question text) fit in 4 MB

_q = quote_ident


def max_upload_bytes() -> int:
    """The configured size cap ($CMOT_MAX_UPLOAD_MB, default 500 MB)."""
    try:
        return int(float(os.environ.get(ENV_MAX_MB, DEFAULT_MAX_MB)) * 1024 * 1024)
    except ValueError:
        raise CmotError(f"{ENV_MAX_MB} must be a number of megabytes.") from None


# ---- reading the raw file -----------------------------------------------------------

# An upload is read from temporary copies (the bytes; a UTF-8 one; one without survey
# software's header rows) named for the process that made them, removed when the read ends.
# A process killed mid-read (SIGKILL, an unhandled SIGTERM) leaves its copies, up to the
# upload cap each: `sweep_uploads` (at a server's start) removes those of processes gone.
UPLOAD_PREFIX = "cmot-upload-"
_UNOWNED_AGE_S = 24 * 3600  # copies named before the owner's pid was in the name


def sweep_uploads(folder: Path | None = None, now: float | None = None) -> list[Path]:
    """Remove the upload copies whose process no longer runs (in `folder`, the temporary
    directory by default), and unowned ones older than a day; return what was removed."""
    folder = Path(tempfile.gettempdir()) if folder is None else folder
    now = time.time() if now is None else now
    removed = []
    for path in folder.glob(UPLOAD_PREFIX + "*"):
        owner = path.name[len(UPLOAD_PREFIX) :].split("-", 1)[0]
        try:
            stale = (
                not pid_running(int(owner))
                if owner.isdigit()
                else now - path.stat().st_mtime > _UNOWNED_AGE_S
            )
            if stale and path.is_file():
                path.unlink()
                removed.append(path)
        except OSError:  # gone meanwhile, or not ours to remove: leave it
            continue
    return removed


def _temp_copy(kind: str, suffix: str = "") -> tuple[int, str]:
    """A new temporary file for a copy of an upload (`kind`: what the copy is), named for
    this process so that `sweep_uploads` knows whose it is."""
    return tempfile.mkstemp(suffix=suffix, prefix=f"{UPLOAD_PREFIX}{os.getpid()}-{kind}-")


@contextmanager
def _as_path(source: str | Path | bytes, max_bytes: int) -> Iterator[Path]:
    if isinstance(source, bytes):
        if len(source) > max_bytes:
            raise _too_big(len(source), max_bytes)
        fd, name = _temp_copy("bytes")
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
        # Megabytes as the setting counts them (MiB), so CMOT_MAX_UPLOAD_MB=50 reads "50 MB".
        f"The file is {size / 2**20:,.1f} MB, over the {cap / 2**20:,.0f} MB limit. "
        f"Split it, drop unused columns, or raise the limit ({ENV_MAX_MB})."
    )


def _hash_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(1 << 22):
            h.update(block)
    return h.hexdigest()


def _scan_file(path: Path) -> tuple[str, str, int]:
    """sha256, encoding and physical lines of a text file in one read: utf-8 (BOM or not)
    when every byte decodes, else latin-1; binary content is refused (Excel and SPSS never
    come here). The lines bound the records from above, for the row cap."""
    h = hashlib.sha256()
    decoder = codecs.getincrementaldecoder("utf-8")()
    encoding = "utf-8"
    lines = 0
    last = b"\n"
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
            lines += block.count(b"\n")
            last = block[-1:]
            # isascii() is a fast scan; ASCII is valid utf-8 and leaves no partial character.
            if encoding == "utf-8" and not (block.isascii() and not decoder.getstate()[0]):
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
    return h.hexdigest(), encoding, lines + (last != b"\n")


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
        first = without_paths(first)
        raise CmotError(
            f"The file could not be read as CSV{line}: {first}. Check quoting and delimiters."
        ) from None
    return _finish_columns(con)


def without_paths(text: str) -> str:
    """A reader's message without the absolute paths in it: DuckDB names the file it read,
    a temporary copy on the server (`/tmp/cmot-upload-…`), which is no reader's business."""
    return re.sub(r' ?"?/[^"\s]+"?', "", text)


def _finish_columns(con: duckdb.DuckDBPyConnection) -> list[str]:
    """The raw table's column names, trimmed; a reserved or repeated name is refused."""
    cols = [r[0] for r in con.execute("DESCRIBE raw").fetchall()]
    # A name of spaces alone (or control characters Python counts as spaces) is no name.
    stripped = [c.strip() or f"column{i + 1}" for i, c in enumerate(cols)]
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


@dataclass(frozen=True)
class RawFile:
    con: duckdb.DuckDBPyConnection
    columns: list[str]
    rows: int
    encoding: str
    layout: str
    stages: list[Stage]
    sha256: str
    source_name: str
    # What the survey software said about the columns (Qualtrics, SurveyMonkey, SPSS, Excel).
    format: str = "csv"  # csv, qualtrics, surveymonkey, spss, excel
    labels: Mapping[str, str] = field(default_factory=dict)  # column -> question text
    value_labels: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    declared_missing: Mapping[str, tuple[Code, ...]] = field(default_factory=dict)
    sheets: tuple[str, ...] = ()  # an Excel workbook's sheets
    sheet: str | None = None  # the sheet that was read
    layout_reason: str = ""  # why the layout is long or wide (guess_layout), or "set by you"
    # A repeated header is read under a new name (q1, q1_1): column as read -> header as written.
    renamed: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class _Loaded:
    """What a reader left in `raw` and what the file said about its columns."""

    columns: list[str]
    encoding: str
    format: str
    labels: Mapping[str, str] = field(default_factory=dict)
    value_labels: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    declared_missing: Mapping[str, tuple[Code, ...]] = field(default_factory=dict)
    sheets: tuple[str, ...] = ()
    sheet: str | None = None
    renamed: Mapping[str, str] = field(default_factory=dict)  # column as read -> header


@contextmanager
def _utf8_copy(path: Path, encoding: str = "utf-16") -> Iterator[Path]:
    fd, name = _temp_copy("utf8", ".csv")
    try:
        with (
            os.fdopen(fd, "w", encoding="utf-8", newline="") as out,
            path.open("r", encoding=encoding, errors="replace", newline="") as src,
        ):
            while block := src.read(1 << 20):
                out.write(block)
        yield Path(name)
    finally:
        os.unlink(name)


def _windows_encoding(path: Path) -> str | None:
    """'cp1252' for a Windows export whose quotes and dashes sit in bytes 0x80-0x9F, which
    DuckDB's latin-1 refuses ('latin-1' where one of those bytes is not cp1252 either);
    None for a file without them, which DuckDB reads as latin-1 itself."""
    c1 = re.compile(rb"[\x80-\x9f]")
    with path.open("rb") as f:
        while block := f.read(1 << 22):
            if c1.search(block):
                break
        else:
            return None
    try:
        with path.open("r", encoding="cp1252", newline="") as text:
            while text.read(1 << 20):
                pass
    except UnicodeDecodeError:
        return "latin-1"
    return "cp1252"


def _read_head(path: Path) -> bytes:
    with path.open("rb") as f:
        return f.read(HEADER_BYTES)


def _read_text(
    con: duckdb.DuckDBPyConnection, path: Path, head: bytes, encoding: str, opts: IngestOptions
) -> _Loaded:
    """A CSV; a Qualtrics or SurveyMonkey export is read from its data rows under one header
    row of names, so types are sniffed on answers only."""
    first = head.split(b"\n", 1)[0].decode(encoding, errors="replace")
    delim = opts.delimiter or formats.guess_delimiter(first)
    records = formats.read_head_records(head, encoding, delim)
    header = formats.detect_header(records)
    if header is None:
        columns = _read_raw(con, path, encoding, opts.delimiter)
        names = records[0] if records else []
        return _Loaded(columns, encoding, "csv", renamed=renamed_duplicates(names, columns))
    start = formats.data_offset(head, encoding, delim, header.rows)
    fd, name = _temp_copy("header", ".csv")
    try:
        with os.fdopen(fd, "wb") as out, path.open("rb") as src:
            # The file's own line ending: DuckDB's sniffer refuses a file that mixes them.
            newline = "\r\n" if head[max(start - 2, 0) : start] == b"\r\n" else "\n"
            out.write(formats.header_line(header.names, delim, newline).encode(encoding))
            src.seek(start)
            while block := src.read(1 << 22):
                out.write(block)
        columns = _read_raw(con, Path(name), encoding, delim)
    finally:
        os.unlink(name)
    labels = {c.strip(): t for c, t in header.labels.items()}
    renamed = renamed_duplicates(header.names, columns)
    return _Loaded(columns, encoding, header.format, labels, renamed=renamed)


def renamed_duplicates(header: Sequence[str], columns: Sequence[str]) -> dict[str, str]:
    """Columns read under another name than their header because the header repeats
    (DuckDB reads a second `q1` as `q1_1`): column as read -> the header as written, so the
    report can say so instead of renaming silently."""
    names = [h.strip() for h in header]
    if len(names) != len(columns):
        return {}  # not the same columns (a header cut by the sniff's head): say nothing
    twice = {n for n in names if names.count(n) > 1}
    return {c: n for n, c in zip(names, columns, strict=True) if n in twice and c != n}


def _load_arrow(con: duckdb.DuckDBPyConnection, table: Any) -> list[str]:
    # Through Arrow: DuckDB copies the typed columns once, with no text round trip.
    con.register("cmot_incoming_file", table)
    try:
        con.execute("CREATE TEMP TABLE raw AS SELECT * FROM cmot_incoming_file")
    finally:
        con.unregister("cmot_incoming_file")
    return _finish_columns(con)


def _check_row_count(rows: int, cap: int | None) -> None:
    """The row cap for files whose rows are known only once read (Excel) or declared (SPSS)."""
    limit = max_rows() if cap is None else cap
    if rows > limit:
        raise CmotError(
            f"The file has more than {limit:,} data rows, the limit on this dashboard. "
            f"Split it or sample it, or ask whoever runs it to raise the limit ({ENV_MAX_ROWS})."
        )


def _read_binary(
    con: duckdb.DuckDBPyConnection, path: Path, kind: str, opts: IngestOptions
) -> _Loaded:
    if kind == "spss":
        declared, width = excel_spss.sav_shape(path)
        check_column_count(width, opts.max_columns)  # from the metadata, before the data
        if declared is not None:
            _check_row_count(declared, opts.max_rows)  # before the data is read
        sav = excel_spss.read_sav(path)
        _check_row_count(sav.rows, opts.max_rows)
        columns = _load_arrow(con, sav.table)
        return _Loaded(
            columns, sav.encoding, "spss", sav.labels, sav.value_labels, sav.declared_missing
        )
    book = excel_spss.read_excel(path, opts.sheet, opts.max_columns)
    _check_row_count(book.table.num_rows, opts.max_rows)
    columns = _load_arrow(con, book.table)
    fmt = "excel" if book.format in ("excel", "csv") else book.format
    return _Loaded(columns, "utf-8", fmt, book.labels, sheets=book.sheets, sheet=book.sheet)


def _check_text(path: Path, head: bytes, opts: IngestOptions) -> tuple[str, str]:
    """A text file's sha256 and encoding, its caps checked before it is parsed: the columns
    on the header line, the rows on the bytes."""
    # $CMOT_MAX_COLUMNS on the header line, before the file is scanned or parsed.
    first = head.split(b"\n", 1)[0].decode("latin-1")
    delim = opts.delimiter or formats.guess_delimiter(first)
    check_column_count(header_fields(head, delim), opts.max_columns)
    sha, encoding, lines = _scan_file(path)
    if lines - 1 > (max_rows() if opts.max_rows is None else opts.max_rows):
        # More lines than the cap: count records, since quoted fields hold line breaks.
        check_rows(path, opts.max_rows)  # $CMOT_MAX_ROWS, on the bytes before parsing
    return sha, encoding


def _load(
    con: duckdb.DuckDBPyConnection,
    stack: ExitStack,
    path: Path,
    kind: str,
    head: bytes,
    encoding: str,
    opts: IngestOptions,
) -> tuple[_Loaded, Path]:
    """The file loaded into `raw` by its kind's reader, and the path that was read (a UTF-8
    copy of a Windows export, kept open on `stack`)."""
    windows = _windows_encoding(path) if kind == "text" and encoding == "latin-1" else None
    if windows is not None:
        # Read a UTF-8 copy; the report still names the file's own encoding.
        path = stack.enter_context(_utf8_copy(path, windows))
        loaded = _read_text(con, path, _read_head(path), "utf-8", opts)
        return replace(loaded, encoding=windows), path
    if kind == "text":
        return _read_text(con, path, head, encoding, opts), path
    return _read_binary(con, path, kind, opts), path


def _check_some_data(loaded: _Loaded, rows: int, kind: str, path: Path, encoding: str) -> None:
    """Refuse a file of one column (a delimiter not recognised, a sheet of notes) or of no
    data rows, saying why."""
    if len(loaded.columns) < 2:
        if kind == "text":
            raise _explain_single_column(path, encoding)
        where = f" on sheet {loaded.sheet!r}" if loaded.sheet else ""
        pick = (
            f" Pick the sheet that holds the responses: {', '.join(loaded.sheets)}."
            if len(loaded.sheets) > 1
            else ""
        )
        raise CmotError(
            f"Only one column was found{where}. Survey responses need one column per "
            f"question.{pick}"
        )
    if rows == 0:
        raise CmotError("The file has a header but no data rows. Export the responses too.")


def _layout(
    con: duckdb.DuckDBPyConnection, columns: list[str], opts: IngestOptions
) -> tuple[str, str, list[str], list[Stage]]:
    """The layout, why, and `raw`'s columns and stages once wide (a long file pivoted)."""
    if opts.layout:
        layout, layout_reason = opts.layout, f"{opts.layout}: set by you"
    else:
        layout, layout_reason = guess_layout(con, columns)
    stages: list[Stage] = []
    if layout == "long":
        columns, stages = pivot_long(con, columns, opts)
    elif layout != "wide":
        raise CmotError(f"Unknown layout {layout!r}: use 'wide' or 'long'.")
    return layout, layout_reason, columns, stages


@contextmanager
def open_raw(
    source: str | Path | bytes,
    opts: IngestOptions,
    source_name: str | None,
    con: duckdb.DuckDBPyConnection | None = None,
) -> Iterator[RawFile]:
    """The file as a TEMP table `raw` (wide), on `con` or on a private in-memory database.

    CSV, Qualtrics and SurveyMonkey CSV, SPSS .sav and Excel workbooks are told apart by
    their content; the file name only sharpens messages. Temp tables live in memory, never
    in the store's file: a file that fails validation leaves the store byte-for-byte as it
    was.
    """
    cap = opts.max_bytes if opts.max_bytes is not None else max_upload_bytes()
    name = source_name or (Path(source).name if not isinstance(source, bytes) else "upload.csv")
    own = con is None
    with _as_path(source, cap) as path, ExitStack() as stack:
        head = _read_head(path)
        if not head:
            raise CmotError("The file is empty. Upload a CSV with a header row and data rows.")
        kind = formats.sniff_container(path, head, name)
        original_sha = None
        utf16 = kind == "utf16"  # the report names the file's own encoding, not its copy's
        if kind == "utf16":
            # Excel's "Unicode text" and some survey tools write UTF-16: read a UTF-8 copy.
            original_sha = _hash_file(path)
            path = stack.enter_context(_utf8_copy(path))
            head, kind = _read_head(path), "text"
        encoding = ""  # a text file's, from its bytes; a binary file's reader says its own
        if kind == "text":
            sha, encoding = _check_text(path, head, opts)
            sha = original_sha or sha
        else:
            sha = _hash_file(path)
        if con is None:
            con = duckdb.connect()
        try:
            loaded, path = _load(con, stack, path, kind, head, encoding, opts)
            rows = con.execute("SELECT count(*) FROM raw").fetchall()[0][0]
            _check_some_data(loaded, rows, kind, path, encoding)
            layout, layout_reason, columns, stages = _layout(con, loaded.columns, opts)
            if layout == "long":
                rows = con.execute("SELECT count(*) FROM raw").fetchall()[0][0]
            kept = set(columns)
            yield RawFile(
                con,
                columns,
                rows,
                "utf-16" if utf16 else loaded.encoding,
                layout,
                stages,
                sha,
                name,
                format=loaded.format,
                labels={c: t for c, t in loaded.labels.items() if c in kept},
                value_labels={c: v for c, v in loaded.value_labels.items() if c in kept},
                declared_missing={c: v for c, v in loaded.declared_missing.items() if c in kept},
                sheets=loaded.sheets,
                sheet=loaded.sheet,
                layout_reason=layout_reason,
                renamed={c: h for c, h in loaded.renamed.items() if c in kept},
            )
        finally:
            if own:
                con.close()
            else:
                for t in ("raw", "wide", "sample"):
                    con.execute(f"DROP TABLE IF EXISTS temp.{t}")
