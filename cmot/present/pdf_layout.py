"""The PDF's page furniture, shared by the comparison report and the brief: an A4 document set in
one font family (DejaVu Sans from the system, else the core Helvetica; `new_pdf`), paragraphs
cut to what a page holds (`pdf_line`), headings kept with what follows them (`pdf_heading`),
notes, tables whose words fit their columns (`pdf_table`) and images sized to the page."""

from __future__ import annotations

from typing import Any

import pandas as pd

from cmot.text import MAX_COMMENT_CHARS, MAX_LABEL_CHARS, ellipsize

# A Unicode TTF for the PDF report (Debian's fonts-dejavu-core; other distributions' paths).
FONT_PATHS = [
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
]
# The most of one text the PDF draws. A table row taller than a page stops fpdf2, and one
# 10,000-character label (stored before ingest capped labels) broke the report for every user
# of its dataset: a table cell holds at most a label as ingest keeps it, less in a table too
# wide for that (`_cell_chars`). A heading or list line wraps over pages, so it cannot stop
# the report, but is cut above what a dataset within the caps gives (an evidence line: a
# whole comment and two labels) lest one label fill pages.
PDF_CELL_CHARS = MAX_LABEL_CHARS
PDF_LINE_CHARS = MAX_COMMENT_CHARS + 3 * MAX_LABEL_CHARS
TABLE_LINE_MM = 4.5  # a table's line height
# A table's font sizes, smaller only where a word would not fit (9 pt reads as the text does).
_TABLE_PT = (9.0, 8.0, 7.0, 6.5)
# The charts' text in the report's font: one family on the page (a chart's title fell back to
# a serif where vl-convert found no sans-serif by that name).
CHART_FONT = {"dejavu": "DejaVu Sans", "helvetica": "Liberation Sans, Helvetica, Arial"}


def pdf_line(pdf: Any, height: float, text: str) -> None:
    """One paragraph of the PDF, cut to PDF_LINE_CHARS, ragged right (justified lines spread
    a title's words apart)."""
    pdf.multi_cell(
        0, height, ellipsize(text, PDF_LINE_CHARS), new_x="LMARGIN", new_y="NEXT", align="L"
    )


def new_pdf() -> tuple[Any, str]:
    """An A4 fpdf2 document and the font family its text is set in: DejaVu Sans where the
    system has it (FONT_PATHS), else the core Helvetica (Latin-1, the rest drawn as '?')."""
    pdf = _pdf_class()(format="A4")
    return pdf, _unicode_font(pdf)


def _pdf_class() -> Any:
    from fpdf import FPDF

    class _PDF(FPDF):
        def normalize_text(self, text: str) -> str:
            # Without a Unicode font (a slim image has none) the core fonts know Latin-1
            # only: write '?' for the rest rather than fail the whole report.
            if not self.is_ttf_font and self.core_fonts_encoding:
                text = text.encode(self.core_fonts_encoding, "replace").decode(
                    self.core_fonts_encoding
                )
            return str(super().normalize_text(text))

    return _PDF


def _unicode_font(pdf: Any) -> str:
    # The core PDF fonts are Latin-1 only; a survey's names and the class symbols need more.
    for path in FONT_PATHS:
        try:
            pdf.add_font("dejavu", "", path)
            pdf.add_font("dejavu", "B", path.replace("DejaVuSans.ttf", "DejaVuSans-Bold.ttf"))
            return "dejavu"
        except (OSError, FileNotFoundError):
            continue
    return "helvetica"


_HEADING_MM = 3 + 7  # the space above a heading and its line
_KEEP_MM = 12.0  # what must follow a heading on its page: about two lines of text


def pdf_heading(pdf: Any, font: str, text: str, keep: float = _KEEP_MM) -> None:
    """A heading, on the next page when what must follow it (`keep` mm) would not fit below
    it: a heading is never the last thing on a page."""
    if pdf.get_y() + _HEADING_MM + keep > pdf.page_break_trigger and pdf.get_y() > pdf.t_margin:
        pdf.add_page()
    else:
        pdf.ln(3)
    pdf.set_font(font, "B", 12)
    pdf_line(pdf, 7, text)
    pdf.set_font(font, "", 9)


def pdf_note(pdf: Any, font: str, text: str) -> None:
    """A small grey paragraph: what a list's or a table's words mean."""
    pdf.set_font(font, "", 8.5)
    pdf.set_text_color(85)
    pdf_line(pdf, 4.5, text)
    pdf.set_text_color(0)
    pdf.set_font(font, "", 9)


