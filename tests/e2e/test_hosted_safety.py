"""Hosted and safe (issue 29), as an attacker probes it: websocket sessions and raw HTTP
against a served app (`streamlit run serve.py`, and the bare `app.py` for the page gate),
with login configured through the local OpenID provider of test_login_browser.py.

Each probe was seen to work against the code before issue 29: Data page content for a
visitor right after a start, anonymous uploads held in memory, clear_cache re-creating a
deleted demo, open metrics.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import websockets
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

from bench._browser import page_cookies
from cmot.store.datasets import Store
from cmot.store.directory import close_all
from tests.e2e.conftest import Server, _free_port, start_server

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

COOKIE_SECRET = "cmot-e2e-cookie-secret-7f3a9c1e5b2d4f6a8c0e"
# What the Data page shows anyone who reaches its code: none of it may reach a visitor.
DATA_PAGE_WORDS = ("browse and export", "Upload a survey", "Datasets", "demo")


def _secrets(d: Path, port: int) -> Path:
    path = d / "secrets.toml"
    path.write_text(
        f"""
[auth]
redirect_uri = "http://127.0.0.1:{port}/oauth2callback"
cookie_secret = "{COOKIE_SECRET}"
client_id = "cmot-e2e"
client_secret = "unused"
server_metadata_url = "http://127.0.0.1:9/.well-known/openid-configuration"

