"""bench/first_view: how long a new visitor waits for a view to be drawn (issue 27, goal 2).

A survey of 129,880 respondents (the airline survey's 25,976 five times over, each copy with
its own ids: the size of the full airline survey) is stored, opened by default, and served
by `serve.py` as hosted. Real chromium sessions, each a fresh browser context (no cookie,
no session state), time from `goto` to "drawn": the visit's first script run ended (its message,
`bench._browser.goto_first_run`), the app idle, no skeleton left and every chart's canvas or
SVG present (`bench._browser.charts_drawn`).

Per server, in order:
1. **first view after the server starts**: the Overview opened as soon as the server answers
   its health check (the server's start is timed apart);
2. **a segmentation nobody has opened yet**: the Overview by `Class`, in a new session;
3. **the Journey map's first view**, in a new session;
4. **a segmentation nobody has opened yet, picked in an open session**: a new session opens
   the Overview (not timed), then picks `Type of Travel` in the sidebar's Segmentation;
   timed from the click to the new view (what a user who is already in does);
5. **a segmentation nobody has opened yet, by link in a new tab of a browser that came
   before**: the browser opened the Overview once (not timed, its tab closed; the frontend's
   files are in its cache, as for anyone who has used the dashboard), then a new tab opens
   the Overview by `Customer Type`: a new session on the server;
6. **a warm view**: the Overview again, in a new session (everything cached).

Two servers in the same run: `CMOT_WARM=0` (nothing done before the first visitor: the
baseline) and the default (serve.py warms the caches before the first visitor). The
server's CPU seconds per step are read from /proc: the machine is shared and wall seconds
stretch with its load.

Run: .venv/bin/python bench/first_view.py [--rounds N]; writes bench/first_view.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench._browser import (  # noqa: E402
    CHROMIUM,
    LAUNCH_ARGS,
    charts_drawn,
    errors_shown,
    goto_first_run,
    start_serve,
    start_server,
    wait_for_run,
    watch_runs,
)

AIRLINE = ROOT.parent / "shared" / "data" / "airline" / "airline_passenger_satisfaction.csv"
COPIES = 5
OUT = ROOT / "bench" / "first_view.md"
GOAL_NEW = 1.0  # a view nobody has opened yet, seconds
GOAL_FIRST = 2.0  # the first view after a server start, seconds
NEW_SEG = "a segmentation nobody opened: Overview by Class"
FIRST = "first view after the start: Overview"
PICKED = "a segmentation nobody opened, picked in an open session: by Type of Travel"
RETURNING = "a segmentation nobody opened, by link in a returning browser: by Customer Type"


def big_survey(folder: Path) -> Path:
    """The airline survey COPIES times, ids made unique: 129,880 respondents."""
    import pandas as pd

    one = pd.read_csv(AIRLINE)
    parts = []
    for k in range(COPIES):
        part = one.copy()
        part["id"] = part["id"] + k * 1_000_000
        parts.append(part)
    path = folder / "airline_130k.csv"
    pd.concat(parts, ignore_index=True).drop(columns=one.columns[0]).to_csv(path, index=False)
    return path


def make_store(folder: Path) -> Path:
    """A store holding the big survey, opened by default."""
    store_dir = folder / "store"
    os.environ["CMOT_STORE"] = str(store_dir)
    from cmot.ingest.options import IngestOptions
    from cmot.store.datasets import Store
    from cmot.store.intake import ingest
    from cmot.ui.state import set_default_dataset

    store = Store(store_dir)
    options = IngestOptions(outcome="satisfaction", positive=("satisfied",), missing=(0,))
    ingest(store, big_survey(folder), "airline130k", options)
    set_default_dataset(store, "airline130k")
    return store_dir


def server_cpu(pid: int) -> float:
    """User + system CPU seconds of process `pid` and its threads (DuckDB's included)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _view_seconds(
    browser: Any,
    url: str,
    prepare: Callable[[Any], Callable[[], object]] | None = None,
    before: str | None = None,
) -> float:
    """Seconds to a view drawn, in a fresh context; raises on an error shown. Without
    `prepare`: timed from the visit to `url`. With it: the visit drawn first (not timed),
    then `prepare(page)` readies a click, timed from the click to the run it causes ended
    and the page idle with its charts present. `before`: a first tab of the context opens
    it and is closed (not timed), so `url`'s tab is a returning browser's."""
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    try:
        if before is not None:
            first = watch_runs(context.new_page())
            goto_first_run(first, before, timeout_ms=120_000)
            charts_drawn(first)
            first.close()
        page = watch_runs(context.new_page())
        click = None
        if prepare is not None:
            goto_first_run(page, url, timeout_ms=120_000)
            charts_drawn(page)
            click = prepare(page)
        start = time.perf_counter()
        if click is None:
            goto_first_run(page, url, timeout_ms=120_000)
        else:
            wait_for_run(page, click, timeout_ms=120_000)
        charts_drawn(page)
        took = time.perf_counter() - start
        shown = errors_shown(page)
        if shown:
            raise RuntimeError(f"{url}: {shown}")
        return took
    finally:
        context.close()


