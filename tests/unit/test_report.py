"""Exports: formula-safe CSV, chart images, the comparison report as HTML and PDF."""

from __future__ import annotations

import io

import pandas as pd
import pytest

from cmot.present import charts, exports, journey_charts, pdf_layout, report, scales
from cmot.results.compare import compare_segments, find_flips
from cmot.results.moments import find_moments
from cmot.results.summary import action_plan, headline, segments_of, top_stakes
from cmot.store.datasets import Store
from cmot.store.demo import ensure_demo


def test_neutralise_prefixes_formula_like_text_only() -> None:
    frame = pd.DataFrame(
        {
            "=name": ["=cmd|' /C calc'!A0", "+1", "-2", "@SUM(A1)", "\tx", "\rx", "ok", "a=b"],
            "value": [-1.5, 2, 3, 4, 5, 6, 7, 8],
        }
    )
    safe = exports.neutralise(frame)
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
    text = exports.to_csv(frame).decode("utf-8-sig")
    assert "\n'=cmd" in text and "\n-1.5" not in text and "'@SUM" in text


def test_neutralise_handles_pandas_string_columns() -> None:
    frame = pd.DataFrame({"a": pd.array(["=1", None, "x"], dtype="string")})
    assert exports.neutralise(frame)["a"].tolist()[0] == "'=1"


@pytest.fixture(scope="module")
def demo_result():  # type: ignore[no-untyped-def]
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        store = Store(f"{d}/s.duckdb")
        info = ensure_demo(store)
        yield find_moments(store.cursor(), info.table, info.spec, "Segment")
        from cmot.store import directory as store_mod

        store_mod.close_all()


def test_charts_export_as_png_and_svg(demo_result) -> None:  # type: ignore[no-untyped-def]
    seg = segments_of(demo_result)[0]
    rows = demo_result.moments[demo_result.moments.segment == seg]
    for chart in (
        charts.butterfly(rows, demo_result.unit),
        charts.impact_performance(rows, -0.2, 0.2),
        journey_charts.journey_map(
            demo_result.moments[demo_result.moments.segment != "All"],
            list(dict.fromkeys(rows.stage)),
        ),
        journey_charts.class_matrix(
            demo_result.moments, segments_of(demo_result), demo_result.unit
        ),
    ):
        assert exports.chart_png(chart).startswith(b"\x89PNG")
        svg = exports.chart_svg(chart)
        assert svg.lstrip().startswith("<svg")


def test_every_class_has_a_colour_a_shape_and_a_symbol() -> None:
    from cmot.results.classes import CLASSES

    for c in CLASSES:
        assert c in scales.CLASS_COLOURS and c in scales.CLASS_SHAPES and c in scales.CLASS_SYMBOLS
    assert len(set(scales.CLASS_COLOURS.values())) == len(CLASSES)


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

    monkeypatch.setattr(pdf_layout, "FONT_PATHS", ["/nonexistent/DejaVuSans.ttf"])
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


CONTEXT = "demo v1 · segments by Segment · each segment alone · only Region in North · unweighted"


def _board_report(result, outcome: str = "Would hire again") -> report.Report:  # type: ignore[no-untyped-def]
    """The Compare page's report of the demo's first two segments, as cmot.ui.report builds it."""
    from cmot.present.brief import amounts_note, certainty_note, priority_line
    from cmot.results.headline import priorities

    segs = segments_of(result)[:2]
    diffs = compare_segments(result, *segs)
    flips = find_flips(result)
    flips = flips[flips.vulnerable_in.isin(segs) & flips.opportunity_in.isin(segs)]
    fix, invest = priorities(result, segs)
    return report.Report(
        title=report.report_title(outcome, segs),
        outcome=outcome,
        context=CONTEXT,
        fix_first=tuple(priority_line(p) for p in fix),
        invest_next=tuple(priority_line(p) for p in invest),
        notes=(amounts_note(fix + invest), certainty_note(fix + invest)),
        dataset="demo v1",
        segmentation="Segment",
        segments=tuple(segs),
        filters="",
        headline=headline(result, segs),
        stakes=top_stakes(result, segs),
        matrix=report.matrix_table(result, segs),
        differences=diffs,
        flips=tuple(flips.sentence),
        charts=(
            ("Class and impact", journey_charts.class_matrix(result.moments, segs, result.unit)),
            ("Differences", charts.differences(diffs, result.unit)),
        ),
        result=result,
        evidence=("Invoicing for Public agencies, concerns (bottom box): 12 of 40 raters",),
    )


