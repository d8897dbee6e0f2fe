"""The proposed mapping (`detect`, a `Detection`): every column's role with confidence and
reason, the survey scale, proposed missing codes with evidence, and a spec once the mapping
is valid. The steps are the column guesses (`cmot.ingest.guesses`) refined by the survey's
scale (`cmot.ingest.survey_scale`), the outcome (`cmot.ingest.outcome`), what the user
fixed, then the codes (`cmot.ingest.missing_codes`) and the spec."""

from __future__ import annotations

import difflib
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

from cmot.errors import CmotError
from cmot.ingest.column_profiles import PROFILE_ROWS, ColumnProfile
from cmot.ingest.guesses import ROLES, ColumnGuess, guess, refine_ratings
from cmot.ingest.missing_codes import CodeProposal, propose_codes
from cmot.ingest.options import IngestOptions
from cmot.ingest.outcome import choose_outcome, missing_in_outcome, outcome_of
from cmot.ingest.patterns import Match, match_items
from cmot.ingest.survey_scale import (
    Scales,
    Shape,
    markers,
    order_codes,
    shape_of,
    touchpoint_block,
    touchpoint_codes,
    touchpoint_strays,
)
from cmot.spec import (
    Code,
    JourneySpec,
    Outcome,
    Scale,
    Stage,
    Touchpoint,
    default_scale,
    validate_spec,
)

Layout = Literal["wide", "long"]


@dataclass(frozen=True)
class Detection:
    """The proposed mapping: every column's role, and a spec once the mapping is valid."""

    layout: str
    encoding: str
    rows: int
    columns: tuple[ColumnGuess, ...]
    spec: JourneySpec | None  # None until the mapping is valid: see `problems`
    problems: tuple[str, ...] = ()  # what to choose before saving, e.g. "pick the outcome"
    proposals: tuple[CodeProposal, ...] = ()
    weight_candidates: tuple[str, ...] = ()  # proposed, never applied unasked
    format: str = "csv"
    sheets: tuple[str, ...] = ()
    sheet: str | None = None
    # What each of --touchpoints' items matched (`cmot.ingest.patterns`), for the command line to
    # say.
    patterns: tuple[Match, ...] = ()
    layout_reason: str = ""  # the evidence for `layout` (cmot.ingest.read.guess_layout)

    def roles(self) -> dict[str, str]:
        return {g.column: g.role for g in self.columns}

    def require_spec(self) -> JourneySpec:
        """The spec, or a CmotError that says what to choose first."""
        if self.spec is None:
            raise CmotError("The mapping is not complete: " + "; ".join(self.problems) + ".")
        return self.spec


@dataclass(frozen=True)
class _Meta:
    """What the survey software said about the columns (SPSS, Qualtrics): kept, not guessed."""

    labels: Mapping[str, str] = field(default_factory=dict)
    value_labels: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    declared_missing: Mapping[str, tuple[Code, ...]] = field(default_factory=dict)

    def declared(self, column: str) -> tuple[Code, ...]:
        return tuple(self.declared_missing.get(column, ()))


def _resolve_touchpoints(patterns: Sequence[str], columns: Sequence[str]) -> list[Match]:
    """Exact column names first, else patterns (`Q7*`; only * and ? are wildcards, brackets
    are literal: `cmot.ingest.patterns`); unmatched names are an error."""
    return match_items(columns, patterns, "the touchpoint")


def _close(name: str, columns: Sequence[str]) -> str:
    """Names really close to `name`: the same but for case, spacing and punctuation, or a slip
    of a letter or two with the same numbers (q2_01 is no close name of q2_1: issue 23)."""

    def norm(text: str) -> str:
        return re.sub(r"[\W_]+", "", text.casefold())

    def digits(text: str) -> list[str]:
        return re.findall(r"\d+", text)

    key = norm(name)
    close = [c for c in columns if norm(c) == key]
    for c in difflib.get_close_matches(name, columns, n=5, cutoff=0.8):
        if c not in close and digits(c) == digits(name) and len(key) >= 4:
            close.append(c)
    return f" Close names: {', '.join(close[:5])}." if close else ""


