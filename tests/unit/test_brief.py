"""The one-page executive brief (issue 28, item 6): one page, every word whole, PDF and PNG
drawn from one layout."""

from __future__ import annotations

import io

import pytest

from cmot.present import brief as b
from cmot.text import MAX_LABEL_CHARS


def _brief(**changes: object) -> b.Brief:
    base = b.Brief(
        outcome="Would hire again",
        level="56.0%",
        level_words="answered Yes, of 3,600 respondents",
        trend="+2.1 pts since 2026-Q2 (95%: -1.0 pts to +5.2 pts; could be chance)",
        context="demo v1 · segments by Segment · each segment alone · all respondents",
        fix_first=(
            b.BriefRow("Fix Change orders for Public agencies", "5.2 pts", "clear"),
            b.BriefRow("Fix Invoicing for Public agencies", "5.1 pts", "likely"),
        ),
        invest_next=(
            b.BriefRow("Grow Project handoff/closeout for Public agencies", "16.7 pts", "clear"),
        ),
        flips="Change orders is a vulnerability for Public agencies but an opportunity for "
        "Commercial developers.",
        how_sure="Clear: its interval excludes zero after allowing for the many tests.",
        amounts="What the outcome would gain if the low raters moved to the middle.",
        generated="2026-12-06 12:00",
    )
    return b.Brief(**{**base.__dict__, **changes})  # type: ignore[arg-type]


def _pages(pdf: bytes) -> list[str]:
    from pypdf import PdfReader

    return [p.extract_text() for p in PdfReader(io.BytesIO(pdf)).pages]


def _words(brief: b.Brief) -> set[str]:
    texts = [brief.outcome, brief.level_words, brief.trend, brief.context, brief.flips]
    texts += [brief.how_sure, brief.amounts]
    texts += [f"{r.action} {r.amount} {r.certainty}" for r in brief.fix_first + brief.invest_next]
    return {w for t in texts for w in t.split() if len(w) > 2}


def test_brief_pdf_is_one_page_titled_by_the_outcome_with_every_word_whole() -> None:
    brief = _brief()
    pages = _pages(b.brief_pdf(brief))
    assert len(pages) == 1
    text = pages[0]
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    assert lines[:2] == ["Executive brief", "Would hire again"]
    for needle in (
        "Fix first",
        "Invest next",
        "How the segments differ",
        "How sure",
        "56.0%",
        "5.2 pts",
    ):
        assert needle in text
    assert "Fix Change orders for Public agencies" in text and "likely" in text
    assert "+2.1 pts since 2026-Q2" in text and brief.context in text
    broken = [w for w in _words(brief) for i in range(1, len(w)) if f"{w[:i]}\n{w[i:]}" in text]
    assert not broken
    missing = [w for w in _words(brief) if w not in text]
    assert not missing


def test_the_longest_brief_still_fits_one_page_at_a_readable_size() -> None:
    """Three rows each of the longest labels ingest keeps, a long trend and flips: the type
    shrinks, but stays at 60% or more of its size, and nothing runs off the page."""
    long = "Touchpoint " + "x" * (MAX_LABEL_CHARS - 30)
    row = b.BriefRow(f"Fix {long} for {'Segment ' * 12}", "12.3 pts", "could be chance")
    brief = _brief(
        fix_first=(row,) * 3,
        invest_next=(row,) * 3,
        flips="A flip sentence that goes on. " * 30,
        trend="A trend that goes on. " * 10,
    )
    pdf, font = b.new_pdf()
    page = b.layout(brief, b.pdf_measure(pdf, font))
    assert page.fits and page.scale >= min(b.SCALES)
    assert all(t.x >= b.MARGIN and t.y <= b.PAGE_H - b.MARGIN / 2 for t in page.texts)
    assert max(b.pdf_measure(pdf, font)(t.text, t.size, t.bold) + t.x for t in page.texts) <= (
        b.PAGE_W - b.MARGIN + 0.01
    )
    assert len(_pages(b.brief_pdf(brief))) == 1


def test_an_empty_list_says_so() -> None:
    text = _pages(b.brief_pdf(_brief(fix_first=(), invest_next=())))[0]
    assert "Nothing to fix first" in text and "Nothing to invest in next" in text


def test_wrap_breaks_at_spaces_only() -> None:
    def measure(text: str, size: float, bold: bool) -> float:
        return float(len(text))

    assert b.wrap("one two three four", 9, 10, False, measure) == ["one two", "three", "four"]
    # A word wider than a line is the one thing cut, with an ellipsis.
    (line,) = b.wrap("x" * 30, 9, 10, False, measure)
    assert line.endswith("…") and len(line) <= 9


def test_brief_png_draws_the_same_page_as_the_pdf() -> None:
    """The PNG is the PDF's layout drawn by vl-convert: A4's shape, the panel where the
    layout put it, ink at every line of text the PDF has."""
    from PIL import Image

    brief = _brief()
    png = b.brief_png(brief)
    assert png.startswith(b"\x89PNG")
    image = Image.open(io.BytesIO(png)).convert("L")
    w, h = image.size
    assert w >= 1600 and abs(h / w - b.PAGE_H / b.PAGE_W) < 0.01
    px = w / b.PAGE_W  # pixels per mm
    pdf, font = b.new_pdf()
    page = b.layout(brief, b.pdf_measure(pdf, font))
    panel = next(box for box in page.boxes if box.colour == b.PANEL)
    assert image.getpixel((int((panel.x + 2) * px), int((panel.y + 1) * px))) == 242  # #F2F2F2
    for t in page.texts:
        # The band just above the baseline, as wide as the text's first letters.
        top = t.y - t.size * b.PT * 0.6
        band = image.crop((int(t.x * px), int(top * px), int((t.x + 5) * px), int(t.y * px)))
        assert band.getextrema()[0] < 160, f"no ink where the PDF has {t.text!r}"


