"""Watching the moments: each touchpoint's bottom-box share and penalty per segment and
period, a control band, alerts when one worsens beyond chance or a class flips.

Periods are the dataset's batches (each a stored file: its sums are cached, so a new batch
costs its own rows, cmot.engine.incremental) or the weeks or months of its date column. Each period
after the first is tested once against its baseline, every earlier period's sums added: a
one-sided z-test that the bottom-box share rose (two proportions, respondents counted) and
one that the penalty grew (coefficients and classical errors from the sums). Within a period
the p-values of every segment x touchpoint x measure are adjusted by Benjamini-Hochberg at
alpha / horizon; across periods the horizon splits alpha (Bonferroni), so over `horizon`
periods watched the chance of any false alarm is at most alpha when nothing changed
(BH controls the family-wise rate under the complete null). METHODS.md says why.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import pandas as pd

from cmot.engine.incremental import Sums, add_sums, bottom_box, estimate, file_stats, segment_sums
from cmot.engine.sums import compute_stats
from cmot.errors import CmotError
from cmot.names import quote_ident
from cmot.results.compare import adjust_bh
from cmot.settings import ALL, Settings
from cmot.spec import JourneySpec
from cmot.store.datasets import Store
from cmot.store.versions import DatasetInfo

MEASURES = ("bottom-box share", "penalty")
WATCH_COLUMNS = [
    "period",
    "position",
    "segment",
    "touchpoint",
    "column",
    "n",
    "share",
    "base_share",
    "band_hi",
    "p_share",
    "penalty",
    "base_penalty",
    "p_penalty",
]


@dataclass(frozen=True)
class WatchSettings:
    """How the moments are watched (defaults in METHODS.md)."""

    period: str = "batch"  # "batch", "week" or "month"
    alpha: float = 0.05  # the chance of any false alarm over `horizon` periods
    horizon: int = 26  # periods watched before the false-alarm budget is spent
    min_rated: int = 20  # a period's segment needs this many ratings of a touchpoint


@dataclass(frozen=True)
class Period:
    label: str
    sums: dict[str, Sums]
    first_row: int | None = None  # a batch's first __cmot_row (its respondents)
    next_row: int | None = None


def periods(
    store: Store, info: DatasetInfo, segmentation: list[str], ws: WatchSettings
) -> list[Period]:
    """The dataset's periods in order, each with its per-segment sums."""
    con, spec, settings = store.cursor(), info.spec, Settings()
    if ws.period == "batch":
        out = []
        parts = info.parts
        for i, f in enumerate(info.files):
            stats = file_stats(con, f, spec, segmentation, settings)
            first = parts[i].row_offset if parts else 0
            nxt = parts[i + 1].row_offset if parts and i + 1 < len(parts) else None
            name = parts[i].source_name if parts else info.source_name
            out.append(Period(f"batch {i + 1} ({name})", segment_sums(stats), first, nxt))
        return out
    if not spec.date_column:
        raise CmotError(
            f"{info.label} has no date column to group by week or month; watch it by batch."
        )
    unit = "week" if ws.period == "week" else "month"
    day = f"TRY_CAST({quote_ident(spec.date_column)} AS DATE)"
    starts = [
        r[0]
        for r in con.execute(
            f"SELECT DISTINCT date_trunc('{unit}', {day}) AS p FROM {info.table} "
            "WHERE p IS NOT NULL ORDER BY p"
        ).fetchall()
    ]
    out = []
    for s in starts:
        rel = f"(SELECT * FROM {info.table} WHERE date_trunc('{unit}', {day}) = ?)"
        stats = compute_stats(
            con, rel, spec, segmentation, settings, params=[s], cache_key=("period", info.id)
        )
        out.append(Period(f"{unit} of {s:%Y-%m-%d}", segment_sums(stats)))
    return out


def _one_sided(diff: float, se: float) -> float:
    # ndtr(-z) is what scipy.stats.norm.sf(z) computes, the same double, without the
    # distribution machinery's ~60 us a call (a watch table asks once per segment,
    # touchpoint, measure and period). Imported here: scipy.special is not on every command's
    # path.
    from scipy.special import ndtr

    return float(ndtr(-(diff / se))) if se > 0 and math.isfinite(diff) else math.nan


def _rows(
    spec: JourneySpec,
    label: str,
    pos: int,
    new: dict[str, Sums],
    base: dict[str, Sums],
    ws: WatchSettings,
) -> list[dict[str, Any]]:
    cols = spec.touchpoint_columns
    t = len(cols)
    lows = [spec.scale_of(c).low_max for c in cols]
    mins = [spec.scale_of(c).min for c in cols]
    rows = []
    for seg in sorted(set(new) & set(base)):
        bb_new, bb_base = bottom_box(new[seg], lows, mins), bottom_box(base[seg], lows, mins)
        e_new, e_base = estimate(new[seg], t), estimate(base[seg], t)
        for i, c in enumerate(cols):
            (x1, n1), (x0, n0) = bb_new[i], bb_base[i]
            if n1 < ws.min_rated or n0 < ws.min_rated:
                continue
            p1, p0 = x1 / n1, x0 / n0
            pooled = (x1 + x0) / (n1 + n0)
            se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n0))
            pen1, pen0 = -e_new.beta[i], -e_base.beta[i]
            pse = math.hypot(e_new.se[i], e_base.se[i])
            rows.append(
                {
                    "period": label,
                    "position": pos,
                    "segment": seg,
                    "touchpoint": spec.touchpoint(c).name,
                    "column": c,
                    "n": int(n1),
                    "share": p1,
                    "base_share": p0,
                    # The control band: where the share falls 99.7% of the time (3 sigma)
                    # when nothing changed, for this period's number of ratings.
                    "band_hi": min(1.0, p0 + 3 * math.sqrt(p0 * (1 - p0) / n1)),
                    "p_share": _one_sided(p1 - p0, se),
                    "penalty": pen1,
                    "base_penalty": pen0,
                    "p_penalty": _one_sided(pen1 - pen0, pse),
                }
            )
    return rows


