"""The Data page's mapping step, its sections after the outcome: layout, codes meaning no
answer, weight, the roles table and the bulk assignment, comment columns and their links,
segment labels and merges, scales, waves and the journey. Each draws its widgets and returns
what was chosen; the rules and tables behind them are `cmot.ingest.mapping_rules` and
`cmot.ingest.mapping_tables`, the state `cmot.ui.mapping_state`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import streamlit as st

from cmot.ingest.detect import Detection
from cmot.ingest.guesses import ROLES
from cmot.ingest.mapping_rules import (
    LAYOUT_NAMES,
    LAYOUTS,
    NO_WAVES,
    TABLE_ROLES,
    bulk_preview,
    missing_shown,
)
from cmot.ingest.mapping_tables import (
    JOURNEY_CELLS,
    apply_journey,
    first_link,
    group_scale,
    journey_rows,
    labels_from_table,
    link_name,
    link_options,
    pending_labels,
    roles_frame,
    scale_rows,
    scales_from_rows,
    scales_text,
    search_rows,
    segment_candidates,
    segment_groups,
    segment_labels_table,
    sibling_groups,
    wave_choices,
    wave_name,
)
from cmot.ingest.missing_codes import CodeProposal
from cmot.spec import CMOT_TAGS, JourneySpec
from cmot.text import escape_markdown
from cmot.ui.mapping_state import (
    MapFile,
    bump,
    column_counts,
    editor_key,
    fold_and_redraw,
    on_bulk,
    on_comments,
    on_layout,
    on_segment,
    roles_key,
)


def layout_section(state: dict[str, Any], det: Detection) -> None:
    """The layout read, its evidence, and the control to read the file the other way."""
    if not state.get("layout_set"):
        st.session_state["map_layout"] = det.layout
    st.radio(
        "Layout",
        LAYOUTS,
        key="map_layout",
        horizontal=True,
        on_change=on_layout,
        args=(state,),
        format_func=LAYOUT_NAMES.__getitem__,
        help="Long files are pivoted to one column per touchpoint before mapping.",
    )
    st.caption(f"Read as {escape_markdown(det.layout_reason or det.layout)}.")


def missing_section(
    proposals: Sequence[CodeProposal], missing: tuple[Any, ...] | None, det: Detection
) -> None:
    st.subheader("Codes that mean no answer")
    st.caption(
        "These never count as low or high scores, in the ratings and the outcome alike. "
        "Untick a proposal that is a real answer; add codes the file uses (numbers or text)."
    )
    # Labels, captions and alerts are Markdown: the file's codes and column names are data.
    for p in proposals:
        st.checkbox(escape_markdown(f"{p.code}: {p.evidence}"), key=f"map_code_{p.code}")
    if not proposals:
        st.caption("No codes beside the scale were found.")
    st.text_input(
        "Other codes meaning no answer (comma-separated, e.g. 99, N/A)",
        key="upload_missing",
    )
    st.caption(f"Treated as no answer: {escape_markdown(missing_shown(missing, det))}.")
    if det.spec is not None:
        st.caption(scales_text(det.spec))


def weight_section(candidates: Sequence[str], weight: str | None) -> str | None:
    """The weight offered, never applied unasked; returns the one ticked."""
    if not candidates:
        return None
    st.subheader("Weight")
    for c in candidates:
        st.checkbox(f"Weight results by {escape_markdown(c)}?", key=f"map_weight_{c}")
    ticked = [c for c in candidates if st.session_state.get(f"map_weight_{c}")]
    if len(ticked) > 1:
        st.warning(f"One weight only: results are weighted by {escape_markdown(ticked[0])}.")
    st.caption(
        f"Results are weighted by {escape_markdown(ticked[0])}."
        if ticked
        else "Results are unweighted."
    )
    return ticked[0] if ticked else None


def roles_section(
    state: dict[str, Any],
    det: Detection,
    columns: list[str],
    counts: Mapping[str, tuple[tuple[str, int], ...]],
) -> None:
    st.subheader("Columns")
    st.caption(
        f"{len(columns)} columns. Change a role where the guess is wrong; the question text is "
        "what pages show for a column."
    )
    frame = roles_frame(det, state["labels"], counts)
    st.text_input(
        "Search columns",
        key="map_search",
        placeholder="a name, a word of the question, a role, or a pattern such as q3_*",
        on_change=bump,
        args=(state,),
    )
    shown = search_rows(frame, str(st.session_state.get("map_search") or ""))
    state["shown"] = shown["column"].tolist()
    st.data_editor(
        shown,
        key=roles_key(state),
        hide_index=True,
        disabled=["column", "confidence", "reason", "values"],
        column_config={
            "role": st.column_config.SelectboxColumn(options=list(ROLES), required=True),
            "confidence": st.column_config.ProgressColumn(min_value=0.0, max_value=1.0),
            "question": st.column_config.TextColumn("question (display label)"),
            # Reasons are sentences: room for them, and the whole text on hover.
            "reason": st.column_config.TextColumn(width="large", help="why this role"),
        },
    )
    bulk_section(state, columns)


def bulk_section(state: dict[str, Any], columns: list[str]) -> None:
    """Columns picked or a name pattern, set to one role (`cmot.ingest.mapping_rules.bulk_apply`).
    Open for a wide file, and once used: Apply's message is inside, and a rerun that shifts
    the page would close it (a short file's analyst never saw what Apply did)."""
    opened = len(columns) >= 100 or bool(state.get("bulk_used"))
    with st.expander("Assign many columns at once", expanded=opened):
        st.multiselect("Columns", columns, key="map_bulk_cols")
        st.text_input(
            "…or a name pattern",
            key="map_bulk_pattern",
            placeholder="e.g. Q7*, q3_*, wave?",
            help="* any text, ? one character; everything else as written (brackets too)",
        )
        pattern = str(st.session_state.get("map_bulk_pattern") or "")
        state["bulk_previewed"] = pattern
        preview = bulk_preview(columns, pattern)
        if preview:
            st.caption(preview)
        st.session_state.setdefault("map_bulk_role", "touchpoint")
        st.selectbox("Role", TABLE_ROLES, key="map_bulk_role")
        st.button("Apply", key="map_bulk_apply", on_click=on_bulk, args=(state, columns))
        message = state.pop("bulk_message", None)
        if message:
            show = {"success": st.success, "info": st.info}.get(message[0], st.warning)
            show(escape_markdown(message[1]) if message[0] == "info" else message[1])


def comments_section(state: dict[str, Any], det: Detection, columns: list[str]) -> None:
    """Comment columns: the detected ones proposed, the analyst adds or removes them. They are
    kept as evidence beside the numbers (Moments page), never analysed as scores."""
    found = [g.column for g in det.columns if g.role == "comment"]
    state["comment_cols"] = found
    # The roles decide (this list, the table and a bulk assignment edit the same roles).
    st.session_state["map_comments"] = [c for c in found if c in columns]
    st.subheader("Comments")
    st.caption(
        "Free-text answers shown as evidence beside the numbers (what low and top raters "
        "wrote); never analysed as a score. Link a comment column to the touchpoint or stage "
        "it asks about; leave it general otherwise."
    )
    st.multiselect(
        "Comment columns",
        columns,
        key="map_comments",
        on_change=on_comments,
        args=(state,),
        placeholder="no comment column",
    )


def links_section(spec: JourneySpec) -> dict[str, str]:
    """One keyed selectbox per comment column: general, a touchpoint or a stage."""
    options = link_options(spec)
    links: dict[str, str] = {}
    for col in spec.comments:
        key = f"map_link_{col}"
        if st.session_state.get(key) not in options:
            st.session_state[key] = first_link(spec, col, options)
        links[col] = st.selectbox(
            f"{escape_markdown(repr(col))} is about",  # a label is Markdown
            options,
            key=key,
            format_func=lambda o: link_name(spec, o),
        )
    return links


def segments_section(
    state: dict[str, Any], det: Detection, base: Detection, f: MapFile
) -> dict[str, dict[str, str]]:
    """Value labels and merges per segment column; returns every column's edited labels."""
    values: dict[str, dict[str, str]] = state["values"]
    candidates = segment_candidates(det)
    if det.spec is not None:
        for col, mapping in det.spec.labels.items():
            values.setdefault(col, dict(mapping))
    if not candidates:
        return {k: v for k, v in values.items() if v}
    st.subheader("Segments")
    st.caption(
        "Label the codes of a segment column; give several codes the same label to merge "
        "them, and label `*` to gather every other code (e.g. Other)."
    )
    if st.session_state.get("map_seg_col") not in candidates:
        st.session_state["map_seg_col"] = candidates[0]
    col = st.selectbox(
        "Segment column",
        candidates,
        key="map_seg_col",
        on_change=on_segment,
        args=(state,),
        help="The column you pick here is the first segmentation the pages open on.",
    )
    counts = column_counts(base, f, col)
    seg_cols: list[str] = state.setdefault("seg_cols", [])
    if col not in seg_cols:
        seg_cols.append(col)
    key = editor_key(state, "map_labels", seg_cols.index(col))
    st.session_state["map_labels_key"] = key  # tests and pages find the current editor by it
    current = pending_labels(counts, values.get(col, {}), st.session_state.get(key))
    edited = st.data_editor(
        segment_labels_table(counts, current),
        key=key,
        hide_index=True,
        disabled=["code", "respondents"],
        column_config={"respondents": st.column_config.NumberColumn(format="%d")},
    )
    values[col] = labels_from_table(edited)
    none, groups = segment_groups(counts, values[col], det)
    said = f" ({escape_markdown(', '.join(none))}: no answer, no segment)" if none else ""
    st.caption(f"Segments of {escape_markdown(col)}:{said}")
    st.dataframe(groups, hide_index=True)
    return {k: v for k, v in values.items() if v}


def scales_section(state: dict[str, Any], spec: JourneySpec, det: Detection) -> JourneySpec:
    """Each touchpoint's scale with its evidence, editable per touchpoint or per group of
    sibling columns (named alike); a scale other than the survey's is the touchpoint's own."""
    kept: dict[str, tuple[int, int]] = state.setdefault("scales", {})
    s = spec.scale
    st.subheader("Scales")
    st.caption(
        f"The survey's scale is {s.min}-{s.max}, from the bulk of the rating columns; an "
        "answer outside it held by under 1% of a column is proposed as a code (above), not "
        "a wider scale. Change a touchpoint's scale here, or a group's below; answers "
        "outside a scale are set to missing and counted when saving."
    )
    # The grid's edits first: a group's scale set in the same run is the later word.
    key = _scales_key(state, kept, spec)
    groups = sorted(set(sibling_groups(spec.touchpoint_columns).values()))
    with st.form("map_scale_group_form", border=False):
        a, b, c, d = st.columns([3, 1, 1, 1])
        group = a.selectbox("Group", groups, key="map_scale_group")
        lo = b.number_input("from", value=s.min, step=1, key="map_scale_lo")
        hi = c.number_input("to", value=s.max, step=1, key="map_scale_hi")
        if d.form_submit_button("Set"):
            kept.update(group_scale(spec.touchpoint_columns, str(group), int(lo), int(hi)))
            key = _scales_key(state, kept, spec, fresh=True)
    state["scales_shown"] = list(spec.touchpoint_columns)
    edited = st.data_editor(
        scale_rows(spec, det, kept),
        key=key,
        hide_index=True,
        disabled=["touchpoint", "group", "codes", "evidence"],
        column_config={
            "from": st.column_config.NumberColumn(step=1),
            "to": st.column_config.NumberColumn(step=1),
        },
    )
    spec, edited_scales = scales_from_rows(spec, edited.to_dict("records"))
    kept.update(edited_scales)
    return spec


def _scales_key(
    state: dict[str, Any], kept: dict[str, tuple[int, int]], spec: JourneySpec, fresh: bool = False
) -> str:
    """The Scales grid's edits folded into `kept` (`fold_and_redraw`): a cell emptied keeps
    the scale it had; the grid's key now."""
    shown: list[str] = state.get("scales_shown", [])

    def fold(row: int, change: Mapping[str, Any]) -> None:
        if not 0 <= row < len(shown):
            return
        col = shown[row]
        own = spec.scale_of(col) if col in spec.touchpoint_columns else None
        lo, hi = kept.get(col, (own.min, own.max) if own is not None else (None, None))
        lo = change.get("from", lo) if change.get("from") is not None else lo
        hi = change.get("to", hi) if change.get("to") is not None else hi
        if lo is not None and hi is not None:
            kept[col] = (int(lo), int(hi))

    return fold_and_redraw(
        state, "scales", lambda gen: f"map_scales_{state['epoch']}_{gen}", fold, fresh=fresh
    )


def waves_section(spec: JourneySpec, det: Detection) -> JourneySpec:
    """The column confirmed as the survey's waves, or none (one wave): proposals with their
    evidence, never applied unasked (issue 23)."""
    proposed, options = wave_choices(spec, det)
    if st.session_state.get("map_waves", NO_WAVES) not in options:
        st.session_state["map_waves"] = NO_WAVES
    st.subheader("Waves")
    st.caption(
        "A survey is one wave unless you confirm the column that holds its waves (a wave, "
        "quarter or year column, or the date grouped by period): only then do the Overview "
        "and the Trends page compare waves."
    )
    for col, why in proposed:
        st.caption(f"Proposed: {escape_markdown(col)}, {escape_markdown(why)}.")
    pick = st.selectbox(
        "Waves from", options, key="map_waves", format_func=lambda c: wave_name(spec, c)
    )
    return spec.with_changes(wave_column=pick or None)


def journey_section(state: dict[str, Any], spec: JourneySpec) -> JourneySpec:
    """Stages and touchpoint order, labels and CMoT tags; edits kept per touchpoint."""
    kept: dict[str, dict[str, Any]] = state["journey"]
    cols = spec.touchpoint_columns
    if cols not in state["tp_sets"]:
        state["tp_sets"].append(cols)
    st.markdown(
        "**Journey**: give each touchpoint a stage and an order (stages follow their first "
        f"touchpoint), a label, and CMoT tags from: {', '.join(CMOT_TAGS)}."
    )
    shown: list[str] = state.get("journey_shown", [])

    def fold(row: int, change: Mapping[str, Any]) -> None:
        cells = {k: v for k, v in change.items() if k in JOURNEY_CELLS}
        if 0 <= row < len(shown) and cells:
            kept.setdefault(shown[row], {}).update(cells)

    def key_of(gen: int) -> str:
        key = editor_key(state, "map_journey", state["tp_sets"].index(cols))
        return f"{key}_{gen}" if gen else key

    key = fold_and_redraw(state, "journey", key_of, fold)
    state["journey_shown"] = list(cols)
    edited = st.data_editor(
        journey_rows(spec, kept), key=key, hide_index=True, disabled=["touchpoint"]
    )
    return apply_journey(spec, edited)
