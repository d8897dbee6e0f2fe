"""`python -m cmot analyze`: a survey's moments of truth by segment, as CSV tables and markdown."""

from __future__ import annotations

import argparse
import math
import tempfile
from collections.abc import Hashable, Sequence
from dataclasses import replace
from pathlib import Path

import duckdb
import pandas as pd

from cmot.cli.flags import (
    add_analysis_flags,
    add_engine_flags,
    flag_values,
    mapping_notes,
    options_from_flags,
)
from cmot.engine.engines import DuckDBEngine, SparkEngine
from cmot.engine.view import Query
from cmot.errors import CmotError
from cmot.feedback.evidence import evidence_of_table
from cmot.ingest.options import IngestOptions
from cmot.names import W_COL, Y_COL, quote_ident, quote_literal
from cmot.present.exports import to_csv
from cmot.results.compare import compare_all, find_flips
from cmot.results.moments import ALL, MomentsResult, Settings, analyse_stats
from cmot.results.summary import amount
from cmot.spec import JourneySpec
from cmot.store.datasets import Store
from cmot.store.external import map_external, open_external
from cmot.store.intake import open_survey
from cmot.store.sources import EngineName, duckdb_relation, duckdb_source, is_parquet_source
from cmot.store.spark import cleaned_view, spark_session, spark_view_name
from cmot.store.versions import DatasetInfo

MOMENTS_CSV_FIRST = [
    "segment",
    "touchpoint",
    "n",
    "mean",
    "top_box",
    "bottom_box",
    "penalty",
    "reward",
    "penalty_se",
    "reward_se",
    "ris",
    "ia",
    "class",
]


def open_source(
    args: argparse.Namespace,
) -> tuple[duckdb.DuckDBPyConnection, str, JourneySpec, Hashable | None]:
    """A survey file is read in memory through ingest; anything else names a stored dataset."""
    options = options_from_flags(**flag_values(args))
    options = as_attributes(options, args.source, args.segment or [])
    survey = open_survey(args.source, as_comments(options, args.source, comment_columns(args)))
    if survey.note:
        print(survey.note)
    if survey.detection is not None:
        for note in mapping_notes(survey.detection, survey.spec):
            print(note)
    key = ("dataset", survey.info.id) if survey.info is not None else None
    return survey.con, survey.table, survey.spec, key


def as_attributes(
    options: IngestOptions, source: str, columns: Sequence[str], *, force: bool = False
) -> IngestOptions:
    """Columns the user segments a file by are attributes, whatever detection guessed.

    Naming a column with --segment is the choice the Data page makes by mapping it as a
    segment attribute: coded columns (district 1-6) otherwise look like ratings. A spec or a
    stored dataset keeps its own mapping. `force`: `source` is a Parquet source or table
    read in place, mapped like a file.
    """
    if not columns or options.spec is not None or not (force or Path(source).is_file()):
        return options
    roles = {**{c: "attribute" for c in columns}, **options.roles}
    return replace(options, roles=roles)


def comment_columns(args: argparse.Namespace) -> list[str]:
    """The columns of `--comments A,B` (repeatable)."""
    return [
        c.strip() for v in getattr(args, "comments", None) or [] for c in v.split(",") if c.strip()
    ]


def as_comments(options: IngestOptions, source: str, columns: Sequence[str]) -> IngestOptions:
    """Columns named by --comments are comment columns of a file, whatever detection guessed
    and are added to a spec's comment columns (a stored dataset keeps its own mapping)."""
    if not columns or not Path(source).is_file():
        return options
    if options.spec is not None:
        both = tuple(dict.fromkeys([*options.spec.comments, *columns]))
        return replace(options, spec=options.spec.with_changes(comments=both))
    return replace(options, roles={**{c: "comment" for c in columns}, **options.roles})


