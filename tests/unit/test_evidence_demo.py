"""The demo's comments: the planted themes rank first for their moments, every quote comes
from a rater on its side, and generate_demo's numbers are untouched."""

from __future__ import annotations

import pandas as pd
import pytest

from cmot.feedback.evidence import Evidence, distinctive_terms, find_evidence
from cmot.store.demo import (
    COMMENT_COLUMN,
    SEGMENT_COLUMN,
    TOUCHPOINTS,
    comment_themes,
    demo_comments,
    demo_spec,
    generate_demo,
)


@pytest.fixture(scope="module")
def demo() -> tuple[pd.DataFrame, Evidence]:
    frame = generate_demo().frame.copy()
    frame[COMMENT_COLUMN] = demo_comments(frame)
    tps = list(TOUCHPOINTS)
    frame[tps] = frame[tps].where(frame[tps] > 0)  # 0 is "not applicable"
    scale = demo_spec().scale
    ev = find_evidence(
        frame,
        TOUCHPOINTS,
        {COMMENT_COLUMN: None},
        low_max=scale.low_max,
        high_min=scale.high_min,
        id_col="Client ID",
        segment_col=SEGMENT_COLUMN,
    )
    return frame, ev


def test_planted_themes_rank_first(demo: tuple[pd.DataFrame, Evidence]) -> None:
    frame, ev = demo
    q = ev.quotes
    scale = demo_spec().scale
    for r in comment_themes().itertuples():
        moment = q[(q.segment == r.segment) & (q.touchpoint == r.touchpoint) & (q.side == r.side)]
        assert r.theme in moment.iloc[0]["quote"].lower(), (r, moment.head(3))
        seg = frame[frame[SEGMENT_COLUMN] == r.segment]
        seg = seg[seg[COMMENT_COLUMN].notna() & seg[r.touchpoint].notna()]
        rating = seg[r.touchpoint]
        side = rating <= scale.low_max if r.side == "low" else rating >= scale.high_min
        terms = distinctive_terms(seg[COMMENT_COLUMN].tolist(), side.tolist())
        assert set(terms.iloc[0]["term"].split()) <= set(r.theme.split()), (r, terms.head())


def test_demo_quotes_come_from_raters_on_their_side(demo: tuple[pd.DataFrame, Evidence]) -> None:
    frame, ev = demo
    by_id = frame.set_index("Client ID")
    scale = demo_spec().scale
    for row in ev.quotes.itertuples(index=False):
        rating = by_id.at[row.respondent, row.touchpoint]
        assert rating <= scale.low_max if row.side == "low" else rating >= scale.high_min
    assert (ev.counts["commented"] <= ev.counts["raters"]).all()


def test_comments_leave_generate_demo_unchanged_and_are_seeded() -> None:
    a = generate_demo(200, seed=3).frame
    first = demo_comments(a, seed=3)
    b = generate_demo(200, seed=3).frame
    pd.testing.assert_frame_equal(a, b)
    assert COMMENT_COLUMN not in b.columns
    pd.testing.assert_series_equal(first, demo_comments(b, seed=3))
    assert 0.2 < first.isna().mean() < 0.6  # some empty
