"""Server-side time of each dashboard page on the airline survey: first load and a switch.

Runs the app with Streamlit's AppTest (the script run a server does, without the browser)
on a temporary store holding the airline survey (0 = missing), segmented by Type of Travel.
"Warm cache" means the process has computed the analysis once (as a running server has after
its first visitor); every timed run is a new session. Writes bench/pages.md.

`--cpu` measures instead the server CPU of a warm page switch: one session visits every page
once (caches warm), then goes round the pages `--repeat` times; each switch's CPU time is the
script thread's (`time.thread_time`, what the server spends running the page; AppTest's own
parsing of the output happens in the main thread and is left out) and the process's
(`time.process_time`, everything, AppTest included: an upper bound). CPU time, unlike wall
time, hardly depends on what else the shared machine runs. `--profile PAGE` writes a cProfile
of that page's warm switches (script thread) to $TMPDIR/cmot-profile-PAGE.pstats.

`--served` measures the same in a real server (`streamlit run`, one websocket session driven
by bench/wsload.py's StSession): the server process's CPU (/proc utime + stime, which counts
in 10 ms ticks) across `--repeat` rounds of every page, as a mean per page switch.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import platform
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
AIRLINE = ROOT.parent / "shared" / "data" / "airline" / "airline_passenger_satisfaction.csv"
CPU_HEADING = "## Server CPU of a warm page switch"
PAGES = ["overview", "journey", "moments", "compare", "actions", "segments", "data"]
# (page, widget kind, key, value): a segment switch on each page that has one.
SWITCHES: list[tuple[str, str, str, Any]] = [
    ("overview", "selectbox", "seg", "Class"),
    ("moments", "selectbox", "segment", "Personal Travel"),
    ("compare", "selectbox", "seg", "Class"),
    ("actions", "selectbox", "segment", "Personal Travel"),
    ("journey", "multiselect", "journey_segments", ["Personal Travel"]),
]


_SERVED: list[Any] = []  # the entered without_pages_folder context, for the whole process


def _served_navigation() -> None:
    # As tests/app/conftest.py: AppTest would otherwise take the legacy pages/ path each run.
    # For the whole process: this script only runs the app through AppTest.
    from cmot.ui.state import without_pages_folder

    if not _SERVED:
        _SERVED.append(without_pages_folder())
        _SERVED[0].__enter__()  # kept in _SERVED: a dropped context would undo it at once


def _app() -> Any:
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300)
    at.query_params.update({"dataset": "airline", "seg": "Type of Travel"})
    return at


def _timed(fn: Any) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _check(at: Any) -> Any:
    if at.exception:
        raise SystemExit(f"page failed: {[e.message for e in at.exception]}")
    return at


class _ScriptCpu:
    """Thread CPU of each script run (and optionally a cProfile of it), by wrapping the
    script runner's thread body: AppTest starts one such thread per run."""

    def __init__(self) -> None:
        self.last = 0.0
        self.profiler: cProfile.Profile | None = None

    def install(self) -> None:
        from streamlit.runtime.scriptrunner.script_runner import ScriptRunner

        body = ScriptRunner._run_script_thread  # private: the one place a run executes
        probe = self

        def timed(runner: Any) -> None:
            start = time.thread_time()
            prof = probe.profiler
            if prof is not None:
                prof.enable()
            try:
                body(runner)
            finally:
                if prof is not None:
                    prof.disable()
                probe.last = time.thread_time() - start

        ScriptRunner._run_script_thread = timed  # type: ignore[method-assign]


def _ingest_airline() -> None:
    tmp = tempfile.mkdtemp()
    os.environ["CMOT_STORE"] = str(Path(tmp) / "store")
    _served_navigation()
    from cmot.ingest.options import IngestOptions
    from cmot.store.datasets import Store
    from cmot.store.intake import ingest

    ingest(Store(), AIRLINE, "airline", IngestOptions(missing=(0,)))


def _shared_script_cache() -> None:
    # A server compiles each script once (Runtime's ScriptCache); AppTest makes a new cache
    # per run (and per script runner) and recompiles app.py and the page (about 9 ms) each
    # time: share one, as served.
    import streamlit.testing.v1.app_test as app_test
    import streamlit.testing.v1.local_script_runner as local_runner
    from streamlit.runtime.scriptrunner.script_cache import ScriptCache

    shared = ScriptCache()
    app_test.ScriptCache = lambda: shared  # type: ignore[assignment,misc]
    local_runner.ScriptCache = lambda: shared  # type: ignore[assignment,misc]


