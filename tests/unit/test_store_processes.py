"""Many processes on one store: concurrent writers, readers during writes, migration."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pytest

from cmot.errors import CmotError
from cmot.ingest.options import IngestOptions
from cmot.ingest.pipeline import read_csv
from cmot.segments.given import given_segments
from cmot.segments.records import load_segmentation, to_record
from cmot.spec import dumps_spec, load_spec
from cmot.store.datasets import Store
from cmot.store.demo import DEMO_CSV, DEMO_SPEC
from cmot.store.directory import close_all
from cmot.store.intake import ingest
from tests.conftest import ROOT

SPEC = IngestOptions(spec=load_spec(DEMO_SPEC))

# A writer process: saves `count` versions, alternating between two names; each version's
# rows all carry its writer and step, so a reader can tell a whole file from a torn one.
WRITER = """
import sys
import pyarrow as pa
from cmot.store.demo import DEMO_SPEC
from cmot.spec import load_spec
from cmot.store.datasets import Store

store, me, count, rows = Store(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
spec = load_spec(DEMO_SPEC)
print("READY", flush=True)
sys.stdin.readline()  # every writer starts at once
for step in range(count):
    n = rows + step
    data = pa.table({"__cmot_row": list(range(n)), "tag": [me * 1000 + step] * n})
    store.save_dataset(f"p{step % 2}", data, spec, {}, f"w{me}.csv", "0" * 64)
print("DONE", flush=True)
"""


def _start(n: int, store_dir: Path, count: int, rows: int) -> list[subprocess.Popen[str]]:
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(store_dir), str(i), str(count), str(rows)],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(n)
    ]
    for p in procs:
        assert p.stdout is not None and p.stdout.readline().strip() == "READY"
    for p in procs:
        assert p.stdin is not None
        p.stdin.write("go\n")
        p.stdin.flush()
    return procs


def _finish(procs: list[subprocess.Popen[str]]) -> None:
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0 and out.strip() == "DONE", err


@pytest.mark.slow  # a fresh process per command: not for the quick loop
def test_writers_in_several_processes_each_save_once_with_unique_versions(
    store_dir: Path,
) -> None:
    Store(store_dir)
    _finish(_start(4, store_dir, count=6, rows=50))
    store = Store(store_dir)
    saved = store.list_datasets(all_versions=True)
    assert len(saved) == 24  # 4 writers x 6 saves, each landed once
    for name in ("p0", "p1"):
        versions = sorted(d.version for d in saved if d.name == name)
        assert versions == list(range(1, 13)), name
    tags = [
        store.cursor().execute(f"SELECT min(tag), max(tag) FROM {d.table}").fetchall()[0]
        for d in saved
    ]
    assert len({lo for lo, _ in tags}) == 24 and all(lo == hi for lo, hi in tags)
    assert sorted(p.name for p in (store_dir / "datasets").iterdir()) == sorted(
        d.file.name for d in saved
    )


@pytest.mark.slow  # a fresh process per command: not for the quick loop
def test_readers_during_writes_see_whole_versions(store_dir: Path) -> None:
    store = Store(store_dir)
    procs = _start(2, store_dir, count=20, rows=20_000)
    seen: set[int] = set()
    deadline = time.monotonic() + 120
    while any(p.poll() is None for p in procs) and time.monotonic() < deadline:
        for d in store.list_datasets():
            n, lo, hi = (
                store.cursor().execute(f"SELECT count(*), min(tag), max(tag) FROM {d.table}")
            ).fetchall()[0]
            assert n == d.rows_kept and lo == hi  # one writer's one save, all of it
            seen.add(d.id)
    _finish(procs)
    assert len(seen) >= 2  # the reader did overlap the writers


@pytest.mark.slow  # a fresh process per command: not for the quick loop
def test_the_cli_writes_while_this_process_holds_the_store(store_dir: Path, tmp_path: Path) -> None:
    """What an analyst does at the command line while the dashboard runs: ingest, list,
    analyse and segment (saving the segmentation); the open store sees each write."""
    store = Store(store_dir)
    ingest(store, DEMO_CSV, "here", SPEC)
    store.list_datasets()  # this process has read the catalog before the CLI writes

    def cli(*args: str) -> str:
        out = subprocess.run(
            [sys.executable, "-m", "cmot", *args],
            cwd=ROOT,
            env={"CMOT_STORE": str(store_dir), "PATH": "/usr/bin:/bin"},
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert out.returncode == 0, out.stderr
        return out.stdout

    cli("ingest", str(DEMO_CSV), "--name", "from the cli")
    assert [d.name for d in store.list_datasets()] == ["from the cli", "here"]
    assert store.get_dataset("from the cli").rows_kept == 6600
    assert "from the cli" in cli("datasets")
    cli("analyze", "here", "--segment", "Segment", "--out", str(tmp_path / "moments"))
    assert (tmp_path / "moments" / "moments.csv").stat().st_size > 0
    cli(
        "segments", "here", "--mode", "given", "--attributes", "Segment",
        "--out", str(tmp_path / "segments"), "--save", "from the cli",
    )  # fmt: skip
    here = store.get_dataset("here")
    assert store.list_segmentations(here.id).name.tolist() == ["from the cli"]


# ---- migration from the single-file DuckDB store of cmot 0.2 ---------------------------

_LEGACY_DDL = """
CREATE SEQUENCE cmot_dataset_id START 1;
CREATE TABLE cmot_datasets (
    id BIGINT PRIMARY KEY, name VARCHAR NOT NULL, version INTEGER NOT NULL,
    created_at TIMESTAMP NOT NULL, source_name VARCHAR NOT NULL, source_sha256 VARCHAR NOT NULL,
    rows_read BIGINT NOT NULL, rows_kept BIGINT NOT NULL, spec_toml VARCHAR NOT NULL,
    report_json VARCHAR NOT NULL, UNIQUE (name, version));
CREATE TABLE cmot_segmentations (
    id BIGINT PRIMARY KEY, dataset_id BIGINT NOT NULL, name VARCHAR NOT NULL,
    mode VARCHAR NOT NULL, method VARCHAR NOT NULL, k INTEGER NOT NULL, seed BIGINT NOT NULL,
    created_at TIMESTAMP NOT NULL, body_json VARCHAR NOT NULL, UNIQUE (dataset_id, name));
CREATE TABLE cmot_segment_names (
    segmentation_id BIGINT NOT NULL, segment INTEGER NOT NULL, name VARCHAR NOT NULL);
CREATE TABLE cmot_segment_assignments (
    segmentation_id BIGINT NOT NULL, __cmot_row BIGINT NOT NULL, segment INTEGER NOT NULL);
"""


@pytest.fixture
def legacy(tmp_path: Path) -> Path:
    """A single-file store as cmot 0.2 wrote it: two versions of the demo, one segmentation."""
    path = tmp_path / "old" / "cmot.duckdb"
    path.parent.mkdir()
    prepared = read_csv(DEMO_CSV, SPEC)
    con = duckdb.connect(str(path))
    con.execute(_LEGACY_DDL)
    con.register("incoming", prepared.data)
    for i, when in ((1, "2026-01-02 03:04:05"), (2, "2026-02-03 04:05:06")):
        con.execute(f"CREATE TABLE ds_{i} AS SELECT * FROM incoming")
        con.execute(
            "INSERT INTO cmot_datasets VALUES (?, 'clients', ?, ?, 'demo_survey.csv', ?, "
            "6600, 6600, ?, '{\"rows_kept\": 6600}')",
            [i, i, when, "a" * 64, dumps_spec(prepared.spec)],
        )
    seg = given_segments(con, "ds_1", ["Segment"])
    rec = to_record(seg)
    con.execute(
        "INSERT INTO cmot_segmentations VALUES (7, 1, 'planted', ?, ?, ?, ?, now(), ?)",
        [rec.mode, rec.method, rec.k, rec.seed, rec.body_json],
    )
    con.executemany("INSERT INTO cmot_segment_names VALUES (7, ?, ?)", list(enumerate(rec.names)))
    con.register("assigned", pa.table({"r": rec.rows, "s": rec.labels.astype(np.int32)}))
    con.execute("INSERT INTO cmot_segment_assignments SELECT 7, r, s FROM assigned")
    con.close()
    return path


def test_a_single_file_store_is_migrated_on_first_use(
    legacy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CMOT_DB", str(legacy))
    before = legacy.read_bytes()
    store = Store(tmp_path / "new")
    versions = store.list_datasets(all_versions=True)
    assert [(d.name, d.version, d.rows_kept) for d in versions] == [
        ("clients", 1, 6600),
        ("clients", 2, 6600),
    ]
    assert str(versions[0].created_at) == "2026-01-02 03:04:05"
    old = duckdb.connect(str(legacy), read_only=True)
    want = old.execute("SELECT * FROM ds_1 ORDER BY __cmot_row").df()
    old.close()
    got = store.read_frame(versions[0])
    assert list(got.columns) == list(want.columns)
    assert got.equals(want)
    seg = load_segmentation(store, (versions[0].id, "planted"))
    assert len(seg.rows) == 6600 and seg.k == 4
    assert legacy.read_bytes() == before  # the old file is only read
    close_all()
    again = Store(tmp_path / "new")  # a second start does not migrate twice
    assert len(again.list_datasets(all_versions=True)) == 2
    assert again.catalog.meta("migrated_from") == str(legacy.resolve())


@pytest.mark.slow  # three command-line processes: ~15 s
def test_the_migrate_command(legacy: Path, tmp_path: Path) -> None:
    env = {"CMOT_STORE": str(tmp_path / "new"), "PATH": "/usr/bin:/bin"}
    run = [sys.executable, "-m", "cmot", "migrate", "--from", str(legacy)]
    out = subprocess.run(run, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "2 dataset versions and 1 segmentation" in out.stdout
    again = subprocess.run(run, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0 and "already" in again.stdout
    assert len(Store(tmp_path / "new").list_datasets(all_versions=True)) == 2
    bad = tmp_path / "not-a-store.duckdb"
    duckdb.connect(str(bad)).close()
    out = subprocess.run(
        [*run[:-1], str(bad)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 2 and "is not a cmot store" in out.stderr


def test_a_migration_resumes_without_copying_twice(
    legacy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cmot.store import migrate

    store = Store(tmp_path / "new", migrate=False)
    real = Store.save_query
    calls = []

    def dies_on_the_second(self: Store, *a: object, **k: object) -> object:
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt  # the process is stopped midway
        return real(self, *a, **k)  # type: ignore[arg-type]

    monkeypatch.setattr(Store, "save_query", dies_on_the_second)
    with pytest.raises(KeyboardInterrupt):
        migrate.migrate_file(legacy, store)
    monkeypatch.undo()
    result = migrate.migrate_file(legacy, store)
    assert (result.datasets, result.skipped, result.segmentations) == (1, 1, 1)
    assert [d.version for d in store.list_datasets(all_versions=True)] == [1, 2]
    with pytest.raises(CmotError, match="No old store file"):
        migrate.migrate_file(tmp_path / "nothing.duckdb", store)


@pytest.mark.slow  # a fresh process per command: not for the quick loop
def test_two_processes_starting_on_a_new_store_load_the_demo_once(store_dir: Path) -> None:
    code = "import sys\nfrom cmot.store.demo import ensure_demo\n"
    code += "from cmot.store.datasets import Store\n"
    code += "print(ensure_demo(Store(sys.argv[1])).id)"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, str(store_dir)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    ids = set()
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
        ids.add(out.strip())
    assert len(ids) == 1
    assert len(Store(store_dir).list_datasets(all_versions=True)) == 1
