"""Messy survey files nobody here wrote: a Hypothesis strategy of (bytes, filename).

`messy_surveys()` draws a survey the way real exports come (issue 23): an id column,
times of day, dates in several formats, yes/no answers, ratings on 1-4, 1-5, 1-7 or 0-10
with codes beside the scale (9, 99, -99, "Don't know") and stray out-of-scale answers, an
outcome on a scale, 0-10, yes/no or in words, segments as text or codes, numbers (and
"1,200", "inf", "1e309"), a weight, text markers, long free text, titles and names;
headers bracketed ("Q3 [Staff]"), truncated ("satisf"), duplicated, blank or with quotes,
backticks, emoji or a line break; a Qualtrics export's extra header rows and a short or
long row now and then; one row or one column now and then; written comma-, semicolon- or
tab-separated in UTF-8 (with or without a BOM), UTF-16 or cp1252.

The structure (how many rows, which columns, how each is messy, the encoding) is drawn from
Hypothesis, so a failure shrinks to fewer columns and rows; the cells come from a
`random.Random` seeded with a number Hypothesis draws, so an example is cheap to make (a
few draws, not one per cell) and its cells vary as real answers do. `describe` names what
an example holds, for a failure's message.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import random
from dataclasses import dataclass

from hypothesis import strategies as st

MARKERS = ("N/A", "Don't know", "Blank", "-", "NA", "refused", "N", "?", ".")
SCALES = ((1, 5), (1, 5), (1, 7), (0, 10), (1, 4), (1, 10))
TOUCHPOINTS = (
    "staff",
    "Check-in",
    "Q3 [Staff friendliness]",
    "Q4 [Cleanliness of the room]",
    "waiting time",
    "website (ease of use)",
    "Food & drink",
    "parking*",
    "Billing_accuracy",
    "delivery speed",
    "Café",
    "support: phone",
    "Q5_1 - Speed of service",
    "q12_3",
    "q12_4",
    "Value for money",
    "Signage`s clarity",
)
OUTCOMES = (
    "overall satisfaction",
    "Overall",
    "satisfaction",
    "satisf",
    "NPS",
    "likely to recommend",
    "Q1 [Overall, how satisfied are you?]",
)
SEGMENTS = ("region", "Region (coded)", "district", "age band", "store", "channel", "wave")
WORDS = (
    "the staff were lovely but the wait was long",
    "**great** service, would come again",
    "call me on +44 20 7946 0958 or mail jane.doe@example.com",
    "terrible — never again; the room was dirty & cold",
    "ok",
    "<b>bold</b> $x$ [link](http://example.com) `code` _under_",
    'she said "fine", then left',
    "Très bien, merci ! Ça va.",
    "line one\nline two",
    "=cmd|'/C calc'!A0",
)
FIRST = ("John", "Ana", "Zoë", "Siobhán", "Li", "O'Brien", "Mary-Jane", "José")
LAST = ("Smith", "Müller", "García", "Nguyen", "D'Arcy", "Kowalski")
TITLES = ("Mr", "Mrs", "Ms", "Dr", "Dr.", "Prof", "Mx", "")


@dataclass(frozen=True)
class Column:
    """One column's kind and how it is messy; `make` gives its header and cells."""

    kind: str
    header: str
    mess: float  # the share of cells that are markers, codes or strays
    blanks: float  # the share of blank cells


def _scale_cell(rng: random.Random, lo: int, hi: int, mess: float) -> str:
    if rng.random() < mess:
        return rng.choice(
            ["9", "99", "-99", "Don't know", "N/A", str(hi + 1), str(lo - 1), "3.5", "11", "0"]
        )
    return str(rng.randint(lo, hi))


def _time_cell(rng: random.Random) -> str:
    h, m, s = rng.randint(0, 23), rng.randint(0, 59), rng.randint(0, 59)
    return rng.choice(
        [
            f"{h}:{m:02d}:{s:02d}",
            f"{(h % 12) or 12}:{m:02d} {'AM' if h < 12 else 'PM'}",
            f"{h:02d}:{m:02d}",
            "N",
            f"{h}h{m:02d}",
        ]
    )


DATE_FORMATS = ("%Y-%m-%d", "%Y-%m-%d %H:%M:%S", "%m/%d/%Y", "%d.%m.%Y", "%b %d, %Y", "%d/%m/%y")


def _date_cell(rng: random.Random, fmt: str | None) -> str:
    d = dt.datetime(2023, 1, 1) + dt.timedelta(
        days=rng.randint(0, 800), seconds=rng.randint(0, 86399)
    )
    return d.strftime(fmt or rng.choice(DATE_FORMATS))


