"""scripts/serve.sh: two streamlit processes on one store behind nginx, in a real browser.

Through the proxy a browser stays on one process (its upload and its websocket meet there);
new browsers spread over the processes; a dataset saved through one process, or by the
command line while the processes run, shows in another's sidebar after a reload.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT
from tests.e2e.conftest import Served, start_serve, store_env, wait_for_run, watch_runs

pytestmark = pytest.mark.e2e

DEMO_CSV = ROOT / "data" / "demo_survey.csv"
_UPSTREAM = re.compile(r"upstream=(\S+) key=([0-9a-f]{32})")


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, browser: Any) -> Iterator[Served]:
    if not Path("/usr/sbin/nginx").exists():
        pytest.skip("Debian's nginx is not installed (scripts/setup.sh --dev installs it)")
    srv = start_serve(2, tmp_path_factory.mktemp("serve"))
    # Every process runs the app once (imports, the demo on the new store) before the tests
    # time anything: on a busy machine a cold first run alone can take half a minute.
    ctx = browser.new_context()
    try:
        page = ctx.new_page()
        for url in srv.backends:
            page.goto(url + "/")
            shows(page.get_by_test_id("stSidebar").get_by_label("Dataset", exact=True), 120_000)
    finally:
        ctx.close()
    yield srv
    srv.stop()
    log = srv.log.read_text(errors="replace")
    assert "Traceback" not in log, log[-3000:]
    # serve.sh's trap stopped nginx and every app process: nothing answers any more.
    for url in [srv.url, *srv.backends]:
        with pytest.raises(OSError):
            urllib.request.urlopen(url + "/_stcore/health", timeout=2)


def shows(locator: Any, timeout: float = 45_000) -> None:
    """The one wait of these tests: until the page is in the state `locator` describes."""
    from playwright.sync_api import expect

    expect(locator).to_be_visible(timeout=timeout)


def upload_and_save(page: Any, url: str, name: str, log: Path) -> None:
    """A person on the Data page: choose the file, see its mapping with the outcome found,
    name the dataset, save. `log`: the servers' log, shown if the save never says so."""
    page.goto(url + "/data")
    uploader = page.locator(".st-key-upload").get_by_test_id("stFileUploader")  # not the batch's
    shows(uploader)
    uploader.locator("input[type=file]").set_input_files(str(DEMO_CSV))
    shows(uploader.get_by_text(DEMO_CSV.name))
    # The mapping drawn down to its codes, with detection's outcome in the picker: what a
    # person reads before naming the file (a cold process under load takes its time).
    from playwright.sync_api import expect

    outcome = page.get_by_role("combobox", name="Outcome column")
    expect(outcome).to_have_value("Would hire again", timeout=90_000)
    shows(page.get_by_text("Codes that mean no answer"))
    box = page.get_by_label("Dataset name")
    box.fill(name)
    wait_for_run(page, lambda: box.press("Enter"))
    wait_for_run(page, page.get_by_role("button", name="Save dataset").click)
    try:
        shows(page.get_by_text(f"Saved '{name}' version 1"), timeout=55_000)
    except AssertionError as e:
        tail = log.read_text(errors="replace")[-4000:]
        raise AssertionError(f"{e}\n--- the servers' log ---\n{tail}") from None


def sidebar_offers(page: Any, url: str, name: str) -> None:
    """Open `url` and find `name` among the sidebar's datasets."""
    page.goto(url + "/")
    picker = page.get_by_test_id("stSidebar").get_by_label("Dataset", exact=True)
    shows(picker)
    picker.click()
    shows(page.get_by_role("option", name=name, exact=True))


def _routes(srv: Served) -> list[tuple[str, str, str]]:
    """(request line, backend address, affinity key) of every proxied request so far."""
    out = []
    for line in srv.access_log():
        m = _UPSTREAM.search(line)
        if m and m.group(1) != "-":
            out.append((line.split('"')[1], m.group(1), m.group(2)))
    return out


def _wait_for_stream(srv: Served, key: str) -> list[tuple[str, str]]:
    """This browser's requests, once nginx has logged its websocket (when it closed)."""
    deadline = time.monotonic() + 15
    while True:
        mine = [(req, addr) for req, addr, k in _routes(srv) if k == key]
        if any(req.startswith("GET /_stcore/stream") for req, _ in mine):
            return mine
        if time.monotonic() > deadline:
            return mine
        time.sleep(0.2)  # polling: nginx's log file has no event to await


