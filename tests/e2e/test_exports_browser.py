"""In a real browser: the Overview's executive brief downloaded as PDF and PNG, and the
Compare page's report, both of the demo filtered to one region (issue 28, item 6)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from pypdf import PdfReader

from tests.e2e.conftest import SHOTS, Server, shot, wait_for_run
from tests.e2e.test_dashboard_browser import charts_drawn, no_errors

pytestmark = pytest.mark.e2e


def _download(page: object, button: str, path: Path) -> bytes:
    with page.expect_download(timeout=90_000) as dl:  # type: ignore[attr-defined]
        page.get_by_role("button", name=button).click()  # type: ignore[attr-defined]
    dl.value.save_as(path)
    return path.read_bytes()


def test_brief_and_report_downloads_of_a_filtered_view(
    server: Server, page: object, tmp_path: Path
) -> None:
    from PIL import Image

    page.goto(f"{server.url}/?dataset=demo&f_col=Region&f_val=North")  # type: ignore[attr-defined]
    wait_for_run(page)
    # The first visit makes the demo: the page is there once its brief button is.
    page.get_by_role("button", name="Brief (PDF)").wait_for(timeout=180_000)  # type: ignore[attr-defined]
    wait_for_run(page)
    charts_drawn(page)
    no_errors(page)
    body = page.inner_text("body")  # type: ignore[attr-defined]
    assert "Would hire again" in body, body[:2000]
    assert "only Region in North" in body  # the page's context line (issue 28, item 5)

    pdf = _download(page, "Brief (PDF)", tmp_path / "brief.pdf")
    pages = [p.extract_text() for p in PdfReader(io.BytesIO(pdf)).pages]
    assert len(pages) == 1
    assert pages[0].splitlines()[1] == "Would hire again"
    assert "Fix first" in pages[0] and "Invest next" in pages[0]
    assert "only Region in North" in pages[0]
    png = _download(page, "Brief (PNG)", tmp_path / "brief.png")
    image = Image.open(io.BytesIO(png))
    assert image.width >= 1600 and image.height > image.width
    SHOTS.mkdir(parents=True, exist_ok=True)
    (SHOTS / "exports-brief.png").write_bytes(png)  # looked at beside the screenshots
    shot(page, "exports-overview")

    nav = page.get_by_test_id("stSidebarNav")  # type: ignore[attr-defined]
    wait_for_run(page, nav.get_by_role("link", name="Compare", exact=True).click)
    charts_drawn(page)
    report = _download(page, "Report (PDF)", tmp_path / "report.pdf")
    text = " ".join(p.extract_text() for p in PdfReader(io.BytesIO(report)).pages)
    flat = " ".join(text.split())
    assert flat.startswith("Would hire again: moments of truth compared")
    assert "only Region in North" in flat and "Fix first" in flat
    no_errors(page)
