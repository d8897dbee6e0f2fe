"""Store: versions, rename, delete, restarts, atomic saves, threads, quoting."""

from __future__ import annotations

import threading
from pathlib import Path

import duckdb
import pytest

from cmot.demo import DEMO_CSV, DEMO_SPEC
from cmot.errors import CmotError
from cmot.ingest import IngestOptions, ingest, read_csv
from cmot.spec import load_spec
from cmot.store import Store, close_all, default_db_path, quote_ident

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


def test_everything_survives_a_restart(db_path: Path) -> None:
    info, _ = ingest(Store(db_path), DEMO_CSV, "clients", SPEC)
    close_all()
    again = Store(db_path)
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
    tables_before = {r[0] for r in store.cursor().execute("SHOW TABLES").fetchall()}
    assert store.delete_dataset("renamed") == 2
    tables_after = {r[0] for r in store.cursor().execute("SHOW TABLES").fetchall()}
    assert len(tables_before - tables_after) == 2
    with pytest.raises(CmotError, match="No dataset named 'renamed'"):
        store.get_dataset("renamed")


def test_a_save_that_fails_midway_leaves_nothing_behind(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    earlier, _ = ingest(store, DEMO_CSV, "earlier", SPEC)
    prepared = read_csv(DEMO_CSV, SPEC)
    tables = {r[0] for r in store.cursor().execute("SHOW TABLES").fetchall()}

    def boom(*_: object) -> str:
        raise RuntimeError("disk full")  # fails after the data table is created

    monkeypatch.setattr("cmot.store.dumps_spec", boom)
    with pytest.raises(RuntimeError):
        store.save_dataset("new", prepared.data, prepared.spec, {}, "x.csv", "0" * 64)
    assert {r[0] for r in store.cursor().execute("SHOW TABLES").fetchall()} == tables
    assert [d.name for d in store.list_datasets()] == ["earlier"]
    assert len(store.read_frame(earlier)) == 6600


def test_threads_share_one_connection_through_their_own_cursors(store: Store) -> None:
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


def test_a_second_process_sees_a_locked_store_as_a_clear_error(db_path: Path) -> None:
    Store(db_path)
    import subprocess
    import sys

    code = (
        "from cmot.store import Store\n"
        "from cmot.errors import CmotError\n"
        f"try:\n    Store({str(db_path)!r})\nexcept CmotError as e:\n    print('clear:', e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.startswith("clear: Cannot open the dataset store")


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
    monkeypatch.setenv("CMOT_DB", str(tmp_path / "x.duckdb"))
    assert default_db_path() == tmp_path / "x.duckdb"
    monkeypatch.delenv("CMOT_DB")
    repo = Path(__file__).resolve().parents[2]
    assert repo not in default_db_path().parents


def test_deleting_a_dataset_deletes_its_saved_segmentations(store: Store) -> None:
    from cmot.segments import given_segments, list_segmentations, save_segmentation

    keep, _ = ingest(store, DEMO_CSV, "keep", SPEC)
    gone, _ = ingest(store, DEMO_CSV, "gone", SPEC)
    cur = store.cursor()
    for info in (keep, gone):
        save_segmentation(cur, info.id, "by segment", given_segments(cur, info.table, ["Segment"]))
    store.delete_dataset("gone")
    assert list_segmentations(cur, gone.id).empty
    assert len(list_segmentations(cur, keep.id)) == 1
    left = cur.execute("SELECT count(*) FROM cmot_segment_assignments").fetchall()[0][0]
    assert left == 6600  # only the kept dataset's assignments remain
