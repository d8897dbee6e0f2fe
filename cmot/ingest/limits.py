"""The row cap on uploads ($CMOT_MAX_ROWS), checked on the raw bytes before DuckDB reads them,
and the column cap ($CMOT_MAX_COLUMNS), checked on the header line (a CSV), the metadata (SPSS)
or the sheet's extent (Excel) before the cells are read.

The size cap ($CMOT_MAX_UPLOAD_MB) lives in cmot.ingest.read; all three run before the file is
parsed, so an oversized upload costs one pass over its bytes and never reaches the store.
"""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path

from cmot.errors import CmotError

ENV_MAX_ROWS = "CMOT_MAX_ROWS"
DEFAULT_MAX_ROWS = 5_000_000
ENV_MAX_COLUMNS = "CMOT_MAX_COLUMNS"
# The widest real survey we know has 226 columns (a city's resident survey); the largest
# Qualtrics exports run to several hundred. Mapping is linear in the columns (in batches,
# cmot.ingest.column_profiles.BATCH_COLUMNS): 2,000 map in a few seconds and a few hundred MB.
DEFAULT_MAX_COLUMNS = 2_000
_BLOCK = 1 << 22


def _setting(name: str, default: int, unit: str, least: int = 1) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(float(raw))
    except ValueError:
        raise CmotError(f"{name} must be a whole number of {unit}.") from None
    if value < least:
        raise CmotError(f"{name} must be at least {least}.")
    return value


def max_rows() -> int:
    """The configured row cap ($CMOT_MAX_ROWS, default 5,000,000 data rows)."""
    return _setting(ENV_MAX_ROWS, DEFAULT_MAX_ROWS, "rows")


def max_columns() -> int:
    """The configured column cap ($CMOT_MAX_COLUMNS, default 2,000 columns)."""
    return _setting(ENV_MAX_COLUMNS, DEFAULT_MAX_COLUMNS, "columns", least=2)


def check_column_count(columns: int, cap: int | None = None, where: str = "The file") -> None:
    """Refuse more columns than the cap (None: $CMOT_MAX_COLUMNS), saying what to do."""
    limit = max_columns() if cap is None else cap
    if columns > limit:
        raise CmotError(
            f"{where} has {columns:,} columns, more than the {limit:,} this dashboard reads "
            f"({ENV_MAX_COLUMNS}). Drop the columns the analysis does not need (or export fewer "
            "questions from the survey tool), or ask whoever runs the dashboard to raise the "
            f"limit ({ENV_MAX_COLUMNS})."
        )


def header_fields(head: bytes, delimiter: str) -> int:
    """Fields of the first record in a text file's first bytes, read as CSV (a quoted name
    may hold the delimiter or a line break). A header longer than `head` counts the fields
    read so far: a lower bound, enough to refuse a file over the cap."""
    # latin-1 maps every byte to one character, and the delimiters and quotes are ASCII,
    # which no utf-8 sequence of another character contains: the count holds for both.
    text = head.decode("latin-1")
    try:
        first = next(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter), [])
    except csv.Error:  # an unclosed quote running past `head`: count the delimiters
        first = text.split("\n", 1)[0].split(delimiter)
    return len(first)


def _lines(path: Path, stop_after: int, quoted: bool) -> int:
    """Line breaks in the file (outside double quotes when `quoted`), plus a last line that
    has none; stops early once past `stop_after`."""
    count = 0
    inside = False
    last = b"\n"
    with path.open("rb") as f:
        while block := f.read(_BLOCK):
            if quoted:
                for i, part in enumerate(block.split(b'"')):
                    if i:
                        inside = not inside
                    if not inside:
                        count += part.count(b"\n")
            else:
                count += block.count(b"\n")
            last = block[-1:]
            if count > stop_after:
                return count
    return count + (last != b"\n")


def count_rows(path: Path, stop_after: int | None = None) -> int:
    """Data rows of a CSV file: records after the header, where a line break inside a quoted
    field does not end a record. With `stop_after`, counting stops once past it, and a file
    whose line breaks alone stay within it is not parsed for quotes: the result is then only
    good for comparing with `stop_after`."""
    if stop_after is None:
        return max(_lines(path, 1 << 62, quoted=True) - 1, 0)
    physical = _lines(path, stop_after + 1, quoted=False)  # an upper bound on records
    if physical - 1 <= stop_after:
        return max(physical - 1, 0)
    return max(_lines(path, stop_after + 1, quoted=True) - 1, 0)


def check_rows(path: Path, cap: int | None = None) -> None:
    """Refuse a CSV with more data rows than the cap, with a message that says what to do."""
    limit = max_rows() if cap is None else cap
    n = count_rows(path, stop_after=limit)
    if n > limit:
        raise CmotError(
            f"The file has more than {limit:,} data rows, the limit on this dashboard. "
            f"Split it or sample it, or ask whoever runs it to raise the limit ({ENV_MAX_ROWS})."
        )
