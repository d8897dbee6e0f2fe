"""`python -m cmot trend`: moments of truth wave by wave, their changes and whether fixes
worked, as CSV tables and markdown."""

from __future__ import annotations

import argparse
import shlex
from dataclasses import replace
from pathlib import Path

import pandas as pd

from cmot.cli.analyze import as_attributes, check_segment_columns, weighting
from cmot.cli.flags import (
    add_analysis_flags,
    flag_values,
    mapping_notes,
    options_from_flags,
    split_list,
)
from cmot.errors import CmotError
from cmot.ingest.options import IngestOptions
from cmot.names import DERIVED_COLUMNS, quote_ident
from cmot.present.exports import to_csv
from cmot.results.trend import TrendResult, compute_trend
from cmot.results.trend_changes import Family, compare_waves
from cmot.results.trend_fixes import fix_check
from cmot.settings import POOLING_WORDS, Settings
from cmot.spec import JourneySpec
from cmot.store.datasets import Store
from cmot.store.intake import Survey, open_survey
from cmot.waves.harmonise import ColumnsInfo, Match, file_columns_info, propose_matches
from cmot.waves.sources import (
    PERIODS,
    Wave,
    WaveSource,
    trend_columns,
    wave_spec,
    waves_from_column,
    waves_from_link,
    waves_from_relations,
)

TREND_CSV_FIRST = [
    "wave",
    "segment",
    "touchpoint",
    "n",
    "penalty",
    "reward",
    "penalty_se",
    "reward_se",
    "class",
]
CHANGES_CSV_FIRST = [
    "segment",
    "touchpoint",
    "from_wave",
    "to_wave",
    "from_class",
    "to_class",
    "d_penalty",
    "d_penalty_se",
    "d_reward",
    "d_reward_se",
    "p_adj",
    "sentence",
]
SUMMARY_LINES = 20  # per section of summary.md; the CSV files have every row


def open_waves(args: argparse.Namespace) -> tuple[WaveSource, list[str]]:
    """The waves the sources name, and the mapping notes to print.

    One source: its waves come from --wave (values, or periods with --by); --by alone uses
    the spec's date column. Several sources: one wave each, read with the first one's
    mapping (a file) or their own (a stored dataset), labelled --labels or by name.
    """
    sources: list[str] = list(args.sources)
    if args.link:
        if sources or args.wave or args.by or args.labels:
            raise CmotError(
                "--link gives the waves and their labels: leave out the sources, --wave, --by "
                "and --labels (or drop --link)."
            )
        store = Store()
        return waves_from_link(store, store.get_link(args.link)), []
    if not sources:
        raise CmotError("Name the survey's sources (files or datasets), or a stored --link.")
    segments = list(args.segment or [])
    labels = list(split_list(args.labels, "--labels")) if args.labels else None
    options = options_from_flags(**flag_values(args))
    if len(sources) == 1:
        return _waves_of_one_source(args, sources[0], segments, labels, options)
    if args.wave or args.by:
        raise CmotError(
            "Several sources are one wave each: leave out --wave and --by, or give one source "
            "holding every wave with --wave."
        )
    if labels is not None and len(labels) != len(sources):
        raise CmotError(f"Give one label per source: {len(sources)} sources, {len(labels)} labels.")
    return _wave_per_source(args, sources, labels or [_name(s) for s in sources], options)


def _waves_of_one_source(
    args: argparse.Namespace,
    ref: str,
    segments: list[str],
    labels: list[str] | None,
    options: IngestOptions,
) -> tuple[WaveSource, list[str]]:
    """One source's waves from its --wave column (values, or periods with --by) or, with
    --by alone, its date column; its note printed, its mapping notes returned."""
    one = _keep_wave(as_attributes(options, ref, segments + _given(args.wave)), args.wave)
    survey = open_survey(ref, one)
    if survey.note:
        print(survey.note)
    spec = survey.spec
    column = args.wave or (spec.date_column if args.by else None)
    if column is None:
        raise CmotError(
            "One source makes one wave: name its wave or date column with --wave (and "
            "--by month, quarter or year for a date), or give one file or dataset per wave."
        )
    check_segment_columns(survey.con, survey.table, spec, segments)
    key = ("dataset", survey.info.id) if survey.info is not None else None
    source = waves_from_column(
        survey.con, survey.table, spec, column, by=args.by, labels=labels, cache_key=key
    )
    found = mapping_notes(survey.detection, spec) if survey.detection is not None else []
    return source, list(found)


