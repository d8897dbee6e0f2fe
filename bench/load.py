"""Load on loopback: browsing sessions and concurrent uploads against one streamlit server.

    .venv/bin/python bench/load.py    # 20 browsers + 3 uploads; writes bench/load-browser.md

Every session is a tab in one Debian chromium (browsing tabs share a context, uploaders get
their own); each tab is its own streamlit session. A browsing session opens the
app and switches page `visits` times (the sessions together cover every page); an upload
session opens the Data page, uploads a generated survey and saves it. An interaction is
timed from the click to the end of the script run it caused (the app's
data-test-script-state back to notRunning after having been running). Bounded: a fixed
count of sessions and clicks, and a deadline.
"""

from __future__ import annotations

import asyncio
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from playwright.async_api import TimeoutError as StepTimeout  # noqa: E402
from playwright.async_api import expect  # noqa: E402

from bench._browser import (  # noqa: E402
    CHROMIUM,
    LAUNCH_ARGS,
    start_server,
    store_env,
    wait_for_run_async,
    watch_runs,
)

ERRORS = '[data-testid="stException"], [data-testid="stAlertContentError"]'
UPLOAD_ROWS_PER_SEGMENT = 2000
# Poll on a timer: the default (animation frames) stalls in pages chromium treats as hidden.
POLL_MS = 50
# One upload step's bound: below the load test's deadline, so a stall is named by its step.
UPLOAD_STEP_S = 60
STEP_MS = UPLOAD_STEP_S * 1000
# Twenty pages in one browser: none of them is "in the background" and throttled.
LOAD_ARGS = [
    *LAUNCH_ARGS,
    "--disable-background-timer-throttling",
    "--disable-backgrounding-occluded-windows",
    "--disable-renderer-backgrounding",
]

# Resolves once the app has run a script since the watch began and is idle again.
_WATCH = """() => {
  const app = document.querySelector('[data-testid="stApp"]');
  window.__cmotRan = false;
  if (window.__cmotObs) window.__cmotObs.disconnect();
  window.__cmotObs = new MutationObserver((records) => {
    for (const r of records) {
      if (r.oldValue === 'running' || app.getAttribute('data-test-script-state') === 'running')
        window.__cmotRan = true;
    }
  });
  window.__cmotObs.observe(app, {attributes: true, attributeOldValue: true,
                                 attributeFilter: ['data-test-script-state']});
}"""
_IDLE_AFTER_RUN = """() => window.__cmotRan && document.querySelector('[data-testid="stApp"]')
  .getAttribute('data-test-script-state') === 'notRunning'"""
_IDLE = """() => { const a = document.querySelector('[data-testid="stApp"]');
  return a && a.getAttribute('data-test-script-state') === 'notRunning'; }"""


@dataclass
class Result:
    sessions: int
    uploads: int
    clicks: list[float] = field(default_factory=list)  # seconds per page switch
    first_loads: list[float] = field(default_factory=list)
    upload_times: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # shown in a page, or in the server log
    unfinished: list[str] = field(default_factory=list)  # steps that outlasted their bound
    saved: dict[str, int] = field(default_factory=dict)  # upload name -> versions stored
    wall: float = 0.0
    server_cpu: float = 0.0  # seconds of CPU the streamlit process used during the run
    load_before: float = 0.0  # the machine's 1-minute load average when the run began

    @staticmethod
    def _q(values: list[float], q: float) -> float:
        if not values:
            return float("nan")
        if q == 0.5:
            return statistics.median(values)
        ordered = sorted(values)
        return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]

    def summary(self) -> dict[str, float]:
        return {
            "clicks": len(self.clicks),
            "click_median_s": self._q(self.clicks, 0.5),
            "click_p95_s": self._q(self.clicks, 0.95),
            "first_load_median_s": self._q(self.first_loads, 0.5),
            "first_load_p95_s": self._q(self.first_loads, 0.95),
            "upload_median_s": self._q(self.upload_times, 0.5),
            "upload_max_s": self._q(self.upload_times, 1.0),
            "wall_s": self.wall,
        }


async def _errors(page: Any, where: str, result: Result) -> None:
    loc = page.locator(ERRORS)
    for i in range(await loc.count()):
        result.errors.append(f"{where}: {(await loc.nth(i).inner_text())[:300]}")


