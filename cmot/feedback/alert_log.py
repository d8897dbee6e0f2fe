"""Alerts kept in the store: raised once by the version that found them, acknowledged by an
analyst; the closed-loop list of respondents behind one."""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pandas as pd

from cmot.feedback.alerts import (
    WatchSettings,
    find_alerts,
    flip_sentence,
    periods,
    sentence,
    version_flips,
    watch_table,
)
from cmot.names import ID_COL, ROW_COL, quote_ident
from cmot.settings import ALL, DEFAULT_POOLING, Settings
from cmot.store.datasets import Store
from cmot.store.versions import DatasetInfo
from cmot.text import mask_personal

ALERT_COLUMNS = [
    "id",
    "dataset",
    "dataset_id",
    "kind",
    "segment",
    "touchpoint",
    "column_name",
    "period",
    "position",
    "value",
    "baseline",
    "q",
    "sentence",
    "created_at",
    "acknowledged_at",
    "acknowledged_by",
]


@dataclass(frozen=True)
class Watched:
    """A dataset's watch: the table behind the charts and the alerts it raised now."""

    info: DatasetInfo
    segmentation: tuple[str, ...]
    by: str  # "batch", "week" or "month"
    table: pd.DataFrame  # cmot.feedback.alerts.WATCH_COLUMNS
    new: pd.DataFrame  # ALERT_COLUMNS: the alerts this look raised


def _now() -> str:
    return datetime.now(UTC).replace(tzinfo=None, microsecond=0).isoformat(sep=" ")


def default_segmentation(info: DatasetInfo) -> tuple[str, ...]:
    """The segment column watched: the spec's first segment column (none: All only)."""
    return tuple(info.spec.segments[:1])


# The looks this process made, per store, version, segmentation and settings: a version
# never changes, so the Overview's and the page's every run after the first costs nothing.
_LOOKED: OrderedDict[tuple[Any, ...], pd.DataFrame] = OrderedDict()
_LOOKED_SIZE = 16
_LOOKED_LOCK = threading.Lock()


def refresh(
    store: Store,
    name: str,
    ws: WatchSettings | None = None,
    segmentation: tuple[str, ...] | None = None,
) -> Watched:
    """Watch the latest version of `name` and keep the alerts not raised before."""
    ws = ws or WatchSettings()
    info = store.get_dataset(name)
    seg = default_segmentation(info) if segmentation is None else segmentation
    key = (str(store.path.resolve()), info.id, seg, ws)
    with _LOOKED_LOCK:
        table = _LOOKED.get(key)
    new_ids: list[int] = []
    if table is None:
        table, rows = _look(store, info, seg, ws)
        new_ids = _keep(store, rows)
        with _LOOKED_LOCK:
            _LOOKED[key] = table
            while len(_LOOKED) > _LOOKED_SIZE:
                _LOOKED.popitem(last=False)
    frame = list_alerts(store, name)
    new = frame[frame["id"].isin(new_ids)].reset_index(drop=True)
    return Watched(info, seg, ws.period, table, new)


def _look(
    store: Store, info: DatasetInfo, seg: tuple[str, ...], ws: WatchSettings
) -> tuple[pd.DataFrame, list[tuple[Any, ...]]]:
    """The watch table of one version and its alerts as rows of the alerts table."""
    found = periods(store, info, list(seg), ws)
    table = watch_table(info.spec, found, ws)
    alerts = find_alerts(table, ws)
    rows = [
        (
            info.name,
            info.id,
            r.measure,
            r.segment,
            r.touchpoint,
            r.column,
            r.period,
            int(r.position),
            float(r.value),
            float(r.baseline),
            float(r.q),
            sentence(r),
            _now(),
        )
        for r in alerts.itertuples()
    ]
    if ws.period == "batch":  # a flip is between the version before a batch and after it
        rows += _flip_rows(store, info, seg, len(found) - 1, found[-1].label if found else "")
    return table, rows


