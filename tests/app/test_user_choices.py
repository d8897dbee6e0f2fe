"""The user's choices win, and insufficient means no number (issue 23, items 6 and 10), on the
Kansas City resident survey as a new user maps it on the Data page: the segment column chosen
there is the sidebar's default segmentation, a code declared 'no answer' is never a segment,
the outcome the user did not touch is not 'set by you', and a district too small for the
47-touchpoint fit shows no penalty, reward or what-if figure."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from cmot.store.datasets import Store
from cmot.store.demo import ensure_demo
from tests.app.kc import KC_CSV, ingest_kc, kc_csv
from tests.app.panels import open_panels
from tests.app.test_pages import APP, ok, texts


@pytest.fixture(autouse=True)
def _fresh_caches() -> Iterator[None]:
    from cmot.results.moments import clear_cache

    clear_cache()
    st.cache_data.clear()
    yield
    st.cache_data.clear()


def _roles(at: AppTest) -> pd.DataFrame:
    return at.dataframe(key=at.session_state["map_roles_key"]).value


def _mapped(store_dir: Path) -> AppTest:
    """The Data page with Kansas City uploaded: outcome q2_01 (1-5), 9 and 99 no answer, the
    16 city-service items as touchpoints."""
    kc_csv()
    at = AppTest.from_file(APP, default_timeout=180)
    at.run()
    at.switch_page("pages/data.py").run()
    at.file_uploader(key="upload").set_value((KC_CSV.name, KC_CSV.read_bytes(), "text/csv"))
    ok(at.run())
    at.selectbox(key="map_outcome").set_value("q2_01").run()
    at.selectbox(key="map_kind").set_value("scale").run()
    for code in ("9", "99"):
        if f"map_code_{code}" in at.session_state:
            at.checkbox(key=f"map_code_{code}").check()
    at.text_input(key="upload_missing").set_value("9, 99").run()
    at.text_input(key="map_bulk_pattern").set_value("q3_*").run()
    at.selectbox(key="map_bulk_role").set_value("touchpoint").run()
    at.button(key="map_bulk_apply").click().run()
    if not any("16 column(s) set to touchpoint" in m.value for m in at.success):
        at.button(key="map_bulk_apply").click().run()  # a typed pattern is shown first
    assert any("16 column(s) set to touchpoint" in m.value for m in at.success)
    return ok(at)


def _save(at: AppTest, name: str) -> AppTest:
    assert not at.button(key="upload_save").disabled, [i.value for i in at.info]
    at.text_input(key="upload_name").set_value(name).run()
    at.button(key="upload_save").click().run()
    ok(at)
    assert at.sidebar.selectbox(key="dataset").value == name
    return at


def test_the_segment_chosen_on_the_data_page_is_the_sidebars_default(store_dir: Path) -> None:
    at = _mapped(store_dir)
    offered = at.selectbox(key="map_seg_col").options
    assert "counci" in offered
    at.selectbox(key="map_seg_col").set_value("counci").run()
    ok(at)
    _save(at, "kc")
    spec = Store().get_dataset("kc").spec
    assert spec.segments[0] == "counci"
    at.switch_page("pages/overview.py").run()
    ok(at)
    assert at.sidebar.selectbox(key="seg").value == "counci"


def test_with_no_segment_chosen_the_default_is_the_whole_sample(store_dir: Path) -> None:
    at = _save(_mapped(store_dir), "kc")
    at.switch_page("pages/overview.py").run()
    ok(at)
    spec = Store().get_dataset("kc").spec
    seg = at.sidebar.selectbox(key="seg").value
    assert seg == "(whole sample)" or seg in spec.segments
    assert seg not in (spec.date_column, spec.id_column)


def test_a_no_answer_code_is_never_a_segment(store_dir: Path) -> None:
    """q34_d holds 1, 2 and 9 (16 respondents): 9 is declared no answer for the survey."""
    at = _mapped(store_dir)
    at.selectbox(key="map_seg_col").set_value("q34_d").run()
    ok(at)
    groups = next(d.value for d in at.dataframe if "segment" in d.value.columns)
    assert set(groups.segment) == {"1", "2"}, "9 is no segment on the Data page either"
    assert any("9: no answer, no segment" in c.value for c in at.caption)
    _save(at, "kc")
    at.switch_page("pages/compare.py").run()
    ok(at)
    assert at.sidebar.selectbox(key="seg").value == "q34_d"
    offered = at.multiselect(key="compare").options
    assert "9" not in offered and {"1", "2"} <= set(offered)
    at.switch_page("pages/moments.py").run()
    assert "9" not in at.selectbox(key="segment").options
    # Nor as a filter value.
    open_panels(at)
    at.sidebar.selectbox(key="f_col").set_value("q34_d").run()
    ok(at)
    assert "9" not in at.multiselect(key="f_val").options


def _detected_outcome_csv(n: int = 200) -> bytes:
    """Ratings q1-q4 on 1-5 and an outcome named like one (`overall_satisfaction`)."""
    import numpy as np

    rng = np.random.default_rng(3)
    lines = ["resp_id,q1,q2,q3,q4,overall_satisfaction,region"]
    for i in range(n):
        r = rng.integers(1, 6, 4)
        y = int(np.clip(round(r.mean() + rng.normal(0, 0.6)), 1, 5))
        lines.append(f"{i + 1},{','.join(map(str, r))},{y},{int(rng.integers(1, 4))}")
    return ("\n".join(lines) + "\n").encode()


def test_the_outcome_nobody_touched_is_not_set_by_you(store_dir: Path) -> None:
    """A detected outcome keeps detection's confidence and reason; one the user picks says
    'set by you'. The picker's help gives the chosen column's full question text."""
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    at.switch_page("pages/data.py").run()
    at.file_uploader(key="upload").set_value(("s.csv", _detected_outcome_csv(), "text/csv"))
    ok(at.run())
    assert at.selectbox(key="map_outcome").value == "overall_satisfaction"
    table = _roles(at).set_index("column")
    assert table.loc["overall_satisfaction", "role"] == "outcome"
    assert table.loc["overall_satisfaction", "reason"] != "set by you"
    assert table.loc["overall_satisfaction", "confidence"] < 1.0
    assert not (table.reason == "set by you").any(), table[table.reason == "set by you"]
    assert "overall_satisfaction" in at.selectbox(key="map_outcome").help.replace("\\", "")
    # Picked by the user: now it is theirs.
    at.selectbox(key="map_outcome").set_value("q4").run()
    ok(at)
    table = _roles(at).set_index("column")
    assert table.loc["q4", "reason"] == "set by you"


def test_kansas_city_outcome_picked_by_the_user_is_theirs(store_dir: Path) -> None:
    at = _mapped(store_dir)
    table = _roles(at).set_index("column")
    assert table.loc["q2_01", "reason"] == "set by you"  # picked in _mapped
    assert "q2_01" in at.selectbox(key="map_outcome").help.replace("\\", "")


# ---- insufficient means no number --------------------------------------------------------


@pytest.fixture
def kc(store_dir: Path) -> AppTest:
    """The whole 47-touchpoint journey by council district: every district is insufficient."""
    kc_csv()
    store = Store(store_dir)
    ensure_demo(store)
    ingest_kc(store, "kc")
    at = AppTest.from_file(APP, default_timeout=180)
    at.query_params["dataset"] = "kc"
    at.query_params["seg"] = "counci"
    at.query_params["pool"] = "none"  # each segment alone (pooled, every district has one)
    return ok(at.run())


def test_an_insufficient_segment_shows_no_penalty_and_no_what_if(kc: AppTest) -> None:
    ok(kc.switch_page("pages/moments.py").run())
    assert kc.selectbox(key="segment").value == "6"
    table = kc.dataframe[0].value
    for col in ("Low rating costs", "Top rating adds", "At stake", "Just enough", "How sure"):
        assert (table[col] == "–").all(), col  # nothing to show: a dash, never None
    assert table.Note.str.contains("needs at least 470").all()
    assert not kc.get("vega_lite_chart"), "no butterfly, no impact chart"
    assert "No penalty, reward or impact is shown" in texts(kc)
    # The whole sample keeps its figures.
    kc.selectbox(key="segment").set_value("All").run()
    ok(kc)
    assert (kc.dataframe[0].value["Low rating costs"] != "–").any()
    assert kc.get("vega_lite_chart")

    ok(kc.switch_page("pages/actions.py").run())
    kc.selectbox(key="segment").set_value("6").run()
    ok(kc)
    plan = kc.dataframe[0].value
    assert (plan["At stake"] == "–").all()  # nothing at stake: a dash, never None
    (metric,) = [m for m in kc.metric if m.label.startswith("Predicted")]
    assert metric.value == "–" and not metric.delta
    assert "No prediction" in texts(kc) and "needs at least 470" in texts(kc)
    # The whole sample (no segmentation) predicts as before.
    kc.sidebar.selectbox(key="seg").set_value("(whole sample)").run()
    ok(kc)
    tp = next(t for t in kc.selectbox(key="wi_tp").options)
    kc.selectbox(key="wi_tp").set_value(tp).run()
    (metric,) = [m for m in kc.metric if m.label.startswith("Predicted")]
    assert metric.value != "–"
    assert math.isfinite(float(metric.value.split()[0].rstrip("%")))


def _blank_region_csv(n: int = 600) -> bytes:
    """An outcome named like one, three ratings, and `region`: North, South, a blank " "."""
    import numpy as np

    rng = np.random.default_rng(5)
    lines = ["rid,q1,q2,q3,overall_satisfaction,region"]
    for i in range(n):
        r = rng.integers(1, 6, 3)
        y = int(np.clip(round(r.mean() + rng.normal(0, 0.5)), 1, 5))
        region = ["North", "South", '" "'][i % 3]
        lines.append(f"{i},{r[0]},{r[1]},{r[2]},{y},{region}")
    return ("\n".join(lines) + "\n").encode()


def test_a_label_given_to_a_blank_code_is_the_segments_title(store_dir: Path) -> None:
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    at.switch_page("pages/data.py").run()
    at.file_uploader(key="upload").set_value(("b.csv", _blank_region_csv(), "text/csv"))
    ok(at.run())
    at.selectbox(key="map_seg_col").set_value("region").run()
    key = at.session_state["map_labels_key"]
    codes = at.dataframe(key=key).value.code.tolist()
    assert codes[0] == " ", codes
    at.session_state[key] = {
        "edited_rows": {0: {"label": "Not stated"}},
        "added_rows": [],
        "deleted_rows": [],
    }
    ok(at.run())
    _save(at, "blank")
    ok(at.switch_page("pages/moments.py").run())
    assert at.sidebar.selectbox(key="seg").value == "region"
    offered = at.selectbox(key="segment").options
    assert "Not stated" in offered and " " not in offered and "" not in offered


def test_cut_question_texts_keep_what_tells_them_apart() -> None:
    from cmot.ingest.mapping_rules import short_label

    stem = "Overall quality of the services provided by the City of Kansas City - "
    texts = [stem + end for end in ("Police", "Fire and ambulance", "Parks and recreation")]
    cut = [short_label(t) for t in texts]
    assert len(set(cut)) == 3 and all(len(c) <= 61 for c in cut)
    assert all(c.startswith("Overall quality") and "…" in c for c in cut)
    assert cut[0].endswith("Police")
    assert short_label("Short question") == "Short question"
