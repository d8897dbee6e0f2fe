"""The Alerts page and the Overview's Alerts section: each alert in a sentence, its chart,
the respondents behind it; acknowledged by an analyst (cmot.feedback.alert_log)."""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from cmot.errors import CmotError
from cmot.feedback.alert_log import Watched, acknowledge, list_alerts, refresh, respondents
from cmot.feedback.alerts import share_series
from cmot.feedback.feed import ensure_demo_feed
from cmot.present.trend_charts import watch_chart
from cmot.store.datasets import Store
from cmot.store.versions import DatasetInfo
from cmot.text import escape_markdown
from cmot.ui.auth import is_analyst, require_analyst
from cmot.ui.state import show_dataset
from cmot.ui.widgets import chart


def _watched(store: Store, info: DatasetInfo) -> tuple[Watched | None, pd.DataFrame]:
    try:
        watched = refresh(store, info.name)
    except CmotError as e:
        st.info(escape_markdown(str(e)))
        return None, pd.DataFrame()
    return watched, list_alerts(store, info.name)


def alerts_section(store: Store, info: DatasetInfo | None) -> None:
    """The Overview's few lines: open alerts in sentences, a link to the Alerts page."""
    if info is None or info.external is not None or len(info.files) < 2:
        return  # nothing watched before a second batch
    watched, alerts = _watched(store, info)
    open_ = alerts[alerts["acknowledged_at"].isna()] if not alerts.empty else alerts
    if watched is None or open_.empty:
        return
    st.subheader("Alerts")
    for r in open_.head(3).itertuples():
        st.warning(escape_markdown(r.sentence), icon=":material/notification_important:")
    st.page_link("pages/alerts.py", label=f"All {len(open_)} open alert(s)")


def draw(store: Store, info: DatasetInfo | None) -> None:
    """The Alerts page's body."""
    st.title("Alerts")
    st.caption(
        "Each batch is compared with every batch before it, per segment and touchpoint: an "
        "alert when its share of low ratings, or what a low rating costs the outcome, "
        "worsened beyond chance (tested so that half a year of weekly batches raises a false "
        "alert at most 5% of the time; docs/METHODS.md, Watching the moments, has the "
        "method). The grey band is where the share stays when nothing changed."
    )
    if info is None or info.external is not None:
        st.info("Pick a stored dataset; alerts watch the batches added to it.")
        return
    watched, alerts = _watched(store, info)
    if watched is None:
        return
    if len(info.files) < 2:
        st.info("One batch so far: add a batch (Data page, or `python -m cmot append`).")
        _demo_button(store)
        return
    if alerts.empty:
        st.success(f"No alert: {len(watched.table):,} moments watched, none worsened.")
        return
    for r in alerts.itertuples():
        _one(store, watched, r)


def _one(store: Store, watched: Watched, r: Any) -> None:
    done = r.acknowledged_at if isinstance(r.acknowledged_at, str) else None
    head = ("✓ " if done else "") + str(r.sentence)
    with st.expander(escape_markdown(head), expanded=done is None):
        series = share_series(watched.table, str(r.segment), str(r.column_name))
        if not series.empty:
            title = f"{r.touchpoint}: {r.segment}"
            chart(watch_chart(series, title), key=f"alert_chart_{r.id}", name="alert")
        people = respondents(store, watched, r)
        st.caption(
            f"Respondents of that period and segment who rated it low ({len(people)}, at "
            "most 50), lowest outcome first; emails and phone numbers masked:"
        )
        st.dataframe(people, hide_index=True, key=f"alert_people_{r.id}")
        if done:
            st.caption(escape_markdown(f"Acknowledged by {r.acknowledged_by} at {done}."))
            return
        ack = is_analyst() and st.button("Acknowledge", key=f"alert_ack_{r.id}")
        if ack and require_analyst("acknowledge alerts"):
            acknowledge(store, int(r.id), _who())
            st.rerun()


def _who() -> str:
    user = getattr(st, "user", None)
    name = getattr(user, "email", None) or getattr(user, "name", None) if user else None
    return str(name or "analyst")


def _demo_button(store: Store) -> None:
    """The demo feed (8 weekly batches, one moment slipping from week 5), for analysts."""
    if not is_analyst():  # opening it saves a dataset to the shared store
        return
    label = "Open the demo feed (8 weekly batches)"
    if st.button(label, key="demo_feed", icon=":material/notifications:") and require_analyst(
        "open the demo feed (it saves a dataset)"
    ):
        with st.spinner("Adding eight weekly batches…"):
            info = ensure_demo_feed(store)
        show_dataset(info.name)
