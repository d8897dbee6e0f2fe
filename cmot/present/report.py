"""The comparison report (the Compare page's one click): what it holds (`Report`, its trend
section, its tables in words and units) and the same report as a self-contained HTML page and as
a PDF (fpdf2)."""

from __future__ import annotations

import html
import io
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

import altair as alt
import pandas as pd

from cmot.present.exports import chart_png, chart_svg
from cmot.present.pdf_layout import (
    CHART_FONT,
    TABLE_LINE_MM,
    image_size,
    new_pdf,
    pdf_heading,
    pdf_line,
    pdf_note,
    pdf_table,
)
from cmot.present.scales import CLASS_COLOURS, class_label, units
from cmot.results.compare import COMPARE_COLUMNS
from cmot.results.headline import stake_text
from cmot.results.moments import MomentsResult
from cmot.text import escape_html, mask_personal

# A chart in the PDF is drawn this many px wide onto the page's 190 mm, so that its 10-11 px
# labels print at about 9-10 pt on A4 (640 px printed them at 8).
PDF_CHART_PX = 540
HTML_FONT = "'DejaVu Sans', 'Liberation Sans', Helvetica, Arial, sans-serif"


@dataclass(frozen=True)
class Report:
    """What the one-click report of the current comparison holds."""

    title: str
    dataset: str
    segmentation: str
    segments: tuple[str, ...]
    filters: str
    headline: str
    stakes: pd.DataFrame  # summary.top_stakes: the moments most at stake
    matrix: pd.DataFrame  # touchpoint x segment class and impact
    differences: pd.DataFrame  # compare.compare_segments of the first pair
    flips: tuple[str, ...]  # one sentence per flip
    charts: tuple[tuple[str, alt.TopLevelMixin], ...]  # (caption, chart)
    result: MomentsResult
    weighting: str = "unweighted"  # "weighted by X" or "unweighted"
    trend: TrendSection | None = None  # when the view has waves (the Trends page's)
    # What raters say at the top moments (issue 13): plain lines, masked, not escaped.
    evidence: tuple[str, ...] = ()
    outcome: str = ""  # the outcome's name (its column), said in the title
    # What the numbers were computed on (cmot.present.context.context_sentence), under the title.
    context: str = ""
    # "Fix first" and "Invest next" lines (cmot.results.headline's rows with amount and certainty
    # word), in place of "Most at stake"; None: the "Most at stake" list of `stakes`.
    fix_first: tuple[str, ...] | None = None
    invest_next: tuple[str, ...] | None = None
    notes: tuple[str, ...] = ()  # what an amount and a certainty word mean, after the lists

    def heading(self) -> str:
        """The title, naming the outcome (issue 28: a board reads what was compared on what)."""
        if not self.outcome or self.outcome.lower() in self.title.lower():
            return self.title
        return f"{capitalised(self.outcome)}: {self.title}"


def capitalised(name: str) -> str:
    """A name as a title starts: its first letter upper case ('satisfaction' -> 'Satisfaction');
    the rest as written (an acronym stays)."""
    return name[:1].upper() + name[1:]


def report_title(outcome: str, segments: Sequence[str]) -> str:
    """The report's title: the outcome's name, then the segments compared."""
    return f"{capitalised(outcome)}: moments of truth compared, {' vs '.join(segments)}"


@dataclass(frozen=True)
class TrendSection:
    """The report's trend section: the changes between two waves of the compared segments,
    one sentence each (cmot.results.trend_changes.compare_waves), and the fix verdicts
    (cmot.results.trend_fixes.fix_check)."""

    waves: str  # e.g. "Wave, 2026 → 2027"
    changes: tuple[str, ...]
    fixes: tuple[str, ...]

    def lines(self) -> list[tuple[str, list[str]]]:
        """(heading, sentences) of the section, each list saying so when it is empty."""
        return [
            (
                f"Significant changes ({self.waves})",
                list(self.changes) or ["No significant change between these waves."],
            ),
            (
                "Did the fix work",
                list(self.fixes) or ["No vulnerability of the earlier wave to check."],
            ),
        ]


