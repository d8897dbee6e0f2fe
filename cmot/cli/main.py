"""Command line: ingest surveys, list datasets, analyse and segment without the UI."""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path

import pandas as pd

from cmot.cli.analyze import add_analyze_parser, weighting
from cmot.cli.feed import add_alerts_parser, add_append_parser, add_watch_parser
from cmot.cli.flags import (
    add_survey_flags,
    flag_values,
    for_the_command_line,
    glue_dash_values,
    options_from_flags,
    pattern_notes,
)
from cmot.cli.links import add_link_parser, add_links_parser
from cmot.cli.register import add_register_parser
from cmot.cli.segments import add_segments_parser
from cmot.cli.trend import add_trend_parser
from cmot.errors import CmotError
from cmot.ingest.detect import Detection
from cmot.ingest.formats import check_sheet
from cmot.ingest.pipeline import detect_roles, with_candidates
from cmot.present.exports import to_csv
from cmot.store.datasets import Store
from cmot.store.intake import ingest

ENV_LOG_DIR = "CMOT_LOG_DIR"


def run_ingest(args: argparse.Namespace) -> int:
    options = options_from_flags(**flag_values(args))
    check_sheet(args.file, options.sheet)
    store = Store()
    info, report = ingest(store, args.file, args.name, options)
    print(report.to_text())
    print(f"Saved as dataset {info.name!r} version {info.version} in {store.path}")
    print(f"Its results are {weighting(info.spec)}.")
    return 0


def add_ingest_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("ingest", help="load a survey file into a named, persistent dataset")
    p.add_argument("file", help="the survey file: CSV (wide or long), SPSS .sav or Excel .xlsx")
    p.add_argument(
        "--name",
        required=True,
        help="dataset name; an existing name gets a new version",
    )
    add_survey_flags(p)
    p.set_defaults(run=run_ingest)


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def mapping_text(det: Detection, source: str) -> str:
    """The Data page's mapping as text: every column's role, then what is proposed or to choose."""
    lines = [
        f"{source}: {det.rows:,} rows, {len(det.columns)} columns, {det.format} "
        f"({det.layout} layout, {det.encoding})"
        + (f", sheet {det.sheet!r} of {', '.join(det.sheets)}" if det.sheets else ""),
        "",
    ]
    width = min(28, max([len(g.column) for g in det.columns] + [6]))
    lines.append(f"{'column':<{width}}  {'role':<10} {'sure':>4}  reason; values")
    for g in det.columns:
        look = f"; {g.sample}" if g.sample else ""
        text = f" [{g.label}]" if g.label else ""
        lines.append(
            f"{_cut(g.column, width):<{width}}  {g.role:<10} {g.confidence:>4.0%}  "
            + _cut(f"{g.reason}{look}{text}", 110)
        )
    lines.append("")
    if det.layout_reason:
        lines.append(f"Layout: read as {det.layout_reason} (--layout wide|long changes it)")
    lines += pattern_notes(det)
    if det.proposals:
        lines.append("Codes proposed as 'no answer' (--missing CODES replaces them):")
        for p in det.proposals:
            mark = "applied" if p.applied else "not applied"
            lines.append(f"  {p.code!r} ({mark}): {p.evidence}")
    if det.weight_candidates:
        lines.append(
            f"Weight columns found, not applied: {', '.join(det.weight_candidates)} "
            "(--weight COLUMN to weight the results)"
        )
    if det.spec is None:
        lines.append("Still to choose: " + "; ".join(det.problems) + ".")
    else:
        sp = det.spec
        o = sp.outcome
        how = (
            f"positive = {', '.join(o.positive)}"
            if o.kind == "binary"
            else f"{o.min:g}-{o.max:g}"
            if o.min is not None and o.max is not None
            else "range from the data"
        )
        lines.append(f"Outcome: {o.column} ({o.kind}, {how})")
        lines.append(
            f"Touchpoints: {len(sp.touchpoint_columns)} rated {sp.scale.min}-{sp.scale.max}"
            + (f", {len(sp.scales)} on another scale" if sp.scales else "")
        )
        lines.append(f"Segments: {', '.join(sp.segments) or 'none'}")
        lines.append(f"Weight: {sp.weight_column or 'none (unweighted)'}")
    return "\n".join(lines) + "\n"


def run_roles(args: argparse.Namespace) -> int:
    options = options_from_flags(**flag_values(args))
    check_sheet(args.file, options.sheet)
    det = with_candidates(args.file, options, detect_roles(args.file, options))
    print(mapping_text(det, Path(args.file).name), end="")
    if args.out:
        frame = pd.DataFrame([g.__dict__ for g in det.columns])
        try:
            Path(args.out).write_bytes(to_csv(frame))  # formula-safe, like every export
        except OSError as e:
            raise CmotError(f"Cannot write {args.out}: {e.strerror}.") from None
        print(f"Wrote the {len(frame)} columns' roles to {args.out}")
    return 0