def _wave_per_source(
    args: argparse.Namespace, sources: list[str], names: list[str], options: IngestOptions
) -> tuple[WaveSource, list[str]]:
    """One wave per source, labelled `names`: the first read with `options`, a later file
    with the first one's mapping (matched column by column after a first file), a stored
    dataset with its own; the notes and mapping notes to print."""
    segments = list(args.segment or [])
    waves: list[Wave] = []
    specs: list[JourneySpec] = []
    notes = []
    first: JourneySpec | None = None
    first_info: list[ColumnsInfo] = []  # the first file's columns, read once when needed
    for k, ref in enumerate(sources):
        is_file = Path(ref).is_file()
        if first is not None and is_file and Path(sources[0]).is_file():
            # A later file is matched to the first column by column as `link` matches
            # stored datasets, and read with the first one's mapping in its own names.
            wave, found = _later_file(args, ref, k, first, first_info, options, segments)
            waves.append(replace(wave, label=names[k]))
            specs.append(first)
            notes += found
            continue
        if first is None:
            opts: IngestOptions | None = as_attributes(options, ref, segments)
        elif is_file:
            # After a stored dataset, a file is read with its mapping: the same roles, codes
            # and scale, so every wave is cleaned alike.
            opts = replace(options, spec=first)
        else:
            opts = None  # a stored dataset keeps the mapping it was ingested with
        survey = open_survey(ref, opts)
        if survey.note:
            notes.append(survey.note)
        if first is None:
            first = survey.spec
            if survey.detection is not None:
                notes += mapping_notes(survey.detection, survey.spec)
        check_segment_columns(survey.con, survey.table, first, segments)
        key = ("dataset", survey.info.id) if survey.info is not None else None
        waves.append(Wave(names[k], survey.con, survey.table, (), key))
        specs.append(survey.spec)
    return waves_from_relations(waves, specs), notes


def _later_file(
    args: argparse.Namespace,
    ref: str,
    k: int,
    first: JourneySpec,
    first_info: list[ColumnsInfo],
    options: IngestOptions,
    segments: list[str],
) -> tuple[Wave, list[str]]:
    """A later wave given as a file: the columns the trend reads (`trend_columns`) found in it
    by `propose_matches`, as `python -m cmot link` finds them (same name, then the same name
    ignoring case, spacing and punctuation, the same question text, the same values), and
    the file read with the first wave's mapping written in its names (`wave_spec`); its
    relation renames them back. Other columns are not read, so they never block the run. A
    touchpoint it lacks is left out with a note; the outcome, the weight or a segment column
    it lacks is refused, naming the file, the column and the `link` commands that fix it."""
    first_ref = str(args.sources[0])
    reading = IngestOptions(sheet=options.sheet, layout=options.layout, delimiter=options.delimiter)
    other = file_columns_info(ref, reading)
    needed = trend_columns(first, segments)
    notes: list[str] = []
    if all(c in other.names for c in needed):
        found = {c: c for c in needed}
    else:
        if not first_info:
            first_info.append(file_columns_info(first_ref, reading))
        matches = {m.first_column: m for m in propose_matches(first_info[0], other)}
        found = {}
        lost: list[str] = []
        renamed: list[Match] = []
        for c, what in needed.items():
            m = matches.get(c)
            if m is None or m.other_column is None:
                if what != "a touchpoint":
                    raise CmotError(_unmatched(args, ref, c, what, first))
                lost.append(c)
                continue
            found[c] = m.other_column
            if m.other_column != c:
                renamed.append(m)
        if renamed:
            by_how: dict[str, list[str]] = {}
            for m in renamed:
                by_how.setdefault(m.evidence, []).append(f"{m.other_column} as {m.first_column}")
            shown = "; ".join(
                f"{', '.join(pairs[:6])}{' ...' if len(pairs) > 6 else ''} ({how})"
                for how, pairs in by_how.items()
            )
            notes.append(
                f"{Path(ref).name}: {len(renamed)} column(s) matched to {Path(first_ref).name}'s "
                f"as python -m cmot link matches them: {shown}."
            )
        if lost:
            notes.append(
                f"{Path(ref).name} has no column matching touchpoint(s) "
                f"{', '.join(lost[:10])}{' ...' if len(lost) > 10 else ''} of "
                f"{Path(first_ref).name} (by name, question text or values): left out of the "
                "trend. If the file asks them under other names, link the waves "
                "(python -m cmot link ... --map OLD=NEW)."
            )
    spec = wave_spec(first, found, segments)
    survey = open_survey(ref, replace(reading, spec=spec))
    back = {later: c for c, later in found.items()}
    parts = [
        f"{quote_ident(later)} AS {quote_ident(c)}" if later != c else quote_ident(c)
        for later, c in back.items()
    ]
    parts += [quote_ident(c) for c in DERIVED_COLUMNS if c in _columns_of(survey)]
    relation = f"(SELECT {', '.join(parts)} FROM {survey.table})"
    check_segment_columns(survey.con, relation, first, segments)
    return Wave(_name(ref), survey.con, relation, (), None), notes