def pdf_table(pdf: Any, font: str, frame: pd.DataFrame) -> None:
    """`frame`, its cells as text, as a table: every cell cut to what one may hold
    (`_cell_chars`), set at the first of _TABLE_PT where its words fit (`_column_widths`)."""
    most = _cell_chars(pdf, len(frame.columns))
    head = [ellipsize(str(c), most) for c in frame.columns]
    rows = [[ellipsize(str(v), most) for v in row] for row in frame.itertuples(index=False)]
    size, widths = _column_widths(pdf, font, head, rows)
    pdf.set_font(font, "", size)
    with pdf.table(
        text_align="LEFT", line_height=TABLE_LINE_MM * size / 8, col_widths=widths, width=pdf.epw
    ) as table:
        table.row(head)
        for row in rows:
            table.row(row)
    pdf.set_font(font, "", 9)


def _column_widths(
    pdf: Any, font: str, head: list[str], rows: list[list[str]]
) -> tuple[float, tuple[float, ...]]:
    """The table's font size and column widths (mm) such that no word is broken across lines:
    each column at least as wide as its longest word (the header's in bold), the rest of the
    page shared by how much more each column's longest text wants. The first of _TABLE_PT
    where the words fit; at the smallest, a word wider than its share still breaks."""
    pad = 2 * pdf.c_margin + 0.6
    columns = list(zip(head, *rows, strict=True)) if head else []
    for size in _TABLE_PT:
        least, want = [], []
        for col in columns:
            pdf.set_font(font, "B", size)
            # Words as a line breaks them: at spaces only (a no-break space holds).
            h_words = [pdf.get_string_width(w) for w in col[0].split(" ")] or [0.0]
            h_full = pdf.get_string_width(col[0])
            pdf.set_font(font, "", size)
            words = [pdf.get_string_width(w) for cell in col[1:] for w in cell.split(" ")]
            full = [pdf.get_string_width(cell) for cell in col[1:]] or [0.0]
            least.append(max(*h_words, *words, 0.0) + pad)
            want.append(max(min(h_full, 45.0), *full) + pad)
        if sum(least) <= pdf.epw or size == _TABLE_PT[-1]:
            break
    # A word wider than half the page (a 10,000-character label) breaks: unavoidable.
    least = [min(m, pdf.epw / 2) for m in least]
    if sum(least) > pdf.epw:  # more columns than words fit: each its share, words break
        return size, tuple(pdf.epw * m / sum(least) for m in least)
    # A column whose longest text fits in an even share gets it whole (a short label is not
    # wrapped for a long neighbour's sake); the others share the rest by how much they want.
    whole = [max(w, m) <= pdf.epw / len(least) for w, m in zip(want, least, strict=True)]
    base = [max(w, m) if keep else m for w, m, keep in zip(want, least, whole, strict=True)]
    if sum(base) > pdf.epw:
        base, whole = list(least), [False] * len(least)
    spare = max(pdf.epw - sum(base), 0.0)
    more = [0.0 if keep else max(w - m, 0.0) for w, m, keep in zip(want, base, whole, strict=True)]
    total = sum(more)
    widths = [
        m + (spare * x / total if total else spare / len(base))
        for m, x in zip(base, more, strict=True)
    ]
    return size, tuple(widths)


def _cell_chars(pdf: Any, columns: int) -> int:
    """The characters one cell of a table of `columns` may hold: PDF_CELL_CHARS, or as many
    of the widest letter as fill half a page's height of lines (so the row, wrapped at words,
    still fits on a page beside the header). A cell loses about 2 mm of its width to padding."""
    width = pdf.epw / max(columns, 1) - 2
    per_line = max(1, int(width / pdf.get_string_width("W")))
    lines = int(pdf.eph / 2 / TABLE_LINE_MM)
    return min(PDF_CELL_CHARS, per_line * lines)


def image_size(pdf: Any, png: bytes) -> tuple[float, float]:
    """Width and height (mm) of a PNG on the page: the text width, or less where it would be
    taller than a page (beside its heading)."""
    px_w, px_h = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
    w = pdf.epw
    h = w * px_h / max(px_w, 1)
    most = pdf.eph - 20
    if h > most:
        w, h = w * most / h, most
    return w, h
