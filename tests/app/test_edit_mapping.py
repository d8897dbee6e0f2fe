"""The Data page shows every guess with its evidence and lets the analyst change it (issue 23,
items 3 and 5): the layout, a touchpoint's scale, the waves, and a saved mapping edited into
a new version without uploading again."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from cmot.ingest.options import IngestOptions
from cmot.store.datasets import Store
from cmot.store.intake import ingest, reingest
from tests.app.test_data_page import edit, roles, upload
from tests.app.test_pages import APP, ok
from tests.planted import read_as_text
from tests.unit.test_guesses import stray, wide_with_item_column


@pytest.fixture(autouse=True)
def _fresh_cache() -> Iterator[None]:
    st.cache_data.clear()
    yield
    st.cache_data.clear()


@pytest.fixture
def page(store_dir: Path) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    return at.switch_page("pages/data.py").run()


def captions(at: AppTest) -> str:
    """The captions as read (names from the data are escaped for Markdown)."""
    return read_as_text("\n".join(str(c.value) for c in at.caption))


def scales(at: AppTest) -> object:
    return at.dataframe(key=at.session_state["map_scales_key"]).value


def test_the_layout_is_shown_with_its_evidence_and_can_be_changed(page: AppTest) -> None:
    at = upload(page, "wide.csv", wide_with_item_column())
    assert at.radio(key="map_layout").value == "wide"
    assert "one row per respondent" in captions(at)
    assert "item_bought" in roles(at).column.tolist()
    ok(at.radio(key="map_layout").set_value("long").run())
    # Read as long on the analyst's word: 'item_bought' names the touchpoints (a mistake
    # here, which is why it is the analyst's call and said so).
    assert at.radio(key="map_layout").value == "long"
    assert "long: set by you" in captions(at)
    assert {"shoes", "bag", "hat"} <= set(roles(at).column)
    ok(at.radio(key="map_layout").set_value("wide").run())
    assert "item_bought" in roles(at).column.tolist()


def test_a_stray_answer_is_a_code_and_a_touchpoint_scale_is_edited_and_saved(
    page: AppTest,
) -> None:
    at = upload(page, "stray.csv", stray())
    ok(at.selectbox(key="map_outcome").set_value("overall").run())
    ok(at.selectbox(key="map_kind").set_value("scale").run())
    table = scales(at).set_index("touchpoint")
    assert (table.loc["q3", "from"], table.loc["q3", "to"]) == (1, 5)
    assert "stray answer" in table.loc["q3", "evidence"]
    assert at.checkbox(key="map_code_7").value is True, "the stray 7 is proposed as a code"
    # The analyst says q2 is rated 1-4 (its 5s out of scale) and saves.
    row = int(scales(at).index[scales(at).touchpoint == "q2"][0])
    grid = at.session_state["map_scales_key"]
    edit(at, grid, {row: {"to": 4}})
    # Folded in the run the edit caused, into a new grid drawn from a frame that holds it:
    # the old grid, handed its own edit, would reset and send that on the next click.
    assert at.session_state["map_scales_key"] != grid
    assert scales(at).loc[row, "to"] == 4
    ok(at.run())  # another run: the new grid keeps its key and the edit
    assert scales(at).loc[row, "to"] == 4
    assert not at.button(key="upload_save").disabled
    at.text_input(key="upload_name").set_value("stray").run()
    ok(at.button(key="upload_save").click().run())
    info = Store().get_dataset("stray")
    assert (info.spec.scale_of("q2").min, info.spec.scale_of("q2").max) == (1, 4)
    assert (info.spec.scale.min, info.spec.scale.max) == (1, 5)
    assert "outside the 1-4 scale" in json.dumps(info.report)


def test_a_cleared_scale_cell_keeps_the_scale_it_had(page: AppTest) -> None:
    """A number deleted from the Scales grid is no scale: the cell shows what it held, and
    the page goes on (it once stopped with the page guard's "unexpected problem")."""
    at = upload(page, "stray.csv", stray())
    ok(at.selectbox(key="map_outcome").set_value("overall").run())
    ok(at.selectbox(key="map_kind").set_value("scale").run())
    row = int(scales(at).index[scales(at).touchpoint == "q2"][0])
    edit(at, at.session_state["map_scales_key"], {row: {"to": None}})
    assert (scales(at).loc[row, "from"], scales(at).loc[row, "to"]) == (1, 5)


def test_a_group_of_touchpoints_gets_its_scale(page: AppTest) -> None:
    at = upload(page, "stray.csv", stray())
    ok(at.selectbox(key="map_outcome").set_value("overall").run())
    ok(at.selectbox(key="map_kind").set_value("scale").run())
    at.selectbox(key="map_scale_group").set_value("q#")
    at.number_input(key="map_scale_hi").set_value(7)
    ok(at.button(key="FormSubmitter:map_scale_group_form-Set").click().run())
    assert set(scales(at)["to"]) == {7}


def test_a_grid_edit_and_a_group_set_in_one_run_end_with_the_set(page: AppTest) -> None:
    """The grid's edit is folded before the group's "Set": the later word wins."""
    at = upload(page, "stray.csv", stray())
    ok(at.selectbox(key="map_outcome").set_value("overall").run())
    ok(at.selectbox(key="map_kind").set_value("scale").run())
    row = int(scales(at).index[scales(at).touchpoint == "q2"][0])
    at.session_state[at.session_state["map_scales_key"]] = {
        "edited_rows": {row: {"to": 4}},
        "added_rows": [],
        "deleted_rows": [],
    }
    at.selectbox(key="map_scale_group").set_value("q#")
    at.number_input(key="map_scale_hi").set_value(7)
    ok(at.button(key="FormSubmitter:map_scale_group_form-Set").click().run())
    assert scales(at).loc[row, "to"] == 7
    assert set(scales(at)["to"]) == {7}
    ok(at.run())
    assert scales(at).loc[row, "to"] == 7


def journey(at: AppTest) -> object:
    return at.dataframe(key=at.session_state["map_journey_key"]).value


def test_a_journey_edit_is_kept_in_a_new_table(page: AppTest) -> None:
    """As the Scales grid: the Journey table's edit is folded in the run it causes and the
    table is drawn under a new key, so the next click (Save) is not lost."""
    at = upload(page, "stray.csv", stray())
    ok(at.selectbox(key="map_outcome").set_value("overall").run())
    ok(at.selectbox(key="map_kind").set_value("scale").run())
    table = journey(at)
    q2 = int(table.index[table.touchpoint == "q2"][0])
    grid = at.session_state["map_journey_key"]
    edit(at, grid, {q2: {"label": "Check-in", "stage": "Arrival"}})
    assert at.session_state["map_journey_key"] != grid
    assert (journey(at).loc[q2, "label"], journey(at).loc[q2, "stage"]) == ("Check-in", "Arrival")
    settled = at.session_state["map_journey_key"]
    ok(at.run())  # another run: the new table keeps its key and the edit
    assert at.session_state["map_journey_key"] == settled
    assert journey(at).loc[q2, "label"] == "Check-in"
    at.text_input(key="upload_name").set_value("journey").run()
    ok(at.button(key="upload_save").click().run())
    spec = Store().get_dataset("journey").spec
    assert spec.touchpoint("q2").label == "Check-in"
    assert spec.stage_of("q2") == "Arrival"


def test_waves_are_proposed_never_taken_and_confirmed_on_the_page(page: AppTest) -> None:
    text = "id,q1,q2,q3,overall,lived_here_a_year,wave\n" + "".join(
        f"{i},{1 + i % 5},{1 + (i * 3) % 5},{1 + (i * 7) % 5},{1 + (i * 2) % 5},"
        f"{('Yes', 'No')[i % 2]},{2024 + i % 2}\n"
        for i in range(1, 201)
    )
    at = upload(page, "waves.csv", text.encode())
    ok(at.selectbox(key="map_outcome").set_value("overall").run())
    ok(at.selectbox(key="map_kind").set_value("scale").run())
    assert at.selectbox(key="map_waves").value == "", "one wave until confirmed"
    assert "Proposed: wave, named like a wave, 2 values" in captions(at)
    assert "Proposed: lived_here" not in captions(at), "a yes/no answer is no wave"
    ok(at.selectbox(key="map_waves").set_value("wave").run())
    at.text_input(key="upload_name").set_value("waves").run()
    ok(at.button(key="upload_save").click().run())
    assert Store().get_dataset("waves").spec.wave_column == "wave"


def test_edit_a_saved_mapping_into_a_new_version(store_dir: Path) -> None:
    store = Store(store_dir)
    ingest(store, stray(), "survey", IngestOptions(outcome="overall"), "stray.csv")
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    ok(at.switch_page("pages/data.py").run())
    first = store.get_dataset("survey")
    at.selectbox(key="edit_pick").set_value(first.id)
    ok(at.button(key="edit_open").click().run())
    # The stored choices are on the page: outcome, codes, roles.
    assert at.selectbox(key="map_outcome").value == "overall"
    assert at.checkbox(key="map_code_7").value is True
    assert not at.file_uploader  # the edit alone is on the page
    table = roles(at)
    q5 = int(table.index[table.column == "q5"][0])
    edit(at, at.session_state["map_roles_key"], {q5: {"role": "ignore"}})
    ok(at.selectbox(key="map_waves").run())
    assert not at.button(key="edit_save").disabled
    ok(at.button(key="edit_save").click().run())
    new = store.get_dataset("survey")
    assert new.version == 2
    assert "q5" not in new.spec.touchpoint_columns
    assert set(new.spec.touchpoint_columns) == {"q1", "q2", "q3", "q4"}
    assert new.spec.outcome == first.spec.outcome
    assert 7 in new.spec.missing_codes("q3")
    assert "q5" in store.get_dataset("survey", 1).spec.touchpoint_columns
    assert any("version 2" in s.value for s in at.success)


def test_a_viewer_is_offered_no_edit(store_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CMOT_OPEN_ROLE", "viewer")
    store = Store(store_dir)
    ingest(store, stray(), "survey", IngestOptions(outcome="overall"), "stray.csv")
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    ok(at.switch_page("pages/data.py").run())
    assert not [b for b in at.button if b.key == "edit_open"]


def test_the_overview_announces_no_change_until_the_waves_are_confirmed(store_dir: Path) -> None:
    """issue 23: on a single-wave survey the Overview announced a change 'between the last two
    waves' of a yes/no question; only a confirmed wave column gives a headline change."""
    store = Store(store_dir)
    rows = []
    for i in range(600):
        wave = 2024 + i % 2
        q = [1 + (i * k + wave) % 5 for k in (1, 3, 7)]
        overall = 1 + (sum(q) + i % 3) % 5
        yes = ("Yes", "No")[(i // 2) % 2]
        day = ("Mon", "Tue", "Wed")[i % 3]
        rows.append(f"{i},{q[0]},{q[1]},{q[2]},{overall},{yes},{day},{wave}\n")
    data = ("id,q1,q2,q3,overall,lived_here_a_year,interview_day,wave\n" + "".join(rows)).encode()
    info, _ = ingest(store, data, "one", IngestOptions(outcome="overall"), "one.csv")
    assert info.spec.wave_column is None
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params["dataset"] = "one"
    ok(at.run())
    said = " ".join(str(i.value) for i in at.info)
    assert "between the last two waves" not in said and "between the waves" not in said
    reingest(store, info, IngestOptions(spec=info.spec.with_changes(wave_column="wave")))
    again = AppTest.from_file(APP, default_timeout=120)
    again.query_params["dataset"] = "one"
    ok(again.run())
    said = read_as_text(" ".join(str(i.value) for i in again.info))
    assert "between the last two waves" in said and "2024 to 2025" in said, said
