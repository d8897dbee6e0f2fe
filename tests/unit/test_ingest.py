"""Ingest: detection, missing codes, layouts, encodings and the validation report."""

from __future__ import annotations

from pathlib import Path

import pyarrow.compute as pc
import pytest

from cmot.ingest.options import IngestOptions, parse_codes
from cmot.ingest.pipeline import detect_roles, read_csv
from cmot.names import ID_COL, Y_COL
from cmot.spec import load_spec
from cmot.store.demo import DEMO_CSV, DEMO_SPEC, generate_demo


def write(tmp_path: Path, text: str, name: str = "s.csv", encoding: str = "utf-8") -> Path:
    p = tmp_path / name
    p.write_bytes(text.encode(encoding))
    return p


SMALL = (
    "id,segment,Check-in,Boarding,Food,satisfied\n"
    "1,A,5,4,0,yes\n2,A,1,2,3,no\n3,B,4,0,5,yes\n4,B,2,3,1,no\n5,A,3,5,4,yes\n"
)


def test_airline_survey_ingests_with_no_mapping(airline_csv: Path) -> None:
    p = read_csv(airline_csv)
    assert p.report.rows_read == p.report.rows_kept == 25_976
    assert len(p.spec.touchpoint_columns) == 14
    assert p.spec.scale.missing == (0,)
    assert (p.spec.scale.min, p.spec.scale.max) == (1, 5)
    assert p.spec.outcome.column == "satisfaction"
    assert p.spec.outcome.kind == "binary"
    assert p.spec.outcome.positive == ("satisfied",)
    assert p.spec.id_column == "id"
    assert {"Type of Travel", "Class", "Customer Type"} <= set(p.spec.segments)
    wifi = p.data.column("Inflight wifi service")
    assert pc.min(wifi).as_py() == 1  # the 0s became missing, not low scores
    zeros = next(c for c in p.report.changes if c.column == "Inflight wifi service")
    assert wifi.null_count == zeros.count > 0
    assert pc.sum(p.data.column(Y_COL)).as_py() == pytest.approx(11_403)


def test_demo_csv_with_its_spec_keeps_every_row() -> None:
    p = read_csv(DEMO_CSV, IngestOptions(spec=load_spec(DEMO_SPEC)))
    assert p.report.rows_kept == len(generate_demo().frame)
    assert p.spec.weight_column == "Weight"
    recommend = next(c for c in p.report.changes if c.column == "Likelihood to recommend")
    assert recommend.reason.startswith("declared missing code (11)")


def test_committed_demo_csv_is_what_the_generator_makes(tmp_path: Path) -> None:
    frame = generate_demo().frame
    frame.to_csv(tmp_path / "d.csv", index=False, lineterminator="\n")
    assert (tmp_path / "d.csv").read_bytes() == DEMO_CSV.read_bytes()


def test_roles_are_detected_with_confidence_and_reason(tmp_path: Path) -> None:
    det = detect_roles(write(tmp_path, SMALL))
    roles = {g.column: (g.role, g.kind) for g in det.columns}
    assert roles == {
        "id": ("id", "id"),
        "segment": ("attribute", "categorical"),
        "Check-in": ("touchpoint", "rating"),
        "Boarding": ("touchpoint", "rating"),
        "Food": ("touchpoint", "rating"),
        "satisfied": ("outcome", "binary"),
    }
    assert all(0 < g.confidence <= 1 and g.reason for g in det.columns)
    assert det.spec.outcome.positive == ("yes",)


def test_mapping_overrides_detection(tmp_path: Path) -> None:
    opts = IngestOptions(roles={"Food": "attribute", "segment": "ignore"})
    p = read_csv(write(tmp_path, SMALL), opts)
    assert p.spec.touchpoint_columns == ("Check-in", "Boarding")
    assert "segment" in p.report.columns_ignored