async def _browse(ctx: Any, url: str, n: int, visits: int, result: Result) -> None:
    """Open the app, then switch page `visits` times (session n starts at page n + 1, so
    the sessions together cover every page); visits=0: every page once (the warm-up)."""
    await asyncio.sleep(0.15 * max(n, 0))  # arrive over a few seconds, as people do
    page = await ctx.new_page()
    page.set_default_timeout(90_000)
    try:
        t0 = time.monotonic()
        await page.goto(url + "/")
        await page.get_by_test_id("stSidebarNavLink").first.wait_for()
        await page.wait_for_function(_IDLE, polling=POLL_MS)
        result.first_loads.append(time.monotonic() - t0)
        links = page.get_by_test_id("stSidebarNavLink")
        count = await links.count()
        order = [(max(n, 0) + j) % count for j in range(1, (visits or count) + 1)]
        current = 0
        for i in order:
            if i == current:
                continue
            await page.evaluate(_WATCH)
            t = time.monotonic()
            await links.nth(i).click()
            await page.wait_for_function(_IDLE_AFTER_RUN, polling=POLL_MS)
            result.clicks.append(time.monotonic() - t)
            current = i
            if os.environ.get("CMOT_LOAD_VERBOSE"):
                print(f"browser {n} page {i}: {result.clicks[-1]:.2f} s", flush=True)
            await _errors(page, f"browser {n} page {i}", result)
    except StepTimeout:  # slow, not wrong: counted apart from errors
        result.unfinished.append(f"browser {n}: a step took over 90 s")
    except Exception as e:
        result.errors.append(f"browser {n}: {type(e).__name__}: {str(e)[:300]}")
    finally:
        await page.close()


async def _upload(browser: Any, url: str, k: int, csv: Path, result: Result) -> None:
    """A person on the Data page: choose the file, wait for its mapping, name it, save.

    Each action waits for the end of the script run it caused (the app's message, as the
    browser tests do), so no step races a run still on its way. A step that outlasts
    UPLOAD_STEP_S is counted unfinished, by name, with what the page shows.
    """
    ctx = await browser.new_context(viewport={"width": 1280, "height": 800})
    page = watch_runs(await ctx.new_page())
    page.set_default_timeout(STEP_MS)
    name = f"load-{k}"
    step = "open the Data page"
    try:
        await page.goto(url + "/data")
        uploader = page.locator(".st-key-upload").get_by_test_id("stFileUploader")  # the survey's
        await uploader.wait_for()
        await page.wait_for_function(_IDLE, polling=POLL_MS)
        t = time.monotonic()
        step = "choose the file"
        files = uploader.locator("input[type=file]")
        await wait_for_run_async(page, lambda: files.set_input_files(str(csv)), timeout_ms=STEP_MS)
        step = "wait for the mapping"
        save = page.get_by_role("button", name="Save dataset")
        await expect(save).to_be_enabled(timeout=STEP_MS)
        step = "name the dataset"
        box = page.get_by_label("Dataset name")
        await box.fill(name)
        await wait_for_run_async(page, lambda: box.press("Enter"), timeout_ms=STEP_MS)
        step = "save"
        await wait_for_run_async(page, save.click, timeout_ms=STEP_MS)
        step = "see 'Saved'"
        await page.get_by_text(f"Saved '{name}' version 1").wait_for()
        result.upload_times.append(time.monotonic() - t)
        await _errors(page, f"upload {k}", result)
    except (StepTimeout, AssertionError) as e:
        result.unfinished.append(f"upload {k}: {step}: {str(e).splitlines()[0][:300]}")
        await _errors(page, f"upload {k} ({step})", result)
    except asyncio.CancelledError:  # the run's deadline: say where this upload was
        result.unfinished.append(f"upload {k}: stopped by the deadline at: {step}")
        raise
    except Exception as e:
        result.errors.append(f"upload {k} ({step}): {type(e).__name__}: {str(e)[:300]}")
    finally:
        await ctx.close()


def make_uploads(
    folder: Path, n: int, rows_per_segment: int = UPLOAD_ROWS_PER_SEGMENT
) -> list[Path]:
    from cmot.store.demo import generate_demo

    paths = []
    for k in range(n):
        path = folder / f"survey-{k}.csv"
        generate_demo(n_per_segment=rows_per_segment, seed=100 + k).frame.to_csv(path, index=False)
        paths.append(path)
    return paths


