"""Shared fixtures: a fresh store per test, the demo and the real airline survey."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from cmot import store as store_mod
from cmot.store import Store

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
def db_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    path = tmp_path / "store.duckdb"
    monkeypatch.setenv("CMOT_DB", str(path))
    yield path
    store_mod.close_all()


@pytest.fixture
def store(db_path: Path) -> Store:
    return Store(db_path)


def files_digest(db: Path) -> dict[str, str]:
    """sha256 of the store file and its WAL: 'byte-for-byte unchanged' made checkable."""
    out = {}
    for p in sorted(db.parent.glob(db.name + "*")):
        out[p.name] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out
