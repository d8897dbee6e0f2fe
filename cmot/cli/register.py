"""`register`: a Parquet path or glob, or a Spark table, as a dataset read in place."""

from __future__ import annotations

import argparse

from cmot.cli.analyze import weighting
from cmot.cli.flags import add_engine_flags, add_survey_flags, flag_values, options_from_flags
from cmot.store.datasets import Store
from cmot.store.external import register_external, sample_words


def run_register(args: argparse.Namespace) -> int:
    options = options_from_flags(**flag_values(args))
    store = Store()
    info, report = register_external(
        store, args.name, args.source, args.engine or "duckdb", args.spark_remote, options
    )
    print(report.to_text())
    where = "Spark" + (f" at {args.spark_remote}" if args.spark_remote else " (local)")
    engine = where if info.engine == "spark" else "DuckDB"
    print(
        f"Registered {info.external.label if info.external else args.source} as dataset "
        f"{info.name!r} version {info.version} in {store.path}, read in place by {engine}; "
        "nothing was copied"
        + (
            f" but {sample_words(info)}, for the dashboard's lists and clustering"
            if info.sampled
            else ""
        )
        + "."
    )
    print(f"Its results are {weighting(info.spec)}.")
    return 0


def add_register_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "register",
        help="register a Parquet path or glob, or a Spark table, as a dataset without copying it",
    )
    p.add_argument("name", help="dataset name; an existing name gets a new version")
    p.add_argument(
        "source",
        metavar="PARQUET_OR_TABLE",
        help="a .parquet file, a folder or glob of them, or (with --engine spark) a table",
    )
    add_survey_flags(p)
    add_engine_flags(p)
    p.set_defaults(run=run_register)
