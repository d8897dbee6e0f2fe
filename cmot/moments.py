"""Moments of truth per segment: sufficient statistics, PRCA with HC3 errors, classes, stakes."""

from __future__ import annotations

import math
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Hashable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from statistics import NormalDist
from typing import Any, Literal

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from threadpoolctl import ThreadpoolController

from cmot.errors import CmotError
from cmot.spec import JourneySpec
from cmot.store import W_COL, Y_COL, quote_ident

ALL = "All"
CLASSES = ("vulnerability", "opportunity", "hybrid", "low impact", "insufficient")
Measure = Literal["score", "promoter"]
Engine = Literal["numpy", "sql"]
HybridRule = Literal["threshold", "interval"]
Move = Literal["bottom_to_middle", "middle_to_top"]

MISSING = -128  # int8 sentinel for a missing rating inside the numpy blocks
BLOCK_ROWS = 1 << 17
# float32 sums of integers stay exact below 2**24: block rows x the largest product must fit.
_EXACT32 = float(1 << 24)
_BLAS = ThreadpoolController()  # found once: scanning the loaded libraries costs ~2 ms a call
MAX_SHAPLEY_TOUCHPOINTS = 15
# The HC3 pass runs in float32 (sums kept in float64) from this many respondents on:
# leverages are then tiny and the standard errors agree with float64 to ~1e-6 relative
# (bench/engine.md), at half the cost. Smaller data is fast anyway and runs in float64.
HC3_FLOAT32_MIN_ROWS = 250_000
_KEEP_BLOCKS_BYTES = 1 << 30  # hold pass-1 blocks for pass 2 when they fit in 1 GB


@dataclass(frozen=True)
class Settings:
    """Every threshold of METHODS.md; None means 'from the spec / the rule in METHODS.md'."""

    low_max: int | None = None  # ratings <= low_max are low (bottom box)
    high_min: int | None = None  # ratings >= high_min are high (top box)
    measure: Measure = "score"  # recommend outcomes: the 0-10 score or promoter share (>= 9)
    vulnerability_ia: float = -0.2  # IA at or below: vulnerability
    opportunity_ia: float = 0.2  # IA at or above: opportunity
    mot_coverage: float = 0.6  # MoTs: smallest significant set covering this share of total RIS
    alpha: float = 0.05
    min_segment: int | None = None  # None: max(30, 10 x touchpoints)
    min_cell: int = 30  # respondents needed in the low and in the high cell
    adequate_bottom_box: float = 0.10  # a vulnerability below this bottom-box share: maintain
    max_condition_index: float = 30.0  # Belsley's rule of thumb for harmful collinearity
    max_vif: float = 10.0  # a low/high column this predictable from the others is collinear
    hybrid_rule: HybridRule = "threshold"  # "interval": hybrid when IA's 95% interval holds 0

    def cutoffs(self, spec: JourneySpec) -> tuple[int, int]:
        low = spec.scale.low_max if self.low_max is None else self.low_max
        high = spec.scale.high_min if self.high_min is None else self.high_min
        if not (spec.scale.min <= low < high <= spec.scale.max):
            raise CmotError(
                f"The cut-offs need {spec.scale.min} <= low ({low}) < high ({high}) <= "
                f"{spec.scale.max}; pick a low cut-off below the high one."
            )
        return low, high

    def segment_minimum(self, n_touchpoints: int) -> int:
        return max(30, 10 * n_touchpoints) if self.min_segment is None else self.min_segment


# ---- the design --------------------------------------------------------------------
# Rows of the block matrix Z (one column per respondent), in this order so that every
# product the engine needs is a contiguous slice:
#   [low_1..T, high_1..T, 1, miss_1..T, y, score_1..T, score²_1..T, y²]
# X = Z[:3T+1] is the PRCA design (intercept in the middle); the "gram" is [X y]'W[X y];
# "pair" = [score, score², y²]'W[1, miss, y, score] gives pairwise-complete correlations.


@dataclass(frozen=True)
class Layout:
    """Index arithmetic of the design for T touchpoints."""

    t: int

    @property
    def k(self) -> int:  # design columns
        return 3 * self.t + 1

    @property
    def icpt(self) -> int:
        return 2 * self.t

    @property
    def y(self) -> int:  # y's index in the gram
        return self.k

    def low(self, i: int) -> int:
        return i

    def high(self, i: int) -> int:
        return self.t + i

    def miss(self, i: int) -> int:
        return 2 * self.t + 1 + i

    def column_names(self, names: Sequence[str]) -> list[str]:
        return (
            [f"low {n}" for n in names]
            + [f"high {n}" for n in names]
            + ["intercept"]
            + [f"missing {n}" for n in names]
        )


@dataclass(frozen=True)
class SegmentStats:
    """One segment's sums and its fitted PRCA model (arrays are over the full design)."""

    segment: str
    n: int  # respondents with an outcome
    gram: np.ndarray  # (k+1, k+1): [X y]'W[X y]
    pair: np.ndarray  # (2T+1, 2T+2): [S Q y²]'W[1 M y S]
    levels: np.ndarray  # (T, points+1, 3): count, Σw, Σwy per rating level; last = missing
    kept: tuple[int, ...]  # design columns in the fit
    dropped: tuple[tuple[int, str], ...]  # (column, "empty" or "aliased") left out of the fit
    beta: np.ndarray  # (k,), NaN where dropped
    bread: np.ndarray  # (k, k) (X'WX)^-1 on kept columns, 0 elsewhere
    meat: np.ndarray  # (k, k) Σ w²e²/(1-h)² x x'
    condition_index: float


@dataclass(frozen=True)
class SufficientStats:
    """Everything the analysis needs, computed once per (dataset, segmentation, cut-offs)."""

    columns: tuple[str, ...]  # touchpoint columns, journey order
    names: tuple[str, ...]  # display names
    stages: tuple[str, ...]
    scale_min: int
    scale_max: int
    low_max: int
    high_min: int
    outcome_kind: str
    measure: Measure
    segmentation: tuple[str, ...]
    weighted: bool
    segments: tuple[SegmentStats, ...]  # "All" first, then segments sorted by name
    seconds: float
    # Derived from the sums alone, kept so that a threshold change does not redo them.
    importance: pd.DataFrame = field(default_factory=pd.DataFrame)
    levels: pd.DataFrame = field(default_factory=pd.DataFrame)

    @property
    def layout(self) -> Layout:
        return Layout(len(self.columns))

    def segment(self, name: str) -> SegmentStats:
        for s in self.segments:
            if s.segment == name:
                return s
        raise CmotError(
            f"No segment named {name!r}; segments: {[s.segment for s in self.segments]}."
        )


# ---- reading the data in blocks ------------------------------------------------------


def _outcome_sql(spec: JourneySpec, measure: Measure) -> str:
    y = quote_ident(Y_COL)
    if measure == "promoter":
        if spec.outcome.kind != "recommend":
            raise CmotError("Promoter share needs a 0-10 recommend outcome; use the score.")
        return f"CASE WHEN {y} >= 9 THEN 1.0 ELSE 0.0 END"
    return f"CAST({y} AS DOUBLE)"


def segment_sql_expr(segmentation: Sequence[str]) -> str:
    """SQL giving a row's segment name from the `segmentation` columns, as the engine names
    segments ("All" without columns; levels joined by " / ", NULL as "(missing)")."""
    if not segmentation:
        return f"'{ALL}'"
    parts = [f"coalesce(CAST({quote_ident(c)} AS VARCHAR), '(missing)')" for c in segmentation]
    return " || ' / ' || ".join(parts)


