"""A segmentation as the store keeps it: `to_record` / `from_record` (the store's
`SegmentationRecord`), `save_segmentation` and `load_segmentation` through the store's one
write path."""

from __future__ import annotations

import json
from io import StringIO
from typing import Any

import numpy as np
import pandas as pd

from cmot.segments.clustering import Stability
from cmot.segments.segmentation import Segmentation
from cmot.store.datasets import Store
from cmot.store.segmentations import SegmentationRecord


def _frame_json(f: pd.DataFrame | None) -> Any:
    return None if f is None else json.loads(f.to_json(orient="split", index=False))


def _json_frame(d: Any) -> pd.DataFrame | None:
    # dtype=False: a level "1" or a column named like a date stays as it was saved.
    text = StringIO(json.dumps(d))
    return None if d is None else pd.read_json(text, orient="split", dtype=False)


def _json_default(o: Any) -> Any:
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"not JSON: {type(o)}")


def to_record(seg: Segmentation) -> SegmentationRecord:
    """What the store saves of a segmentation: its settings, names and assignments."""
    st = seg.stability
    body = json.dumps(
        {
            "columns": list(seg.columns),
            "cuts": list(seg.cuts),
            "note": seg.note,
            "settings": seg.settings,
            "model": seg.model,
            "stability": None if st is None else {**st.__dict__, "scores": list(st.scores)},
            "k_curve": _frame_json(seg.k_curve),
            "sizes": _frame_json(seg.sizes),
            "profile": _frame_json(seg.profile),
            "drivers": _frame_json(seg.drivers),
            "descriptions": list(seg.descriptions),
        },
        default=_json_default,
    )
    return SegmentationRecord(
        mode=seg.mode,
        method=seg.method,
        k=seg.k,
        seed=seg.seed,
        body_json=body,
        names=tuple(seg.names),
        rows=np.asarray(seg.rows, dtype=np.int64),
        labels=np.asarray(seg.labels, dtype=np.int64),
    )


def from_record(record: SegmentationRecord) -> Segmentation:
    """A saved segmentation back from the store, with its current names."""
    body = json.loads(record.body_json)
    st = body["stability"]
    empty = pd.DataFrame()
    seg = Segmentation(
        mode=record.mode,
        method=record.method,
        columns=tuple(body["columns"]),
        k=record.k,
        seed=record.seed,
        names=record.names,
        rows=record.rows,
        labels=record.labels,
        sizes=_json_frame(body["sizes"]) if body["sizes"] else empty,
        profile=_json_frame(body["profile"]) if body["profile"] else empty,
        k_curve=_json_frame(body["k_curve"]) if body["k_curve"] else empty,
        stability=None if st is None else Stability(**{**st, "scores": tuple(st["scores"])}),
        model=body["model"],
        cuts=tuple(body["cuts"]),
        note=body["note"],
        drivers=_json_frame(body["drivers"]),
        descriptions=tuple(body.get("descriptions", ())),
        settings=body["settings"],
    )
    return seg.with_names(record.names)


def save_segmentation(
    store: Store, dataset_id: int, name: str, seg: Segmentation, *, replace: bool = False
) -> int:
    """Save `seg` with its dataset through the store's one write path; returns its id."""
    return store.save_segmentation(dataset_id, name, to_record(seg), replace=replace)


def load_segmentation(store: Store, ref: int | tuple[int, str]) -> Segmentation:
    """A saved segmentation by id, or by (dataset id, name), with its current names."""
    return from_record(store.load_segmentation(ref))
