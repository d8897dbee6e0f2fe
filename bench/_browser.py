"""A real streamlit server on loopback, Debian's chromium, and the one wait for a script run.

Shared by the browser tests (tests/e2e/conftest.py re-exports it) and the browser benches
(bench/newcomer.py, bench/load.py): bench/ imports nothing from tests/. Also the few steps a
person takes on the Data page (fill, pick, bulk, edit_cells, upload, open_page) that both
the newcomer bench and its test walk.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
import weakref
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SHOTS = ROOT / "tests" / "e2e" / "screenshots"
LAUNCH_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@dataclass
class Server:
    url: str
    db: Path
    process: subprocess.Popen[bytes]

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=20)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(
    db: Path,
    log: Path,
    *args: str,
    port: int | None = None,
    env: Mapping[str, str] | None = None,
    entry: str = "serve.py",
) -> Server:
    """`args`: more `streamlit run` options (e.g. --secrets.files=...); `env`: more variables;
    `entry`: serve.py (as hosted: app.py behind cmot.ui.hosting's guards) or the bare app.py."""
    port = port or _free_port()
    env = {
        **os.environ,
        "CMOT_STORE": str(db),
        "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false",
        **(env or {}),
    }
    cmd = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(ROOT / entry),
        "--server.headless=true",
        f"--server.port={port}",
        "--server.address=127.0.0.1",
        "--server.fileWatcherType=none",
        *args,
    ]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url + "/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    return Server(url, db, proc)
        except OSError:
            time.sleep(0.3)  # polling: a server that is not up yet sends no event
    proc.kill()
    raise RuntimeError(f"streamlit did not start; log:\n{log.read_text()[-3000:]}")


def shot(page: Any, name: str) -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


# Streamlit marks its root element with the connection's state ("CONNECTED", ...) and the
# script's ("initial" before the first run, "running", "rerunRequested", "stopRequested",
# "notRunning" once a run has ended, "compilationError"): the app is idle when it is connected
# and a run has ended. Two animation frames more let React draw what the run sent.
_IDLE = """async () => {
  await new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
  const app = document.querySelector('[data-testid=stApp]');
  return !!app && app.getAttribute('data-test-connection-state') === 'CONNECTED'
    && ['notRunning', 'compilationError'].includes(app.getAttribute('data-test-script-state'));
}"""
_STATE = """() => { const app = document.querySelector('[data-testid=stApp]');
  return [app?.getAttribute('data-test-script-state'),
          app?.getAttribute('data-test-connection-state')]; }"""
# Each page's websocket to Streamlit (the latest, should it reconnect), kept by watch_runs.
_STREAMS: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()


def watch_runs(page: Any) -> Any:
    """Follow `page`'s websocket to the app, so that wait_for_run sees each run end. Call it
    on a new page before its first visit (the `page` fixture does); returns the page."""

    def follow(ws: Any) -> None:
        if ws.url.endswith("/_stcore/stream"):
            _STREAMS[page] = ws

    page.on("websocket", follow)
    return page


def _run_finished(payload: str | bytes) -> bool:
    """A message from the app saying a script run has ended (not cut short by a rerun)."""
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    if not isinstance(payload, bytes):
        return False
    msg = ForwardMsg.FromString(payload)
    return bool(
        msg.WhichOneof("type") == "script_finished"
        and msg.script_finished != ForwardMsg.FINISHED_EARLY_FOR_RERUN
    )


def wait_for_run(
    page: Any, action: Callable[[], object] | None = None, *, timeout_ms: float = 90_000
) -> None:
    """The one wait of the browser tests for a script run.

    With `action` (a click, a key press, a file chosen): do it, wait for the app's message
    that the script run it caused has ended, then until the page is idle. The message, not
    the page's "running" state, tells that a run happened: a short run under load can start
    and end within one React render, so the state never shows it. Without `action`: wait
    until the run in progress, or the first run after a page load, has ended. On timeout:
    an AssertionError saying what the app was doing and a screenshot failed-wait-for-run.png.
    """
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    def fail(what: str) -> AssertionError:
        state, connection = page.evaluate(_STATE)
        path = shot(page, "failed-wait-for-run")
        return _failed(what, timeout_ms, state, connection, path)

    if action is not None:
        ws = _stream(page)
        try:
            with ws.expect_event("framereceived", _run_finished, timeout=timeout_ms):
                action()
        except PlaywrightTimeout:
            raise fail("the action started no script run, or it did not end") from None
    try:
        page.wait_for_function(_IDLE, timeout=timeout_ms)
    except PlaywrightTimeout:
        raise fail("the app did not become idle") from None