def _select_sql(
    table: str, spec: JourneySpec, segmentation: Sequence[str], measure: Measure
) -> str:
    tps = ", ".join(f"CAST({quote_ident(c)} AS TINYINT)" for c in spec.touchpoint_columns)
    w = quote_ident(W_COL)
    return (
        f"SELECT {segment_sql_expr(segmentation)} AS __seg, {_outcome_sql(spec, measure)} AS __y, "
        f"CAST({w} AS DOUBLE) AS __w, {tps} FROM {table} "
        f"WHERE {quote_ident(Y_COL)} IS NOT NULL AND {w} IS NOT NULL"
    )


@dataclass
class _Block:
    g: np.ndarray  # segment codes, sorted
    bounds: list[tuple[int, int, int]]  # (segment code, start, stop)
    r: np.ndarray  # (T, m) int8 ratings, MISSING for missing
    y: np.ndarray
    w: np.ndarray | None  # None when every weight is 1


def _read_blocks(
    con: duckdb.DuckDBPyConnection,
    sql: str,
    params: Sequence[object],
    scale: tuple[int, int],
    codes: dict[str, int],
) -> Iterator[_Block]:
    """Arrow batches of the query, as segment-sorted numpy blocks (codes grow as seen)."""
    try:
        reader = con.sql(sql, params=list(params)).to_arrow_reader(BLOCK_ROWS)
    except duckdb.Error as e:
        raise CmotError(f"Cannot read the survey for the analysis: {e}") from None
    for batch in reader:
        if batch.num_rows == 0:
            continue
        seg = pc.dictionary_encode(batch.column(0))
        dic = seg.dictionary.to_pylist()
        local = np.array([codes.setdefault(str(v), len(codes)) for v in dic], dtype=np.int32)
        g = local[seg.indices.to_numpy(zero_copy_only=False)]
        y = batch.column(1).to_numpy(zero_copy_only=False).astype(np.float64, copy=False)
        w = batch.column(2).to_numpy(zero_copy_only=False).astype(np.float64, copy=False)
        r = np.empty((batch.num_columns - 3, batch.num_rows), dtype=np.int8)
        for t in range(r.shape[0]):
            col = batch.column(3 + t)
            r[t] = pc.fill_null(col, pa.scalar(MISSING, pa.int8())).to_numpy(zero_copy_only=False)
        rated = r[r != MISSING]
        if rated.size and (rated.min() < scale[0] or rated.max() > scale[1]):
            raise CmotError(
                f"Ratings from {rated.min()} to {rated.max()} fall outside the scale "
                f"{scale[0]}-{scale[1]}; fix the scale in the journey spec or declare the "
                "out-of-scale codes as missing."
            )
        if (w < 0).any() or not np.isfinite(w).all():
            raise CmotError("Survey weights must be finite and not negative; fix the weights.")
        if not np.isfinite(y).all():
            raise CmotError("The outcome has non-numeric values; check the outcome column.")
        order = np.argsort(g, kind="stable")
        g = g[order]
        cuts = np.flatnonzero(np.diff(g)) + 1
        starts = np.concatenate([[0], cuts])
        stops = np.concatenate([cuts, [len(g)]])
        bounds = [(int(g[a]), int(a), int(b)) for a, b in zip(starts, stops, strict=True)]
        unweighted = bool((w == 1.0).all())
        yield _Block(g, bounds, r[:, order], y[order], None if unweighted else w[order])


def _block_dtype(y: np.ndarray, w: np.ndarray | None, top: int) -> type[np.floating[Any]]:
    """float32 when every sum of products is an exact integer below 2**24, else float64."""
    if w is not None or len(y) > BLOCK_ROWS:
        return np.float64
    big = max(float(np.abs(y).max(initial=0.0)), float(top), 1.0)
    # The largest products summed are cubes (score² x score, y² x score).
    if big**3 * len(y) >= _EXACT32 or not np.array_equal(y, np.round(y)):
        return np.float64
    return np.float32


def _design(
    r: np.ndarray,
    y: np.ndarray,
    low_max: int,
    high_min: int,
    dtype: type[np.floating[Any]],
    full: bool = True,
) -> np.ndarray:
    """The block matrix Z (rows as in the layout comment above) for one segment slice.

    With full=False only the design X (the first 3T+1 rows), for the HC3 pass.
    """
    t, m = r.shape
    z = np.empty((5 * t + 3 if full else 3 * t + 1, m), dtype=dtype)
    low, high, miss = z[0:t], z[t : 2 * t], z[2 * t + 1 : 3 * t + 1]
    # ufuncs writing straight into the float rows: no boolean temporaries.
    np.equal(r, MISSING, out=miss, casting="unsafe")
    np.less_equal(r, low_max, out=low, casting="unsafe")
    low -= miss  # the missing sentinel is below every cut-off
    np.greater_equal(r, high_min, out=high, casting="unsafe")
    z[2 * t] = 1.0
    if not full:
        return z
    z[3 * t + 1] = y
    s = z[3 * t + 2 : 4 * t + 2]
    np.copyto(s, r, casting="unsafe")
    s *= 1.0 - miss  # missing scores count as 0 in the sums (pairwise-complete later)
    np.multiply(s, s, out=z[4 * t + 2 : 5 * t + 2])
    np.multiply(y, y, out=z[5 * t + 2])
    return z


@dataclass
class _Accum:
    n: int
    gram: np.ndarray
    pair: np.ndarray
    levels: np.ndarray


def _accumulate(
    acc: _Accum, r: np.ndarray, y: np.ndarray, w: np.ndarray | None, low: int, high: int, lo: int
) -> None:
    t = r.shape[0]
    dtype = _block_dtype(y, w, max(abs(lo), abs(lo + acc.levels.shape[1] - 2)))
    z = _design(r, y, low, high, dtype)
    xa = z[: 3 * t + 2]
    u = z[2 * t : 4 * t + 2]  # [1, miss, y, score]
    v = z[3 * t + 2 :]  # [score, score², y²]
    if w is None:
        acc.gram += (xa @ xa.T).astype(np.float64)
        acc.pair += (v @ u.T).astype(np.float64)
    else:
        acc.gram += (xa * w) @ xa.T
        acc.pair += (v * w) @ u.T
    # Rating-level histogram: count, Σw, Σwy; level index = rating - scale min, last = missing.
    points = acc.levels.shape[1] - 1
    idx = np.where(r == MISSING, points, r.astype(np.int32) - lo)
    idx += (np.arange(t, dtype=np.int32) * (points + 1))[:, None]
    size = t * (points + 1)
    if dtype == np.float32 and y.min(initial=0.0) >= 0:
        # Small whole-number outcomes, no weights: one joint histogram of (level, y).
        top = int(y.max(initial=0.0)) + 1
        joint = np.bincount((idx * top + y.astype(np.int32)).ravel(), minlength=size * top)
        joint = joint.reshape(t, points + 1, top)
        counts = joint.sum(2)
        acc.levels[:, :, 0] += counts
        acc.levels[:, :, 1] += counts
        acc.levels[:, :, 2] += joint @ np.arange(top, dtype=np.float64)
    else:
        flat = idx.ravel()
        counts = np.bincount(flat, minlength=size).reshape(t, points + 1)
        acc.levels[:, :, 0] += counts
        ww = np.ones_like(y) if w is None else w
        acc.levels[:, :, 1] += np.bincount(flat, np.tile(ww, t), size).reshape(t, points + 1)
        acc.levels[:, :, 2] += np.bincount(flat, np.tile(ww * y, t), size).reshape(t, points + 1)
    acc.n += r.shape[1]


def _add_accum(acc: _Accum, part: _Accum) -> None:
    acc.n += part.n
    acc.gram += part.gram
    acc.pair += part.pair
    acc.levels += part.levels


# Segment slices are independent sums: a thread per core works them (numpy and BLAS
# release the GIL); slices are cut to TASK_ROWS so one big segment still splits.
TASK_ROWS = 1 << 15
_POOL = ThreadPoolExecutor(max_workers=max(1, min(os.cpu_count() or 1, 8)))


