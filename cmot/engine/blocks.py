"""The sums in numpy over Arrow blocks read from DuckDB (`compute_stats`' default path): the
batches as read (`read_batches`, the reading thread's only work), made segment-sorted blocks
on the pool (`to_block`), the first pass adding up each segment's weighted gram, pair sums
and levels (`first_pass`), and the second, the HC3 meat of every respondent under the fits
(`hc3_pass`); both run a block's segment slices on a pool of threads with BLAS
single-threaded (`single_threaded_blas`), by matrix products or by the histograms of
cmot.engine.histograms.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, TypeVar

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from threadpoolctl import ThreadpoolController

from cmot.engine.design import MISSING, Cuts, design_matrix
from cmot.engine.fits import Fit
from cmot.engine.histograms import (
    Hists,
    hc3_lookup_hists,
    hc3_meat_of,
    hc3_plan,
    hc3_tables,
    pass1_hists,
    pass1_plan,
    pass1_sums,
    stacked,
    whole_outcome,
)
from cmot.engine.stats import Accum, add_accum, new_accum
from cmot.errors import CmotError, engine_message

BLOCK_ROWS = 1 << 17
# float32 sums of integers stay exact below 2**24: block rows x the largest product must fit.
_EXACT32 = float(1 << 24)
_BLAS = ThreadpoolController()  # found once: scanning the loaded libraries costs ~2 ms a call
# The HC3 pass runs by lookups (`_lookup_task`, cmot.engine.histograms) from this many
# respondents on: each respondent's leverage and residual looked up by touchpoint states,
# the meat summed as weighted histograms, in float64, ~3x cheaper than the products there;
# smaller data is fast anyway and runs the products.
HC3_LOOKUP_MIN_ROWS = 250_000
_KEEP_BLOCKS_BYTES = 1 << 30  # hold pass-1 blocks for pass 2 when they fit in 1 GB


def single_threaded_blas() -> AbstractContextManager[Any]:
    """BLAS limited to one thread while the context lasts: the sums and the classification
    are many small matrix products, for which OpenBLAS's threads cost far more than they
    give (measured 10-50x slower on 2 cores)."""
    return _BLAS.limit(limits=1, user_api="blas")


@dataclass
class Block:
    """A batch of rows sorted by segment, its segments numbered in the order the batch
    first holds them (`names`: its Arrow dictionary), with each one's slice (`bounds`)."""

    names: list[str]  # the block's segments by local code
    bounds: list[tuple[int, int, int]]  # (local code, start, stop), by local code
    r: np.ndarray  # (T, m) int8 ratings, MISSING for missing
    y_held: np.ndarray  # the outcome in the narrowest dtype that holds it exactly: `y`
    w: np.ndarray | None  # None when every weight is 1

    def y(self, a: int, b: int) -> np.ndarray:
        """Rows a..b's outcome in float64, as every sum takes it."""
        return self.y_held[a:b].astype(np.float64, copy=False)


def read_batches(
    con: duckdb.DuckDBPyConnection, sql: str, params: Sequence[object]
) -> Iterator[pa.RecordBatch]:
    """The query's Arrow batches, as read (the reading thread only fetches: everything
    else is the pool's, `to_block`)."""
    try:
        reader = con.sql(sql, params=list(params)).to_arrow_reader(BLOCK_ROWS)
    except duckdb.Error as e:
        raise CmotError(f"Cannot read the survey for the analysis: {engine_message(e)}") from None
    for batch in reader:
        if batch.num_rows:
            yield batch


