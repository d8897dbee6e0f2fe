"""The compiled loops (cmot.engine.kernels) against the numpy calls they replaced: every
count and every float equal to the bit, on ratings with missing values, weights, and
respondents alone in their cell; and compiled to run without the interpreter lock."""

from __future__ import annotations

import numba
import numba.core.caching
import numpy as np
import pytest

from cmot.engine import kernels
from cmot.engine.design import MISSING, Cuts
from cmot.engine.histograms import class_states, group_codes, rating_states

CUTS = Cuts(
    np.array([[1], [0], [1], [1], [1], [1], [1]]),
    np.array([[5], [10], [7], [3], [5], [5], [5]]),
    np.array([[2], [6], [3], [1], [2], [2], [2]]),
    np.array([[5], [9], [6], [3], [4], [4], [4]]),
)


def _ratings(m: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    r = rng.integers(CUTS.lo, CUTS.hi + 1, (CUTS.lo.shape[0], m)).astype(np.int8)
    r[rng.random(r.shape) < 0.1] = MISSING
    # A column slice of a wider block, as the passes hand their segment slices over.
    return np.ascontiguousarray(np.concatenate([r, r], axis=1))[:, 3 : 3 + m]


def _numpy_codes(states: np.ndarray, r: np.ndarray) -> np.ndarray:
    """Each group's joint state the way numpy did it: per member, take and add."""
    gc = group_codes(states)
    out = np.zeros((len(gc.groups.cells), r.shape[1]), dtype=np.uint8)
    for i, g in enumerate(gc.group_of):
        out[g] += gc.table[i].take(r.view(np.uint8)[i])
    return out


def _index(gc, codes: np.ndarray, p: int) -> np.ndarray:  # type: ignore[no-untyped-def]
    return codes[gc.pair_a[p]].astype(np.intp) * gc.cells_b[p] + codes[gc.pair_b[p]]


@pytest.mark.parametrize("states", [rating_states(CUTS), class_states(CUTS)])
def test_group_codes_equal_numpy(states: np.ndarray) -> None:
    r = _ratings(5_000, 1)
    gc = group_codes(states)
    assert np.array_equal(gc.codes(r), _numpy_codes(states, r))


def test_pair_counts_equal_bincount() -> None:
    r = _ratings(7_000, 2)
    gc = group_codes(rating_states(CUTS))
    codes = gc.codes(r)
    sizes = [int(gc.groups.cells[a] * c) for a, c in zip(gc.pair_a, gc.cells_b, strict=True)]
    out = np.zeros((len(sizes), max(sizes)), dtype=np.int64)
    kernels.pair_counts(codes, gc.pair_a, gc.pair_b, gc.cells_b, out)
    for p, size in enumerate(sizes):
        want = np.bincount(_index(gc, codes, p), minlength=size)
        assert np.array_equal(out[p, :size], want)
        assert not out[p, size:].any()


def test_state_outcome_counts_equal_bincount() -> None:
    r = _ratings(7_000, 6)
    gc = group_codes(rating_states(CUTS))
    codes = gc.codes(r)
    bins = 3
    by_y = np.random.default_rng(3).integers(0, bins, r.shape[1]).astype(np.intp)
    width = int(max(gc.groups.cells)) * bins
    out = np.zeros((codes.shape[0], width), dtype=np.int64)
    kernels.state_outcome_counts(codes, by_y, bins, out)
    for g in range(codes.shape[0]):
        want = np.bincount(codes[g].astype(np.intp) * bins + by_y, minlength=width)
        assert np.array_equal(out[g], want)


@pytest.mark.parametrize("weighted", [False, True])
def test_hc3_weights_equal_the_numpy_lookups(weighted: bool) -> None:
    rng = np.random.default_rng(4)
    r = _ratings(6_000, 5)
    m = r.shape[1]
    gc = group_codes(class_states(CUTS))
    codes = gc.codes(r)
    pairs, width = len(gc.pair_a), int(max(gc.groups.cells)) ** 2
    leverage = rng.uniform(-0.01, 0.05, (2, pairs, width))
    # Respondents alone in their cell: a leverage of 1 in some cells of the first pair.
    leverage[0, 0, _index(gc, codes[:, :5], 0)] = 1.0
    fitted = rng.normal(0, 0.3, (2, pairs, width))
    has = rng.random((2, pairs)) < 0.5
    y = rng.integers(0, 2, m).astype(np.float64)
    w = rng.uniform(0.2, 3.0, m) if weighted else y
    q = np.empty((2, m))
    out = np.zeros((2, pairs, width))
    pairs_of = (gc.pair_a, gc.pair_b, gc.cells_b)
    kernels.hc3_weights(codes, y, w, weighted, *pairs_of, leverage, fitted, has, q, out)
    # The numpy form, operation for operation: lookups by take, q, then weighted bincounts.
    e, h = [y.copy(), y.copy()], [np.zeros(m), np.zeros(m)]
    for p in range(pairs):
        idx = _index(gc, codes, p)
        for f in range(2):
            h[f] += leverage[f, p].take(idx)
            if has[f, p]:
                e[f] -= fitted[f, p].take(idx)
    for f in range(2):
        if weighted:
            h[f] *= w
            e[f] *= w
        h[f] = 1.0 - h[f]
        with np.errstate(divide="ignore", invalid="ignore"):
            e[f] = e[f] / h[f]
        e[f][h[f] <= 1e-6] = 0.0
        e[f] *= e[f]
        assert np.array_equal(q[f], e[f])
        for p in range(pairs):
            want = np.bincount(_index(gc, codes, p), e[f], width)
            assert np.array_equal(out[f, p], want)
    assert (q[0][:5] == 0).any(), "the planted leverage of 1 left some rows out"


def test_kernels_run_without_the_interpreter_lock() -> None:
    """Why they exist: numpy's bincount holds the lock, so the pool's threads took turns."""
    for kernel in (
        kernels.group_codes,
        kernels.pair_counts,
        kernels.state_outcome_counts,
        kernels.hc3_weights,
    ):
        assert kernel.targetoptions["nogil"] is True, kernel


def test_an_install_with_nowhere_to_cache_compiles_per_process(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """numba refuses `cache=True` as it decorates when no cache directory is writable (a
    read-only install whose user has no writable home): the kernels then compile in each
    process instead of cmot failing to import. numba's locators are emptied through its
    CacheImpl's class attribute, the list it tries in turn (renamed: this test fails loudly)."""
    monkeypatch.setattr(numba.core.caching.CacheImpl, "_locator_classes", [])

    def double(x: np.ndarray) -> np.ndarray:
        return x * 2

    with pytest.raises(RuntimeError, match="no locator"):
        numba.njit(cache=True)(double)
    compiled = kernels._compiled(double)
    assert np.array_equal(compiled(np.arange(3)), [0, 2, 4])
    assert compiled.targetoptions["nogil"] is True
