"""The row cap on uploads ($CMOT_MAX_ROWS), checked on the raw bytes before DuckDB reads them.

The size cap ($CMOT_MAX_UPLOAD_MB) lives in cmot.ingest; both run before the file is parsed,
so an oversized upload costs one pass over its bytes and never reaches the store.
"""

from __future__ import annotations

import os
from pathlib import Path

from cmot.errors import CmotError

ENV_MAX_ROWS = "CMOT_MAX_ROWS"
DEFAULT_MAX_ROWS = 5_000_000
_BLOCK = 1 << 22


def max_rows() -> int:
    """The configured row cap ($CMOT_MAX_ROWS, default 5,000,000 data rows)."""
    raw = os.environ.get(ENV_MAX_ROWS, "").strip()
    if not raw:
        return DEFAULT_MAX_ROWS
    try:
        value = int(float(raw))
    except ValueError:
        raise CmotError(f"{ENV_MAX_ROWS} must be a whole number of rows.") from None
    if value < 1:
        raise CmotError(f"{ENV_MAX_ROWS} must be at least 1.")
    return value


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
