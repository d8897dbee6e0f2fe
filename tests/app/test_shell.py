"""AppTest: the app starts on the demo dataset; the Data page uploads, reports and refuses."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tests.conftest import ROOT

APP = str(ROOT / "app.py")


@pytest.fixture
def app(store_dir: Path) -> AppTest:
    return AppTest.from_file(APP, default_timeout=60)


def test_first_start_loads_the_demo_dataset(app: AppTest) -> None:
    app.run()
    assert not app.exception
    assert app.sidebar.selectbox(key="dataset").value == "demo"
    metrics = {m.label: m.value for m in app.metric}
    assert metrics["Respondents"] == "6,600"
    assert metrics["Segments"] == "4"
    assert app.query_params["dataset"] == "demo"


def test_upload_saves_a_dataset_and_shows_its_report(app: AppTest, airline_csv: Path) -> None:
    app.run()
    app.switch_page("pages/data.py").run()
    app.file_uploader(key="upload").set_value(
        (airline_csv.name, airline_csv.read_bytes(), "text/csv")
    ).run()
    app.text_input(key="upload_name").set_value("airline").run()
    app.button(key="upload_save").click().run()
    assert not app.exception
    assert "Saved 'airline' version 1: 25,976 respondents." in app.success[0].value
    assert "rows kept:        25,976" in app.code[0].value
    sidebar = app.sidebar.selectbox(key="dataset")
    assert sidebar.options == ["airline", "demo"]
    assert sidebar.value == "airline"  # the new dataset is the one shown


def test_bad_upload_shows_the_error_and_keeps_the_datasets(app: AppTest) -> None:
    app.run()
    app.switch_page("pages/data.py").run()
    app.file_uploader(key="upload").set_value(("bad.csv", b"id,a,b\n", "text/csv")).run()
    assert not app.exception
    assert app.button(key="upload_save").disabled  # the mapping step already refused it
    assert "header but no data rows" in app.error[0].value
    assert app.sidebar.selectbox(key="dataset").options == ["demo"]


def test_a_shared_link_opens_the_dataset_it_names(app: AppTest, airline_csv: Path) -> None:
    from cmot.store.datasets import Store
    from cmot.store.intake import ingest

    ingest(Store(), airline_csv, "airline")
    app.query_params["dataset"] = "airline"
    app.run()
    assert app.sidebar.selectbox(key="dataset").value == "airline"
    assert {m.label: m.value for m in app.metric}["Respondents"] == "25,976"
