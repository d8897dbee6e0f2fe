"""What the served app accepts before any script runs: the request guards of `serve.py`.

Streamlit answers some requests without running app.py, so the login gate cannot protect
them. `HostingGuard` is ASGI middleware (Streamlit's public `st.App(middleware=...)`) that
sits in front of Streamlit's own routes:

- **Uploads** (`/_stcore/upload_file/<session>/<file>`) are taken only from a session whose
  last script run found an analyst (`UPLOADS.allow`, set by `cmot.ui.auth.gate`): a websocket
  session that never logged in gets 403 before one byte of its body is read. A granted
  session is still bounded: Content-Length required and within the upload limit, at most
  `UploadLimits.concurrent` at once, `per_window` uploads and `bytes_per_window` bytes in a
  rolling `window_s` (429 past them).
- **`/_stcore/metrics`** is not served (404): it tells anyone how the server is used.
- **`clear_cache`** websocket messages are dropped for everyone: they empty every user's
  caches and the dashboard offers no such action (`toolbarMode = "viewer"`).

Everything here is pure apart from the session id lookup, so the rules are tested with plain
ASGI scopes (tests/unit/test_hosting.py) and end to end against a served app
(tests/e2e/test_hosted_safety.py).
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_UPLOAD = re.compile(r"(?:^|/)_stcore/upload_file/(?P<session>[^/]+)(?:/|$)")
_METRICS = re.compile(r"(?:^|/)_stcore/metrics/?$")
_STREAM = re.compile(r"(?:^|/)_stcore/stream/?$")
# A session's grant is forgotten this long after its last script run (a closed tab).
_GRANT_TTL_S = 24 * 3600.0


@dataclass(frozen=True)
class UploadLimits:
    """Per-session bounds on uploads; `max_bytes` is the per-file limit (maxUploadSize)."""

    max_bytes: int
    concurrent: int = 2
    per_window: int = 20
    window_s: float = 600.0

    @property
    def bytes_per_window(self) -> int:
        # Three files at the limit per window: a re-upload or two after a wrong file.
        return 3 * self.max_bytes


@dataclass
class _Session:
    seen: float
    in_flight: int = 0
    recent: deque[tuple[float, int]] = field(default_factory=deque)  # (time, bytes)


class UploadGrants:
    """Which sessions may upload, and what each has uploaded lately. Thread-safe: script
    threads grant, the server's event loop checks."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._sessions: dict[str, _Session] = {}

    def allow(self, session_id: str, allowed: bool) -> None:
        """Record the role a session's script run found: True for an analyst."""
        now = self._clock()
        with self._lock:
            if not allowed:
                self._sessions.pop(session_id, None)
                return
            self._sessions.setdefault(session_id, _Session(seen=now)).seen = now
            for sid in [s for s, v in self._sessions.items() if now - v.seen > _GRANT_TTL_S]:
                del self._sessions[sid]

    def allowed(self, session_id: str) -> bool:
        with self._lock:
            return session_id in self._sessions

    def begin(self, session_id: str, content_length: int | None, limits: UploadLimits) -> str:
        """Start an upload: "" when it may go on (end it with `end`), else why not."""
        now = self._clock()
        with self._lock:
            s = self._sessions.get(session_id)
            if s is None:
                return "forbidden"
            if content_length is None:
                return "length required"
            if content_length > limits.max_bytes + 64 * 1024:  # multipart framing
                return "too large"
            while s.recent and now - s.recent[0][0] > limits.window_s:
                s.recent.popleft()
            if s.in_flight >= limits.concurrent:
                return "too many at once"
            if len(s.recent) >= limits.per_window:
                return "too many"
            if sum(n for _, n in s.recent) + content_length > limits.bytes_per_window:
                return "too many bytes"
            s.in_flight += 1
            s.recent.append((now, content_length))
            return ""

    def end(self, session_id: str) -> None:
        with self._lock:
            s = self._sessions.get(session_id)
            if s is not None and s.in_flight > 0:
                s.in_flight -= 1


UPLOADS = UploadGrants()

