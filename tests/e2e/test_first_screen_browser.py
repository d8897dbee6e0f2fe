"""The executive's first screen (issue 28, item 1): at 1400x900 and 1024x768, without
scrolling, the Overview shows the outcome by name with its level and change and the Fix
first rows (their boxes end within the window's height); on a 390x844 phone, the outcome
and the first Fix first row. Screenshots are saved to be looked at."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.conftest import Server, shot, wait_for_run

pytestmark = pytest.mark.e2e

# Every element whose text holds `needle`, its box relative to the viewport.
_BOXES = """(needle) => {
  const out = [];
  const found = '[data-testid=stMain] [data-testid=stMarkdownContainer], [data-testid=stMetric]';
  for (const el of document.querySelectorAll(found)) {
    if (!el.innerText.includes(needle)) continue;
    const r = el.getBoundingClientRect();
    out.push({text: el.innerText.slice(0, 120), top: r.top, bottom: r.bottom});
  }
  return out;
}"""


def boxes(page: Any, needle: str) -> list[dict[str, Any]]:
    return page.evaluate(_BOXES, needle)  # type: ignore[no-any-return]


@pytest.mark.parametrize(("width", "height"), [(1400, 900), (1024, 768), (390, 844)])
def test_the_outcome_and_fix_first_fit_the_first_viewport(
    page: Any, server: Server, width: int, height: int
) -> None:
    page.set_viewport_size({"width": width, "height": height})
    page.goto(f"{server.url}/?dataset=demo&seg=Segment")
    wait_for_run(page)
    # The run's last element drawn: the first screen above it is there too.
    page.get_by_text("How this is calculated").first.wait_for(timeout=90_000)
    page.get_by_text("Would hire again (answered Yes)").first.wait_for()
    wait_for_run(page)
    assert page.evaluate("() => document.querySelector('[data-testid=stMain]').scrollTop") == 0
    outcome = boxes(page, "Would hire again")
    assert outcome, "the outcome is named"
    assert outcome[0]["bottom"] <= height, outcome[0]
    assert "56.0%" in outcome[0]["text"] and "since 2026-Q3" in outcome[0]["text"]
    fixes = [b for b in boxes(page, "Fix ") if "pts" in b["text"] and "·" in b["text"]]
    assert 1 <= len(fixes) <= 3, fixes
    phone = width < 640  # Streamlit stacks columns: Invest next comes below Fix first
    shot(page, f"first-screen-{width}x{height}")
    assert all(b["bottom"] <= height for b in fixes[: 1 if phone else 3]), fixes
    if phone:
        return
    grows = [b for b in boxes(page, "Grow ") if "pts" in b["text"]]
    assert grows and all(b["bottom"] <= height for b in grows), grows