def check_segment_columns(
    con: duckdb.DuckDBPyConnection, table: str, spec: JourneySpec, columns: list[str]
) -> None:
    present = [r[0] for r in con.execute(f"DESCRIBE SELECT * FROM {table}").fetchall()]
    for c in columns:
        if c not in present:
            offer = ", ".join(repr(s) for s in (spec.segments or spec.attributes)) or "none"
            raise CmotError(f"No column {c!r} to segment by. Segment columns: {offer}.")
        if c == spec.outcome.column:
            raise CmotError(f"{c!r} is the outcome; segment by an attribute.")
        if c in spec.touchpoint_columns:
            raise CmotError(
                f"{c!r} is a touchpoint in the journey spec; segment by an attribute, or take "
                "it out of the spec's stages."
            )
    if columns:
        cols = ", ".join(quote_ident(c) for c in columns)
        n = con.execute(f"SELECT count(*) FROM (SELECT DISTINCT {cols} FROM {table})").fetchall()
        if n[0][0] > 200:
            raise CmotError(
                f"{' x '.join(columns)} has {n[0][0]} distinct values: too many segments. "
                "Segment by a categorical column (or bin a numeric one first)."
            )


def _fmt(value: float, unit: str) -> str:
    if not math.isfinite(value):
        return "n/a"
    return f"{100 * value:.1f} pts" if unit == "percentage points" else f"{value:.2f}"


SUMMARY_WARNINGS = 8  # per segment in summary.md; warnings.csv has them all


def guardrail_warnings(result: MomentsResult) -> pd.DataFrame:
    """The engine's guardrails (segment, touchpoint, column, kind, message); segment "" is the
    whole survey. Empty when the engine gives none: a result must never be shown without its
    warnings, so the command line prints and writes whatever there is."""
    w = getattr(result, "warnings", None)
    if isinstance(w, pd.DataFrame) and {"segment", "message"} <= set(w.columns):
        return w
    return pd.DataFrame(columns=["segment", "touchpoint", "column", "kind", "message"])


def weighting(spec: JourneySpec) -> str:
    """What every result says about weights: "weighted by X" or "unweighted"."""
    return (
        f"weighted by {spec.label_of(spec.weight_column)}" if spec.weight_column else "unweighted"
    )


def write_summary(
    result: MomentsResult,
    comparison: pd.DataFrame,
    flips: pd.DataFrame,
    source: str,
    spec: JourneySpec | None = None,
) -> str:
    """The markdown summary: each segment's moments of truth, then how segments differ."""
    s = result.settings
    by = [spec.label_of(c) for c in result.segmentation] if spec else list(result.segmentation)
    lines = [
        f"# Moments of truth: {source}",
        "",
        *([f"Results are {weighting(spec)}.", ""] if spec else []),
        f"Segmented by: {' x '.join(by) or '(none)'}; outcome "
        f"{result.outcome_kind} ({result.measure}); low <= {result.low_max}, "
        f"high >= {result.high_min}; IA thresholds {s.vulnerability_ia:+.1f} / "
        f"{s.opportunity_ia:+.1f}; moments of truth cover {s.mot_coverage:.0%} of RIS; "
        f"alpha {s.alpha}. Penalty and reward are in {result.unit} of the outcome.",
        "",
        f"Estimates: {result.method}.",
        "",
    ]
    warnings = guardrail_warnings(result)
    overall = warnings[warnings.segment == ""].message.tolist() if len(warnings) else []
    if overall:
        lines += ["## Warnings", "", *[f"- {m}" for m in overall], ""]
    for seg in result.segments.itertuples():
        lines.append(f"## {seg.segment} (n = {seg.n:,}{own_data(seg.own_share, ', ')})")
        lines.append("")
        if seg.reason:
            lines.append(f"Note: {seg.reason}.")
            lines.append("")
        here = warnings[warnings.segment == seg.segment].message.tolist() if len(warnings) else []
        if here:
            lines += [f"- Warning: {m}" for m in here[:SUMMARY_WARNINGS]]
            if len(here) > SUMMARY_WARNINGS:
                lines.append(f"- ... and {len(here) - SUMMARY_WARNINGS} more in warnings.csv")
            lines.append("")
        m = result.moments[(result.moments.segment == seg.segment) & result.moments.mot]
        if m.empty:
            lines.append("No moment of truth stands out (no significant range of impact).")
        else:
            lines.append("| touchpoint | class | penalty | reward | IA | at stake | action |")
            lines.append("|---|---|---|---|---|---|---|")
            for r in m.sort_values("ris", ascending=False).to_dict("records"):
                # The amount at stake as every screen and the report write it.
                lines.append(
                    f"| {r['touchpoint']} | {r['class']} | {_fmt(r['penalty'], result.unit)} | "
                    f"{_fmt(r['reward'], result.unit)} | {r['ia']:+.2f} | "
                    f"{amount(r['at_stake'], result.unit)} | {r['action']} |"
                )
        lines.append("")
    lines.append("## How the segments differ")
    lines.append("")
    if flips.empty:
        lines.append(
            "No touchpoint flips from vulnerability in one segment to opportunity in another."
        )
    else:
        lines += [f"- {s}" for s in flips.sentence]
    sig = comparison[comparison.significant] if not comparison.empty else comparison
    lines.append("")
    if sig.empty:
        lines.append(
            "No difference in penalty or reward survives the false discovery rate control."
        )
    else:
        lines.append(
            f"{len(sig)} differences in penalty or reward survive Benjamini-Hochberg at {s.alpha}:"
        )
        lines.append("")
        for r in sig.sort_values("q").head(15).itertuples():
            lines.append(
                f"- {r.touchpoint}: {r.measure} {_fmt(r.value_a, result.unit)} in {r.segment_a} "
                f"vs {_fmt(r.value_b, result.unit)} in {r.segment_b} (q = {r.q:.3g})"
            )
    return "\n".join(lines) + "\n"