def _keep(store: Store, rows: list[tuple[Any, ...]]) -> list[int]:
    """Insert the alerts not raised before; the ids of the new ones."""
    if not rows:
        return []
    new_ids: list[int] = []
    with store.catalog.write() as con:
        for row in rows:
            got = con.execute(
                "INSERT INTO alerts (dataset, dataset_id, kind, segment, touchpoint, "
                "column_name, period, position, value, baseline, q, sentence, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT DO NOTHING RETURNING id",
                row,
            ).fetchall()
            new_ids += [int(g[0]) for g in got]
    return new_ids


def _flip_rows(
    store: Store, info: DatasetInfo, seg: tuple[str, ...], position: int, period: str
) -> list[tuple[Any, ...]]:
    """Class flips the latest batch made, as alert rows (kind "class flip")."""
    flips = version_flips(store, info, list(seg), Settings(pooling=DEFAULT_POOLING))
    return [
        (
            info.name,
            info.id,
            "class flip",
            f.segment,
            f.touchpoint,
            f.column,
            period,
            position,
            None,
            None,
            None,
            flip_sentence(f, period),
            _now(),
        )
        for f in flips.itertuples()
    ]


def list_alerts(store: Store, name: str, since: str | None = None) -> pd.DataFrame:
    """ALERT_COLUMNS of `name`'s alerts (created at or after `since`), newest first."""
    sql = f"SELECT {', '.join(ALERT_COLUMNS)} FROM alerts WHERE dataset = ?"
    params: list[Any] = [name]
    if since:
        sql += " AND created_at >= ?"
        params.append(since)
    rows = store.catalog.read(sql + " ORDER BY position DESC, id", params)
    return pd.DataFrame(rows, columns=ALERT_COLUMNS)


def acknowledge(store: Store, alert_id: int, who: str) -> None:
    """Mark one alert as seen by `who` (an analyst)."""
    with store.catalog.write() as con:
        con.execute(
            "UPDATE alerts SET acknowledged_at = ?, acknowledged_by = ? WHERE id = ? "
            "AND acknowledged_at IS NULL",
            (_now(), who, int(alert_id)),
        )


def respondents(store: Store, watched: Watched, alert: Any, limit: int = 50) -> pd.DataFrame:
    """The closed loop: respondents of the alert's batch and segment who rated its touchpoint
    low, with their comments (personal data masked), lowest outcome first."""
    info = watched.info
    spec = info.spec
    c = quote_ident(alert.column_name)
    low = spec.scale_of(alert.column_name).low_max
    where = [f"{c} <= ?"]
    params: list[Any] = [low]
    if alert.segment != ALL and watched.segmentation:
        where.append(f"CAST({quote_ident(watched.segmentation[0])} AS VARCHAR) = ?")
        params.append(alert.segment)
    parts = info.parts
    pos = int(alert.position)
    if watched.by == "batch" and parts and pos < len(parts):
        where.append(f"{quote_ident(ROW_COL)} >= ?")
        params.append(parts[pos].row_offset)
        if pos + 1 < len(parts):
            where.append(f"{quote_ident(ROW_COL)} < ?")
            params.append(parts[pos + 1].row_offset)
    if watched.by in ("week", "month") and spec.date_column and " of " in str(alert.period):
        day = f"TRY_CAST({quote_ident(spec.date_column)} AS DATE)"
        where.append(f"date_trunc('{watched.by}', {day}) = CAST(? AS DATE)")
        params.append(str(alert.period).rsplit(" of ", 1)[1])
    cols = [ID_COL, alert.column_name, "__cmot_y", *spec.comments]
    sql = (
        f"SELECT {', '.join(quote_ident(x) for x in cols)} FROM {info.table} "
        f"WHERE {' AND '.join(where)} ORDER BY __cmot_y, {quote_ident(ROW_COL)} LIMIT {limit}"
    )
    frame = store.cursor().execute(sql, params).df()
    frame = frame.rename(columns={ID_COL: "respondent", "__cmot_y": spec.outcome.column})
    for col in spec.comments:
        frame[col] = frame[col].map(lambda t: mask_personal(str(t)), na_action="ignore")
    return frame
