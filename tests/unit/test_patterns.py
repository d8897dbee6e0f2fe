"""Column patterns mean what they look like (issue 23, item 4): only `*` and `?` are
wildcards, brackets are literal (survey headers are full of them), and the Data page and the
command line follow the one rule in `cmot.ingest.patterns`."""

from __future__ import annotations

from pathlib import Path

import pytest

from cmot.cli.main import main
from cmot.errors import CmotError
from cmot.ingest.options import IngestOptions
from cmot.ingest.patterns import match_columns, match_items, match_pattern, match_text
from cmot.ingest.pipeline import detect_roles
from tests.conftest import KANSAS_CSV, need_real

COLUMNS = [
    "Q1[01]",
    "Q1[02]",
    "Q10[01]",
    "Q11[01]",
    "Q11[02]",
    "Q1_a",
    "q1_b",
    "Seat [comfort]",
    "Q7_1",
    "Q7_2",
    "Q70",
    "a,b",
    "Q8",
    "Price?",
    "Q2[!1]",
]

# pattern, expected matches (in file order); [] means "no column matches"
CASES = [
    ("Q1[01]*", ["Q1[01]"]),  # issue 23: fnmatch read [01] as a class and took Q10/Q11
    ("Q1[01]", ["Q1[01]"]),  # fnmatch matched nothing here
    ("Q1[*]", ["Q1[01]", "Q1[02]"]),
    ("Q1?[01]", ["Q10[01]", "Q11[01]"]),
    ("Q11[0?]", ["Q11[01]", "Q11[02]"]),
    ("Q1[0-9]*", []),  # no ranges
    ("Q1[!0]*", []),  # no negated classes
    ("Q2[!1]", ["Q2[!1]"]),  # a name, as it is
    ("Q2[!*]", ["Q2[!1]"]),
    ("Seat [comfort]", ["Seat [comfort]"]),
    ("Seat [c]*", []),
    ("Seat [*]", ["Seat [comfort]"]),
    ("Q7*", ["Q7_1", "Q7_2", "Q70"]),
    ("Q7_*", ["Q7_1", "Q7_2"]),
    ("q7_?", ["Q7_1", "Q7_2"]),  # no exact case: case-insensitive
    ("Q1_*", ["Q1_a"]),  # the exact case matches: q1_b is left out
    ("q1_*", ["q1_b"]),
    ("Price?", ["Price?"]),  # an exact name first, though ? is a wildcard
    ("Pric??", ["Price?"]),
    ("Q8", ["Q8"]),
    ("q8", ["Q8"]),
    ("*]", ["Q1[01]", "Q1[02]", "Q10[01]", "Q11[01]", "Q11[02]", "Seat [comfort]", "Q2[!1]"]),
    ("Q9*", []),
    ("(Q7)*", []),
    ("Q.*", []),  # a dot is a dot, not a regular expression
]


@pytest.mark.parametrize(("pattern", "expected"), CASES)
def test_a_pattern_matches_what_it_looks_like(pattern: str, expected: list[str]) -> None:
    assert match_pattern(pattern, COLUMNS) == expected


@pytest.mark.parametrize(("pattern", "expected"), [c for c in CASES if c[1]])
def test_the_page_text_form_follows_the_same_rule(pattern: str, expected: list[str]) -> None:
    assert match_columns(COLUMNS, pattern) == expected


@pytest.mark.parametrize("pattern", [c[0] for c in CASES if not c[1]])
def test_no_match_is_an_error_naming_the_pattern(pattern: str) -> None:
    with pytest.raises(CmotError, match="No column matches"):
        match_items(COLUMNS, [pattern])


def test_text_splits_on_commas_but_a_name_with_a_comma_is_whole() -> None:
    assert match_columns(COLUMNS, "a,b") == ["a,b"]
    assert match_columns(COLUMNS, "Q8, q7_2") == ["Q7_2", "Q8"]  # file order
    assert match_columns(COLUMNS, "Q1[01]*, Q7_*") == ["Q1[01]", "Q7_1", "Q7_2"]


def test_a_match_is_described_with_its_count_and_names() -> None:
    kc = [f"q3_{i:02d}" for i in range(1, 13)] + ["q4_01"]
    (found,) = match_items(kc, ["q3_*"])
    assert found.text() == "q3_*: 12 columns (q3_01 … q3_12)"
    (one,) = match_items(COLUMNS, ["Q1[01]*"])
    assert one.text() == "Q1[01]*: 1 column (Q1[01])"
    (two,) = match_items(COLUMNS, ["Q1[*]"])
    assert two.text() == "Q1[*]: 2 columns (Q1[01], Q1[02])"
    assert match_text(COLUMNS, "Q7*") == "Q7*: 3 columns (Q7_1, Q7_2, Q70)"


BRACKETS = "id,Q1[01],Q1[02],Q10[01],Q11[01],Q11[02],overall\n" + "".join(
    f"{i},{i % 5 + 1},{(i * 3) % 5 + 1},{(i * 7) % 5 + 1},{(i * 2) % 5 + 1},{(i * 4) % 5 + 1},"
    f"{(i * 11) % 5 + 1}\n"
    for i in range(60)
)


def test_touchpoints_flag_takes_brackets_literally(tmp_path: Path) -> None:
    survey = tmp_path / "brackets.csv"
    survey.write_text(BRACKETS, encoding="utf-8")
    det = detect_roles(survey, IngestOptions(outcome="overall", touchpoints=("Q1[01]*",)))
    assert det.spec is not None
    assert det.spec.touchpoint_columns == ("Q1[01]",)
    det = detect_roles(survey, IngestOptions(outcome="overall", touchpoints=("Q1[01]",)))
    assert det.spec is not None and det.spec.touchpoint_columns == ("Q1[01]",)
    with pytest.raises(CmotError, match="No column matches"):
        detect_roles(survey, IngestOptions(outcome="overall", touchpoints=("Q1[0-1]*",)))


def test_the_command_line_prints_what_a_pattern_matched(tmp_path: Path, capsys) -> None:
    survey = tmp_path / "brackets.csv"
    survey.write_text(BRACKETS, encoding="utf-8")
    args = ["roles", str(survey), "--outcome", "overall", "--touchpoints", "Q1[01]*,Q11?*"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "Q1[01]*: 1 column (Q1[01])" in out
    assert "Q11?*: 2 columns (Q11[01], Q11[02])" in out


def test_kansas_city_patterns_are_printed_by_every_command(store_dir: Path, capsys) -> None:
    need_real(KANSAS_CSV)
    flags = ["--outcome", "q2_01", "--touchpoints", "q3_*,q5_*", "--missing", "9,99"]
    assert main(["roles", str(KANSAS_CSV), *flags]) == 0
    out = capsys.readouterr().out
    assert "q3_*: 16 columns (q3_01 … q3_16)" in out
    assert "q5_*: 7 columns (q5_01 … q5_07)" in out
    assert main(["ingest", str(KANSAS_CSV), "--name", "kc", *flags]) == 0
    out = capsys.readouterr().out
    assert "q3_*: 16 columns (q3_01 … q3_16)" in out
