"""The row cap ($CMOT_MAX_ROWS): counted on the raw bytes, refused before DuckDB reads them."""

from __future__ import annotations

from pathlib import Path

import pytest

from cmot.errors import CmotError
from cmot.ingest import ingest
from cmot.limits import check_rows, count_rows, max_rows
from cmot.store import Store, close_all
from tests.conftest import files_digest

GOOD = "id,a,b,c,satisfied\n" + "".join(
    f"{i},{i % 5 + 1},{i * 2 % 5 + 1},{i * 3 % 5 + 1},{'yes' if i % 3 else 'no'}\n"
    for i in range(40)
)


@pytest.mark.parametrize(
    ("text", "rows"),
    [
        (b"a,b\n1,2\n3,4\n", 2),
        (b"a,b\n1,2\n3,4", 2),  # no final line break
        (b"a,b\r\n1,2\r\n3,4\r\n", 2),
        (b'a,b\n1,"two\nlines"\n3,"say ""hi""\n"\n', 2),  # breaks inside quotes
        (b"a,b\n", 0),
        (b"", 0),
    ],
)
def test_count_rows(tmp_path: Path, text: bytes, rows: int) -> None:
    path = tmp_path / "f.csv"
    path.write_bytes(text)
    assert count_rows(path) == rows
    assert count_rows(path, stop_after=rows) <= rows
    if rows:
        assert count_rows(path, stop_after=rows - 1) > rows - 1


def test_quoted_line_breaks_do_not_count_against_the_cap(tmp_path: Path) -> None:
    path = tmp_path / "comments.csv"
    path.write_bytes(b"id,comment\n" + b'1,"a\nlong\ncomment"\n' * 10)
    check_rows(path, cap=10)  # 31 lines, 10 rows
    with pytest.raises(CmotError, match="more than 9 data rows"):
        check_rows(path, cap=9)


def test_the_cap_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CMOT_MAX_ROWS", raising=False)
    assert max_rows() == 5_000_000
    monkeypatch.setenv("CMOT_MAX_ROWS", "1000")
    assert max_rows() == 1000
    monkeypatch.setenv("CMOT_MAX_ROWS", "lots")
    with pytest.raises(CmotError, match="CMOT_MAX_ROWS must be a whole number"):
        max_rows()


def test_ingest_refuses_a_file_over_the_row_cap_and_leaves_the_store(
    store_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ingest(Store(store_dir), GOOD.encode(), "earlier")
    close_all()
    store = Store(store_dir)
    read: list[str] = []
    import cmot.read as read_mod

    real = read_mod._read_raw
    monkeypatch.setattr(read_mod, "_read_raw", lambda *a, **k: read.append("x") or real(*a, **k))
    monkeypatch.setenv("CMOT_MAX_ROWS", "39")
    with pytest.raises(CmotError, match=r"more than 39 data rows.*CMOT_MAX_ROWS"):
        ingest(store, GOOD.encode(), "big")
    assert read == []  # refused before DuckDB parsed the file
    monkeypatch.setenv("CMOT_MAX_ROWS", "40")
    info, _ = ingest(store, GOOD.encode(), "exactly")
    assert info.rows_kept == 40
    monkeypatch.setenv("CMOT_MAX_ROWS", "39")
    close_all()
    before = files_digest(store_dir)
    with pytest.raises(CmotError):
        ingest(Store(store_dir), GOOD.encode(), "big")
    close_all()
    assert files_digest(store_dir) == before


def test_the_builtin_demo_loads_whatever_the_caps(
    store_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cmot.demo import ensure_demo

    monkeypatch.setenv("CMOT_MAX_ROWS", "10")
    monkeypatch.setenv("CMOT_MAX_UPLOAD_MB", "0.01")
    assert ensure_demo(Store(store_dir)).rows_kept == 6600
