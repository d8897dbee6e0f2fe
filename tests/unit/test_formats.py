"""Survey-software exports built from a real survey read as the plain CSV does.

The Kansas City resident survey (../shared) is written as a Qualtrics three-header-row CSV,
a SurveyMonkey two-header-row CSV, an SPSS .sav with value labels and 9 declared missing,
and an Excel workbook whose data sits on its second sheet. Each is ingested with the
choices a user would make, and must give the plain CSV's cleaned dataset and results; the
penalties and rewards equal statsmodels OLS with HC3.
"""

from __future__ import annotations

import contextlib
import csv
import json
import math
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cmot.errors import CmotError
from cmot.ingest import excel_spss, formats
from cmot.ingest.options import IngestOptions
from cmot.ingest.pipeline import Prepared, detect_roles, read_csv
from cmot.ingest.read import open_raw
from cmot.names import ID_COL, ROW_COL, Y_COL, quote_ident
from cmot.results import moments as M
from cmot.spec import JourneySpec, Stage, Touchpoint, default_scale
from tests.conftest import SHARED

KC = SHARED / "data" / "kansas-city-resident"
WAVE = KC / "wave_2021_09.csv"
QX = SHARED / "data" / "qualtrics-exports"

needs_kc = pytest.mark.skipif(
    not WAVE.exists(), reason=f"the real Kansas City survey is not at {WAVE} (../shared)"
)
needs_qx = pytest.mark.skipif(
    not QX.exists(), reason=f"the real Qualtrics exports are not at {QX} (../shared)"
)

OUTCOME = "q2_01"
SERVICES = tuple(f"q3_{i:02d}" for i in range(1, 9))  # the touchpoint set checked in depth
SEGMENTATION = "method"  # Web / Mail / Phone
SCALE_LABELS = {
    1: "Very dissatisfied",
    2: "Dissatisfied",
    3: "Neutral",
    4: "Satisfied",
    5: "Very satisfied",
    9: "Don't know",
}
QUALTRICS_META = [
    ("StartDate", "Start Date", "startDate"),
    ("EndDate", "End Date", "endDate"),
    ("Status", "Response Type", "status"),
    ("IPAddress", "IP Address", "ipAddress"),
    ("Progress", "Progress", "progress"),
    ("Duration (in seconds)", "Duration (in seconds)", "duration"),
    ("Finished", "Finished", "finished"),
    ("RecordedDate", "Recorded Date", "recordedDate"),
    ("ResponseId", "Response ID", "_recordId"),
    ("DistributionChannel", "Distribution Channel", "distributionChannel"),
    ("UserLanguage", "User Language", "userLanguage"),
]


def question(label: str, column: str) -> str:
    """labels.csv's snake_case labels as the question text a survey tool would show."""
    return label.replace("_", " ").capitalize() if label else column


@dataclass(frozen=True)
class Survey:
    columns: list[str]
    rows: list[tuple[Any, ...]]
    types: dict[str, str]
    text: dict[str, str]  # column -> question text
    plain_csv: Path
    plain: Prepared
    tmp: Path


@pytest.fixture(scope="module")
def kc(tmp_path_factory: pytest.TempPathFactory) -> Survey:
    if not WAVE.exists():
        pytest.skip(f"the real Kansas City survey is not at {WAVE} (../shared)")
    tmp = tmp_path_factory.mktemp("formats")
    con = duckdb.connect()
    # Respondents whose outcome is "don't know" are left out of every export: how the plain
    # path treats a code on the outcome is the detection's business, not the formats'.
    rel = con.sql(
        "SELECT * FROM read_csv(?) WHERE q2_01 IS DISTINCT FROM 9", params=[str(WAVE)]
    ).order("id")
    plain_csv = tmp / "plain.csv"
    rel.write_csv(str(plain_csv))
    columns = rel.columns
    types = dict(zip(columns, [str(t) for t in rel.types], strict=True))
    rows = rel.fetchall()
    with (KC / "labels.csv").open(encoding="utf-8") as f:
        text = {
            r["column"]: question(r["label_from_global_R"], r["column"]) for r in csv.DictReader(f)
        }
    plain = read_csv(plain_csv, IngestOptions(outcome=OUTCOME, missing=(9,)))
    return Survey(columns, rows, types, text, plain_csv, plain, tmp)


def rated_with_nine(kc: Survey) -> list[str]:
    """The plain path's touchpoints that hold a 9 (don't know), and the outcome."""
    idx = {c: i for i, c in enumerate(kc.columns)}
    tps = [
        c
        for c in kc.plain.spec.touchpoint_columns
        if kc.types[c] == "BIGINT" and any(r[idx[c]] == 9 for r in kc.rows)
    ]
    return [*tps, OUTCOME]


