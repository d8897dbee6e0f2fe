"""In a real browser, as a person does it: the Kansas City resident survey's two quarterly
waves, stacked in one file with their `quarte` column, uploaded on the Data page, then the
Trends page: pick the wave column, read the changes, see the migration chart, export."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from bench._browser import bulk
from tests.conftest import SHARED
from tests.e2e.conftest import Server, shot, start_server, wait_for_run
from tests.e2e.test_dashboard_browser import charts_drawn
from tests.e2e.test_real_survey_browser import clean, fill, pick, save, upload

pytestmark = pytest.mark.e2e

KC = SHARED / "data" / "kansas-city-resident"
WAVES = ("wave_2021_09.csv", "wave_2022_03.csv")


def stacked(path: Path) -> Path:
    """Both waves in one CSV, earlier first (they share one header)."""
    frames = [pd.read_csv(KC / name, dtype=str, keep_default_na=False) for name in WAVES]
    pd.concat(frames, ignore_index=True).to_csv(path, index=False)
    return path


def test_kansas_city_waves_on_the_trends_page(server: Server, page: object, tmp_path: Path) -> None:
    missing = [n for n in WAVES if not (KC / n).exists()]
    if missing:
        pytest.skip(f"the Kansas City waves are not at {KC} (../shared beside the repo)")
    page.set_viewport_size({"width": 1400, "height": 2600})  # type: ignore[attr-defined]
    upload(page, server, stacked(tmp_path / "kc-waves.csv"))
    bulk(page, "q*", "ignore")
    bulk(page, "q3_*, q5_*", "touchpoint")
    bulk(page, "quarte", "attribute")  # "q*" took the wave column too
    pick(page, "Outcome column", "q2_01", typed="q2_01")
    save(page, "kc-waves")
    clean(page)

    nav = page.get_by_test_id("stSidebarNav")  # type: ignore[attr-defined]
    wait_for_run(page, nav.get_by_role("link", name="Trends", exact=True).click)
    charts_drawn(page)
    clean(page)
    pick(page, "Waves from", "quarte (2 values)")  # named like a wave: offered first anyway
    charts_drawn(page)
    body = page.inner_text("body")  # type: ignore[attr-defined]
    assert "Significant changes, 1QSEP2021 → 3QMAR2022" in body, body[:3000]
    assert "Migration" in body and "Did the fix work" in body
    assert page.get_by_test_id("stVegaLiteChart").count() == 2  # type: ignore[attr-defined]
    assert "wave=quarte" in page.url  # type: ignore[attr-defined]
    clean(page)
    shot(page, "trends-kc")

    with page.expect_download() as csv_dl:  # type: ignore[attr-defined]
        page.locator(".st-key-changes_table_csv button").click()  # type: ignore[attr-defined]
    csv_path = tmp_path / "changes.csv"
    csv_dl.value.save_as(csv_path)
    headline, csv = csv_path.read_text(encoding="utf-8-sig").split("\n", 1)
    assert headline.startswith("kc-waves v1 · ")  # the page's context first (issue 28)
    assert csv.startswith("Touchpoint,From,To,Class then,Class now")
    assert "1QSEP2021,3QMAR2022" in csv
    with page.expect_download(timeout=90_000) as png_dl:  # type: ignore[attr-defined]
        page.locator(".st-key-migration_png button").click()  # type: ignore[attr-defined]
    png_path = tmp_path / "migration.png"
    png_dl.value.save_as(png_path)
    assert png_path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    shot(page, "trends-kc-exported")


def map_and_save(page: object, server: Server, path: Path, name: str) -> None:
    """One wave as a person maps it: touchpoints q3_* and q5_*, outcome q2_01."""
    upload(page, server, path)
    bulk(page, "q*", "ignore")
    bulk(page, "q3_*, q5_*", "touchpoint")
    pick(page, "Outcome column", "q2_01", typed="q2_01")
    save(page, name)
    clean(page)


def choose(page: Any, box: Any, name: str) -> None:
    """Add `name` to the multiselect `box` as a person does: open it, click the option, see
    the tag. The list opened right after the expander can close again as the expander's
    content settles: then open it again, as a person would."""
    option = page.locator("[role='option']", has_text=name).first
    tag = page.locator("[data-testid='stMultiSelect'] [data-tag]:visible", has_text=name)
    for _ in range(5):
        box.click()
        try:
            option.wait_for(timeout=3_000)
            option.click()
            tag.wait_for(timeout=10_000)
        except PlaywrightTimeout:
            continue
        box.press("Escape")
        wait_for_run(page)
        return
    raise AssertionError(f"{name!r} could not be chosen in the multiselect")


@pytest.fixture
def own_server(tmp_path: Path) -> Iterator[Server]:
    """A server on a store of its own: the user who links the waves starts from the demo."""
    srv = start_server(tmp_path / "store", tmp_path / "server.log")
    yield srv
    srv.process.terminate()
    srv.process.wait(timeout=20)


def test_kansas_city_waves_linked_on_the_data_page(
    own_server: Server, page: object, tmp_path: Path
) -> None:
    missing = [n for n in WAVES if not (KC / n).exists()]
    if missing:
        pytest.skip(f"the Kansas City waves are not at {KC} (../shared beside the repo)")
    server = own_server
    page.set_viewport_size({"width": 1400, "height": 2600})  # type: ignore[attr-defined]
    # Each wave stored as a dataset of its own, as its file came.
    for wave, name in zip(WAVES, ("kc 2021-09", "kc 2022-03"), strict=True):
        map_and_save(page, server, KC / wave, name)

    page.goto(server.url + "/data")  # type: ignore[attr-defined]
    page.get_by_text("Stored datasets").wait_for()  # type: ignore[attr-defined]
    wait_for_run(page)
    expander = page.get_by_text("Link datasets as waves", exact=True)  # type: ignore[attr-defined]
    expander.click()  # opens in the browser: no script run
    page.get_by_label("Datasets, in wave order", exact=True).wait_for()  # type: ignore[attr-defined]
    box = page.get_by_label("Datasets, in wave order", exact=True)  # type: ignore[attr-defined]
    for name in ("kc 2021-09", "kc 2022-03"):  # the first wave first
        choose(page, box, name)
    matched = page.get_by_text(re.compile(r"\d+ of \d+ columns matched"))  # type: ignore[attr-defined]
    matched.wait_for(timeout=60_000)
    text = matched.inner_text()
    # The waves share one header: every column is matched, by name.
    found, total = (int(x) for x in re.findall(r"(\d+) of (\d+) columns matched", text)[0])
    assert found == total >= 20, text
    fill(page, "Link name", "kc resident")
    wait_for_run(page, page.locator(".st-key-link_save button").click)  # type: ignore[attr-defined]
    page.get_by_text("Saved link 'kc resident'").wait_for(timeout=60_000)  # type: ignore[attr-defined]
    clean(page)
    shot(page, "trends-kc-linked")

    # The sidebar shows the demo (a dataset of its own waves by date): pick the link.
    nav = page.get_by_test_id("stSidebarNav")  # type: ignore[attr-defined]
    wait_for_run(page, nav.get_by_role("link", name="Trends", exact=True).click)
    charts_drawn(page)
    clean(page)
    linked = "Linked: kc resident (2 datasets: kc 2021-09 v1, kc 2022-03 v1)"
    pick(page, "Waves from", linked)
    charts_drawn(page)
    clean(page)
    body = page.inner_text("body")  # type: ignore[attr-defined]
    assert "Significant changes, kc 2021-09 → kc 2022-03" in body, body[:3000]
    # As the waves were analysed, not as the sidebar's demo: in How this is calculated (its
    # text is on the page, folded).
    assert "Unweighted;" in page.text_content("body")  # type: ignore[attr-defined]
    assert page.get_by_test_id("stVegaLiteChart").count() == 2  # type: ignore[attr-defined]
    assert "wave=link%3Akc+resident" in page.url or "wave=link:kc" in page.url  # type: ignore[attr-defined]
    shot(page, "trends-kc-link-page")

    with page.expect_download() as csv_dl:  # type: ignore[attr-defined]
        page.locator(".st-key-changes_table_csv button").click()  # type: ignore[attr-defined]
    csv_path = tmp_path / "changes-link.csv"
    csv_dl.value.save_as(csv_path)
    # The first line is the page's context (issue 28): the table starts on the second.
    changes = pd.read_csv(csv_path, encoding="utf-8-sig", skiprows=1)
    assert len(changes) > 10
    assert set(changes.From) == {"kc 2021-09"} and set(changes.To) == {"kc 2022-03"}
