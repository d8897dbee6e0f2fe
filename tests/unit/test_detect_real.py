"""Detection and cleaning on real public surveys (../shared/data) and an airport-shaped file."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cmot.errors import CmotError
from cmot.ingest.detect import Detection
from cmot.ingest.options import IngestOptions
from cmot.ingest.pipeline import detect_roles, read_csv
from cmot.names import Y_COL
from cmot.spec import OTHER
from tests.conftest import (
    ABC_CSV,
    KANSAS_CSV,
    MOBILE_CSV,
    NAPLES_CSV,
    SAN_DIEGO_CSV,
    TOUCHPOINTS_CSV,
    need_real,
)

KC, SD, ABC, MOBILE = KANSAS_CSV, SAN_DIEGO_CSV, ABC_CSV, MOBILE_CSV
NAPLES, TOUCH = NAPLES_CSV, TOUCHPOINTS_CSV
real = need_real


def proposed(det: Detection) -> dict[object, tuple[str, ...]]:
    return {p.code: p.columns for p in det.proposals}


def roles(det: Detection) -> dict[str, str]:
    return det.roles()


# ---- an airport-shaped survey (the file, made here) ------------------------------

FACILITIES = [
    "ART",
    "FOOD",
    "STORE",
    "SIGN",
    "WALKWAY",
    "SCREENS",
    "INFOARR",
    "INFODEP",
    "WIFI",
    "ROADSIGN",
    "PARK",
    "AIRTRAIN",
    "LTPARK",
    "RENTAL",
    "BART",
    "CLEAN",
    "SECURITY",
    "CUSTOMS",
]


def airport_frame(n: int = 2800, seed: int = 9) -> pd.DataFrame:
    """Ratings 1-5 with 6 = never used and 0 = blank, an overall 1-5 with the text "Blank",
    a 0-10 recommend with 11 = blank, a weight, trip purpose coded 1-13, demographics."""
    rng = np.random.default_rng(seed)
    taste = rng.normal(0, 1, n)
    cols: dict[str, object] = {"RESPNUM": np.arange(1, n + 1)}
    cols["STRATA"] = rng.integers(1, 4, n)  # time-of-day stratum
    cols["METHOD"] = rng.integers(1, 3, n)
    cols["Q2PURP1"] = rng.integers(1, 14, n)
    ratings = []
    for i, f in enumerate(FACILITIES):
        score = np.clip(np.round(3.6 + 0.9 * taste + rng.normal(0, 0.9, n)), 1, 5).astype(int)
        never = rng.random(n) < 0.05 + 0.5 * (i % 6) / 6  # 5% to 47% never used
        blank = rng.random(n) < 0.02
        cols[f"Q7{f}"] = np.where(blank, 0, np.where(never, 6, score))
        ratings.append(np.where(never | blank, np.nan, score))
    overall = np.clip(np.round(np.nanmean(ratings, axis=0) + rng.normal(0, 0.5, n)), 1, 5)
    overall_text = np.where(rng.random(n) < 0.03, "Blank", overall.astype(int).astype(str))
    cols["Q7ALL"] = overall_text
    rec = np.clip(np.round(2 * overall + rng.normal(0, 1, n)), 0, 10).astype(int)
    cols["NETPRO"] = np.where(rng.random(n) < 0.04, 11, rec)
    cols["Q19GENDER"] = rng.integers(1, 3, n)
    cols["Q20INCOME"] = rng.integers(1, 6, n)
    cols["LANG"] = rng.integers(1, 3, n)
    cols["WEIGHT"] = np.round(rng.uniform(0.4, 2.2, n), 4)
    words = np.array(
        [
            "the",
            "gate",
            "food",
            "was",
            "slow",
            "clean",
            "staff",
            "friendly",
            "parking",
            "far",
            "signs",
            "clear",
        ]
    )
    cols["Q21COMMENT"] = [
        f"Comment {i}: " + " ".join(rng.choice(words, 8)) if i % 3 == 0 else "" for i in range(n)
    ]
    return pd.DataFrame(cols)


@pytest.fixture(scope="module")
def airport(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pd.DataFrame]:
    frame = airport_frame()
    path = tmp_path_factory.mktemp("airport") / "airport.csv"
    frame.to_csv(path, index=False)
    return path, frame


def test_airport_codes_beside_the_scale_are_proposed_and_the_scale_stays_1_to_5(
    airport: tuple[Path, pd.DataFrame],
) -> None:
    path, frame = airport
    det = detect_roles(path, IngestOptions(outcome="Q7ALL"))
    assert det.problems == ()
    spec = det.require_spec()
    tps = tuple(f"Q7{f}" for f in FACILITIES)
    assert spec.touchpoint_columns == tps
    assert (spec.scale.min, spec.scale.max) == (1, 5)  # 6 = never used does not widen it
    assert set(spec.scale.missing) == {0, 6}
    codes = proposed(det)
    assert set(codes[6]) == set(tps) and set(codes[0]) == set(tps)
    assert codes["Blank"] == ("Q7ALL",) and codes[11] == ("NETPRO",)
    assert all(p.applied for p in det.proposals)
    never = next(p for p in det.proposals if p.code == 6)
    sixes = sum(int((frame[t] == 6).sum()) for t in tps)
    share = sixes / (len(frame) * len(tps))
    assert f"6 holds {share:.0%} of the answers ({sixes:,}) in 18 column(s)" in never.evidence
    assert "otherwise rated 1-5" in never.evidence
    # The overall rating: a 1-5 scale whose "Blank" is missing, never a yes/no.
    o = spec.outcome
    assert (o.kind, o.min, o.max, o.positive) == ("scale", 1.0, 5.0, ())
    assert spec.missing["Q7ALL"] == ("Blank",)
    # Weight proposed, not applied; demographics and strata are not touchpoints.
    assert det.weight_candidates == ("WEIGHT",) and spec.weight_column is None
    assert spec.id_column == "RESPNUM"
    r = roles(det)
    for c in ("STRATA", "METHOD", "Q2PURP1", "Q19GENDER", "Q20INCOME", "LANG", "NETPRO"):
        assert r[c] == "attribute", c
    assert {"Q2PURP1", "Q19GENDER", "Q20INCOME", "STRATA", "METHOD"} <= set(spec.segments)
    assert "NETPRO" not in spec.segments and "WEIGHT" not in spec.segments
    assert r["Q21COMMENT"] == "comment" and spec.comments == ("Q21COMMENT",)


def test_airport_cleaning_keeps_codes_out_of_the_top_box(
    airport: tuple[Path, pd.DataFrame],
) -> None:
    path, frame = airport
    p = read_csv(path, IngestOptions(outcome="Q7ALL"))
    kept = frame[frame["Q7ALL"] != "Blank"]
    assert p.report.rows_kept == len(kept) < len(frame)
    for t in ("Q7ART", "Q7CUSTOMS"):
        col = p.data.column(t).to_numpy(zero_copy_only=False).astype(float)
        raw = kept[t].to_numpy()
        valid = raw[(raw >= 1) & (raw <= 5)]
        assert np.nanmax(col) == 5
        assert np.isnan(col).sum() == int(((raw == 0) | (raw == 6)).sum())
        assert np.nanmean(col) == pytest.approx(valid.mean(), abs=1e-12)
    y = p.data.column(Y_COL).to_numpy()
    assert np.mean(y) == pytest.approx(kept["Q7ALL"].astype(int).mean(), abs=1e-12)
    assert p.spec.weight_column is None
    assert set(p.data.column("__cmot_w").to_pylist()) == {1.0}
    comments = p.data.column("Q21COMMENT").to_pylist()  # kept as evidence, as written
    assert comments[0] == kept["Q21COMMENT"].iloc[0] and comments[0].startswith("Comment 0:")


def test_airport_weight_only_when_chosen(airport: tuple[Path, pd.DataFrame]) -> None:
    path, frame = airport
    chosen = read_csv(path, IngestOptions(outcome="Q7ALL", weight="WEIGHT"))
    assert chosen.spec.weight_column == "WEIGHT"
    w = chosen.data.column("__cmot_w").to_numpy()
    kept = frame[frame["Q7ALL"] != "Blank"]
    assert w == pytest.approx(kept["WEIGHT"].to_numpy())
    refused = read_csv(path, IngestOptions(outcome="Q7ALL", weight="none"))
    assert refused.spec.weight_column is None
    with pytest.raises(CmotError, match=r"no column 'WIEGHT' to weight by.*WEIGHT"):
        detect_roles(path, IngestOptions(outcome="Q7ALL", weight="WIEGHT"))


def test_airport_declared_missing_replaces_the_proposals_and_applies_to_the_outcome(
    airport: tuple[Path, pd.DataFrame],
) -> None:
    path, frame = airport
    det = detect_roles(path, IngestOptions(outcome="Q7ALL", missing=(0, "Blank")))
    assert {p.code: p.applied for p in det.proposals} == {
        0: True,
        6: False,
        11: False,
        "Blank": True,
    }
    spec = det.require_spec()
    assert spec.scale.missing == (0, "Blank") and (spec.scale.min, spec.scale.max) == (1, 5)
    assert spec.missing["Q7ALL"] == (0, "Blank")
    p = read_csv(path, IngestOptions(outcome="Q7ALL", missing=(0, "Blank")))
    # 6 is no longer declared, yet never a top box: it is outside the 1-5 scale.
    sixes = int((frame["Q7FOOD"] == 6).sum())  # counted over every row read
    out = {(c.column, c.reason): c.count for c in p.report.changes}
    assert out[("Q7FOOD", "outside the 1-5 scale")] == sixes > 0


def test_airport_segment_merges_with_other(airport: tuple[Path, pd.DataFrame]) -> None:
    path, frame = airport
    labels = {"1": "Business", "5": "Business", "2": "Leisure", "3": "Leisure", "6": "Leisure"}
    labels[OTHER] = "Other"
    p = read_csv(path, IngestOptions(outcome="Q7ALL", labels={"Q2PURP1": labels}))
    got = p.data.column("Q2PURP1").to_pylist()
    kept = frame[frame["Q7ALL"] != "Blank"]["Q2PURP1"].astype(str)
    want = [labels.get(v, "Other") for v in kept]
    assert got == want
    assert set(got) == {"Business", "Leisure", "Other"}


def test_touchpoints_by_name_or_pattern(airport: tuple[Path, pd.DataFrame]) -> None:
    path, _ = airport
    det = detect_roles(path, IngestOptions(outcome="Q7ALL", touchpoints=("Q7F*", "Q7ART")))
    spec = det.require_spec()
    assert spec.touchpoint_columns == ("Q7ART", "Q7FOOD")
    assert roles(det)["Q7STORE"] == "attribute"
    with pytest.raises(CmotError, match=r"No column matches the touchpoint 'Q7FOD'.*Q7FOOD"):
        detect_roles(path, IngestOptions(outcome="Q7ALL", touchpoints=("Q7FOD",)))


def test_an_id_as_outcome_is_flagged_not_analysed(airport: tuple[Path, pd.DataFrame]) -> None:
    path, _ = airport
    det = detect_roles(path, IngestOptions(outcome="RESPNUM"))
    assert det.spec is None
    assert any("like an id" in p for p in det.problems)
    with pytest.raises(CmotError, match="like an id"):
        read_csv(path, IngestOptions(outcome="RESPNUM"))


def test_a_0_to_10_touchpoint_beside_1_to_5_keeps_its_own_scale(tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    n = 300
    frame = pd.DataFrame(
        {f"Q{i}": rng.integers(1, 6, n) for i in range(1, 6)}
        | {"Ease": rng.integers(0, 11, n), "satisfied": rng.choice(["yes", "no"], n)}
    )
    frame.loc[:9, "Ease"] = 11
    frame.to_csv(tmp_path / "s.csv", index=False)
    det = detect_roles(tmp_path / "s.csv")
    spec = det.require_spec()
    assert spec.touchpoint_columns == ("Q1", "Q2", "Q3", "Q4", "Q5", "Ease")
    ease = spec.scale_of("Ease")
    assert (ease.min, ease.max, ease.missing) == (0, 10, (11,))
    assert (spec.scale.min, spec.scale.max) == (1, 5)
    p = read_csv(tmp_path / "s.csv")
    col = p.data.column("Ease").to_pylist()
    assert col[:10] == [None] * 10 and max(v for v in col if v is not None) == 10


def test_no_outcome_is_a_prompt_with_every_column(tmp_path: Path) -> None:
    text = "id,a,b,c\n1,1,2,3\n2,2,3,4\n3,5,4,5\n"
    (tmp_path / "s.csv").write_text(text)
    det = detect_roles(tmp_path / "s.csv")
    assert det.spec is None
    assert det.problems[0].startswith("pick the outcome column")
    assert [g.column for g in det.columns] == ["id", "a", "b", "c"]
    with pytest.raises(CmotError, match="pick the outcome column"):
        det.require_spec()


def test_a_numeric_outcome_with_text_markers_is_a_scale(tmp_path: Path) -> None:
    rows = [f"{i},{i % 5 + 1},{(i * 2) % 5 + 1},{i % 4 + 2}" for i in range(60)]
    rows[3] = "3,2,4,Blank"
    rows[7] = "7,1,1,BLANK"
    rows[9] = "9,3,3,Don't know"
    (tmp_path / "s.csv").write_text("id,a,b,overall\n" + "\n".join(rows) + "\n")
    det = detect_roles(tmp_path / "s.csv")
    o = det.require_spec().outcome
    assert (o.kind, o.min, o.max) == ("scale", 2.0, 5.0)
    assert set(det.require_spec().missing["overall"]) == {"Blank", "BLANK", "Don't know"}
    p = read_csv(tmp_path / "s.csv")
    assert p.report.rows_kept == 57


# ---- the real surveys ----------------------------------------------------------------------


@pytest.mark.parametrize("wave", ["wave_2021_09.csv", "wave_2022_03.csv"])
def test_kansas_city(wave: str) -> None:
    path = real(KC.parent / wave)
    det = detect_roles(path, IngestOptions(outcome="q2_01"))
    spec = det.require_spec()
    assert (spec.scale.min, spec.scale.max) == (1, 5) and 9 in spec.scale.missing
    assert 80 <= len(spec.touchpoint_columns) <= 88
    codes = proposed(det)
    assert 9 in codes and 99 in codes
    nine = next(p for p in det.proposals if p.code == 9)
    assert "otherwise rated 1-5" in nine.evidence
    r = roles(det)
    for c in ("q4_01", "q6_01", "q10_01", "q13_01", "q16_01", "q31_01", "q24_w", "method"):
        assert r[c] == "attribute", c  # importance picks, yes/no items, the interview method
    assert {"counci", "q40_w", "method", "q39_w", "q41_w", "q34_d"} <= set(spec.segments)
    assert spec.id_column == "id"
    assert spec.outcome.kind == "scale" and spec.missing["q2_01"] == (9,)
    p = read_csv(path, IngestOptions(outcome="q2_01"))
    raw = pd.read_csv(path)["q2_01"]
    assert p.report.rows_kept == int(raw.between(1, 5).sum())
    assert np.mean(p.data.column(Y_COL).to_numpy()) == pytest.approx(
        raw[raw.between(1, 5)].mean(), abs=1e-12
    )


def test_kansas_city_without_an_outcome_prompts_for_one() -> None:
    det = detect_roles(real(KC))
    assert det.spec is None and det.problems[0].startswith("pick the outcome column")
    assert len([g for g in det.columns if g.role == "touchpoint"]) >= 80
    assert all(g.sample for g in det.columns if g.role == "touchpoint")


def test_san_diego() -> None:
    det = detect_roles(real(SD), IngestOptions(outcome="Q2_6"))
    spec = det.require_spec()
    assert (spec.scale.min, spec.scale.max, spec.scale.missing) == (1, 5, (9,))
    assert 9 in proposed(det)
    assert {"Q28", "Q20_code", "Q22", "Q23", "Q27"} <= set(spec.segments)
    assert 85 <= len(spec.touchpoint_columns) <= 95
    for c in ("Q28", "Q20_code", "Q4_1", "Q20", "ZIP"):
        assert roles(det)[c] != "touchpoint", c
    assert "ZIP" not in spec.segments  # 47 zip codes: no segmentation


def test_abc_b2b() -> None:
    det = detect_roles(real(ABC), IngestOptions(outcome="q1"))
    spec = det.require_spec()
    assert (spec.scale.min, spec.scale.max) == (1, 5) and 0 in spec.scale.missing
    assert 0 in proposed(det)
    assert "var 4" in spec.segments and "country" in spec.segments
    last12 = [g.column for g in det.columns][-12:]
    assert not set(last12) & set(spec.touchpoint_columns)
    assert not any(c.startswith("qi") for c in spec.touchpoint_columns)  # importance 1-3
    assert spec.id_column == "ID"
    p = read_csv(ABC, IngestOptions(outcome="q1"))
    assert p.report.rows_kept == 262  # q1 blank in 4 rows
    # Touchpoints named with spaces and brackets, exactly as written, or by a pattern.
    chosen = ("customer seniority (years)", "q4", "q7*")
    det = detect_roles(ABC, IngestOptions(outcome="q1", touchpoints=chosen))
    q7s = {"q7", *(f"q{i}" for i in range(70, 80))}
    assert set(det.require_spec().touchpoint_columns) == {"customer seniority (years)", "q4"} | q7s
    with pytest.raises(CmotError, match=r"customer seniority \(years\)"):
        detect_roles(ABC, IngestOptions(outcome="q1", touchpoints=("customer seniority",)))


def test_mobile_providers() -> None:
    det = detect_roles(real(MOBILE), IngestOptions(outcome="cusa"))
    spec = det.require_spec()
    assert (spec.scale.min, spec.scale.max, spec.scale.missing) == (1, 7, (-99,))
    assert -99 in proposed(det)
    assert spec.missing["cusa"] == (-99,)
    assert {"serviceprovider", "servicetype", "education"} <= set(spec.segments)
    assert "serviceprovider" not in spec.touchpoint_columns
    p = read_csv(MOBILE, IngestOptions(outcome="cusa"))
    assert p.report.rows_kept == 343


def test_naples_and_airline_touchpoints_need_no_choice() -> None:
    nap = detect_roles(real(NAPLES)).require_spec()
    assert nap.outcome.column == "global" and nap.outcome.kind == "scale"
    assert (nap.scale.min, nap.scale.max) == (1, 7)
    assert nap.touchpoint_columns == ("informat", "willingn", "officeho", "compete")
    assert {"faculty", "gender"} <= set(nap.segments)
    det = detect_roles(real(TOUCH))
    spec = det.require_spec()
    assert spec.outcome.column == "o_experience" and (spec.scale.min, spec.scale.max) == (1, 4)
    assert len(spec.touchpoint_columns) == 6
    assert roles(det)["column0"] == "ignore"


@pytest.mark.slow  # writes and profiles a 100k x 150 file: ~10 s
def test_profiling_a_wide_survey_is_fast(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    n = 100_000
    frame = pd.DataFrame({f"Q{i}": rng.integers(1, 6, n, dtype=np.int8) for i in range(140)})
    for i in range(8):
        frame[f"D{i}"] = rng.integers(1, 9, n)
    frame["overall"] = rng.integers(1, 6, n)
    frame["comment"] = "fine"
    frame.to_csv(tmp_path / "wide.csv", index=False)
    from cmot.ingest.column_profiles import profile_columns
    from cmot.ingest.detect import detect
    from cmot.ingest.read import open_raw

    opts = IngestOptions()
    t = time.perf_counter()
    with open_raw(tmp_path / "wide.csv", opts, None) as raw:
        read = time.perf_counter() - t
        t = time.perf_counter()
        det = detect(profile_columns(raw.con, raw.rows), raw.rows, opts, "wide", "utf-8")
        took = time.perf_counter() - t
    assert len(det.require_spec().touchpoint_columns) == 140
    # Under 2 s on a quiet machine; on a loaded one, no slower than reading the file.
    assert took < max(2.0, read), f"profiling took {took:.2f} s, reading {read:.2f} s"


def test_a_yes_no_outcome_never_takes_a_marker_as_positive(tmp_path: Path) -> None:
    rows = [f"{i},{i % 5 + 1},{(i * 3) % 5 + 1},{'yes' if i % 3 else 'no'}" for i in range(40)]
    rows[5] = "5,2,2,N/A"
    (tmp_path / "s.csv").write_text("id,a,b,satisfied\n" + "\n".join(rows) + "\n")
    spec = detect_roles(tmp_path / "s.csv").require_spec()
    assert spec.outcome.kind == "binary" and spec.outcome.positive == ("yes",)
    assert spec.missing["satisfied"] == ("N/A",)
    assert read_csv(tmp_path / "s.csv").report.rows_kept == 39
    # 0/1 with "Blank": the 1 is positive, the Blank is no answer.
    rows = [f"{i},{i % 5 + 1},{(i * 3) % 5 + 1},{i % 2}" for i in range(40)]
    rows[4] = "4,2,2,Blank"
    (tmp_path / "t.csv").write_text("id,a,b,renewed\n" + "\n".join(rows) + "\n")
    spec = detect_roles(tmp_path / "t.csv").require_spec()
    assert (spec.outcome.kind, spec.outcome.positive) == ("binary", ("1",))
    assert spec.missing["renewed"] == ("Blank",)


def test_the_files_own_labels_and_missing_values_are_kept(
    airport: tuple[Path, pd.DataFrame],
) -> None:
    from cmot.ingest.column_profiles import profile_columns
    from cmot.ingest.detect import detect
    from cmot.ingest.read import open_raw

    path, _ = airport
    opts = IngestOptions(outcome="Q7ALL")
    with open_raw(path, opts, None) as raw:
        det = detect(
            profile_columns(raw.con, raw.rows),
            raw.rows,
            opts,
            "wide",
            "utf-8",
            labels={"Q7ART": "Art and exhibitions", "Q2PURP1": "Purpose of the trip"},
            value_labels={"Q2PURP1": {"1": "Business", OTHER: "Other"}},
            declared_missing={"Q7ART": (7,)},
        )
    spec = det.require_spec()
    assert spec.label_of("Q7ART") == "Art and exhibitions"
    assert spec.label_of("Q2PURP1") == "Purpose of the trip"
    assert {g.column: g.label for g in det.columns}["Q7ART"] == "Art and exhibitions"
    assert spec.labels["Q2PURP1"] == {"1": "Business", OTHER: "Other"}
    assert 7 in spec.scale.missing and "Q7ART" in proposed(det)[7]
    seven = next(p for p in det.proposals if p.code == 7)
    assert seven.evidence.startswith("the file declares 7 missing in 1 column(s) (Q7ART)")


def test_a_stray_point_above_the_scale_is_a_code_not_a_wider_scale(tmp_path: Path) -> None:
    rows = [f"{i},{i % 5 + 1},{(i * 3) % 5 + 1},{(i * 2) % 5 + 1},{i % 2}" for i in range(100)]
    rows[10] = "10,6,2,3,1"
    (tmp_path / "s.csv").write_text("id,a,b,c,satisfied\n" + "\n".join(rows) + "\n")
    det = detect_roles(tmp_path / "s.csv")
    spec = det.require_spec()
    assert spec.touchpoint_columns == ("a", "b", "c")
    assert (spec.scale.min, spec.scale.max) == (1, 5)
    assert proposed(det)[6] == ("a",)


def test_an_outcome_outside_its_declared_range_is_counted_apart(
    airport: tuple[Path, pd.DataFrame],
) -> None:
    path, frame = airport
    p = read_csv(path, IngestOptions(outcome="Q7ALL", outcome_range=(1, 4)))
    assert (p.spec.outcome.min, p.spec.outcome.max) == (1.0, 4.0)
    fives = int((frame["Q7ALL"] == "5").sum())
    out = {(c.column, c.reason): c.count for c in p.report.changes}
    assert out[("Q7ALL", "outcome outside its 1-4 range")] == fives > 0
    blanks = int((frame["Q7ALL"] == "Blank").sum())
    assert out[("Q7ALL", "outcome missing or not usable")] == fives + blanks
    assert p.report.rows_kept == len(frame) - fives - blanks


def test_a_continuous_outcome_named_overall_is_a_scale(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    frame = pd.DataFrame({f"t{i}": rng.integers(1, 6, 200) for i in range(4)})
    frame["Overall score"] = np.round(rng.uniform(0, 100, 200), 1)
    frame["Overall wait (minutes)"] = rng.integers(0, 90, 200)
    frame.to_csv(tmp_path / "s.csv", index=False)
    det = detect_roles(tmp_path / "s.csv")
    o = det.require_spec().outcome
    assert (o.column, o.kind, o.min, o.max) == ("Overall score", "scale", None, None)
    assert det.roles()["Overall wait (minutes)"] == "attribute"
