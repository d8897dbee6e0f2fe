"""The Data page's "Link datasets as waves": one dataset is a prompt, the proposals are an
editable table, a fix reaches the saved link, a column chosen twice is refused, links are
listed and deleted."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from cmot.errors import CmotError
from cmot.ingest.options import IngestOptions
from cmot.store.datasets import Store
from cmot.store.demo import WAVE_COLUMN, WAVE_LABELS, demo_spec, generate_waves
from cmot.store.intake import ingest
from cmot.ui.links import edited_mapping
from tests.app.test_pages import APP, ok

RENAMED = {"Invoicing": "billing", "Site visits": "SITE VISITS "}


@pytest.fixture
def two_waves(store_dir: Path, tmp_path: Path) -> tuple[int, int]:
    """The demo's first two waves stored, the second with two columns renamed."""
    st.cache_data.clear()
    store = Store(store_dir)
    data = generate_waves(n_per_segment=150, seed=5)
    ids = []
    for k, label in enumerate(WAVE_LABELS[:2]):
        part = data.frame[data.frame[WAVE_COLUMN] == label].drop(columns=WAVE_COLUMN)
        spec = demo_spec()
        if k:
            part = part.rename(columns=RENAMED)
            tps = tuple(
                replace(t, column=RENAMED.get(t.column, t.column).strip()) for t in spec.touchpoints
            )
            stages = tuple(
                replace(s, touchpoints=tuple(RENAMED.get(c, c).strip() for c in s.touchpoints))
                for s in spec.stages
            )
            spec = replace(spec, touchpoints=tps, stages=stages)
        path = tmp_path / f"w{label}.csv"
        part.to_csv(path, index=False)
        info, _ = ingest(store, path, f"wave {label}", IngestOptions(spec=spec))
        ids.append(info.id)
    return ids[0], ids[1]


def test_edited_mapping_refuses_a_column_chosen_twice() -> None:
    table = pd.DataFrame({"first-wave column": ["a", "b", "c"], "other column": ["x", "", "x"]})
    with pytest.raises(CmotError, match="x is chosen for two"):
        edited_mapping(table)
    table.loc[2, "other column"] = "z"
    assert edited_mapping(table) == {"x": "a", "z": "c"}


def test_link_two_waves_fix_a_match_and_save(store_dir: Path, two_waves: tuple[int, int]) -> None:
    first, second = two_waves
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    at = ok(at.switch_page("pages/data.py").run())
    at = ok(at.multiselect(key="link_pick").select("wave 2025").run())
    assert any("Pick two datasets or more" in i.value for i in at.info)
    at = ok(at.multiselect(key="link_pick").select("wave 2026").run())
    key = f"link_matches_{first}_{second}"
    shown = at.dataframe(key=key).value
    got = dict(zip(shown["first-wave column"], shown["other column"], strict=True))
    how = dict(zip(shown["first-wave column"], shown["how"], strict=True))
    assert got["Site visits"] == "SITE VISITS" and how["Site visits"] == "name"
    assert got["Pricing clarity"] == "Pricing clarity"
    # the fix: Invoicing is "billing" (taken from any other row it was proposed for)
    edits: dict[int, dict[str, str]] = {
        r: {"other column": ""}
        for r, o in enumerate(shown["other column"])
        if o == "billing" and shown["first-wave column"][r] != "Invoicing"
    }
    edits[list(shown["first-wave column"]).index("Invoicing")] = {"other column": "billing"}
    at.session_state[key] = {"edited_rows": edits, "added_rows": [], "deleted_rows": []}
    at = ok(at.run())
    at.text_input(key="link_name").input("demo waves")
    at = ok(at.text_input(key="link_labels").input("2025, 2026").run())
    at = ok(at.button(key="link_save").click().run())
    assert any("Saved link 'demo waves'" in s.value for s in at.success), [
        e.value for e in at.error
    ]
    link = Store(store_dir).get_link("demo waves")
    assert link.labels == ("2025", "2026")
    assert link.mapping[second]["billing"] == "Invoicing"
    assert link.mapping[second]["SITE VISITS"] == "Site visits"
    at = ok(at.selectbox(key="link_delete_pick").select("demo waves").run())
    at = ok(at.button(key="link_delete").click().run())
    assert Store(store_dir).list_links().empty