# ---- the exports ---------------------------------------------------------------------------


def write_qualtrics(kc: Survey) -> Path:
    path = kc.tmp / "qualtrics.csv"
    cols = [c for c in kc.columns if c != "id"]  # ResponseId carries the respondent id
    with path.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow([m[0] for m in QUALTRICS_META] + cols)
        # Question text may hold a line break inside its quotes, as Qualtrics writes it.
        w.writerow(
            [m[1] for m in QUALTRICS_META]
            + [kc.text[c].replace(" the ", " the\n", 1) for c in cols]
        )
        w.writerow(
            [json.dumps({"ImportId": m[2]}) for m in QUALTRICS_META]
            + [json.dumps({"ImportId": f"QID{i + 1}"}) for i in range(len(cols))]
        )
        idx = {c: i for i, c in enumerate(kc.columns)}
        for r in kc.rows:
            meta = [
                "2021-09-01 10:00:00",
                "2021-09-01 10:12:00",
                0,
                "",
                100,
                720,
                1,
                "2021-09-01 10:12:00",
                r[idx["id"]],
                "anonymous",
                "EN",
            ]
            w.writerow(meta + ["" if r[idx[c]] is None else r[idx[c]] for c in cols])
    return path


def write_surveymonkey(kc: Survey) -> tuple[Path, list[str]]:
    """Row 1 the question (blank for a matrix's further columns), row 2 the sub-answer."""
    path = kc.tmp / "surveymonkey.csv"
    r1, r2 = [], []
    groups: dict[str, int] = {}
    for c in kc.columns:
        groups[c.rsplit("_", 1)[0]] = groups.get(c.rsplit("_", 1)[0], 0) + 1
    seen: set[str] = set()
    for c in kc.columns:
        g = c.rsplit("_", 1)[0]
        if c == "id":
            r1.append("Respondent ID")
            r2.append("")
        elif groups[g] > 1 and c[len(g) + 1 :].isdigit():
            r1.append("" if g in seen else f"Please rate the following ({g})")
            r2.append(kc.text[c])
            seen.add(g)
        else:
            r1.append(kc.text[c])
            r2.append("Response")
    with path.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(r1)
        w.writerow(r2)
        for r in kc.rows:
            w.writerow(["" if v is None else v for v in r])
    return path, r2


def write_sav(kc: Survey, declared: list[str]) -> Path:
    import pyreadstat

    path = kc.tmp / "survey.sav"
    data = {}
    for i, c in enumerate(kc.columns):
        vals = [r[i] for r in kc.rows]
        if kc.types[c] in ("BIGINT", "DOUBLE"):
            data[c] = pd.Series([np.nan if v is None else float(v) for v in vals], dtype="float64")
        else:
            data[c] = pd.Series(["" if v is None else str(v) for v in vals], dtype=object)
    frame = pd.DataFrame(data)
    value_labels: dict[str, dict[int | float, str]] = {c: dict(SCALE_LABELS) for c in declared}
    value_labels["counci"] = {d: f"District {d}" for d in range(1, 7)}
    pyreadstat.write_sav(
        frame,
        str(path),
        column_labels={c: kc.text[c] for c in kc.columns},
        variable_value_labels=value_labels,  # type: ignore[arg-type]
        missing_ranges={c: [9] for c in declared},
    )
    return path


def write_xlsx(kc: Survey) -> Path:
    from openpyxl import Workbook

    path = kc.tmp / "survey.xlsx"
    wb = Workbook()
    about = wb.active
    about.title = "About"
    about.append(["Kansas City resident survey, September 2021"])
    about.append(["Responses are on the next sheet."])
    sheet = wb.create_sheet("Responses")
    sheet.append(kc.columns)
    for r in kc.rows:
        sheet.append(list(r))
    wb.save(path)
    return path


# ---- comparing with the plain path ---------------------------------------------------------


def frame_of(p: Prepared, rename: Mapping[str, str] | None = None) -> pd.DataFrame:
    df = p.data.to_pandas()
    return df.rename(columns=dict(rename or {}))