async def wait_for_run_async(
    page: Any, action: Callable[[], Awaitable[object]], *, timeout_ms: float = 90_000
) -> None:
    """wait_for_run for Playwright's async API (bench/load.py's uploads share one event loop
    with its websocket sessions): the same message, the same idle state, the same failure,
    the screenshot named failed-wait-for-run-async."""
    from playwright.async_api import TimeoutError as PlaywrightTimeout

    async def fail(what: str) -> AssertionError:
        state, connection = await page.evaluate(_STATE)
        SHOTS.mkdir(parents=True, exist_ok=True)
        path = SHOTS / "failed-wait-for-run-async.png"
        await page.screenshot(path=str(path), full_page=True)
        return _failed(what, timeout_ms, state, connection, path)

    ws = _stream(page)
    try:
        async with ws.expect_event("framereceived", _run_finished, timeout=timeout_ms):
            await action()
    except PlaywrightTimeout:
        raise await fail("the action started no script run, or it did not end") from None
    try:
        await page.wait_for_function(_IDLE, timeout=timeout_ms)
    except PlaywrightTimeout:
        raise await fail("the app did not become idle") from None


def goto_first_run(page: Any, url: str, *, timeout_ms: float = 90_000) -> None:
    """Visit `url` and wait for the end of the first script run the visit causes (the app's
    message, as wait_for_run's action), then for the page idle.

    wait_for_run without an action after a goto can find the page idle before its first
    run has even begun: connected, and no run yet. bench/first_view once timed empty pages
    so. Here the visit's websocket is followed from its creation, so its first run's end is
    not missed however soon it comes."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    ended: list[bool] = []

    def follow(ws: Any) -> None:
        if ws.url.endswith("/_stcore/stream"):
            ws.on("framereceived", lambda p: ended.append(True) if _run_finished(p) else None)

    page.on("websocket", follow)
    try:
        page.goto(url)
        deadline = time.monotonic() + timeout_ms / 1000
        while not ended:
            if time.monotonic() > deadline:
                state, connection = page.evaluate(_STATE)
                path = shot(page, "failed-goto")
                raise _failed(f"{url}: no script run ended", timeout_ms, state, connection, path)
            page.wait_for_timeout(20)  # Playwright delivers the frames' events while it waits
        try:
            page.wait_for_function(_IDLE, timeout=timeout_ms)
        except PlaywrightTimeout:
            state, connection = page.evaluate(_STATE)
            raise _failed(
                f"{url}: the app did not become idle",
                timeout_ms,
                state,
                connection,
                shot(page, "failed-goto"),
            ) from None
    finally:
        page.remove_listener("websocket", follow)


def _stream(page: Any) -> Any:
    ws = _STREAMS.get(page)
    if ws is None or ws.is_closed():
        raise AssertionError(
            "wait_for_run: the page has no open websocket to the app; create the page "
            "with watch_runs(context.new_page()) and visit the app first"
        )
    return ws


def _failed(
    what: str, timeout_ms: float, state: object, connection: object, path: Path
) -> AssertionError:
    return AssertionError(
        f"{what} within {timeout_ms / 1000:g} s: script state {state!r}, connection "
        f"{connection!r}; screenshot {path}"
    )


# ---- a person's steps on the pages


# The page guard's "what to do" text (cmot.ui.frame.UNEXPECTED's first sentence).
GUARD_TEXT = "This page ran into an unexpected problem and stopped"
PAGES = ["Overview", "Journey map", "Moments", "Compare", "Action plan", "Segments", "Data"]
ROW = 35  # Streamlit's data editor: pixels per row, header included


def errors_shown(page: Any) -> list[str]:
    """What a person would read as a failure: an exception box, a traceback, the page
    guard's message. Empty when the page is clean."""
    found = []
    if page.get_by_test_id("stException").count():
        found.append("an exception box")
    body = page.inner_text("body")
    if "Traceback" in body:
        found.append("a traceback")
    if GUARD_TEXT in body:
        found.append("the page guard's message")
    return found


