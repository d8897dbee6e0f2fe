"""`python -m cmot segments`: fit a segmentation from a CSV or stored dataset, write CSVs."""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from cmot.cli.analyze import MOMENTS_CSV_FIRST, as_attributes, own_data
from cmot.cli.flags import (
    add_pooling_flag,
    add_survey_flags,
    flag_values,
    mapping_notes,
    options_from_flags,
)
from cmot.errors import CmotError
from cmot.ingest.options import IngestOptions
from cmot.names import ID_COL, ROW_COL
from cmot.present.exports import to_csv
from cmot.results.moments import ALL, MomentsResult
from cmot.segments.segmentation import MODES, Segmentation
from cmot.settings import Settings
from cmot.spec import JourneySpec
from cmot.store.datasets import Store
from cmot.store.intake import open_survey


def _source(
    ref: str, options: IngestOptions | None = None
) -> tuple[duckdb.DuckDBPyConnection, str, JourneySpec, Store | None, Any]:
    """(connection, quoted table, spec, store, dataset info) for a file or a dataset name."""
    survey = open_survey(ref, options)
    if survey.note:
        print(survey.note)
    if survey.detection is not None:
        for note in mapping_notes(survey.detection, survey.spec):
            print(note)
    return survey.con, survey.table, survey.spec, survey.store, survey.info


def _split(text: str | None) -> list[str]:
    return [c.strip() for c in text.split(",") if c.strip()] if text else []


def summary_markdown(seg: Segmentation, source: str) -> str:
    """A short human summary: what was fitted, k, names and sizes, stability."""
    lines = [
        f"# Segments of {source}",
        "",
        f"- mode: {seg.mode} ({seg.method}); columns: {', '.join(seg.columns) or 'none'}",
        f"- k: {seg.k}; seed: {seg.seed}",
    ]
    if seg.cuts:
        lines.append(f"- cut points: {', '.join(f'{c:g}' for c in seg.cuts)}")
    if seg.stability is not None:
        st = seg.stability
        ari = "n/a" if math.isnan(st.mean_ari) else f"{st.mean_ari:.2f}"
        lines.append(
            f"- stability: mean adjusted Rand {ari} over {st.refits} re-fits. {st.verdict}"
        )
    if seg.note:
        lines.append(f"- {seg.note}")
    lines += ["", "| segment | name | respondents | share |", "|---:|---|---:|---:|"]
    for r in seg.sizes.itertuples():
        lines.append(f"| {r.segment} | {r.name} | {r.size:,} | {r.share:.1%} |")
    if seg.descriptions:
        lines += ["", "Who is in each segment (most distinguishing attribute values):", ""]
        lines += [f"- {seg.names[g]}: {d}" for g, d in enumerate(seg.descriptions)]
    if not seg.k_curve.empty:
        lines += ["", "k curve: see k_curve.csv (chosen k marked)."]
    return "\n".join(lines) + "\n"


def driver_moments_markdown(result: MomentsResult) -> str:
    """The summary's section on the driver segments' moments, saying how they were estimated."""
    lines = [
        "",
        f"Driver segments' moments of truth (driver_moments.csv): {result.method}.",
        "",
        "| segment | respondents | moments of truth | note |",
        "|---|---:|---:|---|",
    ]
    for r in result.segments[result.segments.segment != ALL].itertuples():
        note = "; ".join(x for x in (own_data(r.own_share), str(r.reason or "")) if x)
        lines.append(f"| {r.segment} | {r.n:,} | {r.mot_count} | {note} |")
    return "\n".join(lines) + "\n"


