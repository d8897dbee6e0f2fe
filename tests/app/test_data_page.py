"""The Data page's mapping never dead-ends: pick the outcome, confirm codes, choose the weight,
label and merge segments, assign roles in bulk, then save exactly what the page shows."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from cmot.errors import CmotError
from cmot.ingest.detect import Detection
from cmot.ingest.mapping_rules import confirmed_missing, default_kind, finalize_spec, observed_range
from cmot.ingest.mapping_tables import group_sizes, look, scales_text, search_rows
from cmot.ingest.missing_codes import CodeProposal
from cmot.ingest.options import IngestOptions
from cmot.ingest.patterns import match_columns
from cmot.spec import OTHER, JourneySpec, Outcome, Scale, Stage, Touchpoint
from cmot.store.datasets import Store
from cmot.ui import mapping
from tests.app.test_pages import APP, ok
from tests.conftest import SHARED

KANSAS = SHARED / "data" / "kansas-city-resident" / "wave_2021_09.csv"


def synthetic(n: int = 300, seed: int = 7) -> bytes:
    """Ratings 1-5 with 9 = don't know, an outcome `score` with a "Blank" marker and no
    outcome-like name, a weight `wt` and a coded `region` 1-6."""
    rng = np.random.default_rng(seed)
    lines = ["resp_id,q1_a,q1_b,q1_c,q1_d,score,wt,region"]
    for i in range(n):
        r = rng.integers(1, 6, 4)
        dk = rng.random(4) < 0.15
        ratings = ",".join(str(9 if d else int(x)) for x, d in zip(r, dk, strict=True))
        s = int(np.clip(round(r.mean() + rng.normal(0, 0.7)), 1, 5))
        score = "Blank" if rng.random() < 0.05 else str(s)
        wt = rng.uniform(0.5, 2)
        lines.append(f"{i + 1},{ratings},{score},{wt:.3f},{int(rng.integers(1, 7))}")
    return ("\n".join(lines) + "\n").encode()


# ---- pure helpers ------------------------------------------------------------------------


def test_match_columns_exact_name_first_then_patterns() -> None:
    cols = ["Q7_1", "Q7_2", "Q70", "q7_3", "Q8", "Seat [comfort]", "a,b"]
    assert match_columns(cols, "Q7_*") == ["Q7_1", "Q7_2"]
    assert match_columns(cols, "Q7*") == ["Q7_1", "Q7_2", "Q70"]
    assert match_columns(cols, "q8") == ["Q8"]  # no exact case: case-insensitive glob
    assert match_columns(cols, "Seat [comfort]") == ["Seat [comfort]"]  # not a bracket class
    assert match_columns(cols, "a,b") == ["a,b"]
    assert match_columns(cols, "Q8, q7_3") == ["q7_3", "Q8"]  # file order
    with pytest.raises(CmotError, match="No column matches 'Q9\\*'"):
        match_columns(cols, "Q9*")


def test_search_rows_by_word_or_pattern() -> None:
    frame = pd.DataFrame(
        {
            "column": ["q3_01", "q3_02", "q4_01"],
            "question": ["Street maintenance", "Snow removal", "Parks"],
            "role": ["touchpoint", "touchpoint", "attribute"],
            "reason": ["", "", ""],
        }
    )
    assert search_rows(frame, "snow").column.tolist() == ["q3_02"]
    assert search_rows(frame, "q3_*").column.tolist() == ["q3_01", "q3_02"]
    assert search_rows(frame, "attribute").column.tolist() == ["q4_01"]
    assert len(search_rows(frame, "  ")) == 3


def test_confirmed_missing_codes() -> None:
    assert confirmed_missing([9, 0], [True, False], "99, N/A") == (9, 99, "N/A")
    assert confirmed_missing([9], [False], "") == ()  # unticked: nothing is missing
    assert confirmed_missing([], [], "") is None  # nothing proposed or typed: detect
    assert confirmed_missing([9], [True], "9") == (9,)


def test_outcome_kind_and_range_leave_out_markers_and_codes() -> None:
    counts = [("1", 10), ("2", 5), ("5", 30), ("9", 8), ("Blank", 3)]
    assert observed_range(counts) == (1.0, 9.0)
    assert observed_range(counts, (9, "blank")) == (1.0, 5.0)
    assert default_kind(counts, (9, "Blank")) == "scale"
    assert default_kind([("Yes", 3), ("No", 4), ("Blank", 1)], ("Blank",)) == "binary"
    assert default_kind([(str(i), 1) for i in range(11)]) == "recommend"


def test_group_sizes_merge_codes_and_gather_the_rest() -> None:
    counts = [(str(c), n) for c, n in zip(range(1, 10), [5, 7, 11, 2, 3, 13, 1, 1, 4], strict=True)]
    labels = {"1": "Business", "5": "Business", "2": "Leisure", "3": "Leisure", "6": "Leisure"}
    sizes = group_sizes(counts, {**labels, OTHER: "Other"})
    assert sizes.to_dict("records") == [
        {"segment": "Leisure", "codes": "2, 3, 6", "respondents": 31},
        {"segment": "Business", "codes": "1, 5", "respondents": 8},
        {"segment": "Other", "codes": "4, 7, 8, 9", "respondents": 8},
    ]
    # Without `*` every unlabelled code stays its own segment.
    assert len(group_sizes(counts, labels)) == 2 + 4


def test_a_look_at_the_values() -> None:
    assert look([("1", 1), ("2", 3), ("9", 4)]) == "1 (12%), 2 (38%), 9 (50%)"
    many = [(str(i), i) for i in range(1, 12)]
    assert look(many, limit=3) == "9 (14%), 10 (15%), 11 (17%), …"


def _spec() -> JourneySpec:
    return JourneySpec(
        stages=(Stage("Journey", ("a", "b")),),
        touchpoints=(Touchpoint("a"), Touchpoint("b")),
        scale=Scale(1, 5, 2, 5, (9,)),
        outcome=Outcome("y", "scale"),
        weight_column="wt",
        segments=("region",),
        attributes=("region",),
    )


def test_scales_are_shown_with_their_boxes() -> None:
    spec = replace(
        _spec(),
        stages=(Stage("Journey", ("a", "b", "c")),),
        touchpoints=(Touchpoint("a"), Touchpoint("b"), Touchpoint("c")),
        scales={"c": Scale(0, 10, 6, 9)},
    )
    assert scales_text(spec) == (
        "Ratings: 2 touchpoint(s) rated 1-5 (low 1-2, high 5-5); "
        "1 touchpoint(s) rated 0-10 (low 0-6, high 9-10)."
    )


def test_finalize_applies_the_weight_only_when_ticked() -> None:
    out = Outcome("y", "scale", (), 1.0, 5.0)
    unweighted = finalize_spec(_spec(), outcome=out, weight=None, display={}, value_labels={})
    assert unweighted.weight_column is None and "wt" in unweighted.ignored
    assert unweighted.outcome == out
    weighted = finalize_spec(_spec(), outcome=out, weight="wt", display={}, value_labels={})
    assert weighted.weight_column == "wt" and "wt" not in weighted.ignored


def test_finalize_keeps_question_text_and_segment_labels() -> None:
    spec = finalize_spec(
        _spec(),
        outcome=Outcome("y", "scale", (), 1.0, 5.0),
        weight=None,
        display={"a": "Check-in", "region": "Where you live", "y": "Overall"},
        value_labels={"region": {"1": "North", "2": "North", OTHER: "Other"}},
    )
    assert spec.touchpoint("a").name == "Check-in" and spec.touchpoint("b").name == "b"
    assert spec.label_of("region") == "Where you live" and spec.label_of("y") == "Overall"
    assert spec.labels["region"] == {"1": "North", "2": "North", OTHER: "Other"}
    with pytest.raises(CmotError, match="count as positive"):
        finalize_spec(
            _spec(), outcome=Outcome("y", "binary"), weight=None, display={}, value_labels={}
        )


# ---- the page ----------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _fresh_cache() -> Iterator[None]:
    st.cache_data.clear()
    yield
    st.cache_data.clear()


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[IngestOptions]:
    """Records the options every detection gets. Detection's proposals and weight candidates
    are another part's work: where it offers none yet, 9 and `wt` are proposed here, so the
    page is tested on what it does with them."""
    real = mapping.detect_roles
    seen: list[IngestOptions] = []

    def detect(data: bytes, options: IngestOptions, name: str) -> Detection:
        seen.append(options)
        det = real(data, options, name)
        cols = tuple(g.column for g in det.columns)
        if "q1_a" in cols and not det.proposals:
            evidence = "9 holds 15% of answers in 4 columns rated 1-5"
            det = replace(det, proposals=(CodeProposal(9, cols[1:5], evidence),))
        if "wt" in cols and not det.weight_candidates:
            det = replace(det, weight_candidates=("wt",))
        return det

    monkeypatch.setattr(mapping, "detect_roles", detect)
    return seen


@pytest.fixture
def saves(monkeypatch: pytest.MonkeyPatch) -> list[IngestOptions]:
    """Records the options the Save button ingests with."""
    import cmot.store.intake

    real = cmot.store.intake.ingest
    seen: list[IngestOptions] = []

    def ingest(store: Store, data: bytes, name: str, options: IngestOptions, **kw: Any) -> Any:
        seen.append(options)
        return real(store, data, name, options, **kw)

    monkeypatch.setattr(cmot.store.intake, "ingest", ingest)
    return seen


@pytest.fixture
def page(store_dir: Path) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    return at.switch_page("pages/data.py").run()


def upload(at: AppTest, name: str, data: bytes) -> AppTest:
    return ok(at.file_uploader(key="upload").set_value((name, data, "text/csv")).run())


def roles(at: AppTest) -> pd.DataFrame:
    return at.dataframe(key=at.session_state["map_roles_key"]).value


def scale_range(at: AppTest) -> tuple[float, float]:
    return (at.number_input(key="map_range_lo").value, at.number_input(key="map_range_hi").value)


def edit(at: AppTest, key: str, rows: dict[int, dict[str, Any]]) -> AppTest:
    at.session_state[key] = {"edited_rows": rows, "added_rows": [], "deleted_rows": []}
    return ok(at.run())


def test_no_outcome_is_a_prompt_and_every_column_is_shown(
    page: AppTest, calls: list[IngestOptions]
) -> None:
    at = upload(page, "survey.csv", synthetic())
    assert not at.error, "no red box: the mapping waits for the outcome"
    assert any("No outcome was found" in i.value for i in at.info)
    assert not any("--outcome" in i.value for i in at.info), "no command-line flag on the page"
    assert at.selectbox(key="map_outcome").value == ""
    table = roles(at)
    assert table.column.tolist() == [
        "resp_id",
        *("q1_a", "q1_b", "q1_c", "q1_d"),
        *("score", "wt", "region"),
    ]
    assert {"role", "confidence", "reason", "values", "question"} <= set(table.columns)
    assert table["values"].str.len().min() > 0, "every column gives a look at its values"
    assert "Blank" in table.set_index("column")["values"]["score"]
    assert at.button(key="upload_save").disabled


def test_pick_the_outcome_confirm_codes_refuse_the_weight_and_save(
    page: AppTest, calls: list[IngestOptions], saves: list[IngestOptions]
) -> None:
    at = upload(page, "survey.csv", synthetic())
    at.selectbox(key="map_outcome").set_value("score").run()
    ok(at)
    # Numbers with a text marker: a scale, never a yes/no whose positive is "Blank".
    assert at.selectbox(key="map_kind").value == "scale"
    assert at.checkbox(key="map_code_9").value is True, "proposals are ticked by default"
    assert at.checkbox(key="map_weight_wt").value is False, "a weight is offered, not applied"
    at.text_input(key="upload_missing").set_value("Blank").run()
    ok(at)
    assert scale_range(at) == (1.0, 5.0)
    assert not at.button(key="upload_save").disabled
    last = calls[-1]
    assert last.outcome == "score" and last.outcome_kind == "scale"
    assert last.outcome_range == (1.0, 5.0)
    assert last.missing is not None and set(last.missing) == {9, "Blank"}
    at.text_input(key="upload_name").set_value("synthetic").run()
    at.button(key="upload_save").click().run()
    ok(at)
    # Saved with exactly the choices shown: the detection's options, weight refused, the spec.
    (saved,) = saves
    assert saved.spec is not None and saved.weight == "none"
    assert replace(saved, spec=None, weight=None, labels={}) == replace(last, labels={})
    assert at.success and "Saved 'synthetic'" in at.success[0].value
    spec = Store().get_dataset("synthetic").spec
    assert spec.outcome == Outcome("score", "scale", (), 1.0, 5.0)
    assert set(spec.scale.missing) == {9, "Blank"}
    assert spec.weight_column is None
    assert "score" not in spec.touchpoint_columns


def test_unticking_a_proposal_and_ticking_the_weight_reach_the_options(
    page: AppTest, calls: list[IngestOptions], saves: list[IngestOptions]
) -> None:
    at = upload(page, "survey.csv", synthetic())
    at.selectbox(key="map_outcome").set_value("score").run()
    for box in at.checkbox:
        if str(box.key).startswith("map_code_"):  # every proposal unticked
            box.uncheck()
    at.run()
    at.checkbox(key="map_weight_wt").check().run()
    ok(at)
    assert calls[-1].missing == () and calls[-1].weight == "wt"
    assert any("weighted by wt" in c.value for c in at.caption)
    at.text_input(key="upload_name").set_value("weighted").run()
    at.button(key="upload_save").click().run()
    ok(at)
    assert saves[-1].weight == "wt" and saves[-1].missing == ()
    assert Store().get_dataset("weighted").spec.weight_column == "wt"


def test_segment_merges_show_group_sizes_and_are_saved(
    page: AppTest, calls: list[IngestOptions]
) -> None:
    at = upload(page, "survey.csv", synthetic())
    at.selectbox(key="map_outcome").set_value("score").run()
    table = roles(at)
    region = int(table.index[table.column == "region"][0])
    edit(at, at.session_state["map_roles_key"], {region: {"role": "attribute"}})
    assert "region" in calls[-1].roles and calls[-1].roles["region"] == "attribute"
    assert at.selectbox(key="map_seg_col").value == "region"
    labels_key = at.session_state["map_labels_key"]
    codes = at.dataframe(key=labels_key).value
    assert codes.code.tolist() == ["1", "2", "3", "4", "5", "6", OTHER]
    counts = dict(zip(codes.code[:-1], codes.respondents[:-1], strict=True))
    assert sum(counts.values()) == 300 and codes.respondents.iloc[-1] == 300
    edit(
        at,
        labels_key,
        {0: {"label": "Business"}, 4: {"label": "Business"}, 1: {"label": "Leisure"}}
        | {2: {"label": "Leisure"}, 5: {"label": "Leisure"}, 6: {"label": "Other"}},
    )
    groups = next(d.value for d in at.dataframe if "segment" in d.value.columns)
    sizes = groups.set_index("segment").respondents.to_dict()
    assert at.dataframe(key=labels_key).value.respondents.iloc[-1] == counts["4"]
    assert sizes == {
        "Leisure": counts["2"] + counts["3"] + counts["6"],
        "Business": counts["1"] + counts["5"],
        "Other": counts["4"],
    }
    at.text_input(key="upload_name").set_value("merged").run()
    at.button(key="upload_save").click().run()
    ok(at)
    spec = Store().get_dataset("merged").spec
    assert "region" in spec.segments
    assert spec.labels["region"] == {
        "1": "Business",
        "5": "Business",
        "2": "Leisure",
        "3": "Leisure",
        "6": "Leisure",
        OTHER: "Other",
    }


def test_search_bulk_roles_and_question_text(page: AppTest, calls: list[IngestOptions]) -> None:
    at = upload(page, "survey.csv", synthetic())
    at.text_input(key="map_search").set_value("q1_*").run()
    shown = roles(at)
    assert shown.column.tolist() == ["q1_a", "q1_b", "q1_c", "q1_d"]
    table_key = at.session_state["map_roles_key"]
    edit(at, table_key, {0: {"question": "Check-in desk"}})
    # Folded in the run the edit caused, into a new table (see the Scales grid's test).
    assert at.session_state["map_roles_key"] != table_key
    assert roles(at).set_index("column").question["q1_a"] == "Check-in desk"
    at.text_input(key="map_search").set_value("").run()
    table = roles(at)
    assert table.set_index("column").question["q1_a"] == "Check-in desk"
    at.multiselect(key="map_bulk_cols").set_value(["q1_c", "q1_d"]).run()
    at.selectbox(key="map_bulk_role").set_value("ignore").run()
    at.button(key="map_bulk_apply").click().run()
    ok(at)
    table = roles(at).set_index("column")
    assert table.role["q1_c"] == "ignore" and table.role["q1_d"] == "ignore"
    assert table.question["q1_a"] == "Check-in desk", "edits survive a bulk assignment"
    assert at.multiselect(key="map_bulk_cols").value == []
    at.text_input(key="map_bulk_pattern").set_value("nope*").run()
    at.button(key="map_bulk_apply").click().run()
    ok(at)
    assert any("No column matches 'nope*'" in w.value for w in at.warning)
    at.selectbox(key="map_outcome").set_value("score").run()
    at.text_input(key="upload_name").set_value("bulk").run()
    at.button(key="upload_save").click().run()
    ok(at)
    spec = Store().get_dataset("bulk").spec
    assert {"q1_a", "q1_b"} <= set(spec.touchpoint_columns)
    assert "q1_c" in spec.ignored and "q1_d" in spec.ignored
    assert spec.touchpoint("q1_a").name == "Check-in desk"


def test_choices_are_kept_per_file(page: AppTest, calls: list[IngestOptions]) -> None:
    first, second = synthetic(seed=1), synthetic(seed=2)
    at = upload(page, "a.csv", first)
    at.selectbox(key="map_outcome").set_value("score").run()
    at.text_input(key="upload_missing").set_value("Blank").run()
    at = upload(at, "b.csv", second)
    assert at.selectbox(key="map_outcome").value == ""
    assert at.text_input(key="upload_missing").value == ""
    at = upload(at, "a.csv", first)
    assert at.selectbox(key="map_outcome").value == "score"
    assert at.text_input(key="upload_missing").value == "Blank"
    # Removing the file and uploading it again keeps what was entered too.
    ok(at.file_uploader(key="upload").set_value(None).run())
    assert "map_outcome" not in [s.key for s in at.selectbox]
    at = upload(at, "a.csv", first)
    assert at.selectbox(key="map_outcome").value == "score"
    assert at.text_input(key="upload_missing").value == "Blank"


def test_a_workbook_with_several_sheets_gets_a_sheet_picker(
    page: AppTest, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = mapping.detect_roles
    sheets: list[str | None] = []

    def detect(data: bytes, options: IngestOptions, name: str) -> Detection:
        sheets.append(options.sheet)
        if options.sheet == "Wave 2":  # another sheet: `region` is called `area` there
            data = data.replace(b",region\n", b",area\n", 1)
        det = real(data, replace(options, sheet=None), name)
        return replace(det, format="excel", sheets=("Wave 1", "Wave 2"), sheet=options.sheet)

    monkeypatch.setattr(mapping, "detect_roles", detect)
    at = upload(page, "survey.csv", synthetic())
    assert at.selectbox(key="map_sheet").value == "Wave 1"
    table = roles(at)
    region = int(table.index[table.column == "region"][0])
    edit(at, at.session_state["map_roles_key"], {region: {"role": "attribute"}})
    at.selectbox(key="map_sheet").set_value("Wave 2").run()
    ok(at)
    assert not at.error, "a role for a column the sheet lacks is dropped, not an error"
    assert sheets[-1] == "Wave 2" and "area" in roles(at).column.tolist()


def test_upload_types_include_spss_and_excel(page: AppTest) -> None:
    assert {"csv", "txt", "sav", "xlsx"} <= set(mapping.UPLOAD_TYPES)
    types = list(page.get("file_uploader")[0].proto.type)
    assert {".csv", ".sav", ".xlsx"} <= set(types)


@pytest.fixture
def kansas() -> bytes:
    if not KANSAS.exists():
        pytest.skip(f"the Kansas City survey is not at {KANSAS} (../shared beside the repo)")
    return KANSAS.read_bytes()


def test_kansas_city_pick_outcome_assign_by_pattern_and_save(page: AppTest, kansas: bytes) -> None:
    at = upload(page, KANSAS.name, kansas)
    assert not at.error
    assert len(roles(at)) == 160, "every column of the 160 is in the table"
    outcome = at.selectbox(key="map_outcome")
    if outcome.value == "":
        assert any("No outcome was found" in i.value for i in at.info)
    outcome.set_value("q2_01").run()
    ok(at)
    at.selectbox(key="map_kind").set_value("scale").run()
    proposed = {k for k in at.session_state if str(k).startswith("map_code_")}
    if "map_code_9" not in proposed:
        at.text_input(key="upload_missing").set_value("9").run()
    ok(at)
    assert scale_range(at) == (1.0, 5.0)
    at.text_input(key="map_bulk_pattern").set_value("q3_*").run()
    at.selectbox(key="map_bulk_role").set_value("touchpoint").run()
    at.button(key="map_bulk_apply").click().run()
    ok(at)
    assert any("16 column(s) set to touchpoint" in s.value for s in at.success)
    assert not at.button(key="upload_save").disabled
    at.text_input(key="upload_name").set_value("kansas").run()
    at.button(key="upload_save").click().run()
    ok(at)
    assert at.sidebar.selectbox(key="dataset").value == "kansas"
    info = Store().get_dataset("kansas")
    assert info.rows_read == 1033
    spec = info.spec
    assert spec.outcome.column == "q2_01" and spec.outcome.kind == "scale"
    assert (spec.outcome.min, spec.outcome.max) == (1.0, 5.0)
    assert {f"q3_{i:02d}" for i in range(1, 17)} <= set(spec.touchpoint_columns)
    assert 9 in spec.missing_codes("q3_01")


def test_outcome_role_in_the_table_moves_the_picker_and_markers_are_never_positive(
    page: AppTest, calls: list[IngestOptions]
) -> None:
    at = upload(page, "survey.csv", synthetic())
    table = roles(at)
    score = int(table.index[table.column == "score"][0])
    edit(at, at.session_state["map_roles_key"], {score: {"role": "outcome"}})
    assert at.selectbox(key="map_outcome").value == "score"
    assert roles(at).set_index("column").role["score"] == "outcome"
    key = at.session_state["map_roles_key"]
    ok(at.run())
    assert at.session_state["map_roles_key"] == key, "the table keeps its key once settled"
    # Back to a touchpoint in the table, then the picker again: the picker wins.
    edit(at, key, {score: {"role": "touchpoint"}})
    assert at.selectbox(key="map_outcome").value == ""
    at.selectbox(key="map_outcome").set_value("score").run()
    ok(at.run())
    assert at.selectbox(key="map_outcome").value == "score"
    assert roles(at).set_index("column").role["score"] == "outcome"
    at.selectbox(key="map_kind").set_value("binary").run()
    at.text_input(key="upload_missing").set_value("Blank").run()
    ok(at)
    assert "Blank" not in at.multiselect(key="map_positive").options
    at.multiselect(key="map_positive").set_value(["4", "5"]).run()
    ok(at)
    assert calls[-1].outcome_kind == "binary" and calls[-1].positive == ("4", "5")
    assert not at.button(key="upload_save").disabled


def test_an_id_as_outcome_is_warned_about(page: AppTest, calls: list[IngestOptions]) -> None:
    at = upload(page, "survey.csv", synthetic())
    at.selectbox(key="map_outcome").set_value("resp_id").run()
    ok(at)
    assert any("looks like an id" in w.value for w in at.warning)