[cmot.roles]
analysts = ["ana@example.com"]
"""
    )
    return path


def _login_server(d: Path, entry: str = "serve.py", warm: bool = True) -> Server:
    port = _free_port()
    return start_server(
        d / "store",
        d / "server.log",
        f"--secrets.files={_secrets(d, port)}",
        port=port,
        entry=entry,
        env=None if warm else {"CMOT_WARM": "0"},
    )


def _stop(server: Server) -> None:
    server.process.terminate()
    server.process.wait(timeout=20)


async def _visit(url: str, page: str = "", extra: BackMsg | None = None) -> tuple[str, str]:
    """One websocket session's first run of `page` (as a typed address asks): its session id
    and every message it got, as text. `extra` is sent after the run."""
    ws_url = url.replace("http://", "ws://", 1) + "/_stcore/stream"
    async with websockets.connect(
        ws_url, subprotocols=[websockets.Subprotocol("streamlit")], max_size=None
    ) as ws:
        msg = BackMsg()
        msg.rerun_script.page_name = page
        msg.rerun_script.context_info.url = ws_url
        await ws.send(msg.SerializeToString())
        session, seen = "", []
        finished = 0
        while finished < 5:  # the legacy mode's rerun is a second run: read a few
            try:
                raw = await asyncio.wait_for(ws.recv(), timeout=8 if finished else 60)
            except TimeoutError:
                break
            fwd = ForwardMsg.FromString(raw if isinstance(raw, bytes) else raw.encode())
            if fwd.WhichOneof("type") == "new_session":
                session = fwd.new_session.initialize.session_id
            if fwd.WhichOneof("type") == "script_finished":
                finished += 1
                if fwd.script_finished == ForwardMsg.FINISHED_SUCCESSFULLY:
                    break
            seen.append(str(fwd))
        if extra is not None:
            await ws.send(extra.SerializeToString())
            await asyncio.sleep(1.0)  # let the server handle it before the socket closes
        return session, "\n".join(seen)


@pytest.mark.parametrize("entry", ["serve.py", "app.py"])
def test_a_burst_of_first_requests_after_a_start_never_runs_a_page_before_login(
    tmp_path: Path, entry: str
) -> None:
    """A: right after a start, sessions opened at once, each asking for the Data page, got it
    in 2 of 3 to 3 of 4 cases. Four starts, eight sessions each: not once. At the old rate,
    32 sessions all refused by chance has a probability of (1/3)^32, about 5e-16; ten starts
    (as first written) cost 20 server starts a CI run for nothing more."""
    leaks = []
    for start in range(4):
        d = tmp_path / f"start{start}"
        d.mkdir()
        server = _login_server(d, entry)
        try:

            async def burst(url: str = server.url) -> list[tuple[str, str]]:
                return await asyncio.gather(*(_visit(url, "data") for _ in range(8)))

            for _, text in asyncio.run(burst()):
                assert "This dashboard needs a login" in text, text[-2000:]
                leaks += [w for w in DATA_PAGE_WORDS if w in text]
        finally:
            _stop(server)
    assert not leaks, f"page content reached visitors before login: {sorted(set(leaks))}"


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


@pytest.fixture(scope="module")
def login_served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    # Not warmed (CMOT_WARM=0): the warm start's one-off growth as the server starts
    # (imports, the demo's moments) would be counted as the refused uploads' memory.
    server = _login_server(tmp_path_factory.mktemp("hosted"), warm=False)
    yield server
    _stop(server)


def _put(url: str, session: str, name: str, size: int, cookies: dict[str, str]) -> str:
    """PUT a `size`-byte file to the session's upload URL over a raw socket, as an attacker
    would: the whole body, whatever the server says. Returns the status line the server sent
    (or "reset" when it closed the connection before one could be read)."""
    host, port = url.removeprefix("http://").split(":")
    boundary = uuid.uuid4().hex
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="x.csv"\r\n'
        "Content-Type: text/csv\r\n\r\n"
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    headers = {
        "Host": f"{host}:{port}",
        "Content-Type": f"multipart/form-data; boundary={boundary}",
        "Content-Length": str(len(head) + size + len(tail)),
        "Cookie": "; ".join(f"{k}={v}" for k, v in cookies.items()),
        "X-Xsrftoken": cookies.get("_streamlit_xsrf", ""),
    }
    request = f"PUT /_stcore/upload_file/{session}/{name} HTTP/1.1\r\n" + "".join(
        f"{k}: {v}\r\n" for k, v in headers.items()
    )
    chunk = os.urandom(1 << 20)
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        try:
            sock.sendall(request.encode() + b"\r\n" + head)
            for _ in range(size >> 20):
                sock.sendall(chunk)
            sock.sendall(tail)
        except OSError:  # the server answered and closed: the rest was never wanted
            pass
        try:
            answer = sock.recv(4096).decode("latin-1")
        except OSError:
            return "reset"
    return answer.split("\r\n", 1)[0]


def test_a_session_that_never_logged_in_cannot_upload_and_holds_no_memory(
    login_served: Server,
) -> None:
    """B: four 200 MB PUTs from an anonymous session were all taken and held (620 to 1,423
    MB). Now each is refused before its body is read; the server's memory stays put."""
    url = login_served.url
    cookies = page_cookies(url + "/_stcore/health")
    session, text = asyncio.run(_visit(url))
    assert session and "This dashboard needs a login" in text
    before = _rss_mb(login_served.process.pid)
    answers = [_put(url, session, f"f{i}", 100 << 20, cookies) for i in range(4)]
    after = _rss_mb(login_served.process.pid)
    assert all(a in ("HTTP/1.1 403 Forbidden", "reset") for a in answers), answers
    assert "HTTP/1.1 403 Forbidden" in answers, answers
    assert after - before < 40, f"the server grew {after - before:.0f} MB on refused uploads"


def test_metrics_are_closed(login_served: Server) -> None:
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(login_served.url + "/_stcore/metrics", timeout=10)
    assert e.value.code == 404


def test_clear_cache_from_any_websocket_changes_nothing(tmp_path: Path) -> None:
    """Low: any websocket could send clear_cache, emptying every user's caches; a deleted
    demo came back. The message is now dropped before Streamlit sees it."""
    server = start_server(tmp_path / "store", tmp_path / "server.log")
    try:
        _, text = asyncio.run(_visit(server.url))
        assert "Overview" in text
        store = Store(tmp_path / "store")
        store.delete_dataset("demo")
        close_all()
        asyncio.run(_visit(server.url, extra=BackMsg(clear_cache=True)))
        time.sleep(0.5)
        _, text = asyncio.run(_visit(server.url))
        assert "No datasets yet" in text, "the caches were cleared: the demo came back"
    finally:
        _stop(server)
