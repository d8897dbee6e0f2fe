"""Command line: ingest surveys, list datasets, analyse and segment without the UI."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from cmot.analyze import add_analyze_parser
from cmot.errors import CmotError
from cmot.ingest import ingest, options_from_flags
from cmot.segment_cli import add_segments_parser
from cmot.store import Store


def run_ingest(args: argparse.Namespace) -> int:
    options = options_from_flags(args.spec, args.missing, args.outcome, args.positive, args.layout)
    store = Store()
    info, report = ingest(store, args.file, args.name, options)
    print(report.to_text())
    print(f"Saved as dataset {info.name!r} version {info.version} in {store.path}")
    return 0


def add_ingest_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("ingest", help="load a survey CSV into a named, persistent dataset")
    p.add_argument("file", help="the survey CSV (wide or long)")
    p.add_argument(
        "--name",
        required=True,
        help="dataset name; an existing name gets a new version",
    )
    p.add_argument("--spec", help="journey spec (TOML); detected when omitted")
    p.add_argument("--missing", help="rating codes that mean 'no answer', e.g. 0 or 0,6,Blank")
    p.add_argument("--outcome", help="the outcome column, when detection picks another")
    p.add_argument("--positive", help="outcome value(s) that count as positive, e.g. satisfied")
    p.add_argument("--layout", choices=["wide", "long"], help="detected when omitted")
    p.set_defaults(run=run_ingest)


def run_datasets(args: argparse.Namespace) -> int:
    store = Store()
    rows = store.list_datasets(all_versions=args.all)
    if not rows:
        print(f"No datasets in {store.path}.")
        return 0
    print(f"{'name':<24} {'version':>7} {'rows':>10} {'created':<19}  source")
    for d in rows:
        created = d.created_at.strftime("%Y-%m-%d %H:%M:%S")
        print(f"{d.name:<24} {d.version:>7} {d.rows_kept:>10,} {created:<19}  {d.source_name}")
    return 0


def add_datasets_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("datasets", help="list the stored datasets with versions and row counts")
    p.add_argument("--all", action="store_true", help="every version, not only the latest")
    p.set_defaults(run=run_datasets)


# Each command module contributes one `add_*_parser`; the order is the help's order.
PARSERS: list[Callable[[argparse._SubParsersAction], None]] = [
    add_ingest_parser,
    add_datasets_parser,
    add_analyze_parser,
    add_segments_parser,
]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cmot", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    for add in PARSERS:
        add(sub)
    args = parser.parse_args(argv)
    try:
        return int(args.run(args))
    except CmotError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; nothing was saved", file=sys.stderr)
        return 130
