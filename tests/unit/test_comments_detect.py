"""Comment columns are detected by the length and distinctness of their text: proposed as
the comment role, never the outcome; the stored dataset keeps them as trimmed text."""

from __future__ import annotations

import pandas as pd

from cmot.demo import COMMENT_COLUMN, DEMO_SPEC, demo_comments, generate_demo
from cmot.ingest import detect_roles, ingest
from cmot.options import IngestOptions
from cmot.spec import load_spec
from cmot.store import ROW_COL, Store, quote_ident
from tests.conftest import AIRLINE_CSV, DATA, need_real

COMMENTS_CSV = DATA / "santa-monica-comments" / "open_ended_2014.csv"


def test_real_comments_are_the_comment_role_and_codes_are_not() -> None:
    det = detect_roles(need_real(COMMENTS_CSV))
    roles = det.roles()
    assert roles["Fullstring"] == "comment"
    assert [c for c, r in roles.items() if r == "comment"] == ["Fullstring"]


def test_templated_demo_comments_are_comments_not_the_outcome() -> None:
    frame = generate_demo(300, seed=5).frame
    frame[COMMENT_COLUMN] = demo_comments(frame, seed=5)
    det = detect_roles(frame.to_csv(index=False).encode(), source_name="demo.csv")
    assert det.roles()[COMMENT_COLUMN] == "comment"
    assert det.spec is not None and det.spec.outcome.column == "Would hire again"
    assert det.spec.comments == (COMMENT_COLUMN,)


def test_airline_with_real_comments_attached() -> None:
    comments = pd.read_csv(need_real(COMMENTS_CSV), encoding="cp1252")["Fullstring"]
    air = pd.read_csv(need_real(AIRLINE_CSV), nrows=3 * len(comments))
    air["Your comments"] = list(comments) * 3
    det = detect_roles(air.to_csv(index=False).encode(), source_name="air.csv")
    assert det.roles()["Your comments"] == "comment"
    assert det.spec is not None and det.spec.outcome.column == "satisfaction"


def test_stored_comments_are_trimmed_text_and_blank_is_null(store: Store) -> None:
    frame = generate_demo(100, seed=5).frame
    frame[COMMENT_COLUMN] = ["  padded  ", "   ", "", None, "=1+1"] + ["ok"] * (len(frame) - 5)
    spec = load_spec(DEMO_SPEC).with_changes(comments=(COMMENT_COLUMN,))
    info, _ = ingest(
        store, frame.to_csv(index=False).encode(), "c", IngestOptions(spec=spec), "c.csv"
    )
    rows = (
        store.cursor()
        .execute(
            f"SELECT {quote_ident(COMMENT_COLUMN)} FROM {info.table} ORDER BY {ROW_COL} LIMIT 5"
        )
        .fetchall()
    )
    assert [r[0] for r in rows] == ["padded", None, None, None, "=1+1"]
