"""Classes and actions of the touchpoints of one segment: moments of truth, PRCA classes,
adequacy, the action each class asks for, and the just-enough rating level."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from cmot.settings import Settings

CLASSES = ("vulnerability", "opportunity", "hybrid", "low impact", "insufficient")


def assign_classes(rows: list[dict[str, Any]], settings: Settings) -> tuple[float, int]:
    """MoTs: the smallest significant set, by RIS, covering mot_coverage of the total RIS.

    Adds rank, mot, class, adequate and action to one segment's touchpoint rows (in place);
    returns the total RIS and the number of moments of truth.
    """
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
        r["class"] = class_of(r, settings)
        r["adequate"] = bool(
            r["class"] == "vulnerability" and r["bottom_box"] < settings.adequate_bottom_box
        )
        r["action"] = action_of(r)
    return total, n_mot


def class_of(r: Mapping[str, Any], settings: Settings) -> str:
    """A touchpoint row's class (CLASSES) from insufficient, mot and its IA (or IA interval)."""
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


def action_of(r: Mapping[str, Any]) -> str:
    """What its class asks for: fix (maintain when adequate), grow, improve, monitor, collect."""
    cls = r["class"]
    if cls == "vulnerability":
        return "maintain" if r["adequate"] else "fix"
    return {
        "opportunity": "grow",
        "hybrid": "improve",
        "low impact": "monitor",
        "insufficient": "collect more responses",
    }[cls]


def just_enough(levels: np.ndarray, lo: int, high_min: int, min_cell: int) -> float:
    """The rating level above the largest rise in outcome below the top box (the penalty's step)."""
    counts, wsum, wy = levels[:-1, 0], levels[:-1, 1], levels[:-1, 2]
    best, level = 0.0, math.nan
    top = high_min - lo  # index of the first top-box level
    for k in range(1, top):
        if min(counts[k - 1], counts[k]) < min_cell or min(wsum[k - 1], wsum[k]) <= 0:
            continue
        step = wy[k] / wsum[k] - wy[k - 1] / wsum[k - 1]
        if step > best:
            best, level = step, float(lo + k)
    return level
