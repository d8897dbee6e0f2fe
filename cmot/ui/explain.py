"""'How this is calculated': the statistical terms behind one expander, so a page leads with
plain words (issue 28: IA, RIS, α, FDR, Benjamini-Hochberg, hybrid, 'a − b' are named here,
not in the first lines a person reads)."""

from __future__ import annotations

from collections.abc import Sequence

import streamlit as st

# The terms every result page may need, in the order a reader meets them.
METHOD = {
    "penalty": "**Penalty and reward**: how much lower the outcome is for a low rating, and "
    "how much higher for a top rating, than for a middle one; one regression per segment "
    "(penalty-reward contrast analysis) with robust (HC3) standard errors. A coefficient "
    "running against the others (a low rating that raises the outcome) counts as no effect.",
    "class": "**Classes**: a moment of truth is a touchpoint with a large, significant range "
    "of impact (RIS: penalty + reward). Its impact asymmetry (IA: reward minus penalty, over "
    "their sum) makes it a ▼ vulnerability (a table stake, IA at or below the threshold), an "
    "▲ opportunity (a differentiator, at or above it) or a ◆ hybrid (both sides matter).",
    "stake": "**At stake**: a vulnerability's penalty times the share of low raters (what "
    "the outcome would gain if they moved to the middle); an opportunity's reward times the "
    "share below the top box (if they moved to the top); a hybrid's both. Not a forecast.",
    "sure": "**How sure**: clear when the 95% interval excludes zero and the result holds "
    "after the Benjamini-Hochberg false discovery rate (FDR) correction over every penalty "
    "and reward at once (q-value below the significance level α); likely when only the "
    "interval excludes zero; could be chance otherwise.",
    "differ": "**Segments differ** when a difference in penalty or reward between two of "
    "them (a − b: the first segment's minus the second's) holds after the same correction "
    "over the pair's touchpoints; the Overview's lists then run across segments, else they "
    "are the whole sample's.",
}


def how_calculated(settings_line: str, terms: Sequence[str] = tuple(METHOD)) -> None:
    """One expander with the `terms` of METHOD (keys) and the settings line of the result."""
    with st.expander("How this is calculated"):
        st.markdown("\n".join(f"- {METHOD[t]}" for t in terms))
        st.caption(settings_line)
