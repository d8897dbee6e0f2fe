"""The Data page's list of stored datasets: rename, delete, download the journey spec."""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

import pandas as pd
import pyarrow as pa
import streamlit as st
from streamlit import dataframe_util

from cmot.errors import CmotError
from cmot.spec import dumps_spec
from cmot.store.datasets import Store
from cmot.text import escape_markdown
from cmot.ui.auth import is_analyst, require_analyst
from cmot.ui.frame import show_error, source_text
from cmot.ui.state import default_dataset, set_default_dataset, show_dataset
from cmot.ui.widgets import arrow_once

_LISTINGS: OrderedDict[tuple[tuple[object, ...], ...], pd.DataFrame] = OrderedDict()
_listings_lock = threading.Lock()


def listing(rows: list[dict[str, Any]]) -> pd.DataFrame | pa.Table:
    """The stored datasets' table as `st.dataframe` is given it: the frame Streamlit makes
    of these records, made and converted to Arrow once per listing (the same on most runs
    of the Data page; a save or a rename makes another). Drawn the same as the records
    (tests/app/test_run_cost.py)."""
    try:
        key = tuple(tuple(r.items()) for r in rows)
        hash(key)
    except TypeError:  # an unhashable value: made afresh, as before
        return dataframe_util.convert_anything_to_pandas_df(rows)
    with _listings_lock:
        frame = _LISTINGS.get(key)
        if frame is not None:
            _LISTINGS.move_to_end(key)
    if frame is None:
        frame = dataframe_util.convert_anything_to_pandas_df(rows)
        with _listings_lock:
            _LISTINGS[key] = frame
            while len(_LISTINGS) > 8:
                _LISTINGS.popitem(last=False)
    return arrow_once(frame)


def manage_datasets(store: Store) -> None:
    st.subheader("Stored datasets")
    versions = store.list_datasets(all_versions=True)
    rows = [
        {
            "name": d.name,
            "version": d.version,
            "respondents": d.rows_kept,
            "rows read": d.rows_read,
            "source": source_text(d),  # an external dataset's path: for analysts only
            "engine": f"{d.engine}, read in place" if d.external else d.engine,
            "created": d.created_at,
        }
        for d in versions
    ]
    st.dataframe(listing(rows), key="datasets_table", hide_index=True)
    latest = {d.name: d for d in store.list_datasets()}
    names = list(latest)
    if not names:
        return
    current = st.session_state.get("current_dataset")
    if current and current.name in names and st.session_state.get("ds_pick_for") != current.name:
        # A widget keeps its value over `index=` (in the browser too): set through its key,
        # the picker follows the sidebar's dataset when that changes (a save, a register,
        # a rename), and otherwise keeps what the user picked here.
        st.session_state["ds_pick"] = st.session_state["ds_pick_for"] = current.name
    pick = st.selectbox("Dataset", names, key="ds_pick")
    info = latest[pick]  # no second query: every store lookup costs CPU on each run
    a, b, c = st.columns(3)
    a.download_button(
        "Journey spec (TOML)",
        lambda: dumps_spec(info.spec),  # written on click only
        f"{info.name}.toml",
        "application/toml",
        key="ds_spec",
        icon=":material/download:",
        on_click="ignore",
    )
    opens = default_dataset(store, names)
    if not is_analyst():
        st.caption(f"A link without a dataset opens {escape_markdown(repr(opens))}.")
        return
    _default_control(store, pick, opens)
    new = b.text_input(
        "Rename to", key="ds_new_name", label_visibility="collapsed", placeholder="new name"
    )
    if b.button("Rename", key="ds_rename", disabled=not new.strip()) and require_analyst(
        "rename datasets"
    ):
        try:
            store.rename_dataset(pick, new)
        except CmotError as e:
            show_error(e)
        else:
            if pick == opens:  # the default follows its dataset's new name
                set_default_dataset(store, new.strip())
            show_dataset(new.strip())
    # A checkbox's label is Markdown: the dataset's name is data.
    sure = c.checkbox(f"Delete every version of {escape_markdown(repr(pick))}", key="ds_sure")
    if c.button("Delete", key="ds_delete", disabled=not sure, type="secondary") and require_analyst(
        "delete datasets"
    ):
        store.delete_dataset(pick)  # its saved segmentations go with it, in one transaction
        st.session_state.pop("ds_sure", None)
        rest = [n for n in names if n != pick]
        if rest:
            show_dataset(rest[0])
        st.rerun()


def _default_control(store: Store, pick: str, opens: str) -> None:
    """Which dataset a link without ?dataset= opens (the dashboard an executive is sent),
    and a button making the picked one that default (issue 28)."""
    d, e = st.columns([3, 1], vertical_alignment="center")
    d.caption(
        f"A link without a dataset (the dashboard's bare address) opens "
        f"{escape_markdown(repr(opens))}."
    )
    if e.button("Open by default", key="ds_default", disabled=pick == opens) and require_analyst(
        "choose the default dataset"
    ):
        set_default_dataset(store, pick)
        st.rerun()