def _columns_of(survey: Survey) -> set[str]:
    rows = survey.con.execute(f"DESCRIBE SELECT * FROM {survey.table}").fetchall()
    return {str(r[0]) for r in rows}


def _listed(items: tuple[str, ...]) -> str:
    """Names as one comma-separated flag value (`split_list`: a comma inside quotes)."""
    return ",".join(f'"{c}"' if "," in c else c for c in items)


def _unmatched(
    args: argparse.Namespace, ref: str, column: str, what: str, first: JourneySpec
) -> str:
    """The refusal for a column the trend needs that a later file lacks: the file, the
    column, and the commands that match it by hand (`link` with --map) and run the trend."""
    a, b = str(args.sources[0]), ref
    na, nb = _name(a), _name(b)
    link = f"{na}-{nb}"
    flags = _spec_flags(first)
    out = shlex.quote(str(args.out))
    seg = "".join(f" --segment {shlex.quote(s)}" for s in args.segment or [])
    return (
        f"{Path(b).name} has no column matching {column!r}, {what} in {Path(a).name}: none has "
        "its name (ignoring case, spaces and punctuation), question text or values. If "
        f"{Path(b).name} asks it under another name, store the waves and link them, naming "
        f"that column: python -m cmot ingest {shlex.quote(a)} --name {shlex.quote(na)}{flags}; "
        f"python -m cmot ingest {shlex.quote(b)} --name {shlex.quote(nb)} (with its own "
        f"column names); python -m cmot link {shlex.quote(link)} {shlex.quote(na)} "
        f"{shlex.quote(nb)} --map COLUMN={shlex.quote(column)} --yes (COLUMN: its name in "
        f"{Path(b).name}); then python -m cmot trend --link {shlex.quote(link)}{seg} --out {out}"
    )


def _spec_flags(spec: JourneySpec) -> str:
    """The mapping flags that make `spec`'s outcome, codes, touchpoints and weight."""
    o = spec.outcome
    parts = ["--outcome", o.column, "--outcome-type", o.kind]
    if o.kind == "binary" and o.positive:
        parts += ["--positive", _listed(o.positive)]
    elif o.kind == "scale" and o.min is not None and o.max is not None:
        parts += ["--outcome-range", f"{o.min:g}-{o.max:g}"]
    if spec.scale.missing:
        parts += [f"--missing={','.join(map(str, spec.scale.missing))}"]
    parts += ["--touchpoints", _listed(spec.touchpoint_columns)]
    if spec.weight_column:
        parts += ["--weight", spec.weight_column]
    return "".join(f" {shlex.quote(p)}" for p in parts)


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _keep_wave(options: IngestOptions, column: str | None) -> IngestOptions:
    """A spec that does not name the wave column would drop it on reading: keep it as an
    attribute (only the column's role changes; the spec's mapping is otherwise used as is)."""
    spec = options.spec
    if column is None or spec is None:
        return options
    named = {spec.date_column, spec.id_column, *spec.attributes, *spec.touchpoint_columns}
    if column in named or column == spec.outcome.column:
        return options
    return replace(options, spec=replace(spec, attributes=(*spec.attributes, column)))


