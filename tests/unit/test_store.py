"""Store: versions, rename, delete, restarts, atomic saves, threads, quoting."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import duckdb
import pytest

from cmot.errors import CmotError
from cmot.ingest.options import IngestOptions
from cmot.ingest.pipeline import read_csv
from cmot.names import quote_ident
from cmot.spec import load_spec
from cmot.store.datasets import Store
from cmot.store.demo import DEMO_CSV, DEMO_SPEC
from cmot.store.directory import close_all, default_store_path
from cmot.store.intake import ingest

SPEC = IngestOptions(spec=load_spec(DEMO_SPEC))


def test_reuploading_a_name_makes_a_new_version(store: Store) -> None:
    a, _ = ingest(store, DEMO_CSV, "clients", SPEC)
    b, _ = ingest(store, DEMO_CSV, "clients", SPEC)
    assert (a.version, b.version) == (1, 2)
    assert store.get_dataset("clients").version == 2
    assert store.get_dataset("clients", 1).id == a.id
    assert len(store.list_datasets()) == 1
    assert len(store.list_datasets(all_versions=True)) == 2
    assert a.source_sha256 == b.source_sha256 and len(a.source_sha256) == 64


def test_registry_records_source_counts_and_spec(store: Store) -> None:
    info, report = ingest(store, DEMO_CSV, "clients", SPEC)
    assert info.source_name == "demo_survey.csv"
    assert (info.rows_read, info.rows_kept) == (6600, 6600)
    assert info.spec == load_spec(DEMO_SPEC)
    assert info.report["rows_kept"] == report.rows_kept
    assert len(store.read_frame(info)) == 6600


def test_everything_survives_a_restart(store_dir: Path) -> None:
    info, _ = ingest(Store(store_dir), DEMO_CSV, "clients", SPEC)
    close_all()
    again = Store(store_dir)
    assert again.get_dataset("clients") == info
    assert len(again.read_frame(info)) == 6600


def test_rename_and_delete(store: Store) -> None:
    ingest(store, DEMO_CSV, "a", SPEC)
    ingest(store, DEMO_CSV, "a", SPEC)
    ingest(store, DEMO_CSV, "b", SPEC)
    with pytest.raises(CmotError, match="exists already"):
        store.rename_dataset("a", "b")
    store.rename_dataset("a", "renamed")
    assert [d.name for d in store.list_datasets()] == ["b", "renamed"]
    assert store.get_dataset("renamed").version == 2
    files = lambda: {p.name for p in (store.path / "datasets").iterdir()}  # noqa: E731
    before = files()
    assert store.delete_dataset("renamed") == 2
    assert len(before - files()) == 2  # both versions' files went
    with pytest.raises(CmotError, match="nothing to delete"):
        store.delete_dataset("renamed")
    with pytest.raises(CmotError, match="No dataset named 'renamed'"):
        store.get_dataset("renamed")


def test_a_save_that_fails_midway_leaves_nothing_behind(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    earlier, _ = ingest(store, DEMO_CSV, "earlier", SPEC)
    prepared = read_csv(DEMO_CSV, SPEC)

    def boom(*_: object) -> str:
        raise RuntimeError("disk full")  # fails after the data file is written

    monkeypatch.setattr("cmot.store.datasets.dumps_spec", boom)
    with pytest.raises(RuntimeError):
        store.save_dataset("new", prepared.data, prepared.spec, {}, "x.csv", "0" * 64)
    monkeypatch.undo()
    monkeypatch.setattr(
        "cmot.store.directory.fsync_dir", boom
    )  # after the rename, before the commit
    with pytest.raises(RuntimeError):
        store.save_dataset("new", prepared.data, prepared.spec, {}, "x.csv", "0" * 64)
    assert [d.name for d in store.list_datasets()] == ["earlier"]
    assert {p.name for p in (store.path / "datasets").iterdir()} == {earlier.file.name}
    assert list((store.path / "tmp").glob("*.parquet")) == []
    assert len(store.read_frame(earlier)) == 6600


def test_threads_save_concurrently_each_version_once(store: Store) -> None:
    prepared = read_csv(DEMO_CSV, SPEC)
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            for _ in range(3):
                store.save_dataset(f"t{i % 3}", prepared.data, prepared.spec, {}, "d.csv", "0")
                store.list_datasets()
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    versions = sorted(d.version for d in store.list_datasets(all_versions=True) if d.name == "t0")
    assert versions == list(range(1, 7))


def test_a_store_path_that_is_a_file_is_a_clear_error(tmp_path: Path) -> None:
    old = tmp_path / "cmot.duckdb"
    old.write_bytes(b"not a folder")
    with pytest.raises(CmotError, match=r"is a file, not a folder.*migrate"):
        Store(old)


@pytest.mark.parametrize(
    ("name", "quoted"),
    [
        ("plain", '"plain"'),
        ('say "hi"', '"say ""hi"""'),
        ("a; DROP TABLE x; --", '"a; DROP TABLE x; --"'),
    ],
)
def test_quote_ident_makes_any_name_a_single_identifier(name: str, quoted: str) -> None:
    assert quote_ident(name) == quoted
    con = duckdb.connect()
    con.execute(f"CREATE TABLE t ({quote_ident(name)} INTEGER)")
    assert con.execute("DESCRIBE t").fetchall()[0][0] == name


