"""Bounded load on loopback: 20 sessions browse while 3 upload at the same time (bench/wsload.py).

The browsing sessions are websocket clients speaking streamlit's protocol (cheap, so the
server is what is measured); the uploads go through the Data page in chromium. No error
shown, every upload saved exactly once and whole; the timings, and any step that outlasted
its bound on a busy machine, go to the test output (bench/load.md: a fuller run)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.wsload import run
from tests.e2e.conftest import CHROMIUM

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_twenty_sessions_browse_while_three_upload() -> None:
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed (scripts/setup.sh --dev installs it)")
    r = run(sessions=20, uploads=3, visits=7, deadline=90)
    s = r.summary()
    print(
        f"\nload: {r.sessions} websocket sessions + {r.uploads} uploads; page switch median "
        f"{s['click_median_s']:.2f} s, p95 {s['click_p95_s']:.2f} s (n={len(r.clicks)}, "
        f"{r.switches_during_uploads} during the uploads); first load median "
        f"{s['first_load_median_s']:.2f} s, p95 {s['first_load_p95_s']:.2f} s; upload median "
        f"{s['upload_median_s']:.2f} s; wall {s['wall_s']:.1f} s; server CPU "
        f"{r.server_cpu:.0f} s, clients {r.client_cpu:.1f} s; load average "
        f"{r.load_before:.1f} at the start; {len(r.unfinished)} steps outlasted their bound: "
        f"{r.unfinished}"
    )
    assert r.errors == []  # no exception, error alert or missing page in any run; clean log
    assert r.saved == {"load-0": 1, "load-1": 1, "load-2": 1}  # each once, and whole
    assert len(r.first_loads) == r.sessions, "not every session loaded the app"
    assert r.clicks, "no session switched page"
