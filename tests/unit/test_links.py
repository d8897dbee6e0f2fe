"""Links kept in the store: saved, listed, read back after a reopen, replaced, deleted with
a dataset; an old store gains the tables; `python -m cmot link`, `links` and
`trend --link` end to end on the real Kansas City waves."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pandas as pd
import pytest

from cmot.errors import CmotError
from cmot.ingest.options import IngestOptions
from cmot.store import directory as store_mod
from cmot.store.datasets import Store
from cmot.store.demo import WAVE_COLUMN, WAVE_LABELS, demo_spec, generate_waves
from cmot.store.intake import ingest
from cmot.store.links import Link
from cmot.waves.sources import waves_from_link
from tests.conftest import DATA, need_real
from tests.unit.test_cli import run_cli

KC = DATA / "kansas-city-resident"


@pytest.fixture
def demo_ids(store: Store, tmp_path: Path) -> list[int]:
    """The demo's three waves as three stored datasets, in order."""
    data = generate_waves(n_per_segment=150, seed=3)
    ids = []
    for label in WAVE_LABELS:
        path = tmp_path / f"wave_{label}.csv"
        data.frame[data.frame[WAVE_COLUMN] == label].drop(columns=WAVE_COLUMN).to_csv(
            path, index=False
        )
        info, _ = ingest(store, path, f"demo {label}", IngestOptions(spec=demo_spec()))
        ids.append(info.id)
    return ids


def test_a_link_persists_across_a_reopen(
    store_dir: Path, store: Store, demo_ids: list[int]
) -> None:
    mapping = {demo_ids[1]: {"Invoicing": "Invoicing"}, demo_ids[2]: {}}
    link_id = store.save_link("demo", demo_ids, list(WAVE_LABELS), mapping)
    store_mod.close_all()
    again = Store(store_dir)
    link = again.get_link("demo")
    assert link == Link(link_id, "demo", tuple(demo_ids), WAVE_LABELS, mapping)
    listed = again.list_links()
    assert list(listed.columns) == ["id", "name", "datasets", "labels", "created_at"]
    row = listed.iloc[0]
    assert (row["name"], row["labels"]) == ("demo", "2025, 2026, 2027")
    assert row["datasets"] == "demo 2025 v1, demo 2026 v1, demo 2027 v1"
    source = waves_from_link(again, link)
    assert source.labels == WAVE_LABELS
    assert source.spec.touchpoint_columns == demo_spec().touchpoint_columns


def test_saving_a_link_checks_what_it_is_given(store: Store, demo_ids: list[int]) -> None:
    a, b, c = demo_ids
    with pytest.raises(CmotError, match="two datasets or more"):
        store.save_link("x", [a], ["one"], {})
    with pytest.raises(CmotError, match="its own label"):
        store.save_link("x", [a, b], ["same", "same"], {})
    with pytest.raises(CmotError, match="twice"):
        store.save_link("x", [a, a], ["1", "2"], {})
    with pytest.raises(CmotError, match="not later waves"):
        store.save_link("x", [a, b], ["1", "2"], {a: {"x": "y"}})
    with pytest.raises(CmotError, match="same first-wave column"):
        store.save_link("x", [a, b], ["1", "2"], {b: {"p": "Invoicing", "q": "Invoicing"}})
    with pytest.raises(CmotError, match="No dataset versions"):
        store.save_link("x", [a, 10_000], ["1", "2"], {})
    store.save_link("x", [a, b], ["1", "2"], {})
    with pytest.raises(CmotError, match="exists already"):
        store.save_link("x", [a, c], ["1", "3"], {})
    store.save_link("x", [a, c], ["1", "3"], {}, replace=True)
    assert store.get_link("x").dataset_ids == (a, c)
    assert len(store.list_links()) == 1
    store.delete_link("x")
    assert store.list_links().empty
    with pytest.raises(CmotError, match="No link named 'x'"):
        store.get_link("x")
    with pytest.raises(CmotError, match="nothing to delete"):
        store.delete_link("x")