def own_data(share: float, lead: str = "") -> str:
    """'own data 34%': how much of a pooled segment's estimate is its own data ("" alone)."""
    return f"{lead}own data {share:.0%}" if math.isfinite(share) else ""


def stored_layout(source: str) -> bool:
    """A Parquet source already in the stored layout (a dataset's file, or rows written by
    another tool the same way): it carries the outcome and weight columns cmot derives."""
    try:
        with duckdb.connect() as con:
            cols = con.execute(f"DESCRIBE SELECT * FROM {duckdb_source(source)}").fetchall()
    except duckdb.Error:
        return False  # a folder Spark reads but DuckDB does not: Spark says what is wrong
    return {Y_COL, W_COL} <= {c[0] for c in cols}


Analysed = tuple[MomentsResult, duckdb.DuckDBPyConnection | None, str, JourneySpec]


def parquet_moments(args: argparse.Namespace, columns: list[str], settings: Settings) -> Analysed:
    """A Parquet path or glob (either engine) or a Spark table, analysed where it lies: mapped
    on a seeded sample with the usual flags, cleaned by a view, summed by the engine."""
    engine: EngineName = "spark" if args.engine == "spark" else "duckdb"
    options = options_from_flags(**flag_values(args))
    opened = open_external(args.source, engine, args.spark_remote)
    det, spec, _ = map_external(opened, as_attributes(options, "", columns, force=True))
    for note in mapping_notes(det, spec):
        print(note)
    source = replace(opened.source, types=tuple((g.column, g.dtype) for g in det.columns))
    if opened.session is None:
        assert opened.con is not None
        table = duckdb_relation(source, spec)
        check_segment_columns(opened.con, table, spec, columns)
        query = Query(table, (), tuple(columns))
        stats = DuckDBEngine(opened.con).statistics(query, spec, settings)
        return analyse_stats(stats, settings), opened.con, table, spec
    view = cleaned_view(opened.session, source, spec, quote_ident("cmot_analyze"))
    stats = SparkEngine(opened.session).statistics(Query(view, (), tuple(columns)), spec, settings)
    return analyse_stats(stats, settings), None, view, spec


