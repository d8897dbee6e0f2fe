"""The Data page's mapping step: every column's role, the outcome, missing codes, weight,
segment labels and the journey, editable; it never dead-ends while the file parses.

Widgets carry fixed keys (tests drive them by key). What the analyst entered is kept per
file (by content digest) in session state, so switching between two uploads keeps both.
Table editors keep their edits as deltas on the frame they were given; every run folds the
deltas into the per-file state and rebuilds the frame from it, and a programmatic change
(a bulk assignment, a new search, another outcome) gives the editor a new key so that no
stale delta overrides it.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import pandas as pd
import streamlit as st

from cmot.detect import ROLES, Detection, _stem, column_histograms
from cmot.errors import CmotError
from cmot.ingest import IngestOptions, detect_roles, validate
from cmot.options import parse_codes
from cmot.patterns import has_wildcard, match_columns, match_text, pattern_regex
from cmot.read import open_raw
from cmot.spec import (
    CMOT_TAGS,
    OTHER,
    Code,
    JourneySpec,
    Outcome,
    Stage,
    Touchpoint,
    default_scale,
)
from cmot.text import escape_markdown
from cmot.view import no_answer_values
from cmot.waves import MAX_WAVES, wave_candidates

UPLOAD_TYPES = ["csv", "txt", "tsv", "sav", "xlsx"]
KINDS: tuple[str, ...] = ("binary", "scale", "recommend")
KIND_NAMES = {
    "binary": "yes/no (which values are positive)",
    "scale": "a rating scale (its range)",
    "recommend": "0-10 likelihood to recommend (NPS groups)",
}
NO_OUTCOME = ""
NO_WAVES = ""  # the "Waves from" choice of a survey of one wave
# Roles the table and the bulk assignment offer; the outcome has its own picker.
TABLE_ROLES = tuple(r for r in ROLES if r != "outcome")
_FIXED_KEYS = (
    "map_sheet",
    "map_outcome",
    "map_kind",
    "map_positive",
    "map_range_lo",
    "map_range_hi",
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
_DYNAMIC_PREFIXES = ("map_code_", "map_weight_", "map_link_")
GENERAL = ""  # a comment column linked to no touchpoint or stage
STAGE = "stage: "


# ---- the analyst's choices ---------------------------------------------------------------


@dataclass(frozen=True)
class Choices:
    """What the analyst chose on the page; hashable, so it keys the detection cache."""

    sheet: str | None = None
    roles: tuple[tuple[str, str], ...] = ()
    missing: tuple[Code, ...] | None = None
    weight: str | None = None  # a column or "none"
    outcome: str | None = None
    outcome_kind: str | None = None
    positive: tuple[str, ...] | None = None
    outcome_range: tuple[float, float] | None = None
    layout: str | None = None  # "wide" or "long" as the analyst set it; None: detected

    def options(
        self,
        spec: JourneySpec | None = None,
        labels: Mapping[str, Mapping[str, str]] | None = None,
    ) -> IngestOptions:
        return IngestOptions(
            spec=spec,
            roles=dict(self.roles),
            missing=self.missing,
            outcome=self.outcome,
            outcome_kind=self.outcome_kind,
            positive=self.positive,
            outcome_range=self.outcome_range,
            weight=self.weight,
            sheet=self.sheet,
            layout=self.layout,
            # Trimmed codes, as ingest compares them: a blank code's label applies (issue 23).
            labels={c: {k.strip(): v for k, v in m.items()} for c, m in (labels or {}).items()},
        )


@dataclass(frozen=True)
class Start:
    """A stored version's mapping the step starts from (the Data page's Edit mapping): its
    choices fill the page once, as if the analyst had made them on this file."""

    key: str  # the per-file state's key, one per stored version (not the file's digest)
    spec: JourneySpec
    layout: str | None = None  # the layout it was read with


@dataclass(frozen=True)
class MappingResult:
    """The mapping on screen: the spec to save (None until valid) and the options behind it."""

    detection: Detection
    spec: JourneySpec | None
    options: IngestOptions
    problems: tuple[str, ...] = ()


# ---- pure helpers (no streamlit) -----------------------------------------------------------


def search_rows(frame: pd.DataFrame, query: str) -> pd.DataFrame:
    """Rows whose column name, question text, role or reason contains `query` (or matches it
    as a pattern when it holds * or ?, brackets literal); case-insensitive."""
    q = query.strip().lower()
    if not q:
        return frame
    text = (
        frame["column"].astype(str)
        + "\n"
        + frame["question"].astype(str)
        + "\n"
        + frame["role"].astype(str)
        + "\n"
        + frame["reason"].astype(str)
    ).str.lower()
    if has_wildcard(q):
        rx = pattern_regex(q, ignore_case=True)  # only * and ? are wildcards: `cmot.patterns`
        keep = frame["column"].astype(str).map(lambda c: rx.fullmatch(c) is not None)
    else:
        keep = text.str.contains(q, regex=False)
    return frame[keep.to_numpy()]


def confirmed_missing(
    proposed: Sequence[Code], ticked: Sequence[bool], extra: str
) -> tuple[Code, ...] | None:
    """The missing codes the analyst confirmed: ticked proposals plus the codes typed in.
    None when nothing was proposed or typed: detection then keeps its own defaults."""
    typed = parse_codes(extra) if extra.strip() else ()
    if not proposed and not typed:
        return None
    out: list[Code] = []
    for code in [*(c for c, t in zip(proposed, ticked, strict=True) if t), *typed]:
        if code not in out:
            out.append(code)
    return tuple(out)


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _is_missing(value: str, missing: Iterable[Code]) -> bool:
    for code in missing:
        if isinstance(code, int):
            x = _number(value)
            if x is not None and x == code:
                return True
        elif value.strip().lower() == str(code).strip().lower():
            return True
    return False


def observed_range(
    counts: Sequence[tuple[str, int]], missing: Iterable[Code] = ()
) -> tuple[float, float] | None:
    """Smallest and largest numeric value, leaving out missing codes and text markers."""
    codes = tuple(missing)
    nums = [x for v, _ in counts if not _is_missing(v, codes) and (x := _number(v)) is not None]
    return (min(nums), max(nums)) if nums else None


def default_kind(counts: Sequence[tuple[str, int]], missing: Iterable[Code] = ()) -> str:
    """Two values: binary; numbers within 0-10 reaching 10 from 0: recommend; numbers: scale."""
    codes = tuple(missing)
    values = [v for v, _ in counts if not _is_missing(v, codes)]
    if len(values) <= 2:
        return "binary"
    rng = observed_range(counts, codes)
    if rng is None:
        return "binary"
    if rng == (0.0, 10.0):
        return "recommend"
    return "scale"


def group_sizes(counts: Sequence[tuple[str, int]], labels: Mapping[str, str]) -> pd.DataFrame:
    """The segments that value labels and merges make: label, its codes and respondents,
    largest first. Codes without a label keep their own group unless `*` labels the rest."""
    groups: dict[str, tuple[list[str], int]] = {}
    for value, n in counts:
        label = labels.get(value) or labels.get(OTHER) or value
        codes, total = groups.get(label, ([], 0))
        groups[label] = ([*codes, value], total + n)
    rows = [{"segment": g, "codes": ", ".join(c), "respondents": n} for g, (c, n) in groups.items()]
    frame = pd.DataFrame(rows, columns=["segment", "codes", "respondents"])
    return frame.sort_values("respondents", ascending=False, kind="stable").reset_index(drop=True)


def labels_from_table(frame: pd.DataFrame) -> dict[str, str]:
    """code -> label from the value-label editor; blank labels are dropped."""
    out: dict[str, str] = {}
    for code, label in zip(frame["code"], frame["label"], strict=True):
        text = "" if label is None or (isinstance(label, float) and pd.isna(label)) else str(label)
        if text.strip():
            out[str(code)] = text.strip()
    return out


def finalize_spec(
    spec: JourneySpec,
    *,
    outcome: Outcome,
    weight: str | None,
    display: Mapping[str, str],
    value_labels: Mapping[str, Mapping[str, str]],
    segment: str | None = None,
) -> JourneySpec:
    """The detected spec with exactly what the page shows: the outcome as chosen, the weight
    only when ticked, question text as display labels and the segment labels and merges.
    `segment`, the segment column the analyst picked, comes first among the segments: the
    sidebar opens on it (issue 23)."""
    if outcome.kind == "binary" and not outcome.positive:
        raise CmotError(f"Pick which values of {outcome.column!r} count as positive.")
    if outcome.min is not None and outcome.max is not None and not outcome.min < outcome.max:
        raise CmotError(
            f"The outcome's range must go from a smaller to a larger value, got "
            f"{outcome.min:g}-{outcome.max:g}."
        )
    # An attribute whose codes the analyst labelled is meant to segment by.
    labelled = [c for c, m in value_labels.items() if m and c in spec.attributes]
    lists: dict[str, tuple[str, ...]] = {
        "attributes": spec.attributes,
        "segments": (*spec.segments, *(c for c in labelled if c not in spec.segments)),
        "ignored": spec.ignored,
    }
    if segment and segment in spec.attributes:
        lists["segments"] = (segment, *(c for c in lists["segments"] if c != segment))
    if weight:
        lists = {k: tuple(c for c in v if c != weight) for k, v in lists.items()}
    elif spec.weight_column:
        # A weight the analyst did not choose is kept out of the analysis, not applied.
        lists["ignored"] = (*lists["ignored"], spec.weight_column)
    tps = tuple(
        replace(t, label=(display.get(t.column) or t.label or "").strip()) for t in spec.touchpoints
    )
    tp_cols = {t.column for t in spec.touchpoints}
    column_labels = {k: v for k, v in spec.column_labels.items() if k not in tp_cols}
    column_labels.update(
        {c: v.strip() for c, v in display.items() if c not in tp_cols and v and v.strip()}
    )
    labels = {k: dict(v) for k, v in spec.labels.items()}
    for col, mapping in value_labels.items():
        if mapping:
            # Ingest compares a value's trimmed text with the code: a blank code (" ") is
            # labelled as "" so its label applies (issue 23: the cards had an empty title).
            labels[col] = {k.strip(): v for k, v in mapping.items()}
        else:
            labels.pop(col, None)
    return spec.with_changes(
        outcome=outcome,
        weight_column=weight or None,
        touchpoints=tps,
        column_labels=column_labels,
        labels=labels,
        **lists,
    )


def apply_journey(spec: JourneySpec, journey: pd.DataFrame) -> JourneySpec:
    """The spec with the edited stages, order, labels and tags."""
    j = journey.assign(order=pd.to_numeric(journey.order, errors="coerce")).sort_values(
        "order", kind="stable"
    )
    if (
        j.order.isna().any()
        or j.stage.isna().any()
        or (j.stage.astype(str).str.strip() == "").any()
    ):
        raise CmotError("Give every touchpoint a stage and a numeric order.")
    stages: dict[str, list[str]] = {}
    for r in j.itertuples():
        stages.setdefault(str(r.stage).strip(), []).append(str(r.touchpoint))
    touchpoints = tuple(
        Touchpoint(
            str(r.touchpoint),
            "" if r.label is None or pd.isna(r.label) else str(r.label).strip(),
            tuple(
                t.strip()
                for t in ("" if r.tags is None or pd.isna(r.tags) else str(r.tags)).split(",")
                if t.strip()
            ),
        )
        for r in j.itertuples()
    )
    return spec.with_changes(
        stages=tuple(Stage(n, tuple(c)) for n, c in stages.items()),
        touchpoints=touchpoints,
    )


# ---- cached reads ----------------------------------------------------------------------------


@st.cache_data(show_spinner=False, max_entries=32)
def _detect(digest: str, _data: bytes, name: str, choices: Choices) -> Detection:
    return detect_roles(_data, choices.options(), name)


@st.cache_data(show_spinner=False, max_entries=16)
def _value_counts(
    digest: str,
    _data: bytes,
    name: str,
    sheet: str | None,
    columns: tuple[tuple[str, bool], ...],
) -> dict[str, tuple[tuple[str, int], ...]]:
    """Each column's non-blank values and their counts (the 60 most frequent), by value:
    `cmot.detect.column_histograms` over one read of the file."""
    with open_raw(_data, IngestOptions(sheet=sheet), name) as raw:
        present = [(c, whole) for c, whole in columns if c in raw.columns]
        found = column_histograms(raw.con, present)
    return {c: tuple(sorted(pairs, key=_value_order)) for c, pairs in found.items()}


def _counts_of(
    det: Detection, digest: str, data: bytes, name: str, sheet: str | None, column: str
) -> tuple[tuple[str, int], ...]:
    """A column's value counts: detection counted every row of the columns with few values
    (`ColumnGuess.counts`), so picking another outcome or segment costs nothing; a column
    with many values, or one detection left uncounted, is counted alone."""
    g = next((g for g in det.columns if g.column == column), None)
    if g is not None and g.counts:
        return tuple(sorted(g.counts, key=_value_order))
    whole = _is_whole(g.dtype) if g is not None else False
    return _value_counts(digest, data, name, sheet, ((column, whole),)).get(column, ())


def _is_whole(dtype: str) -> bool:
    return re.fullmatch(r"U?(TINYINT|SMALLINT|INTEGER|BIGINT|HUGEINT)", dtype) is not None


def _outcome_guess(
    base: Detection, digest: str, data: bytes, name: str, choices: Choices, kind: str
) -> Outcome | None:
    """Detection's reading of the chosen outcome: from the first detection when it found
    this column; else, only for a yes/no outcome whose positive values are not yet chosen,
    from a detection with the column as the outcome (a scale needs no guess)."""
    if base.spec is not None and base.spec.outcome.column == choices.outcome:
        return base.spec.outcome
    if kind != "binary" or "map_positive" in st.session_state:
        return None
    try:
        det = _detect(digest, data, name, replace(choices, outcome_kind="binary"))
    except CmotError:
        return None
    return det.spec.outcome if det.spec is not None else None


def _value_order(item: tuple[str, int]) -> tuple[int, float, str]:
    x = _number(item[0])
    return (0, x, "") if x is not None else (1, 0.0, item[0])


# ---- per-file state ---------------------------------------------------------------------------


def _widget_keys() -> list[str]:
    return [
        str(k)
        for k in list(st.session_state)
        if k in _FIXED_KEYS or str(k).startswith(_DYNAMIC_PREFIXES)
    ]


def _stash(digest: str) -> None:
    """Keep this file's widget values, to restore them when the file comes back."""
    files: dict[str, dict[str, Any]] = st.session_state.get("_map_files", {})
    if digest in files:
        files[digest]["widgets"] = {k: st.session_state[k] for k in _widget_keys()}