def assert_same_dataset(
    got: Prepared,
    want: Prepared,
    rename: Mapping[str, str] | None = None,
    columns: list[str] | None = None,
) -> None:
    """The cleaned rows equal the plain path's; a column the file labelled is compared
    through its labels (the plain CSV has only the codes)."""
    g, w = frame_of(got, rename), frame_of(want)
    assert len(g) == len(w) == want.report.rows_kept
    cols = columns or list(w.columns)
    assert set(cols) <= set(g.columns)
    labels = {(rename or {}).get(c, c): v for c, v in got.spec.labels.items()}
    for c in cols:
        gv, wv = g[c], w[c]
        if c in labels:
            wv = wv.map(lambda v, lab=labels[c]: None if pd.isna(v) else lab.get(str(v), str(v)))
            gv = gv.astype(object).where(gv.notna(), None)
        if c in (ID_COL, ROW_COL):
            gv, wv = gv.astype(str), wv.astype(str)
        pd.testing.assert_series_equal(
            gv.reset_index(drop=True), wv.reset_index(drop=True), check_dtype=False, obj=c
        )


def analysis_spec(spec: JourneySpec, rename: Mapping[str, str] | None = None) -> JourneySpec:
    """The analyst's next choice: the city-services set on the 1-5 scale."""
    r = dict(rename or {})
    tps = tuple(r.get(c, c) for c in SERVICES)
    return spec.with_changes(
        stages=(Stage("Services", tps),),
        touchpoints=tuple(Touchpoint(c) for c in tps),
        scale=default_scale(1, 5, (9,)),
        scales={},
    )


def results(p: Prepared, rename: Mapping[str, str] | None = None) -> M.MomentsResult:
    con = duckdb.connect()
    con.register("survey", p.data)
    spec = analysis_spec(p.spec, rename)
    seg = (rename or {}).get(SEGMENTATION, SEGMENTATION)
    return M.find_moments(con, quote_ident("survey"), spec, seg)


def assert_same_results(
    got: M.MomentsResult, want: M.MomentsResult, rename: Mapping[str, str] | None = None
) -> None:
    back = {v: k for k, v in (rename or {}).items()}
    gm = got.moments.assign(column=got.moments["column"].map(lambda c: back.get(c, c)))
    keys = ["segment", "column"]
    gm = gm.sort_values(keys).reset_index(drop=True)
    wm = want.moments.sort_values(keys).reset_index(drop=True)
    assert len(wm) == len(SERVICES) * len(want.segments)
    for c in ["segment", "column", "n", "n_low", "n_high", "class", "insufficient"]:
        assert gm[c].tolist() == wm[c].tolist(), c
    for c in ["low_coef", "high_coef", "low_se", "high_se", "penalty", "reward", "ris", "ia"]:
        np.testing.assert_allclose(gm[c], wm[c], rtol=0, atol=1e-10, equal_nan=True, err_msg=c)
    gs = got.segments.sort_values("segment").reset_index(drop=True)
    ws = want.segments.sort_values("segment").reset_index(drop=True)
    assert gs["segment"].tolist() == ws["segment"].tolist()
    assert gs["n"].tolist() == ws["n"].tolist()
    np.testing.assert_allclose(gs["r2"], ws["r2"], atol=1e-10)


def worst_against_statsmodels(p: Prepared, result: M.MomentsResult) -> tuple[float, int]:
    """Largest |coefficient - statsmodels OLS| over segments, and the segments whose HC3
    standard errors were compared too (all but those with a lone respondent in a cell)."""
    import statsmodels.api as sm

    frame = p.data.to_pandas()
    scale = analysis_spec(p.spec).scale
    worst, compared = 0.0, 0
    assert len(result.fits) == 4  # All, Mail, Phone, Web
    for seg, fit in result.fits.items():
        part = frame if seg == M.ALL else frame[frame[SEGMENTATION].astype(str) == seg]
        x = pd.DataFrame(index=part.index)
        for c in SERVICES:
            x[f"low {c}"] = (part[c].le(scale.low_max) & part[c].notna()).astype(float)
        for c in SERVICES:
            x[f"high {c}"] = part[c].ge(scale.high_min).fillna(False).astype(float)
        x["intercept"] = 1.0
        for c in SERVICES:
            x[f"missing {c}"] = part[c].isna().astype(float)
        x.columns = M.Layout(len(SERVICES)).column_names(SERVICES)
        kept = [n for n, b in zip(x.columns, fit.beta, strict=True) if not math.isnan(b)]
        ref = sm.OLS(part[Y_COL], x[kept]).fit(cov_type="HC3")
        beta = pd.Series(fit.beta, index=x.columns)[kept]
        worst = max(worst, float((beta - ref.params).abs().max()))
        se = pd.Series(np.sqrt(np.diag(fit.cov)), index=x.columns)[kept]
        # HC3 is undefined where a column holds one respondent (leverage 1): statsmodels
        # then gives inf everywhere, the engine NaN for that column alone.
        lone = x[kept].sum() <= 1
        assert se[lone].isna().all()
        if not lone.any():
            assert float((se - ref.bse).abs().max()) < 1e-6
            compared += 1
    return worst, compared