def spark_moments(
    args: argparse.Namespace, columns: list[str], settings: Settings, info: DatasetInfo | None
) -> Analysed:
    """The sums on Spark: a Parquet path or glob in the stored layout (with --spec) is read
    by Spark where it lies; a survey file is read and cleaned as for DuckDB and handed to
    Spark as a temporary Parquet file; a stored dataset's Parquet file is read in place, and
    an external dataset's source through its view. `info`: the stored dataset args.source
    names, if any (stored_dataset)."""
    if is_parquet_source(args.source) and stored_layout(args.source):
        if not args.spec:
            raise CmotError(
                "A Parquet source in the stored layout needs its journey spec: give --spec "
                "FILE (roles, scale, outcome)."
            )
        spec = options_from_flags(**flag_values(args)).spec
        if spec is None:
            raise CmotError("Cannot read the journey spec given with --spec.")
        engine = SparkEngine(spark_session(args.spark_remote))
        table = engine.register_parquet(args.source)
        stats = engine.statistics(Query(table, (), tuple(columns)), spec, settings)
        return analyse_stats(stats, settings), None, table, spec
    if info is not None and info.external is not None:
        remote = args.spark_remote or (
            info.external.remote if info.external.engine == "spark" else None
        )
        engine = SparkEngine(spark_session(remote))
        source = replace(info.external, engine="spark", remote=remote)
        view = cleaned_view(engine.session, source, info.spec, spark_view_name(info))
        stats = engine.statistics(Query(view, (), tuple(columns)), info.spec, settings)
        return analyse_stats(stats, settings), None, view, info.spec
    if is_parquet_source(args.source) or (info is None and not Path(args.source).exists()):
        return parquet_moments(args, columns, settings)  # raw Parquet, or a Spark table
    engine = SparkEngine(spark_session(args.spark_remote))
    con, table, spec, _ = open_source(args)
    check_segment_columns(con, table, spec, columns)
    if info is not None:
        query = Query(engine.register_parquet(str(info.file)), (), tuple(columns))
        stats = engine.statistics(query, spec, settings)
        return analyse_stats(stats, settings), con, table, spec
    with tempfile.TemporaryDirectory(prefix="cmot-spark-") as tmp:
        path = str(Path(tmp) / "survey.parquet")
        con.execute(f"COPY (SELECT * FROM {table}) TO {quote_literal(path)} (FORMAT parquet)")
        query = Query(engine.register_parquet(path), (), tuple(columns))
        stats = engine.statistics(query, spec, settings)
    return analyse_stats(stats, settings), con, table, spec


def stored_dataset(source: str) -> DatasetInfo | None:
    """The stored dataset `source` names (None for a file, a glob or an unknown name)."""
    if Path(source).exists() or is_parquet_source(source):
        return None
    store = Store()
    return store.get_dataset(source) if store.has_dataset(source) else None


