"""The sums: design layout, blocks, weighted fits, the HC3 pass, the portable SQL sums
(build_stats_sql), the cache. The SQL passes other engines run: cmot.engine.sums_sql.

The only step that reads the data; everything after it (cmot.results.moments,
cmot.engine.importance, cmot.results.whatif) works on the sums alone.
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from scipy.linalg.lapack import dtrtrs
from threadpoolctl import ThreadpoolController

from cmot.engine.importance import compute_importance
from cmot.engine.view import NO_ANSWER
from cmot.errors import CmotError, engine_message
from cmot.names import W_COL, Y_COL, quote_ident
from cmot.settings import ALL, Measure, Settings
from cmot.spec import JourneySpec

Engine = Literal["numpy", "sql"]

MISSING = -128  # int8 sentinel for a missing rating inside the numpy blocks
BLOCK_ROWS = 1 << 17
# float32 sums of integers stay exact below 2**24: block rows x the largest product must fit.
_EXACT32 = float(1 << 24)
_BLAS = ThreadpoolController()  # found once: scanning the loaded libraries costs ~2 ms a call
# The HC3 pass runs in float32 (sums kept in float64) from this many respondents on:
# leverages are then tiny and the standard errors agree with float64 to ~1e-6 relative
# (bench/engine.md), at half the cost. Smaller data is fast anyway and runs in float64.
HC3_FLOAT32_MIN_ROWS = 250_000
_KEEP_BLOCKS_BYTES = 1 << 30  # hold pass-1 blocks for pass 2 when they fit in 1 GB


@dataclass(frozen=True)
class Cuts:
    """Each touchpoint's scale and cut-offs, journey order, as (T, 1) integer columns that
    broadcast over a block's (T, m) ratings: 1-5 and 0-10 touchpoints in one design."""

    lo: np.ndarray
    hi: np.ndarray
    low: np.ndarray  # ratings <= low are low (bottom box)
    high: np.ndarray  # ratings >= high are high (top box)

    @property
    def points(self) -> int:
        """Levels of the widest scale: the levels histogram's width before the missing slot."""
        return int((self.hi - self.lo).max(initial=0)) + 1

    def of(self, i: int) -> tuple[int, int, int, int]:
        return int(self.lo[i, 0]), int(self.hi[i, 0]), int(self.low[i, 0]), int(self.high[i, 0])


def touchpoint_cuts(spec: JourneySpec, low: int, high: int) -> Cuts:
    """A touchpoint with its own scale (spec.scales) keeps that scale's cut-offs; the others
    are on the survey scale with the chosen cut-offs `low`, `high` (Settings.cutoffs)."""
    rows = []
    for c in spec.touchpoint_columns:
        own = spec.scales.get(c)
        rows.append(
            (own.min, own.max, own.low_max, own.high_min)
            if own is not None
            else (spec.scale.min, spec.scale.max, low, high)
        )
    a = np.array(rows, dtype=np.int64).reshape(-1, 4)
    for c, (lo, hi, lw, hg) in zip(spec.touchpoint_columns, rows, strict=True):
        if lo < -127 or hi > 127:
            raise CmotError(f"Rating scales must lie within -127..127, got {lo}-{hi} for {c!r}.")
        if not lo <= lw < hg <= hi:
            raise CmotError(
                f"The cut-offs of {c!r} need {lo} <= low ({lw}) < high ({hg}) <= {hi}; "
                "fix its scale in the journey spec."
            )
    return Cuts(a[:, 0:1], a[:, 1:2], a[:, 2:3], a[:, 3:4])


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
    # Why the model could not be fitted (singular or ill-conditioned sums), "" when it was:
    # the segment is then insufficient with this reason, never an exception.
    problem: str = ""
    # Set by cmot.results.pooling.pool: beta is then the pooled estimate (the segment's own data
    # blended with the whole journey's) and this its covariance, which cmot.results.moments reads
    # instead of bread·meat·bread (bread and meat stay those of the segment's own fit).
    cov: np.ndarray | None = None


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
    # Facts about the outcome for the guardrails: distinct values, observed and declared range.
    outcome_distinct: int = 0
    outcome_min: float = math.nan
    outcome_max: float = math.nan
    outcome_range: tuple[float, float] | None = None
    weight_column: str | None = None  # the spec's weight column (weighted tells if it varies)
    # Each touchpoint's (min, max, low_max, high_min); empty: all on the survey scale above.
    touchpoint_scales: tuple[tuple[int, int, int, int], ...] = ()
    # Derived from the sums alone, kept so that a threshold change does not redo them.
    importance: pd.DataFrame = field(default_factory=pd.DataFrame)
    levels: pd.DataFrame = field(default_factory=pd.DataFrame)

    @property
    def layout(self) -> Layout:
        return Layout(len(self.columns))

    def scale_at(self, i: int) -> tuple[int, int, int, int]:
        """Touchpoint i's (min, max, low_max, high_min)."""
        if self.touchpoint_scales:
            return self.touchpoint_scales[i]
        return self.scale_min, self.scale_max, self.low_max, self.high_min

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
    # STRING, not VARCHAR: Spark SQL needs a length after VARCHAR; DuckDB reads both alike.
    parts = [f"coalesce(CAST({quote_ident(c)} AS STRING), '(missing)')" for c in segmentation]
    return " || ' / ' || ".join(parts)


