"""Pages and charts fit (issue 28, item 4): at a desktop, a small laptop and a phone width,
every page is no wider than the window, no element pokes out of it (the widest one is
named), and every chart is no wider than the element that holds it. Each page's screenshot
and each chart's are saved to be looked at."""

from __future__ import annotations

from typing import Any

import pytest

from bench._browser import pick
from tests.e2e.conftest import SHOTS, Server, shot, wait_for_run

pytestmark = pytest.mark.e2e

SIZES = [(1920, 1080), (1400, 900), (1024, 768), (390, 844)]
# page heading: (url path, the charts it draws on the demo)
PAGES = {
    "Moments of truth": ("", 0),
    "Journey map": ("journey", 1),
    "Compare segments": ("compare", 2),
    "Moments": ("moments", 2),
    "Trends across waves": ("trends", 2),  # once the survey date is picked as the waves
    "Action plan": ("actions", 0),
    "Segments": ("segments", 0),
    "Data": ("data", 0),
}

# Each chart's drawing (canvas or svg) against the column that holds it (the chart element
# itself grows with a fixed-width chart, and its overflow is clipped unseen), and the page's
# scroll width against the window; 1 px of rounding allowed.
_MEASURE = """() => {
  const out = {page: document.documentElement.scrollWidth, window: window.innerWidth, charts: []};
  for (const el of document.querySelectorAll('[data-testid=stVegaLiteChart]')) {
    const box = el.closest('[data-testid=stVerticalBlock]').getBoundingClientRect();
    const drawn = el.querySelector('canvas, svg.marks');
    const w = drawn ? drawn.getBoundingClientRect().width : 0;
    out.charts.push({container: box.width, drawn: w});
  }
  return out;
}"""

# Any element of the page whose box reaches past the window's right edge (or starts left of
# it), unless an element between it and the page's main block clips or scrolls it (a
# table's grid scrolls inside its frame); and the main block's own scroll width. The
# widest such element is named.
_OUTSIDE = """() => {
  const W = window.innerWidth;
  const main = document.querySelector('[data-testid=stMain]');
  const clipped = el => {
    for (let p = el.parentElement; p && p !== main; p = p.parentElement) {
      if (/(auto|scroll|hidden|clip)/.test(getComputedStyle(p).overflowX)) return true;
    }
    return false;
  };
  let widest = null;
  for (const el of main.querySelectorAll('*')) {
    const r = el.getBoundingClientRect();
    if (r.width === 0 || r.height === 0) continue;
    if ((r.right > W + 1 || r.left < -1) && !clipped(el)) {
      if (!widest || r.width > widest.width) {
        const id = el.getAttribute('data-testid') || el.className || '';
        widest = {width: Math.round(r.width), left: Math.round(r.left),
                  what: el.tagName.toLowerCase() + ' ' + String(id).slice(0, 60),
                  text: (el.innerText || '').slice(0, 60)};
      }
    }
  }
  return {main: main.scrollWidth, mainClient: main.clientWidth, widest};
}"""


def _drawn(page: Any, charts: int) -> None:
    """Wait until the page's `charts` charts have drawn (Vega draws after the run ends)."""
    page.wait_for_function(
        """n => !document.querySelector('[data-testid=stSkeleton]') && document.querySelectorAll(
             '[data-testid=stVegaLiteChart] :is(canvas, svg.marks)').length >= n""",
        arg=charts,
        timeout=60_000,
    )


@pytest.mark.parametrize(("width", "height"), SIZES, ids=[f"{w}x{h}" for w, h in SIZES])
def test_pages_and_charts_fit_the_window(
    server: Server, browser: Any, width: int, height: int
) -> None:
    from tests.e2e.conftest import watch_runs

    context = browser.new_context(viewport={"width": width, "height": height})
    try:
        page = watch_runs(context.new_page())
        page.set_default_timeout(60_000)
        wrong = []
        for title, (path, charts) in PAGES.items():
            page.goto(f"{server.url}/{path}?seg=Segment")
            wait_for_run(page)
            page.get_by_role("heading", name=title, exact=True).wait_for()
            if path == "trends":
                pick(page, "Waves from", "Survey date (date)")
            _drawn(page, charts)
            assert page.get_by_test_id("stException").count() == 0, title
            if path != "data":  # every results page says what it was computed on (item 5)
                assert "demo v1 · segments by Segment" in page.inner_text("body"), title
            name = f"fit-{title.lower().replace(' ', '-')}-{width}"
            shot(page, name)
            charts_on_page = page.get_by_test_id("stVegaLiteChart")
            for i in range(charts_on_page.count()):  # the page scrolls inside: each chart too
                charts_on_page.nth(i).screenshot(path=str(SHOTS / f"{name}-chart{i}.png"))
            m = page.evaluate(_MEASURE)
            if m["page"] > m["window"] + 1:
                wrong.append(f"{title} at {width} px: the page is {m['page']} px wide")
            out = page.evaluate(_OUTSIDE)
            if out["main"] > out["mainClient"] + 1:
                wrong.append(f"{title} at {width} px: the page scrolls sideways ({out})")
            if out["widest"]:
                wrong.append(f"{title} at {width} px: an element reaches outside: {out['widest']}")
            for i, c in enumerate(m["charts"]):
                if c["drawn"] > c["container"] + 1:
                    wrong.append(
                        f"{title} at {width} px: chart {i} draws {c['drawn']:.0f} px "
                        f"in {c['container']:.0f} px"
                    )
        assert not wrong, "\n".join(wrong)
    finally:
        context.close()
