"""The histogram passes' inner loops, compiled (numba) so that they run without the
interpreter lock.

Why compiled: numpy's `bincount` holds the interpreter lock while it counts, and the passes
of cmot.engine.histograms are mostly bincounts and lookups. On the pool of cmot.engine.blocks
the two threads then took turns: the HC3 pass of 10M respondents took 1.34 s on one thread
and 1.42 s on two (measured 2026-12-07, issue 27). These loops hold no lock (`nogil`), so
the pool's threads run side by side, and fused they make no temporaries (~2.3x less CPU a
slice than the numpy calls they replace).

Each loop does what its numpy form did, in the same order (rows in order within a bin,
pairs in order within a row's sums), so the sums are the same numbers, bit for bit: the
counts are integers, and every float is added in the numpy form's order. The compiled code
is cached beside this file, or in the user's cache directory or $NUMBA_CACHE_DIR
(`_compiled`); the first call in a fresh install compiles it (under a second for the first
pass's loops, ~3 s with the HC3 pass's, measured in bench/engine.md).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, cast

import numba
import numpy as np

F = TypeVar("F", bound=Callable[..., Any])

# Every kernel: no interpreter lock, no fast-math (IEEE order kept: equal sums), and numpy's
# division (x / 0 is inf or nan, as in the numpy form, not an exception).
_OPTIONS: dict[str, Any] = {"nogil": True, "error_model": "numpy"}


def _compiled(fn: F) -> F:
    """`fn` compiled, cached on disk where numba finds a writable place (beside this file,
    the user's cache directory or $NUMBA_CACHE_DIR); where it finds none (a read-only
    install whose user has no writable home) numba refuses `cache=True` as it decorates, and
    each process compiles its own instead of the module failing to import."""
    try:
        return cast(F, numba.njit(cache=True, **_OPTIONS)(fn))
    except RuntimeError:  # "cannot cache function ...: no locator available"
        return cast(F, numba.njit(**_OPTIONS)(fn))


@numba.njit(inline="always")
def _cell(codes: np.ndarray, a: int, b: int, cells_b: int, i: int) -> int:
    """Respondent i's joint state in the pair of groups a and b: a's state x b's cells +
    b's state (inlined where it is called)."""
    return np.intp(codes[a, i]) * cells_b + codes[b, i]


@_compiled
def group_codes(
    raw: np.ndarray, code_tab: np.ndarray, group_of: np.ndarray, groups: int
) -> np.ndarray:
    """(T, m) rating bytes -> (groups, m) uint8: every group's joint state, the sum of its
    members' states times their radix (`code_tab`, (T, 256); GROUP_CELLS <= 256)."""
    t_count, m = raw.shape
    codes = np.zeros((groups, m), dtype=np.uint8)
    for t in range(t_count):
        g = group_of[t]
        tab = code_tab[t]
        for i in range(m):
            codes[g, i] += tab[raw[t, i]]
    return codes


@_compiled
def pair_counts(
    codes: np.ndarray, pair_a: np.ndarray, pair_b: np.ndarray, cells_b: np.ndarray, out: np.ndarray
) -> None:
    """Each pair's joint-state counts into out[p] (zeroed, int64): pair p's state is a's
    state x b's cells + b's state. np.bincount's counts, added in place."""
    m = codes.shape[1]
    for p in range(pair_a.shape[0]):
        a, b, cb = pair_a[p], pair_b[p], cells_b[p]
        o = out[p]
        for i in range(m):
            o[_cell(codes, a, b, cb, i)] += 1


@_compiled
def state_outcome_counts(codes: np.ndarray, by_y: np.ndarray, bins: int, out: np.ndarray) -> None:
    """Each group's (state, outcome value) counts into out[g] (zeroed, int64), at state x
    bins + by_y: the outcome's sums by group state, read off them."""
    groups, m = codes.shape
    for g in range(groups):
        o = out[g]
        for i in range(m):
            o[np.intp(codes[g, i]) * bins + by_y[i]] += 1


@_compiled
def hc3_weights(
    codes: np.ndarray,
    y: np.ndarray,
    w: np.ndarray,
    weighted: bool,
    pair_a: np.ndarray,
    pair_b: np.ndarray,
    cells_b: np.ndarray,
    leverage: np.ndarray,
    fitted: np.ndarray,
    has_fitted: np.ndarray,
    q: np.ndarray,
    out: np.ndarray,
) -> None:
    """Under each fit f: every respondent's HC3 weight q[f] = (w e / (1 - w h))² (0 where
    1 - w h <= 1e-6: a leverage of 1 leaves the row out, as hc3_meat does), the leverage h
    and the fitted value summed pair by pair from `leverage[f, p]` and, where `has_fitted[f,
    p]`, `fitted[f, p]`; then each pair's histogram of q into out[f, p] (zeroed)."""
    fits, pairs = leverage.shape[0], pair_a.shape[0]
    m = codes.shape[1]
    h = np.zeros((fits, m))
    for f in range(fits):
        q[f, :] = y
    for p in range(pairs):  # q holds the residual e until the weights below
        a, b, cb = pair_a[p], pair_b[p], cells_b[p]
        for f in range(fits):
            lev, hf = leverage[f, p], h[f]
            if has_fitted[f, p]:
                fit, e = fitted[f, p], q[f]
                for i in range(m):
                    k = _cell(codes, a, b, cb, i)
                    hf[i] += lev[k]
                    e[i] -= fit[k]
            else:
                for i in range(m):
                    hf[i] += lev[_cell(codes, a, b, cb, i)]
    for f in range(fits):
        for i in range(m):
            hi, ei = h[f, i], q[f, i]
            if weighted:
                hi *= w[i]
                ei *= w[i]
            hi = 1.0 - hi
            ei = ei / hi
            if hi <= 1e-6:
                ei = 0.0
            q[f, i] = ei * ei
    for p in range(pairs):
        a, b, cb = pair_a[p], pair_b[p], cells_b[p]
        for f in range(fits):
            o, qf = out[f, p], q[f]
            for i in range(m):
                o[_cell(codes, a, b, cb, i)] += qf[i]
