"""In a real browser: upload the airline survey, compare travel types, every page, exports."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from tests.e2e.conftest import Server, goto_first_run, shot, wait_for_run, watch_runs

pytestmark = pytest.mark.e2e

PAGES = ["Overview", "Journey map", "Moments", "Compare", "Action plan", "Segments", "Data"]


def no_errors(page: object) -> None:
    assert page.get_by_test_id("stException").count() == 0  # type: ignore[attr-defined]
    assert "Traceback" not in page.inner_text("body")  # type: ignore[attr-defined]


def choose(page: object, label: str, option: str) -> None:
    """Pick `option` in the selectbox labelled `label` the way a person does."""
    page.get_by_label(label, exact=True).click()  # type: ignore[attr-defined]
    wait_for_run(page, page.get_by_role("option", name=option, exact=True).click)  # type: ignore[attr-defined]


def open_page(page: object, title: str) -> None:
    nav = page.get_by_test_id("stSidebarNav")  # type: ignore[attr-defined]
    wait_for_run(page, nav.get_by_role("link", name=title, exact=True).click)
    charts_drawn(page)


def charts_drawn(page: object) -> None:
    """Wait until every chart on the page has drawn (Vega renders after the script ends).

    Until Streamlit has loaded its chart code, a chart is a grey skeleton, not yet an
    stVegaLiteChart: wait for the skeletons to go first, or no chart is waited for."""
    page.wait_for_function(  # type: ignore[attr-defined]
        "() => !document.querySelector('[data-testid=stSkeleton]')", timeout=30_000
    )
    charts = page.get_by_test_id("stVegaLiteChart")  # type: ignore[attr-defined]
    for i in range(charts.count()):
        charts.nth(i).locator("canvas, svg.marks").first.wait_for(timeout=30_000)


def test_airline_upload_compare_pages_link_and_exports(
    server: Server, page: object, airline_csv: Path, tmp_path: Path
) -> None:
    from pypdf import PdfReader

    page.goto(server.url + "/data")  # type: ignore[attr-defined]
    page.get_by_text("Stored datasets").wait_for()  # type: ignore[attr-defined]
    survey = page.locator(".st-key-upload")  # type: ignore[attr-defined]  # not the batch's
    survey.get_by_test_id("stFileUploaderDropzoneInput").set_input_files(str(airline_csv))
    page.get_by_text("Codes that mean no answer").wait_for(timeout=60_000)  # type: ignore[attr-defined]
    # 0 beside the 1-5 ratings is proposed as "no answer", ticked: the user confirms it.
    zero = page.get_by_test_id("stCheckbox").filter(has_text="0:")  # type: ignore[attr-defined]
    assert zero.get_by_role("checkbox").is_checked()
    box = page.get_by_label("Dataset name")  # type: ignore[attr-defined]
    box.fill("airline")
    wait_for_run(page, lambda: box.press("Enter"))
    shot(page, "dashboard-data-mapping")
    wait_for_run(page, page.get_by_role("button", name="Save dataset").click)  # type: ignore[attr-defined]
    page.get_by_text("Saved 'airline' version 1: 25,976 respondents.").wait_for()  # type: ignore[attr-defined]
    assert "declared missing code (0)" in page.get_by_test_id("stCode").inner_text()  # type: ignore[attr-defined]

    choose(page, "Segmentation", "Type of Travel")
    open_page(page, "Compare")
    page.get_by_text("Differences in penalty and reward").first.wait_for()  # type: ignore[attr-defined]
    chosen = page.get_by_test_id("stMultiSelect").first.inner_text()  # type: ignore[attr-defined]
    assert "Business travel" in chosen and "Personal Travel" in chosen
    no_errors(page)
    shot(page, "dashboard-compare")
    link = page.url  # type: ignore[attr-defined]
    assert "seg=Type+of+Travel" in link and "dataset=airline" in link and "compare=" in link

    with page.expect_download() as csv_dl:  # type: ignore[attr-defined]
        page.locator(".st-key-differences_table_csv button").click()  # type: ignore[attr-defined]
    csv = Path(csv_dl.value.save_as(tmp_path / "d.csv") or tmp_path / "d.csv").read_text(
        encoding="utf-8-sig"
    )
    # The table as shown: headers in words, amounts in the outcome's unit (cmot.present.tables).
    assert "Touchpoint,Effect,Business travel,Personal Travel,How much more for Business" in csv
    assert "Inflight wifi service,a top rating adds," in csv and " pts" in csv
    with page.expect_download(timeout=90_000) as pdf_dl:  # type: ignore[attr-defined]
        page.get_by_role("button", name="Report (PDF)").click()  # type: ignore[attr-defined]
    pdf_path = tmp_path / "r.pdf"
    pdf_dl.value.save_as(pdf_path)
    text = " ".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf_path.read_bytes())).pages)
    assert "Business travel" in text and "Personal Travel" in text
    assert "Appendix: method settings and n" in text
    assert "n: Business travel" in text

    # Streamlit scrolls inside its main block: a tall window makes a screenshot show it all.
    page.set_viewport_size({"width": 1400, "height": 2600})  # type: ignore[attr-defined]
    for title in PAGES:
        open_page(page, title)
        no_errors(page)
        shot(page, "dashboard-" + title.lower().replace(" ", "-"))

    # Clustering shows its progress, then the k curve, stability and editable names.
    open_page(page, "Segments")
    wait_for_run(page, page.get_by_text("cluster attributes", exact=True).click)  # type: ignore[attr-defined]
    wait_for_run(page, page.get_by_role("button", name="Find segments").click)  # type: ignore[attr-defined]
    page.get_by_text("Stability: mean adjusted Rand").wait_for(timeout=120_000)  # type: ignore[attr-defined]
    charts_drawn(page)
    no_errors(page)
    shot(page, "dashboard-segments-clustered")

    # A colleague opens the copied link: the same dataset, segmentation and comparison.
    other = watch_runs(page.context.new_page())  # type: ignore[attr-defined]
    other.goto(link)
    other.get_by_text("Differences in penalty and reward").first.wait_for(timeout=60_000)
    wait_for_run(other)
    sidebar = other.get_by_test_id("stSidebar")
    boxes = [b.locator("input").input_value() for b in sidebar.get_by_test_id("stSelectbox").all()]
    assert any("airline" in b for b in boxes) and any("Type of Travel" in b for b in boxes)
    again = other.get_by_test_id("stMultiSelect").first.inner_text()
    assert "Business travel" in again and "Personal Travel" in again
    no_errors(other)
    shot(other, "dashboard-shared-link")


def _shown(locator: object, timeout_ms: float = 2_000) -> bool:
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        locator.wait_for(timeout=timeout_ms)  # type: ignore[attr-defined]
    except PlaywrightTimeout:
        return False
    return True


def test_the_method_settings_open_change_and_close_like_a_panel(
    server: Server, page: object
) -> None:
    """The sidebar's panels draw their widgets only while open (issue 27): a person opens
    Method settings, switches to partial pooling, closes it, and the choice holds."""
    goto_first_run(page, server.url)
    sidebar = page.get_by_test_id("stSidebar")  # type: ignore[attr-defined]
    settings = sidebar.get_by_text("Method settings", exact=True)
    assert sidebar.get_by_test_id("stSlider").count() == 0  # closed: nothing drawn in it
    wait_for_run(page, settings.click)
    sidebar.get_by_text("Asymmetry threshold ±").wait_for()
    assert sidebar.get_by_test_id("stSlider").count() == 2
    shot(page, "dashboard-method-settings-open")
    box = sidebar.get_by_test_id("stSelectbox").filter(has_text="Segments' estimates")
    option = page.get_by_role("option", name="Partial pooling across segments", exact=True)  # type: ignore[attr-defined]
    for _ in range(3):  # the panel's contents can still shift the box as it opens: click again
        box.locator("input").click()
        if _shown(option):
            break
    wait_for_run(page, option.click)
    wait_for_run(page, settings.click)
    assert sidebar.get_by_test_id("stSlider").count() == 0
    assert "pool=partial" in page.url  # type: ignore[attr-defined]
    open_page(page, "Compare")  # another page, the panel closed: the choice holds
    assert "pool=partial" in page.url  # type: ignore[attr-defined]
    assert sidebar.get_by_test_id("stSlider").count() == 0
    page.get_by_text("partial pooling across segments").first.wait_for()  # type: ignore[attr-defined]
    no_errors(page)
    shot(page, "dashboard-method-settings-closed")
