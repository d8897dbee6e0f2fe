"""Features for segmentation: columns read from DuckDB, and the sklearn ColumnTransformer
(numbers imputed, scaled, skewed ones logged; categories one-hot), its parameters and their
application to new rows; the needs-based rating matrix."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import duckdb
import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

from cmot.errors import CmotError, engine_message
from cmot.names import ROW_COL, W_COL, Y_COL, quote_ident
from cmot.segments.segmentation import MISSING_LEVEL

MAX_LEVELS = 100  # a category with more levels (an id, free text) would one-hot into noise

# The read_* functions read `table`, an already quoted table name (`DatasetInfo.table`),
# through `con`, a DuckDB connection or the store's cursor, and pull only the columns a fit
# needs. Rows are always in `__cmot_row` order; `Segmentation.rows` says which row each
# label is.


def read_columns(
    con: duckdb.DuckDBPyConnection, table: str, columns: Sequence[str]
) -> pd.DataFrame:
    """The named columns plus row id and weight, in row order (only what the fit needs)."""
    cols = ", ".join(quote_ident(c) for c in dict.fromkeys(columns))
    sep = ", " if cols else ""
    try:
        return con.execute(
            f"SELECT {ROW_COL}, {W_COL}{sep}{cols} FROM {table} ORDER BY {ROW_COL}"
        ).df()
    except duckdb.BinderException as e:
        raise CmotError(
            f"A segmentation column is not in the dataset: {engine_message(e)}. Pick columns the "
            "dataset has."
        ) from None


def read_ratings(con: duckdb.DuckDBPyConnection, table: str, columns: Sequence[str]) -> np.ndarray:
    """Touchpoint ratings as float64 with NaN for missing, rows in `__cmot_row` order."""
    sel = ", ".join(f"CAST({quote_ident(c)} AS DOUBLE)" for c in columns)
    res = con.execute(f"SELECT {sel} FROM {table} ORDER BY {ROW_COL}").fetchnumpy()
    return np.column_stack([np.ma.filled(v, np.nan) for v in res.values()]).astype(np.float64)


def read_outcome(con: duckdb.DuckDBPyConnection, table: str) -> np.ndarray:
    """The outcome (`__cmot_y`) as float64, NaN where there is none."""
    res = con.execute(f"SELECT {Y_COL} FROM {table} ORDER BY {ROW_COL}").fetchnumpy()
    return np.ma.filled(res[Y_COL].astype(np.float64), np.nan)


def is_numeric(s: pd.Series) -> bool:
    """A number column (booleans count as categories)."""
    return pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s)


def as_text(s: pd.Series) -> pd.Series:
    """Categories as plain text with an explicit level for missing (it is information)."""
    return s.astype(object).where(s.notna(), MISSING_LEVEL).astype(str)


def is_skewed(s: pd.Series) -> bool:
    # Money, distances and durations are multiplicative: log them, or a few large values
    # decide the clusters. Only for non-negative, clearly right-skewed numbers.
    v = pd.to_numeric(s, errors="coerce").dropna()
    return bool(len(v) > 2 and v.min() >= 0 and v.skew() > 1.0)


def column_kinds(
    frame: pd.DataFrame, columns: Sequence[str]
) -> tuple[list[str], list[str], list[str]]:
    """(log-scaled numbers, plain numbers, categories)."""
    logged: list[str] = []
    plain: list[str] = []
    cats: list[str] = []
    for c in columns:
        if is_numeric(frame[c]) and frame[c].nunique(dropna=True) > 2:
            (logged if is_skewed(frame[c]) else plain).append(c)
        else:
            levels = frame[c].nunique(dropna=False)
            if levels > MAX_LEVELS:
                raise CmotError(
                    f"{c!r} has {levels:,} distinct values: too many to segment on. Leave it "
                    "out, or band it first if it is a number stored as text."
                )
            cats.append(c)
    return logged, plain, cats


def categories_as_text(frame: pd.DataFrame, cats: Sequence[str]) -> pd.DataFrame:
    out = frame.copy()
    for c in cats:
        out[c] = as_text(out[c])
    return out


def feature_transformer(logged: list[str], plain: list[str], cats: list[str]) -> ColumnTransformer:
    """Numbers imputed (median) and standardised, skewed ones logged first; categories one-hot."""
    parts: list[tuple[str, Any, list[str]]] = []
    if logged:
        steps = [
            ("log", FunctionTransformer(np.log1p, feature_names_out="one-to-one")),
            ("impute", SimpleImputer(strategy="median")),
            ("scale", StandardScaler()),
        ]
        parts.append(("log", Pipeline(steps), logged))
    if plain:
        steps = [
            ("impute", SimpleImputer(strategy="median")),
            ("scale", StandardScaler()),
        ]
        parts.append(("num", Pipeline(steps), plain))
    if cats:
        enc = OneHotEncoder(handle_unknown="ignore", sparse_output=False, dtype=np.float64)
        parts.append(("cat", enc, cats))
    return ColumnTransformer(parts, remainder="drop")


def feature_params(ct: ColumnTransformer) -> dict[str, Any]:
    """What assign_segments needs to rebuild the feature matrix without pickles."""
    params: dict[str, Any] = {"numeric": [], "categorical": []}
    for name, est, cols in ct.transformers_:
        if name in ("log", "num"):
            imp, sc = est.named_steps["impute"], est.named_steps["scale"]
            for i, c in enumerate(cols):
                params["numeric"].append(
                    {
                        "column": c,
                        "log": name == "log",
                        "median": float(imp.statistics_[i]),
                        "mean": float(sc.mean_[i]),
                        "scale": float(sc.scale_[i]),
                    }
                )
        elif name == "cat":
            for c, levels in zip(cols, est.categories_, strict=True):
                params["categorical"].append({"column": c, "levels": [str(v) for v in levels]})
    return params


def apply_features(params: dict[str, Any], frame: pd.DataFrame) -> np.ndarray:
    """The ColumnTransformer's output, rebuilt from stored parameters (same column order)."""
    blocks: list[np.ndarray] = []
    for p in params["numeric"]:
        v = pd.to_numeric(frame[p["column"]], errors="coerce").to_numpy(np.float64, na_value=np.nan)
        if p["log"]:
            with np.errstate(invalid="ignore", divide="ignore"):
                v = np.log1p(v)
        v = np.where(np.isfinite(v), v, p["median"])
        blocks.append(((v - p["mean"]) / p["scale"])[:, None])
    for p in params["categorical"]:
        v = as_text(frame[p["column"]]).to_numpy()
        blocks.append((v[:, None] == np.array(p["levels"], dtype=object)[None, :]).astype(float))
    return np.hstack(blocks) if blocks else np.zeros((len(frame), 0))


def needs_matrix(r: np.ndarray, centre: bool) -> np.ndarray:
    """Ratings with a missing one read as the respondent's own average, so "not applicable"
    neither pulls the profile down nor up; centred per respondent when `centre`, because the
    halo (some rate everything high) would otherwise be the only thing the clusters find."""
    empty = np.isnan(r).all(1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # "mean of empty slice": handled below
        row_mean = np.nanmean(r, 1)
        col_mean = np.nan_to_num(np.nanmean(r, 0), nan=0.0)
    x = np.where(np.isnan(r), row_mean[:, None], r)
    x[empty] = col_mean  # nothing rated: the average respondent
    return x - x.mean(1, keepdims=True) if centre else x