def detect(
    profiles: list[ColumnProfile],
    n: int,
    opts: IngestOptions,
    layout: str,
    encoding: str,
    labels: Mapping[str, str] | None = None,
    value_labels: Mapping[str, Mapping[str, str]] | None = None,
    declared_missing: Mapping[str, tuple[Code, ...]] | None = None,
) -> Detection:
    """The proposed mapping. `labels` (question text), `value_labels` and `declared_missing`
    come from the file's own metadata (RawFile) where it has any."""
    meta = _Meta(labels or {}, value_labels or {}, declared_missing or {})
    shapes = {p.column: shape_of(p) for p in profiles}
    guesses = {p.column: guess(p, shapes[p.column]) for p in profiles}
    guesses = {c: replace(g, label=meta.labels.get(c, "")) for c, g in guesses.items()}
    by_col = {p.column: p for p in profiles}
    columns = list(guesses)
    sc, other_scale = refine_ratings(guesses, shapes)

    # One outcome: what the user names, else the best named one, else none (a prompt).
    if opts.outcome is not None and opts.outcome not in guesses:
        raise CmotError(
            f"There is no column {opts.outcome!r} to use as the outcome."
            + _close(opts.outcome, columns)
        )
    choose_outcome(guesses, opts.outcome)

    # What the user fixed: touchpoints by name or pattern, then roles column by column.
    matched = _set_touchpoints(guesses, opts.touchpoints, columns)
    _set_roles(guesses, opts.roles, columns)
    weights = tuple(c for c, g in guesses.items() if g.kind == "weight")
    weight = _set_weight(guesses, opts.weight, columns)

    det = _build(
        guesses, by_col, shapes, sc, other_scale, weight, weights, n, opts, layout, encoding, meta
    )
    return replace(det, patterns=tuple(matched)) if matched else det


def _set_touchpoints(
    guesses: dict[str, ColumnGuess], patterns: Sequence[str] | None, columns: Sequence[str]
) -> list[Match]:
    """The touchpoints the user names (`patterns`: names or patterns, None when unsaid): they
    become touchpoints, every other touchpoint an attribute (`guesses` changed in place).
    What each item matched, [] when unsaid."""
    if patterns is None:
        return []
    matched = _resolve_touchpoints(patterns, columns)
    chosen = [c for m in matched for c in m.columns]
    for c, g in guesses.items():
        if c in chosen and g.role != "outcome":
            guesses[c] = replace(g, role="touchpoint", confidence=1.0, reason="set by you")
        elif g.role == "touchpoint":
            guesses[c] = replace(
                g, role="attribute", confidence=1.0, reason="not among your touchpoints"
            )
    return matched


def _set_roles(
    guesses: dict[str, ColumnGuess], roles: Mapping[str, str], columns: Sequence[str]
) -> None:
    """The roles the user gives column by column (`guesses` changed in place)."""
    for col, role in roles.items():
        if col not in guesses:
            raise CmotError(
                f"The mapping names a column {col!r} that the file does not have."
                + _close(col, columns)
            )
        if role not in ROLES:
            raise CmotError(f"Unknown role {role!r} for {col!r}; use one of {', '.join(ROLES)}.")
        guesses[col] = replace(guesses[col], role=role, confidence=1.0, reason="set by you")


def _set_weight(
    guesses: dict[str, ColumnGuess], named: str | None, columns: Sequence[str]
) -> str | None:
    """The weight column: the one the user names (`named`; "none" for no weight: any column
    given the role then is an attribute), else the first given the role 'weight'."""
    if named is not None and named.lower() != "none":
        if named not in guesses:
            raise CmotError(f"There is no column {named!r} to weight by." + _close(named, columns))
        g = guesses[named]
        guesses[named] = replace(g, role="weight", confidence=1.0, reason="set by you")
        return named
    if named is None:
        chosen_w = [c for c, g in guesses.items() if g.role == "weight"]
        return chosen_w[0] if chosen_w else None
    for c, g in guesses.items():
        if g.role == "weight":
            guesses[c] = replace(g, role="attribute", reason="you chose no weight")
    return None


def _with_role(guesses: Mapping[str, ColumnGuess], role: str) -> list[str]:
    """The columns of `role`, in the file's order."""
    return [c for c, g in guesses.items() if g.role == role]


