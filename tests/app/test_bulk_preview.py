"""The Data page says what a choice does before it does it (issue 23, items 4 and 7): a name
pattern's matches (count and names) before Apply assigns them, brackets taken literally;
a mapping that drops over a tenth of the respondents warns with the count before Save."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from tests.app.test_pages import APP, ok
from tests.conftest import KANSAS_CSV


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


def upload(at: AppTest, name: str, data: bytes) -> AppTest:
    return ok(at.file_uploader(key="upload").set_value((name, data, "text/csv")).run())


def plain(text: str) -> str:
    """Markdown as read: escapes dropped."""
    return text.replace("\\", "")


def captions(at: AppTest) -> list[str]:
    return [plain(c.value) for c in at.caption]


def roles(at: AppTest) -> dict[str, str]:
    frame = at.dataframe(key=at.session_state["map_roles_key"]).value
    return dict(zip(frame.column, frame.role, strict=True))


BRACKETS = "id,Q1[01],Q1[02],Q10[01],Q11[01],Q11[02],overall\n" + "".join(
    f"{i},{i % 5 + 1},{(i * 3) % 5 + 1},{(i * 7) % 5 + 1},{(i * 2) % 5 + 1},{(i * 4) % 5 + 1},"
    f"{(i * 11) % 5 + 1}\n"
    for i in range(60)
)


def test_a_bracket_pattern_previews_its_one_match_and_assigns_only_it(page: AppTest) -> None:
    at = upload(page, "brackets.csv", BRACKETS.encode())
    at.text_input(key="map_bulk_pattern").set_value("Q1[01]*").run()
    ok(at)
    assert "Apply sets Q1[01]*: 1 column (Q1[01])." in captions(at)
    at.selectbox(key="map_bulk_role").set_value("ignore").run()
    at.button(key="map_bulk_apply").click().run()
    ok(at)
    assert any("1 column(s) set to ignore" in s.value for s in at.success)
    now = roles(at)
    assert now["Q1[01]"] == "ignore"
    assert all(now[c] != "ignore" for c in ("Q1[02]", "Q10[01]", "Q11[01]", "Q11[02]"))


def test_a_pattern_typed_and_applied_at_once_is_shown_first(page: AppTest) -> None:
    at = upload(page, "brackets.csv", BRACKETS.encode())
    at.selectbox(key="map_bulk_role").set_value("ignore").run()
    at.text_input(key="map_bulk_pattern").set_value("Q11?*")
    at.button(key="map_bulk_apply").click().run()
    ok(at)
    said = [plain(i.value) for i in at.info]
    assert "Q11?*: 2 columns (Q11[01], Q11[02]). Apply again to set them." in said
    assert roles(at)["Q11[01]"] != "ignore", "nothing assigned before it was shown"
    at.button(key="map_bulk_apply").click().run()
    ok(at)
    assert any("2 column(s) set to ignore" in s.value for s in at.success)
    now = roles(at)
    assert now["Q11[01]"] == now["Q11[02]"] == "ignore" and now["Q10[01]"] != "ignore"


def test_a_pattern_matching_nothing_says_so_before_apply(page: AppTest) -> None:
    at = upload(page, "brackets.csv", BRACKETS.encode())
    at.text_input(key="map_bulk_pattern").set_value("Q1[0-1]*").run()
    ok(at)
    assert any("No column matches 'Q1[0-1]*'" in c for c in captions(at))


@pytest.fixture
def kansas() -> bytes:
    if not KANSAS_CSV.exists():
        pytest.skip(f"the Kansas City survey is not at {KANSAS_CSV} (../shared beside the repo)")
    return KANSAS_CSV.read_bytes()


def test_kansas_city_preview_then_a_drop_over_a_tenth_warns_before_save(
    page: AppTest, kansas: bytes
) -> None:
    at = upload(page, KANSAS_CSV.name, kansas)
    at.text_input(key="map_bulk_pattern").set_value("q3_*").run()
    ok(at)
    shown = [c for c in captions(at) if c.startswith("Apply sets q3_*")]
    assert shown == [
        "Apply sets q3_*: 16 columns (" + ", ".join(f"q3_{i:02d}" for i in range(1, 17)) + ")."
    ]
    at.button(key="map_bulk_apply").click().run()
    ok(at)
    assert any("16 column(s) set to touchpoint" in s.value for s in at.success)
    # q2_07 (the education system): 121 of 1,033 answered 9 = don't know
    at.selectbox(key="map_outcome").set_value("q2_07").run()
    at.selectbox(key="map_kind").set_value("scale").run()
    ok(at)
    assert not at.button(key="upload_save").disabled
    warned = [plain(w.value) for w in at.warning if "respondents" in w.value]
    assert warned and warned[0].startswith("121 of 1,033 respondents (12%) are dropped")
    at.selectbox(key="map_outcome").set_value("q2_01").run()
    at.selectbox(key="map_kind").set_value("scale").run()
    ok(at)
    assert not [w for w in at.warning if "respondents" in w.value], "15 of 1,033: no warning"


def test_kansas_city_a_declared_code_inside_the_outcome_range_is_said(
    page: AppTest, kansas: bytes
) -> None:
    at = upload(page, KANSAS_CSV.name, kansas)
    at.selectbox(key="map_outcome").set_value("q2_01").run()
    at.selectbox(key="map_kind").set_value("scale").run()
    at.text_input(key="upload_missing").set_value("3").run()
    ok(at)
    # the range stays 1-5 as typed by the analyst: 3 is a score of the outcome
    at.number_input(key="map_range_lo").set_value(1.0).run()
    at.number_input(key="map_range_hi").set_value(5.0).run()
    ok(at)
    assert any("kept as answers in q2_01" in c for c in captions(at))
    at.text_input(key="upload_name").set_value("kc").run()
    at.button(key="upload_save").click().run()
    ok(at)
    from cmot.store.datasets import Store

    info = Store().get_dataset("kc")
    assert info.rows_kept == 1033 - 15, "the outcome's 284 answers of 3 are kept"
