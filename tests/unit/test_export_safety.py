"""Formula injection: no cell a user wrote reaches a spreadsheet as a formula.

Every CSV/Excel export must go through cmot.present.exports (its `neutralise`). The first tests
check what its exports write; the last scans the code for exports that bypass it.
"""

from __future__ import annotations

import csv
import io
import re

import pandas as pd
import pytest

from tests.conftest import ROOT

report = pytest.importorskip(
    "cmot.present.exports", reason="cmot/present/exports.py (issue 5) is not there yet"
)

HOSTILE = ["=1+2", "+cmd|' /C calc'!A0", "-2+3", "@SUM(A1:A9)", "\t=x", "=HYPERLINK(1)", "a\n=b"]
DANGEROUS = ("=", "+", "-", "@", "\t", "\r")


def _frame(hostile: list[str] = HOSTILE) -> pd.DataFrame:
    n = len(hostile)
    return pd.DataFrame(
        {
            "=touchpoint": hostile,  # a column name from a user's CSV header
            "segment": pd.array(hostile[::-1], dtype="string"),  # pandas 3 text columns
            "difference": [-1.5 + i for i in range(n)],  # numbers stay numbers
            "plain": ["ok"] * n,
        }
    )


def _cells(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def test_neutralise_defuses_every_formula_start_and_keeps_numbers() -> None:
    out = report.neutralise(_frame())
    for col in ("'=touchpoint", "segment"):
        assert all(not str(v).startswith(DANGEROUS) for v in out[col])
    assert out["difference"].tolist() == _frame()["difference"].tolist()
    assert list(out["plain"]) == ["ok"] * len(HOSTILE)


def _check_exports(frame: pd.DataFrame) -> None:
    exporters = [
        getattr(report, n)
        for n in dir(report)
        if n.startswith("to_") and callable(getattr(report, n))
    ]
    assert exporters, "cmot.present.exports exports no to_* function"
    for export in exporters:
        data = export(frame)
        if isinstance(data, str):
            data = data.encode()
        if not data.lstrip(b"\xef\xbb\xbf")[:1].isascii():  # a binary format (xlsx)
            frame = pd.read_excel(io.BytesIO(data))  # pragma: no cover - no xlsx export yet
            rows = [[str(c) for c in frame.columns]] + frame.astype(str).values.tolist()
        else:
            rows = _cells(data)
        for row in rows:
            for cell in row:
                assert _is_number(cell) or not cell.startswith(DANGEROUS), (export.__name__, cell)


def test_every_csv_export_in_report_is_formula_safe() -> None:
    _check_exports(_frame())


def test_a_carriage_return_cannot_start_a_new_row_with_a_formula() -> None:
    _check_exports(_frame(["\r=y", "ok\r@x"]))


def test_no_export_bypasses_exports() -> None:
    pattern = re.compile(r"\.to_(csv|excel)\(")
    offenders = []
    for path in [*sorted((ROOT / "cmot").rglob("*.py")), *sorted((ROOT / "pages").glob("*.py"))]:
        where = path.relative_to(ROOT).as_posix()
        if where in {"cmot/present/exports.py", "cmot/store/demo.py", "cmot/feedback/feed.py"}:
            continue  # exports is the exporter; demo and feed write synthetic survey files
        for i, line in enumerate(path.read_text().splitlines(), 1):
            if pattern.search(line) and "exports.to_csv" not in line:
                offenders.append(f"{path.relative_to(ROOT)}:{i}")
    assert offenders == []
