"""The blocks the first pass holds for the second: the outcome held narrow, read back exact."""

from __future__ import annotations

import duckdb
import numpy as np
import pytest

from cmot.engine import blocks
from cmot.results import moments as M
from tests.unit.moments_fixtures import make_spec, register_frame, synthetic_frame


@pytest.mark.parametrize(
    ("values", "held"),
    [
        ([0.0, 1.0, 1.0, 0.0], np.int8),  # a binary outcome
        ([-128.0, 0.0, 127.0], np.int8),
        ([-129.0, 3.0], np.float32),  # whole, past int8
        ([0.5, 200.25, -3.0], np.float32),  # float32 holds these exactly
        ([0.1, 2.0], np.float64),  # it does not hold 0.1
        ([1e30 + 1.0, 0.0], np.float64),  # nor this
        ([], np.float32),
    ],
)
def test_the_outcome_is_held_in_the_narrowest_exact_dtype(values: list[float], held: type) -> None:
    y = np.array(values, dtype=np.float64)
    narrow = blocks._narrowest(y)
    assert narrow.dtype == held
    back = narrow.astype(np.float64)
    assert back.dtype == np.float64 and np.array_equal(back, y)


@pytest.mark.parametrize("outcome", ["binary", "halves", "tenths", "wide"])
@pytest.mark.parametrize("lookups", [False, True])
def test_sums_and_fits_are_the_same_to_the_bit_held_narrow_or_not(
    monkeypatch: pytest.MonkeyPatch, outcome: str, lookups: bool
) -> None:
    frame = synthetic_frame(4000, seed=11, touchpoints=3)
    rng = np.random.default_rng(11)
    if outcome == "halves":
        frame["__cmot_y"] = frame["__cmot_y"] * 0.5 + rng.integers(0, 400, len(frame)) * 0.25
    elif outcome == "tenths":
        frame["__cmot_y"] = frame["__cmot_y"] + rng.integers(0, 50, len(frame)) * 0.1
    elif outcome == "wide":
        frame["__cmot_y"] = frame["__cmot_y"] * 7 + rng.integers(0, 30, len(frame))
    con = duckdb.connect()
    register_frame(con, frame)
    spec = make_spec(("t0", "t1", "t2"), kind="binary" if outcome == "binary" else "numeric")
    if lookups:  # the second pass by lookups, as from 250k respondents
        monkeypatch.setattr(blocks, "HC3_LOOKUP_MIN_ROWS", 0)
    held: list[np.dtype] = []
    real = blocks._narrowest
    monkeypatch.setattr(blocks, "_narrowest", lambda y: held.append(real(y).dtype) or real(y))
    M.clear_cache()
    narrow = M.compute_stats(con, "survey", spec, "seg")
    monkeypatch.setattr(blocks, "_narrowest", lambda y: y)
    M.clear_cache()
    wide = M.compute_stats(con, "survey", spec, "seg")
    expected = {"binary": np.int8, "halves": np.float32, "tenths": np.float64, "wide": np.int8}
    assert held and set(held) == {np.dtype(expected[outcome])}
    for a, b in zip(narrow.segments, wide.segments, strict=True):
        assert a.segment == b.segment and a.n == b.n
        for name in ("gram", "pair", "levels", "beta", "bread", "meat"):
            assert np.array_equal(getattr(a, name), getattr(b, name), equal_nan=True), name
