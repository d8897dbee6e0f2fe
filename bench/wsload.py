"""Load on loopback, light clients: websocket sessions browse while chromium tabs upload.

    .venv/bin/python bench/wsload.py --sessions 20 --think 3 --uploads 3 --servers 2

writes bench/load.md (--out FILE); --servers M runs scripts/serve.sh M on a temporary store
and every client goes through its nginx (M=1 too: one process behind the proxy); --servers 0
is one `streamlit run` without a proxy, as before the proxy existed.

bench/load.py drives every session as a chromium tab; on a small machine the browsers take
the CPU and its figures measure chromium. Here a browsing session is a `StSession`: it
speaks streamlit's own protocol on ws://HOST/_stcore/stream (subprotocol "streamlit";
BackMsg protobufs up, ForwardMsg protobufs down), as the frontend does, and costs next to
no CPU, so the figures measure the server. A page is asked for the way the frontend asks:
the first load by url path (`rerun_script.page_name`, as in a typed address), a page switch
by `rerun_script.page_script_hash` from the app's `navigation` message. An interaction is
timed from sending the request to the `script_finished` message of the run it caused; an
error is an exception element, an error alert, a compile error, a script that did not
finish successfully, or a page-not-found, in any message of the run.

The uploads (--uploads K) are as in bench/load.py, through the proxy: a chromium tab each
opens the Data page, uploads a generated survey and saves it; afterwards the store must hold
each exactly once. Bounded: a fixed count of sessions and page switches (--visits), and a
deadline. Server CPU is read from /proc for every app process (and nginx) over the run.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import websockets  # noqa: E402  (a dependency of streamlit)
from streamlit.proto.Alert_pb2 import Alert  # noqa: E402
from streamlit.proto.BackMsg_pb2 import BackMsg  # noqa: E402
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg  # noqa: E402
from streamlit.proto.Navigation_pb2 import Navigation  # noqa: E402

from bench._browser import CHROMIUM, page_cookies, start_serve, start_server, store_env  # noqa: E402
from bench.load import (  # noqa: E402
    LOAD_ARGS,
    UPLOAD_ROWS_PER_SEGMENT,
    _cpu_seconds,
    _machine,
    _upload,
    make_uploads,
)
from bench.load import Result as BrowserResult  # noqa: E402

STEP_TIMEOUT = 90.0  # seconds one script run may take before it counts as unfinished


class ScriptRunError(Exception):
    """The server ended a session's run in a way a person would see as broken."""


@dataclass
class Run:
    seconds: float
    page_script_hash: str
    errors: list[str]
    messages: int


