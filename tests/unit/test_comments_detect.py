"""Comment columns are detected by the length and distinctness of their text: proposed as
the comment role, never the outcome; the stored dataset keeps them as trimmed text. A title
(a few words) or a name (an airline, a lounge, a city: few values, repeated) is no comment
(issue 23: a title and a lounge-name column were proposed as comments)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cmot.ingest.options import IngestOptions
from cmot.ingest.pipeline import detect_roles
from cmot.names import ROW_COL, quote_ident
from cmot.spec import load_spec
from cmot.store.datasets import Store
from cmot.store.demo import COMMENT_COLUMN, DEMO_SPEC, demo_comments, generate_demo
from cmot.store.intake import ingest
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
    # Each real comment once, beside as many blank answers (most people write nothing).
    comments = pd.read_csv(need_real(COMMENTS_CSV), encoding="cp1252")["Fullstring"]
    air = pd.read_csv(need_real(AIRLINE_CSV), nrows=2 * len(comments))
    air["Your comments"] = list(comments) + [None] * len(comments)
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


# ---- titles and names are not comments --------------------------------------------------

AIRLINES = [
    "Air France", "British Airways", "Lufthansa", "KLM Royal Dutch Airlines", "Emirates",
    "Qatar Airways", "Singapore Airlines", "Turkish Airlines", "Iberia", "Finnair",
    "SAS Scandinavian", "Aer Lingus", "Swiss International", "Austrian Airlines",
    "TAP Portugal", "Alitalia", "Ryanair", "easyJet", "Vueling", "Norwegian",
    "Delta Air Lines", "United Airlines", "American Airlines", "Air Canada", "WestJet",
    "Qantas", "Virgin Atlantic", "Cathay Pacific", "Japan Airlines", "ANA All Nippon",
    "Korean Air", "Etihad Airways", "Thai Airways", "Malaysia Airlines", "Garuda Indonesia",
    "Air India", "Jet Airways", "China Southern", "Aeroflot", "LOT Polish",
]  # fmt: skip
CITIES = [
    "London", "Paris", "Frankfurt", "Amsterdam", "Dubai", "Doha", "Singapore", "Istanbul",
    "Madrid", "Helsinki", "Copenhagen", "Dublin", "Zurich", "Vienna", "Lisbon", "Rome",
    "New York", "Atlanta", "Chicago", "Toronto", "Sydney", "Hong Kong", "Tokyo", "Seoul",
]  # fmt: skip
# The review site has hundreds of airlines: the real names and more made of the cities.
AIRLINES += [f"{c} {kind}" for kind in ("Air", "Airways", "Express") for c in CITIES]
LOUNGES = ["Business Lounge", "First Class Lounge", "Galleries Club", "Senator Lounge"]
ADJECTIVES = [
    "Great", "Terrible", "Good", "Poor", "Excellent", "Average", "Decent", "Awful",
    "Pleasant", "Disappointing", "Comfortable", "Cramped", "Friendly", "Rude", "Smooth",
]  # fmt: skip
NOUNS = [
    "flight", "crew", "service", "seats", "food", "trip", "experience", "journey", "lounge",
    "check-in", "boarding", "value", "connection", "legroom", "staff", "entertainment",
]  # fmt: skip
TAILS = ["", "", " overall", " again", " today", " as usual", " on the way home", " but late"]


def _zipf(rng: np.random.Generator, items: list[str], n: int, a: float = 1.1) -> list[str]:
    w = 1 / np.arange(1, len(items) + 1) ** a
    return [items[i] for i in rng.choice(len(items), n, p=w / w.sum())]


def reviews(n: int, seed: int = 3) -> pd.DataFrame:
    """An airline-review export as a new user meets it: ratings, an outcome, and the text
    columns beside the comments: a title per review ("<airline> customer review" as the
    review site writes it, or a few words of the reviewer's), the airline, the lounge, the
    city; and the comments themselves (the real Santa Monica answers, when present)."""
    rng = np.random.default_rng(seed)
    airline = _zipf(rng, AIRLINES, n)
    lounges = [f"{a} {k} {c}" for a in AIRLINES[:20] for k in LOUNGES[:3] for c in CITIES[:4]]
    frame = pd.DataFrame(
        {
            "seat comfort": rng.integers(1, 6, n),
            "cabin staff": rng.integers(1, 6, n),
            "food": rng.integers(1, 6, n),
            "wifi": rng.integers(1, 6, n),
            "overall satisfaction": rng.integers(1, 6, n),
            "title": [f"{a} customer review" for a in airline],
            "review title": [
                f"{ADJECTIVES[rng.integers(len(ADJECTIVES))]} {NOUNS[rng.integers(len(NOUNS))]}"
                f"{TAILS[rng.integers(len(TAILS))]}"
                for _ in range(n)
            ],
            "lounge_name": _zipf(rng, lounges, n, 0.8),
            "airline_name": airline,
            "city": _zipf(rng, CITIES, n),
        }
    )
    return frame


@pytest.mark.parametrize("rows", [300, 1000, 3000])
@pytest.mark.parametrize(
    ("column", "why"),
    [
        ("title", "the same few words per airline: repeated, and short"),
        ("review title", "a few words each: most differ, but they are short"),
        ("lounge_name", "a lounge's name: long enough, but repeated"),
        ("airline_name", "a name: few values, repeated"),
        ("city", "a name: few values, repeated"),
    ],
)
def test_titles_and_names_are_not_comments(rows: int, column: str, why: str) -> None:
    det = detect_roles(reviews(rows).to_csv(index=False).encode(), source_name="reviews.csv")
    assert det.roles()[column] != "comment", why
    assert det.spec is not None and column not in det.spec.comments


@pytest.mark.parametrize(
    ("source", "rows"),
    [("santa monica", 1835), ("demo", 300), ("demo", 800), ("demo", 2400), ("demo", 8000)],
)
def test_comments_beside_titles_and_names_are_the_only_comment_column(
    source: str, rows: int
) -> None:
    if source == "santa monica":
        said = pd.read_csv(need_real(COMMENTS_CSV), encoding="cp1252")["Fullstring"]
        frame = reviews(len(said))
        frame["comments"] = said.to_numpy()
    else:  # the demo's comments (its templates with a respondent's own words)
        demo = generate_demo(max(rows // 4, 10), seed=5).frame.head(rows)
        frame = reviews(len(demo))
        frame["comments"] = demo_comments(demo, seed=5).to_numpy()
    det = detect_roles(frame.to_csv(index=False).encode(), source_name="reviews.csv")
    assert det.spec is not None and det.spec.comments == ("comments",)
    guess = next(g for g in det.columns if g.column == "comments")
    assert "words" in guess.reason and "different" in guess.reason, guess.reason
