"""The Data page's mapping step, its state: the upload being mapped (`MapFile`), the value
counts read for it, the analyst's entries kept per file in session state (widgets stashed and
restored on a switch of file), table editors' keys and the widgets' callbacks.

Table editors keep their edits as deltas on the frame they were given; in the run an edit
causes, `fold_and_redraw` folds them into the per-file state and the editor is drawn again
under a new key, from a frame rebuilt from that state. A programmatic change (a bulk
assignment, a new search, another outcome) gives the editor a new key too (`bump`), so that no
stale delta overrides it. What a callback's choice means is `cmot.ingest.mapping_rules`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import streamlit as st

from cmot.ingest.column_profiles import column_histograms
from cmot.ingest.detect import Detection
from cmot.ingest.mapping_rules import (
    NO_OUTCOME,
    RANGE_HI,
    RANGE_LO,
    Start,
    bulk_apply,
    comment_roles,
    counts_of,
    is_whole,
    seed_of,
    value_order,
    whole_number_column,
)
from cmot.ingest.mapping_tables import roles_edits
from cmot.ingest.options import IngestOptions
from cmot.ingest.read import open_raw

# ---- the widgets kept per file ---------------------------------------------------------------


FIXED_KEYS = (
    "map_sheet",
    "map_outcome",
    "map_kind",
    "map_positive",
    RANGE_LO,
    RANGE_HI,
    "map_search",
    "map_bulk_cols",
    "map_bulk_pattern",
    "map_bulk_role",
    "map_seg_col",
    "upload_missing",
    "map_comments",
    "map_layout",
    "map_waves",
)


DYNAMIC_PREFIXES = ("map_code_", "map_weight_", "map_link_")


@dataclass(frozen=True)
class MapFile:
    """The upload being mapped: its state's key (content digest, or a stored version's),
    bytes, name and the sheet picked."""

    digest: str
    data: bytes
    name: str
    sheet: str | None


# ---- value counts read for the file ----------------------------------------------------------


@st.cache_data(show_spinner=False, max_entries=16)
def value_counts(
    digest: str,
    _data: bytes,
    name: str,
    sheet: str | None,
    columns: tuple[tuple[str, bool], ...],
) -> dict[str, tuple[tuple[str, int], ...]]:
    """Each column's non-blank values and their counts (the 60 most frequent), by value:
    `cmot.ingest.column_profiles.column_histograms` over one read of the file."""
    with open_raw(_data, IngestOptions(sheet=sheet), name) as raw:
        present = [(c, whole) for c, whole in columns if c in raw.columns]
        found = column_histograms(raw.con, present)
    return {c: tuple(sorted(pairs, key=value_order)) for c, pairs in found.items()}


def column_counts(det: Detection, f: MapFile, column: str) -> tuple[tuple[str, int], ...]:
    """A column's value counts: detection counted every row of the columns with few values,
    so picking another outcome or segment costs nothing; a column with many values, or one
    detection left uncounted, is counted alone."""
    counted = counts_of(det, column)
    if counted is not None:
        return counted
    whole = whole_number_column(det, column)
    return value_counts(f.digest, f.data, f.name, f.sheet, ((column, whole),)).get(column, ())


def counts_or_none(base: Detection, f: MapFile) -> Mapping[str, tuple[tuple[str, int], ...]]:
    """Value counts for the look at each column, when detection gave no sample of its own."""
    if all(g.sample for g in base.columns):
        return {}
    if any(g.counts for g in base.columns):
        return {g.column: tuple(sorted(g.counts, key=value_order)) for g in base.columns}
    few = tuple((g.column, is_whole(g.dtype)) for g in base.columns if g.distinct <= 60)
    return value_counts(f.digest, f.data, f.name, f.sheet, few)


# ---- per-file state --------------------------------------------------------------------------


def widget_keys() -> list[str]:
    return [
        str(k)
        for k in list(st.session_state)
        if k in FIXED_KEYS or str(k).startswith(DYNAMIC_PREFIXES)
    ]


def stash_widgets(digest: str) -> None:
    """Keep this file's widget values, to restore them when the file comes back."""
    files: dict[str, dict[str, Any]] = st.session_state.get("_map_files", {})
    if digest in files:
        files[digest]["widgets"] = {k: st.session_state[k] for k in widget_keys()}


def no_file() -> None:
    """No upload on screen: the widgets go with it, so the next upload restores its own."""
    st.session_state.pop("_map_file", None)


def file_state(digest: str) -> dict[str, Any]:
    """This file's state; on a switch of file the widgets' values are stashed and restored."""
    files: dict[str, dict[str, Any]] = st.session_state.setdefault("_map_files", {})
    current = st.session_state.get("_map_file")
    if current != digest:
        keys = widget_keys()
        if current in files:
            stash_widgets(current)
        for k in keys:
            del st.session_state[k]
        if digest not in files:
            files[digest] = {
                "epoch": len(files),
                "roles": {},
                "labels": {},
                "values": {},
                "journey": {},
                "tp_sets": [],
                "widgets": {},
            }
        for k, v in files[digest]["widgets"].items():
            st.session_state[k] = v
        st.session_state["_map_file"] = digest
    return files[digest]


