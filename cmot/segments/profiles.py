"""Profiles and names of segments: sizes and weighted profile tables, the attribute values
that most distinguish a segment, and readable unique names from them (or from drivers)."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

import numpy as np
import pandas as pd

from cmot.segments.features import as_text, is_numeric, is_skewed


def _level_text(column: str, level: str) -> str:
    # "Business travel" and "Loyal Customer" read alone; "Business" (Class) or "Yes" do not.
    words = set(re.findall(r"[a-z]+", column.lower()))
    if len(level.split()) > 1 or words & set(re.findall(r"[a-z]+", level.lower())):
        return level
    return f"{column}: {level}"


def _wmean(v: np.ndarray, w: np.ndarray) -> float:
    ok = np.isfinite(v)
    return float(np.sum(v[ok] * w[ok]) / np.sum(w[ok])) if ok.any() else math.nan


def distinctions(
    frame: pd.DataFrame, labels: np.ndarray, k: int, columns: Sequence[str]
) -> list[list[tuple[float, str]]]:
    """Per segment, (score, phrase) for each column's most distinguishing value, best first.

    Categories score by how much more common their most over-represented level is in the
    segment than overall (share points, only levels held by at least half the segment);
    numbers by |standardised mean difference| / 2, so one SD ~ 50 share points.
    """
    out: list[list[tuple[float, str]]] = [[] for _ in range(k)]
    for c in columns:
        s = frame[c]
        if is_numeric(s) and s.nunique(dropna=True) > 2:
            v = pd.to_numeric(s, errors="coerce").to_numpy(np.float64, na_value=np.nan)
            if is_skewed(s):
                v = np.log1p(v)
            mu, sd = np.nanmean(v), np.nanstd(v)
            for g in range(k):
                if sd > 0 and (labels == g).any():
                    d = (np.nanmean(v[labels == g]) - mu) / sd
                    out[g].append((abs(d) / 2, f"{'high' if d > 0 else 'low'} {c}"))
        else:
            t = as_text(s)
            overall = t.value_counts(normalize=True)
            for g in range(k):
                seg = t[labels == g].value_counts(normalize=True)
                lift = (seg - overall.reindex(seg.index)).where(seg >= 0.5).dropna()
                if len(lift):
                    lvl = str(lift.idxmax())
                    out[g].append((float(lift.max()), _level_text(c, lvl)))
    return [sorted(x, key=lambda t: -t[0]) for x in out]


def names_from(
    phrases: list[list[tuple[float, str]]], most: int = 3, floor: float = 0.1
) -> tuple[str, ...]:
    """Up to `most` distinguishing phrases per segment; unique, never empty."""
    names: list[str] = []
    for g, ph in enumerate(phrases):
        good = [p for s, p in ph if s >= floor][:most]
        names.append(", ".join(good) if good else f"Segment {g + 1} (no distinct profile)")
    # Two segments with the same leading traits: add their next trait, then number them.
    for g in range(len(names)):
        if names.count(names[g]) > 1:
            extra = [p for s, p in phrases[g][most:] if s >= floor / 2]
            if extra:
                names[g] = f"{names[g]}, {extra[0]}"
    seen: dict[str, int] = {}
    for g, n in enumerate(names):
        seen[n] = seen.get(n, 0) + 1
        if seen[n] > 1 or names.count(n) > 1:
            names[g] = f"{n} ({g + 1})"
    return tuple(names)


def profile_table(
    frame: pd.DataFrame,
    labels: np.ndarray,
    names: Sequence[str],
    columns: Sequence[str],
    weights: np.ndarray | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(sizes, profile) frames as documented on Segmentation; statistics weighted."""
    k = len(names)
    w = np.ones(len(frame)) if weights is None else np.asarray(weights, dtype=np.float64)
    w = np.where(np.isfinite(w), w, 0.0)
    total = w.sum() or 1.0
    sizes = pd.DataFrame(
        {
            "segment": np.arange(k),
            "name": list(names),
            "size": [int((labels == g).sum()) for g in range(k)],
            "share": [float(w[labels == g].sum() / total) for g in range(k)],
        }
    )
    rows: list[tuple[int, str, str, str, float, float]] = []
    for c in columns:
        s = frame[c]
        if is_numeric(s):  # a 0/1 number (an outcome) reads best as its mean: a share
            v = pd.to_numeric(s, errors="coerce").to_numpy(np.float64, na_value=np.nan)
            overall = _wmean(v, w)
            for g in range(k):
                m = labels == g
                rows.append((g, names[g], c, "mean", _wmean(v[m], w[m]), overall))
        else:
            # One weighted bincount per column: (segment, level) cells in a single pass.
            codes, levels = pd.factorize(as_text(s), sort=True)
            n_lv = len(levels)
            ok = labels >= 0
            cells = np.bincount(
                labels[ok] * n_lv + codes[ok], weights=w[ok], minlength=k * n_lv
            ).reshape(k, n_lv)
            seg_w = cells.sum(axis=1, keepdims=True)
            shares = cells / np.where(seg_w > 0, seg_w, 1.0)
            overall_w = np.bincount(codes, weights=w, minlength=n_lv) / total
            for g in range(k):
                for li, lv in enumerate(levels):
                    rows.append((g, names[g], c, str(lv), shares[g, li], overall_w[li]))
    profile = pd.DataFrame(
        rows,
        columns=[
            "segment",
            "name",
            "attribute",
            "level",
            "segment_value",
            "overall_value",
        ],
    )
    ov = profile["overall_value"].where(profile["overall_value"] > 0)
    profile["index"] = 100.0 * profile["segment_value"] / ov
    return sizes, profile


