"""Saved segmentations: with the dataset, all-or-nothing, across restarts; the CLI; airline."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pytest

from cmot.cli.main import main
from cmot.errors import CmotError
from cmot.ingest.options import IngestOptions
from cmot.ingest.pipeline import read_csv
from cmot.names import SEGMENT_CODE_COL, SEGMENT_COL, quote_ident
from cmot.segments.clustered import cluster_attributes
from cmot.segments.driver_based import driver_segments
from cmot.segments.modes import assign_segments
from cmot.segments.records import load_segmentation, save_segmentation
from cmot.segments.segmentation import Segmentation
from cmot.spec import load_spec
from cmot.store.datasets import Store
from cmot.store.demo import DEMO_CSV, DEMO_SPEC, SEGMENT_COLUMN
from cmot.store.directory import close_all
from cmot.store.intake import ingest
from cmot.store.versions import DatasetInfo
from tests.unit.test_segments import ATTRS

SPEC = IngestOptions(spec=load_spec(DEMO_SPEC))


@pytest.fixture
def saved(store: Store) -> tuple[DatasetInfo, Segmentation]:
    info, _ = ingest(store, DEMO_CSV, "clients", SPEC)
    seg = cluster_attributes(
        store.cursor(), info.table, ATTRS, k=4, seed=1, refits=2, fit_sample=3000
    )
    return info, seg


def test_a_saved_segmentation_survives_a_store_reopen(
    store_dir: Path, store: Store, saved: tuple[DatasetInfo, Segmentation]
) -> None:
    info, seg = saved
    sid = save_segmentation(store, info.id, "by who they are", seg)
    close_all()
    again = Store(store_dir)
    back = load_segmentation(again, (info.id, "by who they are"))
    assert back.k == 4 and back.seed == 1 and back.names == seg.names
    assert np.array_equal(back.rows, seg.rows) and np.array_equal(back.labels, seg.labels)
    assert back.stability == seg.stability
    pd.testing.assert_frame_equal(back.sizes, seg.sizes, check_dtype=False)
    pd.testing.assert_frame_equal(back.profile, seg.profile, check_dtype=False)
    frame = again.read_frame(again.get_dataset("clients"))
    assert np.array_equal(assign_segments(back, frame), seg.labels)  # new respondents too
    listed = again.list_segmentations(info.id)
    assert listed[["id", "name", "mode", "k"]].values.tolist() == [
        [sid, "by who they are", "attributes", 4]
    ]


def test_the_engine_joins_a_saved_segmentation_by_row(
    store: Store, saved: tuple[DatasetInfo, Segmentation]
) -> None:
    info, seg = saved
    sid = save_segmentation(store, info.id, "s", seg)
    store.rename_segments(sid, {0: 'Big "quoted" one', 1: "it's two"})
    sql = (
        f"SELECT s.{SEGMENT_COL}, count(*), avg(d.__cmot_y) FROM {info.table} d "
        f"JOIN {store.segment_sql(sid)} s USING (__cmot_row) "
        f"GROUP BY s.{SEGMENT_COL}, s.{SEGMENT_CODE_COL} ORDER BY s.{SEGMENT_CODE_COL}"
    )
    rows = store.cursor().execute(sql).fetchall()
    assert [r[1] for r in rows] == seg.sizes["size"].tolist()
    assert [r[0] for r in rows[:2]] == ['Big "quoted" one', "it's two"]
    assert load_segmentation(store, sid).names[:2] == ('Big "quoted" one', "it's two")
    before = load_segmentation(store, sid).names
    with pytest.raises(CmotError, match="differ"):  # one bad name: none of them change
        store.rename_segments(sid, {2: "fine", 1: 'Big "quoted" one'})
    with pytest.raises(CmotError, match="does not exist"):
        store.rename_segments(sid, {2: "fine", 9: "x"})
    assert load_segmentation(store, sid).names == before


def test_names_are_unique_per_dataset_unless_replaced(
    store: Store, saved: tuple[DatasetInfo, Segmentation]
) -> None:
    info, seg = saved
    first = save_segmentation(store, info.id, "s", seg)
    with pytest.raises(CmotError, match="already has"):
        save_segmentation(store, info.id, "s", seg)
    second = save_segmentation(store, info.id, "s", seg.with_names("ABCD"), replace=True)
    assert second != first
    assert load_segmentation(store, (info.id, "s")).names == tuple("ABCD")
    files = lambda: sorted((store.path / "segmentations").glob("*.parquet"))  # noqa: E731
    assert len(files()) == 1  # the replaced one's file went
    store.delete_segmentation(second)
    assert store.list_segmentations(info.id).empty and files() == []
    with pytest.raises(CmotError, match="No saved segmentation"):
        load_segmentation(store, second)
    with pytest.raises(CmotError, match="No dataset"):
        save_segmentation(store, 999, "s", seg)
    save_segmentation(store, info.id, "a", seg)
    save_segmentation(store, info.id, "b", seg)
    assert store.delete_dataset("clients") == 1  # its segmentations go with it, once
    assert store.list_segmentations().empty and files() == []
    names = store.catalog.read("SELECT count(*) FROM segment_names")[0][0]
    assert names == 0


def test_a_failed_save_leaves_nothing_behind(
    store: Store, saved: tuple[DatasetInfo, Segmentation], monkeypatch: pytest.MonkeyPatch
) -> None:
    info, seg = saved

    def boom(*_: Any) -> None:
        raise OSError("disk full (simulated)")  # after the catalog rows, before the commit

    monkeypatch.setattr("cmot.store.directory.os.replace", boom)
    with pytest.raises(OSError, match="disk full"):
        save_segmentation(store, info.id, "s", seg)
    monkeypatch.undo()
    for table in ("segmentations", "segment_names"):
        assert store.catalog.read(f"SELECT count(*) FROM {table}")[0][0] == 0, table
    assert list((store.path / "segmentations").iterdir()) == []
    assert list((store.path / "tmp").glob("*.parquet")) == []
    save_segmentation(store, info.id, "s", seg)  # and the store still works


def test_command_line_writes_assignments_profiles_curve_stability(tmp_path: Path) -> None:
    out = tmp_path / "out"
    code = main(
        ["segments", str(DEMO_CSV), "--attributes", ",".join(ATTRS), "--seed", "4"]
        + ["--k", "4", "--out", str(out)]
    )
    assert code == 0
    for name in ("assignments", "sizes", "profiles", "k_curve", "stability"):
        assert (out / f"{name}.csv").exists(), name
    a = pd.read_csv(out / "assignments.csv")
    assert len(a) == 6600 and set(a["segment"]) == {0, 1, 2, 3}
    assert "stability" in (out / "summary.md").read_text()


def test_command_line_saves_to_a_stored_dataset(store: Store, tmp_path: Path) -> None:
    ingest(store, DEMO_CSV, "clients", SPEC)
    args = ["segments", "clients", "--mode", "given", "--attributes", SEGMENT_COLUMN]
    assert main([*args, "--out", str(tmp_path), "--save", "planted"]) == 0
    listed = store.list_segmentations()
    assert listed["name"].tolist() == ["planted"] and listed["k"].tolist() == [4]
    assert main([*args, "--out", str(tmp_path), "--save", "planted"]) == 2  # CmotError
    assert main(["segments", "no such dataset", "--out", str(tmp_path)]) == 2


@pytest.mark.slow  # the 103,904-respondent airline survey clustered (42 s on a busy machine)
def test_airline_survey_segments(airline_csv: Path) -> None:
    prepared = read_csv(airline_csv)
    con = duckdb.connect()
    con.register("incoming", prepared.data)
    con.execute("CREATE TABLE ds AS SELECT * FROM incoming")
    attrs = ["Gender", "Customer Type", "Age", "Type of Travel", "Class", "Flight Distance"]
    # k searched on a seeded 10,000-row sample (the documented large-data path), fitted on all.
    seg = cluster_attributes(con, "ds", attrs, seed=1, refits=3, fit_sample=10_000)
    assert 2 <= seg.k <= 8 and seg.sizes["size"].sum() == 25_976
    assert seg.stability is not None and seg.stability.mean_ari > 0.5
    assert any("Business travel" in n for n in seg.names)
    assert any("Personal Travel" in n for n in seg.names)
    # Driver segments on a seeded sample (kept small for CI): compared with Type of Travel.
    drv = driver_segments(
        con, "ds", prepared.spec, attributes=attrs, seed=1, fit_sample=5000, k_max=3, refits=0
    )
    travel = con.execute(f"SELECT {quote_ident('Type of Travel')} FROM ds ORDER BY __cmot_row")
    tab = pd.crosstab(drv.labels, travel.df().iloc[:, 0], normalize="columns")
    assert drv.k >= 2
    # Personal travellers gather in one driver segment: their satisfaction hinges on other
    # touchpoints (wifi) than business travellers'.
    assert tab["Personal Travel"].max() > 0.8