# ---- the four exports against the plain CSV -------------------------------------------------


@needs_kc
def test_plain_path_against_statsmodels(kc: Survey) -> None:
    res = results(kc.plain)
    worst, compared = worst_against_statsmodels(kc.plain, res)
    assert compared == 3  # Phone (17 respondents) has a lone respondent in a cell
    assert worst < 1e-8


@needs_kc
def test_qualtrics_three_header_rows_read_as_the_plain_csv(kc: Survey) -> None:
    path = write_qualtrics(kc)
    got = read_csv(path, IngestOptions(outcome=OUTCOME, missing=(9,)))
    det = got.detection
    assert det.format == "qualtrics"
    roles = det.roles()
    guesses = {g.column: g for g in det.columns}
    assert roles["ResponseId"] == "id" and got.spec.id_column == "ResponseId"
    for m in ("StartDate", "Duration (in seconds)", "Finished", "UserLanguage", "Progress"):
        assert roles[m] == "ignore" and guesses[m].reason == "Qualtrics metadata"
    # Question text becomes the label, the line break inside it folded.
    assert guesses["q3_01"].label == "Police services"
    assert got.spec.touchpoint("q3_01").label == "Police services"
    assert got.spec.label_of(OUTCOME) == "Overall quality of services provided by the city"
    assert got.report.rows_read == len(kc.rows)  # the header rows are no respondents
    assert_same_dataset(got, kc.plain, rename={"ResponseId": "id"})
    res = results(got)
    assert_same_results(res, results(kc.plain))
    worst, _ = worst_against_statsmodels(got, res)
    assert worst < 1e-8


@needs_kc
def test_surveymonkey_two_header_rows_read_as_the_plain_csv(kc: Survey) -> None:
    path, _ = write_surveymonkey(kc)
    with open_raw(path, IngestOptions(), None) as raw:
        assert raw.format == "surveymonkey"
        names = raw.columns
        labels = dict(raw.labels)
        assert raw.rows == len(kc.rows)
    assert len(names) == len(set(names)) == len(kc.columns)
    sm_name = dict(zip(kc.columns, names, strict=True))
    # Matrix columns are named by their option, their label holds question and option.
    assert sm_name["q3_01"] == "Police services"
    assert labels["Police services"] == "Please rate the following (q3) - Police services"
    assert sm_name[OUTCOME] == "Overall quality of services provided by the city"
    assert sm_name["id"] == "Respondent ID"
    assert all(len(n) <= 61 for n in names)  # long question text shortened, whole in the label
    # The user confirms the mapping the plain file got, under the readable names.
    roles = {sm_name[c]: r for c, r in kc.plain.detection.roles().items() if c != OUTCOME}
    got = read_csv(path, IngestOptions(outcome=sm_name[OUTCOME], roles=roles, missing=(9,)))
    assert got.detection.format == "surveymonkey"
    assert got.spec.touchpoint(sm_name["q3_01"]).label.endswith("Police services")
    back = {v: k for k, v in sm_name.items()}
    assert_same_dataset(got, kc.plain, rename=back)
    assert_same_results(results(got, sm_name), results(kc.plain), sm_name)


@needs_kc
def test_sav_with_value_labels_and_declared_missing_reads_as_the_plain_csv(kc: Survey) -> None:
    declared = rated_with_nine(kc)
    path = write_sav(kc, declared)
    with open_raw(path, IngestOptions(), None) as raw:
        assert raw.format == "spss"
        assert raw.labels["q3_01"] == "Police services"
        assert raw.value_labels["q3_01"]["9"] == "Don't know"
        assert raw.value_labels["counci"]["3"] == "District 3"
        assert raw.declared_missing["q3_01"] == (9,)
        assert "counci" not in raw.declared_missing
        # Whole numbers are integers, as the CSV reader types them.
        types = dict((r[0], r[1]) for r in raw.con.execute("DESCRIBE raw").fetchall())
        assert types["q3_01"] == types["id"] == "BIGINT"
        assert types["method"] == "VARCHAR"
        assert types == {c: kc.types[c] for c in kc.columns}
    # 9 is declared in the file: the user names the outcome only.
    got = read_csv(path, IngestOptions(outcome=OUTCOME))
    assert got.detection.format == "spss"
    assert got.spec.missing_codes("q3_01") == (9,)
    assert got.spec.missing_codes(OUTCOME) == (9,)  # declared codes reach the outcome
    assert got.spec.touchpoint("q3_01").label == "Police services"
    assert "q3_01" not in got.spec.labels  # a rating's labels name scale points, not segments
    if "counci" in got.spec.attributes:
        assert got.spec.labels["counci"]["1"] == "District 1"
    assert_same_dataset(got, kc.plain)
    res = results(got)
    assert_same_results(res, results(kc.plain))
    worst, compared = worst_against_statsmodels(got, res)
    assert compared == 3 and worst < 1e-8
    # Bytes, as the Data page uploads them, under a name that says nothing.
    again = read_csv(path.read_bytes(), IngestOptions(outcome=OUTCOME), "export.csv")
    assert again.sha256 == got.sha256
    assert again.data.equals(got.data)