class StSession:
    """One streamlit session over its websocket, without a browser."""

    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")
        self.ws_url = self.url.replace("http://", "ws://", 1) + "/_stcore/stream"
        self.ws: websockets.ClientConnection | None = None
        self.pages: dict[str, str] = {}  # url path ("" for the default page) -> script hash
        self.titles: dict[str, str] = {}  # url path -> page title
        self.cookies: dict[str, str] = {}  # what the server set on the page's first GET

    async def connect(self) -> None:
        # As a browser does: GET the page, keep its cookies, send them on the websocket.
        # Behind scripts/serve.sh the cmot_backend cookie pins the session to one process.
        self.cookies = await asyncio.to_thread(page_cookies, self.url + "/")
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())}
        # No Origin header (allowed); no XSRF token needed without login cookies.
        self.ws = await websockets.connect(
            self.ws_url,
            subprotocols=[websockets.Subprotocol("streamlit")],
            max_size=None,
            additional_headers=headers if self.cookies else None,
        )

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()

    async def open(self, url_path: str = "", query_string: str = "") -> Run:
        """The first run of a session: the page at `url_path`, as a typed address asks."""
        return await self._rerun(page_name=url_path, query_string=query_string)

    async def switch(self, url_path: str) -> Run:
        """A click on a page in the sidebar: the frontend sends the page's script hash."""
        return await self._rerun(page_script_hash=self.pages[url_path], page_name=url_path)

    async def _rerun(self, **state: str) -> Run:
        assert self.ws is not None, "connect() first"
        msg = BackMsg()
        for k, v in state.items():
            setattr(msg.rerun_script, k, v)
        info = msg.rerun_script.context_info
        info.timezone, info.timezone_offset, info.locale = "UTC", 0, "en-US"
        info.url = self.ws_url
        t0 = time.monotonic()
        await self.ws.send(msg.SerializeToString())
        errors: list[str] = []
        page_hash, n = "", 0
        while True:
            raw = await asyncio.wait_for(self.ws.recv(), timeout=STEP_TIMEOUT)
            fwd = ForwardMsg()
            fwd.ParseFromString(raw if isinstance(raw, bytes) else raw.encode())
            n += 1
            kind = fwd.WhichOneof("type")
            if kind == "new_session":
                page_hash = fwd.new_session.page_script_hash
            elif kind == "navigation":
                self._learn(fwd.navigation)
                page_hash = fwd.navigation.page_script_hash or page_hash
            elif kind == "delta" and fwd.delta.WhichOneof("type") == "new_element":
                el = fwd.delta.new_element
                which = el.WhichOneof("type")
                if which == "exception":
                    errors.append(f"exception {el.exception.type}: {el.exception.message[:300]}")
                elif which == "alert" and el.alert.format == Alert.ERROR:
                    errors.append(f"error shown: {el.alert.body[:300]}")
            elif kind == "page_not_found":
                errors.append(f"page not found: {fwd.page_not_found.page_name!r}")
            elif kind == "session_event" and fwd.session_event.HasField(
                "script_compilation_exception"
            ):
                exc = fwd.session_event.script_compilation_exception
                errors.append(f"compile error {exc.type}: {exc.message[:300]}")
            elif kind == "script_finished":
                status = fwd.script_finished
                if status == ForwardMsg.FINISHED_EARLY_FOR_RERUN:
                    continue  # superseded by a later request; its own run follows
                if status != ForwardMsg.FINISHED_SUCCESSFULLY:
                    name = ForwardMsg.ScriptFinishedStatus.Name(status)
                    errors.append(f"script finished: {name}")
                return Run(time.monotonic() - t0, page_hash, errors, n)

    def _learn(self, nav: Navigation) -> None:
        # The latest message is the app's list. (A server's first run goes through the
        # pages/ folder's legacy list first; cmot.ui.state.require_app_frame reruns it.)
        self.pages.clear()
        self.titles.clear()
        for p in nav.app_pages:
            self.pages[p.url_pathname] = p.page_script_hash
            self.titles[p.url_pathname] = p.page_name


