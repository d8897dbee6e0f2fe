"""The command line on real surveys: the Data page's choices as flags, labels, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cmot.cli.flags import (
    for_the_command_line,
    glue_dash_values,
    mapping_notes,
    options_from_flags,
    parse_codes_flag,
    parse_range,
    split_list,
)
from cmot.cli.main import main
from cmot.errors import CmotError
from cmot.ingest.detect import Detection
from cmot.ingest.formats import check_sheet
from cmot.ingest.missing_codes import CodeProposal
from cmot.names import ID_COL, W_COL, Y_COL
from cmot.spec import load_spec
from cmot.store.datasets import Store
from tests.conftest import (
    ABC_CSV,
    KANSAS_CSV,
    MOBILE_CSV,
    NAPLES_CSV,
    ROOT,
    need_real,
)

NAPLES, MOBILE, ABC, KANSAS = NAPLES_CSV, MOBILE_CSV, ABC_CSV, KANSAS_CSV
DEMO_CSV = ROOT / "data" / "demo_survey.csv"
DEMO_SPEC = ROOT / "data" / "demo_spec.toml"
need = need_real


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`python -m cmot ...` as a user runs it: a separate process, its exit code and streams."""
    return subprocess.run(
        [sys.executable, "-m", "cmot", *args],
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=600,
    )


NAPLES_SPEC = """
[scale]
min = 1
max = 7

[outcome]
column = "global"
kind = "scale"
min = 1
max = 7

[columns]
segments = ["faculty", "gender"]
attributes = ["faculty", "gender", "freqserv"]

[[stages]]
name = "Orientation"
touchpoints = ["informat", "willingn", "officeho", "compete"]

[labels.gender]
0 = "Man"
1 = "Woman"
"""

