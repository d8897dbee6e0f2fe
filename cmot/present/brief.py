"""The one-page executive brief of the Overview, as PDF and PNG from one layout.

The page is laid out once (`layout`: lines of text and boxes at places in mm on A4, the
words measured in the PDF's own font) and drawn twice: by fpdf2 into a PDF whose text can
be read back, and as SVG turned into a PNG by vl-convert (the charts' renderer), so the
PDF and the picture say the same in the same place. The layout shrinks its type until the
page holds everything: the brief is one page by construction, which `Page.fits` states.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pandas as pd

from cmot.present.pdf_layout import CHART_FONT, new_pdf
from cmot.present.report import capitalised
from cmot.present.scales import CLASS_COLOURS
from cmot.results.headline import CERTAINTY, CERTAINTY_TEXT, EVERYONE, Headline, Priority
from cmot.text import MAX_COMMENT_CHARS, ellipsize

PAGE_W, PAGE_H = 210.0, 297.0  # A4 portrait, mm
MARGIN = 18.0
PT = 25.4 / 72  # mm per point
# The type sizes tried in turn: the first at which the whole brief fits on the page.
SCALES = (1.0, 0.92, 0.85, 0.78, 0.7, 0.62)
PNG_PPI = 150.0  # vl-convert's ppi: the PNG comes out 1,653 px wide (about 200 dpi on A4)
INK, GREY, RULE, PANEL = "#222222", "#555555", "#BBBBBB", "#F2F2F2"
FIX_COLOUR, INVEST_COLOUR = CLASS_COLOURS["vulnerability"], CLASS_COLOURS["opportunity"]
# The most of one sentence the brief prints (a flip's, a trend's): the page is for reading
# in a minute; the Overview has the rest.
BRIEF_TEXT_CHARS = MAX_COMMENT_CHARS


@dataclass(frozen=True)
class BriefRow:
    """One "Fix first" or "Invest next" line: what to do, where, for whom, how much, how sure."""

    action: str  # "Fix Invoicing for Public agencies"
    amount: str  # "5.1 pts"
    certainty: str  # "clear", "likely", "could be chance"


@dataclass(frozen=True)
class Brief:
    """What the brief says, in words already (the numbers formatted where they were decided)."""

    outcome: str  # the outcome's name: the page's title
    level: str  # its level: "56.0%" or "7.2 of 10"
    level_words: str  # what the level is: "said yes (positive outcome), 3,600 respondents"
    trend: str  # its change since the previous period, "" without dates or waves
    context: str  # dataset, segmentation, filters, pooling
    fix_first: tuple[BriefRow, ...]
    invest_next: tuple[BriefRow, ...]
    flips: str  # how the segments differ and the flips, in a sentence or two
    how_sure: str  # what the certainty words mean
    amounts: str  # what an amount at stake means (not a forecast)
    scope: str = ""  # for whom the lists speak (Headline.scope)
    no_fix: str = "Nothing to fix first: no table stake fails enough customers to matter."
    no_invest: str = "Nothing to invest in next: no differentiator stands out."
    generated: str = field(default_factory=lambda: datetime.now().strftime("%Y-%m-%d %H:%M"))


@dataclass(frozen=True)
class Text:
    """One line of text: its baseline's left end (mm), type size (pt), weight and colour."""

    x: float
    y: float
    size: float
    bold: bool
    colour: str
    text: str


@dataclass(frozen=True)
class Box:
    x: float
    y: float
    w: float
    h: float
    colour: str


@dataclass(frozen=True)
class Page:
    """The laid-out brief: what goes where, and the lowest point any of it reaches (mm)."""

    texts: tuple[Text, ...]
    boxes: tuple[Box, ...]
    bottom: float
    scale: float

    @property
    def fits(self) -> bool:
        return self.bottom <= PAGE_H - MARGIN / 2


Measure = Callable[[str, float, bool], float]  # (text, size pt, bold) -> width mm