def cpu_main(repeat: int, out: Path | None, profile: str | None, label: str) -> None:
    """CPU of a warm page switch per page, medians of `repeat`; a table row per page."""
    probe = _ScriptCpu()
    probe.install()
    _shared_script_cache()
    _ingest_airline()
    at = _app()
    _check(at.run())
    for page in PAGES:  # every page once: process caches and session state warm
        _check(at.switch_page(f"pages/{page}.py").run())
        _check(at.switch_page(f"pages/{page}.py").run())
    profiler = cProfile.Profile() if profile else None
    script: dict[str, list[float]] = {p: [] for p in PAGES}
    proc: dict[str, list[float]] = {p: [] for p in PAGES}
    for _ in range(repeat):
        for page in PAGES:
            at.switch_page(f"pages/{page}.py")
            probe.profiler = profiler if page == profile else None
            start = time.process_time()
            _check(at.run())
            proc[page].append(time.process_time() - start)
            script[page].append(probe.last)
    probe.profiler = None
    if profiler is not None:
        path = Path(tempfile.gettempdir()) / f"cmot-profile-{profile}.pstats"
        profiler.dump_stats(str(path))
        print(f"profile of {repeat} warm switches to {profile}: {path}")
    load = os.getloadavg()
    rows = [
        f"| {label} | {page} | {1000 * statistics.median(script[page]):.0f} | "
        f"{1000 * max(script[page]):.0f} | {1000 * statistics.median(proc[page]):.0f} | "
        f"{repeat} |"
        for page in PAGES
    ]
    text = (
        f"<!-- {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, load average "
        f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f} -->\n" + "\n".join(rows) + "\n"
    )
    print(text)
    if out is not None:
        with out.open("a") as f:
            f.write(text)


def served_main(rounds: int, out: Path | None, label: str) -> None:
    """Server CPU of a warm page switch per page in a real server, mean of `rounds`."""
    import asyncio

    from bench._browser import start_server
    from bench.load import _cpu_seconds
    from bench.wsload import StSession

    _ingest_airline()
    store = Path(os.environ["CMOT_STORE"])
    from cmot.store import directory as store_mod

    store_mod.close_all()  # the server opens the store itself
    server = start_server(store, store.parent / "server.log")
    pid = server.process.pid
    cpu: dict[str, float] = {}
    try:

        async def drive() -> None:
            s = StSession(server.url)
            await s.connect()
            try:
                first = await s.open("", "dataset=airline&seg=Type+of+Travel")
                assert not first.errors, first.errors
                paths = list(s.pages)
                for _ in range(2):  # every page twice: caches and session state warm
                    for path in paths:
                        run = await s.switch(path)
                        assert not run.errors, (path, run.errors)
                for path in paths:
                    cpu[s.titles.get(path, path)] = 0.0
                for _ in range(rounds):
                    for path in paths:
                        before = _cpu_seconds(pid)
                        run = await s.switch(path)
                        assert not run.errors, (path, run.errors)
                        cpu[s.titles.get(path, path)] += _cpu_seconds(pid) - before
            finally:
                await s.close()

        asyncio.run(drive())
    finally:
        server.process.terminate()
        server.process.wait(timeout=30)
    load = os.getloadavg()
    rows = [f"| {label} | {page} | {1000 * v / rounds:.0f} | {rounds} |" for page, v in cpu.items()]
    total = sum(cpu.values()) / rounds / max(len(cpu), 1)
    rows.append(f"| {label} | mean of the pages | {1000 * total:.0f} | {rounds} |")
    text = (
        f"<!-- served, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, load average "
        f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f} -->\n" + "\n".join(rows) + "\n"
    )
    print(text)
    if out is not None:
        with out.open("a") as f:
            f.write(text)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--cpu", action="store_true", help="CPU of a warm page switch per page")
    ap.add_argument("--served", action="store_true", help="CPU in a real server, per page")
    ap.add_argument("--profile", choices=PAGES, help="with --cpu: cProfile one page")
    ap.add_argument("--label", default="this branch", help="with --cpu: the rows' first column")
    args = ap.parse_args()
    if not AIRLINE.exists():
        raise SystemExit(f"the airline survey is not at {AIRLINE}")
    if args.served:
        served_main(args.repeat, args.out, args.label)
        return
    if args.cpu:
        cpu_main(args.repeat, args.out, args.profile, args.label)
        return
    args.out = args.out or ROOT / "bench" / "pages.md"
    _ingest_airline()
    cold: dict[str, float] = {}
    at = _app()
    cold["app start (demo + airline analysis)"] = _timed(lambda: _check(at.run()))
    for page in PAGES[1:]:
        cold[page] = _timed(lambda p=page: _check(at.switch_page(f"pages/{p}.py").run()))
    first: dict[str, list[float]] = {p: [] for p in PAGES}
    switch: dict[str, list[float]] = {f"{p}: {k} -> {v}": [] for p, _, k, v in SWITCHES}
    for _ in range(args.repeat):
        for page in PAGES:
            at = _app()
            at.run()  # the session's landing run (Overview), then the page itself
            first[page].append(
                _timed(lambda a=at, p=page: _check(a.switch_page(f"pages/{p}.py").run()))
            )
        for page, kind, key, value in SWITCHES:
            at = _app()
            at.run()
            _check(at.switch_page(f"pages/{page}.py").run())
            root = at.sidebar if key == "seg" else at
            widget = getattr(root, kind)(key=key)
            switch[f"{page}: {key} -> {value}"].append(
                _timed(lambda w=widget, v=value: _check(w.set_value(v).run()))
            )
    write(args.out, cold, first, switch, args.repeat)
    print(args.out.read_text())