def drawn(browser: Any, url: str) -> float:
    """Seconds from goto to the view drawn, in a fresh context."""
    return _view_seconds(browser, url)


def picked(browser: Any, url: str, option: str) -> float:
    """Seconds from picking `option` in the sidebar's Segmentation, in a session already
    open at `url`, to the new view drawn."""

    def open_list(page: Any) -> Callable[[], object]:
        page.get_by_label("Segmentation", exact=True).click()
        choice = page.get_by_role("option", name=option, exact=True).first
        choice.wait_for(timeout=30_000)
        return choice.click

    return _view_seconds(browser, url, open_list)


def returning(browser: Any, home: str, url: str) -> float:
    """Seconds from goto `url` to the view drawn in a new tab of a browser that has opened
    `home` before (not timed, its tab closed): the frontend's files are in its cache, as for
    anyone who has used the dashboard, and the new tab is a new session on the server."""
    return _view_seconds(browser, url, before=home)


def _backend_pid(root: int) -> int:
    """The app process under `scripts/serve.sh 1` (pid `root`): its child that is not nginx."""
    kids = Path(f"/proc/{root}/task/{root}/children").read_text().split()
    return next(int(k) for k in kids if Path(f"/proc/{k}/comm").read_text().strip() != "nginx")


def one_server(
    store_dir: Path, warm: bool, browser: Any, log: Path, delay: float, served: bool = False
) -> dict[str, tuple[float, float]]:
    """Start a server on the store, then time each step: (wall s, server CPU s). The first
    visitor comes `delay` seconds after the health check answers. `served`: as hosted,
    `scripts/serve.sh 1` (nginx in front of one app process), not serve.py alone."""
    env = {"CMOT_WARM": "1" if warm else "0"}
    start = time.perf_counter()
    server: Any
    if served:
        server = start_serve(1, store_dir.parent, env=env)
        pid = _backend_pid(server.process.pid)
    else:
        server = start_server(store_dir, log, env=env)
        pid = server.process.pid
    up = time.perf_counter() - start
    out: dict[str, tuple[float, float]] = {"server up (health answers)": (up, server_cpu(pid))}
    time.sleep(delay)
    steps: list[tuple[str, Callable[[], float]]] = [
        (FIRST, lambda: drawn(browser, server.url)),
        (
            "a segmentation nobody opened: Overview by Class",
            lambda: drawn(browser, server.url + "/?seg=Class"),
        ),
        ("Journey map's first view", lambda: drawn(browser, server.url + "/journey")),
        (PICKED, lambda: picked(browser, server.url, "Type of Travel")),
        (RETURNING, lambda: returning(browser, server.url, server.url + "/?seg=Customer%20Type")),
        ("a warm view: Overview again", lambda: drawn(browser, server.url)),
    ]
    try:
        for name, step in steps:
            cpu = server_cpu(pid)
            wall = step()
            out[name] = (wall, server_cpu(pid) - cpu)
    finally:
        server.stop()
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3, help="servers of each kind, medians")
    ap.add_argument(
        "--delay", type=float, default=0.0, help="seconds from health to the first visitor"
    )
    ap.add_argument(
        "--served", action="store_true", help="as hosted: scripts/serve.sh 1 (nginx in front)"
    )
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()
    if not AIRLINE.is_file():
        raise SystemExit(f"the airline survey is not at {AIRLINE}")
    from playwright.sync_api import sync_playwright

    folder = Path(tempfile.mkdtemp(prefix="cmot-first-view-"))
    store_dir = make_store(folder)
    load_before = os.getloadavg()
    runs: dict[bool, list[dict[str, tuple[float, float]]]] = {False: [], True: []}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        for r in range(args.rounds):
            for warm in (False, True):  # alternated: the load falls on both alike
                log = folder / f"server-{int(warm)}-{r}.log"
                runs[warm].append(
                    one_server(store_dir, warm, browser, log, args.delay, args.served)
                )
        browser.close()
    load_after = os.getloadavg()
    write(runs, load_before, load_after, args.rounds, args.delay, args.out, args.served)


