"""Bounded load on loopback: 20 browsing sessions while 3 upload at the same time (bench/load.py).

No error shown, every upload saved exactly once and whole; the timings, and any step that
outlasted its bound on a busy machine, go to the test output (bench/load.md: a fuller run)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.load import run
from tests.e2e.conftest import CHROMIUM

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_twenty_sessions_browse_while_three_upload() -> None:
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed (scripts/setup.sh --dev installs it)")
    r = run(sessions=20, uploads=3, visits=1, deadline=85)
    s = r.summary()
    print(
        f"\nload: {r.sessions} sessions + {r.uploads} uploads; page switch median "
        f"{s['click_median_s']:.2f} s, p95 {s['click_p95_s']:.2f} s (n={len(r.clicks)}); first "
        f"load median {s['first_load_median_s']:.2f} s, p95 {s['first_load_p95_s']:.2f} s; "
        f"upload median {s['upload_median_s']:.2f} s; wall {s['wall_s']:.1f} s; "
        f"server CPU {r.server_cpu:.0f} s; load average {r.load_before:.1f} at the start; "
        f"{len(r.unfinished)} steps outlasted their bound: {r.unfinished}"
    )
    assert r.errors == []  # no exception or error shown in any page, none in the server log
    assert r.saved == {"load-0": 1, "load-1": 1, "load-2": 1}  # each once, and whole
    assert r.first_loads, "no session loaded the app"
