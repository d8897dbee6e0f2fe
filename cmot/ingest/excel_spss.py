"""SPSS .sav files and Excel workbooks as typed Arrow tables: cells typed as the CSV reader
would type their text (`typed_column`), an Excel sheet with its survey-software header rows
(`read_excel`), a .sav file's data with its variable labels, value labels and declared
missing values (`read_sav`; its shape from the metadata, `sav_shape`).

Every reader here ends in an Arrow table that `cmot.ingest.read` loads into the TEMP table
`raw`, so detection and cleaning never see which software wrote the file.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from cmot.errors import CmotError
from cmot.ingest import limits
from cmot.ingest.formats import Header, dedupe, detect_header, one_line
from cmot.spec import Code

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
    labels = {str(k): one_line(v) for k, v in meta.column_names_to_labels.items() if v}
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