def _tasks(block: _Block) -> list[tuple[int, int, int]]:
    return [
        (code, start, min(start + TASK_ROWS, b))
        for code, a, b in block.bounds
        for start in range(a, b, TASK_ROWS)
    ]


def _new_accum(t: int, points: int) -> _Accum:
    return _Accum(
        0,
        np.zeros((3 * t + 2, 3 * t + 2)),
        np.zeros((2 * t + 1, 2 * t + 2)),
        np.zeros((t, points + 1, 3)),
    )


# ---- solving -----------------------------------------------------------------------


@dataclass(frozen=True)
class _Fit:
    kept: tuple[int, ...]
    dropped: tuple[tuple[int, str], ...]
    beta: np.ndarray
    bread: np.ndarray
    condition_index: float


def _fit(gram: np.ndarray, lay: Layout) -> _Fit:
    """Weighted least squares from the gram, dropping empty and aliased columns (with reasons)."""
    k = lay.k
    xtx, xty = gram[:k, :k], gram[:k, lay.y]
    diag = np.diag(xtx).copy()
    beta = np.full(k, np.nan)
    bread = np.zeros((k, k))
    if diag[lay.icpt] <= 0:
        return _Fit((), ((lay.icpt, "empty"),), beta, bread, math.nan)
    # Try the intercept first, then each touchpoint's low, high, missing columns: a column
    # enters when the part of it the kept columns cannot explain is not negligible
    # (an incremental Cholesky of the unit-diagonal matrix, as R's lm does with QR).
    order = [lay.icpt] + [c for i in range(lay.t) for c in (lay.low(i), lay.high(i), lay.miss(i))]
    kept: list[int] = []
    dropped: list[tuple[int, str]] = []
    chol = np.zeros((0, 0))
    for j in order:
        if diag[j] <= 0:
            dropped.append((j, "empty"))
            continue
        if kept:
            c = xtx[kept, j] / np.sqrt(diag[kept] * diag[j])
            zvec = np.linalg.solve(chol, c) if len(kept) > 1 else c / chol[0, 0]
            resid = 1.0 - float(zvec @ zvec)
        else:
            zvec, resid = np.zeros(0), 1.0
        if resid < 1e-9:
            dropped.append((j, "aliased"))
            continue
        new = np.zeros((len(kept) + 1, len(kept) + 1))
        new[: len(kept), : len(kept)] = chol
        new[len(kept), : len(kept)] = zvec
        new[len(kept), len(kept)] = math.sqrt(resid)
        chol = new
        kept.append(j)
    kept.sort()
    ka = np.array(kept)
    sub = xtx[np.ix_(ka, ka)]
    inv = np.linalg.inv(sub)
    beta[ka] = inv @ xty[ka]
    bread[np.ix_(ka, ka)] = inv
    d = np.sqrt(np.diag(sub))
    ev = np.linalg.eigvalsh(sub / np.outer(d, d))
    cond = math.sqrt(ev[-1] / ev[0]) if ev[0] > 0 else math.inf
    return _Fit(tuple(kept), tuple(dropped), beta, bread, cond)


# ---- the two passes ------------------------------------------------------------------


def _hc3_meat(x: np.ndarray, y: np.ndarray, w: np.ndarray | None, fit: _Fit) -> np.ndarray:
    """Σ w²e²/(1-h)² x x' over one slice (HC3 meat), h = w x'(X'WX)^-1 x, under a fit."""
    beta = np.nan_to_num(fit.beta)
    dtype = x.dtype
    e = y - beta.astype(dtype) @ x
    h = np.einsum("ij,ij->j", fit.bread.astype(dtype) @ x, x)
    if w is not None:
        h = h * w
        e = e * w
    # A leverage of 1 (a respondent alone in a cell) makes HC3 undefined: leave it out of
    # the meat rather than divide by zero; the cell guardrail flags such touchpoints.
    # (float32 leverage is good to ~1e-7, hence the tolerance.)
    u = np.where(h < 1 - 1e-6, e / np.maximum(1 - h, 1e-6), 0.0).astype(dtype)
    xu = x * u  # sqrt of the meat weight w²e²/(1-h)²: x'diag(u²)x = (xu)(xu)'
    return (xu @ xu.T).astype(np.float64)


def compute_stats(
    con: duckdb.DuckDBPyConnection,
    table: str,
    spec: JourneySpec,
    segmentation: Sequence[str] | str | None = None,
    settings: Settings | None = None,
    *,
    params: Sequence[object] = (),
    cache_key: Hashable | None = None,
    engine: Engine = "numpy",
) -> SufficientStats:
    """Per-segment sufficient statistics and fits: the only step that reads the data.

    `table` is a SQL relation: a quoted table name (DatasetInfo.table), a table
    function such as read_parquet('...') or a parenthesised subquery whose `?`
    placeholders take `params` in order (e.g. a filtered dataset: values are bound,
    never written into the SQL). With `cache_key` (e.g. the dataset id and version) the
    result is kept and reused for the same relation, params, segmentation and cut-offs.
    """
    settings = settings or Settings()
    seg_cols = _as_columns(segmentation)
    low, high = settings.cutoffs(spec)
    bound = tuple(params)
    key = None
    if cache_key is not None:
        key = (cache_key, table, bound, seg_cols, low, high, settings.measure, engine)
        with _CACHE_LOCK:
            hit = _CACHE.get(key)
            if hit is not None:
                _CACHE.move_to_end(key)
                return hit
    # The products are many small matrix multiplies: OpenBLAS's threads cost far more than
    # they give here (measured 10-50x slower on 2 cores), so run them single-threaded.
    with _BLAS.limit(limits=1, user_api="blas"):
        stats = _compute(con, table, bound, spec, seg_cols, low, high, settings.measure, engine)
    if key is not None:
        with _CACHE_LOCK:
            _CACHE[key] = stats
            while len(_CACHE) > _CACHE_SIZE:
                _CACHE.popitem(last=False)
    return stats


_CACHE: OrderedDict[Hashable, SufficientStats] = OrderedDict()
_CACHE_SIZE = 32
_CACHE_LOCK = threading.Lock()  # dashboard sessions share the cache from several threads


def clear_cache() -> None:
    with _CACHE_LOCK:
        _CACHE.clear()


def _as_columns(segmentation: Sequence[str] | str | None) -> tuple[str, ...]:
    if segmentation is None:
        return ()
    if isinstance(segmentation, str):
        return (segmentation,)
    return tuple(segmentation)


