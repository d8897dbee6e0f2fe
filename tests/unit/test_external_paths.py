"""External datasets' paths: what the server may read, and what a refusal may say.

The dashboard reads Parquet only under `$CMOT_EXTERNAL_ROOTS`. A location is refused when it
has a `..` anywhere; a glob is expanded here, every folder it walks and every file it
matches resolved (links too) and required under a root; the resolved files are stored with
the dataset and expanded and checked again on every read, so a file swapped for a link out
after registration is refused, not read. No refusal shows SQL or says anything about what
lies outside the roots.
"""

from __future__ import annotations

import os
import sqlite3
from dataclasses import replace
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from cmot.errors import CmotError, engine_message
from cmot.store import sources
from cmot.store.catalog import CATALOG_FILENAME, Catalog
from cmot.store.datasets import Store
from cmot.store.external import register_external, source_version
from cmot.store.sources import ENV_EXTERNAL_ROOTS, check_allowed
from tests.unit.test_external import options, survey

ROWS = 300


def write(path: Path, frame: pd.DataFrame) -> None:
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path)


@pytest.fixture
def tree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """(ROOT, a folder outside it): ROOT/lake/a.parquet and OUTSIDE/secret.parquet, both
    valid surveys; $CMOT_EXTERNAL_ROOTS = ROOT."""
    root, outside = tmp_path / "root", tmp_path / "outside"
    (root / "lake").mkdir(parents=True)
    outside.mkdir()
    write(root / "lake" / "a.parquet", survey(ROWS, seed=1))
    write(outside / "secret.parquet", survey(ROWS, seed=2))
    monkeypatch.setenv(ENV_EXTERNAL_ROOTS, str(root))
    return root, outside


def refused(store: Store, location: str, match: str) -> str:
    """The refusal of `location` by the dashboard's check and by registering; its text."""
    with pytest.raises(CmotError, match=match) as checked:
        check_allowed(location, "duckdb")
    with pytest.raises(CmotError, match=match) as registered:
        register_external(store, "x", location, options=options())
    assert store.list_datasets() == []
    for text in (str(checked.value), str(registered.value)):
        assert "SELECT" not in text.upper() and "read_parquet" not in text and "LINE" not in text
    return str(registered.value)


def test_dot_dot_is_refused_anywhere(store: Store, tree: tuple[Path, Path]) -> None:
    root, _ = tree
    text = refused(store, f"{root}/*/../../outside/*.parquet", r"`\.\.`")
    assert "without `..`" in text
    refused(store, f"{root}/lake/../lake/a.parquet", r"`\.\.`")  # even one that stays inside


def test_passwd_through_dot_dot_says_nothing_about_it(
    store: Store, tree: tuple[Path, Path]
) -> None:
    """Whether /etc/passwd exists or not, the same refusal, and no SQL."""
    root, _ = tree
    there, absent = f"{root}/*/../../../../etc/passwd", f"{root}/*/../../../../etc/no-such"
    a, b = refused(store, there, r"`\.\.`"), refused(store, absent, r"`\.\.`")
    assert a.replace(there, "X") == b.replace(absent, "X")


def test_a_linked_folder_pointing_outside_is_refused(store: Store, tree: tuple[Path, Path]) -> None:
    root, outside = tree
    (root / "mirror").symlink_to(outside)
    for location in (f"{root}/mirror/*.parquet", f"{root}/mirror", f"{root}/*/*.parquet"):
        text = refused(store, location, "outside the folders this server may read")
        assert str(outside) not in text and "secret" not in text


def test_a_linked_folder_reveals_nothing_about_what_it_holds(
    store: Store, tree: tuple[Path, Path]
) -> None:
    """A link out of the root is refused as soon as the glob meets it, whether or not the
    file it would reach exists: no way to probe what lies outside."""
    root, outside = tree
    (root / "etc").symlink_to(outside)
    there, absent = f"{root}/*/secret.parquet", f"{root}/*/no-such.parquet"
    a, b = refused(store, there, "outside the folders"), refused(store, absent, "outside the")
    assert a.replace(there, "X") == b.replace(absent, "X")


def test_a_linked_file_pointing_outside_is_refused(store: Store, tree: tuple[Path, Path]) -> None:
    root, outside = tree
    (root / "lake" / "evil.parquet").symlink_to(outside / "secret.parquet")
    for location in (f"{root}/lake/*.parquet", f"{root}/lake/evil.parquet", f"{root}/lake"):
        text = refused(store, location, "outside the folders this server may read")
        assert str(outside) not in text and "secret" not in text
    # A link whose target is missing is refused alike: its target's existence is not told.
    (root / "lake" / "evil.parquet").unlink()
    (root / "lake" / "evil.parquet").symlink_to(outside / "no-such.parquet")
    refused(store, f"{root}/lake/*.parquet", "outside the folders this server may read")


def test_a_link_inside_the_root_is_read_by_its_target(
    store: Store, tree: tuple[Path, Path]
) -> None:
    root, _ = tree
    (root / "current").symlink_to(root / "lake")
    info, report = register_external(store, "x", f"{root}/current/*.parquet", options=options())
    assert report.rows_read == ROWS
    assert info.external is not None
    assert info.external.files == (str((root / "lake" / "a.parquet").resolve()),)


def test_the_file_list_is_stored_and_read_exactly(
    store: Store, tree: tuple[Path, Path], store_dir: Path
) -> None:
    root, _ = tree
    info, _ = register_external(store, "x", f"{root}/lake/*.parquet", options=options())
    want = (str((root / "lake" / "a.parquet").resolve()),)
    assert info.external is not None and info.external.files == want
    assert (
        "*.parquet" not in info.table
        and f"read_parquet([{sources.quote_literal(want[0])}])" in (info.table)
    )
    again = Store(store_dir).get_dataset("x")  # a new process's store: the list was stored
    assert again.external is not None and again.external.files == want


