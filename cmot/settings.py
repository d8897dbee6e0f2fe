"""The analysis settings: every threshold of METHODS.md (`Settings`), the segment named
"All", and the pooling choices with the words every page says about them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from cmot.errors import CmotError
from cmot.spec import JourneySpec

ALL = "All"

Measure = Literal["score", "promoter"]

HybridRule = Literal["threshold", "interval"]

# How a segment's coefficients are estimated: "partial" pooling across segments
# (cmot.results.pooling: each segment of at least Settings.min_pool respondents blends its own data
# with the whole journey's), or "none": each segment alone. The dashboard and the command
# line start on DEFAULT_POOLING, decided by bench/pooling.md against the issue's bounds
# (METHODS.md, "In the product: the default and why"): each segment alone until pooled
# intervals of a 0/1 outcome cover within 93-97% (99% measured). A library caller's
# Settings() keeps the segment's own fit (the estimator the engine's checks compare with
# statsmodels) unless it asks for pooling.
Pooling = Literal["partial", "none"]

POOLINGS: tuple[Pooling, ...] = ("partial", "none")

DEFAULT_POOLING: Pooling = "none"

# What every page, the report and the command line say about it.
POOLING_WORDS: dict[str, str] = {
    "partial": "partial pooling across segments",
    "none": "each segment alone",
}


@dataclass(frozen=True)
class Settings:
    """Every threshold of METHODS.md; None means 'from the spec / the rule in METHODS.md'."""

    low_max: int | None = None  # ratings <= low_max are low (bottom box)
    high_min: int | None = None  # ratings >= high_min are high (top box)
    measure: Measure = "score"  # recommend outcomes: the 0-10 score or promoter share (>= 9)
    vulnerability_ia: float = -0.2  # IA at or below: vulnerability
    opportunity_ia: float = 0.2  # IA at or above: opportunity
    mot_coverage: float = 0.6  # MoTs: smallest significant set covering this share of total RIS
    alpha: float = 0.05
    min_segment: int | None = None  # None: max(30, 10 x touchpoints)
    min_cell: int = 30  # respondents needed in the low and in the high cell
    adequate_bottom_box: float = 0.10  # a vulnerability below this bottom-box share: maintain
    max_condition_index: float = 30.0  # Belsley's rule of thumb for harmful collinearity
    max_vif: float = 10.0  # a low/high column this predictable from the others is collinear
    hybrid_rule: HybridRule = "threshold"  # "interval": hybrid when IA's 95% interval holds 0
    # Applied after the sums, before classify (cmot.results.moments.analyse_stats); "All" never is.
    pooling: Pooling = "none"  # the front ends pass DEFAULT_POOLING unless told otherwise
    min_pool: int = 30  # a segment needs this many respondents to be pooled (cmot.results.pooling)

    def cutoffs(self, spec: JourneySpec) -> tuple[int, int]:
        """The survey scale's cut-offs (touchpoints with their own scale keep theirs)."""
        low = spec.scale.low_max if self.low_max is None else self.low_max
        high = spec.scale.high_min if self.high_min is None else self.high_min
        if not (spec.scale.min <= low < high <= spec.scale.max):
            raise CmotError(
                f"The cut-offs need {spec.scale.min} <= low ({low}) < high ({high}) <= "
                f"{spec.scale.max}; pick a low cut-off below the high one."
            )
        return low, high

    def segment_minimum(self, n_touchpoints: int) -> int:
        return max(30, 10 * n_touchpoints) if self.min_segment is None else self.min_segment
