"""Bad input: one clear CmotError that says what to fix, and a store byte-for-byte unchanged."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from cmot.errors import CmotError
from cmot.ingest.options import IngestOptions
from cmot.store.datasets import Store
from cmot.store.demo import DEMO_CSV
from cmot.store.directory import close_all
from cmot.store.intake import ingest
from tests.conftest import ROOT, files_digest

GOOD = "id,a,b,c,satisfied\n1,1,2,3,yes\n2,2,3,4,no\n3,5,4,3,yes\n4,4,1,5,no\n"

# name -> (file bytes, options, a phrase of the message that says what to do)
CORPUS: dict[str, tuple[bytes, IngestOptions, str]] = {
    "empty file": (b"", IngestOptions(), "file is empty"),
    "header only": (b"id,a,b,satisfied\n", IngestOptions(), "header but no data rows"),
    "binary garbage": (
        bytes(range(256)) * 40,
        IngestOptions(),
        "does not look like a CSV",
    ),
    "wrong delimiter": (
        GOOD.replace(",", ";").encode(),
        IngestOptions(delimiter=","),
        "delimiter could not be recognised",
    ),
    "ragged rows (small)": (
        b"id,a,b,c,satisfied\n1,1,2,3,yes\n2,2,3\n3,5,4,3,yes\n",
        IngestOptions(),
        "Row 3 has 3 fields but the header has 5",
    ),
    "ragged rows (deep in a large file)": (
        (
            "id,a,b,c,satisfied\n"
            + "".join(f"{i},1,2,3,yes\n" for i in range(40_000))
            + "40001,1,2\n"
        ).encode(),
        IngestOptions(),
        "ragged row at line 40002",
    ),
    "duplicate ids": (
        (GOOD + "2,3,3,3,yes\n").encode(),
        IngestOptions(),
        "repeat a respondent id in 'id' (e.g. 2)",
    ),
    "no outcome column": (
        b"id,a,b,c\n1,1,2,3\n2,2,3,4\n3,5,4,5\n",
        IngestOptions(),
        "pick the outcome column",
    ),
    "constant outcome": (
        b"id,a,b,c,satisfied\n1,1,2,3,yes\n2,2,3,4,yes\n3,5,4,3,yes\n",
        IngestOptions(positive=("yes",)),
        "is positive for every respondent",
    ),
    "over the size cap": (
        GOOD.encode() * 50,
        IngestOptions(max_bytes=1000),
        "over the 0 MB limit",
    ),
    "no ratings": (
        b"id,name,satisfied\n1,x,yes\n2,y,no\n",
        IngestOptions(),
        "pick the touchpoint columns",
    ),
    "a column named rowid": (
        GOOD.replace("id,a", "rowid,a", 1).encode(),
        IngestOptions(),
        "The column name 'rowid' is reserved",
    ),
    "outcome that does not exist": (
        GOOD.encode(),
        IngestOptions(outcome="loyalty"),
        "no column 'loyalty'",
    ),
}


@pytest.fixture
def seeded_store(store_dir: Path) -> Store:
    store = Store(store_dir)
    ingest(store, DEMO_CSV, "earlier")
    close_all()  # flush to the file so its bytes are final
    return Store(store_dir)


@pytest.mark.parametrize("case", list(CORPUS))
def test_bad_input_raises_a_clear_error_and_leaves_the_store_untouched(
    case: str, seeded_store: Store, store_dir: Path
) -> None:
    data, options, phrase = CORPUS[case]
    before = files_digest(store_dir)
    with pytest.raises(CmotError) as e:
        ingest(seeded_store, data, "new", options, source_name=f"{case}.csv")
    assert phrase in str(e.value)
    assert "Traceback" not in str(e.value)
    close_all()
    assert files_digest(store_dir) == before
    again = Store(store_dir)
    assert [d.name for d in again.list_datasets()] == ["earlier"]


def test_a_file_over_the_cap_is_refused_before_it_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, store: Store
) -> None:
    big = tmp_path / "big.csv"
    big.write_text(GOOD * 1000)
    monkeypatch.setenv("CMOT_MAX_UPLOAD_MB", "0.01")
    opened: list[str] = []
    real_open = Path.open

    def spy(self: Path, *a: object, **k: object) -> object:
        opened.append(str(self))
        return real_open(self, *a, **k)  # type: ignore[call-overload]

    monkeypatch.setattr(Path, "open", spy)
    with pytest.raises(CmotError, match="over the 0 MB limit"):
        ingest(store, big, "big")
    assert str(big) not in opened


def run_cli(*args: str, env_db: Path) -> subprocess.CompletedProcess[str]:
    """The command in a fresh process with only the store set (HOME for Spark's JVM)."""
    env = {"CMOT_STORE": str(env_db), "PATH": "/usr/bin:/bin", "HOME": str(env_db.parent)}
    return subprocess.run(
        [sys.executable, "-m", "cmot", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=600,
    )


@pytest.mark.slow  # a fresh process per command: not for the quick loop
def test_cli_ingest_prints_the_report_and_exits_0(tmp_path: Path) -> None:
    db = tmp_path / "cli.duckdb"
    r = run_cli("ingest", str(DEMO_CSV), "--name", "demo", env_db=db)
    assert r.returncode == 0, r.stderr
    assert "rows kept:        6,600" in r.stdout
    assert "Saved as dataset 'demo' version 1" in r.stdout
    listed = run_cli("datasets", env_db=db)
    assert listed.returncode == 0
    assert "demo" in listed.stdout and "6,600" in listed.stdout


@pytest.mark.slow  # a fresh process per command: not for the quick loop
def test_cli_bad_input_prints_one_clear_line_and_exits_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("id,a,b\n")
    r = run_cli("ingest", str(bad), "--name", "x", "--missing", "0", env_db=tmp_path / "c.duckdb")
    assert r.returncode == 2
    assert r.stderr.strip().count("\n") == 0
    assert r.stderr.startswith("error: The file has a header but no data rows")
    assert "Traceback" not in r.stderr
