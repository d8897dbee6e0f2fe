"""AppTest: an external dataset on every page, through its engine (DuckDB, then Spark)."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from streamlit.testing.v1 import AppTest

from cmot.cli.flags import options_from_flags
from cmot.store import external, sources
from cmot.store.datasets import Store
from cmot.store.external import register_external
from cmot.store.intake import ingest
from tests.app.panels import open_panels
from tests.app.test_pages import APP, PAGES, ok
from tests.conftest import KANSAS_CSV
from tests.unit.test_external import lake, options, survey  # lake: the module-scoped fixture

__all__ = ["lake"]


def open_app(name: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=180)
    at.run()
    at.sidebar.selectbox(key="dataset").set_value(name).run()
    return ok(at)


def metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def captions(at: AppTest) -> str:
    return "\n".join(str(c.value) for c in at.sidebar.caption)


def test_a_parquet_folder_on_duckdb_on_every_page(
    store: Store,
    lake: tuple[Path, Path],
) -> None:
    folder, csv = lake
    info, _ = register_external(store, "lake", str(folder), options=options())
    stored, _ = ingest(store, csv, "csv", options())
    at = open_app("lake")
    assert "Engine: **DuckDB**, reading Parquet" in captions(at)
    at.sidebar.selectbox(key="seg").set_value("region").run()
    for page in PAGES:
        ok(at.switch_page(f"pages/{page}.py").run())
    at.switch_page("pages/overview.py").run()
    assert metrics(at)["Respondents"] == f"{info.rows_kept:,}" == f"{stored.rows_kept:,}"


@pytest.mark.spark
def test_a_spark_dataset_sums_everything_and_says_what_reads_the_sample(
    store: Store,
    lake: tuple[Path, Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    folder, _ = lake
    monkeypatch.setattr(external, "SAMPLE_ROWS", 2000)
    info, _ = register_external(store, "lake", f"{folder}/*.parquet", "spark", options=options())
    sample = info.report["sample_rows"]
    assert sample < info.rows_kept
    at = open_app("lake")
    said = captions(at)
    assert "Engine: **Spark (local)**" in said and f"sample of {sample:,}" in said
    # The sums are Spark's over every row, not the sample's.
    assert metrics(at)["Respondents"] == f"{info.rows_kept:,}"
    at.sidebar.selectbox(key="seg").set_value("region").run()
    for page in PAGES:
        ok(at.switch_page(f"pages/{page}.py").run())
    # Clustering reads the sample, and the page says so.
    at.switch_page("pages/segments.py").run()
    assert any("Clustering here runs on the seeded sample" in str(i.value) for i in at.info)
    at.button(key="seg_run").click().run()
    at.text_input(key="seg_save_name").set_value("regions").run()
    at.button(key="seg_save").click().run()
    ok(at)
    # By the saved segmentation (of sample rows), every number is the sample's, said so.
    at.sidebar.selectbox(key="seg").set_value("saved: regions").run()
    at.switch_page("pages/overview.py").run()
    assert "every result by it, the moments of truth included" in captions(at)
    assert metrics(at)["Respondents"] == f"{sample:,}"
    at.sidebar.selectbox(key="seg").set_value("region").run()
    # A filter is pushed down to Spark: the North respondents of all rows.
    at.switch_page("pages/overview.py").run()
    open_panels(at)
    at.sidebar.selectbox(key="f_col").set_value("region").run()
    at.sidebar.multiselect(key="f_val").set_value(["North"]).run()
    ok(at)
    assert info.external is not None
    everything = sources.duckdb_relation(replace(info.external, engine="duckdb"), info.spec)
    north = store.cursor().execute(f"SELECT count(*) FROM {everything} WHERE region = 'North'")
    assert metrics(at)["Respondents"] == f"{north.fetchall()[0][0]:,}"


@pytest.mark.spark
def test_the_wide_kansas_city_journey_on_spark_on_every_page(store: Store, tmp_path: Path) -> None:
    """Real data: the Kansas City resident survey (23 touchpoints, 9 = "don't know") as a
    Parquet lake registered on Spark with the command line's two mapping flags; every page
    by council district answers, and the Overview's count is Spark's over every row. A
    journey this wide once failed to compile on Spark."""
    if not KANSAS_CSV.exists():
        pytest.skip(f"the Kansas City survey is not at {KANSAS_CSV} (../shared beside the repo)")
    path = tmp_path / "kc.parquet"
    store.cursor().execute(f"COPY (FROM read_csv('{KANSAS_CSV}')) TO '{path}' (FORMAT parquet)")
    opts = options_from_flags(outcome="q2_01", touchpoints="q3_*,q5_*")
    info, _ = register_external(store, "kc", str(path), "spark", options=opts)
    assert len(info.spec.touchpoint_columns) == 23
    at = open_app("kc")
    assert metrics(at)["Respondents"] == f"{info.rows_kept:,}" == "1,018"
    at.sidebar.selectbox(key="seg").set_value("counci").run()
    for page in PAGES:
        ok(at.switch_page(f"pages/{page}.py").run())
    at.switch_page("pages/overview.py").run()
    assert metrics(at)["Segments"] == "6"


# PySpark allows one kind of session per process (local or Spark Connect), and this process's
# other tests run a local one: the Connect page runs in a pytest process of its own, started
# by test_a_page_through_spark_connect (tests/unit/test_spark_cli.py, with its server).
REMOTE = os.environ.get("CMOT_TEST_SPARK_REMOTE")


@pytest.mark.skipif(not REMOTE, reason="run by test_a_page_through_spark_connect, alone")
def test_the_overview_of_a_spark_connect_dataset(
    store: Store,
    lake: tuple[Path, Path],
) -> None:
    folder, _ = lake
    info, _ = register_external(store, "lake", str(folder), "spark", REMOTE, options())
    at = open_app("lake")
    assert f"Engine: **Spark at {REMOTE}**" in captions(at)
    assert metrics(at)["Respondents"] == f"{info.rows_kept:,}"
    at.sidebar.selectbox(key="seg").set_value("region").run()
    ok(at.switch_page("pages/moments.py").run())


def test_the_data_page_registers_a_lake_under_the_allowed_folders(
    store: Store,
    lake: tuple[Path, Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    folder, _ = lake
    at = AppTest.from_file(APP, default_timeout=180)
    at.run()
    at.switch_page("pages/data.py").run()
    assert any("CMOT_EXTERNAL_ROOTS" in str(i.value) for i in at.info)  # off by default
    monkeypatch.setenv("CMOT_EXTERNAL_ROOTS", str(folder.parent))
    at.run()
    at.text_input(key="ext_source").set_value("/etc/*.parquet")
    at.text_input(key="ext_name").set_value("lake").run()  # typing reruns the page
    at.button(key="ext_register").click().run()
    assert any("outside the folders this server may read" in str(e.value) for e in at.error)
    at.text_input(key="ext_source").set_value(f"{folder}/*.parquet")
    at.text_input(key="ext_outcome").set_value("overall")
    at.text_input(key="ext_range").set_value("1-5")
    at.text_input(key="ext_missing").set_value("9")
    at.text_input(key="ext_weight").set_value("weight").run()
    at.button(key="ext_register").click().run()
    ok(at)
    assert at.sidebar.selectbox(key="dataset").value == "lake"
    assert at.selectbox(key="ds_pick").value == "lake"  # the page's picker follows the sidebar
    assert "read in place by DuckDB" in at.success[0].value
    info = store.get_dataset("lake")
    assert info.external is not None and info.spec.weight_column == "weight"
    assert "Engine: **DuckDB**" in captions(at)
    at.switch_page("pages/overview.py").run()
    assert metrics(at)["Respondents"] == f"{info.rows_kept:,}" == "8,919"


def test_a_lake_whose_files_moved_says_so_and_can_be_deleted(store: Store, tmp_path: Path) -> None:
    folder = tmp_path / "moving"
    folder.mkdir()
    part = pa.Table.from_pandas(survey(600), preserve_index=False)
    pq.write_table(part, folder / "part-0.parquet")
    register_external(store, "moving", str(folder), options=options())
    (folder / "part-0.parquet").rename(tmp_path / "elsewhere.parquet")
    at = AppTest.from_file(APP, default_timeout=180)
    at.run()
    at.sidebar.selectbox(key="dataset").set_value("moving").run()
    assert not at.exception
    assert any("restore its files or delete the dataset" in str(e.value) for e in at.error)
    at.switch_page("pages/moments.py").run()  # the message, no traceback, no other result
    assert not at.exception and len(at.error) == 1
    at.switch_page("pages/data.py").run()
    at.selectbox(key="ds_pick").set_value("moving").run()
    at.checkbox(key="ds_sure").check().run()
    at.button(key="ds_delete").click().run()
    assert not at.exception and not store.has_dataset("moving")


def test_new_files_in_a_lake_reach_the_pages(store: Store, tmp_path: Path) -> None:
    """Results are cached per process, keyed on the lake's files: a new file, new results."""
    folder = tmp_path / "growing"
    folder.mkdir()
    df = survey(3000, seed=4)
    write = lambda rows, name: pq.write_table(  # noqa: E731
        pa.Table.from_pandas(rows, preserve_index=False), folder / name
    )
    write(df.iloc[:2000], "a.parquet")
    register_external(store, "growing", str(folder), options=options())
    at = open_app("growing")
    before = metrics(at)["Respondents"]
    write(df.iloc[2000:], "b.parquet")
    at.run()
    ok(at)
    after = metrics(at)["Respondents"]
    kept = store.cursor().execute(f"SELECT count(*) FROM {store.get_dataset('growing').table}")
    assert before != after == f"{kept.fetchall()[0][0]:,}"