def to_block(batch: pa.RecordBatch, cuts: Cuts) -> Block:
    """A batch as a segment-sorted numpy block; ratings outside their scale, bad weights
    and outcomes refused (in the order the batches were read: see _pipelined). Segments
    get global codes in the reading order later (`_pipelined`): a block only numbers its
    own, so blocks are made on any thread in any order."""
    seg = pc.dictionary_encode(batch.column(0))
    names = [str(v) for v in seg.dictionary.to_pylist()]
    # The narrowest codes: numpy sorts 8- and 16-bit integers by radix, O(n) and ~7x
    # faster than int32's merge sort (0.28 s of 10M rows' read, issue 27).
    g = seg.indices.to_numpy(zero_copy_only=False).astype(_code_dtype(len(names)))
    # Every code of the dictionary occurs: the sorted rows' slices from the counts.
    stops = np.cumsum(np.bincount(g, minlength=len(names)))
    bounds = [(c, int(stops[c - 1]) if c else 0, int(stops[c])) for c in range(len(names))]
    order = None if len(names) == 1 else np.argsort(g, kind="stable")
    y = batch.column(1).to_numpy(zero_copy_only=False).astype(np.float64, copy=False)
    w = batch.column(2).to_numpy(zero_copy_only=False).astype(np.float64, copy=False)
    r = np.empty((batch.num_columns - 3, batch.num_rows), dtype=np.int8)
    for t in range(r.shape[0]):
        col = pc.fill_null(batch.column(3 + t), pa.scalar(MISSING, pa.int8()))
        col_np = col.to_numpy(zero_copy_only=False)
        if order is None:
            r[t] = col_np
        else:  # sorted as it is copied: one pass over the ratings
            np.take(col_np, order, out=r[t])
    if _outside(r, cuts).any():
        i = int(np.flatnonzero(_outside(r, cuts))[0])
        vals = r[i][(r[i] != MISSING) & ((r[i] < cuts.lo[i]) | (r[i] > cuts.hi[i]))]
        lo, hi = cuts.of(i)[:2]
        raise CmotError(
            f"Ratings from {vals.min()} to {vals.max()} fall outside the scale "
            f"{lo}-{hi} (touchpoint {batch.schema.names[3 + i]!r}); fix the scale in the "
            "journey spec or declare the out-of-scale codes as missing."
        )
    unweighted = bool((w == 1.0).all())  # then every weight is finite and not negative
    if not unweighted and ((w < 0).any() or not np.isfinite(w).all()):
        raise CmotError("Survey weights must be finite and not negative; fix the weights.")
    if not np.isfinite(y).all():
        raise CmotError("The outcome has non-numeric values; check the outcome column.")
    if order is not None:
        y = y[order]
        w = w if unweighted else w[order]
    return Block(names, bounds, r, _narrowest(y), None if unweighted else w)


def _narrowest(y: np.ndarray) -> np.ndarray:
    """The outcome in int8 or float32 when either holds every value exactly, else as it is:
    the first pass holds its blocks for the second, and a binary outcome held in float64
    was a third of them (8 bytes a respondent beside 14 of ratings: 70 MB of 10M
    respondents' peak, issue 27, with numba's runtime to make room for)."""
    if y.size and y.min() >= -128 and y.max() <= 127:
        small = y.astype(np.int8)
        if np.array_equal(small, y):
            return small
    y32 = y.astype(np.float32)
    return y32 if np.array_equal(y32, y) else y


def _outside(r: np.ndarray, cuts: Cuts) -> np.ndarray:
    """Per touchpoint, whether a rating falls outside its scale, from byte minima and maxima
    (no boolean (T, m) masks: they cost 0.36 s of 10M rows' read). The missing sentinel is
    the smallest int8, so the maximum ignores it; adding 127 to the bytes maps ratings
    -127..127 to 0..254 in order and the sentinel to 255, so the minimum ignores it too."""
    shifted = r.view(np.uint8) + np.uint8(127)
    lowest = shifted.min(axis=1, initial=255).astype(np.int64) - 127  # all missing: 128
    return (lowest < cuts.lo[:, 0]) | (r.max(axis=1, initial=MISSING) > cuts.hi[:, 0])


def _code_dtype(n: int) -> type[np.signedinteger[Any]]:
    """The narrowest signed integer holding segment codes 0..n-1."""
    return np.int8 if n <= 127 else np.int16 if n <= 32767 else np.int32


def _block_dtype(y: np.ndarray, w: np.ndarray | None, top: int) -> type[np.floating[Any]]:
    """float32 when every sum of products is an exact integer below 2**24, else float64."""
    if w is not None or len(y) > BLOCK_ROWS:
        return np.float64
    big = max(float(np.abs(y).max(initial=0.0)), float(top), 1.0)
    # The largest products summed are cubes (score² x score, y² x score).
    if big**3 * len(y) >= _EXACT32 or not np.array_equal(y, np.round(y)):
        return np.float64
    return np.float32


def _accumulate(acc: Accum, r: np.ndarray, y: np.ndarray, w: np.ndarray | None, cuts: Cuts) -> None:
    t = r.shape[0]
    top = max(int(np.abs(cuts.lo).max(initial=0)), int(np.abs(cuts.hi).max(initial=0)))
    dtype = _block_dtype(y, w, top)
    z = design_matrix(r, y, cuts.low, cuts.high, dtype)
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


