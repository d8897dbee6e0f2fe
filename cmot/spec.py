"""JourneySpec: stages, touchpoints, rating scale, outcome, segments and CMoT tags, as TOML."""

from __future__ import annotations

import tomllib
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

import tomli_w

from cmot.errors import CmotError

OutcomeKind = Literal["binary", "scale", "recommend"]
OUTCOME_KINDS: tuple[str, ...] = ("binary", "scale", "recommend")

# The four characteristics of a customer moment of truth (the CMoT article).
CMOT_TAGS: dict[str, str] = {
    "expectation": "expectation setting",
    "emotion": "high emotional investment",
    "uncertainty": "uncertainty / risk",
    "effort": "high client effort",
}

Code = int | str
OTHER = "*"  # in a column's value labels: the label of every code not listed


@dataclass(frozen=True)
class Scale:
    """A rating scale; ratings <= low_max are low (bottom box), >= high_min high (top box)."""

    min: int = 1
    max: int = 5
    low_max: int = 2
    high_min: int = 5
    missing: tuple[Code, ...] = ()

    @property
    def points(self) -> int:
        return self.max - self.min + 1


def default_scale(lo: int, hi: int, missing: Iterable[Code] = ()) -> Scale:
    """PRCA cut-offs of METHODS.md: bottom two / top box, or 0-6 / 9-10 on 11-point scales."""
    if hi - lo + 1 >= 10:
        return Scale(lo, hi, lo + 6, hi - 1, tuple(missing))
    return Scale(lo, hi, lo + 1, hi, tuple(missing))


@dataclass(frozen=True)
class Outcome:
    """What the journey is judged by: binary (positive values), a scale, or 0-10 recommend."""

    column: str
    kind: OutcomeKind = "binary"
    positive: tuple[str, ...] = ()
    min: float | None = None
    max: float | None = None


@dataclass(frozen=True)
class Touchpoint:
    column: str
    label: str = ""
    tags: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return self.label or self.column


@dataclass(frozen=True)
class Stage:
    name: str
    touchpoints: tuple[str, ...]


@dataclass(frozen=True)
class JourneySpec:
    """Everything needed to read a survey as a journey; the stored dataset follows it."""

    stages: tuple[Stage, ...]
    touchpoints: tuple[Touchpoint, ...]
    scale: Scale
    outcome: Outcome
    id_column: str | None = None
    weight_column: str | None = None
    date_column: str | None = None
    segments: tuple[str, ...] = ()
    attributes: tuple[str, ...] = ()
    ignored: tuple[str, ...] = ()
    missing: Mapping[str, tuple[Code, ...]] = field(default_factory=dict)
    # Value labels and merges per column: code -> label; several codes may share a label
    # (a merge), and the key OTHER ("*") labels every code not listed.
    labels: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    # A touchpoint on another scale than `scale` (1-5 beside 0-10 in one survey).
    scales: Mapping[str, Scale] = field(default_factory=dict)
    comments: tuple[str, ...] = ()  # free-text columns kept as evidence, never analysed as scores
    # A comment column about one touchpoint or one stage (its column or name); unlisted
    # comment columns are general comments about the whole journey.
    comment_links: Mapping[str, str] = field(default_factory=dict)
    # Question text of columns that are not touchpoints (touchpoints carry their own label).
    column_labels: Mapping[str, str] = field(default_factory=dict)
    # The column the analyst confirmed holds the survey's waves (a segment or attribute whose
    # values are the waves, or the date column, grouped by period); never guessed.
    wave_column: str | None = None

    @cached_property
    def touchpoint_columns(self) -> tuple[str, ...]:
        """Touchpoints in journey order: stage by stage (built once per spec)."""
        return tuple(c for s in self.stages for c in s.touchpoints)

    @cached_property
    def _index(self) -> tuple[dict[str, Touchpoint], dict[str, str]]:
        """Each touchpoint column's Touchpoint and stage (the first, as a search finds it):
        a lookup per column stays constant however many touchpoints a journey has. Built
        once per spec (a frozen dataclass: `replace` makes a new one, with its own)."""
        touchpoints: dict[str, Touchpoint] = {}
        for t in self.touchpoints:
            touchpoints.setdefault(t.column, t)
        stages: dict[str, str] = {}
        for s in self.stages:
            for c in s.touchpoints:
                stages.setdefault(c, s.name)
        return touchpoints, stages

    def touchpoint(self, column: str) -> Touchpoint:
        return self._index[0][column]

    def stage_of(self, column: str) -> str:
        return self._index[1][column]

    def scale_of(self, column: str) -> Scale:
        """The scale a touchpoint is rated on: its own when it has one, else the survey's."""
        return self.scales.get(column, self.scale)

    def missing_codes(self, column: str) -> tuple[Code, ...]:
        """Codes that mean 'no answer' for a column: its own, else its scale's for touchpoints."""
        if column in self.missing:
            return tuple(self.missing[column])
        if column in self._index[1]:  # a touchpoint: a column of a stage
            return self.scale_of(column).missing
        return ()

    def label_of(self, column: str) -> str:
        """What a person reads for a column: a touchpoint's label or the question text."""
        found = self._index[0].get(column)
        if found is not None:
            return found.name
        return self.column_labels.get(column) or column

    def comment_touchpoints(self) -> dict[str, tuple[str, ...]]:
        """Each comment column and the touchpoints it speaks to: its linked touchpoint, every
        touchpoint of its linked stage, or () for a general comment."""
        stages = {s.name: s.touchpoints for s in self.stages}
        out: dict[str, tuple[str, ...]] = {}
        for col in self.comments:
            link = self.comment_links.get(col)
            out[col] = () if link is None else stages.get(link, (link,))
        return out

    def with_changes(self, **changes: Any) -> JourneySpec:
        return validate_spec(replace(self, **changes))


