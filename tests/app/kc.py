"""The Kansas City resident survey (a real, wide export) as the app's tests ingest it."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from cmot.ingest.options import IngestOptions
from cmot.spec import JourneySpec, Outcome, Stage, Touchpoint, default_scale
from cmot.store.datasets import Store
from cmot.store.intake import ingest
from cmot.store.versions import DatasetInfo
from tests.conftest import SHARED

KC_DIR = SHARED / "data" / "kansas-city-resident"
KC_CSV = KC_DIR / "wave_2021_09.csv"
# Question groups as journey stages: 47 items rated 1-5 (9 = don't know, 99 = none chosen).
KC_STAGES = {
    "City services": [f"q3_{i:02d}" for i in range(1, 17)],
    "Police": [f"q5_{i:02d}" for i in range(1, 8)],
    "Fire and ambulance": [f"q7_{i:02d}" for i in range(1, 5)],
    "Streets": [f"q9_{i:02d}" for i in range(1, 11)],
    "Code enforcement": [f"q12_{i:02d}" for i in range(1, 11)],
}


def kc_csv() -> Path:
    if not KC_CSV.exists():
        pytest.skip(f"the Kansas City survey is not at {KC_CSV} (../shared beside the repo)")
    return KC_CSV


def kc_labels() -> dict[str, str]:
    """Question text per column, from the labels.csv beside the survey."""
    with (KC_DIR / "labels.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    out = {}
    for r in rows:
        text = (r["label_from_global_R"] or "").replace("_", " ").strip()
        if text:
            out[r["column"]] = text[:1].upper() + text[1:]
    return out


def kc_spec(stages: dict[str, list[str]] | None = None) -> JourneySpec:
    """The spec an analyst maps: outcome q2_01 (overall quality of city services, 1-5 scale),
    the rating items as touchpoints with their question text, council district as segment."""
    stages = KC_STAGES if stages is None else stages
    labels = kc_labels()
    cols = [c for tps in stages.values() for c in tps]
    return JourneySpec(
        stages=tuple(Stage(name, tuple(tps)) for name, tps in stages.items()),
        touchpoints=tuple(Touchpoint(c, labels.get(c, "")) for c in cols),
        scale=default_scale(1, 5, (9, 99)),
        outcome=Outcome("q2_01", "scale", min=1, max=5),
        id_column="id",
        segments=("counci", "method"),
        attributes=("counci", "method"),
        column_labels={"counci": "Council district", "method": "Survey method"},
    )


def ingest_kc(store: Store, name: str, stages: dict[str, list[str]] | None = None) -> DatasetInfo:
    info, _ = ingest(
        store,
        kc_csv(),
        name,
        IngestOptions(spec=kc_spec(stages), outcome="q2_01", outcome_kind="scale", missing=(9, 99)),
    )
    return info