def _pdf_pages(rep: report.Report) -> list[str]:
    from pypdf import PdfReader

    return [p.extract_text() for p in PdfReader(io.BytesIO(report.report_pdf(rep))).pages]


def test_board_report_speaks_in_words_and_names_the_outcome(demo_result) -> None:  # type: ignore[no-untyped-def]
    """Issue 28: raw headers ('value_a', 'se', 'q', 'False') and an untitled outcome."""
    rep = _board_report(demo_result)
    pages = _pdf_pages(rep)
    words = set(" ".join(pages).replace("\xa0", " ").split())
    raw = {"value_a", "value_b", "se", "q", "z", "p", "class_a", "class_b", "segment_a"}
    assert words & (raw | {"True", "False", "None", "nan", "NaN"}) == set()
    assert pages[0].replace("\n", " ").startswith("Would hire again: moments of truth compared")
    assert "Standard error (pts)" in " ".join(pages).replace("\n", " ")
    # A short label is not wrapped for its long neighbour's sake (the appendix's n rows).
    assert f"n: {rep.segments[0]} " in pages[-1] and "\nwould hire again" not in pages[-1]
    page = report.report_html(rep)
    assert "<title>Would hire again: moments of truth compared" in page
    assert "<th>value_a</th>" not in page and "<th>se</th>" not in page
    assert ">False<" not in page and ">True<" not in page
    # A title without the outcome's name gets it in front.
    assert (
        report.Report(**{**rep.__dict__, "title": "Comparison"})
        .heading()
        .startswith("Would hire again: ")
    )


def test_board_report_breaks_no_word_across_lines(demo_result) -> None:  # type: ignore[no-untyped-def]
    """Issue 28: 'touchpoin t', 'vulnerabilit y': a table's column narrower than its words."""
    rep = _board_report(demo_result)
    text = "\n".join(_pdf_pages(rep)).replace("\xa0", " ")
    tables = [t for _, t, _ in report._report_tables(rep)] + [report._settings_table(rep)]
    words = {
        w
        for t in tables
        for cell in [*map(str, t.columns), *t.map(report._fmt_cell).to_numpy().ravel()]
        for w in str(cell).replace("\xa0", " ").split()
        if len(w) > 2
    }
    assert "Touchpoint" in words and "vulnerability" in words
    broken = [w for w in words for i in range(1, len(w)) if f"{w[:i]}\n{w[i:]}" in text]
    assert not broken


def test_a_heading_is_never_the_last_thing_on_a_page(demo_result) -> None:  # type: ignore[no-untyped-def]
    """Issue 28: 'Differences' stood at the foot of page 1, its chart on page 2."""
    rep = _board_report(demo_result)
    headings = {
        "Fix first",
        "Invest next",
        "Flips",
        "What raters say",
        "Appendix: method settings and n",
        *(caption for caption, _ in rep.charts),
        *(h for h, _, _ in report._report_tables(rep)),
    }
    from pypdf import PdfReader

    pages = PdfReader(io.BytesIO(report.report_pdf(rep))).pages
    assert len(pages) > 1
    captions = {caption for caption, _ in rep.charts}
    for i, page in enumerate(pages):
        lines = [line.strip() for line in page.extract_text().strip().splitlines()]
        # A chart's caption is followed by its image, which has no text: the page holds one
        # image for each caption on it.
        charted = [line for line in lines if line in captions]
        assert len(page.images) >= len(charted), f"page {i + 1}: a caption without its chart"
        if lines[-1] in captions:
            continue
        assert lines[-1] not in headings, f"page {i + 1} ends with the heading {lines[-1]!r}"


def test_board_report_is_set_in_one_font_family(demo_result) -> None:  # type: ignore[no-untyped-def]
    """Issue 28: a chart's title in a serif fallback beside the sans-serif text."""
    from pypdf import PdfReader

    rep = _board_report(demo_result)
    fonts = set()
    for page in PdfReader(io.BytesIO(report.report_pdf(rep))).pages:
        for f in page["/Resources"].get_object().get("/Font", {}).values():
            fonts.add(str(f.get_object()["/BaseFont"]).split("+")[-1].lstrip("/"))
    families = {f.replace("-", "").removesuffix("Bold").removesuffix("Book") for f in fonts}
    assert len(families) == 1, fonts
    # The charts' text is drawn in the same family (or, downloaded, in a named sans-serif).
    family = "DejaVu Sans" if "DejaVuSans" in families else "Liberation Sans, Helvetica, Arial"
    chart = rep.charts[0][1]
    spec = exports._spec(chart, report.PDF_CHART_PX, family)
    assert spec["config"]["font"] == family and spec["width"] == report.PDF_CHART_PX
    assert exports._spec(chart)["config"]["font"].startswith("DejaVu Sans, ")


