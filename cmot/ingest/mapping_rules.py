"""The Data page's mapping rules, without Streamlit: what follows from the analyst's
choices (roles, the outcome and its type, codes, weight, comment columns, segment labels and
merges, scales, waves, journey), the bulk assignment and its preview, the tables the page
edits, the spec Save stores, and the messages said before saving.

`cmot.ui.mapping` draws them and keeps the widgets' state; every rule here is a pure
function of plain values, a `Detection` or a `JourneySpec`, tested from tables of cases in
`tests/unit/test_mapping_rules.py`.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from cmot.errors import CmotError
from cmot.ingest.detect import Detection
from cmot.ingest.guesses import ROLES
from cmot.ingest.missing_codes import CodeProposal
from cmot.ingest.options import IngestOptions, parse_codes
from cmot.ingest.outcome_choice import OutcomeChoice
from cmot.ingest.patterns import match_columns, match_text
from cmot.ingest.validation import ValidationReport
from cmot.spec import Code, JourneySpec, Outcome
from cmot.text import escape_markdown

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
GENERAL = ""  # a comment column linked to no touchpoint or stage
STAGE = "stage: "
LAYOUTS = ("wide", "long")
LAYOUT_NAMES = {
    "wide": "wide (one row per respondent)",
    "long": "long (one row per respondent and touchpoint)",
}
# Names a pattern's preview lists before it shortens to "first … last".
PREVIEW_NAMES = 30
# The outcome range's inputs (their widget keys: the range follows the data until edited).
RANGE_LO, RANGE_HI = "map_range_lo", "map_range_hi"


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

    def with_outcome(self, picked: OutcomeChoice) -> Choices:
        """The choices with the outcome's type and values as `outcome_choice` took them."""
        return replace(
            self, outcome_kind=picked.kind, positive=picked.positive, outcome_range=picked.range
        )

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


# ---- values, codes and the spec ---------------------------------------------------------


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


def is_missing(value: str, missing: Iterable[Code]) -> bool:
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
    nums = [x for v, _ in counts if not is_missing(v, codes) and (x := _number(v)) is not None]
    return (min(nums), max(nums)) if nums else None


def default_kind(counts: Sequence[tuple[str, int]], missing: Iterable[Code] = ()) -> str:
    """Two values: binary; numbers within 0-10 reaching 10 from 0: recommend; numbers: scale."""
    codes = tuple(missing)
    values = [v for v, _ in counts if not is_missing(v, codes)]
    if len(values) <= 2:
        return "binary"
    rng = observed_range(counts, codes)
    if rng is None:
        return "binary"
    if rng == (0.0, 10.0):
        return "recommend"
    return "scale"


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


def value_order(item: tuple[str, int]) -> tuple[int, float, str]:
    x = _number(item[0])
    return (0, x, "") if x is not None else (1, 0.0, item[0])


def is_whole(dtype: str) -> bool:
    return re.fullmatch(r"U?(TINYINT|SMALLINT|INTEGER|BIGINT|HUGEINT)", dtype) is not None


