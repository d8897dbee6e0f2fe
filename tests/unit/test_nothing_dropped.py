"""Nothing dropped silently (issue 23, item 7): a code declared missing never removes an
outcome's answer inside the outcome's range (it applies to the other columns), and a choice
that drops more than 10% of respondents says so with the count, in the validation report."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cmot.cli.main import main
from cmot.ingest.clean import outcome_missing
from cmot.ingest.options import IngestOptions
from cmot.ingest.pipeline import detect_roles
from cmot.names import Y_COL, quote_ident
from cmot.spec import JourneySpec, Outcome, Scale, Stage, Touchpoint
from cmot.store.datasets import Store
from cmot.store.intake import ingest
from tests.conftest import KANSAS_CSV, need_real

KC_FLAGS = ["--outcome", "q2_01", "--outcome-range", "1-5", "--touchpoints", "q3_*,q5_*"]


def test_kansas_city_a_code_inside_the_outcome_range_keeps_its_answers(
    store: Store, capsys
) -> None:
    """5 declared missing (as a 1-4 survey's 'don't know' would be): the touchpoints' 5s are
    no answer, the outcome's 51 fives on its 1-5 range stay answers. Only the 15 outcome
    answers of 9 (don't know) drop: 1,033 respondents, 1,018 kept."""
    need_real(KANSAS_CSV)
    assert main(["ingest", str(KANSAS_CSV), "--name", "kc", *KC_FLAGS, "--missing", "9,5"]) == 0
    out = capsys.readouterr().out
    info = store.get_dataset("kc")
    assert (info.rows_read, info.rows_kept) == (1033, 1018)
    con = store.cursor()
    y5, q5 = con.execute(
        f"SELECT count(*) FILTER (WHERE {Y_COL} = 5), "
        f"count(*) FILTER (WHERE {quote_ident('q3_01')} = 5) FROM {info.table}"
    ).fetchall()[0]
    assert y5 == 51, "the outcome's fives are answers"
    assert q5 == 0, "a touchpoint's five is no answer"
    assert 5 not in info.spec.missing_codes("q2_01")
    assert 5 in info.spec.missing_codes("q3_01")
    assert "kept as answers in q2_01" in out
    assert "respondents (" not in out  # 15 of 1,033 dropped: under 10%, no warning


def test_kansas_city_without_the_code_keeps_the_same_respondents(store: Store) -> None:
    need_real(KANSAS_CSV)
    assert main(["ingest", str(KANSAS_CSV), "--name", "kc", *KC_FLAGS, "--missing", "9"]) == 0
    assert store.get_dataset("kc").rows_kept == 1018


def synthetic_1_to_10(n: int = 400) -> bytes:
    """Ratings 1-5 with 7 = don't know and NA blanks, an outcome `rating` on 1-10 whose 7s
    are answers (the issue's `--missing NA,7 --outcome-range 1-10`)."""
    rng = np.random.default_rng(3)
    lines = ["rid,t1,t2,t3,t4,rating"]
    for i in range(n):
        r = rng.integers(1, 6, 4)
        cells = ["7" if rng.random() < 0.1 else "NA" if rng.random() < 0.05 else str(x) for x in r]
        y = int(np.clip(round(2 * r.mean() + rng.normal(0, 1)), 1, 10))
        lines.append(f"{i + 1},{','.join(cells)},{y}")
    return ("\n".join(lines) + "\n").encode()


def test_missing_na_7_with_a_1_to_10_outcome_keeps_its_sevens(store: Store) -> None:
    data = synthetic_1_to_10()
    sevens = sum(1 for line in data.decode().splitlines()[1:] if line.split(",")[-1] == "7")
    assert sevens > 20
    opts = IngestOptions(
        outcome="rating", outcome_kind="scale", outcome_range=(1.0, 10.0), missing=("NA", 7)
    )
    det = detect_roles(data, opts, "survey.csv")
    assert det.spec is not None
    assert 7 not in det.spec.missing_codes("rating")
    assert 7 in det.spec.missing_codes("t1")
    info, report = ingest(store, data, "s", opts, source_name="survey.csv")
    assert report.rows_kept == report.rows_read == 400
    got = (
        store.cursor()
        .execute(f"SELECT count(*) FILTER (WHERE {Y_COL} = 7) FROM {info.table}")
        .fetchall()[0][0]
    )
    assert got == sevens
    assert any("kept as answers in rating" in n for n in report.notes)


def _spec(
    kind: str, lo: float | None, hi: float | None, missing: dict | None = None
) -> JourneySpec:
    return JourneySpec(
        stages=(Stage("Journey", ("a", "b")),),
        touchpoints=(Touchpoint("a"), Touchpoint("b")),
        scale=Scale(1, 5, missing=(0, 7, 99, "NA")),
        outcome=Outcome("y", kind, ("1",) if kind == "binary" else (), lo, hi),  # type: ignore[arg-type]
        missing=missing or {},
    )


def test_the_outcome_never_treats_a_point_of_its_range_as_missing() -> None:
    assert outcome_missing(_spec("scale", 1, 10)) == (0, 99, "NA")
    assert outcome_missing(_spec("recommend", 0, 10)) == (99, "NA")
    assert outcome_missing(_spec("scale", 1, 5)) == (0, 7, 99, "NA")
    # its own list, from a spec file, follows the same rule
    assert outcome_missing(_spec("scale", 1, 10, {"y": (7, 98)})) == (98,)


def test_a_choice_dropping_over_10_percent_says_so_with_the_count(store: Store, capsys) -> None:
    """q2_07 (the education system) has 121 answers of 9 = don't know: 12% of 1,033."""
    need_real(KANSAS_CSV)
    flags = ["--outcome", "q2_07", "--outcome-range", "1-5", "--touchpoints", "q3_*,q5_*"]
    assert main(["ingest", str(KANSAS_CSV), "--name", "kc", *flags, "--missing", "9"]) == 0
    out = capsys.readouterr().out
    assert "121 of 1,033 respondents (12%) are dropped" in out
    info = store.get_dataset("kc")
    assert info.rows_kept == 1033 - 121


def test_analyze_of_a_file_says_so_too(tmp_path: Path, capsys) -> None:
    need_real(KANSAS_CSV)
    flags = ["--outcome", "q2_07", "--outcome-range", "1-5", "--touchpoints", "q3_*"]
    args = ["analyze", str(KANSAS_CSV), *flags, "--missing", "9", "--out", str(tmp_path / "o")]
    assert main(args) == 0
    assert "121 of 1,033 respondents (12%) are dropped" in capsys.readouterr().out


@pytest.mark.parametrize(("dropped", "warned"), [(40, False), (41, True)])
def test_the_warning_starts_above_a_tenth(store: Store, dropped: int, warned: bool) -> None:
    lines = ["rid,t1,t2,t3,overall"]
    for i in range(400):
        y = "" if i < dropped else str(i % 5 + 1)
        lines.append(f"{i + 1},{i % 5 + 1},{(i * 3) % 5 + 1},{(i * 7) % 5 + 1},{y}")
    data = ("\n".join(lines) + "\n").encode()
    _, report = ingest(store, data, "s", IngestOptions(outcome="overall"), source_name="s.csv")
    assert report.rows_kept == 400 - dropped
    said = [n for n in report.notes if "respondents (" in n]
    assert bool(said) is warned
    if warned:
        assert said[0].startswith("41 of 400 respondents (10%) are dropped")
