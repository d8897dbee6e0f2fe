"""The newcomer's path on the widest real survey (issue 23): upload Kansas City's 160
columns, touchpoints by pattern, the outcome, codes, a segment with merges, save, and the
Overview by that segment answering for a merged district group. bench/newcomer.py walks the
same path (`walk`) and records its time in bench/newcomer.md; this test checks where it
ends, not how long it takes."""

from __future__ import annotations

import re
from typing import Any

import pytest

from bench.newcomer import KC_CSV, walk
from tests.e2e.conftest import Server, shot

pytestmark = pytest.mark.e2e


def test_newcomer_reaches_a_segment_specific_answer(server: Server, page: Any) -> None:
    if not KC_CSV.exists():
        pytest.skip(f"the Kansas City resident survey is not at {KC_CSV} (../shared)")
    page.set_viewport_size({"width": 1400, "height": 2400})
    page.set_default_timeout(60_000)
    w = walk(page, server.url, KC_CSV)
    shot(page, "newcomer-overview")
    assert [name.split(" (")[0] for name, _, _ in w.steps] == [
        "upload",
        "touchpoints by pattern",
        "outcome",
        "codes",
        "segment with merges",
        "save",
        "Overview by counci",
    ]
    # The Overview by counci: the merged groups are its segments, and one is answered for.
    assert "North" in w.overview and "South" in w.overview
    # A Fix first / Invest next row for one group, or (the groups alike) a group's card.
    assert re.search(r"\bfor (North|South): |^(North|South)\n", w.answer), w.answer
    assert "unweighted" in w.overview.lower()
