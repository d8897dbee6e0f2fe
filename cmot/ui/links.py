"""The Data page's "Link datasets as waves": pick stored datasets in wave order, check and fix
the proposed column matches, name and save the link; the stored links, with delete."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from cmot.errors import CmotError
from cmot.store.datasets import Store
from cmot.text import escape_markdown
from cmot.ui.auth import is_analyst, require_analyst
from cmot.ui.frame import show_error
from cmot.waves.harmonise import columns_info, propose_matches

MATCH_COLUMNS = ["first-wave column", "other column", "how", "evidence"]


@st.cache_data(max_entries=32, show_spinner=False)
def proposed_matches(store_path: str, first_id: int, other_id: int) -> pd.DataFrame:
    """The proposals as a table, one row per first-wave column; dataset versions never change,
    so (store, ids) names the answer for good."""
    store = Store(store_path)
    matches = propose_matches(columns_info(store, first_id), columns_info(store, other_id))
    return pd.DataFrame(
        [[m.first_column, m.other_column or "", m.how, m.evidence] for m in matches],
        columns=MATCH_COLUMNS,
    )


def edited_mapping(table: pd.DataFrame) -> dict[str, str]:
    """The later wave's column -> the first wave's, from the edited table; CmotError when one
    column is chosen for two first-wave columns."""
    chosen = [
        (str(o), str(f))
        for f, o in zip(table[MATCH_COLUMNS[0]], table[MATCH_COLUMNS[1]], strict=True)
        if isinstance(o, str) and o
    ]
    others = [o for o, _ in chosen]
    twice = sorted({o for o in others if others.count(o) > 1})
    if twice:
        raise CmotError(
            f"{', '.join(twice)} is chosen for two first-wave columns; pick it for one only."
        )
    return dict(chosen)


def link_datasets(store: Store) -> None:
    """The expander: pick, check, fix, name, save; then the stored links."""
    with st.expander("Link datasets as waves", expanded=False):
        latest = {d.name: d for d in store.list_datasets()}
        st.caption(
            "Datasets of one survey asked again, each stored: pick them in wave order. Columns of "
            "each later wave are matched to the first wave's by name, question text or value "
            "distribution; check the matches, fix any, then save the link for the Trends page."
        )
        picked = st.multiselect("Datasets, in wave order", list(latest), key="link_pick")
        if len(picked) < 2:
            st.info("Pick two datasets or more, the first wave first: its column names are kept.")
        else:
            _propose_and_save(store, [latest[p].id for p in picked], picked)
        _stored_links(store)


def _propose_and_save(store: Store, ids: list[int], names: list[str]) -> None:
    mapping: dict[int, dict[str, str]] = {}
    problems = []
    for did, name in zip(ids[1:], names[1:], strict=True):
        proposed = proposed_matches(str(store.path), ids[0], did)
        found = int((proposed["other column"] != "").sum())
        # Dataset names are data: escaped wherever Markdown renders them.
        later, first = escape_markdown(name), escape_markdown(names[0])
        st.markdown(f"**{later}** -> **{first}**: {found} of {len(proposed)} columns matched")
        if not found:
            st.warning(
                f"No column of '{later}' matches '{first}' by name, question text or values: "
                "are they the same survey? Pick the matches in the table."
            )
        others = [""] + columns_info_names(store, did)
        table = st.data_editor(
            proposed,
            key=f"link_matches_{ids[0]}_{did}",
            hide_index=True,
            disabled=[MATCH_COLUMNS[0], "how", "evidence"],
            column_config={
                "other column": st.column_config.SelectboxColumn(
                    "other column", options=others, help="this wave's column; empty: none"
                )
            },
        )
        try:
            mapping[did] = {k: v for k, v in edited_mapping(table).items() if k != v}
        except CmotError as e:
            problems.append(str(e))
    for p in problems:
        st.error(p)
    if not is_analyst():
        return
    a, b = st.columns(2)
    link_name = a.text_input("Link name", key="link_name", placeholder="e.g. resident survey")
    labels = b.text_input("Wave labels", key="link_labels", placeholder=", ".join(names))
    if st.button(
        "Save link", key="link_save", disabled=bool(problems) or not link_name.strip()
    ) and require_analyst("link datasets"):
        wave_labels = [x.strip() for x in labels.split(",")] if labels.strip() else names
        try:
            store.save_link(link_name, ids, wave_labels, mapping)
        except CmotError as e:
            show_error(e)
        else:
            saved = f"Saved link {link_name.strip()!r}: {', '.join(wave_labels)}."
            st.success(escape_markdown(saved))


def columns_info_names(store: Store, dataset_id: int) -> list[str]:
    """A dataset's own columns (for the table's choices), from its file's schema."""
    info = store.get_dataset_by_id(dataset_id)
    rows = store.cursor().execute(f"DESCRIBE SELECT * FROM {info.table}").fetchall()
    return [str(r[0]) for r in rows if not str(r[0]).startswith("__cmot_")]


def _stored_links(store: Store) -> None:
    links = store.list_links()
    if links.empty:
        return
    st.dataframe(links.drop(columns="id"), key="links_table", hide_index=True)
    if not is_analyst():
        return
    a, b = st.columns(2)
    pick = a.selectbox("Link", list(links.name), key="link_delete_pick")
    if b.button("Delete link", key="link_delete") and require_analyst("delete links"):
        try:
            store.delete_link(pick)
        except CmotError as e:
            show_error(e)
        else:
            st.success(escape_markdown(f"Deleted link {pick!r}; its datasets stay."))