def _given(column: str | None) -> list[str]:
    return [column] if column else []


def _name(ref: str) -> str:
    path = Path(ref)
    return path.stem if path.is_file() else ref


def write_trend_summary(
    trend: TrendResult,
    changes: pd.DataFrame,
    fixes: pd.DataFrame,
    title: str,
    spec: JourneySpec,
    *,
    chosen: bool = False,
    family: Family = "all",
) -> str:
    """The markdown summary: waves, significant changes, migrations, fixes, thin data."""
    s = trend.settings
    sizes = trend.segments[trend.segments.segment == "All"]
    waves = ", ".join(f"{r.wave} (n = {int(r.n):,})" for r in sizes.itertuples())
    by = " x ".join(spec.label_of(c) for c in trend.segmentation) or "(none)"
    pairs = "the chosen waves" if chosen else "consecutive waves"
    across = (
        "across each segment's touchpoints" if family == "segment" else "across the whole report"
    )
    lines = [
        f"# Trend: {title}",
        "",
        f"Waves: {waves}. Segmented by: {by}. Results are {weighting(spec)}; penalty, reward "
        f"and risk are in {trend.unit} of the outcome. Changes between {pairs} are tested "
        f"with Benjamini-Hochberg at {s.alpha} {across}.",
        "",
        f"Estimates: {trend_method(trend)}.",
        "",
    ]
    if trend.notes:
        lines += ["## Notes", "", *[f"- {n}" for n in trend.notes], ""]
    sig = changes[changes.significant] if len(changes) else changes
    lines += ["## Significant changes", ""]
    if sig.empty:
        lines.append("No change of penalty, reward or box shares survives the FDR control.")
    else:
        lines += [f"- {t}" for t in sig.sort_values("p_adj").sentence.head(SUMMARY_LINES)]
        if len(sig) > SUMMARY_LINES:
            lines.append(f"- ... and {len(sig) - SUMMARY_LINES} more in changes.csv")
    lines += ["", "## Class migrations", ""]
    moved = changes[~changes.migration.isin(["", "not comparable"])] if len(changes) else changes
    if moved.empty:
        lines.append("No touchpoint changed class.")
    else:
        for r in moved.head(SUMMARY_LINES).itertuples():
            lines.append(
                f"- {r.touchpoint} ({r.segment}), {r.from_wave} to {r.to_wave}: {r.migration}"
            )
        if len(moved) > SUMMARY_LINES:
            lines.append(f"- ... and {len(moved) - SUMMARY_LINES} more in changes.csv")
    lines += ["", "## Did the fix work", ""]
    if fixes.empty:
        lines.append("No vulnerability in an earlier wave to follow up.")
    else:
        order = fixes.assign(_k=fixes.verdict.eq("unchanged")).sort_values("_k", kind="stable")
        lines += [f"- {t}" for t in order.sentence.head(SUMMARY_LINES)]
        if len(fixes) > SUMMARY_LINES:
            lines.append(f"- ... and {len(fixes) - SUMMARY_LINES} more in fixes.csv")
    thin = trend.segments[trend.segments.insufficient]
    if len(thin):
        lines += ["", "## Too little data", ""]
        lines += [
            f"- {r.wave}, {r.segment}: {_cut(str(r.reason), 200)}"
            for r in thin.head(SUMMARY_LINES).itertuples()
        ]
        if len(thin) > SUMMARY_LINES:
            lines.append(f"- ... and {len(thin) - SUMMARY_LINES} more in segments.csv")
    return "\n".join(lines) + "\n"


def trend_method(trend: TrendResult) -> str:
    """'partial pooling across segments' or 'each segment alone', as every wave says it (a
    wave whose segments could not be pooled says why)."""
    said = [f"{w}: {r.method}" for w, r in trend.results.items()]
    methods = list(dict.fromkeys(r.method for r in trend.results.values()))
    return (
        methods[0]
        if len(methods) == 1
        else "; ".join(said) or POOLING_WORDS[trend.settings.pooling]
    )


