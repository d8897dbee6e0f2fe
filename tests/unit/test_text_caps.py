"""Caps on people's text at ingest (issue 29): comments and labels cut to a length, the count
in the validation report; and a PDF report that draws a label stored before the caps."""

from __future__ import annotations

import io
from dataclasses import replace
from pathlib import Path

import pyarrow.compute as pc
import pytest

from cmot.ingest.options import IngestOptions
from cmot.ingest.pipeline import read_csv
from cmot.ingest.validation import SHORTENED
from cmot.present import report
from cmot.results.compare import compare_segments, find_flips
from cmot.results.moments import MomentsResult, find_moments
from cmot.results.summary import headline, segments_of, top_stakes
from cmot.spec import JourneySpec, Outcome, Stage, Touchpoint, default_scale
from cmot.store.datasets import Store
from cmot.store.demo import ensure_demo
from cmot.store.directory import close_all
from cmot.store.intake import ingest
from cmot.text import MAX_COMMENT_CHARS, MAX_LABEL_CHARS

LONG_COMMENT = "word " * 2_000  # 10,000 characters
LONG_CITY = "Llanfair" * 50  # 400 characters


def _survey(tmp_path: Path) -> Path:
    rows = ["id,region,city,a,b,c,satisfaction,comment"]
    for i in range(1, 13):
        city = LONG_CITY if i == 1 else "Leeds"
        comment = LONG_COMMENT if i == 2 else ("" if i % 3 else "fine")
        rows.append(f"{i},{i % 2 + 1},{city},{i % 5 + 1},{i % 4 + 1},{i % 3 + 1},"
                    f"{'yes' if i % 2 else 'no'},{comment}")  # fmt: skip
    p = tmp_path / "s.csv"
    p.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return p


def _spec() -> JourneySpec:
    return JourneySpec(
        stages=(Stage("Visit", ("a", "b", "c")),),
        touchpoints=(Touchpoint("a", "Q" * 10_000), Touchpoint("b", "Booking"), Touchpoint("c")),
        scale=default_scale(1, 5),
        outcome=Outcome("satisfaction", "binary", ("yes",)),
        id_column="id",
        segments=("region", "city"),
        attributes=("region", "city"),
        comments=("comment",),
        labels={"region": {"1": "N" * 400, "2": "South"}},
        column_labels={"comment": "C" * 500, "city": "City"},
    )


def test_long_comments_labels_and_segment_values_are_cut_and_counted(tmp_path: Path) -> None:
    p = read_csv(_survey(tmp_path), IngestOptions(spec=_spec()))
    label = p.spec.touchpoint("a").label
    assert len(label) == MAX_LABEL_CHARS and label.endswith("…")
    assert p.spec.touchpoint("b").label == "Booking"  # short labels as they were
    assert len(p.spec.column_labels["comment"]) == MAX_LABEL_CHARS
    assert p.spec.column_labels["city"] == "City"
    assert len(p.spec.labels["region"]["1"]) == MAX_LABEL_CHARS
    assert p.report.labels_shortened == 3

    comments = p.data.column("comment")
    assert pc.max(pc.utf8_length(comments)).as_py() == MAX_COMMENT_CHARS
    assert comments.to_pylist()[1] == LONG_COMMENT[:MAX_COMMENT_CHARS]
    assert comments.to_pylist()[0] is None  # a blank answer is still no answer
    cities = p.data.column("city").to_pylist()
    assert cities[0] == LONG_CITY[:MAX_LABEL_CHARS] and cities[1] == "Leeds"
    assert {len(v) for v in p.data.column("region").to_pylist()} == {MAX_LABEL_CHARS, 5}

    cut = {c.column: c.count for c in p.report.changes if c.action == SHORTENED}
    assert cut == {"comment": 1, "city": 1}  # region's labels were cut in the spec
    assert p.report.values_shortened == 2
    text = p.report.to_text()
    assert "text shortened:   2 value(s) and 3 label(s)" in text
    assert "comment: 1 longer than 5,000 characters (shortened)" in text
    assert p.report.to_dict()["labels_shortened"] == 3


def test_a_survey_within_the_caps_reports_none(tmp_path: Path) -> None:
    spec = _spec().with_changes(
        touchpoints=(Touchpoint("a", "Arrival"), Touchpoint("b"), Touchpoint("c")),
        labels={},
        column_labels={},
    )
    text = "id,region,city,a,b,c,satisfaction,comment\n" + "".join(
        f"{i},{i % 2},Leeds,{i % 5 + 1},2,3,{'yes' if i % 2 else 'no'},ok\n" for i in range(1, 9)
    )
    path = tmp_path / "ok.csv"
    path.write_text(text, encoding="utf-8")
    p = read_csv(path, IngestOptions(spec=spec))
    assert p.report.labels_shortened == p.report.values_shortened == 0
    assert "text shortened:   none" in p.report.to_text()
    assert p.data.column("region").to_pylist()[:2] == [1, 0]  # numbers stay numbers


def test_the_stored_spec_keeps_the_cut_labels(tmp_path: Path) -> None:
    store = Store(str(tmp_path / "s.duckdb"))
    try:
        info, report = ingest(store, _survey(tmp_path), "long", IngestOptions(spec=_spec()))
        assert len(store.get_dataset("long").spec.touchpoint("a").label) == MAX_LABEL_CHARS
        assert report.labels_shortened == 3 and info.rows_kept == 12
    finally:
        close_all()


def _long_label_result(result: MomentsResult, tp: str, seg: str) -> MomentsResult:
    """`result` as a dataset stored before the caps would give: one touchpoint's label and
    one segment's value 10,000 characters long."""
    names = {tp: "T" * 10_000, seg: "W" * 10_000}  # W: the widest letter
    frames = {
        f: getattr(result, f).replace({"touchpoint": names, "segment": names})
        for f in ("moments", "segments")
    }
    return replace(result, **frames)


@pytest.mark.slow  # a PDF laid out around a 10,000-character label (9 s on a busy machine)
def test_pdf_report_draws_a_10000_character_label(tmp_path: Path) -> None:
    from pypdf import PdfReader

    store = Store(str(tmp_path / "s.duckdb"))
    try:
        info = ensure_demo(store)
        demo = find_moments(store.cursor(), info.table, info.spec, "Segment")
    finally:
        close_all()
    seg = segments_of(demo)[0]
    result = _long_label_result(demo, str(demo.moments.touchpoint.iloc[0]), seg)
    segs = segments_of(result)[:2]
    assert "W" * 10_000 in segs
    diffs = compare_segments(result, *segs)
    rep = report.Report(
        title="Comparison " + "L" * 10_000, dataset="old v1", segmentation="Segment",
        segments=tuple(segs), filters="", headline=headline(result, segs),
        stakes=top_stakes(result, segs), matrix=report.matrix_table(result, segs),
        differences=diffs, flips=tuple(find_flips(result).sentence), charts=(),
        result=result, evidence=("T" * 10_000 + " for " + "W" * 10_000,),
    )  # fmt: skip
    pdf = report.report_pdf(rep)
    text = " ".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf)).pages)
    assert "Appendix: method settings and n" in text
    assert "…" in text and "T" * 10_000 not in text.replace("\n", "")
