"""External datasets: Parquet read in place (DuckDB or Spark) and Spark tables, against ingest.

The survey is synthetic with planted "don't know" codes (9) in two ratings and the outcome,
split over three Parquet files; the same rows as one CSV go through the ordinary ingest.
Registering the files must give the same report and the same moments (1e-9 relative, same
classes), weighted or not, filtered or not, on either engine, and copy nothing but a Spark
dataset's sample.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from cmot.engine.engines import SparkEngine
from cmot.engine.view import Query, ValueFilter, View, view_sql
from cmot.errors import CmotError
from cmot.ingest.options import IngestOptions
from cmot.names import ID_COL, ROW_COL
from cmot.results.moments import MomentsResult, Settings, classify_moments, find_moments
from cmot.store import external, sources
from cmot.store.datasets import Store
from cmot.store.external import register_external
from cmot.store.intake import ingest
from cmot.store.spark import spark_session, spark_view, spark_view_name
from tests.unit.test_bad_input import run_cli

N = 9000
ROOT = Path(__file__).resolve().parents[2]


def survey(n: int = N, seed: int = 5) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    df = pd.DataFrame(
        {
            "resp_id": [f"R{i:05d}" for i in range(n)],
            "region": rng.choice(["North", "South", "East"], n),
            **{f"q{i}": rng.integers(1, 6, n) for i in range(1, 6)},
            "weight": rng.uniform(0.5, 2, n).round(3),
        }
    )
    lin = -3 + 0.5 * df.q1 + 0.3 * df.q2 + 0.2 * df.q3 - 1.0 * (df.q4 <= 2) + rng.normal(0, 1, n)
    noise = rng.normal(0, 0.3, n)
    df["overall"] = np.clip(np.round(1 + 4 / (1 + np.exp(-lin)) + noise), 1, 5).astype(int)
    for c in ("q2", "q4"):
        df.loc[rng.random(n) < 0.07, c] = 9  # don't know
    df.loc[rng.random(n) < 0.01, "overall"] = 9
    return df


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(folder of three Parquet files, the same rows as one CSV)."""
    root = tmp_path_factory.mktemp("lake")
    df = survey()
    folder = root / "responses"
    folder.mkdir()
    for i, j in enumerate(range(0, N, N // 3)):
        part = pa.Table.from_pandas(df.iloc[j : j + N // 3], preserve_index=False)
        pq.write_table(part, folder / f"part-{i}.parquet")
    df.to_csv(root / "survey.csv", index=False)
    return folder, root / "survey.csv"


def options(weight: str | None = "weight") -> IngestOptions:
    return IngestOptions(
        outcome="overall",
        outcome_kind="scale",
        outcome_range=(1, 5),
        missing=(9,),
        weight=weight or "none",
        roles={"region": "attribute"},
    )


def assert_same(a: MomentsResult, b: MomentsResult) -> None:
    key = ["segment", "touchpoint"]
    x, y = a.moments.sort_values(key), b.moments.sort_values(key)
    assert x.segment.tolist() == y.segment.tolist()
    for c in ("penalty", "reward", "penalty_se", "reward_se", "n", "mean"):
        np.testing.assert_allclose(y[c].to_numpy(float), x[c].to_numpy(float), rtol=1e-9)
    assert x["class"].tolist() == y["class"].tolist()


def stored_files(store: Store) -> list[str]:
    return sorted(p.name for p in store.path.rglob("*.parquet"))


@pytest.mark.parametrize("weight", ["weight", None])
def test_parquet_on_duckdb_equals_the_ingested_survey(
    store: Store, lake: tuple[Path, Path], weight: str | None
) -> None:
    folder, csv = lake
    stored, report = ingest(store, csv, "csv", options(weight))
    before = stored_files(store)
    info, ext_report = register_external(store, "lake", str(folder), options=options(weight))
    assert stored_files(store) == before  # nothing copied
    assert info.external is not None and info.engine == "duckdb" and not info.sampled
    assert ext_report.changes == report.changes and ext_report.rows_kept == report.rows_kept
    assert ext_report.rows_read == N
    con = store.cursor()
    for cols in (["region"], None):
        assert_same(
            find_moments(con, stored.table, stored.spec, cols),
            find_moments(con, info.table, info.spec, cols),
        )
    # A filter pushed into the view, as the sidebar builds it.
    only = (ValueFilter("region", ("North", "East")),)
    a = view_sql(View(stored.table, ("region",), filters=only))
    b = view_sql(View(info.table, ("region",), filters=only))
    assert_same(
        find_moments(con, a.relation, stored.spec, a.columns, params=a.params),
        find_moments(con, b.relation, info.spec, b.columns, params=b.params),
    )
    # Rows are numbered by their id: the same id gives the same row, whichever file.
    ids = con.execute(f"SELECT {ID_COL}, {ROW_COL} FROM {info.table}").fetchall()
    assert len({r for _, r in ids}) == len(ids) == report.rows_kept


def test_a_new_file_in_the_folder_is_read_without_registering_again(
    store: Store, tmp_path: Path
) -> None:
    folder = tmp_path / "grows"
    folder.mkdir()
    df = survey(3000, seed=9)
    pq.write_table(pa.Table.from_pandas(df.iloc[:2000], preserve_index=False), folder / "a.parquet")
    info, _ = register_external(store, "grows", f"{folder}/*.parquet", options=options())
    first = store.cursor().execute(f"SELECT count(*) FROM {info.table}").fetchall()[0][0]
    pq.write_table(pa.Table.from_pandas(df.iloc[2000:], preserve_index=False), folder / "b.parquet")
    # DuckDB reads a checked list of files, never the glob: the next relation lists it.
    count = f"SELECT count(*) FROM {info.table}"
    assert "b.parquet" in count and store.cursor().execute(count).fetchall()[0][0] > first


@pytest.mark.parametrize(
    ("source", "engine", "remote", "message"),
    [
        ("/no/such/folder/*.parquet", "duckdb", None, "No Parquet file at"),
        ("/no/such/file.parquet", "duckdb", None, "No Parquet file at"),
        ("warehouse.responses", "duckdb", None, "A table name needs `--engine spark`"),
        ("", "duckdb", None, "Give a Parquet path"),
        ("x.parquet", "duckdb", "sc://localhost:15002", "--spark-remote runs on Spark"),
    ],
)
def test_bad_sources_say_what_to_give(
    store: Store, source: str, engine: Any, remote: str | None, message: str
) -> None:
    with pytest.raises(CmotError, match=message):
        register_external(store, "bad", source, engine, remote, options())
    assert store.list_datasets() == []


def test_a_survey_file_is_not_parquet(store: Store, lake: tuple[Path, Path]) -> None:
    with pytest.raises(CmotError, match="no Parquet file: register"):
        register_external(store, "bad", str(lake[1]), "duckdb", None, options())


def test_an_external_dataset_needs_an_id(store: Store, tmp_path: Path) -> None:
    df = survey(500).drop(columns=["resp_id"])
    pq.write_table(pa.Table.from_pandas(df, preserve_index=False), tmp_path / "noid.parquet")
    with pytest.raises(CmotError, match="needs a respondent id column"):
        register_external(store, "noid", str(tmp_path / "noid.parquet"), options=options())
    assert store.list_datasets() == []


def test_the_validation_counts_every_row_of_the_source(store: Store, tmp_path: Path) -> None:
    """A repeated id in the last file, beyond what detection samples, still stops it."""
    df = survey(3000, seed=2)
    df.loc[2999, "resp_id"] = df.loc[0, "resp_id"]
    pq.write_table(pa.Table.from_pandas(df, preserve_index=False), tmp_path / "dup.parquet")
    with pytest.raises(CmotError, match="repeat a respondent id"):
        register_external(store, "dup", str(tmp_path / "dup.parquet"), options=options())


# ---- command line -----------------------------------------------------------------------


def cli(store_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_cli(*args, env_db=store_dir)


FLAGS = ("--outcome", "overall", "--outcome-range", "1-5", "--missing", "9", "--weight", "weight")


@pytest.mark.slow  # a fresh process per command: not for the quick loop
def test_the_command_line_registers_lists_and_analyses(
    store_dir: Path, lake: tuple[Path, Path], tmp_path: Path
) -> None:
    folder, csv = lake
    reg = cli(store_dir, "register", "lake", f"{folder}/*.parquet", *FLAGS)
    assert reg.returncode == 0, reg.stderr
    assert "read in place by DuckDB; nothing was copied" in reg.stdout
    listed = cli(store_dir, "datasets").stdout
    assert "duckdb" in listed and "(read in place)" in listed
    assert cli(store_dir, "ingest", str(csv), "--name", "csv", *FLAGS).returncode == 0
    seg = ("--segment", "region")
    runs = {
        "lake": ("analyze", "lake", *seg),
        "csv": ("analyze", "csv", *seg),
        "glob": ("analyze", f"{folder}/*.parquet", *FLAGS, *seg),
    }
    for name, args in runs.items():
        done = cli(store_dir, *args, "--out", str(tmp_path / name))
        assert done.returncode == 0, done.stderr
    want = pd.read_csv(tmp_path / "csv" / "moments.csv")
    for name in ("lake", "glob"):
        got = pd.read_csv(tmp_path / name / "moments.csv")
        assert list(got.columns) == list(want.columns)
        for c in ("penalty", "reward", "penalty_se", "reward_se"):
            np.testing.assert_allclose(got[c], want[c], rtol=1e-9)
        assert got["class"].tolist() == want["class"].tolist()
    bad = cli(store_dir, "register", "x", "warehouse.responses", *FLAGS)
    assert bad.returncode == 2 and "needs `--engine spark`" in bad.stderr


# ---- Spark ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    yield spark_session()


@pytest.mark.spark
@pytest.mark.parametrize("weight", ["weight", None])
def test_parquet_on_spark_equals_the_ingested_survey(
    store: Store,
    lake: tuple[Path, Path],
    spark: Any,
    weight: str | None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    folder, csv = lake
    monkeypatch.setattr(external, "SAMPLE_ROWS", 2000)
    stored, report = ingest(store, csv, "csv", options(weight))
    info, ext_report = register_external(
        store, "lake", f"{folder}/*.parquet", "spark", options=options(weight)
    )
    assert info.sampled and ext_report.changes == report.changes
    # The sample is the one file stored: seeded, in the stored layout, about 2,000 rows.
    assert info.file.parent.name == "samples"
    sample = store.cursor().execute(f"SELECT count(*) FROM {info.table}").fetchall()[0][0]
    assert sample == info.report["sample_rows"] and 1500 < sample < 2500
    again, _ = register_external(store, "lake", f"{folder}/*.parquet", "spark", options=options())
    cols = f"SELECT {ID_COL} FROM {{}} ORDER BY 1"
    assert (
        store.cursor().execute(cols.format(info.table)).fetchall()
        == store.cursor().execute(cols.format(again.table)).fetchall()
    )
    engine = SparkEngine(spark)
    view = spark_view(spark, info)
    assert view == spark_view_name(info)
    con = store.cursor()
    only = (ValueFilter("region", ("North", "East")),)
    for filters in ((), only):
        a = view_sql(View(stored.table, ("region",), filters=filters))
        b = view_sql(View(view, ("region",), filters=filters))
        want = find_moments(con, a.relation, stored.spec, a.columns, params=a.params)
        stats = engine.statistics(b, info.spec, Settings())
        assert_same(want, classify_moments(stats, Settings()))


@pytest.mark.spark
def test_spark_sums_are_kept_per_source_version(
    store: Store, lake: tuple[Path, Path], spark: Any
) -> None:
    """A class threshold reclassifies from kept sums; a new source version sums again."""
    info, _ = register_external(store, "lake", str(lake[0]), "spark", options=options())
    engine, view = SparkEngine(spark), spark_view(spark, info)
    query = Query(view, (), ("region",))
    first = engine.statistics(query, info.spec, Settings(), cache_key=("v", 1))
    wider = Settings(vulnerability_ia=-0.3, opportunity_ia=0.3)
    assert engine.statistics(query, info.spec, wider, cache_key=("v", 1)) is first
    assert engine.statistics(query, info.spec, Settings(), cache_key=("v", 2)) is not first


@pytest.mark.spark
def test_a_spark_table_by_name(store: Store, lake: tuple[Path, Path], spark: Any) -> None:
    folder, csv = lake
    spark.sql(f"CREATE TABLE IF NOT EXISTS cmot_responses USING parquet LOCATION '{folder}'")
    stored, _ = ingest(store, csv, "csv", options())
    info, report = register_external(store, "table", "cmot_responses", "spark", options=options())
    assert info.external is not None and info.external.kind == "table"
    assert report.rows_read == N
    query = Query(spark_view(spark, info), (), ("region",))
    stats = SparkEngine(spark).statistics(query, info.spec, Settings())
    want = find_moments(store.cursor(), stored.table, stored.spec, ["region"])
    assert_same(want, classify_moments(stats, Settings()))
    with pytest.raises(CmotError, match="Spark has no table `no_such_table`"):
        register_external(store, "none", "no_such_table", "spark", options=options())


@pytest.mark.spark
def test_the_command_line_on_a_spark_dataset(
    store_dir: Path, lake: tuple[Path, Path], tmp_path: Path
) -> None:
    folder, csv = lake
    reg = cli(store_dir, "register", "lake", str(folder), "--engine", "spark", *FLAGS)
    assert reg.returncode == 0, reg.stderr
    assert "read in place by Spark (local)" in reg.stdout
    assert "spark" in cli(store_dir, "datasets").stdout
    assert cli(store_dir, "ingest", str(csv), "--name", "csv", *FLAGS).returncode == 0
    seg = ("--segment", "region")
    # `analyze lake` on its own engine, Spark, starts another JVM: the Connect test
    # (test_spark_cli) analyses a registered lake on the engine it remembers.
    for name, args in {
        "duck": ("analyze", "lake", "--engine", "duckdb", *seg),  # DuckDB reads the files
        "csv": ("analyze", "csv", *seg),
    }.items():
        done = cli(store_dir, *args, "--out", str(tmp_path / name))
        assert done.returncode == 0, done.stderr
    # Commands that read respondents (not sums) read the stored sample, and say so.
    segs = cli(
        store_dir,
        "segments",
        "lake",
        "--mode",
        "given",
        "--attributes",
        "region",
        "--out",
        str(tmp_path / "segs"),
    )
    assert segs.returncode == 0, segs.stderr[-3000:]
    assert "is read by Spark; this command reads a copy of all 8,919" in segs.stdout
    assert_moments_equal_to(tmp_path, "csv", ("duck",))


def assert_moments_equal_to(out: Path, want: str, others: Sequence[str]) -> None:
    """The commands' moments.csv under `out`/<name> equal `want`'s: effects and errors to
    1e-9, classes exactly."""
    expected = pd.read_csv(out / want / "moments.csv")
    for name in others:
        got = pd.read_csv(out / name / "moments.csv")
        for c in ("penalty", "reward", "penalty_se", "reward_se"):
            np.testing.assert_allclose(got[c], expected[c], rtol=1e-9)
        assert got["class"].tolist() == expected["class"].tolist()


@pytest.mark.parametrize(
    ("location", "engine", "allowed"),
    [
        ("{root}/lake/*.parquet", "duckdb", True),
        ("{root}/lake", "duckdb", True),
        ("{root}", "duckdb", False),  # every file under it: its link `escape` leads out
        ("{root}/lake/../../etc/*.parquet", "duckdb", False),  # '..' refused anywhere
        ("{root}/escape/*.parquet", "duckdb", False),  # a symbolic link out, resolved
        ("/etc/x.parquet", "duckdb", False),
        ("{root}2/x.parquet", "duckdb", False),  # a sibling sharing the prefix
        ("warehouse.responses", "spark", True),  # a table: the session's rights decide
        ("/etc/*.parquet", "spark", False),
    ],
)
def test_the_dashboard_reads_files_only_under_the_allowed_folders(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, location: str, engine: str, allowed: bool
) -> None:
    root = tmp_path / "root"
    (root / "lake").mkdir(parents=True)
    (root / "escape").symlink_to("/etc")
    monkeypatch.setenv(sources.ENV_EXTERNAL_ROOTS, f"/nonexistent:{root}")
    where = location.format(root=root)
    if allowed:
        sources.check_allowed(where, engine)
    else:
        refusal = "without `..`" if ".." in where else "outside the folders this server may read"
        with pytest.raises(CmotError, match=refusal):
            sources.check_allowed(where, engine)
    monkeypatch.delenv(sources.ENV_EXTERNAL_ROOTS)
    with pytest.raises(CmotError, match="is not set"):
        sources.check_allowed(where, engine)


@pytest.mark.parametrize("engine", ["duckdb", pytest.param("spark", marks=pytest.mark.spark)])
def test_the_airline_survey_as_a_parquet_lake(
    store: Store, airline_csv: Path, tmp_path: Path, engine: Any
) -> None:
    """The real survey exported to three Parquet files, mapped as the CSV is (0 = not
    applicable, its text outcome and id detected): the same report and moments."""
    lake_dir = tmp_path / "airline"
    lake_dir.mkdir()
    con = store.cursor()
    con.execute(f"CREATE TEMP TABLE air AS SELECT * FROM read_csv('{airline_csv}')")
    for i in range(3):
        part = lake_dir / f"part-{i}.parquet"
        con.execute(f"COPY (SELECT * FROM air WHERE id % 3 = {i}) TO '{part}' (FORMAT parquet)")
    opts = IngestOptions(missing=(0,))
    stored, report = ingest(store, airline_csv, "csv", opts)
    info, ext_report = register_external(store, "lake", str(lake_dir), engine, options=opts)
    assert info.spec.outcome == stored.spec.outcome and info.spec.id_column == "id"
    assert ext_report.changes == report.changes and ext_report.rows_kept == 25_976
    want = find_moments(con, stored.table, stored.spec, ["Type of Travel"])
    if engine == "duckdb":
        got = find_moments(con, info.table, info.spec, ["Type of Travel"])
    else:
        session = spark_session()
        query = Query(spark_view(session, info), (), ("Type of Travel",))
        stats = SparkEngine(session).statistics(query, info.spec, Settings())
        got = classify_moments(stats, Settings())
    assert_same(want, got)


def test_the_source_version_changes_with_the_files_or_the_clock(
    store: Store, tmp_path: Path
) -> None:
    folder = tmp_path / "v"
    folder.mkdir()
    df = survey(1000, seed=3)
    pq.write_table(pa.Table.from_pandas(df, preserve_index=False), folder / "a.parquet")
    info, _ = register_external(store, "v", str(folder), options=options())
    first = external.source_version(info)
    assert first == external.source_version(info) != ""
    pq.write_table(pa.Table.from_pandas(df, preserve_index=False), folder / "b.parquet")
    assert external.source_version(info) != first
    assert info.external is not None
    table = replace(info, external=replace(info.external, engine="spark", kind="table"))
    step = external.TABLE_FRESH_S
    assert external.source_version(table, now=10 * step) == external.source_version(
        table, now=10 * step + step - 1
    )
    assert external.source_version(table, now=10 * step) != external.source_version(
        table, now=11 * step
    )