# Segment slices are independent sums: a thread per core works them (numpy and BLAS
# release the GIL); slices are cut to TASK_ROWS so one big segment still splits.
TASK_ROWS = 1 << 15
_POOL = ThreadPoolExecutor(max_workers=max(1, min(os.cpu_count() or 1, 8)))


Task = tuple[int, int, int]  # a segment slice of a block: (local code, start, stop)
R = TypeVar("R")
Made = tuple[Block, list[tuple[Task, "Future[R]"]]]
PIPELINE_BLOCKS = 2  # blocks in work while the next is read


def _tasks(block: Block) -> list[Task]:
    return [
        (code, start, min(start + TASK_ROWS, b))
        for code, a, b in block.bounds
        for start in range(a, b, TASK_ROWS)
    ]


def _submit(block: Block, work: Callable[[Block, Task], R]) -> Made[R]:
    return block, [(task, _POOL.submit(work, block, task)) for task in _tasks(block)]


def _make(batch: pa.RecordBatch, cuts: Cuts, work: Callable[[Block, Task], R]) -> Made[R]:
    """A batch made a block on the pool, its slices' tasks queued from there."""
    return _submit(to_block(batch, cuts), work)


def _pipelined(
    items: Iterable[Block | pa.RecordBatch],
    work: Callable[[Block, Task], R],
    cuts: Cuts,
    codes: dict[str, int],
) -> Iterator[tuple[Block, list[tuple[int, R]]]]:
    """Each block with its tasks' results by global segment code, in the order the code
    and the rows come (the sums add up as before, byte for byte). Codes grow as segments
    are seen, block after block in the reading order, each block's in its dictionary's
    order, so they do not depend on which thread made which block. A batch is made a
    block by a pool task that then queues its slices' tasks; the reading thread only
    fetches, PIPELINE_BLOCKS blocks ahead of the sums (the reading thread's encoding and
    sorting were the 10M rows' critical path)."""
    pending: deque[Future[Made[R]]] = deque()

    def done(made: Future[Made[R]]) -> tuple[Block, list[tuple[int, R]]]:
        block, futures = made.result()
        glob = [codes.setdefault(name, len(codes)) for name in block.names]
        ordered = sorted(futures, key=lambda tf: (glob[tf[0][0]], tf[0][1]))
        return block, [(glob[task[0]], f.result()) for task, f in ordered]

    for item in items:
        made: Future[Made[R]]
        if isinstance(item, Block):
            made = Future()
            made.set_result(_submit(item, work))
        else:
            made = _POOL.submit(_make, item, cuts, work)
        pending.append(made)
        if len(pending) > PIPELINE_BLOCKS:
            yield done(pending.popleft())
    while pending:
        yield done(pending.popleft())


@dataclass
class FirstPass:
    """The first pass's sums by segment code, the blocks held for the second pass (None
    when they did not fit in memory: it reads the data again) and whether any weight
    differs from 1."""

    accs: dict[int, Accum]
    kept: list[Block] | None
    weighted: bool


def first_pass(
    con: duckdb.DuckDBPyConnection,
    sql: str,
    params: Sequence[object],
    cuts: Cuts,
    codes: dict[str, int],
) -> FirstPass:
    """Each segment's weighted gram, pair sums and levels over the rows of `sql` (codes
    grow as segments are seen), holding the blocks for the second pass while they fit."""
    t, points = cuts.lo.shape[0], cuts.points
    accs: dict[int, Accum] = {}
    kept_blocks: list[Block] | None = []
    held = 0
    weighted = False
    plan = pass1_plan(cuts)
    hists: dict[int, Hists] = {}

    def pass1(block: Block, task: Task) -> Accum | Hists:
        _, a, b = task
        w = None if block.w is None else block.w[a:b]
        y = block.y(a, b)
        if plan is not None and w is None and whole_outcome(y):
            # The groups' histograms: the same integers as the products, cheaper
            # (cmot.engine.histograms); added up and turned into sums at the end.
            return pass1_hists(plan, block.r[:, a:b], y)
        part = new_accum(t, points)
        _accumulate(part, block.r[:, a:b], y, w, cuts)
        return part

    for block, parts in _pipelined(read_batches(con, sql, params), pass1, cuts, codes):
        weighted = weighted or block.w is not None
        for code, part in parts:
            if code not in accs:  # not setdefault: it would make zero sums for every part
                accs[code] = new_accum(t, points)
            if isinstance(part, Accum):
                add_accum(accs[code], part)
            elif code in hists:
                hists[code].add(part)
            else:
                hists[code] = part
        if kept_blocks is not None:
            held += block.r.nbytes + block.y_held.nbytes
            held += 0 if block.w is None else block.w.nbytes
            if held <= _KEEP_BLOCKS_BYTES:
                kept_blocks.append(block)
            else:
                kept_blocks = None  # too big to hold: pass 2 reads the data again
    for code, h in hists.items():
        assert plan is not None  # histograms only come from a plan
        n, gram, pair, levels = pass1_sums(plan, h)
        add_accum(accs[code], Accum(n, gram, pair, levels))
    return FirstPass(accs, kept_blocks, weighted)


