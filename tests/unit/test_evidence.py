"""Comments as evidence: distinctive terms on real coded comments, quotes only from raters
on the right side (airline ratings with the real Santa Monica comments attached)."""

from __future__ import annotations

import re

import pandas as pd
import pytest

from cmot.feedback.evidence import EVIDENCE_COLUMNS, MIN_COMMENTS, distinctive_terms, find_evidence
from tests.conftest import AIRLINE_CSV, DATA, need_real

COMMENTS_CSV = DATA / "santa-monica-comments" / "open_ended_2014.csv"
TOUCHPOINTS = ["Inflight wifi service", "Seat comfort", "Checkin service", "Cleanliness"]


def _comments() -> pd.DataFrame:
    return pd.read_csv(need_real(COMMENTS_CSV), encoding="cp1252")


def _words(label: str) -> set[str]:
    return {w[:4] for w in re.findall(r"[a-z]+", label.lower()) if len(w) >= 4}


def test_distinctive_terms_name_the_human_coded_category() -> None:
    """Criterion (stated, not a word list): for every top-level category coded on at least
    100 comments (except the catch-all "Other"), one of its 10 most distinctive terms
    against the rest shares a word (first four letters, words of 4+ letters) with the human
    labels: the category's name or a sub-category coded together with it."""
    d = _comments()
    text = d["Fullstring"].fillna("")
    n = 8
    cats = d[[f"Category {i}" for i in range(1, n + 1)]].astype("string")
    subs = d[[f"Sub-category {i}" for i in range(1, n + 1)]].astype("string")
    sizes = pd.Series(cats.stack().tolist()).value_counts()
    large = [c for c, k in sizes.items() if k >= 100 and c != "Other"]
    assert len(large) >= 5
    for cat in large:
        coded = cats.eq(cat).fillna(False).astype(bool)
        labels = {cat} | {
            str(subs.iat[r, j]) for r, j in zip(*coded.to_numpy().nonzero(), strict=True)
        }
        label_words = set().union(*(_words(x) for x in labels))
        terms = distinctive_terms(text.tolist(), coded.any(axis=1).tolist(), top=10)
        term_words = set().union(*(_words(t) for t in terms["term"]))
        assert label_words & term_words, (cat, sorted(labels), list(terms["term"]))
        assert (terms["count"] >= 2).all()
        for term, example in zip(terms["term"], terms["example"], strict=True):
            assert term.split()[0] in example.lower()


def test_too_few_comments_gives_no_terms_and_a_message() -> None:
    assert distinctive_terms(["bad seat"] * 3 + ["ok"] * 10, [True] * 3 + [False] * 10).empty
    frame = pd.DataFrame(
        {"id": range(6), "tp": [1, 1, 5, 5, 5, 5], "c": ["awful", None, "", "great", "x", "y"]}
    )
    ev = find_evidence(frame, ["tp"], {"c": None}, low_max=2, high_min=5, id_col="id")
    low = ev.counts.query("side == 'low'").iloc[0]
    assert (low["raters"], low["commented"], low["share"]) == (2, 1, 0.5)
    assert any("too few" in m and f"needs {MIN_COMMENTS}" in m for m in ev.messages)


@pytest.fixture(scope="module")
def airline_with_comments() -> pd.DataFrame:
    comments = _comments()["Fullstring"]
    air = pd.read_csv(need_real(AIRLINE_CSV), nrows=len(comments) * 2)
    # Half the rows commented (the real survey's answers, in file order), half silent.
    air["comment"] = list(comments) + [None] * len(comments)
    return air


def test_every_quote_belongs_to_a_rater_on_its_side(airline_with_comments: pd.DataFrame) -> None:
    air = airline_with_comments
    ev = find_evidence(
        air,
        TOUCHPOINTS,
        {"comment": None},
        low_max=2,
        high_min=5,
        id_col="id",
        segment_col="Class",
        per_side=8,
    )
    q = ev.quotes
    assert list(q.columns) == EVIDENCE_COLUMNS
    assert set(q["segment"]) == set(air["Class"]) and set(q["side"]) == {"low", "high"}
    by_id = air.set_index("id")
    for row in q.itertuples(index=False):
        rating = by_id.at[row.respondent, row.touchpoint]
        assert rating <= 2 if row.side == "low" else rating >= 5, row
        assert by_id.at[row.respondent, "Class"] == row.segment
        assert row.quote.strip() and isinstance(row.quote, str)
    assert (q.groupby(["segment", "touchpoint", "side"])["rank"].max() <= 8).all()
    # Counts: commenters are at most the raters; about half of them commented.
    assert (ev.counts["commented"] <= ev.counts["raters"]).all()
    share = ev.counts["commented"].sum() / ev.counts["raters"].sum()
    assert 0.4 < share < 0.6


def test_a_linked_column_ranks_before_a_general_one(airline_with_comments: pd.DataFrame) -> None:
    air = airline_with_comments.copy()
    air["about wifi"] = (
        air["comment"]
        .where(air["Inflight wifi service"] <= 2)
        .map(lambda s: None if pd.isna(s) else "wifi " + str(s))
    )
    ev = find_evidence(
        air,
        TOUCHPOINTS,
        {"about wifi": "Inflight wifi service", "comment": None},
        low_max=2,
        high_min=5,
        id_col="id",
        per_side=5,
    )
    wifi_low = ev.quotes.query("touchpoint == 'Inflight wifi service' and side == 'low'")
    assert wifi_low["quote"].str.startswith("wifi ").all()
    seat = ev.quotes.query("touchpoint == 'Seat comfort'")
    assert not seat["quote"].str.startswith("wifi ").any()


def test_a_stage_link_covers_its_touchpoints() -> None:
    frame = pd.DataFrame(
        {
            "id": range(4),
            "a": [1, 1, 5, 5],
            "b": [1, 5, 1, 5],
            "on a": ["bad a", None, None, None],
            "general": ["meh", "meh b", "meh", None],
        }
    )
    ev = find_evidence(
        frame, ["a", "b"], {"on a": ("a",), "general": ()}, low_max=2, high_min=5, id_col="id"
    )
    low_a = ev.quotes.query("touchpoint == 'a' and side == 'low'")
    assert list(low_a["quote"]) == ["bad a", "meh b", "meh"]  # linked, then by rating gap
    assert "bad a" not in set(ev.quotes.query("touchpoint == 'b'")["quote"])


def test_a_text_written_by_several_raters_is_quoted_once() -> None:
    """Issue 23: evidence quoted the same title three times. The same words (case and spacing
    aside) are one quote, the best ranked respondent's; the other places go to other texts."""
    n = 40
    said = ["Air France customer review", "air france  customer review "] * 6
    said += [f"The seat {i} was broken and nobody came to fix it" for i in range(n - len(said))]
    frame = pd.DataFrame(
        {
            "id": range(n),
            "Seat comfort": [1] * n,
            "Cleanliness": [5] * n,
            "comment": said,
        }
    )
    ev = find_evidence(
        frame,
        ["Seat comfort", "Cleanliness"],
        {"comment": None},
        low_max=2,
        high_min=5,
        id_col="id",
        per_side=5,
    )
    for (tp, side), quotes in ev.quotes.groupby(["touchpoint", "side"]):
        key = quotes.quote.str.casefold().str.split().str.join(" ")
        assert key.is_unique, (tp, side, quotes.quote.tolist())
        assert len(quotes) == 5
