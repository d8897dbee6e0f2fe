"""Hypothesis: random mappings and merges of real surveys give a dataset or a CmotError."""

from __future__ import annotations

import csv
from functools import cache
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from cmot.errors import CmotError
from cmot.ingest.guesses import ROLES
from cmot.ingest.options import IngestOptions
from cmot.ingest.pipeline import Prepared, read_csv
from cmot.spec import OTHER, OUTCOME_KINDS
from tests.conftest import SHARED

DATA = SHARED / "data"
FILES = (
    DATA / "naples-orientation" / "univer_2002.csv",
    DATA / "airline-touchpoints" / "airline_survey_1to4.csv",
    DATA / "mobile-providers" / "corporate_reputation.csv",
    DATA / "abc-b2b-customer" / "abc.csv",
    DATA / "kansas-city-resident" / "wave_2021_09.csv",
)
OUTCOMES = {
    "univer_2002.csv": "global",
    "airline_survey_1to4.csv": "o_experience",
    "corporate_reputation.csv": "cusa",
    "abc.csv": "q1",
    "wave_2021_09.csv": "q2_01",
}
PATTERNS = {  # some match, some do not
    "univer_2002.csv": ["*o*", "informat", "x*"],
    "airline_survey_1to4.csv": ["o_*", "o_c*", "Q7*"],
    "corporate_reputation.csv": ["csor_*", "qual_?", "*_global", "q*"],
    "abc.csv": ["q1?", "qi*", "var *", "customer seniority (years)"],
    "wave_2021_09.csv": ["q3_*", "q1_0[12]", "q9*", "Q7*"],
}
SETTINGS = settings(
    max_examples=50,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

pytestmark = pytest.mark.skipif(
    not all(f.exists() for f in FILES), reason=f"the real surveys are not under {DATA}"
)


@cache
def header(path: Path) -> tuple[str, ...]:
    with path.open(newline="", encoding="utf-8") as f:
        first = f.readline()
    sep = ";" if first.count(";") > first.count(",") else ","
    names = next(csv.reader([first], delimiter=sep))
    return tuple(n.strip() or "column0" for n in names)


@cache
def values(path: Path, column: str) -> tuple[str, ...]:
    """A few of the values a column holds, for merges that touch real codes."""
    names = header(path)
    sep = ";" if "corporate" in path.name else ","
    i = names.index(column)
    seen: dict[str, None] = {}
    with path.open(newline="", encoding="utf-8") as f:
        for row in list(csv.reader(f, delimiter=sep))[1:300]:
            if i < len(row):
                seen[row[i].strip()] = None
    return tuple(list(seen)[:12])


def check(path: Path, opts: IngestOptions) -> None:
    try:
        p = read_csv(path, opts)
    except CmotError as e:
        assert str(e) and "Traceback" not in str(e)
        event(f"refused: {str(e)[:40]}")
    else:
        event("a dataset")
        assert isinstance(p, Prepared)
        assert p.data.num_rows == p.report.rows_kept > 0
        assert set(p.spec.touchpoint_columns) <= set(p.data.column_names)


@st.composite
def mapping(draw: st.DrawFn) -> tuple[Path, IngestOptions]:
    path = draw(st.sampled_from(FILES))
    cols = header(path)
    picked = draw(st.lists(st.sampled_from(cols), max_size=6, unique=True))
    roles = {c: draw(st.sampled_from(ROLES)) for c in picked}
    known = OUTCOMES[path.name]
    outcome = draw(st.one_of(st.none(), st.just(known), st.just(known), st.sampled_from(cols)))
    kind = draw(st.one_of(st.none(), st.sampled_from(OUTCOME_KINDS)))
    touchpoints = draw(
        st.one_of(
            st.none(),
            st.lists(
                st.one_of(st.sampled_from(cols), st.sampled_from(PATTERNS[path.name])),
                min_size=1,
                max_size=3,
            ).map(tuple),
        )
    )
    missing = draw(
        st.one_of(
            st.none(),
            st.lists(st.sampled_from([0, 6, 9, 99, -99, 11, "NA", "Blank", 1]), max_size=3).map(
                tuple
            ),
        )
    )
    weight = draw(st.one_of(st.none(), st.just("none"), st.sampled_from(cols)))
    positive = draw(st.one_of(st.none(), st.sampled_from([("1",), ("5",), ("yes",)])))
    rng = draw(st.one_of(st.none(), st.sampled_from([(1.0, 5.0), (0.0, 10.0), (1.0, 7.0)])))
    opts = IngestOptions(
        roles=roles,
        outcome=outcome,
        outcome_kind=kind,
        touchpoints=touchpoints,
        missing=missing,
        weight=weight,
        positive=positive,
        outcome_range=rng,
    )
    return path, opts


@pytest.mark.slow  # 50 hypothesis mappings on real surveys: ~25 s
@SETTINGS
@given(case=mapping())
def test_random_role_mappings_give_a_dataset_or_a_clear_error(
    case: tuple[Path, IngestOptions],
) -> None:
    check(*case)


@st.composite
def merges(draw: st.DrawFn) -> tuple[Path, IngestOptions]:
    path = draw(st.sampled_from(FILES))
    cols = header(path)
    labels: dict[str, dict[str, str]] = {}
    for col in draw(st.lists(st.sampled_from(cols), min_size=1, max_size=3, unique=True)):
        codes = values(path, col) + (OTHER, "", "NA", "99")
        keys = draw(st.lists(st.sampled_from(codes), min_size=1, max_size=6, unique=True))
        names = st.sampled_from(["Business", "Leisure", "Other", "", "1", "=x", 'a"b'])
        labels[col] = {k: draw(names) for k in keys}
    return path, IngestOptions(outcome=OUTCOMES[path.name], labels=labels)


@pytest.mark.slow  # 50 hypothesis merges on real surveys: ~85 s
@SETTINGS
@given(case=merges())
def test_random_segment_merges_give_a_dataset_or_a_clear_error(
    case: tuple[Path, IngestOptions],
) -> None:
    check(*case)