def no_file() -> None:
    """No upload on screen: the widgets go with it, so the next upload restores its own."""
    st.session_state.pop("_map_file", None)


def _file_state(digest: str) -> dict[str, Any]:
    """This file's state; on a switch of file the widgets' values are stashed and restored."""
    files: dict[str, dict[str, Any]] = st.session_state.setdefault("_map_files", {})
    current = st.session_state.get("_map_file")
    if current != digest:
        keys = _widget_keys()
        if current in files:
            _stash(current)
        for k in keys:
            del st.session_state[k]
        if digest not in files:
            files[digest] = {
                "epoch": len(files),
                "gen": 0,
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


def _key(state: dict[str, Any], base: str, sub: int = 0) -> str:
    """A table editor's key: plain for the first file's first table, else numbered."""
    n = (state["epoch"], sub)
    return base if n == (0, 0) else f"{base}_{n[0]}_{n[1]}"


def _roles_key(state: dict[str, Any]) -> str:
    return _key(state, "map_roles", state["gen"])


def _bump(state: dict[str, Any], fold: bool = True) -> None:
    """A programmatic change of roles: fold the table's edits (unless done already), then
    give the table a fresh key so that no stale edit overrides the change."""
    if fold:
        _fold_roles(state)
    state["gen"] += 1
    st.session_state["map_roles_key"] = _roles_key(state)


def _fold_roles(state: dict[str, Any]) -> None:
    """Fold the roles table's edits (role, question text) into the file's state."""
    edits = st.session_state.get(_roles_key(state))
    shown: list[str] = state.get("shown", [])
    if not isinstance(edits, Mapping):
        return
    for i, change in dict(edits.get("edited_rows", {})).items():
        if int(i) >= len(shown):
            continue
        col = shown[int(i)]
        if change.get("role"):
            state["roles"][col] = str(change["role"])
        if "question" in change:
            state["labels"][col] = "" if change["question"] is None else str(change["question"])


def _on_outcome(state: dict[str, Any]) -> None:
    for k in ("map_kind", "map_positive", "map_range_lo", "map_range_hi"):
        st.session_state.pop(k, None)
    _fold_roles(state)
    chosen = st.session_state.get("map_outcome")
    if chosen:
        state["roles"].pop(chosen, None)  # the picker decides this column's role now
    state["outcome_chosen"] = True  # the analyst's choice, no longer detection's guess
    _bump(state, fold=False)


def _on_kind() -> None:
    for k in ("map_positive", "map_range_lo", "map_range_hi"):
        st.session_state.pop(k, None)


def _on_bulk(state: dict[str, Any], columns: list[str]) -> None:
    _fold_roles(state)
    state["bulk_used"] = True
    try:
        chosen = list(st.session_state.get("map_bulk_cols") or [])
        pattern = str(st.session_state.get("map_bulk_pattern") or "")
        if pattern.strip():
            if state.get("bulk_previewed") != pattern:
                # Typed and applied at once: show what it matches first, assign on the next
                # Apply (a pattern may mean something else than the analyst thinks).
                found = match_text(columns, pattern, names=_PREVIEW_NAMES)
                state["bulk_message"] = ("info", f"{found}. Apply again to set them.")
                state["bulk_previewed"] = pattern
                return
            chosen += [c for c in match_columns(columns, pattern) if c not in chosen]
        if not chosen:
            raise CmotError("Choose columns or type a name pattern such as Q7*, then Apply.")
    except CmotError as e:
        state["bulk_message"] = ("warning", str(e))
        return
    role = str(st.session_state.get("map_bulk_role") or "touchpoint")
    for c in chosen:
        state["roles"][c] = role
    if st.session_state.get("map_outcome") in chosen:
        st.session_state["map_outcome"] = NO_OUTCOME
    state["bulk_message"] = ("success", f"{len(chosen)} column(s) set to {role}.")
    st.session_state["map_bulk_cols"] = []
    st.session_state["map_bulk_pattern"] = ""
    _bump(state, fold=False)


def _on_comments(state: dict[str, Any]) -> None:
    """The comment columns were edited: added ones get the comment role, removed ones are
    ignored (free text is no score and no segment); the roles table gets a fresh key."""
    _fold_roles(state)
    chosen = set(st.session_state.get("map_comments") or [])
    was = set(state.get("comment_cols", []))
    for c in chosen - was:
        state["roles"][c] = "comment"
    for c in was - chosen:
        state["roles"][c] = "ignore"
    if st.session_state.get("map_outcome") in chosen:
        st.session_state["map_outcome"] = NO_OUTCOME
    _bump(state, fold=False)


def comment_links_of(spec: JourneySpec, links: Mapping[str, str]) -> dict[str, str]:
    """The spec's `comment_links` from the page's choices: a touchpoint column, "stage: NAME"
    or GENERAL per comment column; general ones and non-comment columns are left out."""
    out: dict[str, str] = {}
    for col, link in links.items():
        if col in spec.comments and link != GENERAL:
            out[col] = link.removeprefix(STAGE)
    return out


# ---- the mapping step ------------------------------------------------------------------------


def mapping_step(data: bytes, name: str, start: Start | None = None) -> MappingResult:
    """Show the whole mapping for an uploaded file; return what Save would store. With
    `start`, the page opens on a stored version's mapping (Edit mapping).

    Raises CmotError only when the file itself cannot be read (then nothing can be mapped).
    """
    digest = start.key if start is not None else hashlib.sha256(data).hexdigest()
    state = _file_state(digest)
    if start is not None and not state.get("seeded"):
        _seed(state, start)
    st.session_state["map_roles_key"] = _roles_key(state)
    _fold_roles(state)
    sheet = st.session_state.get("map_sheet") or None

    # What the analyst said about roles; the outcome lives in its own picker.
    outcome_pick = st.session_state.get("map_outcome")
    for col, role in list(state["roles"].items()):
        if role == "outcome":
            del state["roles"][col]
            st.session_state["map_outcome"] = outcome_pick = col
            state["outcome_chosen"] = True
            _bump(state, fold=False)
        elif col == outcome_pick:
            st.session_state["map_outcome"] = outcome_pick = NO_OUTCOME
            _bump(state, fold=False)
    roles = tuple(sorted(state["roles"].items()))
    layout = _chosen_layout(state, digest, data, name, sheet)

    with st.spinner("Detecting column roles…"):
        try:
            base = _detect(digest, data, name, Choices(sheet=sheet, roles=roles, layout=layout))
        except CmotError:
            if not roles:
                raise  # the file itself cannot be read
            # Roles set for columns this sheet does not have: keep those that still fit.
            base = _detect(digest, data, name, Choices(sheet=sheet, layout=layout))
            names = {g.column for g in base.columns}
            state["roles"] = {c: r for c, r in state["roles"].items() if c in names}
            roles = tuple(sorted(state["roles"].items()))
            if roles:
                base = _detect(digest, data, name, Choices(sheet=sheet, roles=roles, layout=layout))
    _layout_section(state, base)
    columns = [g.column for g in base.columns]
    # A comment column is free text: never offered as the outcome.
    commented = {c for c, r in state["roles"].items() if r == "comment"} | {
        g.column for g in base.columns if g.role == "comment" and g.column not in state["roles"]
    }
    if st.session_state.get("map_outcome") in commented:
        st.session_state["map_outcome"] = NO_OUTCOME

    if len(base.sheets) > 1:
        if st.session_state.get("map_sheet") not in base.sheets:
            st.session_state["map_sheet"] = base.sheet or base.sheets[0]
        st.selectbox("Sheet", list(base.sheets), key="map_sheet")

    # ---- outcome
    detected = [g.column for g in base.columns if g.role == "outcome"]
    if st.session_state.get("map_outcome", NO_OUTCOME) not in [NO_OUTCOME, *columns]:
        del st.session_state["map_outcome"]
    st.session_state.setdefault("map_outcome", detected[0] if detected else NO_OUTCOME)
    outcome_col: str = st.session_state["map_outcome"]

    # ---- missing codes: proposals from the detection, ticked unless unticked
    proposals = base.proposals
    seeded_codes = state.pop("seed_codes", None)
    if seeded_codes is not None:  # a stored mapping's codes: ticked where it had them
        for p in proposals:
            st.session_state[f"map_code_{p.code}"] = str(p.code) in seeded_codes
        said = {str(p.code) for p in proposals}
        st.session_state["upload_missing"] = ", ".join(
            sorted(c for c in seeded_codes if c not in said)
        )
    for p in proposals:
        st.session_state.setdefault(f"map_code_{p.code}", p.applied)
    ticked = [bool(st.session_state.get(f"map_code_{p.code}")) for p in proposals]
    missing = confirmed_missing(
        [p.code for p in proposals], ticked, str(st.session_state.get("upload_missing") or "")
    )
    # ---- weight: proposed, never applied unasked
    candidates = list(
        dict.fromkeys(
            [*base.weight_candidates, *(g.column for g in base.columns if g.role == "weight")]
        )
    )
    weights = [c for c in candidates if st.session_state.get(f"map_weight_{c}")]
    weight = weights[0] if weights else None
    choices = Choices(
        sheet=sheet,
        roles=roles,
        layout=layout,
        missing=missing,
        weight=weight,  # "none" at save: for detection, no weight is the same
        outcome=outcome_col or None,
    )
    problems: list[str] = []

    st.subheader("Outcome")
    if not outcome_col:
        st.info(
            ("No outcome is chosen." if detected else "No outcome was found.")
            + " Pick the column that measures the whole relationship (overall satisfaction, "
            "would recommend, renewed): the analysis explains it."
        )
    named = _named(base)  # once: a search per option was quadratic in the columns
    st.selectbox(
        "Outcome column",
        [NO_OUTCOME, *(c for c in columns if c not in commented)],
        key="map_outcome",
        format_func=lambda c: "— pick the outcome —" if c == NO_OUTCOME else named.get(c, c),
        on_change=_on_outcome,
        args=(state,),
        help=question_help(base, outcome_col),
    )
    outcome: Outcome | None = None
    if outcome_col:
        counts = _counts_of(base, digest, data, name, sheet, outcome_col)
        codes = missing if missing is not None else ()
        guessed = default_kind(counts, codes)
        detected_outcome = _outcome_guess(
            base, digest, data, name, choices, st.session_state.get("map_kind", guessed)
        )
        if "map_kind" not in st.session_state:
            # Numbers with a text marker are a scale, never a yes/no whose positive value is
            # the marker: detection's guess is taken only where the values allow it.
            if detected_outcome and (detected_outcome.kind != "binary" or guessed == "binary"):
                guessed = detected_outcome.kind
            st.session_state["map_kind"] = guessed
        kind = st.selectbox(
            "Outcome type",
            KINDS,
            key="map_kind",
            on_change=_on_kind,
            format_func=KIND_NAMES.__getitem__,
        )
        positive: tuple[str, ...] | None = None
        rng: tuple[float, float] | None = None
        if kind == "binary":
            # A code confirmed as no answer is never a positive value.
            values = [v for v, _ in counts if not _is_missing(v, codes)]
            if "map_positive" not in st.session_state:
                guess = detected_outcome.positive if detected_outcome else ()
                st.session_state["map_positive"] = [v for v in guess if v in values]
            else:
                kept = [v for v in st.session_state["map_positive"] if v in values]
                st.session_state["map_positive"] = kept
            picked = st.multiselect("Values that count as positive", values, key="map_positive")
            positive = tuple(picked)
        elif kind == "recommend":
            rng = (0.0, 10.0)
            st.caption("Range 0-10: promoters 9-10, passives 7-8, detractors 0-6.")
        else:
            seen = observed_range(counts, codes) or (1.0, 5.0)
            # The range follows the data (and the codes confirmed missing) until edited.
            auto = state.get("range_auto")
            for key, value in (("map_range_lo", seen[0]), ("map_range_hi", seen[1])):
                now = st.session_state.get(key)
                if now is None or (auto is not None and now == auto[key]):
                    st.session_state[key] = float(value)
            state["range_auto"] = {"map_range_lo": float(seen[0]), "map_range_hi": float(seen[1])}
            lo_col, hi_col = st.columns(2)
            lo = lo_col.number_input("Scale from", key="map_range_lo", step=1.0, format="%g")
            hi = hi_col.number_input("to", key="map_range_hi", step=1.0, format="%g")
            rng = (float(lo), float(hi))
        profile = next(g for g in base.columns if g.column == outcome_col)
        if base.rows >= 20 and profile.distinct >= 0.9 * base.rows:
            st.warning(
                f"{escape_markdown(repr(outcome_col))} has a different value for nearly every "
                "respondent: it looks "
                "like an id or a free number, not an outcome. Pick the overall rating or the "
                "yes/no that the journey is judged by."
            )
        outcome = Outcome(
            outcome_col,
            kind,  # type: ignore[arg-type]
            positive or (),
            rng[0] if rng else None,
            rng[1] if rng else None,
        )
        choices = replace(choices, outcome_kind=kind, positive=positive or None, outcome_range=rng)
    det = base
    if choices != Choices(sheet=sheet, roles=roles, layout=layout):
        try:
            with st.spinner("Applying your choices…"):
                det = _detect(digest, data, name, choices)
        except CmotError as e:
            problems.append(str(e))

    _missing_section(proposals, missing, det)
    weight = _weight_section(candidates, weight)
    # "set by you" only for what the analyst set: a detected outcome keeps its own reason.
    user_set = {*state["roles"], *([weight] if weight else [])}
    if state.get("outcome_chosen"):
        user_set.add(outcome_col)
    shown_det = own_reasons(det, base, user_set)
    _roles_section(state, shown_det, columns, _counts_or_none(base, digest, data, name, sheet))
    _comments_section(state, det, [c for c in columns if c != outcome_col])
    value_labels = _segments_section(state, det, base, digest, data, name, sheet)

    spec: JourneySpec | None = None
    if det.spec is None:
        # Without an outcome the prompt above says what to do; the detection's own words
        # about the missing outcome name command-line flags.
        problems.extend(
            p
            for p in det.problems
            if p not in problems and (outcome_col or "outcome" not in p.lower())
        )
    elif outcome is None:
        problems.append("Pick the outcome column.")
    else:
        try:
            spec = finalize_spec(
                det.spec,
                outcome=outcome,
                weight=weight,
                display=state["labels"],
                value_labels=value_labels,
                segment=state.get("seg_chosen"),
            )
        except CmotError as e:
            problems.append(str(e))
    if spec is not None:
        try:
            spec = _scales_section(state, spec, det)
            spec = _waves_section(spec, det)
        except CmotError as e:
            problems.append(str(e))
            spec = None
    if spec is not None:
        with st.expander("Journey: stages, order, labels, CMoT tags", expanded=False):
            try:
                spec = _journey_section(state, spec)
            except CmotError as e:
                problems.append(str(e))
                spec = None
    if spec is not None and spec.comments:
        try:
            spec = spec.with_changes(comment_links=comment_links_of(spec, _links_section(spec)))
        except CmotError as e:
            problems.append(str(e))
            spec = None
    if not outcome_col and spec is None:
        problems.append("Pick the outcome column (under Outcome) to save.")
    for problem in problems:
        st.info(problem)
    _stash(digest)
    options = replace(choices, weight=weight or "none").options(spec, value_labels)
    if spec is not None and not problems:
        _before_save(digest, data, name, options)
    return MappingResult(det, spec if not problems else None, options, tuple(problems))


def _seed(state: dict[str, Any], start: Start) -> None:
    """Fill a fresh per-file state and the widgets with a stored mapping's choices: roles,
    outcome, weight, codes (ticked once the proposals are known), question texts, segment
    labels and merges, journey order, touchpoint scales, waves and layout."""
    spec = start.spec
    roles: dict[str, str] = {c: "touchpoint" for c in spec.touchpoint_columns}
    roles.update({c: "attribute" for c in (*spec.segments, *spec.attributes)})
    roles.update({c: "ignore" for c in spec.ignored})
    roles.update({c: "comment" for c in spec.comments})
    for role, col in (("id", spec.id_column), ("date", spec.date_column)):
        if col:
            roles[col] = role
    if spec.weight_column:
        roles[spec.weight_column] = "weight"
        st.session_state[f"map_weight_{spec.weight_column}"] = True
    state["roles"] = roles
    o = spec.outcome
    st.session_state["map_outcome"] = o.column
    state["outcome_chosen"] = True
    st.session_state["map_kind"] = o.kind
    if o.kind == "binary":
        st.session_state["map_positive"] = list(o.positive)
    elif o.kind == "scale" and o.min is not None and o.max is not None:
        st.session_state["map_range_lo"], st.session_state["map_range_hi"] = o.min, o.max
    state["labels"] = {
        **{t.column: t.label for t in spec.touchpoints if t.label},
        **dict(spec.column_labels),
    }
    state["values"] = {c: dict(m) for c, m in spec.labels.items()}
    if spec.segments:
        state["seg_chosen"] = st.session_state["map_seg_col"] = spec.segments[0]
    state["journey"] = {
        c: {"stage": spec.stage_of(c), "order": i + 1, "tags": ", ".join(spec.touchpoint(c).tags)}
        for i, c in enumerate(spec.touchpoint_columns)
    }
    state["scales"] = {c: (s.min, s.max) for c, s in spec.scales.items()}
    codes = [*spec.scale.missing, *(v for vs in spec.missing.values() for v in vs)]
    state["seed_codes"] = {str(c) for c in codes}
    st.session_state["map_waves"] = spec.wave_column or ""
    if start.layout in ("wide", "long"):
        st.session_state["map_layout"] = start.layout
        state["layout_set"] = True
    state["seeded"] = True


LAYOUTS = ("wide", "long")


def _chosen_layout(
    state: dict[str, Any], digest: str, data: bytes, name: str, sheet: str | None
) -> str | None:
    """The layout the analyst set (None: as detected); one the file cannot be read as is
    said and dropped, so the page goes on as detected."""
    layout = st.session_state.get("map_layout") if state.get("layout_set") else None
    if layout is None:
        return None
    try:
        _detect(digest, data, name, Choices(sheet=sheet, layout=layout))
    except CmotError as e:
        st.error(escape_markdown(f"Read as {layout}: {e}"))
        state["layout_set"] = False
        return None
    return str(layout)


def _on_layout(state: dict[str, Any]) -> None:
    state["layout_set"] = True
    _bump(state)


def _layout_section(state: dict[str, Any], det: Detection) -> None:
    """The layout read, its evidence, and the control to read the file the other way."""
    if not state.get("layout_set"):
        st.session_state["map_layout"] = det.layout
    st.radio(
        "Layout",
        LAYOUTS,
        key="map_layout",
        horizontal=True,
        on_change=_on_layout,
        args=(state,),
        format_func=lambda v: {
            "wide": "wide (one row per respondent)",
            "long": "long (one row per respondent and touchpoint)",
        }[v],
        help="Long files are pivoted to one column per touchpoint before mapping.",
    )
    st.caption(f"Read as {escape_markdown(det.layout_reason or det.layout)}.")


def _scale_evidence(det: Detection, column: str) -> str:
    """Why a touchpoint's scale is what it is: its values, and any stray answer's evidence."""
    guess = next((g for g in det.columns if g.column == column), None)
    parts = []
    if guess is not None:
        # A role the analyst set ("set by you") says nothing of the scale: its values do.
        seen = guess.sample or (look(guess.counts) if guess.counts else "")
        own = guess.reason == "set by you" and seen
        parts.append(f"touchpoint set by you; values {seen}" if own else guess.reason)
    parts += [
        f"{p.code}: {p.evidence}"
        for p in det.proposals
        if column in p.columns and "stray answer" in p.evidence
    ]
    return "; ".join(parts)


def _scales_section(state: dict[str, Any], spec: JourneySpec, det: Detection) -> JourneySpec:
    """Each touchpoint's scale with its evidence, editable per touchpoint or per group of
    sibling columns (named alike); a scale other than the survey's is the touchpoint's own."""
    kept: dict[str, tuple[int, int]] = state.setdefault("scales", {})
    cols = spec.touchpoint_columns
    groups = {c: _stem(c) for c in cols}
    st.subheader("Scales")
    s = spec.scale
    st.caption(
        f"The survey's scale is {s.min}-{s.max}, from the bulk of the rating columns; an "
        "answer outside it held by under 1% of a column is proposed as a code (above), not "
        "a wider scale. Change a touchpoint's scale here, or a group's below; answers "
        "outside a scale are set to missing and counted when saving."
    )
    with st.form("map_scale_group_form", border=False):
        a, b, c, d = st.columns([3, 1, 1, 1])
        group = a.selectbox("Group", sorted(set(groups.values())), key="map_scale_group")
        lo = b.number_input("from", value=s.min, step=1, key="map_scale_lo")
        hi = c.number_input("to", value=s.max, step=1, key="map_scale_hi")
        if d.form_submit_button("Set"):
            for col, g in groups.items():
                if g == group:
                    kept[col] = (int(lo), int(hi))
            state["scales_gen"] = state.get("scales_gen", 0) + 1
    rows = []
    for col in cols:
        own = spec.scale_of(col)
        lo_, hi_ = kept.get(col, (own.min, own.max))
        rows.append(
            {
                "touchpoint": col,
                "group": groups[col],
                "from": lo_,
                "to": hi_,
                "codes": ", ".join(map(str, spec.missing_codes(col))),
                "evidence": _scale_evidence(det, col),
            }
        )
    frame = pd.DataFrame(rows)
    key = f"map_scales_{state['epoch']}_{state.get('scales_gen', 0)}"
    st.session_state["map_scales_key"] = key  # tests find the current editor by it
    edited = st.data_editor(
        frame,
        key=key,
        hide_index=True,
        disabled=["touchpoint", "group", "codes", "evidence"],
        column_config={
            "from": st.column_config.NumberColumn(step=1),
            "to": st.column_config.NumberColumn(step=1),
        },
    )
    scales = dict(spec.scales)
    for r in edited.to_dict("records"):
        col, lo_, hi_ = str(r["touchpoint"]), int(r["from"]), int(r["to"])
        kept[col] = (lo_, hi_)
        own = spec.scale_of(col)
        if (lo_, hi_) == (s.min, s.max):
            scales.pop(col, None)
        elif (lo_, hi_) != (own.min, own.max) or col in scales:
            # Codes inside the touchpoint's own range are answers there.
            codes = tuple(m for m in own.missing if not (isinstance(m, int) and lo_ <= m <= hi_))
            scales[col] = default_scale(lo_, hi_, codes)
    return spec.with_changes(scales=scales)


def _waves_section(spec: JourneySpec, det: Detection) -> JourneySpec:
    """The column confirmed as the survey's waves, or none (one wave): proposals with their
    evidence, never applied unasked (issue 23)."""
    values = {g.column: [v for v, _ in g.counts] for g in det.columns}
    proposed = wave_candidates(spec, values)
    skip = {spec.outcome.column, spec.weight_column, *spec.touchpoint_columns}
    others = [
        c
        for c in dict.fromkeys((*spec.segments, *spec.attributes))
        if c not in skip and 2 <= len(values.get(c, ())) <= MAX_WAVES
    ]
    options = list(
        dict.fromkeys(
            [NO_WAVES, *(c for c, _ in proposed), *([spec.date_column] if spec.date_column else [])]
            + others
        )
    )
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
        "Waves from",
        options,
        key="map_waves",
        format_func=lambda c: (
            "none: one wave"
            if c == NO_WAVES
            else f"{c} (the date, by period)"
            if c == spec.date_column
            else c
        ),
    )
    return spec.with_changes(wave_column=pick or None)