MOBILE_SPEC = """
[scale]
min = 1
max = 7

[outcome]
column = "cusa"
kind = "scale"
min = 1
max = 7

[columns]
segments = ["serviceprovider", "servicetype"]
attributes = ["serviceprovider", "servicetype"]

[[stages]]
name = "Quality"
touchpoints = ["qual_1", "qual_2", "qual_3", "qual_4", "qual_5", "qual_6", "qual_7", "qual_8"]
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / name
    p.write_text(textwrap.dedent(text), encoding="utf-8")
    return p


# ---- the flags' text -----------------------------------------------------------------


def test_names_split_on_commas_keep_spaces_brackets_and_quoted_commas() -> None:
    text = 'q7*, customer seniority (years),Prob(q1==1) ,"Price, overall",var  1,Q[12]*'
    assert split_list(text, "--touchpoints") == (
        "q7*",
        "customer seniority (years)",
        "Prob(q1==1)",
        "Price, overall",
        "var  1",
        "Q[12]*",
    )
    with pytest.raises(CmotError, match="empty entry"):
        split_list("q1,,q2", "--touchpoints")


def test_missing_codes_are_numbers_and_text() -> None:
    assert parse_codes_flag('9, 99, -99, Blank, "Don\'t know", N/A') == (
        9,
        99,
        -99,
        "Blank",
        "Don't know",
        "N/A",
    )
    assert parse_codes_flag("none") == ()
    assert parse_codes_flag("") == ()


@pytest.mark.parametrize(
    ("text", "expected"),
    [("1-5", (1.0, 5.0)), ("0 - 10", (0.0, 10.0)), ("1..7", (1.0, 7.0)), ("-2:2", (-2.0, 2.0))],
)
def test_outcome_range_forms(text: str, expected: tuple[float, float]) -> None:
    assert parse_range(text) == expected


def test_a_negative_code_after_a_flag_is_its_value() -> None:
    assert glue_dash_values(["ingest", "f.csv", "--missing", "-99,-98", "--name", "x"]) == [
        "ingest",
        "f.csv",
        "--missing=-99,-98",
        "--name",
        "x",
    ]


def test_negative_codes_in_labels_are_values(tmp_path: Path, store: Store) -> None:
    argv = ["x", "--label", "q1", "-1=No basis,-2=Unsure", "--missing", "-1"]
    glued = ["x", "--label", "q1", " -1=No basis,-2=Unsure", "--missing=-1"]
    assert glue_dash_values(argv) == glued
    # A code -1 labelled from the command line, beside codes 1 and 2; --missing none keeps
    # detection from proposing the labelled -1 as "no answer".
    rows = ["q1,q2,q3,overall,group"]
    for i in range(90):
        rows.append(f"{i % 5 + 1},{i % 4 + 1},{(i + 2) % 5 + 1},{i % 5 + 1},{i % 3 - 1 or 2}")
    survey = write(tmp_path, "nbe.csv", "\n".join(rows) + "\n")
    args = ["ingest", str(survey), "--name", "nbe", "--outcome", "overall", "--missing", "none"]
    args += ["--outcome-type", "scale", "--label", "group", "-1=No basis,1=North,2=South"]
    assert main(args) == 0
    info = store.get_dataset("nbe")
    groups = store.cursor().execute(f'SELECT DISTINCT "group" FROM {info.table}').fetchall()
    assert sorted(g[0] for g in groups) == ["No basis", "North", "South"]


def test_flags_map_onto_ingest_options() -> None:
    o = options_from_flags(
        outcome="q1",
        outcome_range="1-5",
        missing="0,6,Blank",
        touchpoints='q7*,"customer seniority (years)"',
        weight="None",
        sheet="Data",
        layout="wide",
        labels=[["trip", "1=Business,5=Business,*=Other"]],
    )
    assert o.outcome == "q1"
    assert o.outcome_kind == "scale"  # a range belongs to a scale outcome
    assert o.outcome_range == (1.0, 5.0)
    assert o.missing == (0, 6, "Blank")
    assert o.touchpoints == ("q7*", "customer seniority (years)")
    assert o.weight == "none"
    assert o.sheet == "Data"
    assert o.layout == "wide"
    assert o.labels == {"trip": {"1": "Business", "5": "Business", "*": "Other"}}
    b = options_from_flags(outcome="satisfaction", positive="satisfied, very satisfied")
    # Positive values mean a binary outcome, as on the Data page (test_outcome_choice.py).
    assert b.positive == ("satisfied", "very satisfied") and b.outcome_kind == "binary"
    w = options_from_flags(weight="wt")
    assert w.weight == "wt" and w.roles == {"wt": "weight"}
    assert options_from_flags().weight is None  # no weight unless asked for (or in the spec)


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        ({"outcome_type": "nps"}, "--outcome-type"),
        ({"outcome_type": "scale", "positive": "5"}, "--positive applies to a binary"),
        ({"outcome_type": "binary", "outcome_range": "1-5"}, "--outcome-range applies"),
        ({"outcome_type": "recommend", "outcome_range": "1-5"}, "rated 0-10"),
        ({"outcome_range": "five"}, "not a range"),
        ({"outcome_range": "5-1"}, "from low to high"),
        ({"touchpoints": "q1,,q2"}, "empty entry"),
        ({"touchpoints": 'q1,"q2'}, "--touchpoints"),
        ({"weight": " "}, "--weight"),
        ({"sheet": ""}, "--sheet"),
        ({"outcome": ""}, "--outcome"),
        ({"labels": [["trip", "Business"]]}, "CODE=LABEL"),
        ({"layout": "tall"}, "--layout"),
    ],
)
def test_bad_flag_values_say_what_to_do(flags: dict, message: str) -> None:
    with pytest.raises(CmotError, match=message):
        options_from_flags(**flags)


def test_sheet_is_for_workbooks_only(tmp_path: Path) -> None:
    book = tmp_path / "survey.xlsx"
    pd.DataFrame({"q1": [1, 2], "overall": [3, 4]}).to_excel(book, sheet_name="Data", index=False)
    check_sheet(book, "Data")  # a workbook: the reader picks the sheet
    check_sheet(tmp_path / "absent.xlsx", "Data")  # the reader says the file is missing
    csv_file = tmp_path / "survey.csv"
    csv_file.write_text("q1,overall\n1,3\n", encoding="utf-8")
    check_sheet(csv_file, None)
    with pytest.raises(CmotError, match="applies to Excel workbooks"):
        check_sheet(csv_file, "Data")


FLAG_TEXT = (
    st.text(alphabet=st.sampled_from(list("abq7*, \"-=:.019[]()'\\ \tÄ")), max_size=25) | st.none()
)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(
    missing=FLAG_TEXT,
    outcome=FLAG_TEXT,
    positive=FLAG_TEXT,
    outcome_range=FLAG_TEXT,
    touchpoints=FLAG_TEXT,
    weight=FLAG_TEXT,
    sheet=FLAG_TEXT,
    label=FLAG_TEXT,
    outcome_type=st.sampled_from([None, "binary", "scale", "recommend", "nps"]),
)
def test_any_flag_text_gives_options_or_a_message(
    missing, outcome, positive, outcome_range, touchpoints, weight, sheet, label, outcome_type
) -> None:
    try:
        o = options_from_flags(
            missing=missing,
            outcome=outcome,
            positive=positive,
            outcome_range=outcome_range,
            touchpoints=touchpoints,
            weight=weight,
            sheet=sheet,
            labels=[["segment", label]] if label is not None else None,
            outcome_type=outcome_type,
        )
    except CmotError as e:
        assert str(e)  # a message saying what to do, never another exception
        return
    if o.outcome_range is not None:
        assert o.outcome_range[0] < o.outcome_range[1] and o.outcome_kind in ("scale", "recommend")
    if o.positive is not None:
        assert o.outcome_kind in (None, "binary") and all(o.positive)
    assert o.touchpoints is None or all(t.strip() == t and t for t in o.touchpoints)


# ---- --spec alone, and flags over a spec ---------------------------------------------


def test_spec_flags_override_the_spec(tmp_path: Path) -> None:
    spec = write(tmp_path, "m.toml", MOBILE_SPEC)
    o = options_from_flags(str(spec))
    # The spec's outcome goes to detection too, so it never has to find one itself.
    assert (o.outcome, o.outcome_kind, o.outcome_range) == ("cusa", "scale", (1.0, 7.0))
    assert o.spec is not None and o.spec.weight_column is None
    o = options_from_flags(str(spec), missing="-99,Blank")
    assert o.missing == (-99, "Blank") and o.spec is not None
    assert o.spec.missing["cusa"] == (-99, "Blank")  # the outcome's codes too
    o = options_from_flags(str(spec), outcome="cusl_1", outcome_type="recommend", missing="0,-99")
    assert o.spec is not None and o.spec.outcome.column == "cusl_1"
    assert (o.spec.outcome.min, o.spec.outcome.max) == (0.0, 10.0)
    assert o.spec.missing["cusl_1"] == (-99,)  # 0 is a real score of a 0-10 recommend
    o = options_from_flags(str(spec), outcome="servicetype", positive="2")
    assert o.spec is not None and o.spec.outcome.kind == "binary"
    assert "servicetype" not in o.spec.segments
    o = options_from_flags(str(spec), weight="age")
    assert o.spec is not None and o.spec.weight_column == "age" and o.weight == "age"
    with pytest.raises(CmotError, match="--outcome-type"):
        options_from_flags(str(spec), outcome="cusl_1")
    with pytest.raises(CmotError, match="--positive"):
        options_from_flags(str(spec), outcome_type="binary")
    with pytest.raises(CmotError, match="touchpoints in the spec"):
        options_from_flags(str(spec), touchpoints="qual_*")


@pytest.mark.slow  # a fresh process per command: not for the quick loop
def test_spec_alone_suffices_and_segments_are_named_by_label(tmp_path: Path) -> None:
    need(NAPLES)
    spec = write(tmp_path, "naples.toml", NAPLES_SPEC)
    out = tmp_path / "out"
    args = ["analyze", str(NAPLES), "--spec", str(spec), "--segment", "gender", "--out", str(out)]
    r = run_cli(*args, env={"CMOT_STORE": str(tmp_path / "s")})
    assert r.returncode == 0, r.stderr
    segments = pd.read_csv(out / "segments.csv")
    raw = pd.read_csv(NAPLES)
    sizes = dict(zip(segments.segment, segments.n, strict=True))
    expected = {
        "All": len(raw),
        **{("Man", "Woman")[g]: int(raw.gender.eq(g).sum()) for g in (0, 1)},
    }
    assert sizes == expected == {"All": 2179, "Man": 1130, "Woman": 1049}
    moments = pd.read_csv(out / "moments.csv")
    assert set(moments.segment) == {"All", "Man", "Woman"}
    assert len(moments) == 3 * 4
    summary = (out / "summary.md").read_text(encoding="utf-8")
    assert "## Man (n = 1,130)" in summary and "## 0 (n" not in summary


def test_spec_with_missing_merges_into_ratings_and_outcome(tmp_path: Path, store: Store) -> None:
    need(MOBILE)
    spec = write(tmp_path, "m.toml", MOBILE_SPEC)
    args = ["ingest", str(MOBILE), "--name", "mobile", "--spec", str(spec), "--missing", "-99"]
    assert main(args) == 0
    info = store.get_dataset("mobile")
    assert info.spec.scale.missing == (-99,)
    con = store.cursor()
    y = con.execute(f"SELECT {Y_COL} FROM {info.table}").df()[Y_COL]
    raw = pd.read_csv(MOBILE, sep=";")
    # cusa's one -99 is no answer: that respondent has no outcome and is not kept.
    assert int(raw.cusa.eq(-99).sum()) == 1
    assert len(y) == len(raw) - 1 and y.between(1, 7).all()
    assert y.mean() == pytest.approx(raw.cusa[raw.cusa != -99].mean(), abs=1e-12)
    q = con.execute(f"SELECT min(qual_1), max(qual_1) FROM {info.table}").fetchall()[0]
    assert q[0] >= 1 and q[1] <= 7


# ---- the real files of the issue ---------------------------------------------------


@pytest.mark.slow  # a fresh process per command: not for the quick loop
def test_analyze_naples_with_outcome_type_as_a_subprocess(tmp_path: Path) -> None:
    need(NAPLES)
    out = tmp_path / "out"
    r = run_cli(
        "analyze",
        str(NAPLES),
        "--outcome",
        "global",
        "--outcome-type",
        "scale",
        "--segment",
        "faculty",
        "--out",
        str(out),
        env={"CMOT_STORE": str(tmp_path / "s")},
    )
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr
    raw = pd.read_csv(NAPLES)
    segments = pd.read_csv(out / "segments.csv").set_index("segment")
    counts = raw.faculty.value_counts()
    assert len(segments) == 1 + len(counts) == 14
    for code, n in counts.items():
        assert segments.loc[str(code), "n"] == n
    summary = (out / "summary.md").read_text(encoding="utf-8")
    assert "outcome scale" in summary


def test_ingest_mobile_providers_semicolons_and_minus_99(tmp_path: Path, store: Store) -> None:
    need(MOBILE)
    args = ["ingest", str(MOBILE), "--name", "mobile", "--missing", "-99"]
    assert main([*args, "--outcome", "cusa", "--outcome-type", "scale"]) == 0
    info = store.get_dataset("mobile")
    assert info.rows_read == 344
    assert info.spec.outcome.column == "cusa" and info.spec.outcome.kind == "scale"
    assert -99 in info.spec.scale.missing
    con = store.cursor()
    for tp in info.spec.touchpoint_columns:
        lo = con.execute(f'SELECT min("{tp}") FROM {info.table}').fetchall()[0][0]
        assert lo is None or lo >= 0, tp  # -99 is never a (very) low score


def test_missing_applies_to_the_outcome_without_a_spec(tmp_path: Path, store: Store) -> None:
    need(MOBILE)
    args = ["ingest", str(MOBILE), "--name", "mobile", "--missing", "-99"]
    assert main([*args, "--outcome", "cusa", "--outcome-type", "scale"]) == 0
    info = store.get_dataset("mobile")
    y = store.cursor().execute(f"SELECT min({Y_COL}) FROM {info.table}").fetchall()[0][0]
    assert y >= 1


def test_a_negative_code_list_reaches_ingest(tmp_path: Path, store: Store) -> None:
    need(MOBILE)
    args = ["ingest", str(MOBILE), "--name", "m", "--outcome", "cusa", "--outcome-type", "scale"]
    assert main([*args, "--missing", "-99,-98"]) == 0
    assert store.get_dataset("m").spec.scale.missing == (-99, -98)


def test_weight_none_over_a_spec_that_names_one(tmp_path: Path, store: Store, capsys) -> None:
    if not DEMO_CSV.exists():
        pytest.skip("the demo survey has not been generated (python -m cmot.store.demo)")
    assert load_spec(DEMO_SPEC).weight_column == "Weight"
    base = ["ingest", str(DEMO_CSV), "--spec", str(DEMO_SPEC)]
    assert main([*base, "--name", "weighted"]) == 0
    assert "Its results are weighted by Weight." in capsys.readouterr().out
    assert main([*base, "--name", "plain", "--weight", "none"]) == 0
    assert "Its results are unweighted." in capsys.readouterr().out
    con = store.cursor()
    weighted, plain = store.get_dataset("weighted"), store.get_dataset("plain")
    assert weighted.spec.weight_column == "Weight" and plain.spec.weight_column is None
    w = con.execute(f"SELECT min({W_COL}), max({W_COL}) FROM {plain.table}").fetchall()[0]
    assert w == (1.0, 1.0)
    raw = pd.read_csv(DEMO_CSV)
    got = con.execute(f"SELECT {ID_COL}, {W_COL} FROM {weighted.table}").df()
    merged = got.merge(raw, left_on=ID_COL, right_on="Client ID")
    assert merged[W_COL].to_numpy() == pytest.approx(merged["Weight"].to_numpy())


def test_weight_names_the_column_to_weight_by(tmp_path: Path, store: Store) -> None:
    need(NAPLES)
    args = ["ingest", str(NAPLES), "--name", "n", "--outcome", "global", "--outcome-type", "scale"]
    assert main([*args, "--weight", "age"]) == 0  # any positive column will do for the test
    info = store.get_dataset("n")
    assert info.spec.weight_column == "age"
    w = store.cursor().execute(f"SELECT {W_COL} FROM {info.table} ORDER BY {ID_COL}::INT").df()
    assert w[W_COL].to_numpy() == pytest.approx(pd.read_csv(NAPLES).age.to_numpy())
    assert main([*args, "--weight", "nosuch"]) == 2


def test_a_detected_weight_is_not_applied_unasked(tmp_path: Path, store: Store) -> None:
    if not DEMO_CSV.exists():
        pytest.skip("the demo survey has not been generated (python -m cmot.store.demo)")
    args = ["ingest", str(DEMO_CSV), "--name", "d", "--outcome", "Would hire again"]
    assert main([*args, "--positive", "Yes", "--missing", "0"]) == 0
    assert store.get_dataset("d").spec.weight_column is None
    assert main([*args, "--positive", "Yes", "--missing", "0", "--weight", "Weight"]) == 0
    assert store.get_dataset("d").spec.weight_column == "Weight"


def test_touchpoints_by_pattern_and_exact_name_with_spaces(tmp_path: Path, store: Store) -> None:
    need(ABC)
    tps = "q7*,var 3"
    args = ["ingest", str(ABC), "--name", "abc", "--outcome", "q1", "--outcome-type", "scale"]
    assert main([*args, "--missing", "0", "--touchpoints", tps]) == 0
    spec = store.get_dataset("abc").spec
    columns = pd.read_csv(ABC, nrows=0).columns
    expected = [c for c in columns if c.startswith("q7")] + ["var 3"]
    assert sorted(spec.touchpoint_columns) == sorted(expected)


@pytest.mark.slow  # a fresh process per command: not for the quick loop
def test_labels_flag_names_segments_in_every_output(tmp_path: Path) -> None:
    need(NAPLES)
    out = tmp_path / "out"
    args = ["analyze", str(NAPLES), "--outcome", "global", "--outcome-type", "scale"]
    args += ["--segment", "gender", "--label", "gender", "0=Man,1=Woman", "--out", str(out)]
    r = run_cli(*args, env={"CMOT_STORE": str(tmp_path / "s")})
    assert r.returncode == 0, r.stderr
    for name in ("moments", "segments"):
        assert set(pd.read_csv(out / f"{name}.csv").segment) == {"All", "Man", "Woman"}
    assert "## Woman (n = 1,049)" in (out / "summary.md").read_text(encoding="utf-8")


def test_a_coded_column_named_by_segment_is_a_segment(tmp_path: Path, capsys) -> None:
    # Districts coded 1-6 look like ratings to detection; --segment says what they are.
    need(KANSAS)
    out = tmp_path / "out"
    args = ["analyze", str(KANSAS), "--outcome", "q2_01", "--outcome-type", "scale"]
    assert main([*args, "--missing", "9,99", "--segment", "counci", "--out", str(out)]) == 0
    segments = pd.read_csv(out / "segments.csv")
    assert list(segments.segment) == ["All", "1", "2", "3", "4", "5", "6"]
    assert segments.n.iloc[0] == segments.n.iloc[1:].sum() > 1000


def test_district_sizes_count_respondents_with_an_outcome(tmp_path: Path) -> None:
    need(KANSAS)
    out = tmp_path / "out"
    args = ["analyze", str(KANSAS), "--outcome", "q2_01", "--outcome-type", "scale"]
    assert main([*args, "--missing", "9,99", "--segment", "counci", "--out", str(out)]) == 0
    segments = pd.read_csv(out / "segments.csv")
    raw = pd.read_csv(KANSAS, usecols=["counci", "q2_01"])
    rated = raw[raw.q2_01.between(1, 5)]  # 9 = don't know is no outcome
    counts = rated.counci.value_counts()
    assert dict(zip(segments.segment, segments.n, strict=True)) == {
        "All": len(rated),
        **{str(k): int(v) for k, v in counts.items()},
    }


def test_segments_command_takes_the_same_flags(tmp_path: Path) -> None:
    need(NAPLES)
    out = tmp_path / "seg"
    args = ["segments", str(NAPLES), "--outcome", "global", "--outcome-type", "scale"]
    args += ["--mode", "given", "--attributes", "gender", "--label", "gender", "0=Man,1=Woman"]
    assert main([*args, "--out", str(out)]) == 0
    sizes = pd.read_csv(out / "sizes.csv")
    assert dict(zip(sizes.name, sizes["size"], strict=True)) == {"Man": 1130, "Woman": 1049}
    bad = ["segments", str(NAPLES), "--outcome-range", "7-1", "--out", str(out)]
    assert main(bad) == 2


def test_an_excel_sheet_is_read_with_sheet(tmp_path: Path) -> None:
    need(NAPLES)
    book = tmp_path / "naples.xlsx"
    with pd.ExcelWriter(book) as w:
        pd.DataFrame({"note": ["the data are on the next sheet"]}).to_excel(w, sheet_name="About")
        pd.read_csv(NAPLES).to_excel(w, sheet_name="Data", index=False)
    out = tmp_path / "out"
    args = ["analyze", str(book), "--sheet", "Data", "--outcome", "global"]
    assert main([*args, "--outcome-type", "scale", "--segment", "gender", "--out", str(out)]) == 0
    segments = pd.read_csv(out / "segments.csv")
    assert dict(zip(segments.segment, segments.n, strict=True)) == {
        "All": 2179,
        "0": 1130,
        "1": 1049,
    }


def test_spss_value_labels_name_the_segments(tmp_path: Path) -> None:
    need(NAPLES)
    pyreadstat = pytest.importorskip("pyreadstat")
    sav = tmp_path / "naples.sav"
    labels = {"gender": {0: "Man", 1: "Woman"}}
    pyreadstat.write_sav(pd.read_csv(NAPLES), str(sav), variable_value_labels=labels)
    out = tmp_path / "out"
    args = ["analyze", str(sav), "--outcome", "global", "--outcome-type", "scale"]
    assert main([*args, "--segment", "gender", "--out", str(out)]) == 0
    segments = pd.read_csv(out / "segments.csv")
    assert dict(zip(segments.segment, segments.n, strict=True)) == {
        "All": 2179,
        "Man": 1130,
        "Woman": 1049,
    }


def test_roles_shows_the_mapping_with_the_same_flags(tmp_path: Path, capsys) -> None:
    need(NAPLES)
    table = tmp_path / "roles.csv"
    args = ["roles", str(NAPLES), "--outcome", "global", "--outcome-type", "scale"]
    assert main([*args, "--out", str(table)]) == 0
    text = capsys.readouterr().out
    columns = list(pd.read_csv(NAPLES, nrows=0).columns)
    shown = [line.split()[0] for line in text.splitlines()[3 : 3 + len(columns)]]
    assert shown == columns
    assert "Outcome: global (scale" in text and "Weight: none (unweighted)" in text
    roles = pd.read_csv(table)
    assert list(roles.column) == columns
    assert roles.set_index("column").loc["global", "role"] == "outcome"
    assert main(["roles", str(NAPLES), "--outcome-range", "x"]) == 2


def test_roles_without_an_outcome_says_what_to_choose(capsys) -> None:
    need(KANSAS)
    assert main(["roles", str(KANSAS)]) == 0
    text = capsys.readouterr().out
    assert "Still to choose: pick the outcome" in text
    assert "9 (applied): 9 holds" in text  # the don't-know code, with its evidence


def test_notes_say_what_was_proposed_and_what_changes_it() -> None:
    spec = load_spec(DEMO_SPEC)
    det = Detection(
        "wide",
        "utf-8",
        10,
        (),
        spec,
        proposals=(
            CodeProposal(9, ("q1",), "9 holds 21% of the answers"),
            CodeProposal("Blank", ("overall",), "a text marker"),
            CodeProposal(6, ("q1",), "6 holds 2%", applied=False),
        ),
        weight_candidates=("wt",),
    )
    unweighted = replace(spec, weight_column=None)
    assert mapping_notes(det, unweighted) == [
        "Read as 'no answer' (proposed from the data): 9, 'Blank'; --missing CODES replaces them.",
        "Weight column found, not applied: wt; --weight COLUMN applies it.",
    ]
    assert mapping_notes(replace(det, proposals=()), replace(spec, weight_column="wt")) == []


def test_results_say_weighted_or_unweighted(tmp_path: Path, capsys) -> None:
    if not DEMO_CSV.exists():
        pytest.skip("the demo survey has not been generated (python -m cmot.store.demo)")
    base = ["analyze", str(DEMO_CSV), "--spec", str(DEMO_SPEC), "--segment", "Segment"]
    assert main([*base, "--out", str(tmp_path / "w")]) == 0
    assert ", weighted by Weight," in capsys.readouterr().out
    summary = (tmp_path / "w" / "summary.md").read_text(encoding="utf-8")
    assert "Results are weighted by Weight." in summary
    assert main([*base, "--weight", "none", "--out", str(tmp_path / "u")]) == 0
    assert ", unweighted," in capsys.readouterr().out
    summary = (tmp_path / "u" / "summary.md").read_text(encoding="utf-8")
    assert "Results are unweighted." in summary


def test_guardrail_warnings_are_printed_and_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    if not DEMO_CSV.exists():
        pytest.skip("the demo survey has not been generated (python -m cmot.store.demo)")
    import cmot.cli.analyze

    real = cmot.cli.analyze.analyse_stats
    rows = [
        ("", "", "", "id_outcome", "The outcome looks like an id."),
        ("Public agencies", "Invoicing", "Invoicing", "thin_cell", "only 3 in the top box"),
    ]

    def with_warnings(*args, **kwargs):
        result = real(*args, **kwargs)
        frame = pd.DataFrame(rows, columns=["segment", "touchpoint", "column", "kind", "message"])
        object.__setattr__(result, "warnings", frame)
        return result

    monkeypatch.setattr(cmot.cli.analyze, "analyse_stats", with_warnings)
    out = tmp_path / "out"
    args = ["analyze", str(DEMO_CSV), "--spec", str(DEMO_SPEC), "--segment", "Segment"]
    assert main([*args, "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "Warning: The outcome looks like an id." in printed and ", 2 warnings;" in printed
    summary = (out / "summary.md").read_text(encoding="utf-8")
    top, rest = summary.split("## All", 1)
    assert "## Warnings\n\n- The outcome looks like an id." in top
    agencies = rest.split("## Public agencies", 1)[1].split("## ", 1)[0]
    assert "- Warning: only 3 in the top box" in agencies
    assert list(pd.read_csv(out / "warnings.csv").kind) == ["id_outcome", "thin_cell"]


def test_an_id_as_outcome_is_refused_or_warned_about(tmp_path: Path, capsys) -> None:
    need(ABC)
    out = tmp_path / "out"
    args = ["analyze", str(ABC), "--outcome", "ID", "--outcome-type", "scale", "--missing", "0"]
    code = main([*args, "--out", str(out)])
    printed = capsys.readouterr()
    if code == 2:
        assert "like an id" in printed.err and "Traceback" not in printed.err
        return
    assert code == 0
    assert "looks like an id" in printed.out
    assert "looks like an id" in (out / "summary.md").read_text(encoding="utf-8")
    assert "id_outcome" in set(pd.read_csv(out / "warnings.csv").kind)


# ---- never a traceback ---------------------------------------------------------------


@pytest.mark.slow  # a fresh process per command: not for the quick loop
@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--outcome-type", "nps"], "invalid choice"),
        (["--outcome-range", "5-1"], "from low to high"),
        (["--outcome-type", "scale", "--positive", "7"], "--positive applies to a binary"),
        (["--touchpoints", "informat,,willingn"], "empty entry"),
        (["--label", "gender", "Man"], "CODE=LABEL"),
        (["--spec", "nosuch.toml"], "Cannot read the journey spec"),
        (["--sheet", "Data"], "applies to Excel workbooks"),
    ],
)
def test_a_bad_flag_value_exits_2_with_a_message(
    tmp_path: Path, flags: list[str], message: str
) -> None:
    need(NAPLES)
    out = str(tmp_path / "out")
    r = run_cli(
        "analyze", str(NAPLES), *flags, "--out", out, env={"CMOT_STORE": str(tmp_path / "s")}
    )
    assert r.returncode == 2
    assert message in r.stderr and "Traceback" not in r.stderr
    assert not Path(out).exists()  # nothing written


def test_no_outcome_found_names_the_flags(tmp_path: Path, capsys) -> None:
    rows = ["speed,price,staff"]
    rows += [f"{i % 5 + 1},{i * 7 % 5 + 1},{i * 3 % 5 + 1}" for i in range(80)]
    survey = write(tmp_path, "ratings_only.csv", "\n".join(rows) + "\n")
    assert main(["analyze", str(survey), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "--outcome" in err and "Traceback" not in err
    incomplete = "The mapping is not complete: pick the outcome column."
    assert "--outcome-type" in for_the_command_line(incomplete)
    assert for_the_command_line("No file 'x.csv'.") == "No file 'x.csv'."


def test_a_file_the_user_can_fix_exits_2(tmp_path: Path, store: Store, capsys) -> None:
    bad = tmp_path / "header_only.csv"
    bad.write_text("id,q1,q2,overall\n", encoding="utf-8")
    assert main(["ingest", str(bad), "--name", "x"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "no data rows" in err and "Traceback" not in err
    assert store.list_datasets() == []


def test_mapping_flags_on_a_stored_dataset_exit_2(tmp_path: Path, store: Store, capsys) -> None:
    need(NAPLES)
    args = ["ingest", str(NAPLES), "--name", "naples", "--outcome", "global"]
    assert main([*args, "--outcome-type", "scale"]) == 0
    out = str(tmp_path / "o")
    assert main(["analyze", "naples", "--weight", "none", "--out", out]) == 2
    assert "keeps the mapping it was ingested with" in capsys.readouterr().err
    assert main(["analyze", "naples", "--segment", "gender", "--out", out]) == 0


CRASH = """
import sys
import cmot.cli.analyze