def editor_key(state: dict[str, Any], base: str, sub: int = 0) -> str:
    """A table editor's key: plain for the first file's first table, else numbered."""
    n = (state["epoch"], sub)
    return base if n == (0, 0) else f"{base}_{n[0]}_{n[1]}"


def fold_and_redraw(
    state: dict[str, Any],
    grid: str,
    key_of: Callable[[int], str],
    fold: Callable[[int, Mapping[str, Any]], None],
    *,
    fresh: bool = False,
) -> str:
    """Fold a table editor's edits into the file's state; the key to draw the editor under now.

    Each row edited in the editor drawn last (`state[grid + "_key"]`) goes to `fold` as its
    index in that editor's frame and its change (column: value); after any edit, or with
    `fresh` (a programmatic change that no stale edit may override), the generation
    `state[grid + "_gen"]` moves on and `key_of(generation)` is a new key. So the editor is
    drawn, in the run its edit causes, under a new key from a frame that holds the edits as
    plain values. Kept under its key, it would be handed a frame that already holds its own
    edit; the browser then resets the editor's edits and sends that reset with the next
    click, and the click's own rerun (Save's, say) is lost behind it.

    `st.session_state["map_" + grid + "_key"]` names the current editor (tests find it so).
    """
    drawn = state.get(f"{grid}_key")
    edits = st.session_state.get(drawn) if drawn else None
    rows = edits.get("edited_rows") if isinstance(edits, Mapping) else None
    for row, change in dict(rows or {}).items():
        fold(int(row), change)
    gen = int(state.get(f"{grid}_gen", 0)) + (1 if rows or fresh else 0)
    key = key_of(gen)
    state[f"{grid}_gen"], state[f"{grid}_key"] = gen, key
    st.session_state[f"map_{grid}_key"] = key
    return key


def fold_roles(state: dict[str, Any], fresh: bool = False) -> str:
    """Fold the roles table's edits (role, question text) into the file's state
    (`fold_and_redraw`); the table's key now."""

    def fold(row: int, change: Mapping[str, Any]) -> None:
        roles, labels = roles_edits({"edited_rows": {row: change}}, state.get("shown", []))
        state["roles"].update(roles)
        state["labels"].update(labels)

    return fold_and_redraw(
        state, "roles", lambda gen: editor_key(state, "map_roles", gen), fold, fresh=fresh
    )


def roles_key(state: dict[str, Any]) -> str:
    """The roles table's key now (its edits folded)."""
    return str(state.get("roles_key") or fold_roles(state))


def bump(state: dict[str, Any]) -> None:
    """A programmatic change of roles: fold the table's edits (unless done already), then
    give the table a fresh key so that no stale edit overrides the change."""
    fold_roles(state, fresh=True)


# ---- callbacks -------------------------------------------------------------------------------


def on_outcome(state: dict[str, Any]) -> None:
    for k in ("map_kind", "map_positive", RANGE_LO, RANGE_HI):
        st.session_state.pop(k, None)
    fold_roles(state)
    chosen = st.session_state.get("map_outcome")
    if chosen:
        state["roles"].pop(chosen, None)  # the picker decides this column's role now
    state["outcome_chosen"] = True  # the analyst's choice, no longer detection's guess
    bump(state)


def on_kind() -> None:
    for k in ("map_positive", RANGE_LO, RANGE_HI):
        st.session_state.pop(k, None)


def on_bulk(state: dict[str, Any], columns: list[str]) -> None:
    fold_roles(state)
    state["bulk_used"] = True
    done = bulk_apply(
        columns,
        list(st.session_state.get("map_bulk_cols") or []),
        str(st.session_state.get("map_bulk_pattern") or ""),
        state.get("bulk_previewed"),
        str(st.session_state.get("map_bulk_role") or "touchpoint"),
    )
    state["bulk_message"] = done.message
    state["bulk_previewed"] = done.previewed
    if not done.assigned:
        return
    state["roles"].update(done.assigned)
    if st.session_state.get("map_outcome") in done.assigned:
        st.session_state["map_outcome"] = NO_OUTCOME
    st.session_state["map_bulk_cols"] = []
    st.session_state["map_bulk_pattern"] = ""
    bump(state)


def on_comments(state: dict[str, Any]) -> None:
    """The comment columns were edited: their roles change (`comment_roles`) and the roles
    table gets a fresh key."""
    fold_roles(state)
    chosen = set(st.session_state.get("map_comments") or [])
    state["roles"].update(comment_roles(chosen, set(state.get("comment_cols", []))))
    if st.session_state.get("map_outcome") in chosen:
        st.session_state["map_outcome"] = NO_OUTCOME
    bump(state)


def seed_state(state: dict[str, Any], start: Start) -> None:
    """Fill a fresh per-file state and the widgets with a stored mapping's choices
    (`cmot.ingest.mapping_rules.seed_of`)."""
    seed = seed_of(start.spec, start.layout)
    state.update(seed.state)
    for k, v in seed.widgets.items():
        st.session_state[k] = v


def on_layout(state: dict[str, Any]) -> None:
    state["layout_set"] = True
    bump(state)


def on_segment(state: dict[str, Any]) -> None:
    """The analyst picked a segment column: the pages open on it once saved."""
    state["seg_chosen"] = st.session_state.get("map_seg_col")