def trend_warnings(trend: TrendResult) -> pd.DataFrame:
    """Every wave's guardrail warnings, with the wave."""
    frames = [r.warnings.assign(wave=w) for w, r in trend.results.items() if len(r.warnings)]
    cols = ["wave", "segment", "touchpoint", "column", "kind", "message"]
    return pd.concat(frames, ignore_index=True)[cols] if frames else pd.DataFrame(columns=cols)


def run_trend(args: argparse.Namespace) -> int:
    source, notes = open_waves(args)
    for note in notes:
        print(note)
    segments = list(args.segment or [])
    settings = Settings(
        low_max=args.low_max,
        high_min=args.high_min,
        measure="promoter" if args.promoter else "score",
        pooling=args.pooling,
    )
    trend = compute_trend(source, segments or None, settings)
    pairs = None
    if args.from_wave or args.to_wave:
        if not (args.from_wave and args.to_wave):
            raise CmotError("Give both --from and --to to compare two chosen waves.")
        pairs = [(args.from_wave, args.to_wave)]
    changes = compare_waves(trend, pairs, args.fdr)
    fixes = fix_check(trend, pairs, args.fdr)
    out = Path(args.out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise CmotError(f"Cannot create the output folder {out}: {e.strerror}.") from None
    t = trend.trend
    tables = {
        "trend": t[TREND_CSV_FIRST + [c for c in t.columns if c not in TREND_CSV_FIRST]],
        "changes": changes[
            CHANGES_CSV_FIRST + [c for c in changes.columns if c not in CHANGES_CSV_FIRST]
        ],
        "fixes": fixes,
        "segments": trend.segments,
        "warnings": trend_warnings(trend),  # even empty: no stale file from an earlier run
    }
    for name, frame in tables.items():
        (out / f"{name}.csv").write_bytes(to_csv(frame))  # formula-safe, like every export
    title = args.link or ", ".join(Path(s).name for s in args.sources)
    summary = write_trend_summary(
        trend, changes, fixes, title, source.spec, chosen=pairs is not None, family=args.fdr
    )
    (out / "summary.md").write_text(summary, encoding="utf-8")
    print(summary, end="")
    print(
        f"{len(trend.waves)} waves, {int(changes.significant.sum()) if len(changes) else 0} "
        f"significant changes, {len(fixes)} vulnerabilities followed up; wrote "
        f"{', '.join(f'{n}.csv' for n in tables)}, summary.md to {out}"
    )
    return 0


def add_trend_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "trend",
        help="moments of truth wave by wave: changes, class migrations, did the fix work",
    )
    p.add_argument(
        "sources",
        nargs="*",
        metavar="FILE_OR_DATASET",
        help="one survey holding every wave (with --wave), or one file or dataset per wave",
    )
    p.add_argument("--wave", metavar="COLUMN", help="the column giving each row's wave")
    p.add_argument(
        "--link", metavar="NAME", help="the waves of a stored link (python -m cmot link)"
    )
    p.add_argument(
        "--by",
        choices=PERIODS,
        help="group a date column into waves by month, quarter or year (the spec's date "
        "column when --wave is left out)",
    )
    p.add_argument(
        "--labels",
        metavar="L1,L2,...",
        help="wave names: one per source, or for --wave its values in the order wanted (or "
        "new names for its waves in their natural order)",
    )
    add_analysis_flags(p)
    p.add_argument("--from", dest="from_wave", metavar="WAVE", help="compare this wave ...")
    p.add_argument("--to", dest="to_wave", metavar="WAVE", help="... with this one")
    p.add_argument(
        "--fdr",
        choices=("segment", "all"),
        default="all",
        help="Benjamini-Hochberg across the whole report (default: at most about 5%% of "
        "reports without a real change show one), or across each segment's touchpoints per "
        "wave pair (more power per segment, more false alarms when many are compared)",
    )
    p.add_argument("--out", required=True, help="folder for the CSV tables and summary.md")
    p.set_defaults(run=run_trend)