def watch_table(spec: JourneySpec, found: list[Period], ws: WatchSettings) -> pd.DataFrame:
    """WATCH_COLUMNS: every period after the first against all before it."""
    rows: list[dict[str, Any]] = []
    for pos in range(1, len(found)):
        base = add_sums([p.sums for p in found[:pos]])
        rows += _rows(spec, found[pos].label, pos, found[pos].sums, base, ws)
    return pd.DataFrame(rows, columns=WATCH_COLUMNS)


def find_alerts(table: pd.DataFrame, ws: WatchSettings) -> pd.DataFrame:
    """The watched rows that worsened beyond chance: per period, Benjamini-Hochberg over
    every segment x touchpoint x measure at alpha / horizon. Columns: the row's, measure,
    value, baseline, p, q."""
    out = []
    level = ws.alpha / ws.horizon
    for _, rows in table.groupby("position", sort=True):
        long = pd.concat(
            [
                rows.assign(
                    measure=MEASURES[0], value=rows.share, baseline=rows.base_share, p=rows.p_share
                ),
                rows.assign(
                    measure=MEASURES[1],
                    value=rows.penalty,
                    baseline=rows.base_penalty,
                    p=rows.p_penalty,
                ),
            ]
        )
        long["q"] = adjust_bh(long["p"].to_numpy())
        out.append(long[long["q"] <= level])
    if not out:
        return pd.DataFrame(columns=[*WATCH_COLUMNS, "measure", "value", "baseline", "p", "q"])
    return pd.concat(out, ignore_index=True)


def sentence(row: Any) -> str:
    """One alert in plain words."""
    who = "all respondents" if row.segment == ALL else row.segment
    if row.measure == MEASURES[0]:
        return (
            f"{row.touchpoint} is slipping for {who}: {row.value:.0%} rated it low in "
            f"{row.period}, against {row.baseline:.0%} before (n = {row.n})."
        )
    return (
        f"A low rating of {row.touchpoint} now costs {who} more: a penalty of "
        f"{row.value:.2f} in {row.period}, against {row.baseline:.2f} before."
    )


def share_series(table: pd.DataFrame, segment: str, column: str) -> pd.DataFrame:
    """One moment's rows over the periods (for its chart)."""
    keep = (table["segment"] == segment) & (table["column"] == column)
    return table.loc[keep].sort_values("position").reset_index(drop=True)


FLIP_COLUMNS = ["segment", "touchpoint", "column", "before", "after"]
_UNSURE = ("insufficient",)


def class_flips(before: pd.DataFrame, after: pd.DataFrame) -> pd.DataFrame:
    """FLIP_COLUMNS: moments whose class changed between two results' `moments` frames
    (the version before a batch and the version with it); insufficient is no class."""
    keys = ["segment", "column"]
    a = before[[*keys, "touchpoint", "class"]].rename(columns={"class": "before"})
    b = after[[*keys, "class"]].rename(columns={"class": "after"})
    both = a.merge(b, on=keys)
    flip = (both.before != both.after) & ~both.before.isin(_UNSURE) & ~both.after.isin(_UNSURE)
    return both.loc[flip, FLIP_COLUMNS].reset_index(drop=True)


def version_flips(
    store: Store, info: DatasetInfo, segmentation: list[str], settings: Settings
) -> pd.DataFrame:
    """Class flips the latest batch made: the version it grew from against this one."""
    if len(info.files) < 2 or info.version < 2:
        return pd.DataFrame(columns=FLIP_COLUMNS)
    from cmot.results.moments import find_moments  # the full analysis, HC3 intervals included

    prev = store.get_dataset(info.name, info.version - 1)
    if prev.files != info.files[:-1]:
        return pd.DataFrame(columns=FLIP_COLUMNS)  # not the batch's starting version
    con = store.cursor()
    # Under the pages' key ("dataset", id, ""): the Overview's sums of the same unfiltered
    # view are reused rather than read again (cmot.ui.frame.ViewKey.cache_key).
    results = [
        find_moments(con, v.table, v.spec, segmentation, settings, cache_key=("dataset", v.id, ""))
        for v in (prev, info)
    ]
    return class_flips(results[0].moments, results[1].moments)


def flip_sentence(row: Any, period: str) -> str:
    who = "all respondents" if row.segment == ALL else row.segment
    return f"{row.touchpoint} is now {row.after} for {who} (it was {row.before}) after {period}."