def _select_sql(
    table: str, spec: JourneySpec, segmentation: Sequence[str], measure: Measure
) -> str:
    tps = ", ".join(
        f"CAST({quote_ident(c)} AS TINYINT) AS {quote_ident(c)}" for c in spec.touchpoint_columns
    )
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
    cuts: Cuts,
    codes: dict[str, int],
) -> Iterator[_Block]:
    """Arrow batches of the query, as segment-sorted numpy blocks (codes grow as seen)."""
    try:
        reader = con.sql(sql, params=list(params)).to_arrow_reader(BLOCK_ROWS)
    except duckdb.Error as e:
        raise CmotError(f"Cannot read the survey for the analysis: {engine_message(e)}") from None
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
        rated = r != MISSING
        outside = rated & ((r < cuts.lo) | (r > cuts.hi))
        if outside.any():
            i = int(np.flatnonzero(outside.any(axis=1))[0])
            vals = r[i][outside[i]]
            lo, hi = cuts.of(i)[:2]
            raise CmotError(
                f"Ratings from {vals.min()} to {vals.max()} fall outside the scale "
                f"{lo}-{hi} (touchpoint {batch.schema.names[3 + i]!r}); fix the scale in the "
                "journey spec or declare the out-of-scale codes as missing."
            )
        if (w < 0).any() or not np.isfinite(w).all():
            raise CmotError("Survey weights must be finite and not negative; fix the weights.")
        if not np.isfinite(y).all():
            raise CmotError("The outcome has non-numeric values; check the outcome column.")
        order = np.argsort(g, kind="stable")
        g = g[order]
        breaks = np.flatnonzero(np.diff(g)) + 1
        starts = np.concatenate([[0], breaks])
        stops = np.concatenate([breaks, [len(g)]])
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
    low_max: int | np.ndarray,
    high_min: int | np.ndarray,
    dtype: type[np.floating[Any]],
    full: bool = True,
) -> np.ndarray:
    """The block matrix Z (rows as in the layout comment above) for one segment slice.

    With full=False only the design X (the first 3T+1 rows), for the HC3 pass. The cut-offs
    are numbers or (T, 1) columns (one per touchpoint, Cuts).
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
    acc: _Accum, r: np.ndarray, y: np.ndarray, w: np.ndarray | None, cuts: Cuts
) -> None:
    t = r.shape[0]
    top = max(int(np.abs(cuts.lo).max(initial=0)), int(np.abs(cuts.hi).max(initial=0)))
    dtype = _block_dtype(y, w, top)
    z = _design(r, y, cuts.low, cuts.high, dtype)
    xa = z[: 3 * t + 2]
    u = z[2 * t : 4 * t + 2]  # [1, miss, y, score]
    v = z[3 * t + 2 :]  # [score, score², y²]
    if w is None:
        acc.gram += (xa @ xa.T).astype(np.float64)
        acc.pair += (v @ u.T).astype(np.float64)
    else:
        acc.gram += (xa * w) @ xa.T
        acc.pair += (v * w) @ u.T
    # Rating-level histogram: count, Σw, Σwy; level index = rating - the touchpoint's scale
    # min, last = missing.
    points = acc.levels.shape[1] - 1
    idx = np.where(r == MISSING, points, r.astype(np.int32) - cuts.lo.astype(np.int32))
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
    problem: str = ""


def _segment_stats(name: str, acc: _Accum, fit: _Fit, meat: np.ndarray) -> SegmentStats:
    """A segment's sums, fit and meat as one result (both engines' passes end here)."""
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
        fit.problem,
    )


# Beyond this condition index (of the unit-diagonal X'WX) a float64 inverse keeps fewer
# than ~4 significant digits: the coefficients are numerical noise, not estimates.
ILL_CONDITIONED = 1e6


def _fit(gram: np.ndarray, lay: Layout) -> _Fit:
    """Weighted least squares from the gram, dropping empty and aliased columns (with reasons).

    Never raises: sums that cannot be solved (non-finite, singular, ill-conditioned) give a
    fit with no coefficients and the reason in `problem`.
    """
    k = lay.k
    empty = _Fit((), (), np.full(k, np.nan), np.zeros((k, k)), math.nan)
    if not np.isfinite(gram).all():
        return replace(empty, problem="the sums are not finite (check the weights)")
    try:
        fit = _solve(gram, lay)
    except (np.linalg.LinAlgError, ValueError, ZeroDivisionError) as e:
        return replace(empty, problem=f"the model cannot be fitted ({e})")
    finite = np.isfinite(fit.beta[list(fit.kept)]).all() and np.isfinite(fit.bread).all()
    if fit.kept and not finite:
        return replace(empty, problem="the model cannot be fitted (singular sums)")
    if fit.condition_index > ILL_CONDITIONED:
        return replace(
            empty,
            condition_index=fit.condition_index,
            problem=f"the model is ill-conditioned (condition index {fit.condition_index:.3g})",
        )
    return fit


def _solve(gram: np.ndarray, lay: Layout) -> _Fit:
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
    chol = np.zeros((k, k))  # the factor of the kept columns is its top-left corner
    for j in order:
        if diag[j] <= 0:
            dropped.append((j, "empty"))
            continue
        n = len(kept)
        if kept:
            c = xtx[kept, j] / np.sqrt(diag[kept] * diag[j])
            # A triangular solve: O(n²) where a general solve is O(n³) (121 touchpoints:
            # 0.11 s a segment with np.linalg.solve).
            zvec, _ = dtrtrs(chol[:n, :n], c, lower=1)  # LAPACK direct: no wrapper overhead
            resid = 1.0 - float(zvec @ zvec)
        else:
            zvec, resid = np.zeros(0), 1.0
        if resid < 1e-9:
            dropped.append((j, "aliased"))
            continue
        chol[n, :n] = zvec
        chol[n, n] = math.sqrt(resid)
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

    def compute() -> SufficientStats:
        # The products are many small matrix multiplies: OpenBLAS's threads cost far more
        # than they give here (measured 10-50x slower on 2 cores), so run them single-threaded.
        with _BLAS.limit(limits=1, user_api="blas"):
            return _compute(con, table, bound, spec, seg_cols, low, high, settings.measure, engine)

    key = (table, bound, seg_cols, low, high, settings.measure, engine)
    return _cached(cache_key, key, compute)


_CACHE: OrderedDict[Hashable, SufficientStats] = OrderedDict()
_CACHE_SIZE = 32
_CACHE_LOCK = threading.Lock()  # dashboard sessions share the cache from several threads


def _cached(
    cache_key: Hashable | None, parts: tuple[Hashable, ...], compute: Callable[[], SufficientStats]
) -> SufficientStats:
    """`compute()`, kept in the process's LRU of sums under (cache_key, *parts) when a
    cache_key (the data's version) is given: both engines' sums are cached alike."""
    if cache_key is None:
        return compute()
    key = (cache_key, *parts)
    with _CACHE_LOCK:
        hit = _CACHE.get(key)
        if hit is not None:
            _CACHE.move_to_end(key)
            return hit
    stats = compute()
    with _CACHE_LOCK:
        _CACHE[key] = stats
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    return stats


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
    cuts = touchpoint_cuts(spec, low, high)
    points = cuts.points
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
        for block in _read_blocks(con, sql, params, cuts, codes):
            weighted = weighted or block.w is not None

            def pass1(task: tuple[int, int, int], block: _Block = block) -> tuple[int, _Accum]:
                code, a, b = task
                part = _new_accum(t, points)
                w = None if block.w is None else block.w[a:b]
                _accumulate(part, block.r[:, a:b], block.y[a:b], w, cuts)
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
    # A value declared 'no answer' (cmot.engine.view.NO_ANSWER) is no segment; its rows are in All.
    by_name = {
        name: accs[code]
        for name, code in codes.items()
        if code in accs and NO_ANSWER not in str(name).split(" / ")
    }
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
        else _read_blocks(con, sql, params, cuts, codes)
    )
    for block in blocks:

        def pass2(
            task: tuple[int, int, int], block: _Block = block
        ) -> tuple[int, np.ndarray | None, np.ndarray]:
            code, a, b = task
            w = None if block.w is None else block.w[a:b]
            y = block.y[a:b]
            dtype = np.float32 if fast else np.float64
            x = _design(block.r[:, a:b], y, cuts.low, cuts.high, dtype, full=False)
            yd = y.astype(dtype)
            fit = code_fit.get(code)  # none for a no-answer value: All only
            seg_meat = _hc3_meat(x, yd, w, fit) if seg_cols and fit is not None else None
            return code, seg_meat, _hc3_meat(x, yd, w, fit_all)

        for code, seg_meat, all_meat in _POOL.map(pass2, _tasks(block)):
            if seg_meat is not None:
                meats[code] += seg_meat
            meat_all += all_meat

    segs = [_segment_stats(ALL, total, fit_all, meat_all)]
    if seg_cols:
        for name in sorted(by_name):
            segs.append(_segment_stats(name, by_name[name], fits[name], meats[codes[name]]))
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
        outcome_range=_declared_range(spec, measure),
        touchpoint_scales=tuple(cuts.of(i) for i in range(t)),
        weight_column=spec.weight_column,
        **_outcome_facts(con, sql, params),
    )
    return replace(
        stats,
        importance=compute_importance(stats),
        levels=_levels_frame(stats),
        seconds=time.perf_counter() - start,
    )


def _outcome_facts(
    con: duckdb.DuckDBPyConnection, sql: str, params: tuple[object, ...]
) -> dict[str, Any]:
    """Distinct values and range of the outcome, for the id and range guardrails."""
    try:
        # fetchall, not fetchone: a half-read result would block the connection.
        rows = con.execute(
            f"SELECT count(DISTINCT __y), min(__y), max(__y) FROM ({sql}) AS o_", list(params)
        ).fetchall()
    except duckdb.Error:
        return {}  # a guardrail's facts are not worth failing the analysis for
    if not rows:
        return {}
    row = rows[0]
    return {
        "outcome_distinct": int(row[0] or 0),
        "outcome_min": math.nan if row[1] is None else float(row[1]),
        "outcome_max": math.nan if row[2] is None else float(row[2]),
    }


def _declared_range(spec: JourneySpec, measure: Measure) -> tuple[float, float] | None:
    o = spec.outcome
    if measure == "promoter" or o.kind == "binary":
        return None  # 0/1 by construction
    if o.min is not None and o.max is not None:
        return float(o.min), float(o.max)
    return (0.0, 10.0) if o.kind == "recommend" else None


# ---- the portable SQL aggregation ----------------------------------------------------


def build_stats_sql(
    table: str,
    spec: JourneySpec,
    segmentation: Sequence[str],
    low_max: int,
    high_min: int,
    measure: Measure = "score",
) -> tuple[str, list[tuple[str, int]]]:
    """The sums as one narrow GROUP BY with only SUM/COUNT/CASE: every respondent's row is
    repeated once per touchpoint i (a cross join with the numbers 0..T-1) and grouped by
    (segment, i, i's rating, NULL when missing). Per group: the count, Σw y^p (p = 0..3)
    and, per touchpoint j, Σw s_j, Σw low_j, Σw high_j, Σw missing_j (s_j the rating, 0
    when missing). Every gram, pair and level sum is a sum of these over i's levels times
    a function of i's rating (`level_sums_accum`): 4T + 5 aggregates over T x rows instead
    of ~8T² over rows, narrow enough for Spark's whole-stage code generation
    (bench/engine_spark.md: 77 s -> 6.4 s at 1M respondents, 14 touchpoints).

    Returns the SQL and what each aggregate after (segment, touchpoint, rating) holds:
    ("n", 0), ("y", p) for Σw y^p, then ("s" | "low" | "high" | "miss", j). `table`
    appears once in the SQL and no other placeholder does, so a `table` with `?`
    placeholders runs with the same parameters as in compute_stats.
    """
    t = len(spec.touchpoint_columns)
    cuts = touchpoint_cuts(spec, low_max, high_min)
    q = [quote_ident(c) for c in spec.touchpoint_columns]
    per_row = [f"COALESCE({c}, 0) AS s{j}" for j, c in enumerate(q)] + [
        f"{e} AS x{a}" for a, e in enumerate(_design_sql(q, cuts))
    ]
    lay = Layout(t)
    cells: list[tuple[str, int]] = [("n", 0)] + [("y", p) for p in range(4)]
    aggs = ["COUNT(*)", "SUM(w)", "SUM(w * y)", "SUM(w * y * y)", "SUM(w * y * y * y)"]
    for what, col in (
        ("s", lambda j: f"s{j}"),
        ("low", lambda j: f"x{lay.low(j)}"),
        ("high", lambda j: f"x{lay.high(j)}"),
        ("miss", lambda j: f"x{lay.miss(j)}"),
    ):
        for j in range(t):
            aggs.append(f"SUM(w * {col(j)})")
            cells.append((what, j))
    inner = _inner_sql(table, spec, segmentation, measure)
    rows = f"SELECT seg, w, y, {', '.join(q)}, {', '.join(per_row)} FROM ({inner}) AS inner_"
    sql = (
        f"SELECT seg, tp_, r_, {', '.join(aggs)} FROM ({_by_touchpoint(rows, q)}) AS e_ "
        "GROUP BY seg, tp_, r_"
    )
    return sql, cells


def _by_touchpoint(rows: str, q: Sequence[str]) -> str:
    """`rows` once per touchpoint: its number tp_ and its rating r_ added (a cross join with
    a VALUES list, which DuckDB and Spark SQL both read)."""
    numbers = ", ".join(f"({i})" for i in range(len(q)))
    rating = " ".join(f"WHEN {i} THEN {c}" for i, c in enumerate(q))
    return (
        f"SELECT r_rows.*, k_.tp_ AS tp_, CASE k_.tp_ {rating} END AS r_ FROM ({rows}) AS r_rows "
        f"CROSS JOIN (VALUES {numbers}) AS k_(tp_)"
    )


def _slots(rows: Sequence[tuple[Any, ...]], cuts: Cuts, width: int) -> dict[str, np.ndarray]:
    """Rows (segment, touchpoint, rating, sums...) as one (T, points + 1, width) array per
    segment: the rating's slot is rating - the touchpoint's scale min, the last is missing."""
    t, points = cuts.lo.shape[0], cuts.points
    out: dict[str, np.ndarray] = {}
    for row in rows:
        a = out.get(str(row[0]))
        if a is None:
            a = out[str(row[0])] = np.zeros((t, points + 1, width))
        i = int(row[1])
        slot = points if row[2] is None else int(row[2]) - int(cuts.lo[i, 0])
        a[i, slot] = [0.0 if v is None else float(v) for v in row[3:]]
    return out


def _classes(cuts: Cuts) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per touchpoint and slot: its rating (0 when missing), and whether it is low, high
    or missing: the design's columns as functions of the slot, (T, points + 1) each."""
    points = cuts.points
    slot = np.arange(points + 1)[None, :]
    rated = slot < points
    level = np.where(rated, cuts.lo + slot, 0)
    low = rated & (level <= cuts.low)
    high = rated & (level >= cuts.high)
    return level.astype(np.float64), low, high, ~rated


def _design_rows(cuts: Cuts, xb: np.ndarray) -> np.ndarray:
    """Σ over rows of x_a times the sums in xb, for every design column a: each touchpoint's
    low/high/missing column is its slots' sums, the intercept all of touchpoint 0's slots.
    xb: (T, points + 1, m); returns (3T + 1, m)."""
    _, low, high, miss = _classes(cuts)
    return np.concatenate(
        [
            np.einsum("is,isb->ib", low, xb),
            np.einsum("is,isb->ib", high, xb),
            xb[0].sum(axis=0)[None, :],
            np.einsum("is,isb->ib", miss, xb),
        ]
    )


def _symmetric(m: np.ndarray) -> np.ndarray:
    """The upper triangle mirrored: each off-diagonal sum is computed from both of its
    touchpoints' groups; one is kept so the matrix is exactly symmetric."""
    return np.triu(m) + np.triu(m, 1).T


def level_sums_accum(a: np.ndarray, cuts: Cuts) -> _Accum:
    """One segment's gram, pair sums and level histogram from build_stats_sql's rows as a
    (T, points + 1, 5 + 4T) array (`_slots`): sums over touchpoint i's rating slots."""
    t = a.shape[0]
    level, _, _, _ = _classes(cuts)
    n, w, wy, wy2, wy3 = (a[..., c] for c in range(5))
    ws, wl, wh, wm = (a[..., 5 + c * t : 5 + (c + 1) * t] for c in range(4))
    # The gram: [X y]'W[X y], X = [low, high, 1, missing].
    xb = np.concatenate([wl, wh, w[..., None], wm, wy[..., None]], axis=2)
    gram = np.zeros((3 * t + 2, 3 * t + 2))
    gram[: 3 * t + 1] = _design_rows(cuts, xb)
    gram[3 * t + 1] = gram[:, 3 * t + 1]
    gram[3 * t + 1, 3 * t + 1] = wy2[0].sum()
    # The pair sums: [score, score², y²]'W[1, missing, y, score].
    ub = np.concatenate([w[..., None], wm, wy[..., None], ws], axis=2)
    pair = np.zeros((2 * t + 1, 2 * t + 2))
    pair[:t] = np.einsum("is,isb->ib", level, ub)
    pair[t : 2 * t] = np.einsum("is,isb->ib", level * level, ub)
    pair[2 * t] = np.concatenate(
        [[wy2[0].sum()], wy2[:, -1], [wy3[0].sum()], np.einsum("is,is->i", level, wy2)]
    )
    levels = np.stack([n, w, wy], axis=2)
    return _Accum(round(float(n[0].sum())), _symmetric(gram), pair, levels)


def _inner_sql(table: str, spec: JourneySpec, segmentation: Sequence[str], measure: Measure) -> str:
    """The rows the SQL sums read: seg, y, w and the touchpoints, respondents with an outcome."""
    q = [quote_ident(c) for c in spec.touchpoint_columns]
    return (
        f"SELECT {segment_sql_expr(segmentation)} AS seg, {_outcome_sql(spec, measure)} AS y, "
        f"CAST({quote_ident(W_COL)} AS DOUBLE) AS w, "
        + ", ".join(f"CAST({c} AS INTEGER) AS {c}" for c in q)
        + f" FROM {table} WHERE {quote_ident(Y_COL)} IS NOT NULL "
        f"AND {quote_ident(W_COL)} IS NOT NULL"
    )


def _design_sql(q: Sequence[str], cuts: Cuts) -> list[str]:
    """The design X (low, high, intercept, missing: the layout's first 3T+1 rows) as SQL."""
    return (
        [f"CASE WHEN {c} <= {cuts.of(i)[2]} THEN 1 ELSE 0 END" for i, c in enumerate(q)]
        + [f"CASE WHEN {c} >= {cuts.of(i)[3]} THEN 1 ELSE 0 END" for i, c in enumerate(q)]
        + ["1"]
        + [f"CASE WHEN {c} IS NULL THEN 1 ELSE 0 END" for c in q]
    )


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
        raise CmotError(f"Cannot aggregate the survey: {engine_message(e)}") from None
    cuts = touchpoint_cuts(spec, low, high)
    return {
        codes.setdefault(name, len(codes)): level_sums_accum(a, cuts)
        for name, a in _slots(rows, cuts, len(cells)).items()
    }


def _levels_frame(stats: SufficientStats) -> pd.DataFrame:
    """One row per segment x touchpoint x level of the touchpoint's own scale, built from
    the histogram arrays at once (79 segments x 121 touchpoints: 60k rows)."""
    t = len(stats.columns)
    cols = ["segment", "touchpoint", "column", "level", "n", "share", "outcome_mean"]
    if not stats.segments or t == 0:
        return pd.DataFrame(columns=cols)
    lv = np.stack([s.levels for s in stats.segments])  # (S, T, points + 1, 3)
    rated = lv[:, :, :-1, :]
    points = rated.shape[2]
    lo = np.array([stats.scale_at(i)[0] for i in range(t)])
    hi = np.array([stats.scale_at(i)[1] for i in range(t)])
    # Levels beyond a touchpoint's own scale are padding from a wider scale: left out.
    own = np.arange(points)[None, :] <= (hi - lo)[:, None]  # (T, points)
    w_rated = rated[..., 1].sum(axis=2, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(w_rated > 0, rated[..., 1] / w_rated, np.nan)
        mean_y = np.where(rated[..., 1] > 0, rated[..., 2] / rated[..., 1], np.nan)
    keep = np.broadcast_to(own, (len(stats.segments), t, points))
    seg_idx, tp_idx, level_idx = np.nonzero(keep)
    names = np.array([s.segment for s in stats.segments], dtype=object)
    return pd.DataFrame(
        {
            "segment": names[seg_idx],
            "touchpoint": np.array(stats.names, dtype=object)[tp_idx],
            "column": np.array(stats.columns, dtype=object)[tp_idx],
            "level": (lo[tp_idx] + level_idx).astype(np.int64),
            "n": rated[seg_idx, tp_idx, level_idx, 0].astype(np.int64),
            "share": share[seg_idx, tp_idx, level_idx],
            "outcome_mean": mean_y[seg_idx, tp_idx, level_idx],
        },
        columns=cols,
    )


# The name ui/frame.py used before it became public.
_segment_sql = segment_sql_expr
