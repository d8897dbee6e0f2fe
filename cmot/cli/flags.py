"""The command line's survey flags: one set for `ingest`, `analyze`, `segments` and later commands.

Each flag is one choice of the Data page (outcome, its type, positive values or range, missing
codes, touchpoints, weight, sheet, value labels); `options_from_flags` turns their
text into `IngestOptions` (merged into a `--spec` file when one is given). No survey file is
read here.
"""

from __future__ import annotations

import argparse
import csv
import re
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from cmot.errors import CmotError
from cmot.ingest.detect import Detection
from cmot.ingest.options import IngestOptions
from cmot.ingest.outcome_choice import OutcomeChoice, outcome_choice
from cmot.ingest.patterns import said
from cmot.settings import DEFAULT_POOLING, POOLINGS
from cmot.spec import OUTCOME_KINDS, Code, JourneySpec, load_spec, validate_spec

# Flags whose value may begin with "-" (a negative code such as -99, -1-5 as a range):
# argparse reads "--missing -99,-98" as two flags unless the value is glued with "=".
_VALUE_MAY_START_WITH_DASH = ("--missing", "--outcome-range", "--positive")


def glue_dash_values(argv: Sequence[str]) -> list[str]:
    """`--missing -99,-98` -> `--missing=-99,-98`, so a negative code is a value, not a flag;
    the same for `--outcome-range -2-2`, `--positive -1` and `--label q1 -1=No,-2=Unsure`."""
    out: list[str] = []
    i = 0
    while i < len(argv):
        a = argv[i]
        nxt = argv[i + 1] if i + 1 < len(argv) else None
        if a == "--label" and i + 2 < len(argv) and argv[i + 2].startswith("-"):
            # Two values (COLUMN CODES); "-1=No basis" would read as a flag. A leading space
            # makes argparse take it as a value; the labels are trimmed anyway.
            out += [a, argv[i + 1], " " + argv[i + 2]]
            i += 3
            continue
        if (
            a in _VALUE_MAY_START_WITH_DASH
            and nxt is not None
            and nxt.startswith("-")
            and not nxt.startswith("--")
        ):
            out.append(f"{a}={nxt}")
            i += 2
            continue
        out.append(a)
        i += 1
    return out


def split_list(text: str, what: str) -> tuple[str, ...]:
    """'a, "b, c" ,Q7*' -> ('a', 'b, c', 'Q7*'): commas separate, double quotes protect a comma.

    Spaces around an entry are dropped (column names are trimmed on reading); spaces and
    brackets inside a name are kept as they are.
    """
    try:
        rows = list(csv.reader([text], skipinitialspace=True, strict=True))
    except csv.Error as e:
        raise CmotError(
            f"{what}: cannot split {text!r} ({e}). Separate entries with commas and put a name "
            'that holds a comma in double quotes, e.g. "Price, overall",Q7*.'
        ) from None
    items = tuple(s.strip() for s in (rows[0] if rows else []))
    if not items or any(not s for s in items):
        raise CmotError(f"{what}: {text!r} has an empty entry; give names separated by commas.")
    return items


def parse_codes_flag(text: str) -> tuple[Code, ...]:
    """--missing: '9, 99, -99, Blank, "Don\'t know"' -> (9, 99, -99, 'Blank', "Don't know").

    Whole numbers become ints (they match 9 and 9.0 in numeric columns), the rest stays text.
    An empty value or `none` means "no missing codes": the proposed ones are all refused.
    """
    if text.strip() in ("", "none"):
        return ()
    return tuple(
        int(s) if re.fullmatch(r"[+-]?\d+", s) else s for s in split_list(text, "--missing")
    )


_NUMBER = r"[+-]?\d+(?:\.\d+)?"


def parse_range(text: str) -> tuple[float, float]:
    """--outcome-range: '1-5', '0-10', '1..7', '1:5' or '-2-2' -> (lo, hi) with lo < hi."""
    m = re.fullmatch(rf"\s*({_NUMBER})\s*(?:-|\.\.|:|to)\s*({_NUMBER})\s*", text)
    if not m:
        raise CmotError(
            f"--outcome-range: {text!r} is not a range; give the lowest and highest "
            "possible outcome values as LO-HI, e.g. 1-5 or 0-10."
        )
    lo, hi = float(m.group(1)), float(m.group(2))
    if not lo < hi:
        raise CmotError(f"--outcome-range: {text!r} must go from low to high, e.g. 1-5.")
    return lo, hi