def short_label(text: str, width: int = 60) -> str:
    """A question text cut to about `width` characters, keeping its end: survey exports
    repeat a long stem before what tells items apart ("Overall quality of … - Parks"), so
    three outcome candidates no longer read alike."""
    if len(text) <= width:
        return text
    tail = max(12, width // 2 - 2)
    return f"{text[: width - tail - 1].rstrip()}…{text[-tail:].lstrip()}"


def named_columns(det: Detection) -> dict[str, str]:
    """Columns with question text, as the outcome picker names them."""
    return {
        g.column: f"{g.column}: {short_label(g.label)}"
        for g in reversed(det.columns)  # the first of a repeated name wins, as a search did
        if g.label and g.label != g.column
    }


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


# ---- what follows from the analyst's choices ----------------------------------------------


def outcome_from_roles(
    roles: Mapping[str, str], picked: str | None
) -> tuple[dict[str, str], str | None, int]:
    """The outcome lives in its own picker, not in the roles table: a column given the
    role "outcome" (in the table or in bulk) becomes the picked outcome and leaves the
    roles; the picked outcome given another role is no longer the outcome.

    Returns the roles without "outcome", the picker's value and how many changes were made
    (0: the picker is as it was)."""
    kept = dict(roles)
    changes = 0
    for col, role in roles.items():
        if role == "outcome":
            del kept[col]
            picked = col
            changes += 1
        elif col == picked:
            picked = NO_OUTCOME
            changes += 1
    return kept, picked, changes


def comment_columns(roles: Mapping[str, str], det: Detection) -> set[str]:
    """The comment columns (free text, never offered as the outcome): the analyst's, and the
    detected ones the analyst left alone."""
    return {c for c, r in roles.items() if r == "comment"} | {
        g.column for g in det.columns if g.role == "comment" and g.column not in roles
    }


def weight_candidates(det: Detection) -> list[str]:
    """The columns offered as the weight (proposed, never applied unasked)."""
    named = [*det.weight_candidates, *(g.column for g in det.columns if g.role == "weight")]
    return list(dict.fromkeys(named))


def outcome_kind(guessed: str, detected: Outcome | None) -> str:
    """The outcome type the picker opens on: the values' kind, or detection's where the
    values allow it. Numbers with a text marker are a scale, never a yes/no whose positive
    value is the marker."""
    if detected and (detected.kind != "binary" or guessed == "binary"):
        return detected.kind
    return guessed


def outcome_values(counts: Sequence[tuple[str, int]], codes: Iterable[Code]) -> list[str]:
    """A yes/no outcome's values to pick the positive ones from: a code confirmed as no
    answer is never a positive value."""
    missing = tuple(codes)
    return [v for v, _ in counts if not is_missing(v, missing)]


def scale_range(counts: Sequence[tuple[str, int]], codes: Iterable[Code]) -> tuple[float, float]:
    """The outcome's range as the data show it (codes confirmed missing left out), 1-5
    when no value is a number."""
    return observed_range(counts, codes) or (1.0, 5.0)


def range_inputs(
    current: Mapping[str, float | None],
    auto: Mapping[str, float] | None,
    seen: tuple[float, float],
) -> dict[str, float]:
    """The range inputs' new values: the range follows the data (and the codes confirmed
    missing) until edited; an input the analyst changed keeps its value. Returns only the
    inputs to set."""
    out: dict[str, float] = {}
    for key, value in ((RANGE_LO, seen[0]), (RANGE_HI, seen[1])):
        now = current.get(key)
        if now is None or (auto is not None and now == auto[key]):
            out[key] = float(value)
    return out


def looks_like_an_id(det: Detection, column: str) -> bool:
    """A different value for nearly every respondent: an id or a free number, no outcome."""
    profile = next(g for g in det.columns if g.column == column)
    return det.rows >= 20 and profile.distinct >= 0.9 * det.rows


def id_outcome_warning(column: str) -> str:
    return (
        f"{escape_markdown(repr(column))} has a different value for nearly every "
        "respondent: it looks like an id or a free number, not an outcome. Pick the overall "
        "rating or the yes/no that the journey is judged by."
    )


def no_outcome_prompt(detected: bool) -> str:
    return ("No outcome is chosen." if detected else "No outcome was found.") + (
        " Pick the column that measures the whole relationship (overall satisfaction, "
        "would recommend, renewed): the analysis explains it."
    )


def user_set_columns(
    roles: Mapping[str, str], weight: str | None, outcome: str, outcome_chosen: bool
) -> set[str]:
    """The columns whose role the analyst set ("set by you"): a detected outcome kept in
    the picker keeps detection's own reason."""
    out = {*roles, *([weight] if weight else [])}
    if outcome_chosen:
        out.add(outcome)
    return out


def missing_shown(missing: tuple[Code, ...] | None, det: Detection) -> str:
    """The codes treated as no answer, as the page says them."""
    if missing is not None:
        return ", ".join(str(c) for c in missing) or "none"
    if det.spec is not None:
        return (", ".join(str(c) for c in det.spec.scale.missing) or "none") + " (detected)"
    return "none"


def seeded_codes(
    proposals: Sequence[CodeProposal], codes: Collection[str]
) -> tuple[dict[str, bool], str]:
    """A stored mapping's codes on this file's proposals: each proposal's tick, and the
    codes it had that nothing proposed, as typed."""
    ticks = {f"map_code_{p.code}": str(p.code) in codes for p in proposals}
    said = {str(p.code) for p in proposals}
    return ticks, ", ".join(sorted(c for c in codes if c not in said))


def detection_problems(det: Detection, problems: Sequence[str], outcome: str) -> list[str]:
    """Detection's problems to show when it made no spec, each once and none already said.
    Without an outcome the prompt says what to do; the detection's own words about the
    missing outcome name command-line flags."""
    out: list[str] = []
    for p in det.problems:
        if p not in problems and p not in out and (outcome or "outcome" not in p.lower()):
            out.append(p)
    return out


# ---- the bulk assignment and the comment columns ------------------------------------------


@dataclass(frozen=True)
class Bulk:
    """What Apply does: the roles to set (none: nothing assigned), the message, and the
    pattern now previewed."""

    assigned: dict[str, str]
    message: tuple[str, str]  # ("success" | "info" | "warning", text)
    previewed: str | None


def bulk_apply(
    columns: Sequence[str],
    chosen: Sequence[str],
    pattern: str,
    previewed: str | None,
    role: str,
) -> Bulk:
    """Apply's rule. A pattern typed and applied at once is first shown (what it matches),
    assigned on the next Apply: a pattern may mean something else than the analyst thinks.
    Columns picked and a pattern's matches are set to `role`."""
    picked = list(chosen)
    try:
        if pattern.strip():
            if previewed != pattern:
                found = match_text(columns, pattern, names=PREVIEW_NAMES)
                return Bulk({}, ("info", f"{found}. Apply again to set them."), pattern)
            picked += [c for c in match_columns(columns, pattern) if c not in picked]
        if not picked:
            raise CmotError("Choose columns or type a name pattern such as Q7*, then Apply.")
    except CmotError as e:
        return Bulk({}, ("warning", str(e)), previewed)
    message = ("success", f"{len(picked)} column(s) set to {role}.")
    return Bulk(dict.fromkeys(picked, role), message, previewed)


def bulk_preview(columns: Sequence[str], pattern: str) -> str:
    """What a typed pattern matches (count and names), said before Apply assigns it."""
    if not pattern.strip():
        return ""
    try:
        found = match_text(columns, pattern, names=PREVIEW_NAMES)
    except CmotError as e:
        return escape_markdown(str(e))
    return f"Apply sets {escape_markdown(found)}."


def comment_roles(chosen: Collection[str], was: Collection[str]) -> dict[str, str]:
    """The comment columns edited: added ones get the comment role, removed ones are
    ignored (free text is no score and no segment)."""
    out = dict.fromkeys((c for c in chosen if c not in was), "comment")
    out.update(dict.fromkeys((c for c in was if c not in chosen), "ignore"))
    return out


# ---- a stored mapping as choices (Edit mapping) -------------------------------------------


@dataclass(frozen=True)
class Seed:
    """A stored spec's choices, as the page holds them: the per-file state and the widgets'
    values (by key)."""

    state: dict[str, Any]
    widgets: dict[str, Any]


def seed_of(spec: JourneySpec, layout: str | None) -> Seed:
    """Roles, outcome, weight, codes (ticked once the proposals are known), question texts,
    segment labels and merges, journey order, touchpoint scales, waves and layout."""
    roles: dict[str, str] = dict.fromkeys(spec.touchpoint_columns, "touchpoint")
    roles.update(dict.fromkeys((*spec.segments, *spec.attributes), "attribute"))
    roles.update(dict.fromkeys(spec.ignored, "ignore"))
    roles.update(dict.fromkeys(spec.comments, "comment"))
    for role, col in (("id", spec.id_column), ("date", spec.date_column)):
        if col:
            roles[col] = role
    widgets: dict[str, Any] = {}
    if spec.weight_column:
        roles[spec.weight_column] = "weight"
        widgets[f"map_weight_{spec.weight_column}"] = True
    o = spec.outcome
    widgets.update({"map_outcome": o.column, "map_kind": o.kind})
    if o.kind == "binary":
        widgets["map_positive"] = list(o.positive)
    elif o.kind == "scale" and o.min is not None and o.max is not None:
        widgets[RANGE_LO], widgets[RANGE_HI] = o.min, o.max
    state: dict[str, Any] = {
        "roles": roles,
        "outcome_chosen": True,
        "labels": {
            **{t.column: t.label for t in spec.touchpoints if t.label},
            **dict(spec.column_labels),
        },
        "values": {c: dict(m) for c, m in spec.labels.items()},
        "journey": {
            c: {
                "stage": spec.stage_of(c),
                "order": i + 1,
                "tags": ", ".join(spec.touchpoint(c).tags),
            }
            for i, c in enumerate(spec.touchpoint_columns)
        },
        "scales": {c: (s.min, s.max) for c, s in spec.scales.items()},
        "seed_codes": {
            str(c) for c in (*spec.scale.missing, *(v for vs in spec.missing.values() for v in vs))
        },
        "seeded": True,
    }
    if spec.segments:
        state["seg_chosen"] = widgets["map_seg_col"] = spec.segments[0]
    widgets["map_waves"] = spec.wave_column or ""
    if layout in LAYOUTS:
        widgets["map_layout"] = layout
        state["layout_set"] = True
    return Seed(state, widgets)


def save_notes(report: ValidationReport) -> tuple[str, str]:
    """(the drop warning, the note on codes kept in the outcome) of the report Save would
    give, said before saving."""
    kept = next((n for n in report.notes if "kept as answers in" in n), "")
    return report.drop_warning, kept


def counts_of(det: Detection, column: str) -> tuple[tuple[str, int], ...] | None:
    """A column's value counts when detection counted them (every row of the columns with
    few values, `ColumnGuess.counts`); None: the column must be counted alone."""
    g = next((g for g in det.columns if g.column == column), None)
    if g is not None and g.counts:
        return tuple(sorted(g.counts, key=value_order))
    return None


def whole_number_column(det: Detection, column: str) -> bool:
    g = next((g for g in det.columns if g.column == column), None)
    return is_whole(g.dtype) if g is not None else False