def _cells(rng: random.Random, c: Column, rows: int, scale: tuple[int, int]) -> list[str]:
    k = c.kind
    out: list[str] = []
    if rng.random() < 0.2:  # now and then a column on another scale than the survey's
        scale = SCALES[rng.randrange(len(SCALES))]
    fmt = rng.choice([*DATE_FORMATS, None])  # None: mixed formats
    yes, no = rng.choice([("Yes", "No"), ("yes", "no"), ("Y", "N"), ("1", "2"), ("TRUE", "FALSE")])
    levels = rng.choice(
        [
            ["North", "South", "East", "West"],
            ["1", "2", "3", "4", "5", "6"],
            ["1", "2", "3", "9"],
            ["Web", "Mail", "Phone"],
            ["2021 Q3", "2022 Q1"],
            [f"Store {i}" for i in range(1, 30)],
        ]
    )
    start = rng.randint(0, 10_000)
    for i in range(rows):
        if rng.random() < c.blanks:
            out.append(rng.choice(["", "", " "]))
            continue
        messy = rng.random() < c.mess
        if k == "id":
            out.append(str(start + i) if not messy else str(start + rng.randrange(max(1, i + 1))))
        elif k == "uuid":
            out.append(f"R_{rng.getrandbits(40):010x}")
        elif k in ("rating", "outcome_scale"):
            out.append(_scale_cell(rng, *scale, c.mess))
        elif k == "outcome_text":
            words = ["Very dissatisfied", "Dissatisfied", "Neutral", "Satisfied", "Very satisfied"]
            out.append(rng.choice(MARKERS) if messy else rng.choice(words))
        elif k == "outcome_nps":
            out.append(_scale_cell(rng, 0, 10, c.mess))
        elif k == "outcome_yesno":
            out.append(rng.choice(MARKERS) if messy else rng.choice([yes, no, yes]))
        elif k == "yesno":
            out.append(rng.choice(MARKERS) if messy else rng.choice([yes, no]))
        elif k == "time":
            out.append(_time_cell(rng))
        elif k == "date":
            out.append(rng.choice(MARKERS) if messy else _date_cell(rng, fmt))
        elif k == "segment":
            out.append(rng.choice(MARKERS) if messy else rng.choice(levels))
        elif k == "number":
            x = rng.lognormvariate(3, 1)
            odd = ["1,200", "€30", "inf", "1e309", "-0", "nan", "12.5%", "9" * 30, "0x1F"]
            out.append(rng.choice(MARKERS + tuple(odd)) if messy else f"{x:.{rng.randint(0, 2)}f}")
        elif k == "weight":
            out.append("0" if messy else f"{rng.uniform(0.2, 3):.3f}")
        elif k == "text":
            n = rng.randint(1, 6)
            out.append(" ".join(rng.choice(WORDS) for _ in range(n)))
        elif k == "name":
            t = rng.choice(TITLES)
            out.append(f"{t} {rng.choice(FIRST)} {rng.choice(LAST)}".strip())
        elif k == "title":
            out.append(rng.choice(TITLES) or "Mr")
        elif k == "markers":
            out.append(rng.choice(MARKERS))
        else:  # "blank"
            out.append("")
    return out


KINDS = (
    "rating",
    "id",
    "uuid",
    "yesno",
    "time",
    "date",
    "segment",
    "number",
    "weight",
    "text",
    "name",
    "title",
    "markers",
    "blank",
)
HEADERS: dict[str, tuple[str, ...]] = {
    "id": ("id", "Respondent ID", "resp_id", "ResponseId", ""),
    "uuid": ("ResponseId", "uuid", "record"),
    "yesno": ("Used the app?", "member", "Q7 [Visited before]", "would return"),
    "time": ("time", "Time of visit", "start time", "StartTime", "time of day"),
    "date": ("date", "Visit date", "when", "day", "RecordedDate", "EndDate"),
    "segment": SEGMENTS,
    "number": ("age", "income", "Years as client", "distance (km)", "delay in minutes"),
    "weight": ("weight", "wt", "Weighting factor"),
    "text": ("comments", "Any other comments?", "Q20 [Why?]", "verbatim"),
    "name": ("name", "Your name", "Contact"),
    "title": ("title", "Salutation"),
    "markers": ("Q99", "notes", "unused"),
    "blank": ("", "Unnamed: 5", "blank col"),
}