def parse_labels(pairs: Sequence[Sequence[str]]) -> dict[str, dict[str, str]]:
    """--label COLUMN 'CODE=LABEL,...' (repeatable) -> {column: {code: label}}.

    Several codes may share a label (a merge: 1=Business,5=Business) and the code `*` labels
    every code not listed (*=Other), as on the Data page.
    """
    out: dict[str, dict[str, str]] = {}
    for column, text in pairs:
        if not column.strip():
            raise CmotError("--label: name the column first, e.g. --label trip 1=Business.")
        labels = out.setdefault(column.strip(), {})
        for item in split_list(text, f"--label {column}"):
            code, sep, label = item.partition("=")
            if not sep or not code.strip() or not label.strip():
                raise CmotError(
                    f"--label {column}: {item!r} is not CODE=LABEL; write e.g. "
                    "1=Business,5=Business,*=Other."
                )
            labels[code.strip()] = label.strip()
    return out


# Detection's word for a mapping that still awaits a choice (`Detection.require_spec`).
_INCOMPLETE = "The mapping is not complete"


def for_the_command_line(message: str) -> str:
    """A mapping problem in the Data page's words, plus the flags that make the choice."""
    if not message.startswith(_INCOMPLETE) or "--outcome" in message:
        return message
    return (
        f"{message} On the command line: --outcome COLUMN --outcome-type binary|scale|recommend "
        "names the outcome, --touchpoints COLS (names or patterns such as Q7*) the touchpoints; "
        "or give a journey spec with --spec."
    )


def pattern_notes(det: Detection) -> list[str]:
    """What each --touchpoints pattern matched: 'q3_*: 12 columns (q3_01 … q3_12)'. An exact
    column name goes unsaid."""
    return said(det.patterns, [g.column for g in det.columns])


def mapping_notes(det: Detection, spec: JourneySpec) -> list[str]:
    """What detection chose for the user on a file, and the flag that changes it: a command
    line run shows no mapping table, so nothing proposed may pass unsaid."""
    notes = pattern_notes(det)
    applied = [p.code for p in det.proposals if p.applied]
    if applied:
        codes = ", ".join(repr(c) if isinstance(c, str) else str(c) for c in applied)
        notes.append(
            f"Read as 'no answer' (proposed from the data): {codes}; --missing CODES replaces them."
        )
    found = [c for c in det.weight_candidates if c != spec.weight_column]
    if found and spec.weight_column is None:
        notes.append(
            f"Weight column found, not applied: {', '.join(found)}; --weight COLUMN applies it."
        )
    return notes


def add_survey_flags(p: argparse.ArgumentParser, *, stored_note: bool = False) -> None:
    """The same choices as the Data page's mapping, for every command that reads a survey."""
    note = " (files only: a stored dataset keeps its mapping)" if stored_note else ""
    g = p.add_argument_group(
        "the survey's mapping" + note,
        "What detection cannot know; anything left out is detected or proposed. "
        "A journey spec (--spec) alone suffices; the other flags override it.",
    )
    g.add_argument("--spec", metavar="FILE", help="journey spec (TOML) naming every role")
    g.add_argument("--outcome", metavar="COLUMN", help="the outcome column")
    g.add_argument(
        "--outcome-type",
        choices=OUTCOME_KINDS,
        help="binary (with --positive), scale (with --outcome-range) or recommend (0-10, NPS)",
    )
    g.add_argument(
        "--positive",
        metavar="V[,V]",
        help="a binary outcome's value(s) that count as positive, e.g. satisfied or 4,5",
    )
    g.add_argument(
        "--outcome-range",
        metavar="LO-HI",
        help="a scale outcome's possible range, e.g. 1-5 or 1-10 (implies --outcome-type scale)",
    )
    g.add_argument(
        "--missing",
        metavar="CODES",
        help="codes meaning 'no answer' in the ratings and the outcome: numbers and text, "
        "e.g. 0,6,Blank or -99 ('none' refuses the proposed codes)",
    )
    g.add_argument(
        "--touchpoints",
        metavar="COLS",
        action="append",
        help="touchpoint columns, comma separated: an exact name first, else a pattern such "
        "as Q7* (only * and ? are wildcards; brackets are part of a name: Q1[01]*); quote a "
        "name holding a comma: '\"Price, overall\",Q7*' (repeatable)",
    )
    g.add_argument(
        "--weight",
        metavar="COLUMN|none",
        help="weight results by this column; default: none unless the spec names one",
    )
    g.add_argument(
        "--label",
        nargs=2,
        action="append",
        metavar=("COLUMN", "CODE=LABEL,..."),
        help="value labels and merges of a segment column, e.g. --label trip "
        "1=Business,5=Business,*=Other (repeatable)",
    )
    g.add_argument("--sheet", metavar="NAME", help="the sheet of an Excel workbook to read")
    g.add_argument("--layout", choices=["wide", "long"], help="detected when omitted")


