"""One amount at stake: the rule, and every place that shows it agreeing with the engine.

The Overview cards, the "Most at stake" list, the action plan, the report and the command
line's summary.md must all show `MomentsResult.moments.at_stake` for every moment of truth
of every segment (docs/METHODS.md, "What is at stake").
"""

from __future__ import annotations

import math
import re
import tempfile
from collections.abc import Iterator

import duckdb
import pandas as pd
import pytest

from cmot.cli.analyze import write_summary
from cmot.present import report
from cmot.results.classes import CLASSES
from cmot.results.compare import compare_all, find_flips
from cmot.results.moments import MomentsResult, find_moments
from cmot.results.stakes import STAKE_BASIS, at_stake, risk_and_upside
from cmot.results.summary import action_plan, amount, top_stakes
from cmot.store.datasets import Store
from cmot.store.demo import ensure_demo
from cmot.ui.widgets import card_rows
from tests.unit.moments_fixtures import AIRLINE, AIRLINE_SEGMENTS, load_airline

NAN = math.nan

# ---- the rule ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cls", "risk", "upside", "value", "basis"),
    [
        ("vulnerability", 0.1, 0.3, 0.1, "risk"),
        ("opportunity", 0.1, 0.3, 0.3, "upside"),
        ("hybrid", 0.1, 0.3, 0.4, "risk + upside"),
        ("low impact", 0.1, 0.3, NAN, ""),
        ("insufficient", 0.1, 0.3, NAN, ""),
        ("vulnerability", NAN, 0.3, NAN, ""),  # its risk is not a number: nothing to show
        ("opportunity", NAN, 0.3, 0.3, "upside"),  # the risk it does not count is no matter
        ("hybrid", 0.1, NAN, NAN, ""),
        ("insufficient", NAN, NAN, NAN, ""),
        ("vulnerability", 0.0, 0.3, 0.0, "risk"),  # zero is an amount, not nothing
    ],
)
def test_at_stake_follows_the_class(
    cls: str, risk: float, upside: float, value: float, basis: str
) -> None:
    got, got_basis = at_stake(cls, risk, upside)
    assert got_basis == basis
    assert (math.isnan(got) and math.isnan(value)) or got == pytest.approx(value)


def test_every_class_has_a_rule() -> None:
    assert set(STAKE_BASIS) <= set(CLASSES)
    for cls in CLASSES:
        value, basis = at_stake(cls, 0.1, 0.2)
        assert (basis == "") == (cls not in STAKE_BASIS) == math.isnan(value)


def test_risk_and_upside_are_shares_of_the_whole_segment() -> None:
    # 20 of 100 (weighted) in the bottom box, 80 rated, 30 in the top box.
    assert risk_and_upside(0.5, 0.2, 20.0, 80.0, 30.0, 100.0) == pytest.approx((0.1, 0.1))
    assert all(math.isnan(v) for v in risk_and_upside(0.5, 0.2, 0.0, 0.0, 0.0, 0.0))


# ---- every consumer agrees with the engine ------------------------------------------------


@pytest.fixture(scope="module")
def demo_result() -> Iterator[MomentsResult]:
    with tempfile.TemporaryDirectory() as d:
        store = Store(f"{d}/s.duckdb")
        info = ensure_demo(store)
        yield find_moments(store.cursor(), info.table, info.spec, "Segment")
        from cmot.store import directory as store_mod

        store_mod.close_all()


@pytest.fixture(scope="module")
def airline_result() -> MomentsResult:
    if not AIRLINE.exists():
        pytest.skip(f"the real airline survey is not at {AIRLINE} (../shared beside the repo)")
    con = duckdb.connect()
    spec = load_airline(con)
    # Weighted, and by all three columns: small segments are insufficient, some moments hybrid.
    con.execute("CREATE TABLE airline_w AS SELECT * REPLACE (wt AS __cmot_w) FROM airline")
    return find_moments(con, "airline_w", spec, list(AIRLINE_SEGMENTS))


@pytest.fixture(params=["demo", "airline"])
def result(request: pytest.FixtureRequest) -> MomentsResult:
    return request.getfixturevalue(f"{request.param}_result")  # type: ignore[no-any-return]


Key = tuple[str, str]  # (segment, touchpoint)