def driver_names(drivers: pd.DataFrame, y_sd: float, k: int) -> tuple[str, ...]:
    """ "Hurt by A, B; lifted by C": the effects where a segment differs most from the rest."""
    if k == 1:
        return ("All respondents",)
    floor = 0.1 * (y_sd if y_sd > 0 else 1.0)
    phrases: list[list[tuple[float, str]]] = []
    for g in range(k):
        eff = []
        for kind in ("penalty", "reward"):
            piv = drivers.pivot(index="touchpoint", columns="segment", values=kind)
            others = piv.drop(columns=g).mean(axis=1)
            for tp, v in (piv[g] - others).items():
                eff.append((float(v), kind, str(tp)))
        top = [e for e in sorted(eff, reverse=True) if e[0] >= floor][:3]
        hurt = [tp for _, kd, tp in top if kd == "penalty"]
        lift = [tp for _, kd, tp in top if kd == "reward"]
        parts = ([f"hurt by {', '.join(hurt)}"] if hurt else []) + (
            [f"lifted by {', '.join(lift)}"] if lift else []
        )
        text = "; ".join(parts) or "no distinct drivers"
        phrases.append([(1.0, text[0].upper() + text[1:])])
    return names_from(phrases, most=1)


def needs_names(x: np.ndarray, labels: np.ndarray, kk: int, tps: Sequence[str]) -> tuple[str, ...]:
    """ "Rates A, B high; C low": the touchpoints where a segment's (centred) profile `x`
    differs most from everyone's, by at least 0.2 scale points."""
    overall = x.mean(0)
    names_l = []
    for g in range(kk):
        diff = x[labels == g].mean(0) - overall
        top = [j for j in np.argsort(-np.abs(diff)) if abs(diff[j]) >= 0.2][:3]
        hi = [tps[j] for j in top if diff[j] > 0]
        lo = [tps[j] for j in top if diff[j] < 0]
        parts = ([f"rates {', '.join(hi)} high"] if hi else []) + (
            [f"{', '.join(lo)} low"] if lo else []
        )
        names_l.append("; ".join(parts) or f"Segment {g + 1} (average profile)")
    return names_from([[(1.0, n)] for n in names_l], most=1)
