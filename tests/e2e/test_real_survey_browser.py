"""In a real browser, as a person does it: the widest real survey (Kansas City residents,
160 columns) on the newcomer's path through the Data page's mapping (bench/newcomer.py's
`walk`, whose time bench/newcomer.md records), every page, dataset switches; and a synthetic
airport-shaped file whose weight is ticked."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from playwright.sync_api import expect

from bench._browser import fill, open_page, pick
from bench._browser import upload as upload_at
from bench.newcomer import walk
from cmot.ui.frame import UNEXPECTED
from tests.conftest import SHARED
from tests.e2e.conftest import Server, shot, wait_for_run
from tests.e2e.test_dashboard_browser import PAGES, charts_drawn

pytestmark = pytest.mark.e2e

KC_CSV = SHARED / "data" / "kansas-city-resident" / "wave_2021_09.csv"
# The page guard's "what to do" text: an unexpected error caught on a page.
GUARD_TEXT = UNEXPECTED.split(".")[0]


def clean(page: object) -> None:
    """No exception box and no page-guard message anywhere on the page."""
    assert page.get_by_test_id("stException").count() == 0  # type: ignore[attr-defined]
    body = page.inner_text("body")  # type: ignore[attr-defined]
    assert "Traceback" not in body
    assert GUARD_TEXT not in body, body[:2000]


def upload(page: object, server: Server, path: Path) -> None:
    upload_at(page, server.url, path)


def switch_dataset(page: object, name: str) -> None:
    sidebar = page.get_by_test_id("stSidebar")  # type: ignore[attr-defined]
    sidebar.get_by_label("Dataset", exact=True).click()
    wait_for_run(page, page.get_by_role("option", name=name, exact=True).click)  # type: ignore[attr-defined]
    charts_drawn(page)


def save(page: object, name: str) -> str:
    fill(page, "Dataset name", name)
    button = page.get_by_role("button", name="Save dataset")  # type: ignore[attr-defined]
    assert button.is_enabled(), page.inner_text("body")[-3000:]  # type: ignore[attr-defined]
    wait_for_run(page, button.click)
    saved = page.get_by_text(f"Saved '{name}' version 1:")  # type: ignore[attr-defined]
    saved.wait_for(timeout=90_000)
    wait_for_run(page)
    return str(saved.inner_text())


def no_check(page: object) -> None:
    """A step of the walk checked by the walk alone."""


def after_upload(page: object) -> None:
    body = page.inner_text("body")  # type: ignore[attr-defined]
    # No outcome is named like one: a prompt to pick it, never an error or a dead end.
    assert "No outcome was found." in body
    assert page.get_by_test_id("stAlertContentError").count() == 0  # type: ignore[attr-defined]
    assert "160 columns" in body
    clean(page)
    shot(page, "real-kc-mapping-upload")
    # The proposed codes on the whole file: 9 = don't know beside 1-5, 99 = none chosen and
    # the text marker NA; the analyst confirms them all (they are ticked unless unticked).
    for code in ("9", "99", "NA"):
        tick = page.locator(f".st-key-map_code_{code} input")  # type: ignore[attr-defined]
        assert tick.is_checked(), f"code {code} is not proposed as no answer"


def after_outcome(page: object) -> None:
    assert page.get_by_label("Outcome type").input_value() == KIND_SCALE  # type: ignore[attr-defined]
    # 9 = don't know is still proposed for the chosen ratings, and kept.
    assert page.locator(".st-key-map_code_9 input").is_checked()  # type: ignore[attr-defined]
    # The scale follows the data once 9 is no answer: 1-5.
    # Awaited, not read once: the inputs take the new outcome's range in the run after the pick.
    expect(page.get_by_label("Scale from")).to_have_value("1")  # type: ignore[attr-defined]
    expect(page.locator(".st-key-map_range_hi input")).to_have_value("5")  # type: ignore[attr-defined]
    assert "23 touchpoint(s) rated 1-5" in page.inner_text("body")  # type: ignore[attr-defined]
    # The file has no weight column: nothing to refuse, nothing applied.
    assert page.get_by_text("Weight results by").count() == 0  # type: ignore[attr-defined]


def after_segment(page: object) -> None:
    shot(page, "real-kc-mapping-done")
    clean(page)


def after_save(page: object) -> None:
    saved = page.get_by_text("Saved 'kansas-city' version 1:")  # type: ignore[attr-defined]
    assert "respondents" in saved.inner_text()
    clean(page)
    shot(page, "real-kc-saved")
    # The sidebar opens on the segment column picked on the Data page (issue 23, item 6).
    sidebar = page.get_by_test_id("stSidebar")  # type: ignore[attr-defined]
    assert sidebar.get_by_label("Segmentation", exact=True).input_value() == "counci"


# The walk's steps in order, each with this test's checks of the page once it is done.
CHECKS = {
    "upload": after_upload,
    "touchpoints by pattern": no_check,
    "outcome": after_outcome,
    "codes": no_check,
    "segment with merges": after_segment,
    "save": after_save,
    "Overview by counci": no_check,
}


def test_kansas_city_mapping_every_page_and_dataset_switches(server: Server, page: object) -> None:
    """The newcomer's path (bench/newcomer.py's `walk`, issue 23: upload to a segment-specific
    answer), checked on the way, then every page and switches between datasets."""
    if not KC_CSV.exists():
        pytest.skip(
            f"the Kansas City resident survey is not at {KC_CSV} (../shared beside the repo)"
        )
    # A tall window: Streamlit scrolls inside its main block, so a screenshot shows it all.
    page.set_viewport_size({"width": 1400, "height": 2400})  # type: ignore[attr-defined]
    page.set_default_timeout(60_000)  # type: ignore[attr-defined]
    w = walk(page, server.url, KC_CSV, after=lambda step: CHECKS[step](page))
    shot(page, "newcomer-overview")
    assert [name.split(" (")[0] for name, _, _ in w.steps] == list(CHECKS)
    # The Overview by counci: the merged groups are its segments, and one is answered for.
    assert "North" in w.overview and "South" in w.overview
    # A Fix first / Invest next row for one group, or (the groups alike) a group's card.
    assert re.search(r"\bfor (North|South): |^(North|South)\n", w.answer), w.answer
    assert "unweighted" in w.overview.lower()

    # The new dataset, segmented by the merged districts, on every page.
    for title in PAGES:
        open_page(page, title)
        clean(page)
        body = page.inner_text("body")  # type: ignore[attr-defined]
        if title not in ("Segments", "Data"):  # set-up pages, not results
            assert "unweighted" in body.lower(), f"{title} does not say unweighted"
        shot(page, "real-kc-" + title.lower().replace(" ", "-"))
    open_page(page, "Overview")
    body = page.inner_text("body")  # type: ignore[attr-defined]
    assert "Respondents" in body and any(ch.isdigit() for ch in body)
    assert "North" in body and "South" in body, "the merged districts are not the segments"

    # Back and forth between the demo and the new dataset, a page each time.
    for name, title in (
        ("demo", "Moments"),
        ("kansas-city", "Compare"),
        ("demo", "Journey map"),
        ("kansas-city", "Overview"),
    ):
        switch_dataset(page, name)
        open_page(page, title)
        clean(page)
    shot(page, "real-kc-switched-back")


KIND_SCALE = "a rating scale (its range)"


def airport_file(path: Path, n: int = 600) -> Path:
    """An airport-shaped export: facility ratings 1-5 with 6 = never used and 0 = blank, an
    overall 1-5 with the text "Blank" in some rows, a 0-10 recommend with 11 = blank, a
    survey weight and trip purpose coded 1-13."""
    rng = np.random.default_rng(9)
    quality = rng.normal(size=n)
    frame = pd.DataFrame({"RESPNUM": np.arange(1, n + 1)})
    for i, name in enumerate(("Parking", "Security", "Signage", "Restrooms", "Dining", "WiFi")):
        score = np.clip(np.rint(3.2 + 0.9 * quality + rng.normal(scale=0.9, size=n)), 1, 5)
        # Many never use a facility (parking, WiFi): 6 is a fifth to a third of answers.
        codes = rng.choice([6, 0], size=n, p=[0.85, 0.15])
        score = np.where(rng.random(n) < 0.2 + 0.03 * i, codes, score)
        frame[f"Q7{name}"] = score.astype(int)
    overall = np.clip(np.rint(3.4 + 1.1 * quality + rng.normal(scale=0.6, size=n)), 1, 5)
    frame["Q8Overall"] = [
        "Blank" if r < 0.05 else str(int(v)) for r, v in zip(rng.random(n), overall, strict=True)
    ]
    rec = np.clip(np.rint(7 + 2 * quality + rng.normal(size=n)), 0, 10).astype(int)
    frame["NETPRO"] = np.where(rng.random(n) < 0.05, 11, rec)
    frame["Q2PURP1"] = rng.choice(np.arange(1, 14), size=n)
    frame["WEIGHT"] = np.round(rng.uniform(0.4, 2.5, size=n), 4)
    frame.to_csv(path, index=False)
    return path


def test_airport_shaped_file_with_the_weight_ticked(
    server: Server, page: object, tmp_path: Path
) -> None:
    page.set_viewport_size({"width": 1400, "height": 2400})  # type: ignore[attr-defined]
    upload(page, server, airport_file(tmp_path / "airport.csv"))
    pick(page, "Outcome column", "Q8Overall", typed="Q8Overall")
    assert page.get_by_label("Outcome type").input_value() == KIND_SCALE  # type: ignore[attr-defined]
    # The blank code 0 and the text marker "Blank" are proposed; confirm them.
    for code in ("0", "Blank"):
        tick = page.locator(f".st-key-map_code_{code} input")  # type: ignore[attr-defined]
        assert tick.count() == 1, f"code {code} is not proposed"
        assert tick.is_checked(), f"code {code} is proposed but not ticked"
    # Detection does not (yet) tell 6 = never used beside 1-5 from a sixth scale point, nor
    # always 11 beside 0-10: the page says "rated 1-6", so a person types what is missing.
    extra = [
        code
        for code in ("6", "11")
        if page.locator(f".st-key-map_code_{code} input").count() == 0  # type: ignore[attr-defined]
    ]
    if extra:
        fill(
            page, "Other codes meaning no answer (comma-separated, e.g. 99, N/A)", ", ".join(extra)
        )
    body = page.inner_text("body")  # type: ignore[attr-defined]
    assert "6 touchpoint(s) rated 1-5" in body, body[:3000]
    # Awaited, not read once: the inputs take the new outcome's range in the run after the pick.
    expect(page.get_by_label("Scale from")).to_have_value("1")  # type: ignore[attr-defined]
    expect(page.locator(".st-key-map_range_hi input")).to_have_value("5")  # type: ignore[attr-defined]
    weight = page.locator(".st-key-map_weight_WEIGHT input")  # type: ignore[attr-defined]
    assert not weight.is_checked(), "the weight is applied without asking"
    # Streamlit hides the box itself: a person clicks its label.
    wait_for_run(page, page.get_by_text("Weight results by WEIGHT?").click)  # type: ignore[attr-defined]
    assert weight.is_checked()
    assert "Results are weighted by WEIGHT." in page.inner_text("body")  # type: ignore[attr-defined]
    clean(page)
    shot(page, "real-airport-mapping")
    save(page, "airport")
    open_page(page, "Moments")
    clean(page)
    assert "weighted by weight" in page.inner_text("body").lower()  # type: ignore[attr-defined]
    shot(page, "real-airport-moments")