def test_a_browser_stays_on_one_process_and_new_browsers_spread(
    served: Served, browser: Any
) -> None:
    ctx = browser.new_context(viewport={"width": 1400, "height": 900})
    try:
        # Works only if the upload (a PUT) reaches the process holding the session.
        upload_and_save(watch_runs(ctx.new_page()), served.url, "through-the-proxy", served.log)
        key = {c["name"]: c["value"] for c in ctx.cookies()}["cmot_backend"]
    finally:
        ctx.close()  # closes the websocket: nginx logs it when it ends
    mine = _wait_for_stream(served, key)
    assert any(req.startswith("PUT /_stcore/upload_file/") for req, _ in mine), mine
    assert any(req.startswith("GET /_stcore/stream") for req, _ in mine), mine
    assert len({addr for _, addr in mine}) == 1, mine

    # Browsers without the cookie get their own key, hashed onto the processes: a handful
    # reaches both (each lands on a given one with probability 1/2).
    backends = {u.removeprefix("http://") for u in served.backends}
    seen: set[str] = set()
    for _ in range(16):
        fresh = browser.new_context()
        try:
            assert fresh.request.get(served.url + "/").ok
            key = {c["name"]: c["value"] for c in fresh.cookies()}["cmot_backend"]
        finally:
            fresh.close()
        seen |= {addr for _, addr, k in _routes(served) if k == key}
        if seen == backends:
            break
    assert seen == backends


def test_a_save_on_one_process_shows_on_the_other(served: Served, browser: Any) -> None:
    a, b = served.backends
    ctx = browser.new_context(viewport={"width": 1400, "height": 900})
    try:
        page = watch_runs(ctx.new_page())
        sidebar_offers(page, b, "demo")  # B is running and has read the store already
        upload_and_save(page, a, "saved-on-a", served.log)
        sidebar_offers(page, b, "saved-on-a")
    finally:
        ctx.close()


def test_the_command_line_ingests_while_the_processes_run(
    served: Served, browser: Any, tmp_path: Path
) -> None:
    ctx = browser.new_context(viewport={"width": 1400, "height": 900})
    try:
        page = ctx.new_page()
        sidebar_offers(page, served.url, "demo")
        cli = subprocess.run(
            [sys.executable, "-m", "cmot", "ingest", str(DEMO_CSV), "--name", "from-cli"],
            cwd=ROOT,
            env={**os.environ, **store_env(served.run_dir.parent)},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert cli.returncode == 0, cli.stderr
        assert "Saved as dataset 'from-cli' version 1" in cli.stdout
        page.reload()
        sidebar_offers(page, served.url, "from-cli")
    finally:
        ctx.close()


def test_the_proxy_closes_metrics_and_bounds_uploads(served: Served) -> None:
    """issue 29: /_stcore/metrics is closed at the door too; a burst of upload requests from
    one address past nginx's bound is answered 429 by nginx (the app's per-session rules are
    tested in tests/unit/test_hosting.py)."""
    import urllib.error

    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(served.url + "/_stcore/metrics", timeout=10)
    assert e.value.code == 404
    codes = []
    for i in range(40):
        req = urllib.request.Request(
            f"{served.url}/_stcore/upload_file/nobody/f{i}", data=b"", method="PUT"
        )
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                codes.append(r.status)
        except urllib.error.HTTPError as err:
            codes.append(err.code)
    assert 429 in codes, codes  # nginx's rate bound
    assert set(codes) <= {403, 411, 429}, codes  # nothing accepted from a session nobody has


def test_the_proxy_sends_the_frontend_files_itself_compressed_and_cached(served: Served) -> None:
    """issue 27: Streamlit's scripts come from nginx (no app process works for them), gzipped
    when the browser accepts it, cached for a year (their names hold their content's hash),
    byte for byte the installed package's; the page itself still comes from an app process."""
    import gzip

    import streamlit

    html = urllib.request.urlopen(served.url + "/", timeout=10).read().decode()
    scripts = re.findall(r'src="\./(static/js/[^"]+\.js)"', html)
    assert scripts, html[:500]
    req = urllib.request.Request(f"{served.url}/{scripts[0]}", headers={"Accept-Encoding": "gzip"})
    with urllib.request.urlopen(req, timeout=10) as r:
        body, headers = r.read(), r.headers
    assert headers["Content-Encoding"] == "gzip"
    assert headers["Content-Type"].startswith("application/javascript")
    assert headers["Cache-Control"] == "public, max-age=31536000, immutable"
    package = Path(streamlit.__file__).parent / "static" / scripts[0]
    assert gzip.decompress(body) == package.read_bytes()
    assert len(body) < package.stat().st_size / 2
    log = (served.run_dir / "access.log").read_text()
    lines = [line for line in log.splitlines() if scripts[0] in line]
    assert lines and all("upstream=- " in line for line in lines), lines
    page = [line for line in log.splitlines() if '"GET / HTTP' in line]
    assert page and "upstream=127.0.0.1:" in page[-1], page
