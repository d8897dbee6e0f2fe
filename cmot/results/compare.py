"""How segments differ: penalty and reward differences with z-tests, FDR, and flips."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from cmot.errors import CmotError
from cmot.results.moments import ALL, MomentsResult
from cmot.results.ztest import z_test

COMPARE_COLUMNS = [
    "segment_a",
    "segment_b",
    "touchpoint",
    "column",
    "measure",  # "penalty" or "reward"
    "value_a",
    "value_b",
    "difference",  # value_a - value_b
    "se",
    "z",
    "p",
    "q",  # Benjamini-Hochberg adjusted over the pair's touchpoints and both measures
    "significant",  # q < alpha
    "class_a",
    "class_b",
]
FLIP_COLUMNS = [
    "touchpoint",
    "column",
    "vulnerable_in",
    "opportunity_in",
    "penalty",
    "penalty_se",
    "reward",
    "reward_se",
    "sentence",
]


def adjust_bh(p: np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values (q-values); NaN stays NaN and is not counted."""
    p = np.asarray(p, dtype=float)
    q = np.full_like(p, np.nan)
    ok = np.flatnonzero(np.isfinite(p))
    m = len(ok)
    if m == 0:
        return q
    order = ok[np.argsort(p[ok])]
    ranked = p[order] * m / np.arange(1, m + 1)
    q[order] = np.minimum(1.0, np.minimum.accumulate(ranked[::-1])[::-1])
    return q


# The columns of a result's moments a pair's test reads (the frame has ~50).
_PAIR_COLUMNS = [
    "segment",
    "touchpoint",
    "column",
    "class",
    "insufficient",
    "penalty",
    "penalty_se",
    "reward",
    "reward_se",
]


@dataclass(frozen=True)
class PairTests:
    """compare_segments' rows as arrays: `sides` the two segments' touchpoints (rows in
    the moments' order), `tests` per measure (value_a, value_b, difference, se, z, p), and
    the q-values over both measures (penalty rows, then reward rows)."""

    a: str
    b: str
    side_a: pd.DataFrame
    side_b: pd.DataFrame
    tests: dict[str, tuple[np.ndarray, ...]]
    q: np.ndarray


def pair_tests(result: MomentsResult, a: str, b: str) -> PairTests:
    """The tests of compare_segments without its frame (see there)."""
    m = result.moments
    known = list(m.segment.unique())
    for s in (a, b):
        if s not in known:
            raise CmotError(f"No segment named {s!r}; segments: {known}.")
    if a == b:
        raise CmotError("Pick two different segments to compare.")
    m = m[_PAIR_COLUMNS]
    ta = m[m.segment == a].reset_index(drop=True)
    tb = m[m.segment == b].reset_index(drop=True)
    untestable = (ta.insufficient | tb.insufficient).to_numpy()
    tests: dict[str, tuple[np.ndarray, ...]] = {}
    for measure in ("penalty", "reward"):
        va, vb = ta[measure].to_numpy(float), tb[measure].to_numpy(float)
        cov = pair_cov(result, [a], [b], measure)
        se = difference_se(
            ta[f"{measure}_se"].to_numpy(float),
            tb[f"{measure}_se"].to_numpy(float),
            None if cov is None else cov[0],
        )
        diff = va - vb
        z, p = z_test(diff, se)
        p[untestable] = np.nan
        tests[measure] = (va, vb, diff, se, z, p)
    q = adjust_bh(np.concatenate([tests["penalty"][5], tests["reward"][5]]))
    return PairTests(a, b, ta, tb, tests, q)