def run_analyze(args: argparse.Namespace) -> int:
    columns = list(args.segment or [])
    settings = Settings(
        low_max=args.low_max,
        high_min=args.high_min,
        measure="promoter" if args.promoter else "score",
        pooling=args.pooling,
    )
    con: duckdb.DuckDBPyConnection | None
    if args.spark_remote and args.engine == "duckdb":
        raise CmotError("--spark-remote runs the sums on Spark: drop --engine duckdb.")
    info = stored_dataset(args.source)
    if args.engine is None:  # a dataset's own engine; this process's DuckDB for a file
        spark = args.spark_remote or (info is not None and info.engine == "spark")
        args.engine = "spark" if spark else "duckdb"
    if args.engine == "spark":
        result, con, table, spec = spark_moments(args, columns, settings, info)
    elif is_parquet_source(args.source):
        result, con, table, spec = parquet_moments(args, columns, settings)
    elif info is not None and info.external is not None and info.sampled:
        # Its DuckDB table is a sample: DuckDB reads the whole source, or says it cannot.
        if info.external.kind != "parquet":
            raise CmotError(
                f"{info.label} is the Spark table {info.external.location!r}: only Spark "
                "reads it. Drop --engine duckdb."
            )
        con, spec = Store().cursor(), info.spec
        table = duckdb_relation(replace(info.external, engine="duckdb"), spec)
        check_segment_columns(con, table, spec, columns)
        stats = DuckDBEngine(con).statistics(Query(table, (), tuple(columns)), spec, settings)
        result = analyse_stats(stats, settings)
    else:
        con, table, spec, key = open_source(args)
        check_segment_columns(con, table, spec, columns)
        query = Query(table, (), tuple(columns))
        stats = DuckDBEngine(con).statistics(query, spec, settings, cache_key=key)
        result = analyse_stats(stats, settings)
    out = Path(args.out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise CmotError(f"Cannot create the output folder {out}: {e.strerror}.") from None
    tables = result_tables(result)
    for name, frame in tables.items():
        (out / f"{name}.csv").write_bytes(to_csv(frame))  # formula-safe, like every export
    if comment_columns(args):
        if con is None:
            raise CmotError("--comments needs a survey file or a stored dataset, not Parquet.")
        evidence = evidence_of_table(
            con,
            table,
            spec,
            columns,
            comment_columns(args),
            low_max=args.low_max,
            high_min=args.high_min,
        )
        tables["evidence"] = evidence.quotes
        (out / "evidence.csv").write_bytes(to_csv(evidence.quotes))
    comparison, flips = tables["comparison"], tables["flips"]
    summary = write_summary(result, comparison, flips, Path(args.source).name, spec)
    (out / "summary.md").write_text(summary, encoding="utf-8")
    say_written(result, spec, tables, out)
    return 0


def result_tables(result: MomentsResult) -> dict[str, pd.DataFrame]:
    """The tables `analyze` writes as CSV, by name: moments (MOMENTS_CSV_FIRST first),
    segments, importance, the comparison, flips and the guardrails' warnings."""
    moments = result.moments
    moments = moments[
        MOMENTS_CSV_FIRST + [c for c in moments.columns if c not in MOMENTS_CSV_FIRST]
    ]
    comparison = compare_all(result)
    flips = find_flips(result)
    tables = {
        "moments": moments,
        "segments": result.segments,
        "importance": result.importance,
        "comparison": comparison,
        "flips": flips,
    }
    tables["warnings"] = guardrail_warnings(result)  # even empty: no stale file from an earlier run
    return tables


def say_written(
    result: MomentsResult, spec: JourneySpec, tables: dict[str, pd.DataFrame], out: Path
) -> None:
    """Print the survey's own warnings, then one line: the segments, weighting, method,
    moments of truth, flips and warnings, and the files written to `out`."""
    warnings, flips = tables["warnings"], tables["flips"]
    n_mot = int(result.moments[result.moments.segment == ALL].mot.sum())
    for message in warnings[warnings.segment == ""].message if len(warnings) else []:
        print(f"Warning: {message}")
    print(
        f"{len(result.segments)} segment tables ({ALL} + {len(result.segments) - 1}), "
        f"{weighting(spec)}, {result.method}, "
        f"{n_mot} moments of truth overall, {len(flips)} flips"
        + (f", {len(warnings)} warning{'s' if len(warnings) > 1 else ''}" if len(warnings) else "")
        + f"; wrote {', '.join(f'{t}.csv' for t in tables)}, summary.md to {out}"
    )


def add_analyze_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("analyze", help="moments of truth by segment: CSV tables and a summary")
    p.add_argument("source", metavar="FILE_OR_DATASET", help="a survey file or a stored dataset")
    add_analysis_flags(p)
    p.add_argument(
        "--comments",
        action="append",
        metavar="COL[,COL]",
        help="comment columns: evidence.csv with the quotes of low and high raters per moment",
    )
    p.add_argument("--out", required=True, help="folder for the CSV tables and summary.md")
    add_engine_flags(p)
    p.set_defaults(run=run_analyze)