def write(
    out: Path,
    cold: dict[str, float],
    first: dict[str, list[float]],
    switch: dict[str, list[float]],
    repeat: int,
) -> None:
    def ms(v: float) -> str:
        return f"{1000 * v:,.0f} ms"

    cpu = platform.processor() or platform.machine()
    lines = [
        "# Dashboard pages: server-side time (bench/pages.py)",
        "",
        f"Date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC. Machine: {platform.node()}, "
        f"{os.cpu_count()} vCPU ({cpu}), Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}. Load average during the run: "
        f"{os.getloadavg()[0]:.1f} (the machines are shared: compare runs, not absolute times).",
        "",
        "Airline survey (25,976 respondents, 14 touchpoints, 0 = missing), segmented by Type "
        "of Travel. Times are Streamlit AppTest script runs (what the server does per "
        "interaction, without network and browser drawing). Goals: a first load under 3 s, "
        f"an interaction under 300 ms. Medians and maxima of {repeat} new sessions each, with "
        "the process cache warm (the analysis computed once, as after a server's first visitor).",
        "",
        "## First load of each page (warm cache, new session)",
        "",
        "| page | median | max | goal |",
        "|---|---|---|---|",
    ]
    for page, runs in first.items():
        ok = "met" if max(runs) < 3 else "MISSED"
        lines.append(f"| {page} | {ms(statistics.median(runs))} | {ms(max(runs))} | < 3 s {ok} |")
    lines += [
        "",
        "## A segment switch",
        "",
        "| page: widget -> value | median | max | goal |",
        "|---|---|---|---|",
    ]
    for what, runs in switch.items():
        ok = "met" if statistics.median(runs) < 0.3 else "MISSED"
        lines.append(
            f"| {what} | {ms(statistics.median(runs))} | {ms(max(runs))} | < 300 ms {ok} |"
        )
    lines += [
        "",
        "A switch of segmentation (seg -> Class) is the first analysis of that segmentation in "
        "the first session only; the later sessions find it in the cache.",
        "",
        "## For reference: cold process (one run each, in order)",
        "",
        "| step | time |",
        "|---|---|",
    ]
    lines += [f"| {k} | {ms(v)} |" for k, v in cold.items()]
    # The CPU section (--cpu, --served: written by hand from their rows) stays as it is.
    old = out.read_text() if out.exists() else ""
    kept = old[old.find(CPU_HEADING) :] if CPU_HEADING in old else ""
    out.write_text("\n".join(lines) + "\n" + ("\n" + kept if kept else ""))


if __name__ == "__main__":
    main()
