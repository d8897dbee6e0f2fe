"""The tables and pickers of the Data page's mapping and what their edits mean, without
Streamlit: the roles table and its search, each touchpoint's scale, the waves, the comment
columns' links, segment labels and merges, the journey. `cmot.ingest.mapping_rules` holds the
choices themselves; `cmot.ui.mapping` draws both.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pandas as pd

from cmot.errors import CmotError
from cmot.ingest.answers import no_answer_values
from cmot.ingest.column_words import name_stem
from cmot.ingest.detect import Detection
from cmot.ingest.mapping_rules import GENERAL, NO_WAVES, STAGE
from cmot.ingest.patterns import has_wildcard, pattern_regex
from cmot.ingest.wave_columns import MAX_WAVES, wave_candidates
from cmot.spec import OTHER, JourneySpec, Stage, Touchpoint, default_scale

# ---- the roles table -------------------------------------------------------------------------


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
        rx = pattern_regex(
            q, ignore_case=True
        )  # only * and ? are wildcards: `cmot.ingest.patterns`
        keep = frame["column"].astype(str).map(lambda c: rx.fullmatch(c) is not None)
    else:
        keep = text.str.contains(q, regex=False)
    return frame[keep.to_numpy()]


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


def roles_frame(
    det: Detection,
    labels: Mapping[str, str],
    counts: Mapping[str, tuple[tuple[str, int], ...]],
) -> pd.DataFrame:
    """One row per column: its role with detection's confidence and reason, a look at its
    values, and its question text (the analyst's, else the file's)."""
    return pd.DataFrame(
        [
            {
                "column": g.column,
                "role": g.role,
                "confidence": g.confidence,
                "reason": g.reason,
                "values": g.sample
                or (look(counts[g.column]) if counts.get(g.column) else "")
                or f"{g.distinct:,} distinct values, {g.nulls:,} blank",
                "question": labels.get(g.column, g.label or ""),
            }
            for g in det.columns
        ]
    )


def roles_edits(
    edits: Mapping[str, Any], shown: Sequence[str]
) -> tuple[dict[str, str], dict[str, str]]:
    """The roles table's edits (by row of the rows shown) as (roles, question texts)."""
    roles: dict[str, str] = {}
    labels: dict[str, str] = {}
    for i, change in dict(edits.get("edited_rows", {})).items():
        if int(i) >= len(shown):
            continue
        col = shown[int(i)]
        if change.get("role"):
            roles[col] = str(change["role"])
        if "question" in change:
            labels[col] = "" if change["question"] is None else str(change["question"])
    return roles, labels


# ---- scales ----------------------------------------------------------------------------------


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


def scale_evidence(det: Detection, column: str) -> str:
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


def sibling_groups(columns: Sequence[str]) -> dict[str, str]:
    """Each touchpoint's group of sibling columns (named alike: q3_01, q3_02 -> q3_#)."""
    return {c: name_stem(c) for c in columns}


def scale_rows(
    spec: JourneySpec, det: Detection, kept: Mapping[str, tuple[int, int]]
) -> pd.DataFrame:
    """The Scales table: each touchpoint's group, scale (as edited), codes and evidence."""
    groups = sibling_groups(spec.touchpoint_columns)
    rows = []
    for col in spec.touchpoint_columns:
        own = spec.scale_of(col)
        lo, hi = kept.get(col, (own.min, own.max))
        rows.append(
            {
                "touchpoint": col,
                "group": groups[col],
                "from": lo,
                "to": hi,
                "codes": ", ".join(map(str, spec.missing_codes(col))),
                "evidence": scale_evidence(det, col),
            }
        )
    return pd.DataFrame(rows)


def scales_from_rows(
    spec: JourneySpec, rows: Iterable[Mapping[str, Any]]
) -> tuple[JourneySpec, dict[str, tuple[int, int]]]:
    """The spec with the Scales table's scales, and each touchpoint's (from, to) to keep.
    A scale other than the survey's is the touchpoint's own; codes inside the touchpoint's
    own range are answers there."""
    s = spec.scale
    scales = dict(spec.scales)
    kept: dict[str, tuple[int, int]] = {}
    for r in rows:
        col, lo, hi = str(r["touchpoint"]), int(r["from"]), int(r["to"])
        kept[col] = (lo, hi)
        own = spec.scale_of(col)
        if (lo, hi) == (s.min, s.max):
            scales.pop(col, None)
        elif (lo, hi) != (own.min, own.max) or col in scales:
            codes = tuple(m for m in own.missing if not (isinstance(m, int) and lo <= m <= hi))
            scales[col] = default_scale(lo, hi, codes)
    return spec.with_changes(scales=scales), kept


def group_scale(columns: Sequence[str], group: str, lo: int, hi: int) -> dict[str, tuple[int, int]]:
    """A group's scale set at once: every touchpoint of the group gets (lo, hi)."""
    return {c: (int(lo), int(hi)) for c, g in sibling_groups(columns).items() if g == group}


# ---- waves -----------------------------------------------------------------------------------