def flag_values(args: argparse.Namespace) -> dict[str, Any]:
    """The survey flags of parsed arguments, as keyword arguments of `options_from_flags`."""
    touchpoints = getattr(args, "touchpoints", None)
    return {
        "spec": args.spec,
        "missing": args.missing,
        "outcome": args.outcome,
        "positive": args.positive,
        "layout": args.layout,
        "outcome_type": args.outcome_type,
        "outcome_range": args.outcome_range,
        "touchpoints": ",".join(touchpoints) if touchpoints else None,
        "weight": args.weight,
        "sheet": args.sheet,
        "labels": args.label,
    }


def options_from_flags(
    spec: str | None = None,
    missing: str | None = None,
    outcome: str | None = None,
    positive: str | None = None,
    layout: str | None = None,
    *,
    outcome_type: str | None = None,
    outcome_range: str | None = None,
    touchpoints: str | None = None,
    weight: str | None = None,
    sheet: str | None = None,
    labels: Sequence[Sequence[str]] | None = None,
) -> IngestOptions:
    """The command line's survey flags (see `cmot.cli.flags`) as options; CmotError on a bad value.

    With --spec the other flags override the spec's entries, so that `--spec` alone suffices
    and `--spec --missing` merges as before. The spec's outcome is also handed to detection,
    which then never has to find one itself.
    """
    if outcome is not None and not outcome.strip():
        raise CmotError("--outcome: name the outcome column.")
    if outcome_type is not None and outcome_type not in OUTCOME_KINDS:
        raise CmotError(f"--outcome-type: use one of {', '.join(OUTCOME_KINDS)}.")
    if layout is not None and layout not in ("wide", "long"):
        raise CmotError(f"--layout: use wide or long, not {layout!r}.")
    chosen = _outcome_flags(outcome_type, positive, outcome_range)
    codes = parse_codes_flag(missing) if missing is not None else None
    tps = split_list(touchpoints, "--touchpoints") if touchpoints is not None else None
    wt = _weight_flag(weight)
    if sheet is not None and not sheet.strip():
        raise CmotError("--sheet: name the workbook's sheet to read.")
    value_labels = parse_labels(labels or [])
    if spec is None:
        return IngestOptions(
            missing=codes,
            outcome=outcome.strip() if outcome else None,
            positive=chosen.positive,
            outcome_kind=chosen.kind,
            outcome_range=chosen.range,
            touchpoints=tps,
            weight=wt,
            sheet=sheet,
            layout=layout,
            labels=value_labels,
            # A named weight is also the column's role, as the Data page maps it.
            roles={wt: "weight"} if wt not in (None, "none") else {},
        )
    if tps is not None:
        raise CmotError(
            "--touchpoints cannot change a journey spec: list the touchpoints in the spec's "
            "stages, or drop --spec to pick them by name or pattern."
        )
    merged = _merge_spec(load_spec(spec), outcome, chosen, codes, wt)
    o = merged.outcome
    return IngestOptions(
        spec=merged,
        missing=codes,
        outcome=o.column,
        positive=o.positive or None,
        outcome_kind=o.kind,
        outcome_range=(o.min, o.max) if o.min is not None and o.max is not None else None,
        weight=merged.weight_column or "none",
        sheet=sheet,
        layout=layout,
        labels=value_labels,
    )


# What --outcome-type, --positive and --outcome-range say when a value does not fit the type
# (`OutcomeChoice.misfit`); the rule itself is the Data page's (`outcome_choice`).
_MISFITS = {
    "positive": "--positive applies to a binary outcome, not a {kind} one: drop --positive, "
    "or say --outcome-type binary.",
    "range": "--outcome-range applies to a scale outcome; a binary one takes --positive.",
    "recommend": "A recommend outcome is rated 0-10; for another range say --outcome-type scale.",
}


def _outcome_flags(
    outcome_type: str | None, positive: str | None, outcome_range: str | None
) -> OutcomeChoice:
    """The outcome's kind, positive values and range from their flags, which must agree, by
    the Data page's rule (`outcome_choice`): a range alone implies a scale outcome, positive
    values a binary one."""
    pos = split_list(positive, "--positive") if positive is not None else None
    rng = parse_range(outcome_range) if outcome_range is not None else None
    choice = outcome_choice(outcome_type, pos, rng)
    if choice.misfit:
        raise CmotError(_MISFITS[choice.misfit].format(kind=choice.kind))
    return choice


