"""The outcome's type and the values it takes, one rule for the Data page's outcome picker
(`cmot.ui.mapping`) and the command line's --outcome-type, --positive and --outcome-range
(`cmot.cli.flags`), so that the same choices give the same outcome on both (issue 25).

`outcome_choice` says which type the choices mean and what that type keeps of them (a yes/no
its positive values, a 0-10 recommend its fixed range, a scale its range) and names a value
the type does not take; each caller says that in its own words. `positive_choice` is the
positive values the picker shows, and what --positive falls back on over a journey spec.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from cmot.spec import Outcome

RECOMMEND_RANGE = (0.0, 10.0)  # a likelihood to recommend is asked 0-10 (NPS groups)


def positive_choice(
    values: Sequence[str] | None, current: Sequence[str] | None, detected: Outcome | None
) -> list[str]:
    """The positive values shown: the analyst's still among the values, else detection's.
    `values` None: any value (the command line names them before the file is read)."""
    chosen = (detected.positive if detected else ()) if current is None else current
    return [v for v in chosen if values is None or v in values]


@dataclass(frozen=True)
class OutcomeChoice:
    """An outcome's type and the values it takes. `misfit` names a value given that the type
    does not take: "positive", "range" or "recommend" (a range other than 0-10); "" if none."""

    kind: str | None
    positive: tuple[str, ...] | None = None
    low: float | None = None
    high: float | None = None
    misfit: str = ""

    @property
    def range(self) -> tuple[float, float] | None:
        return None if self.low is None or self.high is None else (self.low, self.high)

    def outcome(self, column: str) -> Outcome:
        return Outcome(column, self.kind, self.positive or (), self.low, self.high)  # type: ignore[arg-type]


def outcome_choice(
    kind: str | None,
    positive: Sequence[str] | None,
    rng: tuple[float, float] | None,
    kept: Outcome | None = None,
) -> OutcomeChoice:
    """The one rule of the Data page's outcome type, positive values and range, and of the
    command line's --outcome-type, --positive and --outcome-range: the type chosen, else the
    one the values imply (a range: a scale; positive values: yes/no), else that of `kept`, a
    stored outcome of the same column. A yes/no takes positive values, a recommend 0-10, a
    scale its range; `kept`'s values stand until others are given, while the type stays (as
    the page drops the values when the type changes)."""
    kind = kind or ("scale" if rng else "binary" if positive else kept.kind if kept else None)
    misfit = ""
    if positive is not None and kind not in (None, "binary"):
        misfit = "positive"
    elif rng is not None and kind == "binary":
        misfit = "range"
    elif rng is not None and kind == "recommend" and rng != RECOMMEND_RANGE:
        misfit = "recommend"
    fallback = kept if kept is not None and kept.kind == kind else None
    if kind == "binary":
        pos = tuple(positive_choice(None, positive, fallback)) or None
        return OutcomeChoice(kind, pos, misfit=misfit)
    lo, hi = (fallback.min, fallback.max) if fallback else (None, None)
    lo, hi = RECOMMEND_RANGE if kind == "recommend" else rng or (lo, hi)
    return OutcomeChoice(kind, None, lo, hi, misfit)