def test_report_tables_show_an_empty_cell_as_a_dash(demo_result) -> None:  # type: ignore[no-untyped-def]
    """Issue 28: empty cells read "None" (or "nan"); a report's read "–"."""
    segs = segments_of(demo_result)[:2]
    diffs = compare_segments(demo_result, *segs)
    diffs.loc[0, ["value_b", "se", "q"]] = float("nan")
    row = report.differences_table(diffs, demo_result.unit).iloc[0]
    assert row[f"{segs[1]} (pts)"] == row["Standard error (pts)"] == "–"
    assert row["FDR-adjusted p-value"] == "–"
    page = report._html_table(pd.DataFrame({"a": [None, float("nan"), pd.NA, "x"]}))
    assert page.count("<td>–</td>") == 3 and "None" not in page and "nan" not in page


def test_board_report_states_its_context_and_fix_first_invest_next(demo_result) -> None:  # type: ignore[no-untyped-def]
    """Issue 28: the report's headline says what it was computed on (a filter vanished from
    every export), and it leads with Fix first / Invest next, the Overview's rows with the
    same amounts and certainty words, where "Most at stake" listed opportunities only."""
    from cmot.results.headline import certainty, priorities

    rep = _board_report(demo_result)
    pages = _pdf_pages(rep)
    first = " ".join(pages[0].split())
    assert first.index("Would hire again") < first.index(CONTEXT) < first.index("Fix first")
    assert first.index("Fix first") < first.index("Invest next") < first.index("Flips")
    assert "Most at stake" not in first and "not a forecast" in first
    fix, invest = priorities(demo_result, list(rep.segments))
    assert fix and invest
    words = certainty(demo_result).set_index(["segment", "touchpoint"]).certainty
    m = demo_result.moments.set_index(["segment", "touchpoint"])
    for p in fix + invest:
        # The amount is the engine's at_stake in points, and the word the certainty table's.
        pts = 100 * m.at_stake[(p.segment, p.touchpoint)]
        line = f"{p.touchpoint} for {p.segment}: {pts:.1f} pts at stake"
        assert f"{line} ({words[(p.segment, p.touchpoint)]})" in first
    page = report.report_html(rep)
    assert f"<p class='context'>{CONTEXT}</p>" in page and "<h2>Fix first</h2>" in page
    # Without the lists (an older caller), the report keeps "Most at stake".
    plain = report.Report(**{**rep.__dict__, "fix_first": None, "invest_next": None})
    assert [h for h, _ in report.lead_sections(plain)] == ["Most at stake"]
    empty = report.Report(**{**rep.__dict__, "fix_first": (), "invest_next": ()})
    assert [lines for _, lines in report.lead_sections(empty)] == [
        [report.NO_FIX],
        [report.NO_INVEST],
    ]


def test_report_matrix_shows_the_one_amount_at_stake(demo_result) -> None:  # type: ignore[no-untyped-def]
    """Issue 28: the table said the range of impact (20.6 pts) where the Overview, the class
    matrix chart and Fix first / Invest next say the amount at stake (14.7 pts)."""
    import math

    segs = segments_of(demo_result)[:2]
    table = report.matrix_table(demo_result, segs).set_index("touchpoint")
    m = demo_result.moments
    rows = m[m.segment.isin(segs)]
    assert rows.at_stake.notna().any() and rows.at_stake.isna().any()
    for _, r in rows.iterrows():
        cell = table.loc[r.touchpoint, r.segment]
        if math.isfinite(r.at_stake):
            assert cell.endswith(f" ({100 * r.at_stake:.1f} pts)"), cell
        else:
            assert "(" not in cell and cell.endswith("low impact"), cell


def test_a_difference_that_rounds_to_zero_reads_zero(demo_result) -> None:  # type: ignore[no-untyped-def]
    segs = segments_of(demo_result)[:2]
    diffs = compare_segments(demo_result, *segs)
    diffs.loc[0, "difference"], diffs.loc[1, "difference"] = -0.0001, 0.0004
    column = report.differences_table(diffs, demo_result.unit).iloc[:, 4]
    assert list(column[:2]) == ["0.0", "0.0"]
    assert all(v == "0.0" or v[0] in "+-" for v in column)


def test_report_title_capitalises_the_outcomes_name_once() -> None:
    title = report.report_title("satisfaction", ["Business", "Eco"])
    assert title == "Satisfaction: moments of truth compared, Business vs Eco"