def wrap(text: str, width: float, size: float, bold: bool, measure: Measure) -> list[str]:
    """`text` in lines no wider than `width` (mm), broken at spaces only; a single word
    wider than a line (a code of 60 letters) is the one thing cut, with an ellipsis."""
    lines: list[str] = []
    for word in text.split():
        while measure(word, size, bold) > width and len(word) > 1:
            word = word[: max(1, len(word) * 9 // 10 - 1)] + "…"
        if lines and measure(f"{lines[-1]} {word}", size, bold) <= width:
            lines[-1] = f"{lines[-1]} {word}"
        else:
            lines.append(word)
    return lines or [""]


class _Pen:
    """Writes lines down the page, keeping what it wrote (the layout's one moving part)."""

    def __init__(self, measure: Measure, scale: float) -> None:
        self.measure, self.scale = measure, scale
        self.y = MARGIN
        self.texts: list[Text] = []
        self.boxes: list[Box] = []

    def para(
        self,
        text: str,
        size: float,
        *,
        bold: bool = False,
        colour: str = INK,
        x: float = MARGIN,
        width: float = PAGE_W - 2 * MARGIN,
        lead: float = 1.3,
    ) -> None:
        """A wrapped paragraph at `size` pt (scaled), its first baseline one line below y."""
        s = size * self.scale
        for line in wrap(ellipsize(text, BRIEF_TEXT_CHARS), width, s, bold, self.measure):
            self.y += s * PT * lead
            if line:
                self.texts.append(Text(x, self.y, s, bold, colour, line))

    def right(
        self, text: str, size: float, right: float, *, bold: bool = False, colour: str = INK
    ) -> None:
        """One short text ending at `right` (mm) on the current baseline."""
        s = size * self.scale
        w = self.measure(text, s, bold)
        self.texts.append(Text(right - w, self.y, s, bold, colour, text))

    def gap(self, mm: float) -> None:
        self.y += mm * self.scale

    def rule(self, colour: str, thick: float = 0.6) -> None:
        self.boxes.append(Box(MARGIN, self.y, PAGE_W - 2 * MARGIN, thick, colour))
        self.y += thick


def layout(brief: Brief, measure: Measure) -> Page:
    """The brief on one A4 page: the first of SCALES at which it all fits (at the smallest,
    what it reaches is said by `Page.bottom`, and `Page.fits` is False)."""
    page = _layout(brief, measure, SCALES[0])
    for scale in SCALES[1:]:
        if page.fits:
            break
        page = _layout(brief, measure, scale)
    return page


def _layout(brief: Brief, measure: Measure, scale: float) -> Page:
    pen = _Pen(measure, scale)
    pen.para("Executive brief", 9, colour=GREY)
    pen.para(capitalised(brief.outcome), 22, bold=True, lead=1.25)
    pen.gap(1)
    pen.para(brief.context, 9.5, colour=GREY)
    pen.gap(5)
    _outcome_panel(pen, brief)
    pen.gap(7)
    if brief.scope:
        pen.para(f"The lists below are drawn {brief.scope}.", 10.5, colour=GREY)
        pen.gap(3)
    _rows(pen, "Fix first", FIX_COLOUR, brief.fix_first, brief.no_fix)
    pen.gap(7)
    _rows(pen, "Invest next", INVEST_COLOUR, brief.invest_next, brief.no_invest)
    pen.gap(7)
    pen.para("How the segments differ", 13, bold=True)
    pen.gap(1)
    pen.para(brief.flips, 10.5)
    pen.gap(7)
    pen.para("How sure", 11, bold=True, colour=GREY)
    pen.para(brief.how_sure, 9, colour=GREY)
    pen.gap(3)
    pen.para("What the amounts mean", 11, bold=True, colour=GREY)
    pen.para(brief.amounts, 9, colour=GREY)
    bottom = pen.y + 2
    foot = f"Generated {brief.generated} by cmot from the Overview."
    s = 7.5 * scale
    pen.texts.append(Text(MARGIN, PAGE_H - MARGIN / 2, s, False, GREY, foot))
    return Page(tuple(pen.texts), tuple(pen.boxes), max(bottom, pen.y), scale)


def _outcome_panel(pen: _Pen, brief: Brief) -> None:
    """The outcome's level in large type beside what it is, its trend below, on a grey panel."""
    top = pen.y
    pen.boxes.append(Box(MARGIN, top, PAGE_W - 2 * MARGIN, 0.0, PANEL))  # height set below
    pen.gap(3)
    pen.para(brief.level, 26, bold=True, x=MARGIN + 5, lead=1.0)
    level_w = pen.measure(brief.level, 26 * pen.scale, True)
    x = MARGIN + 5 + level_w + 5
    level_y = pen.y
    pen.y -= 11 * pen.scale * PT * 1.3  # the words beside the level, on its baseline
    pen.para(brief.level_words, 11, x=x, width=PAGE_W - MARGIN - 5 - x)
    pen.y = max(pen.y, level_y)
    if brief.trend:
        pen.gap(1)
        pen.para(brief.trend, 11, x=MARGIN + 5, width=PAGE_W - 2 * MARGIN - 10)
    pen.gap(4)
    pen.boxes[-1] = Box(MARGIN, top, PAGE_W - 2 * MARGIN, pen.y - top, PANEL)


def _rows(pen: _Pen, title: str, colour: str, rows: Sequence[BriefRow], empty: str) -> None:
    """A section of at most three actions: what (wrapped) on the left, the amount and the
    certainty word in columns on the right, under a rule in the class's colour."""
    pen.para(title, 15, bold=True, colour=colour)
    pen.gap(1.5)
    pen.rule(colour)
    if not rows:
        pen.gap(1)
        pen.para(empty, 10.5, colour=GREY)
        return
    right, sc, rows = PAGE_W - MARGIN, pen.scale, rows[:3]
    # The columns as wide as their widest entry: the words "how sure", then the amounts.
    sure_w = 4 + max(pen.measure(r.certainty, 11 * sc, False) for r in rows)
    sure_w = max(sure_w, 4 + pen.measure("how sure", 8 * sc, False))
    amount_w = 6 + max(pen.measure(r.amount, 12 * sc, True) for r in rows)
    pen.gap(0.5)
    pen.para("", 8)  # the columns' names on their own baseline
    pen.right("at stake", 8, right - sure_w, colour=GREY)
    pen.texts.append(Text(right - sure_w + 4, pen.y, 8 * sc, False, GREY, "how sure"))
    for i, row in enumerate(rows, start=1):
        pen.gap(1.5)
        first = len(pen.texts)
        pen.para(f"{i}. {row.action}", 12, width=PAGE_W - 2 * MARGIN - sure_w - amount_w)
        baseline = pen.texts[first].y
        # The amount and the word beside the action's first line.
        pen.texts.append(Text(right - sure_w + 4, baseline, 11 * sc, False, INK, row.certainty))
        w = pen.measure(row.amount, 12 * sc, True)
        pen.texts.append(Text(right - sure_w - w, baseline, 12 * sc, True, INK, row.amount))
    pen.gap(1.5)


NOT_SEGMENTED = "The whole sample, not segmented: choose a segmentation to see how segments differ."


# ---- from the Overview's headline ---------------------------------------------------


def brief_of(head: Headline, context: str, flips: pd.DataFrame) -> Brief:
    """The brief of the Overview's `head` (cmot.results.headline.build_headline: the same rows,
    amounts and certainty words as the screen), its `context` sentence and the flips among
    its segments (compare.find_flips' rows)."""
    change = head.change
    rows = head.fix_first + head.invest_next
    return Brief(
        outcome=head.outcome,
        level=head.level_text,
        level_words=f"{head.meaning}, {head.n:,} respondents",
        trend=f"Change: {change.text(head.unit)}." if change is not None else "",
        context=context,
        fix_first=tuple(_row(p) for p in head.fix_first),
        invest_next=tuple(_row(p) for p in head.invest_next),
        flips=" ".join(t for t in (head.difference, flip_text(flips)) if t)
        if head.segmented
        else NOT_SEGMENTED,
        how_sure=certainty_note(rows),
        amounts=amounts_note(rows),
        scope=head.scope,
    )


def certainty_note(rows: Sequence[Priority]) -> str:
    """What the certainty words of `rows` mean (all three when there are no rows)."""
    words = [w for w in CERTAINTY if any(p.certainty == w for p in rows)] or list(CERTAINTY)
    return " ".join(f"{w[:1].upper()}{w[1:]}: {CERTAINTY_TEXT[w]}." for w in words)


def amounts_note(rows: Sequence[Priority]) -> str:
    """What the amounts of `rows` mean, per verb: what the outcome would gain, not a forecast."""
    meanings = dict.fromkeys(f"{p.verb}: {p.meaning}" for p in rows)
    said = "; ".join(meanings) if meanings else "if a moment's raters moved up the scale"
    return (
        f"An amount at stake is what the outcome would gain ({said}): the size of what is "
        "at stake, not a forecast."
    )


def priority_line(p: Priority) -> str:
    """One Fix first / Invest next row as a line of text (the comparison report's)."""
    return f"{_row(p).action}: {p.amount} at stake ({p.certainty})"


def _row(p: Priority) -> BriefRow:
    whom = "everyone" if p.segment == EVERYONE else p.segment
    return BriefRow(f"{p.verb} {p.touchpoint} for {whom}", p.amount, p.certainty)


def flip_text(flips: pd.DataFrame) -> str:
    """The flips in a sentence: the first in full, the others by touchpoint."""
    if flips.empty:
        return (
            "No touchpoint flips (a table stake for one segment and a differentiator for another)."
        )
    first = str(flips.sentence.iloc[0])
    touchpoints = dict.fromkeys(str(t) for t in flips.touchpoint)
    others = [t for t in touchpoints if t != str(flips.touchpoint.iloc[0])]
    if not others:
        return first
    return f"{first} Flips too at {', '.join(others)} (the Compare page has them)."


# ---- drawing -----------------------------------------------------------------------


def brief_pdf(brief: Brief) -> bytes:
    """The brief as a one-page A4 PDF (fpdf2, the report's font)."""
    pdf, font = new_pdf()
    pdf.set_auto_page_break(False)
    pdf.set_title(f"{brief.outcome}: executive brief")
    pdf.add_page()
    page = layout(brief, pdf_measure(pdf, font))
    for b in page.boxes:
        pdf.set_fill_color(*_rgb(b.colour))
        pdf.rect(b.x, b.y, b.w, b.h, style="F")
    for t in page.texts:
        pdf.set_font(font, "B" if t.bold else "", t.size)
        pdf.set_text_color(*_rgb(t.colour))
        pdf.text(t.x, t.y, t.text)
    return bytes(pdf.output())


def brief_svg(brief: Brief) -> str:
    """The same page as SVG (mm units), in the family the PDF measured its words in."""
    pdf, font = new_pdf()
    page = layout(brief, pdf_measure(pdf, font))
    family = html.escape(CHART_FONT[font], quote=True)
    parts = [
        '<svg xmlns="http://www.w3.org/2000/svg" '
        f'width="{PAGE_W}mm" height="{PAGE_H}mm" viewBox="0 0 {PAGE_W} {PAGE_H}">',
        f'<rect width="{PAGE_W}" height="{PAGE_H}" fill="#FFFFFF"/>',
    ]
    parts += [
        f'<rect x="{b.x:.2f}" y="{b.y:.2f}" width="{b.w:.2f}" height="{b.h:.2f}" '
        f'fill="{b.colour}"/>'
        for b in page.boxes
    ]
    parts += [
        f'<text x="{t.x:.2f}" y="{t.y:.2f}" font-family="{family}" '
        f'font-size="{t.size * PT:.3f}" font-weight="{"bold" if t.bold else "normal"}" '
        f'fill="{t.colour}" xml:space="preserve">{html.escape(t.text)}</text>'
        for t in page.texts
    ]
    parts.append("</svg>")
    return "".join(parts)


def brief_png(brief: Brief, ppi: float = PNG_PPI) -> bytes:
    """The brief as a PNG of the page (vl-convert draws the SVG with the system's fonts)."""
    import vl_convert as vlc

    return bytes(vlc.svg_to_png(brief_svg(brief), ppi=ppi))


def pdf_measure(pdf: Any, font: str) -> Measure:
    def width(text: str, size: float, bold: bool) -> float:
        pdf.set_font(font, "B" if bold else "", size)
        return float(pdf.get_string_width(text))

    return width


def _rgb(colour: str) -> tuple[int, int, int]:
    c = colour.lstrip("#")
    return int(c[0:2], 16), int(c[2:4], 16), int(c[4:6], 16)
