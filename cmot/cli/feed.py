"""`append`, `watch` and `alerts`: feedback as it arrives, from the command line."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from cmot.errors import CmotError
from cmot.feedback.alert_log import list_alerts, refresh
from cmot.feedback.alerts import WatchSettings
from cmot.feedback.deliver import payload, post, webhook_url
from cmot.feedback.watch import Taken, watch, watch_once
from cmot.store.append import append_batch
from cmot.store.datasets import Store


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


def run_watch(args: argparse.Namespace) -> int:
    store = Store()
    folder = Path(args.folder)
    if args.once:
        taken = watch_once(store, folder, args.dataset, args.settle)
        for t in taken:
            print(t.text())
        if not taken:
            print(f"No new file in {folder}.")
        return 2 if any(t.outcome == "refused" for t in taken) else 0
    print(f"Watching {folder} for batches of {args.dataset!r} (Ctrl-C stops)...", flush=True)

    def say(t: Taken) -> None:
        print(t.text(), flush=True)

    watch(store, folder, args.dataset, args.interval, args.settle, say)
    return 0


def add_watch_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "watch",
        help="append each new survey file landing in a folder to a dataset, exactly once",
    )
    p.add_argument("folder", help="the folder a daily or weekly export lands in")
    p.add_argument("--dataset", required=True, help="the stored dataset the files extend")
    p.add_argument(
        "--once",
        action="store_true",
        help="look once and exit (for cron): exit 2 when a file was refused",
    )
    p.add_argument("--interval", type=float, default=10.0, help="seconds between looks")
    p.add_argument(
        "--settle",
        type=float,
        default=5.0,
        help="a file is taken once unchanged this many seconds (default 5)",
    )
    p.set_defaults(run=run_watch)


def run_alerts(args: argparse.Namespace) -> int:
    url = webhook_url(args.webhook)  # a wrong URL is said before any alert is kept
    store = Store()
    ws = WatchSettings(period=args.by)
    seg = (args.segment,) if args.segment else None
    watched = refresh(store, args.dataset, ws, seg)
    shown = list_alerts(store, args.dataset, args.since) if args.since else watched.new
    if shown.empty:
        print(f"No new alert for {args.dataset!r} ({len(watched.table)} moments watched).")
        return 0
    for r in shown.itertuples():
        q = f"q = {r.q:.2g}; " if isinstance(r.q, float) and r.q == r.q else ""
        print(f"[{r.created_at}] {r.sentence} ({q}alert {r.id})")
    if url is not None:
        try:
            post(url, payload(args.dataset, shown))
        except CmotError as e:
            since = str(shown["created_at"].min())
            print(
                f"error: {e} Send them again with --since '{since}'.",
                file=sys.stderr,
            )
            return 2
        print(f"Posted {len(shown)} alert(s) to the webhook.")
    return 1


def add_alerts_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "alerts",
        help="watch a dataset's moments; print new alerts and exit 1 when there are any",
    )
    p.add_argument("dataset", help="the stored dataset's name")
    p.add_argument(
        "--since",
        help="print every alert raised since this time (YYYY-MM-DD[ HH:MM:SS], UTC)",
    )
    p.add_argument(
        "--by", choices=("batch", "week", "month"), default="batch", help="the periods watched"
    )
    p.add_argument("--segment", help="the segment column watched (default: the spec's first)")
    p.add_argument(
        "--webhook",
        help="also POST the new alerts as JSON to this URL (default: $CMOT_ALERT_WEBHOOK)",
    )
    p.set_defaults(run=run_alerts)
