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