def wave_choices(spec: JourneySpec, det: Detection) -> tuple[list[tuple[str, str]], list[str]]:
    """The proposed wave columns with their evidence, and every option of "Waves from":
    none first, the proposals, the date (by period), then segments and attributes with
    2 to MAX_WAVES values. None is applied until confirmed (issue 23)."""
    values = {g.column: [v for v, _ in g.counts] for g in det.columns}
    proposed = wave_candidates(spec, values)
    skip = {spec.outcome.column, spec.weight_column, *spec.touchpoint_columns}
    others = [
        c
        for c in dict.fromkeys((*spec.segments, *spec.attributes))
        if c not in skip and 2 <= len(values.get(c, ())) <= MAX_WAVES
    ]
    dates = [spec.date_column] if spec.date_column else []
    options = list(dict.fromkeys([NO_WAVES, *(c for c, _ in proposed), *dates, *others]))
    return proposed, options


def wave_name(spec: JourneySpec, column: str) -> str:
    if column == NO_WAVES:
        return "none: one wave"
    return f"{column} (the date, by period)" if column == spec.date_column else column


# ---- comment columns' links ------------------------------------------------------------------


def link_options(spec: JourneySpec) -> list[str]:
    """What a comment column can be about: general, a touchpoint or a stage."""
    return [GENERAL, *spec.touchpoint_columns, *(STAGE + s.name for s in spec.stages)]


def first_link(spec: JourneySpec, column: str, options: Sequence[str]) -> str:
    """A comment column's link as the spec has it, among the options (else general)."""
    link = spec.comment_links.get(column, GENERAL)
    link = link if link in options or link == GENERAL else STAGE + link
    return link if link in options else GENERAL


def link_name(spec: JourneySpec, option: str) -> str:
    if option == GENERAL:
        return "the whole journey (general)"
    return option if option.startswith(STAGE) else f"touchpoint {spec.label_of(option)}"


def comment_links_of(spec: JourneySpec, links: Mapping[str, str]) -> dict[str, str]:
    """The spec's `comment_links` from the page's choices: a touchpoint column, "stage: NAME"
    or GENERAL per comment column; general ones and non-comment columns are left out."""
    out: dict[str, str] = {}
    for col, link in links.items():
        if col in spec.comments and link != GENERAL:
            out[col] = link.removeprefix(STAGE)
    return out


# ---- segment labels and merges ---------------------------------------------------------------


def segment_candidates(det: Detection) -> list[str]:
    """Segment columns: detection's, then any attribute with few values (coded groups)."""
    found = list(det.spec.segments) if det.spec is not None else []
    return found + [
        g.column
        for g in det.columns
        if g.role == "attribute" and 2 <= g.distinct <= 30 and g.column not in found
    ]


def pending_labels(
    counts: Sequence[tuple[str, int]], labels: Mapping[str, str], edits: Any
) -> dict[str, str]:
    """The labels with this run's edit of the value-label editor folded in (before its
    frame is built, so that `*` counts the rest at once)."""
    codes = [v for v, _ in counts] + [OTHER]
    out = dict(labels)
    if isinstance(edits, Mapping):
        for i, change in dict(edits.get("edited_rows", {})).items():
            if "label" in change and int(i) < len(codes):
                out[codes[int(i)]] = str(change["label"] or "").strip()
    return out


def segment_labels_table(
    counts: Sequence[tuple[str, int]], labels: Mapping[str, str]
) -> pd.DataFrame:
    """The value-label editor's rows: each code, its respondents and label, and `*`, which
    gathers the codes that have no label of their own."""
    codes = [v for v, _ in counts] + [OTHER]
    return pd.DataFrame(
        {
            "code": codes,
            "respondents": [n for _, n in counts]
            + [sum(n for v, n in counts if not labels.get(v))],
            "label": [labels.get(v, "") for v in codes],
        }
    )


def labels_from_table(frame: pd.DataFrame) -> dict[str, str]:
    """code -> label from the value-label editor; blank labels are dropped."""
    out: dict[str, str] = {}
    for code, label in zip(frame["code"], frame["label"], strict=True):
        text = "" if label is None or (isinstance(label, float) and pd.isna(label)) else str(label)
        if text.strip():
            out[str(code)] = text.strip()
    return out


def segment_groups(
    counts: Sequence[tuple[str, int]], labels: Mapping[str, str], det: Detection
) -> tuple[list[str], pd.DataFrame]:
    """The values that are no answer (a code meaning no answer, unless labelled, is no
    segment, here as on every page) and the segments the labels make of the others."""
    declared = det.spec.scale.missing if det.spec is not None else ()
    values = [v for v, _ in counts]
    none = [v for v in no_answer_values(values, declared) if not labels.get(v)]
    kept = [(v, n) for v, n in counts if v not in none]
    return none, group_sizes(kept, labels)


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


# ---- the journey -----------------------------------------------------------------------------


def journey_rows(spec: JourneySpec, kept: Mapping[str, Mapping[str, Any]]) -> pd.DataFrame:
    """Stages and touchpoint order, labels and CMoT tags, with the edits kept per touchpoint."""
    rows = []
    for i, c in enumerate(spec.touchpoint_columns):
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
    return pd.DataFrame(rows)


JOURNEY_CELLS = ("stage", "order", "label", "tags")  # the journey table's editable cells


def journey_edits(before: pd.DataFrame, after: pd.DataFrame) -> dict[str, dict[str, Any]]:
    """Per touchpoint, the journey table's cells the analyst changed."""
    out: dict[str, dict[str, Any]] = {}
    for b, a in zip(before.to_dict("records"), after.to_dict("records"), strict=True):
        diff = {k: a[k] for k in JOURNEY_CELLS if a[k] != b[k]}
        if diff:
            out[str(a["touchpoint"])] = diff
    return out


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
