"""In a real browser: a Parquet lake registered with `python -m cmot register`, read in place
by DuckDB or by a local Spark, picked in the sidebar as a person does; the caption says which
engine reads it, the Overview counts every kept respondent, the Moments page draws."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from playwright.sync_api import expect

from tests.conftest import ROOT
from tests.e2e.conftest import Server, shot, start_server, wait_for_run
from tests.e2e.test_dashboard_browser import charts_drawn, open_page
from tests.e2e.test_real_survey_browser import clean, pick
from tests.unit.test_external import FLAGS, N, survey

pytestmark = pytest.mark.e2e

KEPT = "8,919"  # the synthetic survey's rows less those whose outcome is "don't know" (9)
# A local Spark starts its JVM on the first page that reads the dataset: minutes, not seconds.
SLOW_MS = 180_000


def lake(root: Path) -> Path:
    """The synthetic survey as three Parquet part files in one folder, as a lake holds it."""
    folder = root / "responses"
    folder.mkdir()
    df = survey()
    for i, j in enumerate(range(0, N, N // 3)):
        part = pa.Table.from_pandas(df.iloc[j : j + N // 3], preserve_index=False)
        pq.write_table(part, folder / f"part-{i}.parquet")
    return folder


def registered_server(tmp_path: Path, *engine: str) -> Iterator[Server]:
    """Register the lake as "lake" with the command line, then serve that store."""
    store = tmp_path / "store"
    done = subprocess.run(
        [sys.executable, "-m", "cmot", "register", "lake", str(lake(tmp_path)), *engine, *FLAGS],
        env={**os.environ, "CMOT_STORE": str(store)},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "nothing was copied" in done.stdout, done.stdout
    srv = start_server(store, tmp_path / "server.log")
    yield srv
    srv.process.terminate()
    srv.process.wait(timeout=30)
    log = (tmp_path / "server.log").read_text(errors="replace")
    assert "Traceback" not in log, log[-3000:]


@pytest.fixture
def duckdb_server(tmp_path: Path) -> Iterator[Server]:
    yield from registered_server(tmp_path)


@pytest.fixture
def spark_server(tmp_path: Path) -> Iterator[Server]:
    yield from registered_server(tmp_path, "--engine", "spark")


def open_lake(page: Any, server: Server) -> str:
    """Open the app, pick "lake" in the sidebar; returns the sidebar's engine caption."""
    page.set_viewport_size({"width": 1400, "height": 1800})  # a screenshot shows the page whole
    page.goto(server.url + "/")
    wait_for_run(page, timeout_ms=SLOW_MS)
    # The new store holds the demo too: the lake is one dataset among others.
    box = page.get_by_test_id("stSidebar").get_by_label("Dataset", exact=True)
    if box.input_value() != "lake":
        box.click()
        option = page.get_by_role("option", name="lake", exact=True)
        wait_for_run(page, option.click, timeout_ms=SLOW_MS)
        box.blur()  # no focus ring on the screenshots
    caption = page.get_by_test_id("stSidebar").get_by_text("Engine:")
    expect(caption).to_be_visible(timeout=SLOW_MS)
    return str(caption.inner_text())


def respondents(page: Any) -> Any:
    """The Overview's Respondents value, to wait on: a busy machine can show the dataset
    picked before (the demo's 6,600) until the page's run for the lake has drawn it."""
    metric = page.get_by_test_id("stMetric").filter(has_text="Respondents")
    return metric.get_by_test_id("stMetricValue")


def moments_by_region(page: Any, name: str) -> None:
    """Segment by region, as a person does in the sidebar, and read the Moments page."""
    # region is the lake's only attribute, so the sidebar may offer it already: pick then
    # leaves it (choosing the chosen option runs nothing).
    pick(page, "Segmentation", "region")
    open_page(page, "Moments")
    wait_for_run(page, timeout_ms=SLOW_MS)
    charts_drawn(page)
    clean(page)
    shot(page, f"external-{name}-moments")
    # One segment in depth: a region (the strongest first), its charts and its touchpoints.
    assert page.get_by_label("Segment", exact=True).input_value() in {"North", "South", "East"}
    assert page.get_by_test_id("stVegaLiteChart").count() >= 2
    body = page.inner_text("body")
    assert all(f"q{i}" in body for i in range(1, 6)), body[:3000]


def test_a_parquet_lake_read_in_place_by_duckdb(duckdb_server: Server, page: Any) -> None:
    caption = open_lake(page, duckdb_server)
    assert caption.startswith("Engine: DuckDB, reading Parquet"), caption
    assert "responses" in caption and caption.endswith("in place."), caption
    # Every kept row of the three files, none copied.
    expect(respondents(page)).to_have_text(KEPT, timeout=SLOW_MS)
    clean(page)
    shot(page, "external-duckdb-overview")
    moments_by_region(page, "duckdb")


@pytest.mark.spark
def test_a_spark_dataset_in_the_browser(spark_server: Server, page: Any) -> None:
    caption = open_lake(page, spark_server)
    assert caption.startswith("Engine: Spark (local), reading Parquet"), caption
    # Sums over every respondent; lists and clustering read what Spark stored at
    # registration: all of them here, as the survey is smaller than a sample.
    assert f"Spark's sums over all {KEPT} respondents" in caption, caption
    assert f"a copy of all {KEPT} respondents, written by Spark" in caption, caption
    expect(respondents(page)).to_have_text(KEPT, timeout=SLOW_MS)
    clean(page)
    shot(page, "external-spark-overview")
    moments_by_region(page, "spark")
