"""Server-side time of each dashboard page on the airline survey: first load and a switch.

Runs the app with Streamlit's AppTest (the script run a server does, without the browser)
on a temporary store holding the airline survey (0 = missing), segmented by Type of Travel.
"Warm cache" means the process has computed the analysis once (as a running server has after
its first visitor); every timed run is a new session. Writes bench/pages.md.
"""

from __future__ import annotations

import argparse
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
PAGES = ["overview", "journey", "moments", "compare", "actions", "segments", "data"]
# (page, widget kind, key, value): a segment switch on each page that has one.
SWITCHES: list[tuple[str, str, str, Any]] = [
    ("overview", "selectbox", "seg", "Class"),
    ("moments", "selectbox", "segment", "Personal Travel"),
    ("compare", "selectbox", "seg", "Class"),
    ("actions", "selectbox", "segment", "Personal Travel"),
    ("journey", "multiselect", "journey_segments", ["Personal Travel"]),
]


def _served_navigation() -> None:
    # As tests/app/conftest.py: AppTest would otherwise take the legacy pages/ path each run.
    import streamlit.runtime.pages_manager as pm

    class NoPagesFolder(type(Path())):  # type: ignore[misc]
        def exists(self, *a: object, **k: object) -> bool:
            return False if self.name == "pages" else super().exists(*a, **k)

    pm.Path = NoPagesFolder  # type: ignore[misc]


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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "pages.md")
    args = ap.parse_args()
    if not AIRLINE.exists():
        raise SystemExit(f"the airline survey is not at {AIRLINE}")
    tmp = tempfile.mkdtemp()
    os.environ["CMOT_STORE"] = str(Path(tmp) / "store")
    _served_navigation()
    from cmot.ingest import IngestOptions, ingest
    from cmot.store import Store

    ingest(Store(), AIRLINE, "airline", IngestOptions(missing=(0,)))
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
    out.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
