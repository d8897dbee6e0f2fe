"""`append`, `watch` and `alerts`: feedback as it arrives, from the command line."""

from __future__ import annotations

import argparse

from cmot.append import append_batch
from cmot.store import Store


def run_append(args: argparse.Namespace) -> int:
    store = Store()
    done = append_batch(store, args.dataset, args.file)
    print(done.report.to_text())
    print(done.text())
    return 0


def add_append_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "append",
        help="add a batch of new responses (same columns) to a stored dataset as a new version",
    )
    p.add_argument("dataset", help="the stored dataset's name")
    p.add_argument("file", help="the batch: a survey file with the dataset's columns")
    p.set_defaults(run=run_append)