def test_declared_codes_are_missing_never_low(tmp_path: Path) -> None:
    p = read_csv(write(tmp_path, SMALL), IngestOptions(missing=(0,)))
    assert p.data.column("Food").to_pylist() == [None, 3, 5, 1, 4]
    assert p.data.column("Boarding").to_pylist() == [4, 2, None, 3, 5]


def test_text_codes_and_out_of_scale_are_counted_not_silent(tmp_path: Path) -> None:
    head = "1,5,Blank,1,1\n2,1,2,2,0\n3,9,4,3,1\n4,2,great,4,0\n5,3,5,5,1\n6,4,3.5,1,0\n"
    # Enough ordinary answers that one 9 reads as a stray, not as a 1-9 scale.
    tail = "".join(f"{i},{i % 5 + 1},{i % 5 + 1},{i * 3 % 5 + 1},{i % 2}\n" for i in range(7, 107))
    text = "id,Check-in,Boarding,Seat,outcome\n" + head + tail
    p = read_csv(write(tmp_path, text), IngestOptions(missing=(0, "Blank")))
    assert p.data.column("Check-in").to_pylist()[:6] == [5, 1, None, 2, 3, 4]
    assert p.data.column("Boarding").to_pylist()[:6] == [None, 2, 4, None, 5, None]
    reasons = {(c.column, c.reason): c.count for c in p.report.changes}
    assert reasons[("Check-in", "outside the 1-5 scale")] == 1
    assert reasons[("Boarding", "text that is not a rating")] == 1
    assert reasons[("Boarding", "declared missing code (0, Blank)")] == 1
    assert reasons[("Boarding", "outside the 1-5 scale")] == 1  # 3.5 is not a whole rating
    assert p.report.out_of_scale == 2


def test_rows_without_an_outcome_are_dropped_and_counted(tmp_path: Path) -> None:
    text = "id,a,b,c,satisfaction\n1,1,2,3,yes\n2,2,3,4,\n3,5,4,3,no\n4,4,4,4,yes\n"
    p = read_csv(write(tmp_path, text))
    assert (p.report.rows_read, p.report.rows_kept) == (4, 3)
    assert [c.count for c in p.report.changes if c.action == "row dropped"] == [1]


@pytest.mark.parametrize(
    ("header", "rows", "kind", "y"),
    [
        ("overall", ["1,2,3,7", "2,3,4,9", "3,1,2,1"], "scale", [7.0, 9.0, 1.0]),
        (
            "likelihood to recommend",
            ["1,2,3,10", "2,3,4,0", "3,1,2,8"],
            "recommend",
            [10.0, 0.0, 8.0],
        ),
        ("retained", ["1,2,3,true", "2,3,4,false", "3,1,2,true"], "binary", [1.0, 0.0, 1.0]),
    ],
)
def test_outcome_kinds(
    tmp_path: Path, header: str, rows: list[str], kind: str, y: list[float]
) -> None:
    text = f"id,t1,t2,{header}\n" + "\n".join(rows) + "\n"
    opts = IngestOptions(outcome_kind="scale" if kind == "scale" else None)
    p = read_csv(write(tmp_path, text), opts)
    assert p.spec.outcome.kind == kind
    assert p.data.column(Y_COL).to_pylist() == y
    if kind == "recommend":  # one promoter (10), one passive (8), one detractor (0)
        assert "NPS +0: promoters (9-10) 33%, passives (7-8) 33%, detractors (0-6) 33%" in (
            p.report.notes
        )


def test_value_labels_replace_codes(tmp_path: Path) -> None:
    text = "id,region,a,b,c,satisfaction\n1,1,1,2,3,yes\n2,2,2,3,4,no\n3,1,5,4,3,no\n"
    p = read_csv(
        write(tmp_path, text), IngestOptions(labels={"region": {"1": "North", "2": "South"}})
    )
    assert p.data.column("region").to_pylist() == ["North", "South", "North"]


