"""In a real browser: the Data page's "Register data that stays where it lies" form, as a person
uses it. The server may read Parquet only under $CMOT_EXTERNAL_ROOTS: a copy of the lake
outside that folder is refused with a clear message and nothing is registered; the lake under
it is registered with DuckDB, read in place, picked in the sidebar, and the Overview counts
every kept respondent."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from cmot.store.datasets import Store
from cmot.store.sources import ENV_EXTERNAL_ROOTS
from tests.e2e.conftest import Server, shot, start_server, wait_for_run
from tests.e2e.test_dashboard_browser import open_page
from tests.e2e.test_external_browser import KEPT, SLOW_MS, lake, respondents
from tests.e2e.test_real_survey_browser import clean

pytestmark = pytest.mark.e2e

EXPANDER = "Register data that stays where it lies (Parquet, Spark)"
SOURCE = "Parquet path, folder or glob, or a Spark table"
REFUSED = "is outside the folders this server may read"
# tests/unit/test_external.py's FLAGS, as the form's fields take them.
MAPPING = {
    "Outcome column": "overall",  # --outcome
    "Its range": "1-5",  # --outcome-range
    "'No answer' codes": "9",  # --missing
    "Weight column": "weight",  # --weight
}
# Sampling, mapping and validating 9,000 rows in three files: seconds, more under load.
REGISTER_MS = 180_000


@dataclass
class Lakes:
    allowed: Path  # the folder $CMOT_EXTERNAL_ROOTS names
    inside: Path  # the lake's folder under it
    outside: Path  # a copy of the lake elsewhere


@pytest.fixture
def lakes(tmp_path: Path) -> Lakes:
    allowed = tmp_path / "allowed"
    allowed.mkdir()
    inside = lake(allowed)
    outside = tmp_path / "elsewhere" / "responses"
    shutil.copytree(inside, outside)
    return Lakes(allowed, inside, outside)


@pytest.fixture
def roots_server(tmp_path: Path, lakes: Lakes) -> Iterator[Server]:
    """A server on a fresh store that may read Parquet under `lakes.allowed` only."""
    log = tmp_path / "server.log"
    srv = start_server(tmp_path / "store", log, env={ENV_EXTERNAL_ROOTS: str(lakes.allowed)})
    yield srv
    srv.process.terminate()
    srv.process.wait(timeout=30)
    text = log.read_text(errors="replace")
    assert "Traceback" not in text, text[-3000:]


def type_in(form: Any, label: str, text: str) -> None:
    """Type `text` into the form's field `label` and press Enter, which reruns the page."""
    box = form.get_by_label(label, exact=True)
    box.fill(text)
    wait_for_run(form.page, lambda: box.press("Enter"))


def register(form: Any, timeout_ms: float = 90_000) -> None:
    button = form.get_by_role("button", name="Register", exact=True)
    expect(button).to_be_enabled()
    wait_for_run(form.page, button.click, timeout_ms=timeout_ms)


def test_the_data_page_registers_a_lake_only_under_the_allowed_folder(
    roots_server: Server, lakes: Lakes, page: Any
) -> None:
    page.set_viewport_size({"width": 1400, "height": 1800})  # a screenshot shows the page whole
    page.goto(roots_server.url + "/data")
    wait_for_run(page)
    form = page.get_by_test_id("stExpander").filter(has_text=EXPANDER)
    form.get_by_text(EXPANDER, exact=True).click()  # opens in the browser: no script run
    expect(form.get_by_label(SOURCE, exact=True)).to_be_visible()
    expect(form.get_by_text(f"Allowed folders: {lakes.allowed.resolve()}")).to_be_visible()

    # A copy of the lake outside the allowed folder: refused, in words, and nothing stored.
    # The refusal shows the glob as typed: its two stars are not read as emphasis.
    away = f"{lakes.outside.parent}/*/part-*.parquet"
    type_in(form, SOURCE, away)
    type_in(form, "Dataset name", "lake")
    register(form)
    refusal = form.get_by_test_id("stAlert")
    expect(refusal).to_have_count(1)
    text = refusal.inner_text()
    assert f"{away} {REFUSED}" in text and str(lakes.allowed.resolve()) in text, text
    assert "python -m cmot register" in text, text
    assert "Registered" not in page.inner_text("body")
    clean(page)
    shot(page, "register-refused")
    # The same folder reached through '..' from the allowed one: '..' is refused anywhere.
    sneaky = f"{lakes.allowed}/../{lakes.outside.parent.name}/responses"
    type_in(form, SOURCE, sneaky)
    register(form)
    expect(form.get_by_test_id("stAlert")).to_contain_text(f"{sneaky} has a .. in it")
    clean(page)
    assert not Store(roots_server.db).has_dataset("lake")

    # The lake under the allowed folder, with the mapping the command line takes as flags; a
    # glob with two stars, which Markdown once read as emphasis in the sidebar's caption.
    glob = f"{lakes.inside.parent}/*/part-*.parquet"
    type_in(form, SOURCE, glob)
    for label, value in MAPPING.items():
        type_in(form, label, value)
    register(form, timeout_ms=REGISTER_MS)
    done = page.get_by_test_id("stAlert").filter(has_text="Registered")
    expect(done).to_have_count(1)
    message = done.inner_text()
    assert f"Registered 'lake' version 1: {KEPT} respondents" in message, message
    assert "read in place by DuckDB" in message, message
    assert page.get_by_test_id("stAlert").filter(has_text=REFUSED).count() == 0
    clean(page)
    shot(page, "register-registered")
    info = Store(roots_server.db).get_dataset("lake")
    assert info.external is not None and info.spec.weight_column == "weight"
    assert f"{info.rows_kept:,}" == KEPT

    # The new dataset is the sidebar's, and the Data page's own picker follows it (it kept
    # "demo" once); the Overview reads the lake.
    sidebar = page.get_by_test_id("stSidebar")
    expect(sidebar.get_by_label("Dataset", exact=True)).to_have_value("lake")
    pickers = page.get_by_label("Dataset", exact=True)  # the sidebar's, then the page's
    expect(pickers).to_have_count(2)
    expect(pickers.nth(1)).to_have_value("lake")
    open_page(page, "Overview")
    expect(sidebar.get_by_label("Dataset", exact=True)).to_have_value("lake")
    caption = str(sidebar.get_by_text("Engine:").inner_text())
    assert caption.startswith("Engine: DuckDB, reading Parquet"), caption
    assert f"{glob} in place." in caption.replace("\n", ""), caption
    expect(respondents(page)).to_have_text(KEPT, timeout=SLOW_MS)  # every kept row, none copied
    clean(page)
    shot(page, "register-overview")