def expected(result: MomentsResult) -> dict[Key, str]:
    """Every moment of truth of every segment, with its amount at stake as shown."""
    m = result.moments
    assert m.at_stake.notna().eq(m.mot & ~m.insufficient).all()  # a stake iff a moment
    return {
        (str(r.segment), str(r.touchpoint)): amount(r.at_stake, result.unit)
        for r in m[m.at_stake.notna()].itertuples()
    }


def segments(result: MomentsResult) -> list[str]:
    return [str(s) for s in result.segments.segment]


def test_the_engine_column_is_the_rule(result: MomentsResult) -> None:
    m = result.moments
    for cls, risk, upside, got, got_basis in zip(
        m["class"], m.risk, m.upside, m.at_stake, m.stake_basis, strict=True
    ):
        value, basis = at_stake(cls, risk, upside)
        assert got_basis == basis
        assert (math.isnan(value) and math.isnan(got)) or got == value
    hybrids = m[m["class"] == "hybrid"]
    assert len(hybrids), "both surveys have a hybrid: risk + upside is exercised"
    assert (hybrids.at_stake == hybrids.risk + hybrids.upside).all()


def test_overview_cards_show_the_engine_stake(result: MomentsResult) -> None:
    full, short = card_rows(result, segments(result))
    shown = {(c.segment, tp): text for c in full for _, tp, text, _ in c.moments}
    assert len(shown) == sum(len(c.moments) for c in full)  # each moment once
    assert shown == expected(result)
    assert not any(c.moments for c in short)


def test_most_at_stake_lists_each_moment_once_by_the_engine_stake(result: MomentsResult) -> None:
    want = expected(result)
    top = top_stakes(result, segments(result), n=len(result.moments))
    assert {"segment", "touchpoint", "class", "at_stake", "stake_basis"} <= set(top.columns)
    keys = list(zip(top.segment, top.touchpoint, strict=True))
    assert len(keys) == len(set(keys))
    assert {k: amount(v, result.unit) for k, v in zip(keys, top.at_stake, strict=True)} == want
    assert top.at_stake.is_monotonic_decreasing
    assert top.stake_basis.isin(STAKE_BASIS.values()).all()
    assert len(top_stakes(result, segments(result), n=3)) == min(3, len(want))


def test_the_report_lists_what_top_stakes_gives(result: MomentsResult) -> None:
    segs = segments(result)
    rep = report.Report(
        title="t", dataset="d", segmentation="s", segments=tuple(segs), filters="",
        headline="h", stakes=top_stakes(result, segs, n=len(result.moments)),
        matrix=pd.DataFrame(), differences=pd.DataFrame(), flips=(), charts=(), result=result,
    )  # fmt: skip
    lines = report.stake_lines(rep)
    assert len(lines) == len(expected(result))
    for line, s in zip(lines, rep.stakes.itertuples(), strict=True):
        assert f" {s.touchpoint} for {s.segment}: {amount(s.at_stake, result.unit)} (" in line


def test_action_plan_shows_the_engine_stake(result: MomentsResult) -> None:
    shown: dict[Key, str] = {}
    for seg in segments(result):
        plan = action_plan(result, seg)
        for r in plan.itertuples():
            if math.isnan(r.stake):
                assert r.action in ("monitor", "collect more responses") and r.stake_basis == ""
            else:
                shown[(seg, str(r.touchpoint))] = amount(r.stake, result.unit)
        # Nothing at stake comes last.
        assert plan.stake.isna().tolist() == sorted(plan.stake.isna().tolist())
    assert shown == expected(result)


def test_cli_summary_shows_the_engine_stake(result: MomentsResult) -> None:
    text = write_summary(result, compare_all(result), find_flips(result), "survey.csv")
    shown: dict[Key, str] = {}
    seg, column = "", -1
    for line in text.splitlines():
        if line.startswith("## "):
            head = re.fullmatch(r"## (.*) \(n = [\d,]+\)", line)
            seg = head.group(1) if head else ""  # "How the segments differ" has no table
        elif line.startswith("| touchpoint |"):
            column = [c.strip() for c in line.strip("|").split("|")].index("at stake")
        elif line.startswith("| ") and seg:
            cells = [c.strip() for c in line.strip("|").split("|")]
            shown[(seg, cells[0])] = cells[column]
    assert shown == expected(result)
