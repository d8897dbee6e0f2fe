"""AppTest on the real airline survey: upload through the Data page, then every page."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tests.app.test_pages import APP, PAGES, chart_frames, ok, texts


@pytest.fixture
def airline(store_dir: Path, airline_csv: Path) -> AppTest:
    """The app after uploading the airline survey with 0 = missing and a journey order."""
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    at.switch_page("pages/data.py").run()
    at.file_uploader(key="upload").set_value(
        (airline_csv.name, airline_csv.read_bytes(), "text/csv")
    ).run()
    at.text_input(key="upload_name").set_value("airline").run()
    at.text_input(key="upload_missing").set_value("0").run()
    ok(at)
    return at


def test_upload_with_mapping_then_every_page(airline: AppTest) -> None:
    airline.button(key="upload_save").click().run()
    ok(airline)
    assert airline.sidebar.selectbox(key="dataset").value == "airline"
    assert "declared missing code (0)" in airline.code[0].value
    airline.sidebar.selectbox(key="seg").set_value("Type of Travel").run()
    for page in PAGES:
        ok(airline.switch_page(f"pages/{page}.py").run())
    airline.switch_page("pages/overview.py").run()
    assert {m.label: m.value for m in airline.metric}["Respondents"] == "25,976"
    body = texts(airline)
    assert "**Business travel**" in body and "**Personal Travel**" in body
    assert "Inflight wifi service" in body


def test_compare_business_and_personal_travel(airline: AppTest) -> None:
    airline.button(key="upload_save").click().run()
    airline.sidebar.selectbox(key="seg").set_value("Type of Travel").run()
    airline.switch_page("pages/compare.py").run()
    ok(airline)
    assert airline.multiselect(key="compare").value == ["Business travel", "Personal Travel"]
    diffs = chart_frames(airline, 1)[0]
    wifi = diffs[(diffs.touchpoint == "Inflight wifi service") & (diffs.measure == "reward")]
    # Personal travellers reward good wifi far more (engine: 88 vs 31 points).
    assert wifi["diff"].iloc[0] < -30 and wifi.fdr.iloc[0] == "clear difference"
    assert "The biggest difference" in texts(airline.switch_page("pages/overview.py").run())


def test_roles_and_journey_edits_reach_the_saved_spec(airline: AppTest) -> None:
    from cmot.store.datasets import Store

    roles = airline.dataframe(key="map_roles").value
    gender = int(roles.index[roles.column == "Gender"][0])
    airline.session_state["map_roles"] = {
        "edited_rows": {gender: {"role": "ignore"}},
        "added_rows": [],
        "deleted_rows": [],
    }
    airline.run()
    journey = airline.dataframe(key="map_journey").value
    first = journey.touchpoint.tolist()
    booking = {"Ease of Online booking", "Online boarding", "Checkin service"}
    edits = {i: {"stage": "Ground", "order": -i} for i, t in enumerate(first) if t in booking}
    edits[first.index("Inflight wifi service")] = {"label": "Wi-Fi", "tags": "expectation"}
    airline.session_state["map_journey"] = {
        "edited_rows": edits,
        "added_rows": [],
        "deleted_rows": [],
    }
    airline.run()
    ok(airline)
    airline.button(key="upload_save").click().run()
    ok(airline)
    spec = Store().get_dataset("airline").spec
    assert spec.scale.missing == (0,)
    assert "Gender" not in spec.segments and "Gender" in spec.ignored
    assert [s.name for s in spec.stages] == ["Ground", "Journey"]
    assert set(spec.stages[0].touchpoints) == booking
    assert spec.touchpoint("Inflight wifi service").tags == ("expectation",)
    airline.switch_page("pages/journey.py").run()
    ok(airline)
    assert "Wi-Fi" in texts(airline)
