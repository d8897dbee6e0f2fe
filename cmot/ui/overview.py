"""The Overview's drawing: the executive's first screen (cmot.results.headline) and what follows it.

At 1400x900 the first screen holds the outcome by name with its level and change, the
banner, and Fix first / Invest next; the cards, the waves' change and the method come
below. Every number is cmot.results.headline's; this module only draws.
"""

from __future__ import annotations

from collections.abc import Sequence

import streamlit as st

from cmot.present.scales import CLASS_COLOURS, CLASS_SYMBOLS
from cmot.results.headline import (
    CERTAINTY_TEXT,
    EVERYONE,
    STAKE_MEANING,
    Headline,
    OutcomeChange,
    Priority,
    build_headline,
    view_change,
)
from cmot.results.moments import MomentsResult
from cmot.text import escape_markdown
from cmot.ui.frame import PageView
from cmot.ui.memo import derived
from cmot.ui.state import get_store
from cmot.ui.widgets import certainty_words

CERTAINTY_HELP = "  \n".join(f"**{w}**: {t}." for w, t in CERTAINTY_TEXT.items())
# What each class means, on a row's hover: every class a person reads is defined there.
CLASS_WORDS = {
    "vulnerability": "A vulnerability (table stake): a low rating costs the outcome, a top "
    "one adds little; invest just enough",
    "opportunity": "An opportunity (differentiator): a top rating lifts the outcome, an "
    "adequate one costs little; invest for growth",
    "hybrid": "A hybrid: a low rating costs the outcome and a top one lifts it; improve both",
}
# Where the certainty word of a row is coloured: sure reads dark, chance reads grey.
_WORD_STYLE = {"clear": "color:#1b5e20", "likely": "color:#8a6d00", "could be chance": "color:#666"}


def headline_of(view: PageView, result: MomentsResult, segments: Sequence[str]) -> Headline:
    """The view's Headline, computed once per result and segments (a page switch only draws)."""

    def change() -> OutcomeChange | None:
        spec, alpha = view.info.spec, result.settings.alpha
        return view_change(get_store().cursor(), view.relation, spec, view.params, alpha)

    moved = derived.get(result, "outcome_change", change)
    return derived.get(
        result,
        ("first_screen", tuple(segments)),
        lambda: build_headline(result, view.info.spec, segments, moved, certainty_words(result)),
    )


def units_note(h: Headline) -> str:
    """What 'pts' or 'points' mean for this outcome, in a few words."""
    if h.unit == "percentage points":
        return f"percentage points (pts) of the share who {h.meaning.removeprefix('share ')}"
    return f"points of the {h.meaning}"


def outcome_metric(h: Headline) -> None:
    """The outcome by name, its level and the change since the previous period."""
    label = f"{h.outcome} ({h.meaning})"
    c = h.change
    if c is None:
        st.metric(escape_markdown(label), h.level_text, help=f"n = {h.n:,} respondents")
        return
    st.metric(
        escape_markdown(label),
        h.level_text,
        escape_markdown(c.short(h.unit)),  # a wave's label is data: the delta renders Markdown
        delta_color="normal" if c.certainty == "clear" else "off",
        help=f"{escape_markdown(c.text(h.unit))}. "
        f"{escape_markdown(c.previous)}: n = {c.n_before:,}; "
        f"{escape_markdown(c.current)}: n = {c.n_now:,} "
        f"(periods of {escape_markdown(c.column)}). A change that could be chance is grey.",
    )


def verb_html(cls: str, verb: str) -> str:
    """The verb after its class's symbol, in the class's colour (as on every chart)."""
    return (
        f'<span style="color:{CLASS_COLOURS[cls]};font-weight:600">'
        f"{CLASS_SYMBOLS[cls]} {verb}</span>"
    )


def priority_line(p: Priority) -> None:
    """'▼ **Fix** Pricing clarity for Private clients: **6.6 pts**, clear', with what the
    amount means and what the word means on hover (names are data: escaped)."""
    # The list's heading says "for everyone" once; a segment is named on its row.
    who = "" if p.segment == EVERYONE else f" for {escape_markdown(p.segment)}"
    word = f'<span style="{_WORD_STYLE[p.certainty]}">{p.certainty}</span>'
    st.markdown(
        f"{verb_html(p.cls, p.verb)} "
        f"**{escape_markdown(p.touchpoint)}**{who}: **{p.amount}** · {word}",
        unsafe_allow_html=True,
        help=f"{CLASS_WORDS[p.cls]}. {p.amount} {p.meaning} (not a forecast). "
        f"{p.certainty}: {CERTAINTY_TEXT[p.certainty]}.",
    )


def priority_lists(h: Headline) -> None:
    """Fix first and Invest next side by side, three rows each at most."""
    left, right = st.columns(2)
    # For whom the lists speak opens the caption below them (h.scope): the headers stay on
    # one line, so the third row of each list stays on a 1024x768 screen.
    lists = (
        (left, "Fix first", h.fix_first, "failing table stakes"),
        (right, "Invest next", h.invest_next, "differentiators"),
    )
    for col, title, rows, what in lists:
        with col.container(border=True):
            st.markdown(f"**{title}** · {what}")
            for p in rows:
                priority_line(p)
            if not rows:
                st.markdown("Nothing stands out.")
    st.caption(
        f"{escape_markdown(h.scope[:1].upper() + h.scope[1:])}. Amounts in "
        f"{escape_markdown(units_note(h))}: what the outcome would gain at that touchpoint "
        f"today {STAKE_MEANING['risk']} (fix), or {STAKE_MEANING['upside']} (invest); not a "
        "forecast. How sure: clear, likely or could be chance (hover the ?).",
        help=CERTAINTY_HELP,
    )


def first_screen(view: PageView, result: MomentsResult, segments: Sequence[str]) -> Headline:
    """Draw the outcome, the banner and Fix first / Invest next; return the Headline."""
    h = headline_of(view, result, segments)
    a, b = st.columns([3, 2])
    with a:
        outcome_metric(h)
    # The counts side by side in a row that wraps rather than stacks: on a phone, where
    # Streamlit stacks columns, three stacked metrics pushed Fix first below the fold.
    counts = b.container(horizontal=True)
    counts.metric("Respondents", f"{h.n:,}")
    counts.metric("Segments", len(segments) if h.segmented else "—")
    # Sentences naming segments and touchpoints (data): escaped where Markdown renders.
    st.info(escape_markdown(h.difference), icon=":material/compare_arrows:")
    priority_lists(h)
    return h


def cards_intro(h: Headline) -> None:
    """What the cards are, agreeing with the banner: when no segment differs, they are each
    segment's own estimates, not findings about a segment."""
    st.subheader("By segment")
    lead = (
        "No segment differs from another by more than chance: each card is that segment's "
        "own estimate, and where cards seem to differ it could be chance. "
        if h.segmented and not h.segments_differ
        else ""
    )
    st.caption(
        f"{lead}Each card lists a segment's moments of truth: ▼ vulnerabilities (table "
        "stakes: a low rating costs the outcome, a top one adds little), ▲ opportunities "
        "(differentiators: a top rating lifts it), ◆ hybrids (both), with the amount at stake "
        "and how sure.",
        help=CERTAINTY_HELP,
    )
