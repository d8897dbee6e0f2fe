"""Properties of the PRCA fit that must hold for any survey (hypothesis)."""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cmot.results import moments as M
from cmot.results.guardrails import WARNING_COLUMNS
from tests.unit.moments_fixtures import make_spec, register_frame

TOUCHPOINTS = ("t0", "t1", "t2")


@st.composite
def surveys(draw: st.DrawFn) -> pd.DataFrame:
    n = draw(st.integers(60, 200))
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"seg": rng.choice(["A", "B"], n)})
    for c in TOUCHPOINTS:
        r = rng.integers(1, 6, n).astype(float)
        r[rng.random(n) < 0.1] = np.nan
        frame[c] = pd.array(r, dtype="Int8")
    frame["__cmot_y"] = rng.integers(0, 11, n).astype(float)
    frame["__cmot_w"] = rng.uniform(0.5, 2.0, n) if draw(st.booleans()) else 1.0
    return frame


def fit(frame: pd.DataFrame) -> M.SufficientStats:
    con = duckdb.connect()
    register_frame(con, frame)
    return M.compute_stats(con, "survey", make_spec(TOUCHPOINTS, kind="scale"), "seg")


def coefficients(stats: M.SufficientStats) -> np.ndarray:
    return np.stack([s.beta for s in stats.segments])


def standard_errors(stats: M.SufficientStats) -> np.ndarray:
    res = M.classify_moments(stats)
    return np.stack([np.sqrt(np.diag(res.fits[s.segment].cov)) for s in stats.segments])


common = settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@common
@given(surveys(), st.integers(0, 2**31 - 1))
def test_row_order_does_not_matter(frame: pd.DataFrame, seed: int) -> None:
    shuffled = frame.sample(frac=1.0, random_state=seed % 2**32).reset_index(drop=True)
    a, b = fit(frame), fit(shuffled)
    np.testing.assert_allclose(coefficients(a), coefficients(b), rtol=1e-9, atol=1e-10)
    np.testing.assert_allclose(standard_errors(a), standard_errors(b), rtol=1e-6, atol=1e-10)


@common
@given(surveys(), st.floats(0.01, 100.0))
def test_scaling_the_outcome_scales_penalty_and_reward(frame: pd.DataFrame, c: float) -> None:
    scaled = frame.assign(__cmot_y=frame["__cmot_y"] * c)
    a = M.classify_moments(fit(frame)).moments
    b = M.classify_moments(fit(scaled)).moments
    for col in ("penalty", "reward", "penalty_se", "reward_se"):
        np.testing.assert_allclose(b[col], c * a[col], rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(b.ia, a.ia, rtol=1e-7, atol=1e-9)


@common
@given(surveys())
def test_duplicating_every_row_leaves_coefficients_unchanged(frame: pd.DataFrame) -> None:
    twice = pd.concat([frame, frame], ignore_index=True)
    a, b = fit(frame), fit(twice)
    np.testing.assert_allclose(coefficients(a), coefficients(b), rtol=1e-9, atol=1e-10)
    assert [s.n * 2 for s in a.segments] == [s.n for s in b.segments]


@st.composite
def awkward_surveys(draw: st.DrawFn) -> pd.DataFrame:
    """Small, lopsided surveys: tiny and one-respondent segments, one-valued or empty
    touchpoints, duplicated touchpoints, constant outcomes, tiny or huge weights."""
    n = draw(st.integers(1, 80))
    rng = np.random.default_rng(draw(st.integers(0, 2**31 - 1)))
    frame = pd.DataFrame({"seg": rng.choice([str(k) for k in range(draw(st.integers(1, 9)))], n)})
    for c in TOUCHPOINTS:
        shape = draw(st.sampled_from(["spread", "one value", "empty", "copy", "extremes"]))
        if shape == "spread":
            r = rng.integers(1, 6, n).astype(float)
        elif shape == "one value":
            r = np.full(n, float(rng.integers(1, 6)))
        elif shape == "empty":
            r = np.full(n, np.nan)
        elif shape == "copy" and c != "t0":
            r = frame["t0"].to_numpy(dtype=float, na_value=np.nan)
        else:
            r = rng.choice([1.0, 5.0], n)
        r[rng.random(n) < draw(st.sampled_from([0.0, 0.3, 0.9]))] = np.nan
        frame[c] = pd.array(r, dtype="Int8")
    kind = draw(st.sampled_from(["binary", "constant", "scale"]))
    y = {
        "binary": rng.integers(0, 2, n),
        "constant": np.ones(n),
        "scale": rng.integers(1, 6, n),
    }[kind]
    frame["__cmot_y"] = y.astype(float)
    scale = draw(st.sampled_from([1.0, 1e-6, 1e6]))
    frame["__cmot_w"] = scale * rng.uniform(0.01, 3.0, n) if draw(st.booleans()) else 1.0
    return frame


@pytest.mark.slow  # fuzzing: 60 drawn surveys on both engines
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(awkward_surveys(), st.sampled_from(["numpy", "sql"]))
def test_awkward_surveys_give_a_result_never_an_exception(frame: pd.DataFrame, engine) -> None:
    from cmot.results.compare import compare_all, find_flips

    con = duckdb.connect()
    register_frame(con, frame)
    res = M.find_moments(con, "survey", make_spec(TOUCHPOINTS, kind="scale"), "seg", engine=engine)
    m = res.moments
    assert len(m) == len(TOUCHPOINTS) * len(res.segments)
    assert (m[m.insufficient]["class"] == "insufficient").all()
    assert (m[m.insufficient].reason != "").all()
    compare_all(res)
    find_flips(res)
    assert list(res.warnings.columns) == WARNING_COLUMNS
