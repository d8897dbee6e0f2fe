"""The Data page's mapping step: detected roles, journey order, labels and tags, editable."""

from __future__ import annotations

import hashlib
from typing import Any

import pandas as pd
import streamlit as st

from cmot.detect import ROLES, Detection
from cmot.errors import CmotError
from cmot.ingest import IngestOptions, detect_roles
from cmot.spec import CMOT_TAGS, JourneySpec, Stage, Touchpoint


@st.cache_data(show_spinner=False, max_entries=8)
def _detect(
    digest: str,
    _data: bytes,
    name: str,
    missing: tuple[Any, ...] | None,
    roles: tuple[tuple[str, str], ...],
) -> Detection:
    return detect_roles(_data, IngestOptions(missing=missing, roles=dict(roles)), name)


def roles_editor(data: bytes, name: str, missing: tuple[Any, ...] | None) -> Detection:
    """Show each column's detected role with its confidence and reason; return the detection
    with the roles the user changed applied."""
    digest = hashlib.sha256(data).hexdigest()
    with st.spinner("Detecting column roles…"):
        first = _detect(digest, data, name, missing, ())
    frame = pd.DataFrame(
        [
            {
                "column": g.column,
                "role": g.role,
                "kind": g.kind,
                "confidence": g.confidence,
                "reason": g.reason,
            }
            for g in first.columns
        ]
    )
    st.markdown("**Detected roles**: change a role where the guess is wrong.")
    edited = st.data_editor(
        frame,
        key="map_roles",
        hide_index=True,
        disabled=["column", "kind", "confidence", "reason"],
        column_config={
            "role": st.column_config.SelectboxColumn(options=list(ROLES), required=True),
            "confidence": st.column_config.ProgressColumn(min_value=0.0, max_value=1.0),
        },
    )
    changed = tuple(
        (c, r) for c, r, r0 in zip(edited.column, edited.role, frame.role, strict=True) if r != r0
    )
    if not changed:
        return first
    with st.spinner("Applying your roles…"):
        return _detect(digest, data, name, missing, changed)


def journey_editor(spec: JourneySpec) -> JourneySpec:
    """Stages and touchpoint order, labels and CMoT tags, and value labels; returns the
    edited spec (or raises CmotError saying what to fix)."""
    rows = [
        {
            "touchpoint": t.column,
            "stage": spec.stage_of(t.column),
            "order": i + 1,
            "label": t.label,
            "tags": ", ".join(t.tags),
        }
        for i, t in enumerate(spec.touchpoint(c) for c in spec.touchpoint_columns)
    ]
    st.markdown(
        "**Journey**: give each touchpoint a stage and an order (stages follow their first "
        f"touchpoint), a label, and CMoT tags from: {', '.join(CMOT_TAGS)}."
    )
    edited = st.data_editor(
        pd.DataFrame(rows), key="map_journey", hide_index=True, disabled=["touchpoint"]
    )
    st.markdown("**Value labels** for attribute codes (e.g. Class, 1, Business)")
    labels = st.data_editor(
        pd.DataFrame(
            {
                "column": pd.Series(dtype=str),
                "code": pd.Series(dtype=str),
                "label": pd.Series(dtype=str),
            }
        ),
        key="map_labels",
        hide_index=True,
        num_rows="dynamic",
    )
    return apply_journey(spec, edited, labels)


def apply_journey(spec: JourneySpec, journey: pd.DataFrame, labels: pd.DataFrame) -> JourneySpec:
    """The spec with the edited stages, order, labels, tags and value labels."""
    j = journey.assign(order=pd.to_numeric(journey.order, errors="coerce")).sort_values("order")
    if (
        j.order.isna().any()
        or j.stage.isna().any()
        or (j.stage.astype(str).str.strip() == "").any()
    ):
        raise CmotError("Give every touchpoint a stage and a numeric order.")
    stages: dict[str, list[str]] = {}
    for r in j.itertuples():
        stages.setdefault(str(r.stage).strip(), []).append(str(r.touchpoint))
    touchpoints = tuple(
        Touchpoint(
            str(r.touchpoint),
            str(r.label or "").strip(),
            tuple(t.strip() for t in str(r.tags or "").split(",") if t.strip()),
        )
        for r in j.itertuples()
    )
    value_labels: dict[str, dict[str, str]] = {k: dict(v) for k, v in spec.labels.items()}
    for r in labels.dropna(how="all").itertuples():
        if r.column and r.code is not None and r.label:
            value_labels.setdefault(str(r.column), {})[str(r.code)] = str(r.label)
    return spec.with_changes(
        stages=tuple(Stage(n, tuple(c)) for n, c in stages.items()),
        touchpoints=touchpoints,
        labels=value_labels,
    )
