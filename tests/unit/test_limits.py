"""The row cap ($CMOT_MAX_ROWS): counted on the raw bytes, refused before DuckDB reads them."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from cmot.errors import CmotError
from cmot.ingest.limits import check_rows, count_rows, max_columns, max_rows
from cmot.ingest.options import IngestOptions
from cmot.ingest.pipeline import detect_roles
from cmot.store.datasets import Store
from cmot.store.directory import close_all
from cmot.store.intake import ingest
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
    import cmot.ingest.read as read_mod

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
    from cmot.store.demo import ensure_demo

    monkeypatch.setenv("CMOT_MAX_ROWS", "10")
    monkeypatch.setenv("CMOT_MAX_UPLOAD_MB", "0.01")
    assert ensure_demo(Store(store_dir)).rows_kept == 6600


# ---- the column cap ($CMOT_MAX_COLUMNS) ---------------------------------------------------


def wide_csv(columns: int, rows: int = 30) -> bytes:
    """An id, an outcome and columns-2 ratings: exactly `columns` columns."""
    names = ["id", "overall", *(f"q{i:05d}" for i in range(columns - 2))]
    lines = [",".join(names)]
    for r in range(rows):
        lines.append(
            ",".join([str(r), str(r % 5 + 1), *(str((r + i) % 5 + 1) for i in range(columns - 2))])
        )
    return ("\n".join(lines) + "\n").encode()


def test_the_column_cap_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CMOT_MAX_COLUMNS", raising=False)
    assert max_columns() == 2_000
    monkeypatch.setenv("CMOT_MAX_COLUMNS", "300")
    assert max_columns() == 300
    monkeypatch.setenv("CMOT_MAX_COLUMNS", "many")
    with pytest.raises(CmotError, match="CMOT_MAX_COLUMNS must be a whole number"):
        max_columns()
    monkeypatch.setenv("CMOT_MAX_COLUMNS", "0")
    with pytest.raises(CmotError, match="CMOT_MAX_COLUMNS must be at least"):
        max_columns()


def test_a_csv_over_the_column_cap_is_refused_on_its_header_before_parsing(
    store_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import cmot.ingest.read as read_mod

    read: list[str] = []
    real = read_mod._read_raw
    monkeypatch.setattr(read_mod, "_read_raw", lambda *a, **k: read.append("x") or real(*a, **k))
    data = wide_csv(41)
    monkeypatch.setenv("CMOT_MAX_COLUMNS", "40")
    with pytest.raises(CmotError) as refused:
        detect_roles(data, IngestOptions(), "wide.csv")
    message = str(refused.value)
    assert "41 columns" in message and "40" in message and "CMOT_MAX_COLUMNS" in message
    assert "drop" in message.lower()  # says what to do
    assert read == []  # refused on the header line, before DuckDB parsed the file
    with pytest.raises(CmotError, match="41 columns"):
        ingest(Store(store_dir), data, "wide")
    assert Store(store_dir).list_datasets() == []
    # exactly the cap is admitted, through the environment or the options
    monkeypatch.setenv("CMOT_MAX_COLUMNS", "41")
    assert len(detect_roles(data, IngestOptions(), "wide.csv").columns) == 41
    monkeypatch.delenv("CMOT_MAX_COLUMNS")
    assert len(detect_roles(data, IngestOptions(max_columns=41), "wide.csv").columns) == 41
    with pytest.raises(CmotError, match="41 columns"):
        detect_roles(data, IngestOptions(max_columns=40), "wide.csv")


def test_a_quoted_header_counts_its_fields_not_its_commas(monkeypatch: pytest.MonkeyPatch) -> None:
    head = '"id","a, or b","c",overall\n'
    body = "".join(f"{i},{i % 5 + 1},{i % 3 + 1},{i % 2}\n" for i in range(30))
    monkeypatch.setenv("CMOT_MAX_COLUMNS", "4")
    assert len(detect_roles((head + body).encode(), IngestOptions(), "q.csv").columns) == 4
    semi = (head + body).replace(",", ";").encode()
    assert len(detect_roles(semi, IngestOptions(), "s.csv").columns) == 4
    monkeypatch.setenv("CMOT_MAX_COLUMNS", "3")
    with pytest.raises(CmotError, match="4 columns"):
        detect_roles(semi, IngestOptions(), "s.csv")


def test_a_long_file_pivoting_to_too_many_touchpoints_is_refused() -> None:
    lines = ["respondent,touchpoint,score"]
    for r in range(3):
        lines += [f"{r},item{i:03d},{(r + i) % 5 + 1}" for i in range(50)]
    data = ("\n".join(lines) + "\n").encode()
    assert len(detect_roles(data, IngestOptions(max_columns=51), "long.csv").columns) == 51
    with pytest.raises(CmotError, match="51 columns"):
        detect_roles(data, IngestOptions(max_columns=50), "long.csv")


def test_xlsx_over_the_column_cap_is_refused_before_its_cells_are_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from openpyxl import Workbook

    import cmot.ingest.excel_spss as excel_spss_mod

    wb = Workbook()
    ws = wb.active
    assert ws is not None
    for line in wide_csv(12).decode().splitlines():
        ws.append([int(v) if v.isdigit() else v for v in line.split(",")])
    path = tmp_path / "wide.xlsx"
    wb.save(path)
    assert len(detect_roles(path, IngestOptions(max_columns=12)).columns) == 12
    read: list[str] = []
    real = excel_spss_mod.table_from_columns
    monkeypatch.setattr(
        excel_spss_mod, "table_from_columns", lambda *a, **k: read.append("x") or real(*a, **k)
    )
    with pytest.raises(CmotError, match=r"12 columns.*CMOT_MAX_COLUMNS"):
        detect_roles(path, IngestOptions(max_columns=11))
    assert read == []


def test_sav_over_the_column_cap_is_refused_from_its_metadata(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pandas as pd
    import pyreadstat

    import cmot.ingest.excel_spss as excel_spss_mod

    frame = pd.DataFrame({f"q{i}": [float((r + i) % 5 + 1) for r in range(30)] for i in range(12)})
    path = tmp_path / "wide.sav"
    pyreadstat.write_sav(frame, str(path))
    assert len(detect_roles(path, IngestOptions(max_columns=12)).columns) == 12
    read: list[str] = []
    real = excel_spss_mod.read_sav
    monkeypatch.setattr(
        excel_spss_mod, "read_sav", lambda *a, **k: read.append("x") or real(*a, **k)
    )
    with pytest.raises(CmotError, match=r"12 columns.*CMOT_MAX_COLUMNS"):
        detect_roles(path, IngestOptions(max_columns=11))
    assert read == []


def test_registered_parquet_over_the_column_cap_is_refused(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pandas as pd

    from cmot.store.external import register_external

    frame = pd.read_csv(io.BytesIO(wide_csv(12, rows=60)))
    path = tmp_path / "wide.parquet"
    frame.to_parquet(path)
    monkeypatch.setenv("CMOT_MAX_COLUMNS", "11")
    with pytest.raises(CmotError, match=r"12 columns.*CMOT_MAX_COLUMNS"):
        register_external(store, "wide", str(path), options=IngestOptions(outcome="overall"))
    assert store.list_datasets() == []
    monkeypatch.setenv("CMOT_MAX_COLUMNS", "12")
    info, _ = register_external(store, "wide", str(path), options=IngestOptions(outcome="overall"))
    assert info.rows_kept == 60


def test_the_command_line_refuses_a_wide_file_with_the_setting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from cmot.cli.main import main

    path = tmp_path / "wide.csv"
    path.write_bytes(wide_csv(12))
    monkeypatch.setenv("CMOT_MAX_COLUMNS", "11")
    for command in (["roles", str(path)], ["analyze", str(path), "--out", str(tmp_path / "o")]):
        assert main(command) == 2
        err = capsys.readouterr().err
        assert "12 columns" in err and "CMOT_MAX_COLUMNS" in err