def _compute(
    con: duckdb.DuckDBPyConnection,
    table: str,
    params: tuple[object, ...],
    spec: JourneySpec,
    seg_cols: tuple[str, ...],
    low: int,
    high: int,
    measure: Measure,
    engine: Engine,
) -> SufficientStats:
    start = time.perf_counter()
    columns = spec.touchpoint_columns
    t = len(columns)
    lay = Layout(t)
    names = tuple(spec.touchpoint(c).name for c in columns)
    lo, hi = spec.scale.min, spec.scale.max
    if lo < -127 or hi > 127:
        raise CmotError(f"Rating scales must lie within -127..127, got {lo}-{hi}.")
    points = hi - lo + 1
    sql = _select_sql(table, spec, seg_cols, measure)
    codes: dict[str, int] = {}
    accs: dict[int, _Accum] = {}
    kept_blocks: list[_Block] | None = []
    held = 0
    weighted = False
    if engine == "sql":
        accs = _sql_accums(con, table, params, spec, seg_cols, low, high, measure, codes)
        kept_blocks = None
    else:
        for block in _read_blocks(con, sql, params, (lo, hi), codes):
            weighted = weighted or block.w is not None

            def pass1(task: tuple[int, int, int], block: _Block = block) -> tuple[int, _Accum]:
                code, a, b = task
                part = _new_accum(t, points)
                w = None if block.w is None else block.w[a:b]
                _accumulate(part, block.r[:, a:b], block.y[a:b], w, low, high, lo)
                return code, part

            for code, part in _POOL.map(pass1, _tasks(block)):
                _add_accum(accs.setdefault(code, _new_accum(t, points)), part)
            if kept_blocks is not None:
                held += block.r.nbytes + block.y.nbytes + block.g.nbytes
                held += 0 if block.w is None else block.w.nbytes
                if held <= _KEEP_BLOCKS_BYTES:
                    kept_blocks.append(block)
                else:
                    kept_blocks = None  # too big to hold: pass 2 reads the data again
    if not accs:
        raise CmotError("No respondent has an outcome; check the outcome column and its values.")
    by_name = {name: accs[code] for name, code in codes.items() if code in accs}
    total = _new_accum(t, points)
    for acc in accs.values():
        _add_accum(total, acc)
    if engine == "sql":
        weighted = not np.isclose(total.gram[lay.icpt, lay.icpt], total.n)
    fits = {name: _fit(acc.gram, lay) for name, acc in by_name.items()}
    fit_all = _fit(total.gram, lay)
    code_fit = {codes[name]: fits[name] for name in by_name}

    # Pass 2: HC3 needs every respondent's leverage and residual under the fitted models.
    k = lay.k
    fast = total.n >= HC3_FLOAT32_MIN_ROWS
    meats = {code: np.zeros((k, k)) for code in accs}
    meat_all = np.zeros((k, k))
    blocks: Iterator[_Block] = (
        iter(kept_blocks)
        if kept_blocks is not None
        else _read_blocks(con, sql, params, (lo, hi), codes)
    )
    for block in blocks:

        def pass2(
            task: tuple[int, int, int], block: _Block = block
        ) -> tuple[int, np.ndarray | None, np.ndarray]:
            code, a, b = task
            w = None if block.w is None else block.w[a:b]
            y = block.y[a:b]
            dtype = np.float32 if fast else np.float64
            x = _design(block.r[:, a:b], y, low, high, dtype, full=False)
            yd = y.astype(dtype)
            seg_meat = _hc3_meat(x, yd, w, code_fit[code]) if seg_cols else None
            return code, seg_meat, _hc3_meat(x, yd, w, fit_all)

        for code, seg_meat, all_meat in _POOL.map(pass2, _tasks(block)):
            if seg_meat is not None:
                meats[code] += seg_meat
            meat_all += all_meat

    def make(name: str, acc: _Accum, fit: _Fit, meat: np.ndarray) -> SegmentStats:
        return SegmentStats(
            name,
            acc.n,
            acc.gram,
            acc.pair,
            acc.levels,
            fit.kept,
            fit.dropped,
            fit.beta,
            fit.bread,
            meat,
            fit.condition_index,
        )

    segs = [make(ALL, total, fit_all, meat_all)]
    if seg_cols:
        for name in sorted(by_name):
            segs.append(make(name, by_name[name], fits[name], meats[codes[name]]))
    stats = SufficientStats(
        columns=columns,
        names=names,
        stages=tuple(spec.stage_of(c) for c in columns),
        scale_min=lo,
        scale_max=hi,
        low_max=low,
        high_min=high,
        outcome_kind=spec.outcome.kind,
        measure=measure,
        segmentation=seg_cols,
        weighted=weighted,
        segments=tuple(segs),
        seconds=0.0,
    )
    return replace(
        stats,
        importance=compute_importance(stats),
        levels=_levels_frame(stats),
        seconds=time.perf_counter() - start,
    )


# ---- the portable SQL aggregation ----------------------------------------------------


def build_stats_sql(
    table: str,
    spec: JourneySpec,
    segmentation: Sequence[str],
    low_max: int,
    high_min: int,
    measure: Measure = "score",
) -> tuple[str, list[tuple[str, int, int]]]:
    """One GROUP BY with only SUM/COUNT/CASE giving the gram, pair sums and level histogram.

    Returns the SQL and, for each aggregate after the segment and count, which array
    ("gram", "pair", "levels") and which cell it fills. Runs on any SQL engine. `table`
    appears once in the SQL and no other placeholder does, so a `table` with `?`
    placeholders runs with the same parameters as in compute_stats.
    """
    cols = spec.touchpoint_columns
    t = len(cols)
    lay = Layout(t)
    lo, hi = spec.scale.min, spec.scale.max
    q = [quote_ident(c) for c in cols]
    # Row expressions of Z, named z0..; the products below are sums of their products.
    z: list[str] = (
        [f"CASE WHEN {c} <= {low_max} THEN 1 ELSE 0 END" for c in q]
        + [f"CASE WHEN {c} >= {high_min} THEN 1 ELSE 0 END" for c in q]
        + ["1"]
        + [f"CASE WHEN {c} IS NULL THEN 1 ELSE 0 END" for c in q]
        + ["y"]
        + [f"COALESCE({c}, 0)" for c in q]
        + [f"COALESCE({c} * {c}, 0)" for c in q]
        + ["y * y"]
    )
    inner = (
        f"SELECT {segment_sql_expr(segmentation)} AS seg, {_outcome_sql(spec, measure)} AS y, "
        f"CAST({quote_ident(W_COL)} AS DOUBLE) AS w, "
        + ", ".join(f"CAST({c} AS INTEGER) AS {c}" for c in q)
        + f" FROM {table} WHERE {quote_ident(Y_COL)} IS NOT NULL "
        f"AND {quote_ident(W_COL)} IS NOT NULL"
    )
    proj = (
        "SELECT seg, w, y, "
        + ", ".join(q)
        + ", "
        + ", ".join(f"{e} AS z{i}" for i, e in enumerate(z))
        + " FROM inner_"
    )
    aggs: list[str] = []
    cells: list[tuple[str, int, int]] = []

    def touchpoint_of(row: int) -> int | None:
        if row < 2 * t:  # low_i, high_i
            return row % t
        if lay.icpt < row <= 3 * t:  # miss_i
            return row - lay.icpt - 1
        return None

    def same_touchpoint(a: int, b: int) -> bool:
        # low/high/missing of one touchpoint exclude each other: their product is 0.
        ta = touchpoint_of(a)
        return a != b and ta is not None and ta == touchpoint_of(b)

    nx = 3 * t + 2
    for a in range(nx):
        for b in range(a, nx):
            if same_touchpoint(a, b):
                continue
            aggs.append(f"SUM(w * z{a} * z{b})")
            cells.append(("gram", a, b))
    u_rows = list(range(2 * t, 4 * t + 2))
    v_rows = list(range(3 * t + 2, 5 * t + 3))
    for i, a in enumerate(v_rows):
        for j, b in enumerate(u_rows):
            aggs.append(f"SUM(w * z{a} * z{b})")
            cells.append(("pair", i, j))
    for i, c in enumerate(q):
        for level in range(lo, hi + 1):
            cond = f"{c} = {level}"
            aggs += [
                f"SUM(CASE WHEN {cond} THEN 1 ELSE 0 END)",
                f"SUM(CASE WHEN {cond} THEN w ELSE 0 END)",
                f"SUM(CASE WHEN {cond} THEN w * y ELSE 0 END)",
            ]
            cells += [("levels", i * 1000 + level - lo, s) for s in range(3)]
        cond = f"{c} IS NULL"
        aggs += [
            f"SUM(CASE WHEN {cond} THEN 1 ELSE 0 END)",
            f"SUM(CASE WHEN {cond} THEN w ELSE 0 END)",
            f"SUM(CASE WHEN {cond} THEN w * y ELSE 0 END)",
        ]
        cells += [("levels", i * 1000 + hi - lo + 1, s) for s in range(3)]
    inner_proj = proj.replace("FROM inner_", f"FROM ({inner}) AS inner_")
    sql = f"SELECT seg, COUNT(*) AS n, {', '.join(aggs)} FROM ({inner_proj}) AS z_ GROUP BY seg"
    return sql, cells