def test_default_path_is_the_env_var_else_outside_the_source_tree(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("CMOT_STORE", str(tmp_path / "x"))
    assert default_store_path() == tmp_path / "x"
    monkeypatch.delenv("CMOT_STORE")
    repo = Path(__file__).resolve().parents[2]
    assert repo not in default_store_path().parents


def test_deleting_a_dataset_deletes_its_saved_segmentations(store: Store) -> None:
    from cmot.segments.given import given_segments
    from cmot.segments.records import save_segmentation

    keep, _ = ingest(store, DEMO_CSV, "keep", SPEC)
    gone, _ = ingest(store, DEMO_CSV, "gone", SPEC)
    cur = store.cursor()
    for info in (keep, gone):
        save_segmentation(
            store, info.id, "by segment", given_segments(cur, info.table, ["Segment"])
        )
    store.delete_dataset("gone")
    assert store.list_segmentations(gone.id).empty
    assert len(store.list_segmentations(keep.id)) == 1
    assert len(list((store.path / "segmentations").iterdir())) == 1


def test_views_read_the_parquet_files_with_the_stored_types(store: Store) -> None:
    info, _ = ingest(store, DEMO_CSV, "clients", SPEC)
    described = store.cursor().execute(f"DESCRIBE SELECT * FROM {info.table}").fetchall()
    types = {r[0]: r[1] for r in described}
    assert types["__cmot_row"] == "BIGINT" and types["__cmot_y"] == "DOUBLE"
    assert types[info.spec.touchpoints[0].column] == "TINYINT"
    assert info.file.parent == store.path / "datasets" and info.file.suffix == ".parquet"


@pytest.mark.slow  # a fresh process per command: not for the quick loop
def test_a_dead_process_leftovers_are_removed_on_open(store_dir: Path) -> None:
    store = Store(store_dir)
    earlier, _ = ingest(store, DEMO_CSV, "earlier", SPEC)
    close_all()
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    ).stdout.strip()
    (store_dir / "tmp" / f"{dead}-abc.parquet").write_bytes(b"half a file")
    (store_dir / "tmp" / f"{dead}-duckdb").mkdir()
    (store_dir / "tmp" / f"{dead}-duckdb" / "spill.block").write_bytes(b"x")
    (store_dir / "datasets" / "unnamed.parquet").write_bytes(b"renamed, never committed")
    live = store_dir / "tmp" / f"{os.getpid()}-mine.parquet"
    live.write_bytes(b"a live writer's file")
    again = Store(store_dir)
    assert sorted(p.name for p in (store_dir / "tmp").iterdir()) == [live.name]
    assert {p.name for p in (store_dir / "datasets").iterdir()} == {earlier.file.name}
    assert len(again.read_frame(earlier)) == 6600