def _before_save(digest: str, data: bytes, name: str, options: IngestOptions) -> None:
    """What Save would drop, said before it: over a tenth of the respondents is a warning
    with the count; a code declared missing inside the outcome's range, a caption."""
    with st.spinner("Checking what the mapping keeps…"):
        dropped, kept = _validation(digest, data, name, repr(options), options)
    if dropped:
        st.warning(escape_markdown(dropped[:1].upper() + dropped[1:]) + ".")
    if kept:
        st.caption(escape_markdown(kept[:1].upper() + kept[1:]) + ".")


@st.cache_data(show_spinner=False, max_entries=16)
def _validation(
    digest: str, _data: bytes, name: str, key: str, _options: IngestOptions
) -> tuple[str, str]:
    """(the drop warning, the note on codes kept in the outcome) of the report Save would
    give for these options (`key` is their text); nothing when Save would refuse anyway."""
    try:
        report = validate(_data, _options, name)
    except CmotError:
        return "", ""  # Save says why
    kept = next((n for n in report.notes if "kept as answers in" in n), "")
    return report.drop_warning, kept


def _named(det: Detection) -> dict[str, str]:
    """Columns with question text, as the outcome picker names them."""
    return {
        g.column: f"{g.column}: {short_label(g.label)}"
        for g in reversed(det.columns)  # the first of a repeated name wins, as a search did
        if g.label and g.label != g.column
    }