def _sql_accums(
    con: duckdb.DuckDBPyConnection,
    table: str,
    params: tuple[object, ...],
    spec: JourneySpec,
    seg_cols: tuple[str, ...],
    low: int,
    high: int,
    measure: Measure,
    codes: dict[str, int],
) -> dict[int, _Accum]:
    sql, cells = build_stats_sql(table, spec, seg_cols, low, high, measure)
    try:
        rows = con.execute(sql, list(params)).fetchall()
    except duckdb.Error as e:
        raise CmotError(f"Cannot aggregate the survey: {e}") from None
    t = len(spec.touchpoint_columns)
    points = spec.scale.max - spec.scale.min + 1
    accs: dict[int, _Accum] = {}
    for row in rows:
        acc = _new_accum(t, points)
        acc.n = int(row[1])
        for value, (what, a, b) in zip(row[2:], cells, strict=True):
            v = float(value or 0.0)
            if what == "gram":
                acc.gram[a, b] = acc.gram[b, a] = v
            elif what == "pair":
                acc.pair[a, b] = v
            else:
                acc.levels[a // 1000, a % 1000, b] = v
        accs[codes.setdefault(str(row[0]), len(codes))] = acc
    return accs


# ---- analysis: everything below works on the sums alone -------------------------------


@dataclass(frozen=True)
class SegmentFit:
    """A segment's fitted PRCA model, for what-ifs and comparisons."""

    segment: str
    n: int
    weight_sum: float
    columns: tuple[str, ...]  # design column names (low ..., high ..., intercept, missing ...)
    beta: np.ndarray  # NaN where a column was dropped
    cov: np.ndarray  # HC3 covariance; NaN where dropped or undefined (a lone respondent)
    mean_x: np.ndarray  # weighted share of respondents in each design column
    outcome_mean: float


@dataclass(frozen=True)
class MomentsResult:
    """The moments of truth of every segment; frames are tidy, columns documented below.

    moments (one row per segment x touchpoint, journey order):
      segment, stage, touchpoint (display name), column (source column),
      n (respondents who rated it), mean (0-100), top_box, bottom_box (shares of those
      who rated), missing (share of respondents), n_low, n_high (respondents in the cells),
      low_coef, high_coef, missing_coef (raw PRCA coefficients), low_se, high_se (HC3),
      penalty, reward (max(0, -low_coef), max(0, high_coef)), penalty_se, reward_se,
      penalty_lo, penalty_hi, reward_lo, reward_hi (95% intervals), penalty_p, reward_p,
      ris, ris_se, ris_significant, ia, ia_lo, ia_hi (delta method), wrong_sign ("",
      "penalty", "reward", "penalty and reward"), vif_low, vif_high, reason (guardrails,
      "" when none), insufficient, risk (P x share of respondents in the bottom box),
      upside (R x share of respondents who rated below the top box), just_enough (rating
      above the largest step up in outcome below the top box), rank (by RIS), mot, class,
      adequate (a vulnerability with bottom box < adequate_bottom_box), action (fix,
      maintain, grow, improve, monitor, collect more responses).
      Weighted when the data has weights (counts n, n_low, n_high stay respondent counts).
    segments: segment, n, weight_sum, outcome_mean, r2, total_ris, mot_count,
      condition_index, collinear, insufficient, dropped, reason, min_segment.
    importance: segment, touchpoint, column, relative_weight, relative_weight_share,
      shapley, shapley_share, r2 (of the touchpoint scores, pairwise-complete).
    levels: segment, touchpoint, column, level, n, share, outcome_mean.
    """

    moments: pd.DataFrame
    segments: pd.DataFrame
    importance: pd.DataFrame
    levels: pd.DataFrame
    fits: Mapping[str, SegmentFit]
    settings: Settings
    segmentation: tuple[str, ...]
    outcome_kind: str
    measure: Measure
    low_max: int
    high_min: int
    unit: str  # "percentage points" (binary / promoter share) or "points"
    seconds: float = field(default=0.0)


_NORMAL = NormalDist()


def _p_value(z: float) -> float:
    return math.erfc(abs(z) / math.sqrt(2.0)) if math.isfinite(z) else math.nan


def _vif(gram: np.ndarray, lay: Layout, kept: Sequence[int]) -> tuple[dict[int, float], np.ndarray]:
    """Variance inflation factors of the kept columns and their correlation matrix."""
    cols = [c for c in kept if c != lay.icpt]
    sw = gram[lay.icpt, lay.icpt]
    if not cols or sw <= 0:
        return {}, np.zeros((0, 0))
    ca = np.array(cols)
    m = gram[lay.icpt, ca] / sw
    cov = gram[np.ix_(ca, ca)] / sw - np.outer(m, m)
    sd = np.sqrt(np.clip(np.diag(cov), 1e-300, None))
    corr = cov / np.outer(sd, sd)
    try:
        inv = np.linalg.inv(corr)
        vif = np.diag(inv)
    except np.linalg.LinAlgError:
        vif = np.full(len(cols), math.inf)
    return {c: float(v) for c, v in zip(cols, vif, strict=True)}, corr


def classify_moments(stats: SufficientStats, settings: Settings | None = None) -> MomentsResult:
    """Moments of truth, classes, importance and stakes from the sums: never reads data."""
    settings = settings or Settings()
    with _BLAS.limit(limits=1, user_api="blas"):
        return _classify(stats, settings)


def _classify(stats: SufficientStats, settings: Settings) -> MomentsResult:
    start = time.perf_counter()
    lay = stats.layout
    t = lay.t
    z = _NORMAL.inv_cdf(1 - settings.alpha / 2)
    min_seg = settings.segment_minimum(t)
    rows: list[dict[str, Any]] = []
    seg_rows: list[dict[str, Any]] = []
    fits: dict[str, SegmentFit] = {}
    labels = lay.column_names(stats.names)
    for s in stats.segments:
        sw = float(s.gram[lay.icpt, lay.icpt])
        cov = s.bread @ s.meat @ s.bread
        # HC3 is undefined for a column only one respondent is in (leverage 1): no error.
        undefined = np.isnan(s.beta) | (_column_counts(s, stats) <= 1)
        cov[undefined, :] = np.nan
        cov[:, undefined] = np.nan
        se = np.sqrt(np.clip(np.diag(cov), 0, None))
        mean_x = s.gram[lay.icpt, : lay.k] / sw if sw > 0 else np.zeros(lay.k)
        ybar = float(s.gram[lay.icpt, lay.y] / sw) if sw > 0 else math.nan
        fits[s.segment] = SegmentFit(s.segment, s.n, sw, tuple(labels), s.beta, cov, mean_x, ybar)
        vif, corr = _vif(s.gram, lay, s.kept)
        vif_cols = [c for c in s.kept if c != lay.icpt]
        seg_insufficient = s.n < min_seg
        collinear = s.condition_index > settings.max_condition_index
        seg_rs: list[dict[str, Any]] = []
        for i in range(t):
            cl, ch, cm = lay.low(i), lay.high(i), lay.miss(i)
            lv = s.levels[i]
            n_rated = int(lv[:-1, 0].sum())
            w_rated = float(lv[:-1, 1].sum())
            n_low = int(s.levels[i, : stats.low_max - stats.scale_min + 1, 0].sum())
            n_high = int(s.levels[i, stats.high_min - stats.scale_min : -1, 0].sum())
            w_low, w_high, w_miss = (float(s.gram[lay.icpt, c]) for c in (cl, ch, cm))
            score_sum = float(s.pair[i, 0])  # Σw·score
            mean = (
                100.0
                * (score_sum / w_rated - stats.scale_min)
                / (stats.scale_max - stats.scale_min)
                if w_rated > 0
                else math.nan
            )
            p, r, m_coef = (float(s.beta[c]) for c in (cl, ch, cm))
            p_se, r_se = float(se[cl]), float(se[ch])
            pen, rew = _clip(-p), _clip(r)
            # RIS is the sum of the active sides; its SE is that contrast's HC3 error.
            sides = [(c, sign) for c, sign, on in ((cl, -1.0, pen > 0), (ch, 1.0, rew > 0)) if on]
            ris = pen + rew if math.isfinite(pen + rew) else math.nan
            ris_var = sum(sa * sb * cov[a, b] for a, sa in sides for b, sb in sides)
            ris_se = math.sqrt(max(ris_var, 0.0)) if ris > 0 else math.nan
            ris_sig = bool(ris > 0 and ris_se > 0 and ris / ris_se > z)
            ia = (rew - pen) / ris if ris > 0 else math.nan
            ia_lo, ia_hi = _ia_interval(p, r, cov[cl, cl], cov[ch, ch], cov[cl, ch], z)
            reasons: list[str] = []
            if seg_insufficient:
                reasons.append(f"segment has {s.n} respondents; needs at least {min_seg}")
            if n_low < settings.min_cell:
                reasons.append(
                    f"only {n_low} rated it low (<= {stats.low_max}); needs {settings.min_cell}"
                )
            if n_high < settings.min_cell:
                reasons.append(
                    f"only {n_high} rated it high (>= {stats.high_min}); needs {settings.min_cell}"
                )
            wrong = []
            for side, coef, sd, col, bad in (
                ("penalty", p, p_se, cl, p > 0),
                ("reward", r, r_se, ch, r < 0),
            ):
                if not bad:
                    continue
                wrong.append(side)
                if sd > 0 and abs(coef) / sd > z:
                    what = "low ratings raise" if side == "penalty" else "top ratings lower"
                    note = f"wrong sign: {what} the outcome ({coef:+.3f})"
                    if col in vif:
                        j = vif_cols.index(col)
                        rr = corr[j].copy()
                        rr[j] = 0.0
                        other = int(np.argmax(np.abs(rr)))
                        note += (
                            f", VIF {vif[col]:.1f}, most correlated with "
                            f"'{labels[vif_cols[other]]}' (r = {rr[other]:+.2f})"
                        )
                    reasons.append(note + "; read as 0")
            worst_vif = max(vif.get(cl, 0.0), vif.get(ch, 0.0))
            if worst_vif > settings.max_vif:
                reasons.append(f"collinear: VIF {worst_vif:.0f} > {settings.max_vif:.0f}")
                collinear = True
            reasons += [
                f"'{labels[c]}' left out: "
                + ("nobody in it" if why == "empty" else "a combination of other columns")
                for c, why in s.dropped
                if c in (cl, ch)
            ]
            # A low or high column left out of the fit has no estimate: not classifiable.
            unestimated = any(c in (cl, ch) for c, _ in s.dropped)
            insufficient = (
                seg_insufficient
                or n_low < settings.min_cell
                or n_high < settings.min_cell
                or unestimated
            )
            seg_rs.append(
                {
                    "segment": s.segment,
                    "stage": stats.stages[i],
                    "touchpoint": stats.names[i],
                    "column": stats.columns[i],
                    "n": n_rated,
                    "mean": mean,
                    "top_box": w_high / w_rated if w_rated > 0 else math.nan,
                    "bottom_box": w_low / w_rated if w_rated > 0 else math.nan,
                    "missing": w_miss / sw if sw > 0 else math.nan,
                    "n_low": n_low,
                    "n_high": n_high,
                    "low_coef": p,
                    "high_coef": r,
                    "missing_coef": m_coef,
                    "low_se": p_se,
                    "high_se": r_se,
                    "penalty": pen,
                    "reward": rew,
                    "penalty_se": p_se,
                    "reward_se": r_se,
                    "penalty_lo": _clip(-p - z * p_se),
                    "penalty_hi": _clip(-p + z * p_se),
                    "reward_lo": _clip(r - z * r_se),
                    "reward_hi": _clip(r + z * r_se),
                    "penalty_p": _p_value(p / p_se) if p_se > 0 else math.nan,
                    "reward_p": _p_value(r / r_se) if r_se > 0 else math.nan,
                    "ris": ris,
                    "ris_se": ris_se,
                    "ris_significant": ris_sig,
                    "ia": ia,
                    "ia_lo": ia_lo,
                    "ia_hi": ia_hi,
                    "wrong_sign": " and ".join(wrong),
                    "vif_low": vif.get(cl, math.nan),
                    "vif_high": vif.get(ch, math.nan),
                    "reason": "; ".join(reasons),
                    "insufficient": insufficient,
                    "risk": pen * w_low / sw if sw > 0 else math.nan,
                    "upside": rew * (w_rated - w_high) / sw if sw > 0 else math.nan,
                    "just_enough": _just_enough(lv, stats, settings.min_cell),
                }
            )
        total_ris, n_mot = _assign_classes(seg_rs, settings)
        rows += seg_rs
        r2 = _r_squared(s.gram, lay, s.beta)
        seg_reasons = []
        if seg_insufficient:
            seg_reasons.append(f"{s.n} respondents; needs at least {min_seg}")
        if s.condition_index > settings.max_condition_index:
            seg_reasons.append(
                f"collinearity: condition index {s.condition_index:.0f} "
                f"> {settings.max_condition_index:.0f}"
            )
        if collinear and max(vif.values(), default=0.0) > settings.max_vif:
            seg_reasons.append(f"collinearity: largest VIF {max(vif.values()):.0f}")
        for why, text in (("empty", "nobody in them"), ("aliased", "combinations of others")):
            # An empty missing-indicator only means everyone rated it: data, not a warning.
            cols = [
                labels[c]
                for c, w in s.dropped
                if w == why and not (why == "empty" and c > lay.icpt)
            ]
            if cols:
                seg_reasons.append(f"left out of the model ({text}): {', '.join(cols)}")
        seg_rows.append(
            {
                "segment": s.segment,
                "n": s.n,
                "weight_sum": sw,
                "outcome_mean": ybar,
                "r2": r2,
                "total_ris": total_ris,
                "mot_count": n_mot,
                "condition_index": s.condition_index,
                "collinear": collinear,
                "insufficient": seg_insufficient,
                "dropped": "; ".join(labels[c] for c, _ in s.dropped),
                "reason": "; ".join(seg_reasons),
                "min_segment": min_seg,
            }
        )
    moments = pd.DataFrame(rows)
    return MomentsResult(
        moments=moments,
        segments=pd.DataFrame(seg_rows),
        importance=stats.importance if len(stats.importance) else compute_importance(stats),
        levels=stats.levels if len(stats.levels) else _levels_frame(stats),
        fits=fits,
        settings=settings,
        segmentation=stats.segmentation,
        outcome_kind=stats.outcome_kind,
        measure=stats.measure,
        low_max=stats.low_max,
        high_min=stats.high_min,
        unit=(
            "percentage points"
            if stats.outcome_kind == "binary" or stats.measure == "promoter"
            else "points"
        ),
        seconds=stats.seconds + time.perf_counter() - start,
    )


def _column_counts(s: SegmentStats, stats: SufficientStats) -> np.ndarray:
    """Respondents (unweighted) in each design column."""
    lay = stats.layout
    counts = np.full(lay.k, float(s.n))
    lv = s.levels[:, :, 0]
    top = stats.high_min - stats.scale_min
    counts[: lay.t] = lv[:, : stats.low_max - stats.scale_min + 1].sum(1)
    counts[lay.t : 2 * lay.t] = lv[:, top:-1].sum(1)
    counts[lay.icpt + 1 :] = lv[:, -1]
    return counts


def _clip(v: float) -> float:
    return max(0.0, v) if math.isfinite(v) else math.nan


def _ia_interval(
    p: float, r: float, vp: float, vr: float, cpr: float, z: float
) -> tuple[float, float]:
    """Delta-method interval of IA = (r + p) / (r - p), the unclipped form, clipped to [-1, 1]."""
    d = r - p
    if not (math.isfinite(d) and d > 0):
        return math.nan, math.nan
    ia = (r + p) / d
    gp, gr = 2 * r / d**2, -2 * p / d**2
    var = gp * gp * vp + gr * gr * vr + 2 * gp * gr * cpr
    half = z * math.sqrt(max(var, 0.0))
    return max(-1.0, ia - half), min(1.0, ia + half)


def _assign_classes(rows: list[dict[str, Any]], settings: Settings) -> tuple[float, int]:
    """MoTs: the smallest significant set, by RIS, covering mot_coverage of the total RIS."""
    usable = [r for r in rows if not r["insufficient"] and math.isfinite(r["ris"])]
    total = sum(r["ris"] for r in usable)
    ranked = sorted(usable, key=lambda r: -r["ris"])
    for rank, r in enumerate(ranked, start=1):
        r["rank"] = rank
    covered = 0.0
    n_mot = 0
    for r in ranked:
        r["mot"] = False
        if covered >= settings.mot_coverage * total or not r["ris_significant"]:
            continue
        r["mot"] = True
        covered += r["ris"]
        n_mot += 1
    for r in rows:
        r.setdefault("rank", math.nan)
        r.setdefault("mot", False)
        r["class"] = _class_of(r, settings)
        r["adequate"] = bool(
            r["class"] == "vulnerability" and r["bottom_box"] < settings.adequate_bottom_box
        )
        r["action"] = _action_of(r)
    return total, n_mot


def _class_of(r: Mapping[str, Any], settings: Settings) -> str:
    if r["insufficient"]:
        return "insufficient"
    if not r["mot"]:
        return "low impact"
    ia = r["ia"]
    if settings.hybrid_rule == "interval":
        if not (r["ia_lo"] <= 0 <= r["ia_hi"]):
            return "vulnerability" if ia < 0 else "opportunity"
        return "hybrid"
    if ia <= settings.vulnerability_ia:
        return "vulnerability"
    if ia >= settings.opportunity_ia:
        return "opportunity"
    return "hybrid"


def _action_of(r: Mapping[str, Any]) -> str:
    cls = r["class"]
    if cls == "vulnerability":
        return "maintain" if r["adequate"] else "fix"
    return {
        "opportunity": "grow",
        "hybrid": "improve",
        "low impact": "monitor",
        "insufficient": "collect more responses",
    }[cls]


def _just_enough(levels: np.ndarray, stats: SufficientStats, min_cell: int) -> float:
    """The rating level above the largest rise in outcome below the top box (the penalty's step)."""
    counts, wsum, wy = levels[:-1, 0], levels[:-1, 1], levels[:-1, 2]
    best, level = 0.0, math.nan
    top = stats.high_min - stats.scale_min  # index of the first top-box level
    for k in range(1, top):
        if min(counts[k - 1], counts[k]) < min_cell or min(wsum[k - 1], wsum[k]) <= 0:
            continue
        step = wy[k] / wsum[k] - wy[k - 1] / wsum[k - 1]
        if step > best:
            best, level = step, float(stats.scale_min + k)
    return level


def _r_squared(gram: np.ndarray, lay: Layout, beta: np.ndarray) -> float:
    sw = gram[lay.icpt, lay.icpt]
    if sw <= 0:
        return math.nan
    b = np.nan_to_num(beta)
    xty = gram[: lay.k, lay.y]
    yty = gram[lay.y, lay.y]
    sst = yty - gram[lay.icpt, lay.y] ** 2 / sw
    ssr = yty - float(b @ xty)
    return float(1 - ssr / sst) if sst > 0 else math.nan


def _levels_frame(stats: SufficientStats) -> pd.DataFrame:
    rows = []
    for s in stats.segments:
        for i in range(len(stats.columns)):
            lv = s.levels[i]
            w_rated = lv[:-1, 1].sum()
            for k in range(lv.shape[0] - 1):
                rows.append(
                    (
                        s.segment,
                        stats.names[i],
                        stats.columns[i],
                        stats.scale_min + k,
                        int(lv[k, 0]),
                        lv[k, 1] / w_rated if w_rated > 0 else math.nan,
                        lv[k, 2] / lv[k, 1] if lv[k, 1] > 0 else math.nan,
                    )
                )
    return pd.DataFrame(
        rows, columns=["segment", "touchpoint", "column", "level", "n", "share", "outcome_mean"]
    )


# ---- derived importance ----------------------------------------------------------------


def pairwise_correlations(s: SegmentStats, lay: Layout) -> tuple[np.ndarray, np.ndarray]:
    """Correlations among touchpoint scores and with the outcome, pairwise-complete, weighted."""
    t = lay.t
    g, pr = s.gram, s.pair
    sw = g[lay.icpt, lay.icpt]
    miss = np.array([lay.miss(i) for i in range(t)])
    sm = g[lay.icpt, miss]  # Σ M_i
    mm = g[np.ix_(miss, miss)]  # Σ M_i M_j
    n = sw - sm[:, None] - sm[None, :] + mm  # both rated
    # pair rows: S 0..T-1, Q T..2T-1, y² 2T; columns: 1, M 1..T, y T+1, S T+2..2T+1
    s1, q1 = pr[:t, 0], pr[t : 2 * t, 0]
    s_m, q_m = pr[:t, 1 : t + 1], pr[t : 2 * t, 1 : t + 1]
    sx = s1[:, None] - s_m  # Σ S_i P_j
    sxx = q1[:, None] - q_m
    sxy = pr[:t, t + 2 : 2 * t + 2]
    with np.errstate(invalid="ignore", divide="ignore"):
        cov = sxy / n - sx * sx.T / n**2
        var = sxx / n - (sx / n) ** 2
        rxx = cov / np.sqrt(var * var.T)
        np.fill_diagonal(rxx, 1.0)
        n_i = sw - sm
        sy = g[lay.icpt, lay.y] - g[miss, lay.y]  # Σ P_i y
        syy = pr[2 * t, 0] - pr[2 * t, 1 : t + 1]  # Σ P_i y²
        cxy = pr[:t, t + 1] / n_i - s1 / n_i * sy / n_i
        vx = q1 / n_i - (s1 / n_i) ** 2
        vy = syy / n_i - (sy / n_i) ** 2
        rxy = cxy / np.sqrt(vx * vy)
    return np.nan_to_num(rxx), np.nan_to_num(rxy)


def compute_relative_weights(rxx: np.ndarray, rxy: np.ndarray) -> np.ndarray:
    """Johnson's (2000) relative weights; they sum to the R² of the scores."""
    evals, evecs = np.linalg.eigh(rxx)
    evals = np.clip(evals, 1e-12, None)
    lam = evecs @ np.diag(np.sqrt(evals)) @ evecs.T  # corr(X, Z), Z orthonormal nearest X
    beta = np.linalg.solve(lam, rxy)
    return np.asarray((lam**2) @ (beta**2))


def all_subset_r2(rxx: np.ndarray, rxy: np.ndarray) -> np.ndarray:
    """R² of every subset of predictors (indexed by bitmask) from the correlation matrix.

    Subsets grow by adding a predictor above their highest one; a subset's residual
    covariance of the later predictors and y comes from its parent's by one Schur
    complement step, vectorised over all parents: no per-subset solve.
    """
    t = len(rxy)
    c = np.empty((t + 1, t + 1))
    c[:t, :t], c[:t, t], c[t, :t], c[t, t] = rxx, rxy, rxy, 1.0
    r2 = np.zeros(1 << t)
    # groups[g]: subsets whose highest predictor is g - 1 (g = 0: the empty set), with the
    # residual covariance of predictors g.. and y (y last)
    groups: list[tuple[np.ndarray, np.ndarray]] = [(np.zeros(1, dtype=np.int64), c[None])]
    for j in range(t):
        grown_masks, grown_mats = [], []
        for g, (masks, mats) in enumerate(groups):
            k = j - g  # j's place in this group's matrices
            pivot = mats[:, k, k]
            ok = pivot > 1e-12  # an aliased predictor adds nothing
            step = np.where(ok, 1.0 / np.where(ok, pivot, 1.0), 0.0)
            col = mats[:, k + 1 :, k]
            grown_mats.append(
                mats[:, k + 1 :, k + 1 :] - col[:, :, None] * col[:, None, :] * step[:, None, None]
            )
            grown_masks.append(masks | (1 << j))
        masks, mats = np.concatenate(grown_masks), np.concatenate(grown_mats)
        r2[masks] = 1.0 - mats[:, -1, -1]
        groups.append((masks, mats))
    return r2


def compute_shapley(rxx: np.ndarray, rxy: np.ndarray) -> np.ndarray:
    """Shapley value regression: each touchpoint's average R² gain over all orders."""
    t = len(rxy)
    if t > MAX_SHAPLEY_TOUCHPOINTS:
        return np.full(t, np.nan)
    r2 = all_subset_r2(rxx, rxy)
    masks = np.arange(1 << t)
    sizes = np.zeros(1 << t, dtype=np.int64)
    for j in range(t):
        sizes += (masks >> j) & 1
    fact = [math.factorial(i) for i in range(t + 1)]
    weight = np.array([fact[s] * fact[t - s - 1] / fact[t] for s in range(t)])
    phi = np.empty(t)
    for j in range(t):
        without = masks[(masks >> j) & 1 == 0]
        phi[j] = float((weight[sizes[without]] * (r2[without | (1 << j)] - r2[without])).sum())
    return phi


def compute_importance(stats: SufficientStats) -> pd.DataFrame:
    """Relative weights and Shapley values of the touchpoint scores, per segment."""
    lay = stats.layout
    rows = []
    for s in stats.segments:
        rxx, rxy = pairwise_correlations(s, lay)
        rw = compute_relative_weights(rxx, rxy)
        sh = compute_shapley(rxx, rxy)
        r2 = float(rw.sum())
        for i in range(lay.t):
            rows.append(
                {
                    "segment": s.segment,
                    "touchpoint": stats.names[i],
                    "column": stats.columns[i],
                    "relative_weight": float(rw[i]),
                    "relative_weight_share": float(rw[i] / r2) if r2 > 0 else math.nan,
                    "shapley": float(sh[i]),
                    "shapley_share": float(sh[i] / sh.sum()) if sh.sum() > 0 else math.nan,
                    "r2": r2,
                }
            )
    return pd.DataFrame(rows)


# ---- the one-call entry point, what-if and sensitivity ----------------------------------


def find_moments(
    con: duckdb.DuckDBPyConnection,
    table: str,
    spec: JourneySpec,
    segmentation: Sequence[str] | str | None = None,
    settings: Settings | None = None,
    *,
    params: Sequence[object] = (),
    cache_key: Hashable | None = None,
    engine: Engine = "numpy",
) -> MomentsResult:
    """Moments of truth of the whole data ("All") and of every segment of `segmentation`.

    `table` and its bound `params` are as in compute_stats.
    """
    settings = settings or Settings()
    stats = compute_stats(
        con, table, spec, segmentation, settings, params=params, cache_key=cache_key, engine=engine
    )
    return classify_moments(stats, settings)


@dataclass(frozen=True)
class WhatIf:
    """The predicted outcome after moving a share of one touchpoint's ratings up."""

    segment: str
    touchpoint: str
    move: Move
    share: float  # of the bottom box (or middle) that moves
    moved: float  # share of the segment's respondents that moves
    baseline: float  # the segment's outcome today (fitted mean = observed weighted mean)
    predicted: float
    delta: float
    delta_lo: float
    delta_hi: float


def predict_what_if(
    result: MomentsResult, segment: str, touchpoint: str, move: Move, share: float
) -> WhatIf:
    """Move `share` of the bottom box to the middle (or of the middle to the top box) at a
    touchpoint for a segment, and predict the outcome with the fitted PRCA coefficients."""
    if not 0.0 <= share <= 1.0:
        raise CmotError(f"The share to move must lie between 0 and 1, got {share}.")
    fit = result.fits.get(segment)
    if fit is None:
        raise CmotError(f"No segment named {segment!r}; segments: {sorted(result.fits)}.")
    rows = result.moments[result.moments.segment == segment]
    match = rows[(rows.touchpoint == touchpoint) | (rows.column == touchpoint)]
    if match.empty:
        raise CmotError(f"No touchpoint named {touchpoint!r}.")
    i = int(match.index[0] - rows.index[0])
    lay = Layout(len(rows))
    cl, ch, cm = lay.low(i), lay.high(i), lay.miss(i)
    if move == "bottom_to_middle":
        moved = share * fit.mean_x[cl]
        coef, var = -fit.beta[cl], fit.cov[cl, cl]
    elif move == "middle_to_top":
        middle = 1.0 - fit.mean_x[cl] - fit.mean_x[ch] - fit.mean_x[cm]
        moved = share * middle
        coef, var = fit.beta[ch], fit.cov[ch, ch]
    else:
        raise CmotError(f"Unknown move {move!r}: use bottom_to_middle or middle_to_top.")
    coef = 0.0 if not math.isfinite(coef) else float(coef)
    delta = moved * coef
    half = _NORMAL.inv_cdf(1 - result.settings.alpha / 2) * moved * math.sqrt(max(var, 0.0))
    return WhatIf(
        segment,
        str(match.touchpoint.iloc[0]),
        move,
        share,
        float(moved),
        fit.outcome_mean,
        fit.outcome_mean + delta,
        delta,
        delta - half,
        delta + half,
    )


def assess_sensitivity(
    con: duckdb.DuckDBPyConnection,
    table: str,
    spec: JourneySpec,
    segmentation: Sequence[str] | str | None = None,
    settings: Settings | None = None,
    *,
    params: Sequence[object] = (),
    cache_key: Hashable | None = None,
) -> pd.DataFrame:
    """Does each class hold under the neighbouring analytic choices (METHODS.md §7)?

    Columns: segment, touchpoint, class, then one column per variant with the class it
    gives (low_one, high_two, ia_0.1, ia_0.3, interval_hybrid), holds (count of variants
    that agree) and fragile (any variant disagrees). Variants the scale cannot express
    (e.g. top two on a 1-3 scale) are left out.
    """
    base = settings or Settings()
    low, high = base.cutoffs(spec)
    variants: dict[str, Settings] = {}
    if low != spec.scale.min:
        variants["low_one"] = replace(base, low_max=spec.scale.min, high_min=high)
    if high - 1 > low:
        variants["high_two"] = replace(base, low_max=low, high_min=high - 1)
    variants["ia_0.1"] = replace(base, vulnerability_ia=-0.1, opportunity_ia=0.1)
    variants["ia_0.3"] = replace(base, vulnerability_ia=-0.3, opportunity_ia=0.3)
    variants["interval_hybrid"] = replace(base, hybrid_rule="interval")
    ref = find_moments(con, table, spec, segmentation, base, params=params, cache_key=cache_key)
    out = ref.moments[["segment", "touchpoint", "class"]].copy()
    for name, var in variants.items():
        res = find_moments(con, table, spec, segmentation, var, params=params, cache_key=cache_key)
        out[name] = res.moments["class"].to_numpy()
    names = list(variants)
    agree = out[names].eq(out["class"], axis=0)
    out["holds"] = agree.sum(axis=1)
    out["fragile"] = ~agree.all(axis=1)
    return out
