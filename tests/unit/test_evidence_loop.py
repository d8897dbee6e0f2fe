"""The closed loop: the at-risk list carries each respondent's comment, and the delight list
(top box at an opportunity) is its mirror."""

from __future__ import annotations

from cmot.ingest.options import IngestOptions
from cmot.names import quote_ident
from cmot.present.exports import to_csv
from cmot.results.summary import at_risk, delight
from cmot.spec import load_spec
from cmot.store.datasets import Store
from cmot.store.demo import COMMENT_COLUMN, DEMO_SPEC, SEGMENT_COLUMN, demo_comments, generate_demo
from cmot.store.intake import ingest


def test_at_risk_and_delight_carry_comments(store: Store) -> None:
    frame = generate_demo(300, seed=5).frame
    frame[COMMENT_COLUMN] = demo_comments(frame, seed=5)
    spec = load_spec(DEMO_SPEC).with_changes(comments=(COMMENT_COLUMN,))
    data = frame.to_csv(index=False).encode()
    info, _ = ingest(store, data, "loop", IngestOptions(spec=spec), "loop.csv")
    con = store.cursor()
    seg_sql = quote_ident(SEGMENT_COLUMN)
    risk = at_risk(
        con, info.table, spec, seg_sql, "Public agencies", ["Invoicing", "Change orders"], 2
    )
    assert list(risk.columns) == [
        "respondent", "segment", "low ratings", "Invoicing", "Change orders", COMMENT_COLUMN
    ]  # fmt: skip
    by_id = frame.set_index("Client ID")
    # Every listed respondent is of the segment and rated a vulnerability in the bottom box.
    assert (risk["segment"] == "Public agencies").all() and len(risk)
    assert (by_id.loc[risk["respondent"], SEGMENT_COLUMN] == risk["segment"].to_numpy()).all()
    low = by_id.loc[risk["respondent"], ["Invoicing", "Change orders"]].le(2).any(axis=1)
    assert low.all()
    assert (risk[["Invoicing", "Change orders"]].le(2).sum(axis=1) == risk["low ratings"]).all()
    themed = risk[COMMENT_COLUMN].dropna().str.lower()
    assert themed.str.contains("billing errors|slow approvals").mean() > 0.5
    happy = delight(
        con, info.table, spec, seg_sql, "Public agencies", ["Project handoff/closeout"], 5
    )
    assert list(happy.columns) == [
        "respondent", "segment", "high ratings", "Project handoff/closeout", COMMENT_COLUMN
    ]  # fmt: skip
    assert (happy["Project handoff/closeout"] == 5).all() and len(happy)
    assert (by_id.loc[happy["respondent"], SEGMENT_COLUMN] == "Public agencies").all()
    assert happy[COMMENT_COLUMN].dropna().str.lower().str.contains("smooth handover").any()
    assert to_csv(happy).startswith(b"\xef\xbb\xbfrespondent,segment,high ratings")


def test_at_risk_without_comments_is_as_before(store: Store) -> None:
    frame = generate_demo(100, seed=5).frame
    spec = load_spec(DEMO_SPEC)
    info, _ = ingest(
        store, frame.to_csv(index=False).encode(), "x", IngestOptions(spec=spec), "x.csv"
    )
    risk = at_risk(store.cursor(), info.table, spec, None, "All", ["Invoicing"], 2)
    assert list(risk.columns) == ["respondent", "segment", "low ratings", "Invoicing"]
    assert (risk["segment"] == "All").all()
    assert delight(store.cursor(), info.table, spec, None, "All", [], 5).empty
