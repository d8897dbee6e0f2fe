"""cmot.ui.hosting: what the served app accepts before any script runs (issue 29 B and the
low items), driven with plain ASGI scopes; tests/e2e/test_hosted_safety.py drives a server."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

import pytest

from cmot.ui.hosting import HostingGuard, UploadGrants, UploadLimits

MB = 1024 * 1024
LIMITS = UploadLimits(max_bytes=10 * MB, concurrent=2, per_window=3, window_s=600.0)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Recorder:
    """The app behind the guard: records what reached it."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.frames: list[Any] = []
        self.hold: asyncio.Event | None = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        self.calls.append(scope["path"])
        if scope["type"] == "websocket":
            while True:
                msg = await receive()
                if msg["type"] == "websocket.disconnect":
                    return
                self.frames.append(msg.get("bytes"))
        if self.hold is not None:
            await self.hold.wait()
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})


def _put(session: str, length: int | None = 5 * MB) -> dict[str, Any]:
    headers = [] if length is None else [(b"content-length", str(length).encode())]
    return {
        "type": "http",
        "method": "PUT",
        "path": f"/_stcore/upload_file/{session}/file-1",
        "headers": headers,
    }


async def _status(guard: HostingGuard, scope: dict[str, Any]) -> int:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(msg: dict[str, Any]) -> None:
        sent.append(msg)

    await guard(scope, receive, send)
    return int(sent[0]["status"])


def _guard(grants: UploadGrants) -> tuple[HostingGuard, Recorder]:
    app = Recorder()
    return HostingGuard(app, grants=grants, limits=lambda: LIMITS), app


def test_an_upload_from_a_session_never_granted_is_refused_before_its_body() -> None:
    grants = UploadGrants()
    guard, app = _guard(grants)
    assert asyncio.run(_status(guard, _put("anonymous"))) == 403
    assert app.calls == []  # Streamlit never saw it, so it buffered nothing
    grants.allow("ana", True)
    assert asyncio.run(_status(guard, _put("ana"))) == 204
    grants.allow("ana", False)  # logged out, or a viewer now
    assert asyncio.run(_status(guard, _put("ana"))) == 403


def test_a_granted_session_is_bounded_in_size_count_rate_and_bytes() -> None:
    clock = Clock()
    grants = UploadGrants(clock=clock)
    grants.allow("ana", True)
    guard, _ = _guard(grants)
    assert asyncio.run(_status(guard, _put("ana", None))) == 411  # a size must be said
    assert asyncio.run(_status(guard, _put("ana", 11 * MB))) == 413
    assert [asyncio.run(_status(guard, _put("ana", 9 * MB))) for _ in range(4)] == [
        204,
        204,
        204,  # three files at the limit: the window's bytes are spent ...
        429,
    ]
    clock.now += LIMITS.window_s + 1  # ... and come back with the window
    assert [asyncio.run(_status(guard, _put("ana", 1 * MB))) for _ in range(4)] == [
        204,
        204,
        204,
        429,  # per_window uploads
    ]


def test_at_most_concurrent_uploads_at_once_per_session() -> None:
    grants = UploadGrants()
    grants.allow("ana", True)
    guard, app = _guard(grants)
    app.hold = asyncio.Event()

    async def main() -> list[int]:
        running = [asyncio.create_task(_status(guard, _put("ana", MB))) for _ in range(2)]
        await asyncio.sleep(0.01)
        third = await _status(guard, _put("ana", MB))
        assert app.hold is not None
        app.hold.set()
        return [third, *await asyncio.gather(*running)]

    assert asyncio.run(main()) == [429, 204, 204]


def test_metrics_are_not_served_and_other_paths_pass() -> None:
    guard, app = _guard(UploadGrants())
    get = {"type": "http", "method": "GET", "headers": []}
    assert asyncio.run(_status(guard, {**get, "path": "/_stcore/metrics"})) == 404
    assert asyncio.run(_status(guard, {**get, "path": "/base/_stcore/metrics"})) == 404
    assert asyncio.run(_status(guard, {**get, "path": "/_stcore/health"})) == 204
    assert app.calls == ["/_stcore/health"]


def test_clear_cache_messages_never_reach_the_app_and_others_do() -> None:
    from streamlit.proto.BackMsg_pb2 import BackMsg

    clear = BackMsg(clear_cache=True).SerializeToString()
    rerun = BackMsg()
    rerun.rerun_script.page_name = "data"
    frames = [clear, rerun.SerializeToString(), b"\xff not a message", clear]
    guard, app = _guard(UploadGrants())

    async def main() -> None:
        queue = [{"type": "websocket.receive", "bytes": f} for f in frames]
        queue.append({"type": "websocket.disconnect"})

        async def receive() -> dict[str, Any]:
            return queue.pop(0)

        async def send(msg: dict[str, Any]) -> None:
            pass

        await guard({"type": "websocket", "path": "/_stcore/stream"}, receive, send)

    asyncio.run(main())
    assert app.frames == [rerun.SerializeToString(), b"\xff not a message"]


def test_the_private_streamlit_names_cmot_relies_on_are_there() -> None:
    """The session id lookup and the wire format are not public API: fail loudly here."""
    from streamlit.proto.BackMsg_pb2 import BackMsg
    from streamlit.runtime.scriptrunner import get_script_run_ctx
    from streamlit.runtime.scriptrunner_utils.script_run_context import ScriptRunContext
    from streamlit.web.server.starlette import starlette_routes

    assert "clear_cache" in BackMsg.DESCRIPTOR.fields_by_name
    assert "session_id" in {f.name for f in dataclasses.fields(ScriptRunContext)}
    assert get_script_run_ctx() is None  # outside a script run: no session, no grant
    assert starlette_routes.BASE_ROUTE_UPLOAD_FILE.endswith("_stcore/upload_file")


@pytest.mark.parametrize("stale_h", [25])
def test_grants_of_long_gone_sessions_are_forgotten(stale_h: int) -> None:
    clock = Clock()
    grants = UploadGrants(clock=clock)
    grants.allow("old", True)
    clock.now += stale_h * 3600
    grants.allow("new", True)
    assert not grants.allowed("old") and grants.allowed("new")