def _settings_rows(r: Report) -> list[tuple[str, str]]:
    s = r.result.settings
    segs = r.result.segments.set_index("segment")
    rows = [
        ("dataset", r.dataset),
        ("segmentation", r.segmentation),
        ("filters", r.filters or "none"),
        ("weighting", r.weighting),
        ("estimates", r.result.method),
        (
            "outcome",
            f"{r.outcome + ', ' if r.outcome else ''}{r.result.outcome_kind} "
            f"({r.result.measure}); effects in {r.result.unit}",
        ),
        ("low / high cut-offs", f"low <= {r.result.low_max}, high >= {r.result.high_min}"),
        (
            "classification",
            f"vulnerability IA <= {s.vulnerability_ia:+.2f}, opportunity IA >= "
            f"{s.opportunity_ia:+.2f}, hybrid rule {s.hybrid_rule}; moments of truth cover "
            f"{s.mot_coverage:.0%} of the range of impact (significant only)",
        ),
        (
            "guardrails",
            f"segment needs >= {_segment_minimum(r.result)} respondents; "
            f"cells need >= {s.min_cell}; alpha {s.alpha}; HC3 errors; "
            "Benjamini-Hochberg over each pair's touchpoints",
        ),
    ]
    for seg in r.segments:
        if seg in segs.index:
            row = segs.loc[seg]
            note = f"; {row.reason}" if row.reason else ""
            share = float(row.get("own_share", math.nan))
            own = f", own data {share:.0%}" if math.isfinite(share) else ""
            rows.append((f"n: {seg}", f"{int(row.n):,} respondents, R² {row.r2:.2f}{own}{note}"))
    rows.append(("generated", datetime.now().strftime("%Y-%m-%d %H:%M")))
    return rows


def _segment_minimum(result: MomentsResult) -> str:
    """The respondents a segment needs: pooling's minimum when the segments were pooled."""
    alone = int(result.segments.min_segment.iloc[0])
    pooled = "pooled" in result.segments and result.segments.pooled.any()
    return f"{result.settings.min_pool} pooled ({alone} alone)" if pooled else f"{alone}"


EMPTY = "–"  # an empty cell of a report's table (never "None" or "nan")


def _fmt_cell(v: Any) -> str:
    if v is None or v is pd.NA or v is pd.NaT:
        return EMPTY
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return EMPTY if math.isnan(v) else f"{v:.3f}"
    return str(v)


def _cells(frame: pd.DataFrame) -> pd.DataFrame:
    """A report table's cells as the page writes them (`_fmt_cell`)."""
    return frame.map(_fmt_cell) if len(frame) else frame


def differences_table(diffs: pd.DataFrame, unit: str, segments: Sequence[str] = ()) -> pd.DataFrame:
    """compare.compare_segments' rows as a board reads them: headers in words with their
    units, penalty and reward in the outcome's units (percentage points or points), the
    significance after Benjamini-Hochberg as yes/no. The classes are the table before it's
    (`matrix_table`): ten columns printed at 7 pt on A4, eight at 8."""
    u = units(unit)
    short = "pts" if u.words == "percentage points" else "points"
    a, b = (
        (str(diffs.segment_a.iloc[0]), str(diffs.segment_b.iloc[0]))
        if "segment_a" in diffs and len(diffs)
        else ((list(segments) + ["a", "b"])[:2])
    )

    if not len(diffs) or "touchpoint" not in diffs:  # no pair compared: the headers alone
        diffs = pd.DataFrame(columns=[*COMPARE_COLUMNS])

    def num(values: pd.Series, signed: bool = False) -> list[str]:
        return [_fmt_num(u, float(v), signed) if pd.notna(v) else EMPTY for v in values]

    out = {
        "Touchpoint": list(diffs.touchpoint),
        "Measure": [str(m) for m in diffs.measure],
        f"{a} ({short})": num(diffs.value_a),
        f"{b} ({short})": num(diffs.value_b),
        f"{a} minus {b} ({short})": num(diffs.difference, signed=True),
        f"Standard error ({short})": num(diffs.se),
        "FDR-adjusted p-value": [f"{v:.3f}" if pd.notna(v) else EMPTY for v in diffs.q],
        "Significant": ["yes" if bool(v) else "no" for v in diffs.significant],
    }
    return pd.DataFrame(out)


def _fmt_num(u: Any, value: float, signed: bool) -> str:
    """`u.fmt`, with a value that rounds to zero written 0.0 (not '-0.0' or '+0.0')."""
    text = u.fmt(value, signed=signed)
    return u.fmt(0.0) if text.lstrip("+-").strip("0.") == "" else text


def _unbroken(label: str) -> str:
    """A class label whose symbol stays with its word on a line (a no-break space)."""
    return label.replace(" ", "\u00a0", 1)


def _human(frame: pd.DataFrame) -> pd.DataFrame:
    """A table's headers in words: 'touchpoint' -> 'Touchpoint' (the segments' names stay)."""
    return frame.rename(columns={c: str(c)[:1].upper() + str(c)[1:] for c in frame.columns[:1]})


