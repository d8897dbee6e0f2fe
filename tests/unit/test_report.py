"""Exports: formula-safe CSV, chart images, the comparison report as HTML and PDF."""

from __future__ import annotations

import io

import pandas as pd
import pytest

from cmot import charts, report
from cmot.compare import compare_segments, find_flips
from cmot.demo import ensure_demo
from cmot.moments import find_moments
from cmot.store import Store
from cmot.summary import action_plan, headline, segments_of, top_stakes


def test_neutralise_prefixes_formula_like_text_only() -> None:
    frame = pd.DataFrame(
        {
            "=name": ["=cmd|' /C calc'!A0", "+1", "-2", "@SUM(A1)", "\tx", "\rx", "ok", "a=b"],
            "value": [-1.5, 2, 3, 4, 5, 6, 7, 8],
        }
    )
    safe = report.neutralise(frame)
    assert list(safe.columns) == ["'=name", "value"]
    assert safe["'=name"].tolist() == [
        "'=cmd|' /C calc'!A0",
        "'+1",
        "'-2",
        "'@SUM(A1)",
        "'\tx",
        "'\rx",
        "ok",
        "a=b",
    ]
    assert safe["value"].tolist() == frame["value"].tolist()  # numbers stay numbers
    text = report.to_csv(frame).decode("utf-8-sig")
    assert "\n'=cmd" in text and "\n-1.5" not in text and "'@SUM" in text


def test_neutralise_handles_pandas_string_columns() -> None:
    frame = pd.DataFrame({"a": pd.array(["=1", None, "x"], dtype="string")})
    assert report.neutralise(frame)["a"].tolist()[0] == "'=1"


@pytest.fixture(scope="module")
def demo_result():  # type: ignore[no-untyped-def]
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        store = Store(f"{d}/s.duckdb")
        info = ensure_demo(store)
        yield find_moments(store.cursor(), info.table, info.spec, "Segment")
        from cmot import store as store_mod

        store_mod.close_all()


def test_charts_export_as_png_and_svg(demo_result) -> None:  # type: ignore[no-untyped-def]
    seg = segments_of(demo_result)[0]
    rows = demo_result.moments[demo_result.moments.segment == seg]
    for chart in (
        charts.butterfly(rows, demo_result.unit),
        charts.impact_performance(rows, -0.2, 0.2),
        charts.journey_map(
            demo_result.moments[demo_result.moments.segment != "All"],
            list(dict.fromkeys(rows.stage)),
        ),
        charts.class_matrix(demo_result.moments, segments_of(demo_result), demo_result.unit),
    ):
        assert report.chart_png(chart).startswith(b"\x89PNG")
        svg = report.chart_svg(chart)
        assert svg.lstrip().startswith("<svg")


def test_every_class_has_a_colour_a_shape_and_a_symbol() -> None:
    from cmot.classes import CLASSES

    for c in CLASSES:
        assert c in charts.CLASS_COLOURS and c in charts.CLASS_SHAPES and c in charts.CLASS_SYMBOLS
    assert len(set(charts.CLASS_COLOURS.values())) == len(CLASSES)


def test_action_plan_puts_fixes_first_and_maintain_after_grow(demo_result) -> None:  # type: ignore[no-untyped-def]
    for seg in segments_of(demo_result):
        plan = action_plan(demo_result, seg)
        order = [a for a in plan.action]
        ranks = [
            ("fix", "grow", "improve", "maintain", "monitor", "collect more responses").index(a)
            for a in order
        ]
        assert ranks == sorted(ranks)


def test_report_html_and_pdf_hold_the_comparison_and_the_appendix(demo_result) -> None:  # type: ignore[no-untyped-def]
    from pypdf import PdfReader

    segs = segments_of(demo_result)[:2]
    diffs = compare_segments(demo_result, *segs)
    flips = find_flips(demo_result)
    rep = report.Report(
        title="Comparison",
        dataset="demo v1",
        segmentation="Segment",
        segments=tuple(segs),
        filters="",
        headline=headline(demo_result, segs),
        stakes=top_stakes(demo_result, segs),
        matrix=report.matrix_table(demo_result, segs),
        differences=diffs,
        flips=tuple(flips.sentence),
        charts=(("Differences", charts.differences(diffs, demo_result.unit)),),
        result=demo_result,
    )
    page = report.report_html(rep)
    assert "Appendix: method settings and n" in page and "<svg" in page
    assert f"n: {segs[0]}" in page
    pdf = report.report_pdf(rep)
    assert pdf.startswith(b"%PDF")
    text = " ".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf)).pages)
    assert "Appendix: method settings and n" in text
    assert segs[0] in text and "low <= 2, high >= 5" in text


def test_pdf_without_a_unicode_font_still_writes(
    demo_result, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    from pypdf import PdfReader

    monkeypatch.setattr(report, "FONT_PATHS", ["/nonexistent/DejaVuSans.ttf"])
    segs = segments_of(demo_result)[:2]
    rep = report.Report(
        title="Comparison ▼", dataset="demo", segmentation="Segment", segments=tuple(segs),
        filters="", headline="x", stakes=top_stakes(demo_result, segs),
        matrix=report.matrix_table(demo_result, segs),
        differences=compare_segments(demo_result, *segs), flips=(), charts=(),
        result=demo_result,
    )  # fmt: skip
    text = PdfReader(io.BytesIO(report.report_pdf(rep))).pages[0].extract_text()
    assert "Comparison ?" in text
