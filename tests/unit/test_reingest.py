"""Editing a saved mapping (issue 23, item 5): the store keeps the survey file a version was
ingested from, and a new mapping makes a new version read again from it."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from cmot.errors import CmotError
from cmot.ingest.options import IngestOptions
from cmot.store.datasets import Store
from cmot.store.intake import ingest, reingest, source_of
from tests.unit.test_guesses import stray


def test_the_source_is_kept_and_a_new_mapping_is_a_new_version(store_dir: Path) -> None:
    store = Store(store_dir)
    data = stray()
    info, _ = ingest(store, data, "survey", IngestOptions(outcome="overall"), "s.csv")
    assert source_of(store, info) == data
    assert 7 in info.spec.missing_codes("q3")
    spec = info.spec
    # The analyst takes q5 out of the journey and gives q3 its own scale 1-7 (the stray 7
    # an answer after all).
    stages = tuple(
        replace(s, touchpoints=tuple(c for c in s.touchpoints if c != "q5")) for s in spec.stages
    )
    edited = spec.with_changes(
        stages=stages,
        touchpoints=tuple(t for t in spec.touchpoints if t.column != "q5"),
        ignored=(*spec.ignored, "q5"),
        scale=replace(spec.scale, missing=()),
        scales={"q3": replace(spec.scale, min=1, max=7, high_min=7, missing=())},
    )
    new, report = reingest(store, info, IngestOptions(spec=edited))
    assert (new.name, new.version) == ("survey", 2)
    assert "q5" not in new.spec.touchpoint_columns
    assert new.spec.scale_of("q3").max == 7
    kept = store.cursor().execute(f"SELECT max(q3) FROM {new.table}").fetchall()[0][0]
    assert kept == 7, "read again from the raw answers: the 7 is back"
    first = store.get_dataset("survey", 1)
    assert "q5" in first.spec.touchpoint_columns, "the first version is unchanged"
    assert source_of(store, new) == data
    assert report.rows_kept == new.rows_kept


def test_a_source_goes_with_the_last_version_naming_it(store_dir: Path) -> None:
    store = Store(store_dir)
    ingest(store, stray(), "a", IngestOptions(outcome="overall"), "s.csv")
    ingest(store, stray(), "b", IngestOptions(outcome="overall"), "s.csv")
    sources = store_dir / "sources"
    assert len(list(sources.iterdir())) == 1, "one file for the same bytes"
    store.delete_dataset("a")
    assert len(list(sources.iterdir())) == 1, "b still names it"
    store.delete_dataset("b")
    assert not list(sources.iterdir())


def test_a_version_without_a_kept_file_says_what_to_do(store_dir: Path) -> None:
    store = Store(store_dir)
    info, _ = ingest(store, stray(), "a", IngestOptions(outcome="overall"), "s.csv")
    (store_dir / "sources" / info.source_sha256).unlink()
    with pytest.raises(CmotError, match="upload the file again"):
        reingest(store, info, IngestOptions(spec=info.spec))
