"""A real streamlit server on loopback and Debian's chromium driven by Playwright."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

# The server, the browser's arguments and the one wait live in bench/_browser.py, which the
# browser benches share (bench/ imports nothing from tests/); re-exported here.
from bench._browser import (  # noqa: F401
    CHROMIUM,
    LAUNCH_ARGS,
    SHOTS,
    Server,
    _free_port,
    shot,
    start_server,
    wait_for_run,
    wait_for_run_async,
    watch_runs,
)
from tests.conftest import ROOT


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    d = tmp_path_factory.mktemp("e2e")
    srv = start_server(d / "store", d / "server.log")
    yield srv
    srv.process.terminate()
    srv.process.wait(timeout=20)


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed (scripts/setup.sh --dev installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser: object) -> Iterator[object]:
    context = browser.new_context(viewport={"width": 1400, "height": 900}, accept_downloads=True)  # type: ignore[attr-defined]
    pg = watch_runs(context.new_page())
    pg.set_default_timeout(30_000)
    yield pg
    context.close()


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
