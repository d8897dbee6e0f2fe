"""The Action plan's what-if: its choices in the link, the outcome today, the prediction
and its interval in words, and how it relates to the amount at stake (issue 28, item 7)."""

from __future__ import annotations

import math

import pandas as pd
import streamlit as st

from cmot.results.headline import outcome_name
from cmot.results.moments import MomentsResult
from cmot.results.whatif import MOVE_WORDS, StakeRow, WhatIf, describe_what_if, predict_what_if
from cmot.spec import JourneySpec
from cmot.text import escape_markdown
from cmot.ui.memo import derived
from cmot.ui.url import url_widget

MOVES = {"bottom_to_middle": "low ratings → middle", "middle_to_top": "middle → top box"}


def what_if_panel(
    result: MomentsResult, segment: str, touchpoints: list[str], spec: JourneySpec
) -> None:
    """The what-if for `segment` over `touchpoints` (the plan's order); every choice lives
    in the URL (?wi_tp=, ?wi_move=, ?wi_share=), so a shared link shows the same case."""
    outcome = outcome_name(spec)  # the outcome by name, as people read it
    st.subheader("What if")
    a, b, c = st.columns([2, 2, 2])
    tp = url_widget(a.selectbox, "Touchpoint", touchpoints, key="wi_tp", default=touchpoints[0])
    move = url_widget(
        b.radio,
        "Move",
        list(MOVES),
        key="wi_move",
        default="bottom_to_middle",
        format_func=MOVES.get,
        horizontal=True,
    )
    share = url_widget(
        c.slider,
        "Share of them that moves",
        key="wi_share",
        default=50,
        parse=int,
        min_value=0,
        max_value=100,
        step=5,
        format="%d%%",
    )
    # What a page switch would recompute from the same result and choices: kept with it.
    w: WhatIf = derived.get(
        result,
        ("what_if", segment, tp, move, share),
        lambda: predict_what_if(result, segment, tp, move, share / 100),
    )
    words = derived.get(
        result,
        ("what_if_words", segment, tp, move, share, outcome),
        lambda: describe_what_if(
            w,
            result.unit,
            outcome,
            _stake_row(result, segment, w.touchpoint),
            result.settings.alpha,
        ),
    )
    x, y = st.columns(2)
    # Metric labels are Markdown: the outcome's name is data.
    x.metric(f"{escape_markdown(outcome)} today", words.today)
    y.metric(
        f"Predicted: {share}% of {' '.join(MOVE_WORDS[move])}",
        words.predicted,
        None if w.reason else words.change,
        delta_color="off" if words.verdict in ("no clear change", "no one to move") else "normal",
    )
    # The sentences name the segment, touchpoint and outcome (data): escaped.
    (st.info if words.verdict == "no clear change" else st.markdown)(
        escape_markdown(words.sentence)
    )
    if words.stake:
        st.caption(escape_markdown(words.stake))


def _stake_row(result: MomentsResult, segment: str, touchpoint: str) -> StakeRow | None:
    m = result.moments
    row = m[(m.segment == segment) & (m.touchpoint == touchpoint)]
    if row.empty:
        return None
    r = row.iloc[0]

    def num(v: object) -> float:
        return float(v) if isinstance(v, (int, float)) and not pd.isna(v) else math.nan

    return StakeRow(str(r["class"]), num(r.at_stake), num(r.risk), num(r.upside))