def _weight_flag(weight: str | None) -> str | None:
    """--weight's column, "none" for no weight (any case), None when not given."""
    if weight is None:
        return None
    wt = weight.strip()
    if not wt:
        raise CmotError("--weight: name the weight column, or say none.")
    if wt.lower() == "none":
        wt = "none"
    return wt


def _merge_spec(
    spec: JourneySpec,
    outcome: str | None,
    chosen: OutcomeChoice,
    missing: tuple[Code, ...] | None,
    weight: str | None,
) -> JourneySpec:
    """The spec with the flags' outcome (`chosen`: --outcome-type, --positive and
    --outcome-range), weight and outcome missing codes put in."""
    o = spec.outcome
    column = outcome.strip() if outcome else o.column
    if outcome or chosen.kind:
        # The spec's outcome keeps its type and values while the flags keep its column and
        # give no others, as a stored mapping's do on the Data page (Edit mapping).
        kept = o if column == o.column else None
        choice = outcome_choice(chosen.kind, chosen.positive, chosen.range, kept)
        if choice.kind is None:
            raise CmotError(
                f"The spec's outcome is {o.column!r}; say what {column!r} is with "
                "--outcome-type binary|scale|recommend."
            )
        if choice.kind == "binary" and not choice.positive:
            raise CmotError(
                f"Say which values of {column!r} count as positive with --positive, e.g. "
                "--positive yes or --positive 4,5."
            )
        o = choice.outcome(column)
        # The new outcome is an attribute no more; the old one, now unlisted, is not kept.
        spec = replace(
            spec,
            outcome=o,
            segments=tuple(c for c in spec.segments if c != column),
            attributes=tuple(c for c in spec.attributes if c != column),
            ignored=tuple(c for c in spec.ignored if c != column),
        )
    if weight is not None:
        w = None if weight == "none" else weight
        spec = replace(
            spec,
            weight_column=w,
            segments=tuple(c for c in spec.segments if c != w),
            attributes=tuple(c for c in spec.attributes if c != w),
            ignored=tuple(c for c in spec.ignored if c != w),
        )
    if missing and o.kind != "binary":
        # Declared codes are "no answer" in the outcome too, but never a point of its own
        # range: 0 = not applicable on 1-5 ratings is a real detractor on a 0-10 recommend.
        def inside(c: Code) -> bool:
            return (
                isinstance(c, int)
                and o.min is not None
                and o.max is not None
                and (o.min <= c <= o.max)
            )

        codes = tuple(c for c in missing if not inside(c))
        if codes:
            own = tuple(spec.missing.get(o.column, ()))
            spec = replace(
                spec,
                missing={**spec.missing, o.column: own + tuple(c for c in codes if c not in own)},
            )
    return validate_spec(spec)


def add_analysis_flags(p: argparse.ArgumentParser) -> None:
    """What `analyze` and `trend` share: segments, the survey's mapping, the box cuts and the
    measure (the same words mean the same analysis in both)."""
    p.add_argument(
        "--segment",
        action="append",
        metavar="COLUMN",
        help="segment by this column (repeat for combinations); the whole data is 'All'",
    )
    add_survey_flags(p, stored_note=True)
    p.add_argument("--low-max", type=int, help="highest rating counted as low (bottom box)")
    p.add_argument("--high-min", type=int, help="lowest rating counted as high (top box)")
    p.add_argument(
        "--promoter", action="store_true", help="a 0-10 recommend outcome as promoter share"
    )
    add_pooling_flag(p)


def add_pooling_flag(p: argparse.ArgumentParser) -> None:
    """--pooling partial|none: the segments' estimates pooled across segments or alone."""
    p.add_argument(
        "--pooling",
        choices=POOLINGS,
        default=DEFAULT_POOLING,
        help="partial: each segment of 30+ respondents blends its own data with the whole "
        "journey's (partial pooling across segments); none: each segment alone, 10 "
        f"respondents per touchpoint (default: {DEFAULT_POOLING}; docs/METHODS.md says why)",
    )


def add_engine_flags(p: argparse.ArgumentParser) -> None:
    """Where the sums run: --engine duckdb (default, in this process) or spark."""
    g = p.add_argument_group("engine")
    g.add_argument(
        "--engine",
        choices=("duckdb", "spark"),
        default=None,
        help="where the sums run: duckdb (in this process) or spark (pip install -r "
        "requirements-spark.txt, Java 17); default: a dataset's own engine, else duckdb. "
        "A Parquet path or glob is read in place by either; a table name needs spark",
    )
    g.add_argument(
        "--spark-remote",
        metavar="sc://HOST:PORT",
        help="a Spark Connect server (default: a local Spark, local[2])",
    )