def compare_segments(result: MomentsResult, a: str, b: str) -> pd.DataFrame:
    """Penalty and reward of every touchpoint, segment a against b (COMPARE_COLUMNS).

    The test is on the clipped values (P = max(0, -p), R = max(0, r)):
    z = (P_a - P_b) / difference_se, the two segments' errors as independent samples when
    estimated alone (sqrt(se_a² + se_b²)), less twice their covariance when both are pooled
    across segments (cmot.results.pooling.PairCovariance); a touchpoint with no penalty in either
    segment shows no difference. Touchpoints insufficient in either segment are left
    untested (p NaN).
    """
    t = pair_tests(result, a, b)
    ta, tb = t.side_a, t.side_b
    frames = []
    for measure in ("penalty", "reward"):
        va, vb, diff, se, z, p = t.tests[measure]
        frames.append(
            pd.DataFrame(
                {
                    "segment_a": a,
                    "segment_b": b,
                    "touchpoint": ta.touchpoint,
                    "column": ta.column,
                    "measure": measure,
                    "value_a": va,
                    "value_b": vb,
                    "difference": diff,
                    "se": se,
                    "z": z,
                    "p": p,
                    "class_a": ta["class"],
                    "class_b": tb["class"],
                }
            )
        )
    out = pd.concat(frames, ignore_index=True)
    out["q"] = t.q
    out["significant"] = out.q < result.settings.alpha
    return out[COMPARE_COLUMNS]


def compare_all(result: MomentsResult) -> pd.DataFrame:
    """compare_segments for every pair of segments (not "All"); FDR within each pair.

    The same rows as concatenating compare_segments over the pairs, computed for all pairs
    at once: a 76-value segment column has 2,850 pairs (48 s one pair at a time).
    """
    m = result.moments
    segs = [s for s in m.segment.unique() if s != ALL]
    if len(segs) < 2:
        return pd.DataFrame(columns=COMPARE_COLUMNS)
    order = {s: k for k, s in enumerate(segs)}
    sub = m[m.segment != ALL]
    sub = sub.iloc[np.argsort(sub.segment.map(order).to_numpy(), kind="stable")]
    n_seg, t = len(segs), len(sub) // len(segs)

    def grid(col: str, dtype: type | None = float) -> np.ndarray:
        return sub[col].to_numpy(dtype).reshape(n_seg, t)

    pairs = np.array(list(itertools.combinations(range(n_seg), 2)), dtype=np.int64)
    ia, ib = pairs[:, 0], pairs[:, 1]
    ins = grid("insufficient", bool)
    untestable = ins[ia] | ins[ib]
    names = np.array(segs, dtype=object)
    blocks = {}
    for measure in ("penalty", "reward"):
        v, e = grid(measure), grid(f"{measure}_se")
        va, vb = v[ia], v[ib]
        se = difference_se(e[ia], e[ib], pair_cov(result, names[ia], names[ib], measure))
        diff = va - vb
        z, p = z_test(diff, se)
        p[untestable] = np.nan
        blocks[measure] = (va, vb, diff, se, z, p)
    # One row per pair: [penalty of every touchpoint, reward of every touchpoint].
    stack = [np.concatenate([blocks["penalty"][i], blocks["reward"][i]], axis=1) for i in range(6)]
    q = _adjust_bh_rows(stack[5])
    tp = sub.touchpoint.to_numpy(object)[:t]
    col = sub.column.to_numpy(object)[:t]
    cls = grid("class", None).astype(object)
    n_pairs = len(ia)
    out = pd.DataFrame(
        {
            "segment_a": np.repeat(names[ia], 2 * t),
            "segment_b": np.repeat(names[ib], 2 * t),
            "touchpoint": np.tile(np.concatenate([tp, tp]), n_pairs),
            "column": np.tile(np.concatenate([col, col]), n_pairs),
            "measure": np.tile(
                np.repeat(np.array(["penalty", "reward"], dtype=object), t), n_pairs
            ),
            "value_a": stack[0].ravel(),
            "value_b": stack[1].ravel(),
            "difference": stack[2].ravel(),
            "se": stack[3].ravel(),
            "z": stack[4].ravel(),
            "p": stack[5].ravel(),
            "q": q.ravel(),
            "class_a": np.concatenate([cls[ia], cls[ia]], axis=1).ravel(),
            "class_b": np.concatenate([cls[ib], cls[ib]], axis=1).ravel(),
        }
    )
    out["significant"] = out.q < result.settings.alpha
    return out[COMPARE_COLUMNS]


def difference_se(se_a: np.ndarray, se_b: np.ndarray, cov: np.ndarray | None) -> np.ndarray:
    """The standard error of a - b: sqrt(se_a² + se_b² - 2 Cov(a, b)). Segments estimated
    alone are independent samples (cov None: the hypotenuse); two pooled segments' estimates
    share the journey mean they shrink toward (cmot.results.pooling.PairCovariance)."""
    if cov is None:
        return np.asarray(np.hypot(se_a, se_b), dtype=float)
    var = se_a**2 + se_b**2 - 2.0 * np.where(np.isfinite(cov), cov, 0.0)
    return np.asarray(np.sqrt(np.maximum(var, 0.0)), dtype=float)