def fill(page: Any, label: str, text: str, opens: str | None = None) -> None:
    """Type `text` into the text input `label` and press Enter. A run in progress makes the
    page's inputs inert and can redraw them: wait for the app to be idle, and try again if
    the box went away meanwhile (`opens`: the text of the expander that shows it, clicked
    when it is shut)."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    box = page.get_by_label(label, exact=True)
    for attempt in range(3):
        wait_for_run(page)
        if opens is not None and not box.is_visible():
            page.get_by_text(opens, exact=True).click()
            box.wait_for()
        try:
            box.fill(text, timeout=20_000)
            break
        except PlaywrightTimeout:
            if attempt == 2:
                raise
    wait_for_run(page, lambda: box.press("Enter"))


def pick(page: Any, label: str, option: str, typed: str | None = None) -> None:
    """Open the selectbox `label`, type to narrow a long list, click `option`."""
    box = page.get_by_label(label, exact=True)
    if box.input_value() == option:
        return  # chosen already: picking it again runs nothing
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    box.click()
    if typed:
        box.press_sequentially(typed)
    choice = page.get_by_role("option", name=option, exact=True).first
    try:
        choice.wait_for(timeout=3_000)
    except PlaywrightTimeout:
        # A click on a box that kept the focus from the last run (the bulk section's Role
        # after its pattern's Enter) can leave the list shut; the keyboard opens it.
        box.press("ArrowDown")
    wait_for_run(page, choice.click)


def bulk(page: Any, pattern: str, role: str) -> str:
    """Assign every column matching `pattern` the `role` with the page's bulk assignment;
    returns the preview the page showed before Apply ("Apply sets ...")."""
    # The section opens by itself only for 100 columns or more.
    fill(page, "…or a name pattern", pattern, opens="Assign many columns at once")
    preview = page.get_by_text("Apply sets ", exact=False).first
    preview.wait_for()
    said = str(preview.inner_text())
    pick(page, "Role", role)
    wait_for_run(page, page.locator(".st-key-map_bulk_apply button").click)
    return said


def edit_cells(page: Any, key: str, column: int, values: Mapping[int, str]) -> None:
    """Type `values` (row -> text) into column `column` (the last) of the data editor with
    widget key `key`, as a person does: click the cell, Enter, type, Enter. The grid draws
    on a canvas: a cell's place follows from Streamlit's fixed row height, and its hidden
    accessible table tells which cell is selected and what a cell holds."""
    editor = page.locator(f"[class*='st-key-{key}']").last
    for row, text in values.items():
        cell = f"glide-cell-{column}-{row}"
        # A click while the grid redraws after the last edit's run can be lost: try again.
        for attempt in range(3):
            wait_for_run(page)
            editor.evaluate("e => e.scrollIntoView({block: 'center'})")
            box = editor.locator("canvas").first.bounding_box()
            assert box is not None, f"the editor {key} is not on screen"
            y = box["y"] + ROW * (row + 1) + ROW / 2  # below the header row
            # The row's first cell first: Enter after the last edit moved the selection down
            # a row, and a click on a selected cell opens its editor, which Enter then shuts.
            page.mouse.click(box["x"] + 20, y)
            page.mouse.click(box["x"] + box["width"] - 20, y)
            try:
                page.wait_for_function(
                    """([key, id]) => {
                      const eds = document.querySelectorAll(`[class*='st-key-${key}']`);
                      const td = eds.length && eds[eds.length - 1].querySelector('#' + id);
                      return !!td && td.getAttribute('aria-selected') === 'true'; }""",
                    arg=[key, cell],
                    timeout=5_000,
                )
                # Enter opens the cell's editor (typing at once loses the first keys to it).
                page.keyboard.press("Enter")
                box_input = page.locator("textarea.gdg-input")
                box_input.wait_for(timeout=5_000)
                box_input.fill(text)  # at once: typed keys get lost on a loaded machine
                wait_for_run(page, lambda: page.keyboard.press("Enter"))
                page.wait_for_function(
                    """([key, id, want]) => {
                      const eds = document.querySelectorAll(`[class*='st-key-${key}']`);
                      const td = eds.length && eds[eds.length - 1].querySelector('#' + id);
                      return !!td && td.textContent.trim() === want; }""",
                    arg=[key, cell, text],
                    timeout=10_000,
                )
                break
            except Exception as e:
                print(f"edit_cells {key} row {row}, attempt {attempt + 1}: {e}", file=sys.stderr)
                if attempt == 2:
                    shot(page, f"failed-edit-{key}-{row}")
                    raise
                page.keyboard.press("Escape")
        wait_for_run(page)


def charts_drawn(page: Any) -> None:
    """Wait until every chart on the page has drawn (Vega renders after the script ends);
    the grey skeletons go first, before Streamlit's chart code has loaded."""
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=stSkeleton]')", timeout=30_000
    )
    charts = page.get_by_test_id("stVegaLiteChart")
    for i in range(charts.count()):
        charts.nth(i).locator("canvas, svg.marks").first.wait_for(timeout=30_000)


