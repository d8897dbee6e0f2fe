"""Given segments: one categorical column, a combination of two, or a banded number
(`given_segments`, with `suggest_cuts` and `band_names`); `given_labels` codes rows by the
stored levels or cuts."""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from cmot.errors import CmotError
from cmot.names import ROW_COL, W_COL
from cmot.segments.features import as_text, is_numeric, read_columns
from cmot.segments.profiles import profile_table
from cmot.segments.segmentation import Segmentation
from cmot.store.segmentations import check_segment_names


def _nice(v: float, step: float) -> float:
    return float(round(v / step) * step)


def suggest_cuts(
    values: Sequence[float] | np.ndarray | pd.Series, bands: int = 4
) -> tuple[float, ...]:
    """Cut points for `bands` roughly equal-sized bands, rounded to readable numbers."""
    v = pd.to_numeric(pd.Series(values), errors="coerce").dropna().to_numpy(np.float64)
    if len(v) == 0 or bands < 2:
        return ()
    qs = np.quantile(v, np.linspace(0, 1, bands + 1)[1:-1])
    spread = float(np.quantile(v, 0.95) - np.quantile(v, 0.05)) or float(v.max() - v.min()) or 1.0
    step = 10.0 ** math.floor(math.log10(spread)) / 10
    if step >= 1 and spread / step > 50:  # 1,840 -> 1,800 rather than 1,840 for a 5,000 spread
        step *= 5
    # A spread near the smallest float (5e-324) makes the step underflow to 0: cut unrounded.
    cuts = sorted({_nice(q, step) if step > 0 else float(q) for q in qs})
    lo, hi = float(v.min()), float(v.max())
    return tuple(c for c in cuts if lo < c <= hi)


def _fmt(x: float) -> str:
    return f"{x:,.0f}" if float(x).is_integer() else f"{x:,.4g}"


def band_names(column: str, cuts: Sequence[float]) -> tuple[str, ...]:
    """Labels of the bands [-inf, c1), [c1, c2), ... [c_last, inf)."""
    if not cuts:
        return (f"{column}: all",)
    names = [f"{column} < {_fmt(cuts[0])}"]
    names += [f"{column} {_fmt(a)} to < {_fmt(b)}" for a, b in itertools.pairwise(cuts)]
    names.append(f"{column} {_fmt(cuts[-1])}+")
    return tuple(names)


def given_labels(frame: pd.DataFrame, model: dict[str, Any]) -> np.ndarray:
    """Segment codes from the stored levels (or cuts); unknown levels get -1."""
    col = model["columns"]
    if model.get("cuts") is not None:
        v = pd.to_numeric(frame[col[0]], errors="coerce").to_numpy(np.float64, na_value=np.nan)
        code = np.searchsorted(np.array(model["cuts"], dtype=np.float64), v, side="right")
        return np.where(np.isnan(v), -1, code).astype(np.int64)
    key = as_text(frame[col[0]])
    for c in col[1:]:
        key = key + " / " + as_text(frame[c])
    lookup = {lv: i for i, lv in enumerate(model["levels"])}
    return key.map(lookup).fillna(-1).astype(np.int64).to_numpy()


def given_segments(
    con: duckdb.DuckDBPyConnection,
    table: str,
    columns: Sequence[str],
    *,
    cuts: Sequence[float] | None = None,
    bands: int = 4,
    describe: Sequence[str] = (),
) -> Segmentation:
    """Segments from one categorical column, a combination of two, or a banded number.

    A numeric column with more than 12 distinct values is cut into `bands` bands at
    `suggest_cuts` (or the caller's `cuts`, returned in `.cuts` for editing); bands are
    [lower, upper). Missing values form their own "(missing)" segment for categories and are
    left unassigned (-1) for numbers.
    """
    columns = list(columns)
    if not 1 <= len(columns) <= 2:
        raise CmotError("Pick one column, or two to combine, for given segments.")
    frame = read_columns(con, table, [*columns, *describe])
    first = frame[columns[0]]
    banded = len(columns) == 1 and is_numeric(first) and (cuts is not None or first.nunique() > 12)
    model: dict[str, Any] = {"columns": columns}
    if banded:
        cut_t = tuple(
            sorted(float(c) for c in (cuts if cuts is not None else suggest_cuts(first, bands)))
        )
        names = band_names(columns[0], cut_t)
        model["cuts"] = list(cut_t)
        method = "bands"
    else:
        cut_t = ()
        key = as_text(frame[columns[0]])
        for c in columns[1:]:
            key = key + " / " + as_text(frame[c])
        levels = sorted(key.unique())
        if len(levels) > 50:
            raise CmotError(
                f"{' x '.join(columns)} has {len(levels)} distinct values: too many segments. "
                "Pick a column with fewer values, or band a numeric column."
            )
        names = tuple(levels)  # the user's own values are the clearest names
        model["levels"] = levels
        method = "combination" if len(columns) == 2 else "column"
    labels = given_labels(frame, model)
    names = check_segment_names(names, len(names))
    sizes, profile = profile_table(
        frame,
        labels,
        names,
        list(dict.fromkeys([*columns, *describe])),
        frame[W_COL].to_numpy(),
    )
    return Segmentation(
        mode="given",
        method=method,
        columns=tuple(columns),
        k=len(names),
        seed=0,
        names=names,
        rows=frame[ROW_COL].to_numpy(np.int64),
        labels=labels,
        sizes=sizes,
        profile=profile,
        k_curve=pd.DataFrame(columns=["k", "silhouette", "inertia", "bic", "loglik", "chosen"]),
        stability=None,
        model=model,
        cuts=cut_t,
        settings={"bands": bands, "describe": list(describe)},
    )