def validate_spec(spec: JourneySpec) -> JourneySpec:
    """Return the spec unchanged if it is coherent, else raise CmotError saying what to fix."""
    problems: list[str] = []
    s = spec.scale
    if not (s.min < s.max):
        problems.append(f"scale: min ({s.min}) must be below max ({s.max})")
    if not (s.min <= s.low_max < s.high_min <= s.max):
        problems.append(
            f"scale: need min <= low_max < high_min <= max, got "
            f"{s.min} <= {s.low_max} < {s.high_min} <= {s.max}"
        )
    for col, sc in spec.scales.items():
        if not (sc.min <= sc.low_max < sc.high_min <= sc.max):
            problems.append(
                f"scale of {col!r}: need min <= low_max < high_min <= max, got "
                f"{sc.min} <= {sc.low_max} < {sc.high_min} <= {sc.max}"
            )
    wave = spec.wave_column
    if wave and wave not in (*spec.segments, *spec.attributes, spec.date_column):
        problems.append(
            f"waves: {wave!r} is not a segment, attribute or the date column; waves come from "
            "one of those"
        )
    staged = [c for st in spec.stages for c in st.touchpoints]
    if not staged:
        problems.append("no touchpoints: list at least one touchpoint column in a stage")
    dupes = sorted(c for c, n in Counter(staged).items() if n > 1)
    if dupes:
        problems.append(f"touchpoints listed in more than one stage: {', '.join(dupes)}")
    names = [st.name for st in spec.stages]
    if len(set(names)) != len(names):
        problems.append("stage names must be unique")
    declared = {t.column for t in spec.touchpoints}
    if declared != set(staged):
        problems.append(
            "every touchpoint must appear in exactly one stage "
            f"(unplaced: {sorted(declared - set(staged))}, "
            f"unknown: {sorted(set(staged) - declared)})"
        )
    for t in spec.touchpoints:
        bad = [g for g in t.tags if g not in CMOT_TAGS]
        if bad:
            problems.append(
                f"touchpoint {t.column!r}: unknown tag(s) {bad}; use {', '.join(CMOT_TAGS)}"
            )
    o = spec.outcome
    if o.kind not in OUTCOME_KINDS:
        problems.append(f"outcome kind {o.kind!r}: use one of {', '.join(OUTCOME_KINDS)}")
    if o.kind == "binary" and not o.positive:
        problems.append("a binary outcome needs `positive`: the value(s) that count as positive")
    if o.column in staged:
        problems.append(f"{o.column!r} cannot be both the outcome and a touchpoint")
    taken = set(staged) | {o.column}
    both = sorted(c for c in spec.comments if c in taken)
    if both:
        problems.append(f"comment columns cannot be a touchpoint or the outcome: {both}")
    targets = set(staged) | set(names)
    for col, link in spec.comment_links.items():
        if col not in spec.comments:
            problems.append(f"comment link for {col!r}, which is not a comment column")
        elif link not in targets:
            problems.append(
                f"comment {col!r} is linked to {link!r}: link it to a touchpoint column or "
                "a stage name"
            )
    stray = sorted(set(spec.scales) - set(staged))
    if stray:
        problems.append(f"scales given for columns that are not touchpoints: {stray}")
    if problems:
        raise CmotError("The journey spec is not valid: " + "; ".join(problems) + ".")
    return spec


# ---- TOML ---------------------------------------------------------------------------


