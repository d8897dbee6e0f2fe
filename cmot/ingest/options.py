"""What the user says about a survey file: the mapping choices ingest starts from."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from cmot.spec import (
    Code,
    JourneySpec,
)


@dataclass(frozen=True)
class IngestOptions:
    """What the user said about the file; anything left None is detected or proposed."""

    spec: JourneySpec | None = None  # alone it suffices: roles, scale, outcome, weight
    roles: Mapping[str, str] = field(default_factory=dict)
    # Codes that mean "no answer", for ratings and the outcome alike; None: the proposals.
    missing: tuple[Code, ...] | None = None
    outcome: str | None = None
    positive: tuple[str, ...] | None = None
    outcome_kind: str | None = None  # binary, scale or recommend
    outcome_range: tuple[float, float] | None = None  # a scale outcome's declared range
    # Touchpoint columns: exact names first, else glob patterns such as "Q7*".
    touchpoints: tuple[str, ...] | None = None
    weight: str | None = None  # a column, or "none"; None: no weight unless the spec names one
    sheet: str | None = None  # an Excel workbook's sheet; None: the first
    layout: str | None = None
    delimiter: str | None = None
    labels: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    max_bytes: int | None = None  # None: $CMOT_MAX_UPLOAD_MB
    max_rows: int | None = None  # None: $CMOT_MAX_ROWS
    max_columns: int | None = None  # None: $CMOT_MAX_COLUMNS


def parse_codes(text: str) -> tuple[Code, ...]:
    """'0, 6, Blank' -> (0, 6, 'Blank'): whole numbers become ints, the rest stays text."""
    out: list[Code] = []
    for part in text.split(","):
        part = part.strip()
        if part:
            out.append(int(part) if re.fullmatch(r"-?\d+", part) else part)
    return tuple(out)