def add_roles_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "roles",
        help="show the proposed mapping of a survey file: every column's role, proposed codes, "
        "weights, what is left to choose",
    )
    p.add_argument("file", help="the survey file: CSV, SPSS .sav or Excel .xlsx")
    p.add_argument("--out", metavar="FILE.csv", help="also write the columns' roles as CSV")
    add_survey_flags(p)
    p.set_defaults(run=run_roles)


def run_datasets(args: argparse.Namespace) -> int:
    store = Store()
    rows = store.list_datasets(all_versions=args.all)
    if not rows:
        print(f"No datasets in {store.path}.")
        return 0
    print(f"{'name':<24} {'version':>7} {'rows':>10} {'created':<19}  {'engine':<6}  source")
    for d in rows:
        created = d.created_at.strftime("%Y-%m-%d %H:%M:%S")
        where = f"{d.source_name} (read in place)" if d.external else d.source_name
        print(
            f"{d.name:<24} {d.version:>7} {d.rows_kept:>10,} {created:<19}  {d.engine:<6}  " + where
        )
    return 0


def run_migrate(args: argparse.Namespace) -> int:
    from cmot.store.migrate import migrate_file

    store = Store(migrate=False)
    source = Path(args.source).expanduser().resolve()
    if store.catalog.meta("migrated_from") == str(source):
        print(f"{source} was migrated into {store.path} already; nothing to do.")
        return 0
    done = migrate_file(source, store)
    print(
        f"Migrated {done.datasets} dataset versions and {done.segmentations} segmentation"
        f"{'' if done.segmentations == 1 else 's'} from {source} into {store.path}"
        + (f" ({done.skipped} copied by an earlier run)" if done.skipped else "")
        + ". The old file is unchanged; delete it once you have checked the new store."
    )
    return 0


def add_migrate_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "migrate", help="copy an old single-file store (cmot.duckdb) into the store folder"
    )
    p.add_argument(
        "--from",
        dest="source",
        required=True,
        help="the old store file ($CMOT_DB of earlier versions); it is only read",
    )
    p.set_defaults(run=run_migrate)


def add_datasets_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("datasets", help="list the stored datasets with versions and row counts")
    p.add_argument("--all", action="store_true", help="every version, not only the latest")
    p.set_defaults(run=run_datasets)


# Each command module contributes one `add_*_parser`; the order is the help's order.
PARSERS: list[Callable[[argparse._SubParsersAction], None]] = [
    add_roles_parser,
    add_ingest_parser,
    add_register_parser,
    add_append_parser,
    add_watch_parser,
    add_alerts_parser,
    add_datasets_parser,
    add_analyze_parser,
    add_segments_parser,
    add_trend_parser,
    add_link_parser,
    add_links_parser,
    add_migrate_parser,
]


def _log_path() -> Path:
    """Where an unexpected error's details go: $CMOT_LOG_DIR, else the temp folder."""
    folder = Path(os.environ.get(ENV_LOG_DIR) or Path(tempfile.gettempdir()) / "cmot-logs")
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return folder / f"cmot-error-{stamp}-{os.getpid()}.log"


def _report_unexpected(argv: Sequence[str], debug: bool) -> None:
    """One line saying what to do, and the traceback in a log file (or on stderr with --debug).

    A traceback tells an analyst nothing they can act on; the log keeps it for a bug report.
    """
    details = traceback.format_exc()
    kind = type(sys.exc_info()[1]).__name__
    if debug:
        print(details, file=sys.stderr, end="")
        where = "the details are above"
    else:
        path = _log_path()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(f"python -m cmot {shlex.join(argv)}\n\n{details}", encoding="utf-8")
            where = f"the details are in {path}"
        except OSError:
            where = "run again with --debug to see the details"
    print(
        f"error: an unexpected problem ({kind}) stopped the command before it finished. "
        f"Check the file and the flags, or report it with the log: {where}.",
        file=sys.stderr,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; exit 0, 2 for a problem the user can fix, 1 for an unexpected one."""
    raw = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="python -m cmot", description=__doc__)
    parser.add_argument(
        "--debug", action="store_true", help="print an unexpected error's traceback on stderr"
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for add in PARSERS:
        add(sub)
    for command in sub.choices.values():  # after the command too, where people type it
        command.add_argument("--debug", action="store_true", help=argparse.SUPPRESS)
    debug = "--debug" in raw
    try:
        args = parser.parse_args(glue_dash_values(raw))
        return int(args.run(args))
    except SystemExit as e:  # argparse: usage errors exit 2 with their message, --help 0
        return e.code if isinstance(e.code, int) else 0 if e.code is None else 2
    except CmotError as e:
        print(f"error: {for_the_command_line(str(e))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; nothing was saved", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `... | head` closed the output early: not an error
        return 0
    except Exception:
        _report_unexpected(raw, debug)
        return 1