def spec_to_dict(spec: JourneySpec) -> dict[str, Any]:
    o = spec.outcome
    outcome: dict[str, Any] = {"column": o.column, "kind": o.kind}
    if o.positive:
        outcome["positive"] = list(o.positive)
    if o.min is not None:
        outcome["min"] = o.min
    if o.max is not None:
        outcome["max"] = o.max
    columns: dict[str, Any] = {
        "segments": list(spec.segments),
        "attributes": list(spec.attributes),
        "ignored": list(spec.ignored),
    }
    for key, value in (
        ("id", spec.id_column),
        ("weight", spec.weight_column),
        ("date", spec.date_column),
        ("waves", spec.wave_column),
    ):
        if value:
            columns[key] = value
    touchpoints: dict[str, Any] = {}
    for t in spec.touchpoints:
        entry: dict[str, Any] = {}
        if t.label and t.label != t.column:
            entry["label"] = t.label
        if t.tags:
            entry["tags"] = list(t.tags)
        touchpoints[t.column] = entry
    out: dict[str, Any] = {
        "scale": _scale_dict(spec.scale),
        "outcome": outcome,
        "columns": columns,
        "stages": [{"name": s.name, "touchpoints": list(s.touchpoints)} for s in spec.stages],
        "touchpoints": touchpoints,
    }
    if spec.missing:
        out["missing"] = {k: list(v) for k, v in spec.missing.items()}
    if spec.labels:
        out["labels"] = {k: dict(v) for k, v in spec.labels.items()}
    if spec.scales:
        out["scales"] = {k: _scale_dict(v) for k, v in spec.scales.items()}
    if spec.comments:
        columns["comments"] = list(spec.comments)
    if spec.comment_links:
        out["comment_links"] = dict(spec.comment_links)
    if spec.column_labels:
        out["column_labels"] = dict(spec.column_labels)
    return out


def _scale_dict(s: Scale) -> dict[str, Any]:
    return {
        "min": s.min,
        "max": s.max,
        "low_max": s.low_max,
        "high_min": s.high_min,
        "missing": list(s.missing),
    }


def _scale_from(sc: Mapping[str, Any], where: str) -> Scale:
    lo, hi = int(sc.get("min", 1)), int(sc.get("max", 5))
    base = default_scale(lo, hi, _codes(sc.get("missing", []), f"{where}.missing"))
    return Scale(
        lo,
        hi,
        int(sc.get("low_max", base.low_max)),
        int(sc.get("high_min", base.high_min)),
        base.missing,
    )


def _codes(value: Any, where: str) -> tuple[Code, ...]:
    if not isinstance(value, list):
        value = [value]
    for v in value:
        if isinstance(v, bool) or not isinstance(v, (int, str)):
            raise CmotError(f"{where}: missing codes must be whole numbers or text, got {v!r}.")
    return tuple(value)


def spec_from_dict(data: Mapping[str, Any]) -> JourneySpec:
    try:
        scale = _scale_from(data.get("scale", {}), "scale")
        od = data["outcome"]
        outcome = Outcome(
            column=str(od["column"]),
            kind=od.get("kind", "binary"),
            positive=tuple(str(v) for v in od.get("positive", [])),
            min=od.get("min"),
            max=od.get("max"),
        )
        cols = data.get("columns", {})
        tp_meta = data.get("touchpoints", {})
        stages = tuple(
            Stage(str(s["name"]), tuple(str(c) for c in s["touchpoints"]))
            for s in data.get("stages", [])
        )
        staged = [c for s in stages for c in s.touchpoints]
        touchpoints = tuple(
            Touchpoint(
                c,
                str(tp_meta.get(c, {}).get("label", "")),
                tuple(str(g) for g in tp_meta.get(c, {}).get("tags", [])),
            )
            for c in staged
        )
        unknown = sorted(set(tp_meta) - set(staged))
        if unknown:
            raise CmotError(
                f"The journey spec describes touchpoints that no stage lists: {unknown}. "
                "Add them to a stage or remove their [touchpoints] entry."
            )
        spec = JourneySpec(
            stages=stages,
            touchpoints=touchpoints,
            scale=scale,
            outcome=outcome,
            id_column=cols.get("id") or None,
            weight_column=cols.get("weight") or None,
            date_column=cols.get("date") or None,
            segments=tuple(cols.get("segments", [])),
            attributes=tuple(cols.get("attributes", [])),
            ignored=tuple(cols.get("ignored", [])),
            missing={str(k): _codes(v, f"missing.{k}") for k, v in data.get("missing", {}).items()},
            labels={
                str(k): {str(a): str(b) for a, b in v.items()}
                for k, v in data.get("labels", {}).items()
            },
            scales={
                str(k): _scale_from(v, f"scales.{k}") for k, v in data.get("scales", {}).items()
            },
            comments=tuple(cols.get("comments", [])),
            comment_links={str(k): str(v) for k, v in data.get("comment_links", {}).items()},
            column_labels={str(k): str(v) for k, v in data.get("column_labels", {}).items()},
            wave_column=cols.get("waves") or None,
        )
    except KeyError as e:
        raise CmotError(f"The journey spec lacks the required entry {e}.") from None
    except (TypeError, ValueError, AttributeError) as e:
        raise CmotError(f"The journey spec has a value of the wrong kind: {e}.") from None
    return validate_spec(spec)


def dumps_spec(spec: JourneySpec) -> str:
    return tomli_w.dumps(spec_to_dict(spec))


def loads_spec(text: str) -> JourneySpec:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise CmotError(f"The journey spec is not valid TOML: {e}.") from None
    return spec_from_dict(data)


def load_spec(path: str | Path) -> JourneySpec:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as e:
        raise CmotError(f"Cannot read the journey spec {p}: {e.strerror}.") from None
    return loads_spec(text)


def save_spec(spec: JourneySpec, path: str | Path) -> None:
    Path(path).write_text(dumps_spec(spec), encoding="utf-8")
