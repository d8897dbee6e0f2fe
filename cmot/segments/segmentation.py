"""What a segmentation is: the `Segmentation` every mode returns (cmot.segments.given,
cmot.segments.clustered, cmot.segments.driver_based; one entry point over them and new
respondents assigned, cmot.segments.modes), its names edited (`with_names`,
`rename_segments`) and the settings a fit was asked for (`fit_settings`). The store keeps
it through cmot.segments.records."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from cmot.names import ROW_COL
from cmot.store.segmentations import check_segment_names

if TYPE_CHECKING:  # the fits import scikit-learn; a segmentation's record does not need it
    from cmot.segments.clustering import Stability

# The modes a segmentation is made by (cmot.segments.modes.segment), here so that the command
# line lists them without importing the fits.
Mode = Literal["given", "attributes", "needs", "drivers"]
MODES: tuple[str, ...] = ("given", "attributes", "needs", "drivers")
MISSING_LEVEL = "(missing)"  # the level a missing attribute is clustered and profiled as


@dataclass(frozen=True, eq=False)
class Segmentation:
    """A fitted segmentation of one dataset table.

    rows/labels: `__cmot_row` and the segment code (0..k-1; -1 = not assignable) of every row.
    names: one readable, editable name per code.
    sizes: segment, name, size (respondents), share (weighted by `__cmot_w`).
    profile: segment, name, attribute, level ("mean" for numbers), segment_value (weighted
        share of the level, or mean), overall_value, index (100 = as in the whole).
    k_curve: k, silhouette, inertia, bic, loglik, chosen (columns a method lacks are NaN).
    drivers (driver mode only): segment, name, touchpoint, low_coef, high_coef, missing_coef,
        penalty, reward, ris (outcome units, as PRCA in docs/METHODS.md).
    model: JSON-able parameters that `assign_segments` needs for new respondents.
    descriptions (driver mode): who is in each segment, from the attribute values that most
        distinguish it ("Business travel, Class: Business"); the names say what drives them.
    """

    mode: str
    method: str
    columns: tuple[str, ...]
    k: int
    seed: int
    names: tuple[str, ...]
    rows: np.ndarray
    labels: np.ndarray
    sizes: pd.DataFrame
    profile: pd.DataFrame
    k_curve: pd.DataFrame
    stability: Stability | None
    model: dict[str, Any]
    cuts: tuple[float, ...] = ()
    note: str = ""
    drivers: pd.DataFrame | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    descriptions: tuple[str, ...] = ()

    def with_names(self, names: Sequence[str]) -> Segmentation:
        """The same segmentation with user-edited names (one per segment, unique, non-empty)."""
        names = check_segment_names(names, self.k)
        return replace(
            self,
            names=names,
            sizes=rename_segments(self.sizes, names),
            profile=rename_segments(self.profile, names),
            drivers=None if self.drivers is None else rename_segments(self.drivers, names),
        )

    def label_series(self) -> pd.Series:
        """Segment name per `__cmot_row` (index)."""
        names = np.array([*self.names, MISSING_LEVEL], dtype=object)
        return pd.Series(
            names[self.labels], index=pd.Index(self.rows, name=ROW_COL), name="segment"
        )


def rename_segments(frame: pd.DataFrame, names: Sequence[str]) -> pd.DataFrame:
    """`frame` with its `name` column read again from its `segment` codes and `names`."""
    out = frame.copy()
    out["name"] = [names[int(s)] for s in out["segment"]]
    return out


def fit_settings(args: dict[str, Any]) -> dict[str, Any]:
    """What a fit was asked for, from its arguments (`args`: the fitting function's
    locals()), as the store keeps it in `Segmentation.settings`."""
    keep = (
        "k_range", "method", "covariance_type", "fit_sample", "silhouette_sample",
        "stability_sample", "refits", "describe", "centre", "k_max", "restarts", "attributes",
    )  # fmt: skip
    out = {}
    for key in keep:
        if key in args:
            v = args[key]
            out[key] = list(v) if isinstance(v, (tuple, list)) else v
    out["k_requested"] = args.get("k")
    return out
