"""Column harmonisation across waves: name normalisation, proposals by name, question text
and values, and the real Kansas City waves with one wave's columns renamed, dropped and
re-cased: the proposals find them and the linked trend equals the trend on the files."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest

from cmot.ingest.options import IngestOptions
from cmot.results.trend import compute_trend
from cmot.store.datasets import Store
from cmot.store.intake import ingest
from cmot.waves.harmonise import (
    MAX_TVD,
    ColumnsInfo,
    columns_info,
    describe_values,
    mapping_of,
    normalise_name,
    propose_matches,
    total_variation,
)
from cmot.waves.sources import Wave, waves_from_link, waves_from_relations
from tests.conftest import DATA, need_real

KC = DATA / "kansas-city-resident"


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        ("q3_01", "q3_01", True),
        ("q3_01", "Q3_01", True),
        ("q3_01", "  q3_01 ", True),
        ("q3_01", "Q3-01", True),
        ("q3_01", "q3 01", True),
        ("Overall satisfaction", "overall_satisfaction", True),
        ("Überall", "überall", True),
        ("q3_01", "q3_02", False),
        ("q3_01", "q3_011", False),
        ("wait time", "wait times", False),
    ],
)
def test_name_normalisation(a: str, b: str, same: bool) -> None:
    assert (normalise_name(a) == normalise_name(b)) is same


def test_total_variation_and_value_text() -> None:
    assert total_variation({"1": 0.5, "2": 0.5}, {"1": 0.5, "2": 0.5}) == 0.0
    assert total_variation({"1": 1.0}, {"2": 1.0}) == 1.0
    assert total_variation({"1": 0.6, "2": 0.4}, {"1": 0.5, "2": 0.5}) == pytest.approx(0.1)
    assert describe_values(["1", "2", "3", "4", "5", "9"]) == "1-5,9"
    assert describe_values(["Web", "Mail"]) == "Mail, Web"


def _info(names: list[str], **kw: object) -> ColumnsInfo:
    return ColumnsInfo(tuple(names), **kw)  # type: ignore[arg-type]


def test_proposals_by_name_label_values_and_none() -> None:
    a = {"1": 0.1, "2": 0.2, "3": 0.3, "4": 0.2, "5": 0.2}
    b = {"1": 0.4, "2": 0.3, "3": 0.1, "4": 0.1, "5": 0.1}
    first = _info(
        ["id", "Wait", "q1", "q2", "q3", "gone"],
        labels={"q1": "How friendly was the staff?"},
        shares={"q2": a, "q3": b, "gone": {"x": 0.5, "y": 0.5}},
        missing={"q2": (9,)},
    )
    other = _info(
        ["id", " WAIT ", "how friendly was the staff", "renamed", "new"],
        shares={"renamed": {k: v + (0.02 if k == "1" else -0.005) for k, v in a.items()}},
        missing={"renamed": ("BLANK",)},
    )
    got = {m.first_column: m for m in propose_matches(first, other)}
    assert [m.first_column for m in propose_matches(first, other)] == list(first.names)
    assert (got["id"].other_column, got["id"].how) == ("id", "name")
    assert (got["Wait"].other_column, got["Wait"].how) == (" WAIT ", "name")
    assert "ignoring case" in got["Wait"].evidence
    assert (got["q1"].other_column, got["q1"].how) == ("how friendly was the staff", "label")
    assert got["q1"].evidence == "same question text"
    assert (got["q2"].other_column, got["q2"].how) == ("renamed", "values")
    assert got["q2"].evidence.startswith("same values 1-5; shares differ by 0.02")
    # each wave keeps its own missing codes, and the evidence says they differ
    assert "missing codes 9 and BLANK" in got["q2"].evidence
    assert got["q3"].how == "none" and got["q3"].other_column is None  # too far apart
    assert got["gone"].how == "none"
    assert mapping_of(tuple(got.values())) == {
        "id": "id",
        " WAIT ": "Wait",
        "how friendly was the staff": "q1",
        "renamed": "q2",
    }


def test_each_column_is_matched_once_best_first() -> None:
    a = {"1": 0.5, "2": 0.5}
    first = _info(["x", "y"], shares={"x": a, "y": {"1": 0.45, "2": 0.55}})
    other = _info(["z"], shares={"z": {"1": 0.46, "2": 0.54}})
    got = propose_matches(first, other)
    assert [(m.first_column, m.other_column) for m in got] == [("x", None), ("y", "z")]
    # a different value set never matches by values, however close the shares
    far = _info(["z"], shares={"z": {"1": 0.5, "3": 0.5}})
    assert propose_matches(first, far)[0].how == "none"
    assert MAX_TVD == 0.10


# ---- the real Kansas City waves -----------------------------------------------------------

TOUCHPOINTS = [f"q3_{i:02d}" for i in range(1, 17)] + [f"q9_{i:02d}" for i in range(1, 7)]
# the second wave's columns: to the label text, to other names, re-cased and padded, dropped
RENAMED = {
    "q3_01": "Police services",  # labels.csv: police_services
    "q3_05": "water_rating",
    "q9_03": "sidewalks_city",
    "q3_02": " Q3_02 ",
    "q9_01": "Q9-01",
    "q2_01": "  Q2_01",  # the outcome too
}
DROPPED = ["q3_09", "q9_04"]
BY_VALUES = {"q3_05", "q9_03"}
BY_LABEL = {"q3_01"}


def _options(touchpoints: list[str], outcome: str = "q2_01") -> IngestOptions:
    return IngestOptions(outcome=outcome, missing=(9, 99), touchpoints=tuple(touchpoints))


def _labelled_first(store: Store) -> int:
    """Wave 1 ingested as the CLI would, then again with labels.csv's question texts."""
    first = need_real(KC / "wave_2021_09.csv")
    info, _ = ingest(store, first, "kc1", _options(TOUCHPOINTS))
    names = pd.read_csv(need_real(KC / "labels.csv")).set_index("column").iloc[:, 0]
    spec = info.spec
    tps = tuple(replace(t, label=str(names.get(t.column, ""))) for t in spec.touchpoints)
    info, _ = ingest(store, first, "kc1", IngestOptions(spec=replace(spec, touchpoints=tps)))
    return info.id