def _build(
    guesses: dict[str, ColumnGuess],
    profiles: dict[str, ColumnProfile],
    shapes: dict[str, Shape],
    sc: Scales,
    other_scale: dict[str, tuple[int, int]],
    weight: str | None,
    weight_candidates: tuple[str, ...],
    n: int,
    opts: IngestOptions,
    layout: str,
    encoding: str,
    meta: _Meta,
) -> Detection:
    """The detection of the roles settled: each touchpoint's scale and the codes found, the
    outcome, the proposals, and the spec once nothing is left to choose (else `problems`)."""
    touchpoints = _with_role(guesses, "touchpoint")
    own, found = _touchpoint_scales(touchpoints, shapes, sc, other_scale, meta)
    main_tps = [t for t in touchpoints if t not in own]
    lo, hi, scale_missing = _survey_codes(sc, main_tps, shapes, found, opts)
    scales = {
        t: default_scale(a, b, opts.missing if opts.missing is not None else found.get(t, ()))
        for t, (a, b) in own.items()
    }
    attributes = [c for c in _with_role(guesses, "attribute") if c != weight]
    missing = _attribute_codes(attributes, shapes, meta, opts, found)
    outcome, problems = _the_outcome(
        _with_role(guesses, "outcome"),
        profiles,
        shapes,
        sc,
        scale_missing,
        opts,
        meta,
        found,
        missing,
    )
    if not touchpoints:
        problems.append(
            "pick the touchpoint columns: no column holds whole-number ratings such as 1-5 or "
            "0-10 (--touchpoints with names or patterns such as Q7*, or the role 'touchpoint')"
        )
    strays = _stray_answers(touchpoints, shapes, sc, own)
    proposals = propose_codes(
        found,
        guesses,
        shapes,
        sc,
        own,
        opts,
        sampled=n > PROFILE_ROWS,
        file_declares=meta.declared_missing,
        strays=strays,
    )
    spec: JourneySpec | None = None
    if not problems and outcome is not None:
        spec, problem = _spec_of(
            guesses,
            profiles,
            shapes,
            meta,
            opts,
            outcome,
            weight,
            default_scale(lo, hi, scale_missing),
            scales,
            missing,
        )
        problems += [problem] if problem else []
    return Detection(
        layout,
        encoding,
        n,
        tuple(guesses.values()),
        spec,
        tuple(problems),
        proposals,
        weight_candidates,
    )


def _stray_answers(
    touchpoints: Sequence[str],
    shapes: Mapping[str, Shape],
    sc: Scales,
    own: Mapping[str, tuple[int, int]],
) -> dict[str, tuple[int, ...]]:
    """Each touchpoint on the survey's scale with answers outside it: those answers."""
    return {
        t: v for t in touchpoints if (v := touchpoint_strays(shapes[t], sc, t)) and t not in own
    }


def _touchpoint_scales(
    touchpoints: Sequence[str],
    shapes: Mapping[str, Shape],
    sc: Scales,
    other_scale: Mapping[str, tuple[int, int]],
    meta: _Meta,
) -> tuple[dict[str, tuple[int, int]], dict[str, tuple[Code, ...]]]:
    """Each touchpoint on a scale of its own (column -> its block), and the codes found in
    each touchpoint (column -> its codes, with those the file declares)."""
    # Each touchpoint: the survey's scale, or its own when it is another whole scale.
    own: dict[str, tuple[int, int]] = {}
    found: dict[str, tuple[Code, ...]] = {}  # column -> codes detected in it
    for t in touchpoints:
        sh = shapes[t]
        block = other_scale.get(t) or touchpoint_block(sh, sc, t)
        if block and block[1] - block[0] >= 2 and not (sc.lo <= block[0] and block[1] <= sc.hi):
            own[t] = block
        codes = order_codes([*touchpoint_codes(sh, sc, t), *meta.declared(t)])
        if codes:
            found[t] = codes
    return own, found


def _survey_codes(
    sc: Scales,
    main_tps: Sequence[str],
    shapes: Mapping[str, Shape],
    found: Mapping[str, tuple[Code, ...]],
    opts: IngestOptions,
) -> tuple[int, int, tuple[Code, ...]]:
    """The survey scale's ends and its missing codes: the user's list, which may move an end
    (a 0 that is no code, a code at an end), else the codes found in the touchpoints on it
    (`main_tps`)."""
    lo, hi = sc.lo, sc.hi
    if opts.missing is None:
        return lo, hi, order_codes([c for t in main_tps for c in found.get(t, ())])
    scale_missing = tuple(opts.missing)
    if lo == 1 and 0 not in scale_missing and any(0 in shapes[t].ints for t in main_tps):
        lo = 0  # the user says 0 is no code: it is a scale point
    # A code the analyst declares at an end of the detected scale (6 = never used, read
    # as a sixth point beside 1-5) is no scale point: the scale ends before it.
    ends = {c for c in scale_missing if isinstance(c, int)}
    while hi - lo > 2 and hi in ends:
        hi -= 1
    while hi - lo > 2 and lo in ends:
        lo += 1
    return lo, hi, scale_missing


def _attribute_codes(
    attributes: Sequence[str],
    shapes: Mapping[str, Shape],
    meta: _Meta,
    opts: IngestOptions,
    found: dict[str, tuple[Code, ...]],
) -> dict[str, tuple[Code, ...]]:
    """The codes found in each attribute (added to `found`), and its missing codes (returned)
    unless the user gave the list."""
    missing: dict[str, tuple[Code, ...]] = {}
    for c in attributes:
        sh = shapes[c]
        own_codes: list[Code] = [*sh.codes, *markers(sh)] if sh.coded else []
        codes = order_codes([*own_codes, *meta.declared(c)])
        if codes:
            found[c] = codes
            if opts.missing is None:
                missing[c] = order_codes(codes)
    return missing