def test_deleting_a_dataset_deletes_the_links_it_is_a_wave_of(
    store: Store, demo_ids: list[int]
) -> None:
    a, b, c = demo_ids
    store.save_link("ab", [a, b], ["1", "2"], {})
    store.save_link("ac", [a, c], ["1", "3"], {})
    store.save_link("bc", [b, c], ["2", "3"], {})
    store.delete_dataset("demo 2027")
    assert list(store.list_links().name) == ["ab"]
    with pytest.raises(CmotError, match="No link named 'bc'"):
        store.get_link("bc")
    rows = store.catalog.read("SELECT count(*) FROM link_waves")
    assert rows[0][0] == 2  # the deleted links' waves went with them


def test_an_existing_store_gains_the_link_tables(store_dir: Path, store: Store) -> None:
    store_mod.close_all()
    con = sqlite3.connect(store_dir / "catalog.sqlite")
    con.executescript(
        "DROP TRIGGER links_of_deleted_dataset; DROP TABLE link_waves; DROP TABLE links;"
    )
    con.close()
    assert Store(store_dir).list_links().empty


# ---- the command line on the real Kansas City waves -----------------------------------------

RENAMED = {"q3_01": "Police services", "q3_02": " Q3_02 ", "q9_01": "Q9-01"}


@pytest.mark.slow  # a fresh process per command: not for the quick loop
def test_link_cli_end_to_end(tmp_path: Path, store_dir: Path) -> None:
    first = need_real(KC / "wave_2021_09.csv")
    second = need_real(KC / "wave_2022_03.csv")
    flags = ["--outcome", "q2_01", "--missing", "9,99"]
    tps = ["--touchpoints", "q3_*,q9_*"]
    for path, name in ((first, "kc1"), (second, "kc2")):
        r = run_cli("ingest", str(path), "--name", name, *flags, *tps)
        assert r.returncode == 0, r.stderr
    raw = pd.read_csv(second, dtype=str, keep_default_na=False)
    raw = raw.rename(columns=RENAMED)
    renamed = tmp_path / "wave_2022_03_renamed.csv"
    raw.to_csv(renamed, index=False)
    plain_tps = [c for c in pd.read_csv(second, nrows=0).columns if c.startswith(("q3_", "q9_"))]
    cols = [RENAMED.get(c, c).strip() for c in plain_tps]
    r = run_cli("ingest", str(renamed), "--name", "kc2r", *flags, "--touchpoints", ",".join(cols))
    assert r.returncode == 0, r.stderr

    r = run_cli("link", "kc", "kc1", "kc2r", "--labels", "2021-09,2022-03")
    assert r.returncode == 0, r.stderr
    assert "same name ignoring case, spaces and punctuation" in r.stdout
    assert "Nothing saved" in r.stdout
    assert "No links yet" in run_cli("links").stdout

    yes = ["--labels", "2021-09,2022-03", "--map", "Police services=q3_01", "--yes"]
    r = run_cli("link", "kc", "kc1", "kc2r", *yes)
    assert r.returncode == 0, r.stderr
    assert "Saved link 'kc'" in r.stdout
    assert "kc: kc1 v1, kc2r v1 (waves 2021-09, 2022-03)" in run_cli("links").stdout
    r = run_cli("link", "kc", "kc1", "kc2r", *yes)
    assert r.returncode == 2 and "exists already" in r.stderr

    r = run_cli("trend", "--link", "kc", "--segment", "counci", "--out", str(tmp_path / "link"))
    assert r.returncode == 0, r.stderr
    plain = ["kc1", "kc2", "--labels", "2021-09,2022-03", "--segment", "counci"]
    r = run_cli("trend", *plain, "--out", str(tmp_path / "files"))
    assert r.returncode == 0, r.stderr
    for name in ("trend.csv", "changes.csv", "fixes.csv"):
        got = pd.read_csv(tmp_path / "link" / name)
        want = pd.read_csv(tmp_path / "files" / name)
        pd.testing.assert_frame_equal(got, want)
    r = run_cli("trend", "--link", "kc", "--labels", "a,b", "--out", str(tmp_path / "x"))
    assert r.returncode == 2 and "--link gives the waves and their labels" in r.stderr
    r = run_cli("trend", "--link", "nope", "--out", str(tmp_path / "x"))
    assert r.returncode == 2 and "No link named 'nope'" in r.stderr