def run_segments(args: argparse.Namespace) -> int:
    # Imported here: the fits import scikit-learn (~0.6 s), which no other command needs.
    from cmot.segments.driver_based import driver_moments
    from cmot.segments.modes import segment
    from cmot.segments.records import save_segmentation

    if args.k is not None and args.k < 1:
        raise CmotError("--k must be a positive whole number.")
    columns = _split(args.attributes)
    mapping = options_from_flags(**flag_values(args))
    if args.mode != "needs":  # the named columns are attributes, as --segment in analyze
        mapping = as_attributes(mapping, args.source, columns)
    con, table, spec, store, info = _source(args.source, mapping)
    if args.mode != "needs" and not columns:
        # Drivers default to the spec's attributes too: they say who is likely in which
        # driver segment, which one yes/no answer per respondent cannot.
        columns = list(spec.segments[:1] if args.mode == "given" else spec.attributes)
        if not columns:
            raise CmotError("Name the columns to segment on with --attributes A,B,C.")
    options: dict[str, Any] = {}
    if args.mode == "given" and args.cuts:
        try:
            options["cuts"] = [float(c) for c in _split(args.cuts)]
        except ValueError:
            raise CmotError("--cuts takes numbers separated by commas, e.g. 30,45,60.") from None
    seg = segment(con, table, spec, args.mode, columns, k=args.k, seed=args.seed, **options)
    out = Path(args.out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise CmotError(f"Cannot create the output folder {out}: {e.strerror}.") from None
    ids = con.execute(f"SELECT {ROW_COL}, {ID_COL} FROM {table} ORDER BY {ROW_COL}").df()
    assigned = pd.DataFrame({ROW_COL: seg.rows, "segment": seg.labels})
    assigned["name"] = [seg.names[g] if g >= 0 else "" for g in seg.labels]
    st = seg.stability
    tables = {
        "assignments": ids.merge(assigned, on=ROW_COL, how="left"),
        "sizes": seg.sizes,
        "profiles": seg.profile,
        "k_curve": seg.k_curve,
        "stability": pd.DataFrame(
            {"refit": range(1, len(st.scores) + 1), "adjusted_rand": st.scores}
            if st is not None
            else {"refit": [], "adjusted_rand": []}
        ),
    }
    summary = summary_markdown(seg, args.source)
    if seg.drivers is not None:
        tables["drivers"] = seg.drivers
        found = driver_moments(con, table, spec, seg, Settings(pooling=args.pooling))
        m = found.moments
        tables["driver_moments"] = m[
            MOMENTS_CSV_FIRST + [c for c in m.columns if c not in MOMENTS_CSV_FIRST]
        ]
        summary += driver_moments_markdown(found)
    for name, frame in tables.items():
        (out / f"{name}.csv").write_bytes(to_csv(frame))  # formula-safe, like every export
    (out / "summary.md").write_text(summary, encoding="utf-8")
    print(summary)
    if args.save:
        if store is None:
            raise CmotError("--save needs a stored dataset; ingest the CSV first.")
        sid = save_segmentation(store, info.id, args.save, seg, replace=args.replace)
        print(f"Saved as segmentation {args.save!r} (id {sid}) of dataset {info.label}.")
    print(f"Wrote assignments, sizes, profiles, k curve, stability and summary.md to {out}")
    return 0


def add_segments_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("segments", help="find segments (clustered, driver-based or given)")
    p.add_argument("source", metavar="FILE_OR_DATASET", help="a survey file or a dataset name")
    p.add_argument(
        "--attributes",
        help="columns, comma-separated: clustered on (attributes), concomitant (drivers), "
        "touchpoint subset (needs) or the given column(s)",
    )
    p.add_argument("--mode", choices=MODES, default="attributes")
    p.add_argument("--k", type=int, help="number of segments; chosen automatically if omitted")
    p.add_argument("--seed", type=int, default=0, help="random seed (same seed, same result)")
    p.add_argument("--cuts", help="given mode, numeric column: cut points, e.g. 30,45,60")
    p.add_argument("--out", required=True, help="directory for the CSV files and summary.md")
    p.add_argument("--save", metavar="NAME", help="also save with the stored dataset as NAME")
    p.add_argument("--replace", action="store_true", help="with --save: replace NAME if it exists")
    add_survey_flags(p, stored_note=True)
    add_pooling_flag(p)  # the driver segments' moments (driver_moments.csv)
    p.set_defaults(run=run_segments)
