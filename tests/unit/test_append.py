"""Appending batches to a stored dataset (issue 26, item 1): a new version sharing the
earlier files, validated as an upload, refusals that lose nothing, the same bytes once."""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd
import pytest

from cmot.cli.main import main
from cmot.errors import CmotError
from cmot.feedback.feed import feed_batch, feed_csv, feed_spec
from cmot.ingest.options import IngestOptions
from cmot.names import ID_COL, ROW_COL
from cmot.store.append import append_batch, batch_ranges, check_batch_file
from cmot.store.datasets import Store
from cmot.store.directory import close_all
from cmot.store.intake import ingest
from tests.conftest import files_digest


def _base(store: Store, n: int = 300) -> None:
    ingest(store, feed_csv(1, n, 3), "feed", IngestOptions(spec=feed_spec()), "week01.csv")


def test_a_batch_is_a_new_version_sharing_the_stored_file(store_dir: Path) -> None:
    store = Store(store_dir)
    _base(store)
    v1 = store.get_dataset("feed")
    before = {p.name: p.stat().st_mtime_ns for p in (store_dir / "datasets").iterdir()}
    done = append_batch(store, "feed", feed_csv(2, 120, 3), "week02.csv")
    v2 = done.info
    assert (v2.version, v2.rows_kept, done.rows) == (2, 420, 120)
    assert v2.files[0] == v1.file and len(v2.files) == 2  # the first file is shared
    after = {p.name: p.stat().st_mtime_ns for p in (store_dir / "datasets").iterdir()}
    assert {k: after[k] for k in before} == before  # nothing stored was rewritten
    rows = store.read_frame(v2, [ROW_COL, ID_COL, "Invoicing"])
    assert rows[ROW_COL].tolist() == list(range(420))
    assert rows[ID_COL].iloc[-1] == "W002-00119"
    # The batch's ratings are what the file says.
    sent = feed_batch(2, 120, 3)["Invoicing"].where(lambda s: s != 0)
    assert (
        rows["Invoicing"].iloc[300:].astype(float).fillna(-1).tolist()
        == sent.fillna(-1).astype(float).tolist()
    )
    assert store.get_dataset("feed", 1).rows_kept == 300  # the earlier version is unchanged
    assert [r[1] for r in batch_ranges(v2)] == [0, 300]
    assert "follow the 300" in done.report.to_text()


def test_the_same_batch_twice_and_bad_batches_lose_nothing(store_dir: Path) -> None:
    store = Store(store_dir)
    _base(store)
    append_batch(store, "feed", feed_csv(2, 50, 3), "week02.csv")
    digest = files_digest(store_dir)
    with pytest.raises(CmotError, match=r"already in 'feed'.*week02.csv.*version 2"):
        append_batch(store, "feed", feed_csv(2, 50, 3), "again.csv")
    with pytest.raises(CmotError, match=r"already in 'feed'.*week01.csv"):
        append_batch(store, "feed", feed_csv(1, 300, 3), "first-again.csv")
    week3 = pd.read_csv(io.BytesIO(feed_csv(3, 40, 3)))
    missing = week3.drop(columns=["Invoicing"]).to_csv(index=False).encode()
    with pytest.raises(CmotError, match=r"lacks column.*Invoicing.*Nothing was added"):
        append_batch(store, "feed", missing, "missing.csv")
    typed = week3.assign(**{"Project budget (k)": "lots"}).to_csv(index=False).encode()
    with pytest.raises(CmotError, match=r"'Project budget \(k\)' holds 40 value.*'lots'"):
        append_batch(store, "feed", typed, "typed.csv")
    repeat = pd.read_csv(io.BytesIO(feed_csv(2, 10, 3))).to_csv(index=False).encode()
    with pytest.raises(CmotError, match=r"10 respondent.*already in feed v2"):
        append_batch(store, "feed", repeat, "repeat.csv")
    with pytest.raises(CmotError, match="10 respondent"):
        check_batch_file(store, "feed", repeat, "repeat.csv")
    assert files_digest(store_dir) == digest


def test_codes_and_out_of_scale_answers_are_reported_as_at_upload(store_dir: Path) -> None:
    store = Store(store_dir)
    _base(store)
    week = pd.read_csv(io.BytesIO(feed_csv(2, 30, 3)))
    week.loc[:4, "Invoicing"] = 9  # outside 1-5: set to missing, said in the report
    report = check_batch_file(store, "feed", week.to_csv(index=False).encode(), "w2.csv")
    assert report.out_of_scale == 5
    assert store.get_dataset("feed").version == 1  # checking stored nothing


def test_batches_survive_a_restart_and_a_delete_removes_every_file(store_dir: Path) -> None:
    store = Store(store_dir)
    _base(store)
    for week in (2, 3):
        append_batch(store, "feed", feed_csv(week, 20, 3), f"week{week:02d}.csv")
    close_all()  # a new process: recovery must keep every batch's file
    store = Store(store_dir)
    info = store.get_dataset("feed")
    assert info.rows_kept == 340 and len(info.files) == 3
    assert all(f.exists() for f in info.files)
    store.delete_dataset("feed")
    assert list((store_dir / "datasets").iterdir()) == []


def test_an_appended_version_has_no_single_source_to_map_again(store_dir: Path) -> None:
    store = Store(store_dir)
    _base(store)
    info = append_batch(store, "feed", feed_csv(2, 20, 3), "week02.csv").info
    assert store.source_of(info) is None
    assert store.source_of(store.get_dataset("feed", 1)) is not None


def test_append_command(
    store_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _base(Store(store_dir))
    batch = tmp_path / "week02.csv"
    batch.write_bytes(feed_csv(2, 25, 3))
    assert main(["append", "feed", str(batch)]) == 0
    out = capsys.readouterr().out
    assert "rows kept:        25" in out and "now feed v2, 325 respondents" in out
    assert main(["append", "feed", str(batch)]) == 2
    assert "already in 'feed'" in capsys.readouterr().err