def _modified_second(tmp_path: Path) -> Path:
    raw = pd.read_csv(need_real(KC / "wave_2022_03.csv"), dtype=str, keep_default_na=False)
    out = tmp_path / "wave_2022_03_renamed.csv"
    raw.drop(columns=DROPPED).rename(columns=RENAMED).to_csv(out, index=False)
    return out


@pytest.fixture(scope="module")
def kc_store(tmp_path_factory: pytest.TempPathFactory) -> tuple[Store, int, int, int]:
    """A store with wave 1 (labelled), wave 2 as is, and wave 2 renamed: their ids."""
    folder = tmp_path_factory.mktemp("kc")
    store = Store(folder / "store")
    first = _labelled_first(store)
    keep = [c for c in TOUCHPOINTS if c not in DROPPED]
    plain, _ = ingest(store, need_real(KC / "wave_2022_03.csv"), "kc2", _options(TOUCHPOINTS))
    # reading trims the padding off column names: the store holds " Q3_02 " as "Q3_02"
    renamed = [RENAMED.get(c, c).strip() for c in keep]
    mod, _ = ingest(
        store, _modified_second(folder), "kc2renamed", _options(renamed, RENAMED["q2_01"].strip())
    )
    return store, first, plain.id, mod.id


def test_kansas_city_proposals_find_renamed_dropped_and_recased(
    kc_store: tuple[Store, int, int, int],
) -> None:
    store, first, _, mod = kc_store
    a, b = columns_info(store, first), columns_info(store, mod)
    got = {m.first_column: m for m in propose_matches(a, b)}
    for old, new in RENAMED.items():
        assert got[old].other_column == new.strip(), (old, got[old])
        want = "values" if old in BY_VALUES else "label" if old in BY_LABEL else "name"
        assert got[old].how == want, got[old]
    for col in DROPPED:
        assert got[col].how == "none", got[col]
    for col in set(TOUCHPOINTS) - set(RENAMED) - set(DROPPED):
        assert (got[col].other_column, got[col].how) == (col, "name")
    assert "same values 1-5; shares differ by" in got["q3_05"].evidence


def test_kansas_city_linked_trend_equals_the_trend_on_the_files(
    kc_store: tuple[Store, int, int, int],
) -> None:
    store, first, plain, mod = kc_store
    mapping = mapping_of(propose_matches(columns_info(store, first), columns_info(store, mod)))
    store.save_link("kc", [first, mod], ["2021-09", "2022-03"], {mod: mapping})
    linked = waves_from_link(store, store.get_link("kc"))
    assert linked.labels == ("2021-09", "2022-03")
    assert any("q3_09" in n and "q9_04" in n for n in linked.notes)
    con = store.cursor()
    infos = [store.get_dataset_by_id(i) for i in (first, plain)]
    # the unmodified files, wave 2 without the columns the renamed copy dropped
    dropped = ", ".join(DROPPED)
    tables = [infos[0].table, f"(SELECT * EXCLUDE ({dropped}) FROM {infos[1].table})"]
    files = waves_from_relations(
        [Wave(w, con, t) for w, t in zip(linked.labels, tables, strict=True)],
        [i.spec for i in infos],
    )
    cols = ["wave", "segment", "touchpoint", "n", "penalty", "reward", "penalty_se", "class"]
    got = compute_trend(linked, ["counci"]).trend[cols]
    want = compute_trend(files, ["counci"]).trend[cols]
    assert len(got) > 0
    pd.testing.assert_frame_equal(got.reset_index(drop=True), want.reset_index(drop=True))


def test_a_column_a_later_wave_did_not_read_as_a_rating_is_left_out(
    kc_store: tuple[Store, int, int, int],
) -> None:
    """Wave 2 stored with q3_09 and q9_04 as plain columns (their 9s still codes): the link
    leaves them out of the trend with a note, rather than reading 9 as a rating."""
    store, first, _, _ = kc_store
    keep = [c for c in TOUCHPOINTS if c not in DROPPED]
    info, _ = ingest(store, need_real(KC / "wave_2022_03.csv"), "kc2 fewer", _options(keep))
    assert set(DROPPED) <= set(columns_info(store, info.id).names)
    store.save_link("fewer", [first, info.id], ["a", "b"], {})
    source = waves_from_link(store, store.get_link("fewer"))
    assert any("did not read q3_09, q9_04 as ratings" in n for n in source.notes), source.notes
    assert not set(DROPPED) & set(source.spec.touchpoint_columns)
    assert len(compute_trend(source).trend) == 2 * len(keep)