@needs_kc
@pytest.mark.slow  # the Kansas City survey written and read back as an Excel workbook
def test_xlsx_second_sheet_reads_as_the_plain_csv(kc: Survey) -> None:
    path = write_xlsx(kc)
    opts = IngestOptions(outcome=OUTCOME, missing=(9,))
    got = read_csv(path, opts)
    assert got.detection.format == "excel"
    assert got.detection.sheets == ("About", "Responses")
    assert got.detection.sheet == "Responses"  # the first sheet with a table
    assert_same_dataset(got, kc.plain)
    assert_same_results(results(got), results(kc.plain))
    picked = read_csv(path.read_bytes(), replace(opts, sheet="Responses"), "upload")
    assert picked.data.equals(got.data)
    with pytest.raises(CmotError, match=r"no sheet 'Answers'.*About, Responses"):
        read_csv(path, replace(opts, sheet="Answers"))
    with pytest.raises(CmotError, match=r"one column was found on sheet 'About'\. .*Pick the"):
        read_csv(path, replace(opts, sheet="About"))
    with pytest.raises(CmotError, match="more than 100 data rows"):
        read_csv(path, replace(opts, max_rows=100))


# ---- the real Qualtrics exports -------------------------------------------------------------


@needs_qx
@pytest.mark.parametrize(
    ("name", "rows", "first", "labels", "meta"),
    [
        (
            "nbe_three_header_rows.csv",
            15,
            "ResponseID",
            {
                "Q1": "Indicate how you feel about squash",
                "Q2_-1": "Check all statements you agree with-No basis for evaluation",
                "Q3_4": "Indicate how you feel about the following vegetables-Green beans",
            },
            {"ResponseID": "id", "StartDate": "ignore", "RecipientEmail": "ignore"},
        ),
        (
            "nbe_legacy_two_header_rows.csv",
            15,
            "V1",
            {
                "V1": "ResponseID",
                "Q1": "Indicate how you feel about squash",
                "Q2_4": "Check all statements you agree with-No basis for evaluation",
            },
            {"V1": "id", "V8": "ignore", "LocationLatitude": "ignore", "Q1": None},
        ),
        (
            "qualtrics_sample_json_importid.csv",
            1,
            "StartDate",
            {
                "Q1": "This is a multiple choice question.",
                "Q2": "This is a free text question.",
                "ResponseId": "Antwort-ID",
            },
            {
                "ResponseId": "id",
                "Duration (in seconds)": "ignore",
                "DistributionChannel": "ignore",
                "Q2": None,
            },
        ),
    ],
)
def test_real_qualtrics_exports_parse_with_their_question_text(
    name: str, rows: int, first: str, labels: dict[str, str], meta: dict[str, str | None]
) -> None:
    with open_raw(QX / name, IngestOptions(), None) as raw:
        assert raw.format == "qualtrics"
        assert raw.rows == rows
        assert raw.columns[0] == first
        for col, text in labels.items():
            assert raw.labels[col] == text
        for col, role in meta.items():
            assert formats.qualtrics_role(col, raw.labels.get(col, "")) == role
        types = dict((r[0], r[1]) for r in raw.con.execute("DESCRIBE raw").fetchall())
    # Types come from the answers alone: the header rows hold text.
    assert types["Q1"] == "BIGINT"