def test_a_file_swapped_for_a_link_after_registering_is_refused(
    store: Store, tree: tuple[Path, Path]
) -> None:
    root, outside = tree
    register_external(store, "x", f"{root}/lake/*.parquet", options=options())
    a = root / "lake" / "a.parquet"
    a.unlink()
    a.symlink_to(outside / "secret.parquet")
    info = store.get_dataset("x")
    with pytest.raises(CmotError, match="outside the folders this server may read") as e:
        _ = info.table
    assert str(outside) not in str(e.value) and "SELECT" not in str(e.value)
    with pytest.raises(CmotError, match="outside the folders this server may read"):
        source_version(info)


def test_a_folder_swapped_for_a_link_after_registering_is_refused(
    store: Store, tree: tuple[Path, Path]
) -> None:
    root, outside = tree
    register_external(store, "x", str(root / "lake"), options=options())
    (root / "lake").rename(root / "old")
    (root / "lake").symlink_to(outside)
    with pytest.raises(CmotError, match="outside the folders this server may read"):
        _ = store.get_dataset("x").table


def test_new_files_in_a_registered_glob_are_checked_too(
    store: Store, tree: tuple[Path, Path]
) -> None:
    root, outside = tree
    register_external(store, "x", f"{root}/lake/*.parquet", options=options())
    write(root / "lake" / "b.parquet", survey(ROWS, seed=3))
    info = store.get_dataset("x")
    rows = store.cursor().execute(f"SELECT count(*) FROM {info.table}").fetchall()[0][0]
    assert rows > info.rows_kept  # the new file is read
    (root / "lake" / "c.parquet").symlink_to(outside / "secret.parquet")
    with pytest.raises(CmotError, match="outside the folders"):
        _ = store.get_dataset("x").table


def test_a_file_that_is_no_parquet_is_refused_without_sql(
    store: Store, tree: tuple[Path, Path]
) -> None:
    root, _ = tree
    (root / "lake" / "notes.parquet").write_text("not parquet at all")
    with pytest.raises(CmotError, match="cannot read") as e:
        register_external(store, "x", f"{root}/lake/notes.parquet", options=options())
    assert "SELECT" not in str(e.value).upper() and "LINE 1" not in str(e.value)


def test_the_command_line_without_roots_follows_links_but_not_dot_dot(
    store: Store, tree: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Unset, the operator's own command line reads any path (links resolved), never `..`."""
    root, outside = tree
    monkeypatch.delenv(ENV_EXTERNAL_ROOTS)
    (root / "mirror").symlink_to(outside)
    info, _ = register_external(store, "x", f"{root}/mirror/*.parquet", options=options())
    assert info.external is not None
    assert info.external.files == (str((outside / "secret.parquet").resolve()),)
    with pytest.raises(CmotError, match=r"`\.\.`"):
        register_external(store, "y", f"{root}/lake/../mirror/*.parquet", options=options())


def test_a_dataset_stored_before_file_lists_still_reads(
    store: Store, tree: tuple[Path, Path]
) -> None:
    """A store of an earlier version gains the files' table on open; its datasets have no
    list there, and their location is expanded and checked as every read does."""
    root, _ = tree
    info, _ = register_external(store, "x", f"{root}/lake/*.parquet", options=options())
    con = sqlite3.connect(store.path / CATALOG_FILENAME)
    con.execute("DROP TABLE external_files")
    con.close()
    Catalog(store.path)  # what opening the store does
    con = sqlite3.connect(store.path / CATALOG_FILENAME)
    assert con.execute("SELECT count(*) FROM external_files").fetchone() == (0,)
    con.close()
    assert info.external is not None
    old = replace(info.external, files=())
    relation = sources.duckdb_relation(old, info.spec)
    rows = store.cursor().execute(f"SELECT count(*) FROM {relation}").fetchall()[0][0]
    assert rows == info.rows_kept


def test_loops_of_links_end(store: Store, tree: tuple[Path, Path]) -> None:
    root, _ = tree
    os.symlink(root / "lake", root / "lake" / "again")  # lake/again -> lake
    _, report = register_external(store, "x", str(root / "lake"), options=options())
    assert report.rows_read == ROWS  # a.parquet once, however many ways lead to it


def test_engine_messages_lose_their_query_and_viewers_lose_the_paths(
    store: Store, tree: tuple[Path, Path]
) -> None:
    root, _ = tree
    bad = root / "lake" / "notes.parquet"
    bad.write_text("not parquet at all")
    with pytest.raises(duckdb.Error) as e:
        store.cursor().execute(f"SELECT count(*) FROM read_parquet('{bad}')").fetchall()
    assert "LINE 1" in str(e.value)  # DuckDB quotes the query...
    text = engine_message(e.value)
    assert "SELECT" not in text and "\n" not in text and str(bad) in text  # ...a message not
    info, _ = register_external(store, "x", f"{root}/lake/a.parquet", options=options())
    assert info.external is not None
    hidden = sources.hide_paths(f"Cannot read: {text}; see {info.external.location}", info.external)
    assert str(root) not in hidden and "Cannot read" in hidden


def test_a_loop_of_links_is_no_file(
    store: Store, tree: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    root, _ = tree
    (root / "lake" / "loop.parquet").symlink_to(root / "lake" / "loop.parquet")
    refused(store, f"{root}/lake/*.parquet", "outside the folders")  # roots: no telling
    monkeypatch.delenv(ENV_EXTERNAL_ROOTS)
    assert sources.parquet_files(f"{root}/lake/*.parquet") == [str(root / "lake" / "a.parquet")]
