"""The Data page's mapping step: every column's role, the outcome, missing codes, weight,
segment labels and the journey, editable; it never dead-ends while the file parses.

This module runs the step (`mapping_step`): the detections, the outcome and its type, and
the check before Save. The sections after the outcome are `cmot.ui.mapping_sections`, the
per-file state and callbacks `cmot.ui.mapping_state`; what follows from a choice (roles,
kinds, codes, the bulk assignment, previews, the spec, the messages) is `cmot.ingest.mapping_rules`
and `cmot.ingest.mapping_tables`, without Streamlit. Widgets carry fixed keys (tests drive them by
key). What the analyst entered is kept per file (by content digest) in session state, so
switching between two uploads keeps both.

Detection runs once per change: the file's read and profile are kept by `cmot.store.intake`, the
detection per choice by `_detect` (Streamlit's cache), and the check before Save reuses the
detection of the choices on screen (`cmot.ingest.pipeline.validate(..., detection=)`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import streamlit as st

from cmot.errors import CmotError
from cmot.ingest.detect import Detection
from cmot.ingest.mapping_rules import (
    KIND_NAMES,
    KINDS,
    NO_OUTCOME,
    RANGE_HI,
    RANGE_LO,
    Choices,
    MappingResult,
    Start,
    comment_columns,
    confirmed_missing,
    default_kind,
    detection_problems,
    finalize_spec,
    id_outcome_warning,
    looks_like_an_id,
    named_columns,
    no_outcome_prompt,
    outcome_from_roles,
    outcome_kind,
    outcome_values,
    own_reasons,
    question_help,
    range_inputs,
    save_notes,
    scale_range,
    seeded_codes,
    user_set_columns,
    weight_candidates,
)
from cmot.ingest.mapping_tables import (
    comment_links_of,
)
from cmot.ingest.missing_codes import CodeProposal
from cmot.ingest.options import IngestOptions
from cmot.ingest.outcome_choice import outcome_choice, positive_choice
from cmot.ingest.pipeline import detect_roles, validate
from cmot.spec import JourneySpec, Outcome
from cmot.text import escape_markdown
from cmot.ui.mapping_sections import (
    comments_section,
    journey_section,
    layout_section,
    links_section,
    missing_section,
    roles_section,
    scales_section,
    segments_section,
    waves_section,
    weight_section,
)
from cmot.ui.mapping_state import (
    MapFile,
    bump,
    column_counts,
    counts_or_none,
    file_state,
    fold_roles,
    on_kind,
    on_outcome,
    seed_state,
    stash_widgets,
)
from cmot.ui.mapping_state import no_file as no_file  # the Data page's, re-exported

UPLOAD_TYPES = ["csv", "txt", "tsv", "sav", "xlsx"]


@st.cache_data(show_spinner=False, max_entries=32)
def _detect(digest: str, _data: bytes, name: str, choices: Choices) -> Detection:
    return detect_roles(_data, choices.options(), name)


def _detected(f: MapFile, choices: Choices) -> Detection:
    return _detect(f.digest, f.data, f.name, choices)


def _outcome_guess(base: Detection, f: MapFile, choices: Choices, kind: str) -> Outcome | None:
    """Detection's reading of the chosen outcome: from the first detection when it found
    this column; else, only for a yes/no outcome whose positive values are not yet chosen,
    from a detection with the column as the outcome (a scale needs no guess)."""
    if base.spec is not None and base.spec.outcome.column == choices.outcome:
        return base.spec.outcome
    if kind != "binary" or "map_positive" in st.session_state:
        return None
    try:
        det = _detected(f, replace(choices, outcome_kind="binary"))
    except CmotError:
        return None
    return det.spec.outcome if det.spec is not None else None


def mapping_step(data: bytes, name: str, start: Start | None = None) -> MappingResult:
    """Show the whole mapping for an uploaded file; return what Save would store. With
    `start`, the page opens on a stored version's mapping (Edit mapping).

    Raises CmotError only when the file itself cannot be read (then nothing can be mapped).
    """
    digest = start.key if start is not None else hashlib.sha256(data).hexdigest()
    state = file_state(digest)
    if start is not None and not state.get("seeded"):
        seed_state(state, start)
    fold_roles(state)  # the roles table's edits, folded in the run they cause
    f = MapFile(digest, data, name, st.session_state.get("map_sheet") or None)
    _outcome_roles(state)
    layout = _chosen_layout(state, f)
    base = _base_detection(state, f, layout)
    layout_section(state, base)
    columns = [g.column for g in base.columns]
    commented = comment_columns(state["roles"], base)
    if st.session_state.get("map_outcome") in commented:
        st.session_state["map_outcome"] = NO_OUTCOME
    _sheet_picker(base)
    outcome_col, detected = _outcome_pick(base, columns)
    proposals = base.proposals
    missing = _missing_choice(state, proposals)
    candidates = weight_candidates(base)
    weights = [c for c in candidates if st.session_state.get(f"map_weight_{c}")]
    plain = _base_choices(state, f.sheet, layout)
    choices = replace(
        plain,
        missing=missing,
        weight=weights[0] if weights else None,  # "none" at save: for detection, the same
        outcome=outcome_col or None,
    )
    outcome, choices = _outcome_section(state, base, f, choices, columns, commented, detected)
    problems: list[str] = []
    det = base
    if choices != plain:
        try:
            with st.spinner("Applying your choices…"):
                det = _detected(f, choices)
        except CmotError as e:
            problems.append(str(e))
    missing_section(proposals, missing, det)
    weight = weight_section(candidates, choices.weight)
    user_set = user_set_columns(
        state["roles"], weight, outcome_col, bool(state.get("outcome_chosen"))
    )
    roles_section(state, own_reasons(det, base, user_set), columns, counts_or_none(base, f))
    comments_section(state, det, [c for c in columns if c != outcome_col])
    value_labels = segments_section(state, det, base, f)
    spec = _spec_of(state, det, outcome, weight, value_labels, problems)
    if not outcome_col and spec is None:
        problems.append("Pick the outcome column (under Outcome) to save.")
    for problem in problems:
        st.info(problem)
    stash_widgets(digest)
    options = replace(choices, weight=weight or "none").options(spec, value_labels)
    if spec is not None and not problems:
        _before_save(f, options, det)
    return MappingResult(det, spec if not problems else None, options, tuple(problems))


def _outcome_roles(state: dict[str, Any]) -> None:
    """The outcome lives in its own picker: a column given the role "outcome" becomes the
    picked one, the picked one given another role is no longer it."""
    roles = state["roles"]
    kept, picked, changes = outcome_from_roles(roles, st.session_state.get("map_outcome"))
    if not changes:
        return
    if any(r == "outcome" for r in roles.values()):
        state["outcome_chosen"] = True
    state["roles"] = kept
    st.session_state["map_outcome"] = picked
    for _ in range(changes):
        bump(state)


def _base_choices(state: dict[str, Any], sheet: str | None, layout: str | None) -> Choices:
    return Choices(sheet=sheet, roles=tuple(sorted(state["roles"].items())), layout=layout)


def _base_detection(state: dict[str, Any], f: MapFile, layout: str | None) -> Detection:
    """Detection with the roles the analyst set, before any other choice: what the page
    proposes (outcome, codes, weight) and the reasons it shows."""
    with st.spinner("Detecting column roles…"):
        try:
            return _detected(f, _base_choices(state, f.sheet, layout))
        except CmotError:
            if not state["roles"]:
                raise  # the file itself cannot be read
            # Roles set for columns this sheet does not have: keep those that still fit.
            base = _detected(f, Choices(sheet=f.sheet, layout=layout))
            names = {g.column for g in base.columns}
            state["roles"] = {c: r for c, r in state["roles"].items() if c in names}
            if state["roles"]:
                base = _detected(f, _base_choices(state, f.sheet, layout))
            return base


def _sheet_picker(base: Detection) -> None:
    if len(base.sheets) > 1:
        if st.session_state.get("map_sheet") not in base.sheets:
            st.session_state["map_sheet"] = base.sheet or base.sheets[0]
        st.selectbox("Sheet", list(base.sheets), key="map_sheet")


def _outcome_pick(base: Detection, columns: Sequence[str]) -> tuple[str, bool]:
    """The outcome column picked (detection's until the analyst picks one; NO_OUTCOME for
    none) and whether detection found one."""
    detected = [g.column for g in base.columns if g.role == "outcome"]
    if st.session_state.get("map_outcome", NO_OUTCOME) not in [NO_OUTCOME, *columns]:
        del st.session_state["map_outcome"]
    st.session_state.setdefault("map_outcome", detected[0] if detected else NO_OUTCOME)
    return str(st.session_state["map_outcome"]), bool(detected)


def _missing_choice(
    state: dict[str, Any], proposals: Sequence[CodeProposal]
) -> tuple[Any, ...] | None:
    """The codes confirmed as no answer: the proposals ticked unless unticked (a stored
    mapping's codes ticked where it had them), plus those typed."""
    seeded = state.pop("seed_codes", None)
    if seeded is not None:
        ticks, typed = seeded_codes(proposals, seeded)
        st.session_state.update(ticks)
        st.session_state["upload_missing"] = typed
    for p in proposals:
        st.session_state.setdefault(f"map_code_{p.code}", p.applied)
    ticked = [bool(st.session_state.get(f"map_code_{p.code}")) for p in proposals]
    typed_text = str(st.session_state.get("upload_missing") or "")
    return confirmed_missing([p.code for p in proposals], ticked, typed_text)


def _outcome_section(
    state: dict[str, Any],
    base: Detection,
    f: MapFile,
    choices: Choices,
    columns: Sequence[str],
    commented: set[str],
    detected: bool,
) -> tuple[Outcome | None, Choices]:
    """The outcome picker, its type and positive values or range; the outcome as chosen and
    the choices with it."""
    outcome_col = choices.outcome or NO_OUTCOME
    st.subheader("Outcome")
    if not outcome_col:
        st.info(no_outcome_prompt(detected))
    named = named_columns(base)  # once: a search per option was quadratic in the columns
    st.selectbox(
        "Outcome column",
        [NO_OUTCOME, *(c for c in columns if c not in commented)],
        key="map_outcome",
        format_func=lambda c: "— pick the outcome —" if c == NO_OUTCOME else named.get(c, c),
        on_change=on_outcome,
        args=(state,),
        help=question_help(base, outcome_col),
    )
    if not outcome_col:
        return None, choices
    counts = column_counts(base, f, outcome_col)
    codes = choices.missing if choices.missing is not None else ()
    guessed = default_kind(counts, codes)
    guess = _outcome_guess(base, f, choices, st.session_state.get("map_kind", guessed))
    if "map_kind" not in st.session_state:
        st.session_state["map_kind"] = outcome_kind(guessed, guess)
    kind = st.selectbox(
        "Outcome type",
        KINDS,
        key="map_kind",
        on_change=on_kind,
        format_func=KIND_NAMES.__getitem__,
    )
    picked = outcome_choice(kind, *_outcome_values(state, kind, counts, codes, guess))
    if looks_like_an_id(base, outcome_col):
        st.warning(id_outcome_warning(outcome_col))
    return picked.outcome(outcome_col), choices.with_outcome(picked)


def _outcome_values(
    state: dict[str, Any],
    kind: str,
    counts: Sequence[tuple[str, int]],
    codes: Sequence[Any],
    guess: Outcome | None,
) -> tuple[tuple[str, ...] | None, tuple[float, float] | None]:
    """A yes/no outcome's positive values, or a scale's range, as the widgets hold them
    (recommend: 0-10, from `outcome_choice`)."""
    if kind == "binary":
        values = outcome_values(counts, codes)
        current = st.session_state.get("map_positive")
        st.session_state["map_positive"] = positive_choice(values, current, guess)
        picked = st.multiselect("Values that count as positive", values, key="map_positive")
        return tuple(picked), None
    if kind == "recommend":
        st.caption("Range 0-10: promoters 9-10, passives 7-8, detractors 0-6.")
        return None, None
    seen = scale_range(counts, codes)
    current = {k: st.session_state.get(k) for k in (RANGE_LO, RANGE_HI)}
    st.session_state.update(range_inputs(current, state.get("range_auto"), seen))
    state["range_auto"] = {RANGE_LO: float(seen[0]), RANGE_HI: float(seen[1])}
    lo_col, hi_col = st.columns(2)
    lo = lo_col.number_input("Scale from", key=RANGE_LO, step=1.0, format="%g")
    hi = hi_col.number_input("to", key=RANGE_HI, step=1.0, format="%g")
    return None, (float(lo), float(hi))


def _spec_of(
    state: dict[str, Any],
    det: Detection,
    outcome: Outcome | None,
    weight: str | None,
    value_labels: dict[str, dict[str, str]],
    problems: list[str],
) -> JourneySpec | None:
    """The spec Save would store, through the sections that edit it (scales, waves,
    journey, comment links); None with the reason in `problems` while it cannot be."""
    if det.spec is None:
        problems.extend(detection_problems(det, problems, outcome.column if outcome else ""))
        return None
    if outcome is None:
        problems.append("Pick the outcome column.")
        return None
    try:
        spec = finalize_spec(
            det.spec,
            outcome=outcome,
            weight=weight,
            display=state["labels"],
            value_labels=value_labels,
            segment=state.get("seg_chosen"),
        )
        spec = scales_section(state, spec, det)
        spec = waves_section(spec, det)
    except CmotError as e:
        problems.append(str(e))
        return None
    with st.expander("Journey: stages, order, labels, CMoT tags", expanded=False):
        try:
            spec = journey_section(state, spec)
        except CmotError as e:
            problems.append(str(e))
            return None
    if spec.comments:
        try:
            spec = spec.with_changes(comment_links=comment_links_of(spec, links_section(spec)))
        except CmotError as e:
            problems.append(str(e))
            return None
    return spec


def _chosen_layout(state: dict[str, Any], f: MapFile) -> str | None:
    """The layout the analyst set (None: as detected); one the file cannot be read as is
    said and dropped, so the page goes on as detected."""
    layout = st.session_state.get("map_layout") if state.get("layout_set") else None
    if layout is None:
        return None
    try:
        _detected(f, Choices(sheet=f.sheet, layout=layout))
    except CmotError as e:
        st.error(escape_markdown(f"Read as {layout}: {e}"))
        state["layout_set"] = False
        return None
    return str(layout)


def _before_save(f: MapFile, options: IngestOptions, det: Detection) -> None:
    """What Save would drop, said before it: over a tenth of the respondents is a warning
    with the count; a code declared missing inside the outcome's range, a caption."""
    with st.spinner("Checking what the mapping keeps…"):
        dropped, kept = _validation(f.digest, f.data, f.name, repr(options), options, det)
    if dropped:
        st.warning(escape_markdown(dropped[:1].upper() + dropped[1:]) + ".")
    if kept:
        st.caption(escape_markdown(kept[:1].upper() + kept[1:]) + ".")


@st.cache_data(show_spinner=False, max_entries=16)
def _validation(
    digest: str, _data: bytes, name: str, key: str, _options: IngestOptions, _det: Detection
) -> tuple[str, str]:
    """(the drop warning, the note on codes kept in the outcome) of the report Save would
    give for these options (`key` is their text); nothing when Save would refuse anyway.
    `_det`, the detection of these choices, is not detected again (its columns' types)."""
    try:
        report = validate(_data, _options, name, detection=_det)
    except CmotError:
        return "", ""  # Save says why
    return save_notes(report)