@pytest.mark.parametrize(
    ("variant", "encoding"),
    [
        ("crlf", "utf-8"),
        ("bom", "utf-8"),
        ("semicolon", "utf-8"),
        ("tab", "utf-8"),
        ("quoted", "utf-8"),
        ("latin-1", "latin-1"),
        ("padded header", "utf-8"),
    ],
)
def test_csv_dialects_read_the_same(tmp_path: Path, variant: str, encoding: str) -> None:
    rows = [
        ["id", "Café", "Boarding", "Food", "satisfied"],
        ["1", "Crème", "4", "2", "yes"],
        ["2", "Thé", "2", "3", "no"],
        ["3", "Crème", "5", "1", "no"],
        ["4", "Thé", "1", "5", "yes"],
    ]
    sep = {"semicolon": ";", "tab": "\t"}.get(variant, ",")
    nl = "\r\n" if variant == "crlf" else "\n"
    cells = rows if variant != "quoted" else [[f'"{c}"' for c in r] for r in rows]
    if variant == "padded header":
        cells = [[f"  {c} " for c in rows[0]], *rows[1:]]
    text = ("\ufeff" if variant == "bom" else "") + nl.join(sep.join(r) for r in cells) + nl
    p = read_csv(write(tmp_path, text, encoding=encoding))
    assert p.report.encoding == encoding
    assert p.data.column("Café").to_pylist() == ["Crème", "Thé", "Crème", "Thé"]
    assert p.spec.touchpoint_columns == ("Boarding", "Food")


def test_hostile_column_names_ingest_safely_and_show_as_written(tmp_path: Path) -> None:
    names = ['Check "in"', "Boarding; DROP TABLE cmot_datasets; --", "Food' OR '1'='1", "x)y"]
    text = ",".join(f'"{n.replace(chr(34), chr(34) * 2)}"' for n in ["id", *names, "satisfied"])
    text += "\n1,1,2,3,4,yes\n2,2,3,4,5,no\n3,5,4,5,2,yes\n4,4,1,1,3,no\n"
    p = read_csv(write(tmp_path, text))
    assert p.spec.touchpoint_columns == tuple(names)
    assert p.data.column(names[1]).to_pylist() == [2, 3, 4, 1]


def wide_and_long(tmp_path: Path) -> tuple[Path, Path]:
    demo = generate_demo(n_per_segment=60, seed=3)
    frame = demo.frame
    frame.to_csv(tmp_path / "wide.csv", index=False)
    tps = demo.spec.touchpoint_columns
    stage_of = {t: demo.spec.stage_of(t) for t in tps}
    long = frame.melt(
        id_vars=[c for c in frame.columns if c not in tps],
        value_vars=list(tps),
        var_name="touchpoint",
        value_name="score",
    )
    long["order"] = long["touchpoint"].map({t: i for i, t in enumerate(tps)})
    long = long.sort_values(["Client ID", "order"], kind="stable").drop(columns="order")
    long.insert(long.columns.get_loc("touchpoint") + 1, "stage", long["touchpoint"].map(stage_of))
    long.to_csv(tmp_path / "long.csv", index=False)
    return tmp_path / "wide.csv", tmp_path / "long.csv"


def test_wide_and_long_layouts_give_identical_datasets(tmp_path: Path) -> None:
    wide, long = wide_and_long(tmp_path)
    spec = load_spec(DEMO_SPEC)
    a = read_csv(wide, IngestOptions(spec=spec))
    b = read_csv(long, IngestOptions(spec=spec))
    assert b.report.layout == "long" and a.report.layout == "wide"
    assert a.data.equals(b.data)
    assert a.spec == b.spec
    # Detected, the long file's stage column becomes the journey's stages.
    detected = read_csv(long).spec
    assert [s.name for s in detected.stages] == [s.name for s in spec.stages]


def test_parse_codes_keeps_text_codes() -> None:
    assert parse_codes("0, 6 ,Blank,") == (0, 6, "Blank")


def test_respondent_id_comes_from_the_id_column(tmp_path: Path) -> None:
    p = read_csv(write(tmp_path, SMALL))
    assert p.data.column(ID_COL).to_pylist() == ["1", "2", "3", "4", "5"]