def open_page(page: Any, title: str) -> None:
    nav = page.get_by_test_id("stSidebarNav")
    wait_for_run(page, nav.get_by_role("link", name=title, exact=True).click)
    charts_drawn(page)


def upload(page: Any, url: str, path: Path) -> None:
    """Open the Data page and choose `path` in the uploader; returns once the mapping shows."""
    page.goto(url + "/data")
    page.get_by_text("Stored datasets").wait_for()
    wait_for_run(page)
    # The survey's uploader (key "upload"): the Data page has a second one, for a batch.
    survey = page.locator(".st-key-upload").get_by_test_id("stFileUploaderDropzoneInput")
    # The chosen file's run awaited to its end, not the page's idle state alone: a run cut
    # short by a rerun leaves the page idle for a moment, drawn half (CI once read the
    # mapping's outcome section above the previous run's stale page foot).
    wait_for_run(page, lambda: survey.set_input_files(str(path)), timeout_ms=180_000)
    page.get_by_label("Outcome column", exact=True).wait_for(timeout=120_000)
    wait_for_run(page)


# ---- scripts/serve.sh: nginx and several app processes -------------------------------


def store_env(d: Path) -> dict[str, str]:
    """The variable that puts every process on one store under `d`."""
    return {"CMOT_STORE": str(d / "store")}


@dataclass
class Served:
    """scripts/serve.sh: nginx at `url`, one streamlit process per url in `backends`."""

    url: str
    backends: list[str]
    run_dir: Path
    log: Path
    process: subprocess.Popen[bytes]

    def stop(self) -> None:
        self.process.terminate()  # serve.sh's trap stops nginx and every backend
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, 9)
            self.process.wait(timeout=10)

    def access_log(self) -> list[str]:
        return (self.run_dir / "access.log").read_text().splitlines()


def start_serve(n: int, d: Path, env: Mapping[str, str] | None = None) -> Served:
    """Run `scripts/serve.sh n` on the store under `d` (see store_env), on a free port of
    127.0.0.1; returns once nginx and every backend answer."""
    port = _free_port()
    run_dir, log = d / "serve-run", d / "serve.log"
    full_env = {
        **os.environ,
        **store_env(d),
        "CMOT_PORT": str(port),
        "CMOT_LISTEN": "127.0.0.1",
        "CMOT_RUN_DIR": str(run_dir),
        **(env or {}),
    }
    proc = subprocess.Popen(
        ["bash", str(ROOT / "scripts" / "serve.sh"), str(n)],
        cwd=ROOT,
        env=full_env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,  # a stray backend can be stopped with its group
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        text = log.read_text(errors="replace")
        ready = [line for line in text.splitlines() if line.startswith("cmot: ")]
        if ready:
            ports = ready[0].split("(ports ", 1)[1].split(")", 1)[0].split()
            backends = [f"http://127.0.0.1:{p}" for p in ports]
            return Served(f"http://127.0.0.1:{port}", backends, run_dir, log, proc)
        if proc.poll() is not None:
            break
        time.sleep(0.3)  # polling: serve.sh's log file has no event to await
    if proc.poll() is None:
        os.killpg(proc.pid, 9)
    raise RuntimeError(f"serve.sh did not start; log:\n{log.read_text()[-3000:]}")


def page_cookies(url: str) -> dict[str, str]:
    """The cookies a GET of `url` sets (name -> value)."""
    with urllib.request.urlopen(url, timeout=30) as r:
        r.read()
        jar = SimpleCookie()
        for header in r.headers.get_all("Set-Cookie") or []:
            jar.load(header)
    return {k: m.value for k, m in jar.items()}
