"""bench/newcomer: how long the app takes a newcomer from upload to a segment-specific answer.

Issue 23: "A newcomer reaches a segment-specific answer on the widest survey in
../shared/data in under 5 minutes." The widest is the Kansas City resident survey
(wave_2021_09.csv, 160 columns). A real chromium walks the whole path on a server this
script starts on a fresh store:

1. upload the file (the mapping shows);
2. touchpoints by pattern: `q*` ignored, then `q3_*, q5_*` as touchpoints (the preview
   names what each pattern matches before Apply);
3. outcome: q2_01 (no column is named like an outcome, so the page asks);
4. codes: 9 = don't know, 99 = none chosen and NA confirmed as no answer (proposed, ticked);
5. segment with merges: `counci` (council district 1-6), districts 1-3 labelled North and
   4-6 South in the value-label editor;
6. save;
7. Overview by counci: Fix first / Invest next and the cards answer per district group.

Each step is timed from its first action to the app idle with the result drawn: the app's
and the browser's time, not a person's reading or thinking time. The server's CPU seconds
per step are read from /proc (the streamlit process, DuckDB's threads included), because
the machine is shared: wall seconds stretch with its load.

Run: .venv/bin/python bench/newcomer.py; writes bench/newcomer.md. tests/e2e/
test_real_survey_browser.py walks the same path (`walk`) and checks each step, not its time.
"""

from __future__ import annotations

import os
import platform
import re
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench._browser import (  # noqa: E402
    CHROMIUM,
    LAUNCH_ARGS,
    bulk,
    charts_drawn,
    edit_cells,
    errors_shown,
    fill,
    open_page,
    pick,
    shot,
    start_server,
    upload,
    wait_for_run,
    watch_runs,
)

KC_CSV = ROOT.parent / "shared" / "data" / "kansas-city-resident" / "wave_2021_09.csv"
GOAL_S = 300.0
NAME = "kansas-city"
MERGES = {0: "North", 1: "North", 2: "North", 3: "South", 4: "South", 5: "South"}
# A line of the Overview that answers for one segment: a Fix first / Invest next row names
# it when the segments differ ("... for North: 1.2 pts · clear"); else its card does.
SEGMENT_ANSWER = re.compile(
    r"^.*\bfor (North|South): .+$|^(North|South)\n+n = .+\n+.+\(at stake .+\)$", re.MULTILINE
)


@dataclass
class Walk:
    """What the walk saw: each step's wall and server CPU seconds, and the answer."""

    steps: list[tuple[str, float, float]] = field(default_factory=list)
    answer: str = ""
    overview: str = ""

    @property
    def total(self) -> float:
        return sum(s for _, s, _ in self.steps)

    @property
    def cpu(self) -> float:
        return sum(c for _, _, c in self.steps)