def pair_cov(
    result: MomentsResult,
    a: Sequence[str] | np.ndarray,
    b: Sequence[str] | np.ndarray,
    measure: str,
) -> np.ndarray | None:
    """Cov(a, b) of each pair's penalties (low coefficients) or rewards (high ones),
    (pairs, touchpoints): 0 where either segment is not pooled; None when none is."""
    pairs = result.pairs
    if pairs is None:
        return None
    grid = pairs.low if measure == "penalty" else pairs.high
    out = np.zeros((len(a), grid.shape[2]))
    for row, (sa, sb) in enumerate(zip(a, b, strict=True)):
        ga, gb = pairs.index(sa), pairs.index(sb)
        if ga is not None and gb is not None:
            out[row] = grid[ga, gb]
    return out


def _adjust_bh_rows(p: np.ndarray) -> np.ndarray:
    """adjust_bh applied to each row of `p` on its own (NaN stays NaN and is not counted)."""
    order = np.argsort(np.where(np.isnan(p), np.inf, p), axis=1, kind="stable")
    ps = np.take_along_axis(p, order, axis=1)
    finite = np.isfinite(ps)
    m = finite.sum(axis=1, keepdims=True)
    rank = np.arange(1, p.shape[1] + 1)[None, :]
    ranked = np.where(finite, ps * m / rank, np.inf)
    qs = np.minimum(1.0, np.minimum.accumulate(ranked[:, ::-1], axis=1)[:, ::-1])
    qs[~finite] = np.nan
    q = np.empty_like(qs)
    np.put_along_axis(q, order, qs, axis=1)
    return q


def find_flips(result: MomentsResult) -> pd.DataFrame:
    """Touchpoints that are a vulnerability in one segment and an opportunity in another.

    Both classes must be moments of truth (significant RIS) and the defining side
    significant: the penalty where it is a vulnerability, the reward where it is an
    opportunity (FLIP_COLUMNS, one row per ordered pair of segments).
    """
    alpha = result.settings.alpha
    # Over the columns as lists: ~100 rows, where a pandas filter per vulnerability cost
    # ~13 ms of a view's serial part.
    names = ["touchpoint", "column", "segment", "class", "penalty", "penalty_se", "penalty_p"]
    names += ["reward", "reward_se", "reward_p"]
    m = dict(zip(names, (result.moments[c].tolist() for c in names), strict=True))
    kept = [i for i, s in enumerate(m["segment"]) if s != ALL]
    vul = [i for i in kept if m["class"][i] == "vulnerability" and m["penalty_p"][i] < alpha]
    opp: dict[str, list[int]] = {}
    for i in kept:
        if m["class"][i] == "opportunity" and m["reward_p"][i] < alpha:
            opp.setdefault(m["column"][i], []).append(i)
    rows = [
        [
            m["touchpoint"][v],
            m["column"][v],
            m["segment"][v],
            m["segment"][o],
            m["penalty"][v],
            m["penalty_se"][v],
            m["reward"][o],
            m["reward_se"][o],
            flip_sentence(
                m["touchpoint"][v],
                m["segment"][v],
                m["segment"][o],
                m["penalty"][v],
                m["reward"][o],
                result.unit,
            ),
        ]
        for v in vul
        for o in opp.get(m["column"][v], [])
    ]
    return pd.DataFrame(rows, columns=FLIP_COLUMNS)


def _amount(value: float, unit: str) -> str:
    if unit == "percentage points":
        return f"{100 * value:.0f} percentage points"
    return f"{value:.2f} points"


def flip_sentence(
    touchpoint: str,
    vulnerable_in: str,
    opportunity_in: str,
    penalty: float,
    reward: float,
    unit: str,
) -> str:
    """One plain sentence a strategy team can read out."""
    return (
        f"{touchpoint} is a vulnerability for {vulnerable_in} (a low rating costs "
        f"{_amount(penalty, unit)} of the outcome) but an opportunity for {opportunity_in} "
        f"(a top rating adds {_amount(reward, unit)})."
    )
