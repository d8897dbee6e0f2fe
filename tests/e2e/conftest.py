"""A real streamlit server on loopback and Debian's chromium driven by Playwright."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

# The server, the browser's arguments and the one wait live in bench/_browser.py, which the
# browser benches share (bench/ imports nothing from tests/); re-exported here.
from bench._browser import (  # noqa: F401
    CHROMIUM,
    LAUNCH_ARGS,
    SHOTS,
    Served,
    Server,
    _free_port,
    goto_first_run,
    shot,
    start_serve,
    start_server,
    store_env,
    wait_for_run,
    wait_for_run_async,
    watch_runs,
)


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