@needs_qx
def test_real_qualtrics_detection_marks_metadata_and_keeps_no_basis_codes() -> None:
    rated = {f"Q3_{i}": "touchpoint" for i in range(1, 5)}
    det = detect_roles(
        QX / "nbe_three_header_rows.csv",
        IngestOptions(outcome="Q1", roles=rated, missing=(-1, -2)),
    )
    assert det.format == "qualtrics"
    g = {x.column: x for x in det.columns}
    assert g["ResponseID"].role == "id" and g["ResponseID"].reason == "Qualtrics metadata"
    assert g["IPAddress"].role == "ignore" and g["LocationAccuracy"].role == "ignore"
    assert g["Q1"].role == "outcome"
    assert det.spec is not None
    assert det.spec.id_column == "ResponseID"
    # Q4_2 asks the same question: each name carries its column, as results are keyed on it.
    assert det.spec.touchpoint("Q3_2").label.endswith("Cucumbers (Q3_2)")
    assert det.spec.column_labels["Q1"] == "Indicate how you feel about squash"


# ---- content, not names ----------------------------------------------------------------------


def test_plain_csv_with_a_text_second_row_is_not_taken_for_an_export(tmp_path: Path) -> None:
    p = tmp_path / "survey.csv"
    p.write_text("id,Response,q1,q2,overall\n1,Response,3,4,yes\n2,ok,5,1,no\n3,ok,2,2,no\n")
    with open_raw(p, IngestOptions(), None) as raw:
        assert raw.format == "csv" and raw.rows == 3 and raw.labels == {}


def test_sav_and_xlsx_are_told_by_their_bytes_not_their_names(tmp_path: Path) -> None:
    import pyreadstat
    from openpyxl import Workbook

    frame = pd.DataFrame(
        {
            "id": [1.0, 2, 3, 4],
            "q1": [1.0, 5, 97, 98],
            "ok": [1.0, 0, 1, 0],
            "c": ["a", "", "b", "c"],
        }
    )
    sav = tmp_path / "data.csv"  # a misleading name
    pyreadstat.write_sav(
        frame,
        str(sav),
        variable_value_labels={"ok": {0: "No", 1: "Yes"}},
        missing_ranges={"q1": [{"lo": 97, "hi": 99}], "c": ["c"]},
    )
    with open_raw(sav.read_bytes(), IngestOptions(), "data.csv") as raw:
        assert raw.format == "spss"
        assert raw.declared_missing["q1"] == (97, 98, 99)  # a range: present values and ends
        assert raw.declared_missing["c"] == ("c",)
        assert raw.value_labels["ok"] == {"0": "No", "1": "Yes"}
        assert raw.con.execute("SELECT count(*) FROM raw WHERE c IS NULL").fetchall() == [(1,)]
    wb = Workbook()
    ws = wb.active
    ws.title = "Sheet 1"
    ws.append(["id", "q1", "when"])
    ws.append([1, 4, "x"])
    ws.append([2, 5.5, "y"])
    xlsx = tmp_path / "book.sav"
    wb.save(xlsx)
    with open_raw(xlsx, IngestOptions(), None) as raw:
        assert raw.format == "excel" and raw.sheets == ("Sheet 1",)
        types = [r[1] for r in raw.con.execute("DESCRIBE raw").fetchall()]
        assert types == ["BIGINT", "DOUBLE", "VARCHAR"]


def test_binary_files_that_are_no_survey_get_a_clear_error(tmp_path: Path) -> None:
    locked = tmp_path / "locked.xlsx"
    locked.write_bytes(formats.OLE_MAGIC + b"\x00" * 600)
    with pytest.raises(CmotError, match="password-protected"):
        detect_roles(locked)
    z = tmp_path / "archive.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("readme.txt", "hello")
    with pytest.raises(CmotError, match="zip archive but not an Excel workbook"):
        detect_roles(z)
    half = tmp_path / "half.xlsx"
    whole = tmp_path / "whole.xlsx"
    from openpyxl import Workbook

    Workbook().save(whole)
    half.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    with pytest.raises(CmotError, match="damaged or incomplete"):
        detect_roles(half)
    with pytest.raises(CmotError, match="does not look like a CSV"):
        detect_roles(b"\x00\x01\x02garbage", None, "x.bin")


def test_typed_columns_follow_the_csv_reader() -> None:
    assert excel_spss.typed_column([1.0, None, 3.0]).type == pa.int64()
    assert excel_spss.typed_column([1.5, 2]).type == pa.float64()
    assert excel_spss.typed_column(["1", " 2", ""]).to_pylist() == [1, 2, None]
    assert excel_spss.typed_column([5, "Blank"]).to_pylist() == ["5", "Blank"]
    assert excel_spss.typed_column([True, False]).to_pylist() == ["TRUE", "FALSE"]