def run(sessions: int = 20, uploads: int = 3, visits: int = 2, deadline: float = 120.0) -> Result:
    """Start a server on a fresh store, run the sessions, stop everything, check the store."""
    from playwright.async_api import async_playwright

    result = Result(sessions, uploads)
    with tempfile.TemporaryDirectory(prefix="cmot-load-") as tmp:
        d = Path(tmp)
        csvs = make_uploads(d, uploads)
        store_path = Path(next(iter(store_env(d).values())))
        server = start_server(store_path, d / "server.log")
        result.load_before = os.getloadavg()[0]
        try:

            async def main() -> None:
                async with async_playwright() as p:
                    browser = await p.chromium.launch(executable_path=CHROMIUM, args=LOAD_ARGS)
                    try:
                        # A server in use: the demo loaded, every page run once. Not timed.
                        # Browsing tabs share one context (its cache of the app's scripts, as
                        # one person's tabs would); each tab is its own streamlit session.
                        tabs = await browser.new_context(viewport={"width": 1280, "height": 800})
                        warm = Result(1, 0)
                        await _browse(tabs, server.url, -1, 0, warm)
                        result.errors += warm.errors
                        t0 = time.monotonic()
                        jobs = [
                            _browse(tabs, server.url, n, visits, result) for n in range(sessions)
                        ]
                        jobs += [
                            _upload(browser, server.url, k, c, result) for k, c in enumerate(csvs)
                        ]
                        try:
                            await asyncio.wait_for(asyncio.gather(*jobs), timeout=deadline)
                        finally:
                            result.wall = time.monotonic() - t0
                    finally:
                        await browser.close()

            try:
                asyncio.run(main())
            except TimeoutError:
                result.unfinished.append(f"the run passed its {deadline:.0f} s deadline")
        finally:
            result.server_cpu = _cpu_seconds(server.process.pid)
            server.process.terminate()
            server.process.wait(timeout=30)
        log = (d / "server.log").read_text(errors="replace")
        if "Traceback" in log:
            keep = ROOT / "bench" / "_work" / "load-server.log"
            keep.parent.mkdir(parents=True, exist_ok=True)
            keep.write_text(log)
            result.errors.append(f"the server log has a traceback: see {keep}")
        from cmot.store.datasets import Store
        from cmot.store.directory import close_all

        store = Store(store_path)
        for k in range(uploads):
            versions = [v for v in store.list_datasets(all_versions=True) if v.name == f"load-{k}"]
            result.saved[f"load-{k}"] = len(versions)
            for v in versions:
                n = store.cursor().execute(f"SELECT count(*) FROM {v.table}").fetchall()[0][0]
                if n != v.rows_kept:
                    result.errors.append(f"load-{k}: {n} rows stored, registry says {v.rows_kept}")
        close_all()
    return result


def _cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def _machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (
        f"{cpu}, {os.cpu_count()} cores, {mem:.0f} GB RAM, {platform.system()} {platform.release()}"
    )


def main() -> None:
    r = run()
    s = r.summary()
    chromium = subprocess.run(
        [CHROMIUM, "--version"], capture_output=True, text=True
    ).stdout.strip()
    lines = [
        "# Load on loopback",
        "",
        f"- date: {date.today().isoformat()}",
        f"- machine: {_machine()}; server, browser and test on the same machine",
        f"- {chromium}; `streamlit run serve.py` on 127.0.0.1; store on local disk; "
        "the server warmed by one session visiting every page first (not timed)",
        f"- {r.sessions} browsing sessions (each opens the app, then switches page twice; "
        "together they cover every page) while "
        f"{r.uploads} sessions upload a {UPLOAD_ROWS_PER_SEGMENT * 6:,}-respondent survey each "
        "(generated by cmot.store.demo) at the same time, all in one chromium",
        "- reproduce: `.venv/bin/python bench/load.py` (bounded: fixed clicks, 120 s deadline)",
        "",
        "| measure | median s | p95 s | n |",
        "|---|---|---|---|",
        f"| page switch (click to script run done) | {s['click_median_s']:.2f} | "
        f"{s['click_p95_s']:.2f} | {len(r.clicks)} |",
        f"| first load (open to idle) | {s['first_load_median_s']:.2f} | "
        f"{s['first_load_p95_s']:.2f} | {len(r.first_loads)} |",
        f"| upload and save (file chosen to 'Saved') | {s['upload_median_s']:.2f} | "
        f"max {s['upload_max_s']:.2f} | {len(r.upload_times)} |",
        "",
        f"- wall time {s['wall_s']:.1f} s (after the warm-up); the streamlit process used "
        f"{r.server_cpu:.0f} s of CPU in all; load average {r.load_before:.1f} when the run "
        "began (other work on the machine shares its cores)",
        f"- steps that outlasted their bound: {len(r.unfinished)}; errors shown: "
        f"{len(r.errors)}; versions stored per upload: {r.saved}",
    ]
    lines += [f"  - {e}" for e in r.errors + r.unfinished]
    out = ROOT / "bench" / "load-browser.md"
    out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
