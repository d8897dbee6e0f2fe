"""Board-ready exports (issue 28, item 6): the Overview's one-page brief (PDF, PNG) and the
Compare page's report, built from the page's own view: the outcome by name, the context
(dataset, segments, filters, pooling) in the headline, the Overview's rows and amounts."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from cmot.store.datasets import Store
from tests.app.panels import open_panels
from tests.conftest import ROOT

APP = str(ROOT / "app.py")


def ok(at: AppTest) -> AppTest:
    assert not at.exception, [e.message for e in at.exception]
    return at


def _pdf_text(pdf: bytes) -> list[str]:
    from pypdf import PdfReader

    return [p.extract_text() for p in PdfReader(io.BytesIO(pdf)).pages]


def _broken_words(text: str, sources: list[str]) -> list[str]:
    """Words of `sources` the PDF's `text` splits across a line break ('touchpoin\\nt')."""
    words = {w for s in sources for w in s.replace("\u00a0", " ").split() if len(w) > 2}
    text = text.replace("\u00a0", " ")
    return [
        w
        for w in words
        for i in range(1, len(w))
        # The whole word on either side: "also\nwhat" does not break "low".
        if re.search(rf"(?<!\S){re.escape(w[:i])}\n{re.escape(w[i:])}(?!\w)", text)
    ]


@pytest.fixture
def north(store_dir: Path) -> tuple[AppTest, Store]:
    """The demo's Overview filtered to Region = North (a filter every export must state)."""
    at = AppTest.from_file(APP, default_timeout=300)
    ok(at.run())
    open_panels(at)
    at.sidebar.selectbox(key="f_col").set_value("Region").run()
    at.sidebar.multiselect(key="f_val").set_value(["North"]).run()
    return ok(at), Store(store_dir)


def _result(at: AppTest, store: Store):  # type: ignore[no-untyped-def]
    from cmot.results.moments import find_moments

    view = at.session_state["view"]
    spec = view.info.spec
    return view, find_moments(
        store.cursor(), view.relation, spec, view.columns, view.settings, params=view.params
    )


def test_the_overview_offers_the_brief_as_pdf_and_png(north: tuple[AppTest, Store]) -> None:
    at, _ = north
    labels = {b.proto.label for b in at.get("download_button")}
    assert {"Brief (PDF)", "Brief (PNG)"} <= labels


def test_the_brief_is_the_overviews_first_screen_on_one_page(
    north: tuple[AppTest, Store],
) -> None:
    """The brief of the filtered Overview: its outcome as title, its context with the filter,
    and the Fix first / Invest next rows the screen shows (same amounts, same words)."""
    from PIL import Image

    from cmot.present.brief import brief_pdf, brief_png
    from cmot.results.headline import build_headline, view_change
    from cmot.ui.frame import ranked_segments
    from cmot.ui.report import overview_brief
    from tests.app.test_pages import texts

    at, store = north
    view, result = _result(at, store)
    segs = ranked_segments(result)
    change = view_change(store.cursor(), view.relation, view.info.spec, view.params)
    head = build_headline(result, view.info.spec, segs, change)
    brief = overview_brief(view, result, segs, head)
    assert brief.outcome == "Would hire again" and "only Region in North" in brief.context
    assert "demo" in brief.context and "segments by" in brief.context
    shown = texts(at)
    for row, p in zip(brief.fix_first, head.fix_first, strict=True):
        assert p.touchpoint in shown and p.amount in shown  # the screen's row, in the brief
        assert row.amount == p.amount and row.certainty == p.certainty
    (page,) = _pdf_text(brief_pdf(brief))
    assert page.splitlines()[1] == "Would hire again"
    assert " ".join(page.split()).count("only Region in North") == 1
    rows = [r.action for r in brief.fix_first + brief.invest_next]
    assert not _broken_words(page, [brief.context, brief.flips, *rows])
    image = Image.open(io.BytesIO(brief_png(brief)))
    assert image.width >= 1600 and image.height > image.width


def test_the_report_names_the_outcome_and_states_the_filter(
    north: tuple[AppTest, Store],
) -> None:
    """The Compare page's report of the filtered view: title with the outcome, the context
    with the filter under it, Fix first / Invest next with the Overview's amounts, tables in
    words (no 'value_a', 'se', 'q', 'False', 'None'), no word broken across lines."""
    from cmot.present.report import report_html, report_pdf
    from cmot.results.compare import compare_segments, find_flips
    from cmot.results.headline import priorities
    from cmot.ui.frame import ranked_segments
    from cmot.ui.report import build_report

    at, store = north
    ok(at.switch_page("pages/compare.py").run())
    labels = {b.proto.label for b in at.get("download_button")}
    assert {"Report (HTML)", "Report (PDF)"} <= labels
    view, result = _result(at, store)
    chosen = ranked_segments(result)[:2]
    rep = build_report(view, result, chosen, compare_segments(result, *chosen), find_flips(result))
    pages = _pdf_text(report_pdf(rep))
    first = " ".join(pages[0].split())
    assert first.startswith(f"Would hire again: moments of truth compared, {chosen[0]}")
    assert "only Region in North" in first and "Fix first" in first
    fix, _ = priorities(result, chosen)
    for p in fix:
        assert f"{p.touchpoint} for {p.segment}: {p.amount} at stake ({p.certainty})" in first
    words = set(" ".join(pages).replace("\xa0", " ").split())
    raw = {"value_a", "value_b", "se", "q", "class_a", "segment_a", "True", "False", "None", "nan"}
    assert not words & raw
    sources = [rep.context, rep.headline, *(rep.fix_first or ()), *rep.flips]
    assert not _broken_words("\n".join(pages), sources)
    assert "only Region in North" in report_html(rep)