def _header(draw: st.DrawFn, kind: str) -> str:
    if kind == "rating":
        name = draw(st.sampled_from(TOUCHPOINTS))
    elif kind.startswith("outcome"):
        name = draw(st.sampled_from(OUTCOMES))
    else:
        name = draw(st.sampled_from(HEADERS[kind]))
    how = draw(
        st.sampled_from(["plain"] * 12 + ["truncated", "bracketed", "blank", "spaces", "odd"])
    )
    if how == "odd":  # characters a name rarely has, that SQL, Markdown and HTML read
        return name + draw(st.sampled_from(['"', "'", "`", "*", "\n2", " 😀", "<b>", "$", "|"]))
    if how == "truncated":
        return name[:6]
    if how == "bracketed":
        return f"Q{draw(st.integers(1, 40))} [{name}]"
    if how == "blank" and not kind.startswith("outcome"):  # a survey needs its outcome named
        return ""
    if how == "spaces":
        return f"  {name} "
    return name


@st.composite
def columns(draw: st.DrawFn) -> list[Column]:
    """The columns of one survey: usually an outcome and a few ratings among the rest."""
    shape = draw(st.sampled_from(["survey"] * 8 + ["one column", "no outcome"]))
    mess = st.sampled_from([0.0, 0.0, 0.02, 0.1, 0.3])
    blanks = st.sampled_from([0.0, 0.0, 0.05, 0.3])
    if shape == "one column":
        kind = draw(st.sampled_from(["outcome_scale", "rating", "text", "time", "date"]))
        return [Column(kind, _header(draw, kind), draw(mess), draw(blanks))]
    kinds = draw(st.lists(st.sampled_from(KINDS), min_size=0, max_size=7))
    if shape == "survey":  # an outcome and a few ratings among the rest, in any order
        outcomes = ["outcome_scale"] * 3 + ["outcome_yesno", "outcome_text", "outcome_nps"]
        kinds.append(draw(st.sampled_from(outcomes)))
        kinds += ["rating"] * draw(st.integers(2, 6))
        kinds = draw(st.permutations(kinds))
    elif not kinds:
        kinds = ["rating"]
    cols = [Column(k, _header(draw, k), draw(mess), draw(blanks)) for k in kinds]
    if draw(st.booleans()) and len(cols) > 1:  # a duplicate header
        i, j = draw(st.integers(0, len(cols) - 1)), draw(st.integers(0, len(cols) - 1))
        cols[j] = Column(cols[j].kind, cols[i].header, cols[j].mess, cols[j].blanks)
    return cols


ENCODINGS = ("utf-8", "utf-8", "utf-8-sig", "utf-16", "cp1252")


@st.composite
def messy_surveys(draw: st.DrawFn, max_rows: int = 80) -> tuple[bytes, str]:
    """One messy survey file as (bytes, filename)."""
    cols = draw(columns())
    rows = draw(st.sampled_from([max_rows] * 5 + [30, 5, 2, 1]))
    rng = random.Random(draw(st.integers(0, 2**32 - 1)))  # the cells: cheap, and varied
    sep = draw(st.sampled_from([",", ",", ";", "\t"]))
    newline = draw(st.sampled_from(["\n", "\r\n"]))
    encoding = draw(st.sampled_from(ENCODINGS))
    scale = draw(st.sampled_from(SCALES))
    data = [_cells(rng, c, rows, scale) for c in cols]
    buf = io.StringIO()
    w = csv.writer(buf, delimiter=sep, lineterminator=newline)
    w.writerow([c.header for c in cols])
    header_rows = draw(st.sampled_from([0] * 6 + [1, 2]))
    if header_rows:  # a Qualtrics export's question text, then its ImportId row
        w.writerow([f"{c.header or 'Question'} - how would you rate it?" for c in cols])
    if header_rows > 1:
        w.writerow([f'{{"ImportId":"QID{i + 1}"}}' for i in range(len(cols))])
    ragged = draw(st.sampled_from([False] * 6 + [True]))
    for r in range(rows):
        cells = [d[r] for d in data]
        if ragged and len(cells) > 1 and rng.random() < 0.1:  # a short or a long row
            cells = cells[:-1] if rng.random() < 0.5 else [*cells, "extra"]
        w.writerow(cells)
    text = buf.getvalue()
    name = draw(st.sampled_from(["survey.csv", "export.csv", "Umfrage (final).csv", "data.txt"]))
    if sep == "\t" and draw(st.booleans()):
        name = "survey.tsv"
    return text.encode(encoding, errors="replace"), name


def describe(data: bytes, name: str) -> str:
    """What an example holds, for a failure's message: its name, size and first lines."""
    head = data[:300]
    return f"{name}: {len(data):,} bytes, starting {head!r}"
