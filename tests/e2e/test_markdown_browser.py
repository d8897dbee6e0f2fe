"""In a real browser: a survey whose names hold a Markdown link, an image, maths, HTML, an
icon and a colour (tests/planted.py) is shown on every page without a link, an image, a
formula, an icon or a colour drawn from them, and no viewer's browser asks evil.test for
anything (issue 29 E)."""

from __future__ import annotations

import contextlib
import urllib.parse
from collections.abc import Iterator

import pytest

from cmot.store.datasets import Store
from tests.e2e.conftest import Server, shot, start_server, wait_for_run
from tests.planted import EVIL, NAME, SAVED, SEGMENT, WAVE, planted_survey

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

# Sidebar titles of every page.
PAGES = [
    "Overview",
    "Journey map",
    "Moments",
    "Compare",
    "Trends",
    "Action plan",
    "Segments",
    "Data",
]
# Material icons drawn from a name: Streamlit draws one as its name in the icon font.
ICONS = """() => Array.from(document.querySelectorAll('span')).filter(
  (e) => e.textContent === 'skull' && getComputedStyle(e).fontFamily.includes('Material')
).length"""
CHART = "[data-testid=stVegaLiteChart] canvas, [data-testid=stVegaLiteChart] svg.marks"
# What the planted syntax would draw: a link or image to evil.test, the HTML image, maths.
DRAWN = {
    "link": f"a[href*='{EVIL}']",
    "image": f"img[src*='{EVIL}']",
    "html image": "img[src='x']",
    "maths": ".katex, math",
}


@pytest.fixture(scope="module")
def planted_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    d = tmp_path_factory.mktemp("markdown")
    planted_survey(Store(d / "store"))  # the server reads the store the test wrote
    srv = start_server(d / "store", d / "server.log")
    yield srv
    srv.process.terminate()
    srv.process.wait(timeout=20)


def open_overview(page: object, server: Server, seg: str) -> str:
    """Visit the Overview of the planted dataset by `seg`; its text once drawn."""
    visit(page, server, "", seg, "How this is calculated")
    return body_text(page)


def visit(page: object, server: Server, path: str, seg: str, last: str, **more: str) -> None:
    """Visit a page of the planted dataset by `seg` (and `more` choices in its link). A first
    visit runs the script twice (the app frame): `last`, text near the page's end, says its
    own run has drawn."""
    query = urllib.parse.urlencode({"dataset": NAME, "seg": seg, **more})
    page.goto(f"{server.url}/{path}?{query}")  # type: ignore[attr-defined]
    wait_for_run(page)
    page.get_by_text(last).first.wait_for(timeout=90_000)  # type: ignore[attr-defined]
    wait_for_run(page)


PLANTED = ("[Session expired](http://evil.test/x)", "$$x^2$$")


def wait_for_planted(page: object) -> None:
    """Until the page shows the planted text literally, so every check reads the drawn page:
    under load a page switch's run can end before the run that draws the page's data has
    begun (CI saw the Action plan read with its sidebar only). On timeout the assertion on
    the text says what the page showed."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    shown = "(planted) => planted.some((p) => document.body.innerText.includes(p))"
    with contextlib.suppress(PlaywrightTimeout):
        page.wait_for_function(shown, arg=list(PLANTED), timeout=30_000)  # type: ignore[attr-defined]


def body_text(page: object) -> str:
    return page.locator("body").inner_text().replace("\u2060", "")  # type: ignore[attr-defined]


def test_no_page_draws_markdown_from_the_data(planted_server: Server, page: object) -> None:
    asked: list[str] = []

    def refuse(route: object) -> None:
        asked.append(route.request.url)  # type: ignore[attr-defined]
        route.abort()  # type: ignore[attr-defined]

    def request(r: object) -> None:  # the app's own URLs name evil.test in their query
        if urllib.parse.urlsplit(r.url).hostname == EVIL:  # type: ignore[attr-defined]
            asked.append(r.url)  # type: ignore[attr-defined]

    page.on("request", request)  # type: ignore[attr-defined]
    page.route(f"**://{EVIL}/**", refuse)  # type: ignore[attr-defined]
    page.set_viewport_size({"width": 1400, "height": 2400})  # type: ignore[attr-defined]
    nav = page.get_by_test_id("stSidebarNav")  # type: ignore[attr-defined]
    for seg in (SEGMENT, f"saved: {SAVED}"):
        open_overview(page, planted_server, seg)
        for title in PAGES if seg == SEGMENT else ["Overview", "Segments"]:
            if title == "Trends":  # on the planted waves, named in its link
                visit(page, planted_server, "trends", seg, "Did the fix work", wave=WAVE)
            elif title != "Overview":
                wait_for_run(page, nav.get_by_role("link", name=title, exact=True).click)
            where = (seg, title)
            shows_data = title != "Data" and (title, seg) != ("Segments", SEGMENT)  # not in tables
            if shows_data:
                wait_for_planted(page)
            assert page.get_by_test_id("stException").count() == 0, where  # type: ignore[attr-defined]
            drawn = {
                what: page.locator(selector).count()  # type: ignore[attr-defined]
                for what, selector in DRAWN.items()
            }
            drawn["icon"] = page.evaluate(ICONS)  # type: ignore[attr-defined]
            assert not any(drawn.values()), (where, drawn)
            text = body_text(page)
            # A colour directive drawn would show its word without ":red[".
            assert text.count("alert") == text.count(":red[alert]"), where
            if shows_data:
                assert any(planted in text for planted in PLANTED), where
            assert "\\[" not in text and "\\$" not in text, (where, "a backslash shows")
            if seg == SEGMENT and title in ("Overview", "Journey map", "Moments"):
                if title != "Overview":  # a chart draws after the run: wait for its marks
                    page.locator(CHART).first.wait_for()  # type: ignore[attr-defined]
                shot(page, f"markdown-{title.split()[0].lower()}")
    assert not asked, asked


def test_planted_names_read_as_typed_on_the_overview(planted_server: Server, page: object) -> None:
    text = open_overview(page, planted_server, SEGMENT)
    for shown in (
        f"{NAME} v1 · segments by {SEGMENT}",  # the context line under the title
        "Public [Session expired](http://evil.test/x)",  # the segments' cards
        "Industrial <img src=x>",
        "Private ![t](http://evil.test/pixel.png)",
        "Commercial $$x^2$$",
        "Tiny :material/skull: :red[alert]: insufficient data",  # its collapsed card
    ):
        assert shown in text, (shown, text)
