"""The command line asks with a candidate (issue 23, item 11): when no outcome is named and
none is detected, the refusal names the likeliest columns (question text with overall /
satisfaction / recommend / likely, position, how much a rating moves with the others)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from cmot.cli.main import main
from tests.conftest import KANSAS_CSV, need_real
from tests.unit.test_cli import run_cli


def _likely(text: str) -> list[str]:
    m = re.search(r"likely: (.*)", text)
    assert m, text
    return re.findall(r"(\S+) \(", m.group(1))


def test_analyze_without_an_outcome_names_q2_01_first(tmp_path: Path, capsys) -> None:
    need_real(KANSAS_CSV)
    assert main(["analyze", str(KANSAS_CSV), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "pick the outcome column" in err
    assert "--outcome" in err
    names = _likely(err)
    assert names[0] == "q2_01" and 2 <= len(names) <= 3
    assert not (tmp_path / "o").exists()


def test_ingest_and_roles_name_the_candidates(store_dir: Path, capsys) -> None:
    need_real(KANSAS_CSV)
    assert main(["ingest", str(KANSAS_CSV), "--name", "kc"]) == 2
    assert _likely(capsys.readouterr().err)[0] == "q2_01"
    assert main(["roles", str(KANSAS_CSV)]) == 0
    out = capsys.readouterr().out
    assert "Still to choose: pick the outcome" in out
    assert _likely(out)[0] == "q2_01"


QUALTRICS = (
    "ResponseId,Q1,Q2,Q3,Q4\n"
    "Response ID,How clean was the room?,How friendly was the staff?,"
    "How easy was the check-in?,How likely are you to stay with us again?\n"
)


def test_question_text_saying_likely_is_a_candidate_with_its_text(tmp_path: Path, capsys) -> None:
    rows = [
        f"R_{i},{i % 5 + 1},{(i * 3) % 5 + 1},{(i * 2) % 5 + 1},{(i * 7) % 5 + 1}"
        for i in range(60)
    ]
    survey = tmp_path / "export.csv"
    survey.write_text(QUALTRICS + "\n".join(rows) + "\n", encoding="utf-8")
    code = main(["analyze", str(survey), "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    if code == 0:
        pytest.skip("detection found the outcome by its question text already")
    assert _likely(err)[0] == "Q4"
    assert "How likely are you to stay with us again?" in err


@pytest.mark.slow
def test_the_refusal_as_a_user_sees_it(tmp_path: Path) -> None:
    need_real(KANSAS_CSV)
    r = run_cli(
        "analyze",
        str(KANSAS_CSV),
        "--out",
        str(tmp_path / "o"),
        env={"CMOT_STORE": str(tmp_path / "s")},
    )
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert _likely(r.stderr)[0] == "q2_01"


def test_register_of_a_parquet_asks_the_same_and_prints_its_patterns(
    tmp_path: Path, store_dir: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    need_real(KANSAS_CSV)
    import duckdb

    monkeypatch.delenv("CMOT_EXTERNAL_ROOTS", raising=False)
    lake = tmp_path / "kc.parquet"
    duckdb.sql(f"COPY (SELECT * FROM read_csv('{KANSAS_CSV}', all_varchar=true)) TO '{lake}'")
    assert main(["register", "kc", str(lake)]) == 2
    assert _likely(capsys.readouterr().err)[0] == "q2_01"
    flags = ["--outcome", "q2_01", "--touchpoints", "q3_*", "--missing", "9,99"]
    assert main(["register", "kc", str(lake), *flags]) == 0
    assert "note: q3_*: 16 columns (q3_01 … q3_16)" in capsys.readouterr().out