def hc3_meat(x: np.ndarray, y: np.ndarray, w: np.ndarray | None, fit: Fit) -> np.ndarray:
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


def hc3_pass(
    blocks: Iterable[Block | pa.RecordBatch],
    cuts: Cuts,
    codes: dict[str, int],
    fits: Mapping[int, Fit],
    fit_all: Fit,
    respondents: int,
) -> tuple[dict[int, np.ndarray], np.ndarray]:
    """HC3 needs every respondent's leverage and residual under the fitted models: the meat
    of each segment code's own fit (`fits`, by the first pass's `codes`; none given: only
    the whole survey's) and of the whole survey's fit, over `respondents` rows in all (by
    lookups from HC3_LOOKUP_MIN_ROWS, `_lookup_task`)."""
    if respondents >= HC3_LOOKUP_MIN_ROWS:
        return _lookup_pass(blocks, cuts, codes, fits, fit_all)
    k = 3 * cuts.lo.shape[0] + 1
    meats = {code: np.zeros((k, k)) for code in codes.values()}
    meat_all = np.zeros((k, k))

    def pass2(block: Block, task: Task) -> tuple[np.ndarray | None, np.ndarray]:
        code, a, b = task
        w = None if block.w is None else block.w[a:b]
        y = block.y(a, b)
        x = design_matrix(block.r[:, a:b], y, cuts.low, cuts.high, np.float64, full=False)
        fit = fits.get(codes.get(block.names[code], -1))  # none for a no-answer value
        seg_meat = hc3_meat(x, y, w, fit) if fit is not None else None
        return seg_meat, hc3_meat(x, y, w, fit_all)

    for _, parts in _pipelined(blocks, pass2, cuts, codes):
        for code, (seg_meat, all_meat) in parts:
            if seg_meat is not None:
                meats[code] += seg_meat
            meat_all += all_meat
    return meats, meat_all


def _lookup_pass(
    blocks: Iterable[Block | pa.RecordBatch],
    cuts: Cuts,
    codes: dict[str, int],
    fits: Mapping[int, Fit],
    fit_all: Fit,
) -> tuple[dict[int, np.ndarray], np.ndarray]:
    """hc3_pass by lookups in each fit's tables (cmot.engine.histograms): the same sums in
    float64, ~3x cheaper than the products (which ran in float32 here before issue 27); the
    slices' weighted histograms are added up and made meats at the end."""
    plan = hc3_plan(cuts)
    table_all = hc3_tables(plan, fit_all)
    # Each segment's fit and the whole survey's, looked up together slice after slice.
    both = {code: stacked([hc3_tables(plan, fit), table_all]) for code, fit in fits.items()}

    def pass2(block: Block, task: Task) -> tuple[Hists | None, Hists]:
        code, a, b = task
        w = None if block.w is None else block.w[a:b]
        own = both.get(codes.get(block.names[code], -1))  # none for a no-answer value
        got = hc3_lookup_hists(
            plan, block.r[:, a:b], block.y(a, b), w, [table_all if own is None else own]
        )
        return (None if own is None else got[0]), got[-1]

    seg: dict[int, Hists] = {}
    total: Hists | None = None
    for _, parts in _pipelined(blocks, pass2, cuts, codes):
        for code, (own_h, all_h) in parts:
            if own_h is not None and code in seg:
                seg[code].add(own_h)
            elif own_h is not None:
                seg[code] = own_h
            if total is None:
                total = all_h
            else:
                total.add(all_h)
    k = 3 * cuts.lo.shape[0] + 1
    meats = {c: hc3_meat_of(plan, seg[c]) if c in seg else np.zeros((k, k)) for c in codes.values()}
    return meats, (np.zeros((k, k)) if total is None else hc3_meat_of(plan, total))
