"""Every guess shown with its evidence (issue 23, item 3): the layout (a file with one row
per respondent and unique ids is wide), each touchpoint's scale from the bulk of its sibling
columns (a stray answer is proposed as a code, not a wider scale), and waves only from a
column the analyst confirms (a yes/no or interview-day column never unconfirmed)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from cmot.cli.main import mapping_text
from cmot.errors import CmotError
from cmot.ingest.options import IngestOptions
from cmot.ingest.pipeline import detect_roles, read_csv
from cmot.ingest.wave_columns import wave_candidates
from cmot.spec import dumps_spec, loads_spec
from cmot.waves.sources import confirmed_waves
from tests.conftest import DATA, need_real


def wide_with_item_column(n: int = 200, seed: int = 3) -> bytes:
    """One row per respondent, unique ids, and columns named like a long file's touchpoint
    and score ('item_bought' repeats, 'rating_of_store' holds numbers): still wide."""
    rng = np.random.default_rng(seed)
    lines = ["resp_id,item_bought,rating_of_store,q1,q2,q3,q4,overall"]
    for i in range(n):
        r = rng.integers(1, 6, 6)
        item = ("shoes", "bag", "hat")[int(rng.integers(0, 3))]
        lines.append(f"{i + 1},{item},{','.join(map(str, r))}")
    return ("\n".join(lines) + "\n").encode()


def test_a_wide_file_with_unique_ids_is_wide() -> None:
    det = detect_roles(wide_with_item_column())
    assert det.layout == "wide"
    assert len(det.columns) == 8, "no column vanished into a pivot"
    assert "one row per respondent" in det.layout_reason
    assert "resp_id" in det.layout_reason
    assert "Layout: read as wide: one row per respondent" in mapping_text(det, "wide.csv")


def test_a_long_file_is_long_and_says_why() -> None:
    rng = np.random.default_rng(5)
    lines = ["respondent,touchpoint,score,overall"]
    for i in range(60):
        o = int(rng.integers(1, 6))
        for t in ("Check-in", "Boarding", "Food"):
            lines.append(f"{i + 1},{t},{int(rng.integers(1, 6))},{o}")
    det = detect_roles(("\n".join(lines) + "\n").encode())
    assert det.layout == "long"
    assert "3 rows per respondent" in det.layout_reason
    assert {"Check-in", "Boarding", "Food"} <= {g.column for g in det.columns}


def test_the_layout_given_is_said_to_be_yours() -> None:
    det = detect_roles(wide_with_item_column(), IngestOptions(layout="wide"))
    assert det.layout == "wide" and "set by you" in det.layout_reason


def stray(n: int = 300, seed: int = 7, value: int = 7, times: int = 1) -> bytes:
    """Ratings 1-5 in five columns; `times` answers of q3 are `value` (a stray)."""
    rng = np.random.default_rng(seed)
    lines = ["id,q1,q2,q3,q4,q5,overall"]
    for i in range(n):
        r = [int(x) for x in rng.integers(1, 6, 6)]
        if i < times:
            r[2] = value
        lines.append(f"{i + 1}," + ",".join(map(str, r)))
    return ("\n".join(lines) + "\n").encode()


def test_a_single_seven_among_one_to_five_is_a_code_not_a_wider_scale() -> None:
    det = detect_roles(stray(), IngestOptions(outcome="overall"))
    spec = det.require_spec()
    assert "q3" in spec.touchpoint_columns
    assert spec.scale_of("q3").min == 1 and spec.scale_of("q3").max == 5
    assert "q3" not in spec.scales, "q3 keeps the survey's 1-5 scale"
    (seven,) = [p for p in det.proposals if p.code == 7]
    assert seven.columns == ("q3",)
    assert "outside the 1-5" in seven.evidence and "1 answer" in seven.evidence
    assert 7 in spec.missing_codes("q3")


def test_seven_answers_of_33_give_no_scale_of_1_to_33() -> None:
    opts = IngestOptions(outcome="overall", touchpoints=("q1", "q2", "q3", "q4", "q5"))
    det = detect_roles(stray(n=1033, value=33, times=7), opts)
    spec = det.require_spec()
    assert (spec.scale_of("q3").min, spec.scale_of("q3").max) == (1, 5)
    (code,) = [p for p in det.proposals if p.code == 33]
    assert "7 answers" in code.evidence and "outside the 1-5" in code.evidence


def test_a_used_scale_point_is_no_stray() -> None:
    """A value held by 1% or more is an answer: the column is on another scale, as before."""
    det = detect_roles(stray(n=300, value=7, times=30), IngestOptions(outcome="overall"))
    assert not [p for p in det.proposals if p.code == 7]


@pytest.mark.parametrize(
    "path, outcome",
    [
        (DATA / "kansas-city-resident" / "wave_2021_09.csv", "q2_01"),
        (DATA / "san-diego-resident" / "survey_2015.csv", "Q2_6"),
    ],
)
def test_kansas_city_and_san_diego_are_wide_with_scales_1_to_5(path: Path, outcome: str) -> None:
    need_real(path)
    det = detect_roles(path, IngestOptions(outcome=outcome, outcome_kind="scale"))
    assert det.layout == "wide", path
    assert det.layout_reason, "the layout comes with its evidence"
    spec = det.require_spec()
    assert (spec.scale.min, spec.scale.max) == (1, 5), path
    assert 9 in spec.scale.missing, path
    assert not spec.scales, (path, dict(spec.scales))


# ---- waves ---------------------------------------------------------------------------------


def survey_with_waves(tmp_path: Path) -> Path:
    """A yes/no question named with 'year', an interview-day column and a real wave column."""
    rng = np.random.default_rng(11)
    lines = ["id,q1,q2,q3,overall,lived_here_a_year,interview_day,wave"]
    for i in range(240):
        r = rng.integers(1, 6, 4)
        yes = ("Yes", "No")[int(rng.integers(0, 2))]
        day = ("Mon", "Tue", "Wed", "Thu")[int(rng.integers(0, 4))]
        lines.append(f"{i + 1},{','.join(map(str, r))},{yes},{day},{2024 + i % 2}")
    p = tmp_path / "w.csv"
    p.write_text("\n".join(lines) + "\n")
    return p


def test_waves_only_from_a_confirmed_column(tmp_path: Path) -> None:
    spec = read_csv(survey_with_waves(tmp_path), IngestOptions(outcome="overall")).spec
    assert spec.wave_column is None, "nothing is taken as waves unconfirmed"
    assert confirmed_waves(spec) is None
    values = {
        "lived_here_a_year": ["No", "Yes"],
        "interview_day": ["Mon", "Thu", "Tue", "Wed"],
        "wave": ["2024", "2025"],
        "year_of_survey_yn": ["1", "2"],
    }
    cands = dict(wave_candidates(spec, values))
    assert "wave" in cands and "named like a wave" in cands["wave"]
    assert "lived_here_a_year" not in cands, "a yes/no answer is no wave"
    assert "interview_day" not in cands
    confirmed = replace(spec, wave_column="wave")
    assert confirmed_waves(confirmed) == "wave"
    assert loads_spec(dumps_spec(confirmed)).wave_column == "wave"


def test_a_wave_column_must_be_a_column_of_the_spec(tmp_path: Path) -> None:
    spec = read_csv(survey_with_waves(tmp_path), IngestOptions(outcome="overall")).spec
    with pytest.raises(CmotError, match="wave"):
        loads_spec(dumps_spec(spec).replace("[columns]", '[columns]\nwaves = "q1"'))