def boom(*args, **kwargs):
    raise ZeroDivisionError("a bug, not the user's fault")

cmot.cli.analyze.analyse_stats = boom
from cmot.cli.main import main
from cmot.ingest.detect import Detection
from cmot.ingest.missing_codes import CodeProposal
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.slow  # two command-line processes: ~8 s
def test_an_unexpected_error_is_one_line_and_a_log_file(tmp_path: Path) -> None:
    need(NAPLES)
    script = write(tmp_path, "crash.py", CRASH)
    logs = tmp_path / "logs"
    args = [str(NAPLES), "--outcome", "global", "--outcome-type", "scale"]
    args += ["--out", str(tmp_path / "o")]
    env = {**os.environ, "CMOT_STORE": str(tmp_path / "s"), "CMOT_LOG_DIR": str(logs)}
    env["PYTHONPATH"] = str(ROOT)
    run = [sys.executable, str(script), "analyze", *args]
    r = subprocess.run(run, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 1
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert "unexpected problem (ZeroDivisionError)" in r.stderr
    (log,) = logs.glob("cmot-error-*.log")
    assert str(log) in r.stderr
    text = log.read_text(encoding="utf-8")
    assert "Traceback" in text and "a bug, not the user's fault" in text and "analyze" in text
    # --debug: the traceback on stderr instead, still exit 1 and no log file.
    r = subprocess.run(
        [*run, "--debug"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600
    )
    assert r.returncode == 1
    assert "Traceback" in r.stderr and "ZeroDivisionError" in r.stderr
    assert len(list(logs.glob("cmot-error-*.log"))) == 1


@pytest.mark.slow  # a command-line process: ~8 s
def test_a_free_text_outcome_never_gives_a_traceback(tmp_path: Path) -> None:
    # A file that once raised IndexError deep in detection: whatever detection does with it
    # (a message, exit 2; or a bug, exit 1 and a log), the user sees one line.
    rows = ["q1,q2,q3,comment"]
    rows += [f"{i % 5 + 1},{i % 4 + 1},{i % 3 + 1},note {i}" for i in range(60)]
    survey = write(tmp_path, "notes.csv", "\n".join(rows) + "\n")
    logs = tmp_path / "logs"
    env = {"CMOT_STORE": str(tmp_path / "s"), "CMOT_LOG_DIR": str(logs)}
    out = str(tmp_path / "o")
    r = run_cli("analyze", str(survey), "--outcome", "comment", "--out", out, env=env)
    assert r.returncode in (1, 2)
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert r.stderr.startswith("error: ")
    assert (r.returncode == 1) == any(logs.glob("*.log"))
