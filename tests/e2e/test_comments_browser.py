"""In a real browser: a survey whose comments hold a script, a Markdown link, a formula, an
email and a phone number: uploaded and mapped as a user does, every one of them shows as
plain text (masked), and the CSV and the HTML report carry them inert (issue 13)."""

from __future__ import annotations

import csv
import io
import urllib.parse
from pathlib import Path

import pandas as pd
import pytest

from tests.e2e.conftest import Server, shot, wait_for_run

pytestmark = pytest.mark.e2e

SCRIPT = "<script>alert(1)</script>"
LINK = "[click](http://evil.example)"
FORMULA = "=cmd|' /C calc'!A0"
EMAIL = "jane.doe@example.com"
PHONE = "+1 (310) 555-0100"


def survey(path: Path) -> Path:
    """800 demo respondents with their comments; the low raters of Pricing clarity among
    Private clients (a planted vulnerability) write the dangerous ones."""
    from cmot.store.demo import COMMENT_COLUMN, DEMO_CSV, SEGMENT_COLUMN, demo_comments

    frame = pd.read_csv(DEMO_CSV).head(2400)
    frame[COMMENT_COLUMN] = demo_comments(frame)
    low = (frame[SEGMENT_COLUMN] == "Private clients") & frame["Pricing clarity"].between(1, 2)
    idx = frame.index[low]
    frame.loc[idx, COMMENT_COLUMN] = (
        f"{FORMULA} Hidden fees {SCRIPT} {LINK} write to {EMAIL} or call {PHONE}"
    )
    frame.to_csv(path, index=False)
    return path


def test_dangerous_comments_render_literally_and_export_inert(
    server: Server, page: object, tmp_path: Path
) -> None:
    page.goto(server.url + "/data")  # type: ignore[attr-defined]
    page.get_by_text("Stored datasets").wait_for()  # type: ignore[attr-defined]
    uploader = page.locator(".st-key-upload")  # type: ignore[attr-defined]  # not the batch's
    upload = uploader.get_by_test_id("stFileUploaderDropzoneInput")
    upload.set_input_files(str(survey(tmp_path / "comments.csv")))
    page.get_by_text("Comment columns").wait_for(timeout=60_000)  # type: ignore[attr-defined]
    comments = page.get_by_test_id("stMultiSelect").filter(has_text="Comment columns")  # type: ignore[attr-defined]
    assert "Comment" in comments.inner_text(), "the comment column is proposed"
    box = page.get_by_label("Dataset name")  # type: ignore[attr-defined]
    box.fill("commented")
    wait_for_run(page, lambda: box.press("Enter"))
    wait_for_run(page, page.get_by_role("button", name="Save dataset").click)  # type: ignore[attr-defined]
    page.get_by_text("Saved 'commented' version 1").wait_for()  # type: ignore[attr-defined]

    query = urllib.parse.urlencode(
        {"dataset": "commented", "seg": "Segment", "segment": "Private clients",
         "ev_tp": "Pricing clarity"}
    )  # fmt: skip
    page.goto(f"{server.url}/moments?{query}")  # type: ignore[attr-defined]
    wait_for_run(page)
    panel = page.get_by_test_id("stExpander").filter(has_text="Evidence: Private clients")  # type: ignore[attr-defined]
    panel.wait_for(timeout=60_000)
    page.set_viewport_size({"width": 1400, "height": 2600})  # type: ignore[attr-defined]
    panel.scroll_into_view_if_needed()
    # The word joiner that keeps an address from becoming a link is invisible.
    text = panel.inner_text().replace("\u2060", "")
    assert "Concerns (bottom box)" in text and "raters commented" in text
    assert SCRIPT in text and LINK in text and FORMULA in text, text
    assert "[email]" in text and EMAIL not in text and "555-0100" not in text
    assert panel.locator("script").count() == 0
    links = page.locator("a[href*='evil.example']")  # type: ignore[attr-defined]
    assert links.count() == 0, [
        links.nth(i).evaluate("e => e.parentElement.outerHTML") for i in range(links.count())
    ]
    assert page.evaluate("() => window.__alerted === undefined")  # type: ignore[attr-defined]
    assert page.get_by_test_id("stException").count() == 0  # type: ignore[attr-defined]
    path = shot(page, "comments-evidence-panel")
    assert path.stat().st_size > 10_000

    page.goto(f"{server.url}/actions?{query}")  # type: ignore[attr-defined]
    wait_for_run(page)
    page.get_by_text("In their words").wait_for(timeout=60_000)  # type: ignore[attr-defined]
    assert EMAIL not in page.inner_text("body")  # type: ignore[attr-defined]
    shot(page, "comments-action-plan")
    with page.expect_download() as dl:  # type: ignore[attr-defined]
        page.locator(".st-key-at_risk_table_csv button").click()  # type: ignore[attr-defined]
    raw = Path(dl.value.save_as(tmp_path / "r.csv") or tmp_path / "r.csv").read_text(
        encoding="utf-8-sig"
    )
    cells = [c for row in csv.reader(io.StringIO(raw)) for c in row]
    assert any("hidden fees" in c.lower() for c in cells), "the at-risk list has the comments"
    assert not any(c.startswith("=") for c in cells), "no cell starts a formula"
    assert any(c.startswith("'" + FORMULA) for c in cells)
    assert EMAIL not in raw, "the list's CSV is masked like the screen"

    both = urllib.parse.urlencode(
        [("dataset", "commented"), ("seg", "Segment"), ("compare", "Private clients"),
         ("compare", "Public agencies")]
    )  # fmt: skip
    page.goto(f"{server.url}/compare?{both}")  # type: ignore[attr-defined]
    wait_for_run(page)
    with page.expect_download(timeout=120_000) as dl:  # type: ignore[attr-defined]
        page.get_by_role("button", name="Report (HTML)").click()  # type: ignore[attr-defined]
    html = Path(dl.value.save_as(tmp_path / "r.html") or tmp_path / "r.html").read_text()
    assert "What raters say" in html
    assert "<script>" not in html and 'evil.example"' not in html and EMAIL not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html, "the quote is in the report, inert"
    with page.expect_download(timeout=120_000) as dl:  # type: ignore[attr-defined]
        page.get_by_role("button", name="Report (PDF)").click()  # type: ignore[attr-defined]
    from pypdf import PdfReader

    pdf = Path(dl.value.save_as(tmp_path / "r.pdf") or tmp_path / "r.pdf").read_bytes()
    text = " ".join(" ".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf)).pages).split())
    assert "What raters say" in text and "[email]" in text
    assert EMAIL not in text and "555-0100" not in text