def short_label(text: str, width: int = 60) -> str:
    """A question text cut to about `width` characters, keeping its end: survey exports
    repeat a long stem before what tells items apart ("Overall quality of … - Parks"), so
    three outcome candidates no longer read alike."""
    if len(text) <= width:
        return text
    tail = max(12, width // 2 - 2)
    return f"{text[: width - tail - 1].rstrip()}…{text[-tail:].lstrip()}"


def question_help(det: Detection, column: str) -> str:
    """The chosen column's full question text, for a picker whose options are cut."""
    base = "The column that measures the whole relationship; the analysis explains it."
    g = next((g for g in det.columns if g.column == column), None)
    if g is None or not column:
        return base
    text = g.label if g.label and g.label != column else "(no question text)"
    return f"{base}\n\n**{escape_markdown(column)}**: {escape_markdown(text)}"


def own_reasons(det: Detection, base: Detection, user_set: Collection[str]) -> Detection:
    """`det` with "set by you" only on the columns the analyst set: a role detection gave
    on its own (the detected outcome kept in the picker) shows detection's confidence and
    reason, from `base`, the detection before any choice."""
    before = {g.column: g for g in base.columns}
    cols = tuple(
        replace(g, confidence=before[g.column].confidence, reason=before[g.column].reason)
        if g.reason == "set by you" and g.column not in user_set and g.column in before
        else g
        for g in det.columns
    )
    return replace(det, columns=cols)


def _missing_section(
    proposals: Sequence[Any], missing: tuple[Code, ...] | None, det: Detection
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
    if missing is not None:
        shown = ", ".join(str(c) for c in missing) or "none"
    elif det.spec is not None:
        shown = ", ".join(str(c) for c in det.spec.scale.missing) or "none"
        shown += " (detected)"
    else:
        shown = "none"
    st.caption(f"Treated as no answer: {escape_markdown(shown)}.")
    if det.spec is not None:
        st.caption(scales_text(det.spec))


def scales_text(spec: JourneySpec) -> str:
    """How the touchpoints are read: each scale, its boxes and how many touchpoints use it,
    so a scale stretched by a code (1-9 where 9 means don't know) is seen before saving."""
    groups: dict[tuple[int, int, int, int], int] = {}
    for c in spec.touchpoint_columns:
        s = spec.scale_of(c)
        key = (s.min, s.max, s.low_max, s.high_min)
        groups[key] = groups.get(key, 0) + 1
    parts = [
        f"{n} touchpoint(s) rated {lo}-{hi} (low {lo}-{low}, high {high}-{hi})"
        for (lo, hi, low, high), n in groups.items()
    ]
    return "Ratings: " + "; ".join(parts) + "."


def _weight_section(candidates: Sequence[str], weight: str | None) -> str | None:
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


def _counts_or_none(
    base: Detection, digest: str, data: bytes, name: str, sheet: str | None
) -> Mapping[str, tuple[tuple[str, int], ...]]:
    """Value counts for the look at each column, when detection gave no sample of its own."""
    if all(g.sample for g in base.columns):
        return {}
    if any(g.counts for g in base.columns):
        return {g.column: tuple(sorted(g.counts, key=_value_order)) for g in base.columns}
    few = tuple((g.column, _is_whole(g.dtype)) for g in base.columns if g.distinct <= 60)
    return _value_counts(digest, data, name, sheet, few)


def look(counts: Sequence[tuple[str, int]], limit: int = 8) -> str:
    """'1 (12%), 2 (30%), … 9 (20%)': the values and their shares, most frequent first when
    there are more than `limit`."""
    total = sum(n for _, n in counts) or 1
    shown = list(counts)
    if len(shown) > limit:
        keep = {v for v, _ in sorted(shown, key=lambda p: -p[1])[:limit]}
        shown = [p for p in shown if p[0] in keep]
    text = ", ".join(f"{v} ({100 * n / total:.0f}%)" for v, n in shown)
    return text + (", …" if len(counts) > limit else "")


def _roles_section(
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
    frame = pd.DataFrame(
        [
            {
                "column": g.column,
                "role": "outcome" if g.role == "outcome" else g.role,
                "confidence": g.confidence,
                "reason": g.reason,
                "values": g.sample
                or (look(counts[g.column]) if counts.get(g.column) else "")
                or f"{g.distinct:,} distinct values, {g.nulls:,} blank",
                "question": state["labels"].get(g.column, g.label or ""),
            }
            for g in det.columns
        ]
    )
    st.text_input(
        "Search columns",
        key="map_search",
        placeholder="a name, a word of the question, a role, or a pattern such as q3_*",
        on_change=_bump,
        args=(state,),
    )
    shown = search_rows(frame, str(st.session_state.get("map_search") or ""))
    state["shown"] = shown["column"].tolist()
    st.data_editor(
        shown,
        key=_roles_key(state),
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
    # Open for a wide file, and once used: Apply's message is inside, and a rerun that
    # shifts the page would close it (a short file's analyst never saw what Apply did).
    opened = len(columns) >= 100 or bool(state.get("bulk_used"))
    with st.expander("Assign many columns at once", expanded=opened):
        st.multiselect("Columns", columns, key="map_bulk_cols")
        st.text_input(
            "…or a name pattern",
            key="map_bulk_pattern",
            placeholder="e.g. Q7*, q3_*, wave?",
            help="* any text, ? one character; everything else as written (brackets too)",
        )
        _bulk_preview(state, columns)
        st.session_state.setdefault("map_bulk_role", "touchpoint")
        st.selectbox("Role", TABLE_ROLES, key="map_bulk_role")
        st.button("Apply", key="map_bulk_apply", on_click=_on_bulk, args=(state, columns))
        message = state.pop("bulk_message", None)
        if message:
            show = {"success": st.success, "info": st.info}.get(message[0], st.warning)
            show(escape_markdown(message[1]) if message[0] == "info" else message[1])


# Names a pattern's preview lists before it shortens to "first … last".
_PREVIEW_NAMES = 30


def _bulk_preview(state: dict[str, Any], columns: list[str]) -> None:
    """What the typed pattern matches (count and names), shown before Apply assigns it."""
    pattern = str(st.session_state.get("map_bulk_pattern") or "")
    state["bulk_previewed"] = pattern
    if not pattern.strip():
        return
    try:
        found = match_text(columns, pattern, names=_PREVIEW_NAMES)
    except CmotError as e:
        st.caption(escape_markdown(str(e)))
        return
    st.caption(f"Apply sets {escape_markdown(found)}.")


def _comments_section(state: dict[str, Any], det: Detection, columns: list[str]) -> None:
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
        on_change=_on_comments,
        args=(state,),
        placeholder="no comment column",
    )


def _links_section(spec: JourneySpec) -> dict[str, str]:
    """One keyed selectbox per comment column: general, a touchpoint or a stage."""
    options = [
        GENERAL,
        *spec.touchpoint_columns,
        *(STAGE + s.name for s in spec.stages),
    ]
    links: dict[str, str] = {}
    for col in spec.comments:
        key = f"map_link_{col}"
        if st.session_state.get(key) not in options:
            link = spec.comment_links.get(col, GENERAL)
            st.session_state[key] = link if link in options or link == GENERAL else STAGE + link
            if st.session_state[key] not in options:
                st.session_state[key] = GENERAL
        links[col] = st.selectbox(
            f"{escape_markdown(repr(col))} is about",  # a label is Markdown
            options,
            key=key,
            format_func=lambda o: (
                "the whole journey (general)"
                if o == GENERAL
                else o
                if o.startswith(STAGE)
                else f"touchpoint {spec.label_of(o)}"
            ),
        )
    return links


def _segments_section(
    state: dict[str, Any],
    det: Detection,
    base: Detection,
    digest: str,
    data: bytes,
    name: str,
    sheet: str | None,
) -> dict[str, dict[str, str]]:
    """Value labels and merges per segment column; returns every column's edited labels."""
    values: dict[str, dict[str, str]] = state["values"]
    # Segment candidates: detection's, then any attribute with few values (coded groups).
    candidates = list(det.spec.segments) if det.spec is not None else []
    candidates += [
        g.column
        for g in det.columns
        if g.role == "attribute" and 2 <= g.distinct <= 30 and g.column not in candidates
    ]
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
        on_change=_on_segment,
        args=(state,),
        help="The column you pick here is the first segmentation the pages open on.",
    )
    counts = _counts_of(base, digest, data, name, sheet, col)
    seg_cols: list[str] = state.setdefault("seg_cols", [])
    if col not in seg_cols:
        seg_cols.append(col)
    key = _key(state, "map_labels", seg_cols.index(col))
    st.session_state["map_labels_key"] = key  # tests and pages find the current editor by it
    codes = [v for v, _ in counts] + [OTHER]
    current = dict(values.get(col, {}))
    # This run's edit, folded before the frame is built, so `*` counts the rest at once.
    pending = st.session_state.get(key)
    if isinstance(pending, Mapping):
        for i, change in dict(pending.get("edited_rows", {})).items():
            if "label" in change and int(i) < len(codes):
                current[codes[int(i)]] = str(change["label"] or "").strip()
    table = pd.DataFrame(
        {
            "code": codes,
            # `*` gathers the codes that have no label of their own.
            "respondents": [n for _, n in counts]
            + [sum(n for v, n in counts if not current.get(v))],
            "label": [current.get(v, "") for v in codes],
        }
    )
    edited = st.data_editor(
        table,
        key=key,
        hide_index=True,
        disabled=["code", "respondents"],
        column_config={"respondents": st.column_config.NumberColumn(format="%d")},
    )
    values[col] = labels_from_table(edited)
    # A code meaning no answer (unless labelled) is no segment, here as on every page.
    declared = det.spec.scale.missing if det.spec is not None else ()
    none = [v for v in no_answer_values([v for v, _ in counts], declared) if not values[col].get(v)]
    said = f" ({escape_markdown(', '.join(none))}: no answer, no segment)" if none else ""
    st.caption(f"Segments of {escape_markdown(col)}:{said}")
    kept = [(v, n) for v, n in counts if v not in none]
    st.dataframe(group_sizes(kept, values[col]), hide_index=True)
    return {k: v for k, v in values.items() if v}


def _on_segment(state: dict[str, Any]) -> None:
    """The analyst picked a segment column: the pages open on it once saved."""
    state["seg_chosen"] = st.session_state.get("map_seg_col")


def _journey_section(state: dict[str, Any], spec: JourneySpec) -> JourneySpec:
    """Stages and touchpoint order, labels and CMoT tags; edits kept per touchpoint."""
    kept: dict[str, dict[str, Any]] = state["journey"]
    cols = spec.touchpoint_columns
    if cols not in state["tp_sets"]:
        state["tp_sets"].append(cols)
    rows = []
    for i, c in enumerate(cols):
        t = spec.touchpoint(c)
        row = {
            "touchpoint": c,
            "stage": spec.stage_of(c),
            "order": i + 1,
            "label": t.label,
            "tags": ", ".join(t.tags),
        }
        row.update(kept.get(c, {}))
        rows.append(row)
    st.markdown(
        "**Journey**: give each touchpoint a stage and an order (stages follow their first "
        f"touchpoint), a label, and CMoT tags from: {', '.join(CMOT_TAGS)}."
    )
    base = pd.DataFrame(rows)
    edited = st.data_editor(
        base,
        key=_key(state, "map_journey", state["tp_sets"].index(cols)),
        hide_index=True,
        disabled=["touchpoint"],
    )
    for before, after in zip(base.to_dict("records"), edited.to_dict("records"), strict=True):
        diff = {k: after[k] for k in ("stage", "order", "label", "tags") if after[k] != before[k]}
        if diff:
            kept.setdefault(str(after["touchpoint"]), {}).update(diff)
    return apply_journey(spec, edited)