def cpu_seconds(pid: int | None) -> float:
    """User + system seconds of process `pid` so far (0 without /proc)."""
    if pid is None:
        return 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def walk(
    page: Any,
    url: str,
    csv: Path,
    server_pid: int | None = None,
    after: Callable[[str], None] | None = None,
) -> Walk:
    """Walk the newcomer's path on `page` against the app at `url`; raises AssertionError
    when a step does not show what it should (an error box, a missing answer). `after` is
    called with each step's name once it is done and timed: a test's own checks of the page
    on the way (tests/e2e/test_real_survey_browser.py), outside the step's time."""
    out = Walk()

    def step(name: str, action: Callable[[], None]) -> None:
        c0, t0 = cpu_seconds(server_pid), time.perf_counter()
        action()
        out.steps.append((name, time.perf_counter() - t0, cpu_seconds(server_pid) - c0))
        print(f"{name}: {out.steps[-1][1]:.1f} s", file=sys.stderr, flush=True)
        problems = errors_shown(page)
        assert not problems, f"after '{name}': {', '.join(problems)}"
        if after is not None:
            after(name.split(" (")[0])

    def touchpoints() -> None:
        bulk(page, "q*", "ignore")
        said = bulk(page, "q3_*, q5_*", "touchpoint")
        assert "q3_*" in said and "q5_*" in said, said
        body = page.inner_text("body")
        assert "23 column(s) set to touchpoint." in body, body[-3000:]

    def outcome() -> None:
        pick(page, "Outcome column", "q2_01", typed="q2_01")
        page.get_by_label("Scale from").wait_for()

    def codes() -> None:
        for code in ("9", "99", "NA"):
            tick = page.locator(f".st-key-map_code_{code} input")
            if tick.count() and not tick.is_checked():  # proposed but unticked: confirm
                label = page.locator(f".st-key-map_code_{code} label")
                wait_for_run(page, label.click)
        assert page.locator(".st-key-map_code_9 input").is_checked(), "9 is not no answer"
        assert "23 touchpoint(s) rated 1-5" in page.inner_text("body")

    def segment() -> None:
        pick(page, "Segment column", "counci", typed="counci")
        edit_cells(page, "map_labels", 2, MERGES)  # code, respondents, label
        assert "Segments of counci:" in page.inner_text("body")

    def save() -> None:
        fill(page, "Dataset name", NAME)
        button = page.get_by_role("button", name="Save dataset")
        assert button.is_enabled(), page.inner_text("body")[-3000:]
        wait_for_run(page, button.click)
        page.get_by_text(f"Saved '{NAME}' version 1:").wait_for(timeout=180_000)
        wait_for_run(page)

    def overview() -> None:
        sidebar = page.get_by_test_id("stSidebar")
        box = sidebar.get_by_label("Segmentation", exact=True)
        if box.input_value() != "counci":
            box.click()
            wait_for_run(page, page.get_by_role("option", name="counci", exact=True).click)
        open_page(page, "Overview")
        charts_drawn(page)
        page.get_by_text("How this is calculated").wait_for()  # the page's last element
        out.overview = page.inner_text("[data-testid=stMain]")
        found = SEGMENT_ANSWER.search(out.overview)
        assert found, "no segment-specific answer on the Overview:\n" + out.overview[:3000]
        out.answer = found.group(0).strip()

    step("upload (the mapping shows)", lambda: upload(page, url, csv))
    step("touchpoints by pattern (q* ignored, q3_*, q5_* touchpoints)", touchpoints)
    step("outcome (q2_01)", outcome)
    step("codes (9, 99, NA confirmed)", codes)
    step("segment with merges (counci: 1-3 North, 4-6 South)", segment)
    step("save", save)
    step("Overview by counci", overview)
    return out


def machine() -> tuple[str, str]:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} cores (nproc), {cpu}", platform.platform()


def main() -> None:
    if not KC_CSV.exists():
        sys.exit(f"needs {KC_CSV} (../shared beside the repository)")
    from playwright.sync_api import sync_playwright

    loads = [os.getloadavg()[0]]
    with tempfile.TemporaryDirectory(prefix="cmot-newcomer-") as tmp:
        d = Path(tmp)
        server = start_server(d / "store", d / "server.log")
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
                context = browser.new_context(viewport={"width": 1400, "height": 2400})
                page = watch_runs(context.new_page())
                page.set_default_timeout(60_000)
                w = walk(page, server.url, KC_CSV, server.process.pid)
                shot(page, "newcomer-overview")
                browser.close()
        finally:
            loads.append(os.getloadavg()[0])
            server.stop()
    cpu, system = machine()
    load = max(loads)
    busy = load > 1.5
    lines = [
        "# bench/newcomer",
        "",
        "Issue 23: a newcomer reaches a segment-specific answer on the widest survey in "
        "../shared/data (Kansas City, wave_2021_09.csv: 1,033 respondents x 160 columns) in "
        "under 5 minutes. A real chromium walks the path on a fresh server and store "
        "(`bench/newcomer.py`); each step is timed from its first action to the app idle with "
        "its result drawn: the app's and the browser's time, not a person's reading time.",
        "",
        f"- date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        f"- machine: {cpu}; {system}",
        f"- load average (1 min) {loads[0]:.1f} before, {loads[-1]:.1f} after"
        + (
            f": **busy machine** (over 1.5 on {os.cpu_count()} cores; wall seconds stretch "
            "with the load, the server's CPU seconds much less)"
            if busy
            else ""
        ),
        "",
        "| step | wall s | server CPU s |",
        "|---|---:|---:|",
        *(f"| {name} | {s:.1f} | {c:.1f} |" for name, s, c in w.steps),
        f"| **total** | **{w.total:.1f}** | **{w.cpu:.1f}** |",
        "",
        f"Goal: under {GOAL_S:.0f} s: {'met' if w.total < GOAL_S else 'NOT met'} "
        f"({w.total:.0f} s of app time, leaving {max(GOAL_S - w.total, 0):.0f} s to read and "
        "decide).",
        "",
        f'The answer the Overview gave for a segment: "{w.answer}"',
        "",
    ]
    text = "\n".join(lines)
    (ROOT / "bench" / "newcomer.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
