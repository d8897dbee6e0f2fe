"""The one-click exports: the comparison report (HTML, PDF) and the Overview's one-page
executive brief (PDF, PNG)."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
import streamlit as st

from cmot.present import charts, journey_charts
from cmot.present.brief import (
    Brief,
    amounts_note,
    brief_of,
    brief_pdf,
    brief_png,
    certainty_note,
    priority_line,
)
from cmot.present.report import Report, matrix_table, report_html, report_pdf, report_title
from cmot.results.compare import find_flips
from cmot.results.headline import Headline, outcome_name, priorities
from cmot.results.moments import MomentsResult
from cmot.results.summary import headline, top_stakes
from cmot.ui.auth import may_see_quotes
from cmot.ui.context import context_of
from cmot.ui.evidence import report_evidence
from cmot.ui.frame import PageView, source_text
from cmot.ui.trends import trend_section


def build_report(
    view: PageView,
    result: MomentsResult,
    chosen: list[str],
    diffs: pd.DataFrame,
    flips: pd.DataFrame,
    *,
    show_quotes: bool = False,
) -> Report:
    fix, invest = priorities(result, chosen)
    return Report(
        title=report_title(outcome_name(view.info.spec), chosen),
        outcome=outcome_name(view.info.spec),
        context=context_of(view),
        fix_first=tuple(priority_line(p) for p in fix),
        invest_next=tuple(priority_line(p) for p in invest),
        notes=(amounts_note(fix + invest), certainty_note(fix + invest)),
        dataset=f"{view.info.name} v{view.info.version} ({source_text(view.info)})",
        segmentation=view.segmentation,
        segments=tuple(chosen),
        filters=view.filters,
        headline=headline(result, chosen),
        stakes=top_stakes(result, chosen),
        matrix=matrix_table(result, chosen),
        differences=diffs[
            [
                "segment_a",
                "segment_b",
                "touchpoint",
                "measure",
                "value_a",
                "value_b",
                "difference",
                "se",
                "q",
                "significant",
                "class_a",
                "class_b",
            ]
        ],
        flips=tuple(flips.sentence),
        charts=(
            (
                "Class and impact",
                journey_charts.class_matrix(
                    result.moments, chosen, result.unit, frozenset(flips.touchpoint)
                ),
            ),
            ("Differences", charts.differences(diffs, result.unit)),
        ),
        result=result,
        weighting=view.weighting,
        trend=trend_section(view, chosen),
        evidence=report_evidence(view, result, chosen, show_quotes=show_quotes),
    )


def report_buttons(
    view: PageView,
    result: MomentsResult,
    chosen: list[str],
    diffs: pd.DataFrame,
    flips: pd.DataFrame,
) -> None:
    """HTML and PDF downloads of the comparison; built only when a button is clicked."""
    st.subheader("Report")
    st.caption("The comparison on this page, with the method settings and n in an appendix.")

    quotes = may_see_quotes()  # the role is known while the page runs, not on a click

    def rep() -> Report:  # built on click only: it repeats every comparison of the page
        return build_report(view, result, chosen, diffs, flips, show_quotes=quotes)

    a, b, _ = st.columns([1, 1, 4])
    a.download_button(
        "Report (HTML)",
        lambda: report_html(rep()).encode(),
        "cmot-comparison.html",
        "text/html",
        key="report_html",
        icon=":material/description:",
        on_click="ignore",
    )
    b.download_button(
        "Report (PDF)",
        lambda: report_pdf(rep()),
        "cmot-comparison.pdf",
        "application/pdf",
        key="report_pdf",
        icon=":material/picture_as_pdf:",
        on_click="ignore",
    )


def overview_brief(
    view: PageView, result: MomentsResult, segments: Sequence[str], head: Headline
) -> Brief:
    """The Overview's brief: its headline `head` (the rows, amounts and words on screen), the
    view's context sentence and the flips among the Overview's `segments`."""
    flips = find_flips(result)
    mine = flips[flips.vulnerable_in.isin(segments) & flips.opportunity_in.isin(segments)]
    return brief_of(head, context_of(view), mine)


def brief_buttons(
    view: PageView, result: MomentsResult, segments: Sequence[str], head: Headline
) -> None:
    """PDF and PNG downloads of the one-page executive brief; built only on a click."""
    st.caption(
        "The executive brief: this screen's outcome, Fix first and Invest next, how the "
        "segments differ and how sure, on one page."
    )
    a, b, _ = st.columns([1, 1, 3])
    a.download_button(
        "Brief (PDF)",
        lambda: brief_pdf(overview_brief(view, result, segments, head)),
        "cmot-brief.pdf",
        "application/pdf",
        key="brief_pdf",
        icon=":material/picture_as_pdf:",
        on_click="ignore",
    )
    b.download_button(
        "Brief (PNG)",
        lambda: brief_png(overview_brief(view, result, segments, head)),
        "cmot-brief.png",
        "image/png",
        key="brief_png",
        icon=":material/image:",
        on_click="ignore",
    )