def write(
    runs: dict[bool, list[dict[str, tuple[float, float]]]],
    load_before: tuple[float, float, float],
    load_after: tuple[float, float, float],
    rounds: int,
    delay: float,
    out: Path,
    served: bool = False,
) -> None:
    def med(warm: bool, step: str, i: int) -> float:
        return statistics.median(run[step][i] for run in runs[warm])

    busy = max(load_before[0], load_after[0]) > 1.5
    lines = [
        "# bench/first_view",
        "",
        "Issue 27, goal 2: a view nobody has opened yet drawn in under 1 s on a 130k survey; "
        "the first view after a server start under 2 s. `bench/first_view.py`: the airline "
        f"survey five times over ({COPIES * 25_976:,} respondents, 14 touchpoints), opened by "
        "default, served by "
        + ("`scripts/serve.sh 1` (nginx in front of one app process)" if served else "`serve.py`")
        + "; each view in a fresh chromium context, timed from "
        "`goto` to drawn (the run ended, no skeleton, every chart's canvas present).",
        "",
        f"- date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        f"- machine: {os.cpu_count()} cores, {platform.processor() or platform.machine()}; "
        f"{platform.platform()}",
        f"- load average (1 min) {load_before[0]:.1f} before, {load_after[0]:.1f} after"
        + (": **busy machine**, wall seconds stretch with the load" if busy else ": quiet"),
        f"- medians of {rounds} servers of each kind, alternated; the first visitor came "
        f"{delay:g} s after the health check answered",
        "",
        "| step | before: wall s | before: server CPU s | after: wall s | after: server CPU s "
        "| after / before (wall) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for step in runs[False][0]:
        b, a = med(False, step, 0), med(True, step, 0)
        lines.append(
            f"| {step} | {b:.2f} | {med(False, step, 1):.2f} | {a:.2f} | "
            f"{med(True, step, 1):.2f} | {a / b:.2f}x |"
        )
    first = med(True, FIRST, 0)
    new = med(True, NEW_SEG, 0)
    picked_s = med(True, PICKED, 0)
    back = med(True, RETURNING, 0)
    lines += [
        "",
        "Before: `CMOT_WARM=0`, nothing done before the first visitor. After: serve.py's "
        "start warms the process (imports, the store, the default dataset's default view: "
        "`cmot.ui.warm`) while the health check already answers.",
        "",
        f"Goals: the first view after a start {first:.2f} s (goal {GOAL_FIRST:.0f} s: "
        f"{'met' if first < GOAL_FIRST else 'not met'}); a view nobody opened {new:.2f} s "
        f"(goal {GOAL_NEW:.0f} s: {'met' if new < GOAL_NEW else 'not met'}) by a link in a "
        f"fresh browser, {picked_s:.2f} s picked in an open session "
        f"({'met' if picked_s < GOAL_NEW else 'not met'}), {back:.2f} s by a link in a new tab "
        f"of a browser that came before ({'met' if back < GOAL_NEW else 'not met'}).",
        "",
        "A view picked in an open session is timed from the click on the option to the run's "
        "end with the page idle and its charts present; its server CPU includes opening that "
        "session on the Overview first (a warm view, not timed).",
        "",
    ]
    out.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
