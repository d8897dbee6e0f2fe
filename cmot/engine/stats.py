"""What the sums are: one segment's sums as they are added up (`Accum`), a segment's sums with
its fit (`SegmentStats`) and the result of a pass over the rows (`SufficientStats`), with the
rating levels' table built from them (`levels_frame`).

Everything after the pass (cmot.engine.importance, cmot.results) works on these alone.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from cmot.engine.design import Layout
from cmot.errors import CmotError
from cmot.settings import Measure
from cmot.spec import JourneySpec


@dataclass
class Accum:
    """One segment's additive sums while they are being added up: respondents, the gram,
    the pair sums and the rating-level histogram (SegmentStats' first arrays)."""

    n: int
    gram: np.ndarray
    pair: np.ndarray
    levels: np.ndarray


def new_accum(t: int, points: int) -> Accum:
    """Zero sums for T touchpoints on scales of at most `points` levels."""
    return Accum(
        0,
        np.zeros((3 * t + 2, 3 * t + 2)),
        np.zeros((2 * t + 1, 2 * t + 2)),
        np.zeros((t, points + 1, 3)),
    )


def add_accum(acc: Accum, part: Accum) -> None:
    """Add `part`'s sums into `acc`."""
    acc.n += part.n
    acc.gram += part.gram
    acc.pair += part.pair
    acc.levels += part.levels


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
    # blended with the whole journey's) and this its covariance, which
    # cmot.results.segment_fit reads instead of bread·meat·bread (bread and meat stay those of
    # the segment's own fit).
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


def declared_range(spec: JourneySpec, measure: Measure) -> tuple[float, float] | None:
    """The outcome's declared range (SufficientStats.outcome_range): None for a 0/1 outcome."""
    o = spec.outcome
    if measure == "promoter" or o.kind == "binary":
        return None  # 0/1 by construction
    if o.min is not None and o.max is not None:
        return float(o.min), float(o.max)
    return (0.0, 10.0) if o.kind == "recommend" else None


def levels_frame(stats: SufficientStats) -> pd.DataFrame:
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
