"""The what-if in words (issue 28, item 7) and the context sentence (item 5), pure parts.

The words follow the prediction's interval (no clear change when it spans zero), and relate
the change to the amount at stake computed apart, in cmot.results.stakes: every low rater of a
vulnerability moved to the middle recovers exactly its risk, its amount at stake.
"""

from __future__ import annotations

import math

import duckdb
import pytest

from cmot.present.context import context_sentence
from cmot.results import moments as M
from cmot.results.summary import amount
from cmot.results.whatif import StakeRow, WhatIf, describe_what_if, predict_what_if, verdict
from tests.unit.test_moments import demo_table

PTS = "percentage points"


def _w(delta: float, lo: float, hi: float, moved: float = 0.2, **kw: object) -> WhatIf:
    base = {
        "segment": "Retail",
        "touchpoint": "Pricing clarity",
        "move": "middle_to_top",
        "share": 0.5,
        "moved": moved,
        "baseline": 0.56,
        "predicted": 0.56 + delta,
        "delta": delta,
        "delta_lo": lo,
        "delta_hi": hi,
    }
    return WhatIf(**{**base, **kw})  # type: ignore[arg-type]


def test_the_verdict_follows_the_interval() -> None:
    assert verdict(_w(-0.004, -0.029, 0.021)) == "no clear change"
    assert verdict(_w(0.012, 0.004, 0.020)) == "a clear rise"
    assert verdict(_w(-0.012, -0.020, -0.004)) == "a clear fall"
    assert verdict(_w(0.0, 0.0, 0.0, moved=0.0)) == "no one to move"
    assert verdict(_w(0.0, 0.0, 0.0)) == "no clear change"  # an interval of 0 spans zero


def test_the_words_say_today_the_prediction_and_its_interval() -> None:
    # The case: Pricing clarity's middle raters to the top 'lowered' the outcome.
    words = describe_what_if(_w(-0.004, -0.029, 0.021), PTS, "Would hire again")
    assert words.today == "56.0%" and words.predicted == "55.6%"
    assert words.change == "-0.4 pts (95% interval -2.9 to +2.1 pts)"
    assert words.sentence == (
        "Would hire again today: 56.0% for Retail. If 50% of Pricing clarity's middle raters "
        "moved to the top box (20% of the segment), the model predicts 55.6%, -0.4 pts (95% "
        "interval -2.9 to +2.1 pts): no clear change (the interval spans zero: the data "
        "cannot tell this move from none)."
    )
    score = describe_what_if(_w(0.12, 0.05, 0.19), "points", "Satisfaction", alpha=0.1)
    assert score.today == "0.56" and "90% interval +0.05 points to +0.19 points" in score.change
    assert "a clear rise." in score.sentence
    none = describe_what_if(
        _w(math.nan, math.nan, math.nan, moved=math.nan, reason="needs at least 470"),
        PTS,
        "Would hire again",
    )
    assert none.predicted == "–" and none.verdict == "no prediction"
    assert "No prediction" in none.sentence and "needs at least 470" in none.sentence


def test_the_words_relate_the_change_to_what_is_at_stake() -> None:
    vul = StakeRow("vulnerability", at_stake=0.032, risk=0.032, upside=0.010)
    w = _w(0.016, 0.001, 0.031, move="bottom_to_middle")
    said = describe_what_if(w, PTS, "Would hire again", vul).stake
    assert said.startswith("That is 50% of 3.2 pts, the outcome the low ratings cost today")
    assert "Pricing clarity's amount at stake as a vulnerability is 3.2 pts" in said
    up = describe_what_if(_w(0.009, -0.016, 0.034), PTS, "Would hire again", vul).stake
    assert "That is 90% of 1.0 pts, still to gain" in up
    assert "as a vulnerability its amount at stake, 3.2 pts, counts the low ratings" in up
    flat = StakeRow("low impact", at_stake=math.nan, risk=0.0, upside=0.0)
    assert "Nothing is at stake" in describe_what_if(w, PTS, "Would hire again", flat).stake


@pytest.fixture(scope="module")
def demo() -> M.MomentsResult:
    con = duckdb.connect()
    d = demo_table(con)
    return M.find_moments(con, "demo", d.spec, "Segment")


def test_all_low_raters_to_the_middle_recover_the_amount_at_stake(demo: M.MomentsResult) -> None:
    m = demo.moments
    vuls = m[(m["class"] == "vulnerability") & (m.segment != "All")]
    assert len(vuls) >= 3
    for r in vuls.itertuples():
        w = predict_what_if(demo, str(r.segment), str(r.touchpoint), "bottom_to_middle", 1.0)
        assert w.delta == pytest.approx(
            r.at_stake, rel=1e-9
        )  # cmot.results.stakes computed it apart
        row = StakeRow("vulnerability", r.at_stake, r.risk, r.upside)
        said = describe_what_if(w, demo.unit, "Outcome", row).stake
        assert said.startswith(f"That is 100% of {amount(r.at_stake, demo.unit)}")


def test_the_context_sentence() -> None:
    got = context_sentence("demo", 3, "Region", "Region in North", "none", "unweighted")
    assert (
        got
        == "demo v3 · segments by Region · each segment alone · only Region in North · unweighted"
    )
    whole = context_sentence("airline", None, "", "", "partial", "weighted by w")
    assert whole == "airline · whole sample, no segments · all respondents · weighted by w"
    pooled = context_sentence("demo", 1, "Segment", "", "partial", "unweighted")
    assert "segments by Segment · partial pooling across segments · all respondents" in pooled