def test_surveymonkey_names_are_unique_and_readable() -> None:
    h = formats.detect_header(
        [
            ["Respondent ID", "How satisfied are you?", "Which of these did you use?", "", ""],
            ["", "Response", "Web", "Phone", "Web"],
            ["1", "4", "Web", "", ""],
        ]
    )
    assert h is not None and h.format == "surveymonkey" and h.rows == 2
    assert h.names == ("Respondent ID", "How satisfied are you?", "Q3 Web", "Phone", "Q3 Web (2)")
    assert h.labels["Phone"] == "Which of these did you use? - Phone"


def test_utf16_tab_separated_export_reads_as_text(tmp_path: Path) -> None:
    rows = [
        ["ResponseId", "Q1", "Q2", "Q3"],
        ["Response ID", "Wie zufrieden sind Sie?", "Service", "Preis"],
        [
            '{"ImportId":"_recordId"}',
            '{"ImportId":"QID1"}',
            '{"ImportId":"QID2"}',
            '{"ImportId":"QID3"}',
        ],
        ["R_1", "4", "5", "3"],
        ["R_2", "2", "1", "9"],
    ]
    p = tmp_path / "export.tsv"
    p.write_bytes("\r\n".join("\t".join(r) for r in rows).encode("utf-16"))
    with open_raw(p, IngestOptions(), None) as raw:
        assert raw.format == "qualtrics" and raw.rows == 2
        assert raw.columns == ["ResponseId", "Q1", "Q2", "Q3"]
        assert raw.labels["Q1"] == "Wie zufrieden sind Sie?"
        assert raw.con.execute("SELECT sum(Q3) FROM raw").fetchall() == [(12,)]
        assert raw.encoding == "utf-16"  # issue 23: it was reported as utf-8 (its copy's)


def test_a_repeated_header_is_read_under_a_new_name_and_the_report_says_so(
    tmp_path: Path,
) -> None:
    """issue 23: duplicate headers were silently renamed (q1 to q1_1)."""
    from cmot.ingest.pipeline import validate
    from cmot.ingest.read import renamed_duplicates
    from cmot.store.demo import generate_demo

    assert renamed_duplicates(["id", "q1", "q1 ", "q2"], ["id", "q1", "q1_1", "q2"]) == {
        "q1_1": "q1"
    }
    assert renamed_duplicates(["a", "b"], ["a", "b"]) == {}
    frame = generate_demo(200, seed=3).frame
    text = frame.to_csv(index=False)
    header, rest = text.split("\n", 1)
    names = header.split(",")
    names[-1] = names[-2]  # the last column repeats the one before it
    p = tmp_path / "dup.csv"
    p.write_text(",".join(names) + "\n" + rest)
    with open_raw(p, IngestOptions(), None) as raw:
        assert raw.renamed == {f"{names[-2]}_1": names[-2]}
    report = validate(p.read_bytes(), IngestOptions(), source_name="dup.csv")
    said = report.to_text()
    assert f"the header {names[-2]!r} appears more than once" in said, said


def test_excel_sheet_with_surveymonkey_header_rows(tmp_path: Path) -> None:
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.append(["Respondent ID", "Overall, how satisfied are you?", "Please rate", None])
    ws.append([None, "Response", "Delivery", "Support"])
    ws.append([11, 4, 5, 2])
    ws.append([12, 2, 1, 3])
    p = tmp_path / "monkey.xlsx"
    wb.save(p)
    with open_raw(p, IngestOptions(), None) as raw:
        assert raw.format == "surveymonkey" and raw.rows == 2
        assert raw.columns == [
            "Respondent ID",
            "Overall, how satisfied are you?",
            "Delivery",
            "Support",
        ]
        assert raw.labels["Support"] == "Please rate - Support"
        types = [r[1] for r in raw.con.execute("DESCRIBE raw").fetchall()]
        assert types == ["BIGINT"] * 4


def small_sav(tmp_path: Path, n: int = 60) -> Path:
    import pyreadstat

    rng = np.random.default_rng(3)
    frame = pd.DataFrame({"id": np.arange(1.0, n + 1)})
    for t in ("t1", "t2", "t3"):
        frame[t] = rng.choice([1.0, 2, 3, 4, 5, 9], n)
    frame["region"] = rng.choice([1.0, 2, 3], n)
    frame["overall"] = rng.choice([0.0, 1.0], n)
    path = tmp_path / "small.sav"
    pyreadstat.write_sav(
        frame,
        str(path),
        column_labels={"t1": "Ordering", "t2": "Delivery", "region": "Where do you live?"},
        variable_value_labels={
            "region": {1: "North", 2: "South", 3: "East"},
            "overall": {0: "No", 1: "Yes"},
            "t1": {1: "Poor", 5: "Excellent", 9: "Don't know"},
        },
        missing_ranges={t: [9] for t in ("t1", "t2", "t3")},
    )
    return path