def _the_outcome(
    outcome_cols: list[str],
    profiles: dict[str, ColumnProfile],
    shapes: dict[str, Shape],
    sc: Scales,
    scale_missing: tuple[Code, ...],
    opts: IngestOptions,
    meta: _Meta,
    found: dict[str, tuple[Code, ...]],
    missing: dict[str, tuple[Code, ...]],
) -> tuple[Outcome | None, list[str]]:
    """The outcome when exactly one column has the role, its codes added to `found` and its
    missing codes to `missing`; and what to choose about it first (problems)."""
    if not outcome_cols:
        return None, [
            "pick the outcome column: no column is named like an overall rating, a recommend "
            "score or a yes/no outcome (--outcome COLUMN, or give one column the role 'outcome')"
        ]
    if len(outcome_cols) > 1:
        return None, [f"only one column can be the outcome; you mapped {outcome_cols}"]
    outcome, ocodes = outcome_of(outcome_cols[0], profiles, shapes, sc, scale_missing, opts)
    ocodes = order_codes([*ocodes, *meta.declared(outcome.column)])
    if ocodes:
        found.setdefault(outcome.column, ocodes)
    oc_missing = missing_in_outcome(outcome, ocodes, shapes[outcome.column], opts)
    if oc_missing:
        missing[outcome.column] = oc_missing
    op = profiles[outcome.column]
    if op.count > 20 and op.distinct >= 0.95 * op.count and not opts.positive:
        return outcome, [
            f"pick another outcome column: {outcome.column!r} has a different value in "
            "nearly every row, like an id, so it measures nothing about the journey"
        ]
    return outcome, []


def _spec_of(
    guesses: Mapping[str, ColumnGuess],
    profiles: Mapping[str, ColumnProfile],
    shapes: Mapping[str, Shape],
    meta: _Meta,
    opts: IngestOptions,
    outcome: Outcome,
    weight: str | None,
    scale: Scale,
    scales: dict[str, Scale],
    missing: dict[str, tuple[Code, ...]],
) -> tuple[JourneySpec | None, str | None]:
    """The spec of the settled roles, validated; or None and what is wrong with it."""
    touchpoints = _with_role(guesses, "touchpoint")
    attributes = [c for c in _with_role(guesses, "attribute") if c != weight]
    segments = [c for c in attributes if _is_segment(profiles[c], shapes[c], guesses[c])]
    ids, dates = _with_role(guesses, "id"), _with_role(guesses, "date")
    ignored = (
        _with_role(guesses, "ignore")
        + ids[1:]
        + [w for w in _with_role(guesses, "weight") if w != weight]
        + dates[1:]
    )
    try:
        spec = validate_spec(
            JourneySpec(
                stages=(Stage("Journey", tuple(touchpoints)),),
                touchpoints=_touchpoints(touchpoints, meta.labels),
                scale=scale,
                outcome=outcome,
                id_column=ids[0] if ids else None,
                weight_column=weight,
                date_column=dates[0] if dates else None,
                segments=tuple(segments),
                attributes=tuple(attributes),
                ignored=tuple(ignored),
                missing=missing,
                labels={
                    **{c: v for c, v in meta.value_labels.items() if c in attributes},
                    **opts.labels,
                },
                scales=scales,
                comments=tuple(_with_role(guesses, "comment")),
                column_labels={
                    c: t for c, t in meta.labels.items() if c in guesses and c not in touchpoints
                },
            )
        )
    except CmotError as e:
        return None, str(e).rstrip(".")
    return spec, None


def _touchpoints(columns: Sequence[str], labels: Mapping[str, str]) -> tuple[Touchpoint, ...]:
    """The touchpoints labelled with their question text; a text two of them share (a
    Qualtrics export's duplicate columns) gets the column beside it, as every result is keyed
    on a touchpoint's name (issue 23: the Journey page's pivot refused the twins)."""
    names = Counter(labels.get(c) or c for c in columns)
    out = []
    for c in columns:
        label = labels.get(c, "")
        out.append(Touchpoint(c, f"{label} ({c})" if label and names[label] > 1 else label))
    return tuple(out)


def _is_segment(p: ColumnProfile, sh: Shape, g: ColumnGuess) -> bool:
    """Few codes or few texts: a segmentation to offer; hundreds of values are not one."""
    if g.kind != "categorical":
        return False  # a weight, a number, another outcome's scale
    if sh.coded:
        return 2 <= len(sh.points) <= 20
    return not p.numbers and 2 <= p.distinct <= 20