def _report_tables(r: Report) -> list[tuple[str, pd.DataFrame, str]]:
    """The report's tables with their headings and what their words mean (HTML and PDF)."""
    pair = differences_table(r.differences, r.result.unit, r.segments)
    a, b = (pair.columns[2].rsplit(" (", 1)[0], pair.columns[3].rsplit(" (", 1)[0])
    alpha = r.result.settings.alpha
    return [
        (
            f"Class and amount at stake per segment ({r.result.unit})",
            _human(r.matrix),
            "The amount at stake: what the outcome would gain if a vulnerability's low "
            "raters moved to the middle, or an opportunity's raters below the top moved to "
            "the top (a hybrid: both); none for a touchpoint of low impact. Not a forecast.",
        ),
        (
            f"Differences in penalty and reward: {a} and {b}",
            pair,
            "Penalty: what a low rating costs the outcome; reward: what a top rating adds. "
            "Significant: the difference holds after allowing for the many touchpoints "
            f"compared at once (Benjamini-Hochberg false discovery rate below {alpha:g}).",
        ),
    ]


def _settings_table(r: Report) -> pd.DataFrame:
    return pd.DataFrame(_settings_rows(r), columns=["Setting", "Value"])


def _html_table(frame: pd.DataFrame) -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(_fmt_cell(v))}</td>" for v in row) + "</tr>"
        for row in frame.itertuples(index=False)
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def stake_lines(r: Report) -> list[str]:
    """The report's "Most at stake" list, one line per moment: class marker (as on the
    Overview cards), touchpoint, segment, the amount at stake and what it counts."""
    return [
        f"{class_label(str(s['class']))} {s.touchpoint} for {s.segment}: "
        f"{stake_text(s.at_stake, r.result.unit)} ({s.stake_basis})"
        for _, s in r.stakes.iterrows()
    ]


NO_FIX = "Nothing to fix first: no table stake of these segments fails enough customers."
NO_INVEST = "Nothing to invest in next: no differentiator of these segments stands out."


def lead_sections(r: Report) -> list[tuple[str, list[str]]]:
    """The report's lists after its headline, (heading, lines): Fix first and Invest next
    when the report has them, else Most at stake."""
    if r.fix_first is None and r.invest_next is None:
        return [("Most at stake", stake_lines(r))]
    return [
        ("Fix first", list(r.fix_first or ()) or [NO_FIX]),
        ("Invest next", list(r.invest_next or ()) or [NO_INVEST]),
    ]


def evidence_lines(
    segment: str,
    touchpoint: str,
    side: str,
    commented: int,
    raters: int,
    terms: Sequence[str],
    quote: str | None,
) -> str:
    """One line of the report's evidence section: a moment's side, how many of its raters
    commented, its distinctive terms and one quote (masked with `cmot.text.mask_personal`;
    None leaves it out, e.g. for viewers)."""
    what = "concerns (bottom box)" if side == "low" else "what delights (top box)"
    share = commented / raters if raters else 0.0
    line = f"{touchpoint} for {segment}, {what}: {commented} of {raters} raters commented"
    line += f" ({share:.0%})"
    line += f"; terms: {', '.join(terms)}" if terms else "; too few comments for terms"
    if quote:
        line += f'; "{mask_personal(" ".join(quote.split()))}"'
    return line


def _evidence_html(r: Report) -> list[str]:
    if not r.evidence:
        return []
    items = "".join(f"<li>{escape_html(line)}</li>" for line in r.evidence)
    return [f"<h2>What raters say</h2><ul>{items}</ul>"]


def _evidence_pdf(pdf: Any, font: str, r: Report) -> None:
    if not r.evidence:
        return
    pdf_heading(pdf, font, "What raters say")
    for line in r.evidence:  # plain text: fpdf2 draws it as written (no markup)
        pdf_line(pdf, 5, f"- {line}")


