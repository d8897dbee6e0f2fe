"""In a real browser: first visit shows the demo; upload the airline survey; a shared link."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from cmot.ingest.read import UPLOAD_PREFIX
from tests.e2e.conftest import Server, shot, start_server, wait_for_run
from tests.unit.test_upload_copies import _gone_pid

pytestmark = pytest.mark.e2e


def test_a_deep_link_as_the_servers_first_visit_gets_the_full_app(
    tmp_path: Path, page: object
) -> None:
    # A copy left by a server killed mid-upload, and one of a process that runs (this one).
    temp = tmp_path / "tmp"
    temp.mkdir()
    left = temp / f"{UPLOAD_PREFIX}{_gone_pid()}-bytes-k3"
    running = temp / f"{UPLOAD_PREFIX}{os.getpid()}-bytes-r7"
    for p in (left, running):
        p.write_bytes(b"q1\n1\n")
    srv = start_server(tmp_path / "store", tmp_path / "server.log", env={"TMPDIR": str(temp)})
    try:
        page.goto(srv.url + "/data?dataset=demo")  # type: ignore[attr-defined]
        page.get_by_text("Stored datasets").wait_for()  # type: ignore[attr-defined]
        wait_for_run(page)
        sidebar = page.get_by_test_id("stSidebar")  # type: ignore[attr-defined]
        sidebar.get_by_text("Dataset").first.wait_for()
        nav = sidebar.get_by_test_id("stSidebarNav").inner_text()
        assert "Overview" in nav and "app" not in nav.split()
        shot(page, "shell-deep-link-first-visit")
        assert not left.exists() and running.exists()  # the start removed the left copy
    finally:
        srv.process.terminate()
        srv.process.wait(timeout=20)


def test_first_visit_shows_the_demo_dataset(server: Server, page: object) -> None:
    page.goto(server.url)  # type: ignore[attr-defined]
    page.get_by_text("Respondents", exact=True).wait_for()  # type: ignore[attr-defined]
    wait_for_run(page)
    body = page.inner_text("body")  # type: ignore[attr-defined]
    assert "6,600" in body
    assert "Moments of truth" in body
    sidebar = page.get_by_test_id("stSidebar")  # type: ignore[attr-defined]
    shot(page, "shell-overview")
    assert sidebar.get_by_test_id("stSelectbox").first.locator("input").input_value() == "demo"
    assert "dataset=demo" in page.url  # type: ignore[attr-defined]
    shot(page, "shell-overview")


def test_upload_through_the_data_page_then_open_a_shared_link(
    server: Server, page: object, airline_csv: Path
) -> None:
    page.goto(server.url + "/data")  # type: ignore[attr-defined]
    page.get_by_text("Stored datasets").wait_for()  # type: ignore[attr-defined]
    survey = page.locator(".st-key-upload")  # type: ignore[attr-defined]  # not the batch's
    survey.get_by_test_id("stFileUploaderDropzoneInput").set_input_files(str(airline_csv))
    page.get_by_text("3.0MB").wait_for()  # type: ignore[attr-defined]
    page.get_by_text("Codes that mean no answer").wait_for(timeout=60_000)  # type: ignore[attr-defined]
    box = page.get_by_label("Dataset name")  # type: ignore[attr-defined]
    box.fill("airline")
    wait_for_run(page, lambda: box.press("Enter"))
    wait_for_run(page, page.get_by_role("button", name="Save dataset").click)  # type: ignore[attr-defined]
    page.get_by_text("Saved 'airline' version 1: 25,976 respondents.").wait_for()  # type: ignore[attr-defined]
    report = page.get_by_test_id("stCode").inner_text()  # type: ignore[attr-defined]
    assert "rows kept:        25,976" in report
    assert "declared missing code (0)" in report
    shot(page, "shell-data-uploaded")

    page.goto(server.url + "/?dataset=airline")  # type: ignore[attr-defined]
    page.get_by_text("Respondents", exact=True).wait_for()  # type: ignore[attr-defined]
    wait_for_run(page)
    assert "25,976" in page.inner_text("body")  # type: ignore[attr-defined]
    shot(page, "shell-shared-link")
