"""Shared fixtures: a fresh store per test, the demo and the real airline survey."""

from __future__ import annotations

import hashlib
import os
import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from cmot.store import directory as store_mod
from cmot.store.datasets import Store

# Every JVM the tests start (Spark sessions here and in the commands, servers, Spark
# Connect) compiles with HotSpot's quick compiler only: on the tests' few thousand rows the
# optimising one spent more CPU compiling Spark's generated code than it saved (the Kansas
# City wide journey's `analyze --engine spark`: 57 -> 36 JVM CPU-seconds). Results are
# the same; a user's Spark keeps both compilers.
os.environ.setdefault("CMOT_SPARK_JAVA_OPTIONS", "-XX:TieredStopAtLevel=1")

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
AIRLINE_CSV = SHARED / "data" / "airline" / "airline_passenger_satisfaction.csv"
# The real public surveys of ../shared/data (its README says what each one tests).
DATA = SHARED / "data"
KANSAS_CSV = DATA / "kansas-city-resident" / "wave_2021_09.csv"
SAN_DIEGO_CSV = DATA / "san-diego-resident" / "survey_2015.csv"
ABC_CSV = DATA / "abc-b2b-customer" / "abc.csv"
MOBILE_CSV = DATA / "mobile-providers" / "corporate_reputation.csv"
NAPLES_CSV = DATA / "naples-orientation" / "univer_2002.csv"
TOUCHPOINTS_CSV = DATA / "airline-touchpoints" / "airline_survey_1to4.csv"


def need_real(path: Path) -> Path:
    """The real survey at `path`, or skip the test saying where it was looked for."""
    if not path.exists():
        pytest.skip(f"the real survey {path.name} is not at {path} (../shared beside the repo)")
    return path


@pytest.fixture
def airline_csv() -> Path:
    if not AIRLINE_CSV.exists():
        pytest.skip(f"the airline survey is not at {AIRLINE_CSV} (../shared beside the repo)")
    return AIRLINE_CSV


@pytest.fixture
def store_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    path = tmp_path / "store"
    monkeypatch.setenv("CMOT_STORE", str(path))
    yield path
    store_mod.close_all()


@pytest.fixture
def store(store_dir: Path) -> Store:
    return Store(store_dir)


def copy_store(source: Path, dest: Path) -> None:
    """A copy of the store at `source` (open in this process or not) as a new store at `dest`:
    its files, and its catalog through SQLite's backup (a consistent copy of a WAL database,
    committed rows only). Left out: `tmp/` (this process's spill folder) and the locks."""
    dest.mkdir(parents=True)
    for sub in source.iterdir():
        if sub.is_dir() and sub.name != "tmp":
            shutil.copytree(sub, dest / sub.name)
    src = sqlite3.connect(source / "catalog.sqlite")
    out = sqlite3.connect(dest / "catalog.sqlite")
    try:
        src.backup(out)
    finally:
        out.close()
        src.close()


@pytest.fixture(scope="session")
def demo_waves_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store with the demo and the demo waves, made once per test process: a test that
    needs both copies it (`demo_waves_store`) instead of ingesting them again (~2 s)."""
    from cmot.store.demo import ensure_demo, ensure_demo_waves

    path = tmp_path_factory.mktemp("template") / "store"
    template = Store(path)
    ensure_demo(template)
    ensure_demo_waves(template)
    return path


@pytest.fixture
def demo_waves_store(store_dir: Path, demo_waves_template: Path) -> Store:
    """A fresh store (`store_dir`) holding the demo and the demo waves, as `ensure_demo` and
    `ensure_demo_waves` leave it: a copy of the session's template."""
    copy_store(demo_waves_template, store_dir)
    return Store(store_dir)


def files_digest(store_dir: Path) -> dict[str, str]:
    """The store's content, 'byte-for-byte unchanged' made checkable.

    Every data file's sha256, and the catalog's rows as SQL text: SQLite's -shm index changes
    on a mere read, and a checkpoint moves bytes between the WAL and the main file.
    """
    out = {}
    for p in sorted(store_dir.glob("*/*.parquet")):
        out[str(p.relative_to(store_dir))] = hashlib.sha256(p.read_bytes()).hexdigest()
    con = sqlite3.connect(store_dir / "catalog.sqlite")
    try:
        dump = "\n".join(con.iterdump())
    finally:
        con.close()
    out["catalog"] = hashlib.sha256(dump.encode()).hexdigest()
    return out


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Every test under tests/e2e and tests/load drives a real browser or server: mark it
    `e2e` by where it lives, so the quick loop (-m "not e2e and not slow") never starts one,
    whether or not its module remembers the mark."""
    browser_dirs = (ROOT / "tests" / "e2e", ROOT / "tests" / "load")
    for item in items:
        if any(item.path.is_relative_to(d) for d in browser_dirs):
            item.add_marker(pytest.mark.e2e)
    # Spark is optional: its tests skip, saying what is missing, where it cannot run.
    from cmot.store.spark import spark_available

    no_spark = spark_available()
    for item in items:
        if no_spark and item.get_closest_marker("spark") is not None:
            item.add_marker(pytest.mark.skip(reason=f"spark test: {no_spark}"))

    # pytest-xdist's --dist loadfile --no-loadscope-reorder (scripts/test.sh) hands whole
    # files to the workers in this order: the files with Spark first (the longest: JVMs and
    # their queries), then those with a browser, a server or a slow test, so a run of
    # everything ends on short tests and neither worker idles while the other finishes a
    # long file.
    def marked(mark: str) -> set[Path]:
        return {item.path for item in items if item.get_closest_marker(mark)}

    spark = marked("spark")
    heavy = spark | marked("e2e") | marked("slow")
    # stable: each file keeps its order
    items.sort(key=lambda item: (item.path not in heavy, item.path not in spark))