def report_html(r: Report) -> str:
    """A self-contained HTML page (charts inline as SVG)."""
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>{html.escape(r.heading())}</title><style>",
        f"body{{font-family:{HTML_FONT};max-width:60em;margin:2em auto;color:#222}}"
        "table{border-collapse:collapse;font-size:.85em;margin:1em 0}"
        "td,th{border:1px solid #ccc;padding:.2em .5em;text-align:left}"
        "h1{font-size:1.5em}h2{font-size:1.2em;margin-top:2em}"
        ".context,.note{color:#555;font-size:.85em}",
        "</style></head><body>",
        f"<h1>{html.escape(r.heading())}</h1>",
        f"<p class='context'>{html.escape(r.context)}</p>" if r.context else "",
        f"<p><b>{html.escape(r.headline)}</b></p>",
    ]
    for heading, lines in lead_sections(r):
        parts.append(f"<h2>{html.escape(heading)}</h2><ul>")
        parts += [f"<li>{html.escape(line)}</li>" for line in lines]
        parts.append("</ul>")
    parts += [f"<p class='note'>{html.escape(note)}</p>" for note in r.notes]
    parts.append("<h2>Flips</h2>")
    parts += (
        [f"<p>{html.escape(f)}</p>" for f in r.flips]
        if r.flips
        else [
            "<p>No touchpoint is a vulnerability in one segment and an opportunity in another.</p>"
        ]
    )
    for caption, chart in r.charts:
        parts.append(f"<h2>{html.escape(caption)}</h2>{chart_svg(chart, HTML_FONT)}")
    if r.trend is not None:
        for heading, lines in r.trend.lines():
            parts.append(f"<h2>{html.escape(heading)}</h2><ul>")
            parts += [f"<li>{html.escape(line)}</li>" for line in lines]
            parts.append("</ul>")
    parts += _evidence_html(r)
    for heading, table, note in _report_tables(r):
        parts.append(f"<h2>{html.escape(heading)}</h2>" + _html_table(table))
        parts += [f"<p class='note'>{html.escape(note)}</p>"] if note else []
    parts.append("<h2>Appendix: method settings and n</h2>")
    parts.append(_html_table(_settings_table(r)))
    parts.append("<p>Colours: " + ", ".join(f"{k} {v}" for k, v in CLASS_COLOURS.items()) + "</p>")
    parts.append("</body></html>")
    return "".join(parts)


def report_pdf(r: Report) -> bytes:
    """The same report as PDF (fpdf2; charts embedded as PNG). Every text is cut to what the
    page can hold (PDF_CELL_CHARS, PDF_LINE_CHARS)."""
    pdf, font = new_pdf()
    pdf.set_auto_page_break(True, margin=15)
    pdf.add_page()
    pdf.set_font(font, "B", 16)
    pdf_line(pdf, 8, r.heading())
    if r.context:
        pdf.set_font(font, "", 9)
        pdf.set_text_color(85)
        pdf_line(pdf, 5, r.context)
        pdf.set_text_color(0)
        pdf.ln(1.5)
    pdf.set_font(font, "", 11)
    pdf_line(pdf, 6, r.headline)
    for heading, lines in lead_sections(r):
        pdf_heading(pdf, font, heading)
        for line in lines:
            pdf_line(pdf, 6, f"- {line}")
    if r.notes:
        pdf.ln(2)
        for note in r.notes:
            pdf_note(pdf, font, note)
    pdf_heading(pdf, font, "Flips")
    for f in r.flips or (
        "No touchpoint is a vulnerability in one segment and an opportunity in another.",
    ):
        pdf_line(pdf, 6, f)
    for caption, chart in r.charts:
        png = chart_png(chart, scale=2.0, width=PDF_CHART_PX, font=CHART_FONT[font])
        w, h = image_size(pdf, png)
        pdf_heading(pdf, font, caption, keep=h)  # the heading goes to the next page with its chart
        pdf.image(io.BytesIO(png), w=w, h=h)
    if r.trend is not None:
        for heading, lines in r.trend.lines():
            pdf_heading(pdf, font, heading)
            for line in lines:
                pdf_line(pdf, 6, f"- {line}")
    _evidence_pdf(pdf, font, r)
    for heading, table, note in _report_tables(r):
        pdf_heading(pdf, font, heading, keep=4 * TABLE_LINE_MM * 2)  # with its header and a row
        pdf_table(pdf, font, _cells(table))
        if note:
            pdf.ln(1)
            pdf_note(pdf, font, note)
    pdf.add_page()
    pdf_heading(pdf, font, "Appendix: method settings and n")
    pdf_table(pdf, font, _cells(_settings_table(r)))
    return bytes(pdf.output())


def settings_dict(result: MomentsResult) -> dict[str, Any]:
    """The method settings as a flat dict (for captions and the report's appendix)."""
    return {**asdict(result.settings), "low_max": result.low_max, "high_min": result.high_min}


def matrix_table(result: MomentsResult, segments: Sequence[str]) -> pd.DataFrame:
    """Touchpoint rows, one 'class (amount at stake)' column per segment: the class matrix
    chart as a table, with the one amount every page shows for a moment (the engine's
    `at_stake` as `cmot.results.headline.stake_text` writes it; a low-impact touchpoint has
    none)."""
    m, unit = result.moments[result.moments.segment.isin(list(segments))], result.unit
    cells = m.assign(
        cell=[
            f"{_unbroken(class_label(c))} ({stake_text(v, unit)})"
            if math.isfinite(v)
            else _unbroken(class_label(c))
            for c, v in zip(m["class"], m.at_stake, strict=True)
        ]
    )
    wide = cells.pivot(index="touchpoint", columns="segment", values="cell")
    order = list(dict.fromkeys(m.touchpoint))
    return wide.reindex(order)[list(segments)].reset_index()
