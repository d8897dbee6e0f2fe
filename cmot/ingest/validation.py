"""The validation report of a file's cleaning: what ingest changed or dropped, and why
(`Change`, `ValidationReport`), and the warning when a choice drops over a tenth of the
respondents (`drop_warning`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cmot.text import MAX_COMMENT_CHARS, MAX_LABEL_CHARS

# A Change's action: the value was cut to its cap (cmot.text: MAX_COMMENT_CHARS for comments,
# MAX_LABEL_CHARS for segment values).
SHORTENED = "shortened"


@dataclass(frozen=True)
class Change:
    """Values of a column that ingest set to missing or whose rows it dropped, and why."""

    column: str
    reason: str
    count: int
    action: str  # "set to missing", "row dropped" or SHORTENED


@dataclass(frozen=True)
class ValidationReport:
    """What the cleaning of a file kept, changed and dropped, in counts and notes."""

    source_name: str
    layout: str
    encoding: str
    rows_read: int
    rows_kept: int
    changes: tuple[Change, ...]
    duplicate_ids: int
    out_of_scale: int
    columns_ignored: tuple[str, ...]
    touchpoints: tuple[str, ...]
    outcome: str
    notes: tuple[str, ...] = ()
    labels_shortened: int = 0  # labels of the spec cut to MAX_LABEL_CHARS (`shorten_labels`)

    @property
    def drop_warning(self) -> str:
        """What a choice that drops over a tenth of the respondents must say (`drop_warning`)."""
        return drop_warning(self.rows_read, self.rows_kept, self.changes)

    @property
    def values_shortened(self) -> int:
        """Values (comments, segment values) cut to their cap at ingest."""
        return sum(c.count for c in self.changes if c.action == SHORTENED)

    def to_dict(self) -> dict[str, Any]:
        return {
            "source_name": self.source_name,
            "layout": self.layout,
            "encoding": self.encoding,
            "rows_read": self.rows_read,
            "rows_kept": self.rows_kept,
            "changes": [c.__dict__ for c in self.changes],
            "duplicate_ids": self.duplicate_ids,
            "out_of_scale": self.out_of_scale,
            "columns_ignored": list(self.columns_ignored),
            "touchpoints": list(self.touchpoints),
            "outcome": self.outcome,
            "notes": list(self.notes),
            "labels_shortened": self.labels_shortened,
        }

    def to_text(self) -> str:
        lines = [
            f"Validation report for {self.source_name} ({self.layout} layout, {self.encoding})",
            f"  rows read:        {self.rows_read:,}",
            f"  rows kept:        {self.rows_kept:,}",
            f"  touchpoints:      {len(self.touchpoints)} ({', '.join(self.touchpoints)})",
            f"  outcome:          {self.outcome}",
            f"  duplicate ids:    {self.duplicate_ids}",
            f"  out-of-scale:     {self.out_of_scale}",
            f"  columns ignored:  {', '.join(self.columns_ignored) or 'none'}",
            f"  text shortened:   {self._shortened()}",
        ]
        if self.changes:
            lines.append("  changed or dropped values:")
            for c in self.changes:
                lines.append(f"    {c.column}: {c.count:,} {c.reason} ({c.action})")
        else:
            lines.append("  changed or dropped values: none")
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)

    def _shortened(self) -> str:
        values, labels = self.values_shortened, self.labels_shortened
        if not values and not labels:
            return "none"
        return (
            f"{values:,} value(s) and {labels:,} label(s) (comments cut at "
            f"{MAX_COMMENT_CHARS:,} characters, labels and segment values at {MAX_LABEL_CHARS:,})"
        )


# A choice (outcome, its range, the codes, the weight) that drops more than this share of
# the respondents is said before saving and in the validation report (issue 23).
DROP_WARN_SHARE = 0.10


def drop_warning(rows_read: int, rows_kept: int, changes: Sequence[Change]) -> str:
    """'121 of 1,033 respondents (12%) are dropped: ...' when over DROP_WARN_SHARE, else ''."""
    dropped = rows_read - rows_kept
    if rows_read <= 0 or dropped <= DROP_WARN_SHARE * rows_read:
        return ""
    why = "; ".join(
        f"{c.column}: {c.count:,} {c.reason}" for c in changes if c.action == "row dropped"
    )
    return (
        f"{dropped:,} of {rows_read:,} respondents ({dropped / rows_read:.0%}) are dropped"
        + (f" ({why})" if why else "")
        + ": check the outcome, its range, the codes declared missing and the weight"
    )