def test_brief_is_set_in_the_reports_font() -> None:
    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(b.brief_pdf(_brief())))
    fonts = {
        str(f.get_object()["/BaseFont"]).split("+")[-1].lstrip("/")
        for f in reader.pages[0]["/Resources"].get_object()["/Font"].values()
    }
    families = {f.replace("-", "").removesuffix("Bold").removesuffix("Book") for f in fonts}
    assert len(families) == 1, fonts
    svg = b.brief_svg(_brief())
    family = "DejaVu Sans" if "DejaVuSans" in families else "Liberation Sans"
    assert f'font-family="{family}' in svg


@pytest.mark.parametrize("text", ["<b>&", "a\u00a0b ▼ ▲"])
def test_brief_svg_escapes_names_from_the_data(text: str) -> None:
    svg = b.brief_svg(_brief(outcome=text))
    assert "<b>&" not in svg
    import xml.dom.minidom

    xml.dom.minidom.parseString(svg)


@pytest.fixture(scope="module")
def demo():  # type: ignore[no-untyped-def]
    import tempfile

    from cmot.results.moments import find_moments
    from cmot.store import directory as store_mod
    from cmot.store.datasets import Store
    from cmot.store.demo import ensure_demo

    with tempfile.TemporaryDirectory() as d:
        store = Store(f"{d}/s.duckdb")
        info = ensure_demo(store)
        result = find_moments(store.cursor(), info.table, info.spec, "Segment")
        yield store, info, result
        store_mod.close_all()


def test_the_brief_of_the_overview_says_what_its_headline_says(demo) -> None:  # type: ignore[no-untyped-def]
    """The rows, amounts, certainty words, level and change are the headline's (the
    Overview's), so the brief and the screen cannot disagree."""
    from cmot.results.compare import find_flips
    from cmot.results.headline import build_headline, view_change
    from cmot.results.summary import segments_of

    store, info, result = demo
    segs = segments_of(result)
    change = view_change(store.cursor(), info.table, info.spec)
    assert change is not None  # the demo spans ten months: quarters
    head = build_headline(result, info.spec, segs, change)
    brief = b.brief_of(head, "demo v1 · segments by Segment", find_flips(result))
    assert brief.outcome == "Would hire again" == head.outcome
    assert brief.level == head.level_text and f"{head.n:,} respondents" in brief.level_words
    assert brief.trend == f"Change: {change.text(head.unit)}."
    assert len(brief.fix_first) == len(head.fix_first) == 3
    pairs = zip(brief.fix_first + brief.invest_next, head.fix_first + head.invest_next, strict=True)
    for row, p in pairs:
        assert (row.amount, row.certainty) == (p.amount, p.certainty)
        assert row.action == f"{p.verb} {p.touchpoint} for {p.segment}"
    assert brief.flips.startswith(head.difference) and "Change orders is a vulnerability" in (
        brief.flips
    )
    assert "not a forecast" in brief.amounts and brief.how_sure.startswith("Clear: ")
    text = _pages(b.brief_pdf(brief))
    assert len(text) == 1 and "Fix first" in text[0] and head.fix_first[0].amount in text[0]


def test_flip_text_says_one_in_full_and_names_the_rest() -> None:
    import pandas as pd

    none = b.flip_text(pd.DataFrame(columns=["touchpoint", "sentence"]))
    assert none.startswith("No touchpoint flips")
    flips = pd.DataFrame(
        {"touchpoint": ["A", "A", "B"], "sentence": ["A flips one way.", "A again.", "B."]}
    )
    assert b.flip_text(flips) == "A flips one way. Flips too at B (the Compare page has them)."
    assert b.flip_text(flips.iloc[:2]) == "A flips one way."


def test_brief_without_a_unicode_font_still_writes_one_page(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A slim image without DejaVu: the core Helvetica (Latin-1; '?' for the rest), still
    one page, and the PNG names a sans-serif that metrics match."""
    from cmot.present import pdf_layout

    monkeypatch.setattr(pdf_layout, "FONT_PATHS", ["/nonexistent/DejaVuSans.ttf"])
    brief = _brief(outcome="Would hire again ▼")
    (text,) = _pages(b.brief_pdf(brief))
    assert "Would hire again ?" in text and "Fix first" in text
    assert 'font-family="Liberation Sans, Helvetica, Arial"' in b.brief_svg(brief)


def test_an_outcome_named_in_lower_case_is_a_capitalised_title() -> None:
    (text,) = _pages(b.brief_pdf(_brief(outcome="satisfaction")))
    assert text.splitlines()[1] == "Satisfaction"


def test_the_brief_of_an_unsegmented_view_says_so(demo) -> None:  # type: ignore[no-untyped-def]
    from cmot.results.compare import find_flips
    from cmot.results.headline import build_headline
    from cmot.results.moments import ALL, find_moments

    store, info, _ = demo
    whole = find_moments(store.cursor(), info.table, info.spec, None)
    head = build_headline(whole, info.spec, [ALL])
    brief = b.brief_of(head, "demo v1 · whole sample, no segments", find_flips(whole))
    assert brief.flips == b.NOT_SEGMENTED and brief.trend == ""
    assert all(r.action.endswith(" for everyone") for r in brief.fix_first + brief.invest_next)
    (text,) = _pages(b.brief_pdf(brief))
    assert "not segmented" in text and "for everyone" in text