@dataclass
class Result(BrowserResult):
    servers: int = 1  # app processes (0: one `streamlit run`, no proxy)
    think: float = 3.0  # seconds a session pauses between page switches
    visits: int = 10  # page switches per session
    switches_during_uploads: int = 0  # page switches that began while an upload was running
    client_cpu: float = 0.0  # seconds of CPU this process (the clients) used
    pages_seen: dict[str, int] = field(default_factory=dict)  # page title -> timed visits
    alone: list[float] = field(default_factory=list)  # page switches of one session, no load
    backend_cpu: list[float] = field(default_factory=list)  # per app process, during the run
    proxy_cpu: float = 0.0  # nginx (master and worker) during the run
    sessions_per_backend: dict[str, int] = field(default_factory=dict)  # websockets, from nginx
    click_starts: list[float] = field(default_factory=list)  # when each page switch began
    click_messages: list[int] = field(default_factory=list)  # messages each switch received
    upload_window: tuple[float, float] | None = None  # first upload began, last one ended
    browser_nice: int = 0  # the uploading chromium's niceness (0: as the servers')
    browser_cpu: float = 0.0  # seconds of CPU the uploading chromium used during the run

    def split_by_uploads(self) -> tuple[list[float], list[float]]:
        """The page switches that began while the uploads ran, and the others."""
        if self.upload_window is None:
            return [], list(self.clicks)
        lo, hi = self.upload_window
        during = [c for c, t in zip(self.clicks, self.click_starts, strict=True) if lo <= t < hi]
        outside = [
            c for c, t in zip(self.clicks, self.click_starts, strict=True) if not lo <= t < hi
        ]
        return during, outside

    def timeline(self, width: float = 4.0) -> list[tuple[float, int, float]]:
        """(bin start s, switches, p95 s) per `width` seconds from the first switch."""
        if not self.click_starts:
            return []
        t0 = min(self.click_starts)
        bins: dict[int, list[float]] = {}
        for c, t in zip(self.clicks, self.click_starts, strict=True):
            bins.setdefault(int((t - t0) // width), []).append(c)
        return [(k * width, len(v), self._q(v, 0.95)) for k, v in sorted(bins.items())]

    def upload_span(self) -> tuple[float, float] | None:
        """The upload window in the timeline's seconds (from the first switch)."""
        if self.upload_window is None or not self.click_starts or not self.upload_times:
            return None
        t0 = min(self.click_starts)
        return self.upload_window[0] - t0, self.upload_window[1] - t0

    @property
    def page_runs(self) -> int:
        """Script runs the browsing sessions caused during the run (first loads, switches)."""
        return len(self.first_loads) + len(self.clicks)


async def _browse(
    url: str,
    n: int,
    visits: int,
    paths: list[str],
    result: Result,
    log: list[float],
    think: float = 0.0,
) -> list[str]:
    """Open the app at page n (by url path), then switch page `visits` times in turn (session n
    goes on from page n + 1, so the sessions together visit every page), `think` seconds
    apart. n < 0: the warm-up, opens the default page and visits every page once, untimed;
    returns the pages' url paths in sidebar order."""
    warm = n < 0
    await asyncio.sleep(0.0 if warm else 0.15 * n)  # arrive over a few seconds
    s = StSession(url)
    where = "warm-up" if warm else f"session {n}"
    try:
        await s.connect()
        start = 0 if warm else n % len(paths)
        at = paths[start] if paths else ""
        first = await s.open(at)
        if at not in s.pages:
            raise ScriptRunError(f"/{at} is not among the app's pages {list(s.pages)}")
        if first.page_script_hash != s.pages[at]:
            first.errors.append(f"ran page {first.page_script_hash}, not {s.pages[at]}")
        result.errors += [f"{where} open /{at}: {e}" for e in first.errors]
        paths = list(s.pages)
        if not warm:
            result.first_loads.append(first.seconds)
        count = visits or len(paths)
        for j in range(1, count + 1):
            path = paths[(start + j) % len(paths)]
            began = time.monotonic()
            run = await s.switch(path)
            if run.page_script_hash != s.pages[path]:
                run.errors.append(f"ran page {run.page_script_hash}, not {s.pages[path]}")
            result.errors += [f"{where} /{path}: {e}" for e in run.errors]
            if not warm:
                result.clicks.append(run.seconds)
                result.click_starts.append(began)
                result.click_messages.append(run.messages)
                title = s.titles.get(path, path)
                result.pages_seen[title] = result.pages_seen.get(title, 0) + 1
                log.append(began)
                if os.environ.get("CMOT_LOAD_VERBOSE"):
                    print(f"{where} /{path}: {run.seconds:.2f} s", flush=True)
                await asyncio.sleep(think)
    except TimeoutError:  # slow, not wrong: counted apart from errors
        result.unfinished.append(f"{where}: a script run took over {STEP_TIMEOUT:.0f} s")
    except Exception as e:
        result.errors.append(f"{where}: {type(e).__name__}: {str(e)[:300]}")
    finally:
        await s.close()
    return paths


@dataclass
class Target:
    """The app under load: one `streamlit run` (servers=0) or scripts/serve.sh M."""

    url: str  # where the sessions and uploads go
    backends: list[str]  # each app process directly (to warm each one)
    log: Path
    stop: Callable[[], None]
    root_pid: int  # the streamlit process, or serve.sh (its children: backends and nginx)
    access_log: Path | None = None  # nginx's, behind the proxy

    def cpu(self) -> tuple[list[float], float]:
        """CPU seconds so far: per app process, and the proxy's (nginx with its worker)."""
        if self.access_log is None:
            return [_cpu_seconds(self.root_pid)], 0.0
        backends, proxy = [], 0.0
        for pid in _children(self.root_pid):
            if _comm(pid) == "nginx":
                proxy += _cpu_seconds(pid) + sum(_cpu_seconds(c) for c in _children(pid))
            else:
                backends.append(_cpu_seconds(pid))
        return backends, proxy


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def _tree_cpu(pid: int) -> float:
    """CPU seconds of `pid` and every process under it: the live ones' own, and those
    already ended through their parents' count of reaped children."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0  # ended meanwhile: its parent counts it once reaped
    own = sum(int(f) for f in fields[11:15]) / os.sysconf("SC_CLK_TCK")
    return own + sum(_tree_cpu(c) for c in _children(pid))


def _children(pid: int) -> list[int]:
    """`pid`'s children, from every one of its threads (chromium forks from several)."""
    out: list[int] = []
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            with contextlib.suppress(OSError):
                out += [int(c) for c in (task / "children").read_text().split()]
    except OSError:
        pass
    return out


def _chromium(d: Path, nice: int) -> str:
    """The chromium the uploads use: as installed, or lowered so that, as the uploaders' own
    machines would, it takes no CPU the servers want. Lowered twice: nice for its processes,
    and a session of its own with that nice for its scheduling group (with the kernel's
    autogroups on, CPU is shared between sessions first: the servers have their own)."""
    if nice == 0:
        return CHROMIUM
    wrapper = d / "chromium-lowered"
    wrapper.write_text(
        "#!/bin/sh\n"
        f"exec setsid -w sh -c 'echo {nice} > /proc/self/autogroup 2>/dev/null; "
        f'exec nice -n {nice} "$0" "$@"\' "{CHROMIUM}" "$@"\n'
    )
    wrapper.chmod(0o755)
    return str(wrapper)


def _start(servers: int, d: Path) -> Target:
    if servers == 0:
        srv = start_server(store_path(d), d / "server.log")

        def stop() -> None:
            srv.process.terminate()
            srv.process.wait(timeout=30)

        return Target(srv.url, [srv.url], d / "server.log", stop, srv.process.pid)
    served = start_serve(servers, d)
    return Target(
        served.url,
        served.backends,
        served.log,
        served.stop,
        served.process.pid,
        served.run_dir / "access.log",
    )


def store_path(d: Path) -> Path:
    """Where the temporary store lives under `d`."""
    return Path(next(iter(store_env(d).values())))


def run(
    sessions: int = 20,
    uploads: int = 3,
    visits: int = 10,
    think: float = 3.0,
    servers: int = 1,
    deadline: float | None = None,
    browser_nice: int = 0,
) -> Result:
    """Start the app on a fresh store, run the sessions and uploads together, stop, check."""
    from playwright.async_api import async_playwright

    # Bounded: every session's switches and thinking, with room for slow runs.
    deadline = deadline or 60.0 + 0.15 * sessions + visits * (think + 8.0)
    result = Result(sessions, uploads, servers=servers, think=think, visits=visits)
    result.browser_nice = browser_nice
    with tempfile.TemporaryDirectory(prefix="cmot-wsload-") as tmp:
        d = Path(tmp)
        csvs = make_uploads(d, uploads)
        target = _start(servers, d)
        result.load_before = os.getloadavg()[0]
        cpu_before: tuple[list[float], float] = ([], 0.0)
        try:

            async def main() -> None:
                nonlocal cpu_before
                async with async_playwright() as p:
                    browser = await p.chromium.launch(
                        executable_path=_chromium(d, browser_nice), args=LOAD_ARGS
                    )
                    try:
                        # A server in use: the demo loaded, every page run once in every
                        # process (directly, not through the proxy). Not timed.
                        paths: list[str] = []
                        for backend in target.backends:
                            paths = await _browse(backend, -1, 0, [], result, [])
                        # One session alone, every page once: the figures without the load.
                        alone = Result(1, 0)
                        await _browse(target.url, 0, len(paths), paths, alone, [])
                        result.alone = alone.clicks
                        result.errors += [f"alone: {e}" for e in alone.errors]
                        cpu_before = target.cpu()
                        cpu0, t0 = time.process_time(), time.monotonic()
                        # This process's children: Playwright's driver, and chromium under it.
                        browser0 = sum(_tree_cpu(c) for c in _children(os.getpid()))
                        starts: list[float] = []
                        upload_window: list[float] = []

                        async def uploads_timed() -> None:
                            upload_window.append(time.monotonic())
                            await asyncio.gather(
                                *[
                                    _upload(browser, target.url, k, c, result)
                                    for k, c in enumerate(csvs)
                                ]
                            )
                            upload_window.append(time.monotonic())

                        jobs = [
                            _browse(target.url, n, visits, paths, result, starts, think)
                            for n in range(sessions)
                        ]
                        try:
                            await asyncio.wait_for(
                                asyncio.gather(uploads_timed(), *jobs), timeout=deadline
                            )
                        finally:
                            result.wall = time.monotonic() - t0
                            result.client_cpu = time.process_time() - cpu0
                            result.browser_cpu = (
                                sum(_tree_cpu(c) for c in _children(os.getpid())) - browser0
                            )
                            end = upload_window[1] if len(upload_window) > 1 else time.monotonic()
                            if upload_window:
                                result.upload_window = (upload_window[0], end)
                            result.switches_during_uploads = sum(
                                1 for t in starts if upload_window and upload_window[0] <= t < end
                            )
                    finally:
                        await browser.close()

            try:
                asyncio.run(main())
            except TimeoutError:
                result.unfinished.append(f"the run passed its {deadline:.0f} s deadline")
        finally:
            after = target.cpu()
            if len(after[0]) == len(cpu_before[0]):
                result.backend_cpu = [b - a for a, b in zip(cpu_before[0], after[0], strict=True)]
                result.proxy_cpu = after[1] - cpu_before[1]
            result.server_cpu = sum(result.backend_cpu)
            target.stop()
        if target.access_log is not None and target.access_log.exists():
            result.sessions_per_backend = _websockets_per_backend(target.access_log)
        _check(d, target.log, result)
    return result


def _websockets_per_backend(access_log: Path) -> dict[str, int]:
    """Websocket sessions each process served through nginx, from its access log."""
    counts: dict[str, int] = {}
    for line in access_log.read_text(errors="replace").splitlines():
        if '"GET /_stcore/stream' in line and "upstream=" in line:
            addr = line.split("upstream=", 1)[1].split()[0]
            counts[addr] = counts.get(addr, 0) + 1
    return counts


def _check(d: Path, log_path: Path, result: Result) -> None:
    """The servers' log has no traceback; each upload is stored once and whole."""
    log = log_path.read_text(errors="replace")
    if "Traceback" in log:
        keep = ROOT / "bench" / "_work" / "wsload-server.log"
        keep.parent.mkdir(parents=True, exist_ok=True)
        keep.write_text(log)
        result.errors.append(f"the server log has a traceback: see {keep}")
    from cmot.store.datasets import Store
    from cmot.store.directory import close_all

    store = Store(store_path(d))
    stored = store.list_datasets(all_versions=True)
    expected = {"demo", *(f"load-{k}" for k in range(result.uploads))}
    if others := sorted({v.name for v in stored} - expected):
        result.errors.append(f"the store holds datasets no one named: {others}")
    for k in range(result.uploads):
        versions = [v for v in stored if v.name == f"load-{k}"]
        result.saved[f"load-{k}"] = len(versions)
        if len(versions) != 1:
            result.errors.append(f"load-{k}: {len(versions)} versions stored, not 1")
        for v in versions:
            n = store.cursor().execute(f"SELECT count(*) FROM {v.table}").fetchall()[0][0]
            if n != v.rows_kept:
                result.errors.append(f"load-{k}: {n} rows stored, registry says {v.rows_kept}")
    close_all()


def report(r: Result, argv: str = "") -> list[str]:
    s = r.summary()
    q = Result._q
    if r.servers:
        serving = (
            f"`scripts/serve.sh {r.servers}`: {r.servers} `streamlit run serve.py` (1.67) "
            "processes on one store behind nginx (sticky by cookie), every client through "
            "nginx on 127.0.0.1"
        )
    else:
        serving = "one `streamlit run serve.py` (1.67) on 127.0.0.1, no proxy"
    per_run = r.server_cpu / r.page_runs if r.page_runs else float("nan")
    during, outside = r.split_by_uploads()
    cpus = ", ".join(f"{c:.1f}" for c in r.backend_cpu)
    return [
        "# Load on loopback",
        "",
        f"- date: {date.today().isoformat()}",
        f"- machine: {_machine()}; load average {r.load_before:.1f} when the run began"
        + (" (other work on the machine shares its cores)" if r.load_before >= 1.0 else "")
        + "; servers, clients and browser on it",
        f"- {serving}; store on local disk; each app process warmed by one session "
        "visiting every page first (not timed)",
        f"- {r.sessions} browsing sessions, each a websocket client speaking streamlit's "
        "protocol (no browser; it GETs the page first and sends the cookies it got on the "
        "websocket, as a browser does): each opens the app at its own page by address, then "
        f"switches page {r.visits} times through the sidebar order with {r.think:g} s between "
        "switches (together they visit every page); at the same time "
        f"{r.uploads} chromium tabs each upload a {UPLOAD_ROWS_PER_SEGMENT * 6:,}-respondent "
        "survey (generated by cmot.store.demo) on the Data page and save it",
        "- timed: request sent to the run's script_finished message (server work and "
        "transfer; not the browser's drawing); upload: file chosen to 'Saved' in chromium",
        f"- reproduce: `{' '.join(['.venv/bin/python bench/wsload.py', argv]).strip()}` (bounded: "
        "fixed switches and a deadline); `bench/load.py` is the same load with every "
        "session a chromium tab (figures: bench/load-browser.md)",
        "",
        "| measure | median s | p95 s | max s | n |",
        "|---|---|---|---|---|",
        f"| page switch | {s['click_median_s']:.3f} | {s['click_p95_s']:.3f} | "
        f"{q(r.clicks, 1.0):.3f} | {len(r.clicks)} |",
        f"| first load | {s['first_load_median_s']:.3f} | {s['first_load_p95_s']:.3f} | "
        f"{q(r.first_loads, 1.0):.3f} | {len(r.first_loads)} |",
        f"| upload and save | {s['upload_median_s']:.2f} | | {s['upload_max_s']:.2f} | "
        f"{len(r.upload_times)} |",
        f"| page switch, one session alone (before the load) | {q(r.alone, 0.5):.3f} | "
        f"{q(r.alone, 0.95):.3f} | {q(r.alone, 1.0):.3f} | {len(r.alone)} |",
        f"| page switch that began while the uploads ran | {q(during, 0.5):.3f} | "
        f"{q(during, 0.95):.3f} | {q(during, 1.0):.3f} | {len(during)} |",
        f"| page switch outside the uploads | {q(outside, 0.5):.3f} | "
        f"{q(outside, 0.95):.3f} | {q(outside, 1.0):.3f} | {len(outside)} |",
        "",
        f"- page switches that began while the uploads were running: "
        f"{r.switches_during_uploads}; visits per page: {r.pages_seen}; messages a switch "
        f"received (median): {q([float(m) for m in r.click_messages], 0.5):.0f}",
        "- p95 of the page switches by when they began, 4 s bins from the first (switches, p95 s)"
        + (
            f", the uploads from {span[0]:.0f} s to {span[1]:.0f} s"
            if (span := r.upload_span()) is not None
            else ""
        )
        + ": "
        + ", ".join(f"{t:.0f} s: {n}, {p:.2f}" for t, n, p in r.timeline()),
        f"- wall time {s['wall_s']:.1f} s (after the warm-up); server CPU during the run: "
        f"{r.server_cpu:.1f} s over the app processes ({cpus}), nginx {r.proxy_cpu:.1f} s; "
        f"the clients {r.client_cpu:.1f} s; the uploading chromium {r.browser_cpu:.1f} s"
        + (f" (run at nice {r.browser_nice})" if r.browser_nice else ""),
        f"- server CPU per page run: {per_run:.3f} s ({r.server_cpu:.1f} s / {r.page_runs} "
        "first loads and switches; the uploads' parsing and saving are in the numerator too)",
        *(
            [
                f"- websocket sessions per app process, from nginx (the session alone included; "
                f"the warm-ups went to each process directly): {r.sessions_per_backend}"
            ]
            if r.sessions_per_backend
            else []
        ),
        f"- steps that outlasted their bound: {len(r.unfinished)}; errors: "
        f"{len(r.errors)}; versions stored per upload: {r.saved}",
        *[f"  - {e}" for e in r.errors + r.unfinished],
    ]


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--sessions", type=int, default=20, help="browsing sessions (default 20)")
    ap.add_argument(
        "--think", type=float, default=3.0, help="seconds between a session's switches (3)"
    )
    ap.add_argument("--uploads", type=int, default=3, help="chromium tabs uploading (3)")
    ap.add_argument(
        "--servers",
        type=int,
        default=1,
        help="app processes behind nginx (scripts/serve.sh M); 0: one streamlit, no proxy (1)",
    )
    ap.add_argument("--visits", type=int, default=10, help="page switches per session (10)")
    ap.add_argument("--deadline", type=float, help="seconds for the whole run (from the above)")
    ap.add_argument(
        "--browser-nice",
        type=int,
        default=0,
        help="run the uploading chromium at this niceness (0-19): the uploaders' browsers are "
        "on their own machines when hosted, not on the servers' cores (0)",
    )
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "load.md", help="the table")
    a = ap.parse_args(argv)
    if not 0 <= a.browser_nice <= 19:
        ap.error("--browser-nice must be 0-19")
    if a.servers < 0 or a.sessions < 1 or a.uploads < 0 or a.visits < 1 or a.think < 0:
        ap.error("--servers, --uploads and --think must be >= 0; --sessions, --visits >= 1")
    r = run(a.sessions, a.uploads, a.visits, a.think, a.servers, a.deadline, a.browser_nice)
    shown = (
        f"--sessions {a.sessions} --think {a.think:g} --uploads {a.uploads} "
        f"--servers {a.servers} --visits {a.visits}"
        + (f" --browser-nice {a.browser_nice}" if a.browser_nice else "")
    )
    lines = report(r, shown)
    a.out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