def test_sav_metadata_reaches_the_proposed_spec(tmp_path: Path) -> None:
    path = small_sav(tmp_path)
    det = detect_roles(path, IngestOptions(outcome="overall", roles={"region": "attribute"}))
    assert det.format == "spss"
    spec = det.spec
    assert spec is not None
    assert {c: spec.missing_codes(c) for c in ("t1", "t2", "t3")} == {
        "t1": (9,),
        "t2": (9,),
        "t3": (9,),
    }
    assert spec.touchpoint("t1").label == "Ordering" and spec.label_of("t3") == "t3"
    assert spec.labels["region"] == {"1": "North", "2": "South", "3": "East"}
    assert "t1" not in spec.labels
    assert spec.column_labels["region"] == "Where do you live?"
    assert {g.column: g.label for g in det.columns}["t2"] == "Delivery"
    # The analyst's --missing has the last word over what the file declares.
    mine = detect_roles(path, IngestOptions(outcome="overall", missing=(8,)))
    assert mine.spec is not None and "t1" not in mine.spec.missing
    # ... and the analyst's own labels over the file's.
    relabel = {"region": {"1": "N", "2": "S", "3": "E"}}
    own = detect_roles(
        path, IngestOptions(outcome="overall", roles={"region": "attribute"}, labels=relabel)
    )
    assert own.spec is not None and own.spec.labels["region"] == relabel["region"]
    prepared = read_csv(path, IngestOptions(outcome="overall", roles={"region": "attribute"}))
    assert set(prepared.data.column("region").to_pylist()) == {"North", "South", "East"}


def test_sav_row_cap_is_checked_before_the_data_is_read(tmp_path: Path) -> None:
    path = small_sav(tmp_path)
    with pytest.raises(CmotError, match="more than 50 data rows"):
        detect_roles(path, IngestOptions(outcome="overall", max_rows=50))
    with pytest.raises(CmotError, match="over the"):
        detect_roles(path.read_bytes(), IngestOptions(outcome="overall", max_bytes=100), "s.sav")


def test_surveymonkey_metadata_columns_are_marked(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    lines = [
        "Respondent ID,Collector ID,Start Date,IP Address,How satisfied are you overall?,"
        "Please rate our,,",
        ",,,,Response,Delivery,Support,Price",
    ]
    for i in range(40):
        r = rng.integers(1, 6, 4)
        lines.append(
            f"{1000 + i},77,2024-05-0{1 + i % 9} 10:00:00,10.0.0.{i},{r[0]},{r[1]},{r[2]},{r[3]}"
        )
    p = tmp_path / "monkey.csv"
    p.write_text("\n".join(lines) + "\n")
    det = detect_roles(p, IngestOptions(outcome="How satisfied are you overall?"))
    assert det.format == "surveymonkey"
    g = {x.column: x for x in det.columns}
    assert (g["Respondent ID"].role, g["Respondent ID"].reason) == ("id", "SurveyMonkey metadata")
    assert g["Collector ID"].role == "ignore" and g["IP Address"].role == "ignore"
    assert g["Support"].label == "Please rate our - Support"
    assert det.spec is not None
    assert det.spec.touchpoint_columns == ("Delivery", "Support", "Price")
    assert det.spec.label_of("Price") == "Please rate our - Price"


@settings(max_examples=60, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(
    magic=st.sampled_from(
        [b"$FL2", b"$FL3", formats.ZIP_MAGIC, formats.OLE_MAGIC, b"\xff\xfe", b"\xfe\xff"]
    ),
    body=st.binary(max_size=400),
    name=st.sampled_from(["upload", "x.sav", "x.xlsx", "x.csv"]),
)
def test_damaged_binary_exports_give_a_cmot_error_or_a_file(
    magic: bytes, body: bytes, name: str
) -> None:
    with contextlib.suppress(CmotError):  # a CmotError is the answer; anything else fails
        read_csv(magic + body, IngestOptions(), name)


def test_a_reader_message_never_shows_a_server_path() -> None:
    """Found by the messy-survey generator: a CSV DuckDB cannot sniff showed the temporary
    copy's path on the server in the user's message."""
    from cmot.ingest.read import without_paths

    said = without_paths('Invalid Input Error: Error when sniffing file "/tmp/cmot-upload-x1".')
    assert said == "Invalid Input Error: Error when sniffing file."
    assert without_paths("Could not read /tmp/cmot-header-9.csv at all") == (
        "Could not read at all"
    )
