"""The derived columns every stored dataset has, and the one way a name or a text enters SQL.

Shared vocabulary: reading, detection, cleaning, the store and the engine all use these.
"""

from __future__ import annotations

from cmot.errors import CmotError

# Every stored dataset has these derived columns besides the user's own
# (touchpoints as TINYINT with NULL = missing, attributes as read or labelled):
ROW_COL = "__cmot_row"  # BIGINT, 0-based position in the source file (external: id hash)
ID_COL = "__cmot_id"  # VARCHAR respondent id (the row number when the file has none)
Y_COL = "__cmot_y"  # DOUBLE outcome: 1/0 for binary, the score for scale and recommend
W_COL = "__cmot_w"  # DOUBLE survey weight, 1.0 when the file has none
DERIVED_COLUMNS = (ROW_COL, ID_COL, Y_COL, W_COL)

# The columns of a saved segmentation's assignments file (and of segment_sql()):
SEGMENT_COL = "__cmot_segment"  # the segment's current name
SEGMENT_CODE_COL = "__cmot_segment_code"  # 0 = the largest segment


def quote_ident(name: str) -> str:
    """The one way a user's column or table name enters SQL: as a quoted identifier."""
    if "\x00" in name:
        raise CmotError(f"The name {name!r} contains a NUL character; rename it.")
    return '"' + name.replace('"', '""') + '"'


def quote_literal(text: str) -> str:
    """A string as an SQL literal, for the few places DuckDB takes no parameter (a file to read)."""
    if "\x00" in text:
        raise CmotError(f"The text {text!r} contains a NUL character.")
    return "'" + text.replace("'", "''") + "'"