_REFUSALS: dict[str, tuple[int, str]] = {
    "forbidden": (403, "Uploads need an analyst's login: log in, then upload on the Data page."),
    "length required": (411, "An upload must say its size (Content-Length)."),
    "too large": (413, "The file is over the upload limit."),
    "too many at once": (429, "Wait for your other uploads to finish, then try again."),
    "too many": (429, "Too many uploads in the last minutes: wait a few minutes."),
    "too many bytes": (429, "Too much uploaded in the last minutes: wait a few minutes."),
}


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers") or []:
        if key.lower() == name:
            return bytes(value).decode("latin-1")
    return None


def _is_clear_cache(frame: bytes) -> bool:
    # Streamlit's wire format (streamlit.proto, not public API; tests/unit/test_hosting.py
    # fails if the message or its field moves).
    from streamlit.proto.BackMsg_pb2 import BackMsg

    try:
        return BackMsg.FromString(frame).WhichOneof("type") == "clear_cache"
    except Exception:  # not a BackMsg: Streamlit itself answers it
        return False


class HostingGuard:
    """ASGI middleware with the rules in this module's docstring."""

    def __init__(
        self,
        app: ASGIApp,
        grants: UploadGrants | None = None,
        limits: Callable[[], UploadLimits] | None = None,
    ) -> None:
        self.app = app
        self.grants = grants if grants is not None else UPLOADS
        self.limits = limits or _configured_limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = str(scope.get("path", ""))
        if scope["type"] == "http":
            if _METRICS.search(path):
                await _respond(send, 404, "Not found.")
                return
            m = _UPLOAD.search(path)
            if m and scope.get("method") in ("PUT", "POST"):
                await self._upload(m.group("session"), scope, receive, send)
                return
        elif scope["type"] == "websocket" and _STREAM.search(path):
            await self.app(scope, _without_clear_cache(receive), send)
            return
        await self.app(scope, receive, send)

    async def _upload(self, session: str, scope: Scope, receive: Receive, send: Send) -> None:
        raw = _header(scope, b"content-length")
        length = int(raw) if raw is not None and raw.strip().isdigit() else None
        why = self.grants.begin(session, length, self.limits())
        if why:
            status, text = _REFUSALS[why]
            await _respond(send, status, text)
            return
        try:
            await self.app(scope, receive, send)
        finally:
            self.grants.end(session)


def _without_clear_cache(receive: Receive) -> Receive:
    async def filtered() -> Message:
        while True:
            message = await receive()
            data = message.get("bytes")
            if message.get("type") == "websocket.receive" and data and _is_clear_cache(data):
                continue
            return message

    return filtered


async def _respond(send: Send, status: int, text: str) -> None:
    body = text.encode()
    headers = [
        (b"content-type", b"text/plain; charset=utf-8"),
        (b"content-length", b"%d" % len(body)),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _configured_limits() -> UploadLimits:
    from streamlit import config

    return UploadLimits(max_bytes=int(config.get_option("server.maxUploadSize")) * 1024 * 1024)


def upload_limit_mb() -> int:
    """The upload limit the Data page's uploader states and enforces: cmot's own
    ($CMOT_MAX_UPLOAD_MB) within Streamlit's (server.maxUploadSize), so the two never
    contradict each other (issue 23: "over the 52 MB limit" beside an uploader saying 500MB)."""
    from streamlit import config

    from cmot.ingest.read import max_upload_bytes

    own = max(1, math.ceil(max_upload_bytes() / 2**20))
    return min(own, int(config.get_option("server.maxUploadSize")))


def current_session_id() -> str | None:
    """The id of the session whose script runs in this thread, as upload URLs carry it.
    Streamlit has no public accessor; tests/unit/test_hosting.py fails if this one moves."""
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx()
    return ctx.session_id if ctx is not None else None


def allow_uploads(allowed: bool) -> None:
    """Called by the login gate on every run: this session may upload iff `allowed`."""
    session = current_session_id()
    if session is not None:
        UPLOADS.allow(session, allowed)


def middleware() -> list[Any]:
    """The middleware list for `st.App(...)` in serve.py."""
    from starlette.middleware import Middleware

    return [Middleware(HostingGuard)]
