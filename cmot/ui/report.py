"""The one-click report of the current comparison: HTML and PDF downloads."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from cmot import charts
from cmot.moments import MomentsResult
from cmot.report import Report, matrix_table, report_html, report_pdf, report_title
from cmot.summary import headline, top_stakes
from cmot.ui.auth import may_see_quotes
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
    return Report(
        title=report_title(view.info.spec.outcome.column, chosen),
        outcome=view.info.spec.outcome.column,
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
                charts.class_matrix(
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
