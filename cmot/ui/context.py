"""The context line of every results page and export: dataset, segments, filters, pooling.

`context_of(view)` is the sentence (cmot.present.context.context_sentence filled from the
sidebar's view); `show_context(view)` states it under a page's title; `current_context()`
is the running page's, which the downloads of `cmot.ui.widgets` put in their headline.
"""

from __future__ import annotations

import streamlit as st

from cmot.present.context import context_sentence
from cmot.text import escape_markdown
from cmot.ui.frame import SAVED, WHOLE, PageView


def context_of(view: PageView) -> str:
    """What the view's results were computed on, as one plain sentence (not escaped)."""
    spec = view.info.spec
    seg = view.segmentation
    if seg == WHOLE:
        by = ""
    elif seg.startswith(SAVED):
        by = f"the saved segmentation {seg[len(SAVED) :]}"
    else:
        by = spec.label_of(seg) if seg in spec.segments else seg
    return context_sentence(
        view.info.name,
        view.info.version,
        by,
        view.filters,
        view.settings.pooling,
        view.weighting,
    )


def show_context(view: PageView) -> None:
    """State the view's context under the page's title (names are data: escaped)."""
    st.caption(escape_markdown(context_of(view)))


def current_context() -> str:
    """The running page's context sentence ("" outside a results page's view): app.py sets
    the sidebar's view afresh on every run, so a download never carries another page's."""
    view = st.session_state.get("view")
    return context_of(view) if isinstance(view, PageView) else ""
