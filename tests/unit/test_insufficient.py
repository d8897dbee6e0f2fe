"""Insufficient means no number (issue 23, item 10): a segment (or a touchpoint) the data
cannot support shows no penalty, reward, range of impact, IA, risk, upside, at-stake,
just-enough or what-if figure anywhere: the engine leaves them NaN with the reason, and the
what-if says why instead of predicting. On the Kansas City survey by council district, whose
districts (149-212 respondents) are below the 10 x 47 = 470 a 47-touchpoint fit needs."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest

from cmot.present.report import matrix_table
from cmot.results.moments import MomentsResult, find_moments
from cmot.results.summary import action_plan
from cmot.results.whatif import predict_what_if
from cmot.store.datasets import Store
from tests.app.kc import ingest_kc, kc_csv

# Every figure an insufficient row must not carry (descriptives such as n, mean and the boxes
# stay: they describe the ratings, not an effect the data cannot support).
FIGURES = [
    "low_coef",
    "high_coef",
    "penalty",
    "reward",
    "penalty_se",
    "reward_se",
    "penalty_lo",
    "penalty_hi",
    "reward_lo",
    "reward_hi",
    "penalty_p",
    "reward_p",
    "ris",
    "ris_se",
    "ia",
    "ia_lo",
    "ia_hi",
    "risk",
    "upside",
    "just_enough",
    "at_stake",
]


@pytest.fixture(scope="module")
def kc_result(tmp_path_factory: pytest.TempPathFactory) -> MomentsResult:
    kc_csv()
    store = Store(tmp_path_factory.mktemp("store"))
    info = ingest_kc(store, "kc")
    return find_moments(store.cursor(), info.table, info.spec, ["counci"])


def test_insufficient_segments_carry_no_figure(kc_result: MomentsResult) -> None:
    segs = kc_result.segments.set_index("segment")
    assert not segs.loc["All", "insufficient"]
    districts = [s for s in segs.index if s != "All"]
    assert districts == ["1", "2", "3", "4", "5", "6"]
    assert segs.loc[districts, "insufficient"].all()
    m = kc_result.moments
    short = m[m.segment.isin(districts)]
    assert len(short) == 6 * 47
    for col in FIGURES:
        assert short[col].isna().all(), col
    assert not short.ris_significant.any() and not short.mot.any()
    # The reason says why, and the descriptives stay.
    assert short.reason.str.contains("needs at least 470").all()
    assert short["mean"].notna().any() and (short.n > 0).all()
    # The whole sample keeps its numbers where it has a result.
    whole = m[(m.segment == "All") & ~m.insufficient.astype(bool)]
    assert len(whole) > 0 and whole.penalty.notna().all() and whole.ris.notna().all()


def test_every_insufficient_row_carries_no_figure(kc_result: MomentsResult) -> None:
    """A touchpoint insufficient in a segment that has enough data (a thin low or high cell)
    reads like its class: no figure either."""
    m = kc_result.moments
    short = m[m.insufficient.astype(bool)]
    thin = short[short.segment == "All"]
    assert len(thin) > 0, "Kansas City's whole sample has thin cells at some touchpoints"
    for col in FIGURES:
        assert short[col].isna().all(), col


def test_what_if_of_an_insufficient_segment_says_why(kc_result: MomentsResult) -> None:
    w = predict_what_if(kc_result, "6", "q3_01", "bottom_to_middle", 0.5)
    for value in (w.predicted, w.delta, w.delta_lo, w.delta_hi):
        assert math.isnan(value)
    assert "needs at least 470" in w.reason
    # The whole sample predicts as before, with no reason.
    m = kc_result.moments
    ok = m[(m.segment == "All") & ~m.insufficient.astype(bool)].column.iloc[0]
    fine = predict_what_if(kc_result, "All", ok, "bottom_to_middle", 0.5)
    assert math.isfinite(fine.predicted) and fine.reason == ""


def test_action_plan_and_report_matrix_show_no_amount(kc_result: MomentsResult) -> None:
    plan = action_plan(kc_result, "6")
    assert plan.stake.isna().all()
    assert set(plan.action) == {"collect more responses"}
    table = matrix_table(kc_result, ["All", "6"])
    assert not table["6"].str.contains(r"\d", regex=True).any(), table["6"].head()


def test_a_synthetic_small_segment_too(tmp_path: Path) -> None:
    """The same rule without the real file: 20 respondents of 400 (4 touchpoints need 40)."""
    import duckdb

    from tests.unit.moments_fixtures import make_spec, register_frame, synthetic_frame

    frame: pd.DataFrame = synthetic_frame(400, seed=1, segments=("A",) * 19 + ("B",))
    con = duckdb.connect()
    register_frame(con, frame)
    tps = tuple(c for c in frame.columns if c.startswith("t"))
    result = find_moments(con, "survey", make_spec(tps), "seg")
    b = result.moments[result.moments.segment == "B"]
    assert (b["class"] == "insufficient").all()
    for col in FIGURES:
        assert b[col].isna().all(), col
    a = result.moments[(result.moments.segment == "A") & ~result.moments.insufficient]
    assert a.penalty.notna().all()


# ---- declared no-answer codes are never segments (issue 23, item 6) ----------------------


def test_no_answer_values_are_codes_beside_the_values() -> None:
    from cmot.ingest.answers import no_answer_values

    # Kansas City's q34_d (1, 2, 9 with 9 = don't know): 9 sits beside the answers.
    assert no_answer_values(["1", "2", "9"], (9, 99)) == ("9",)
    assert no_answer_values(["1.0", "2.0", "3.0", "9.0"], (9,)) == ("9.0",)
    assert no_answer_values(["1", "2", "NA"], ("NA", 9)) == ("NA",)
    assert no_answer_values(["-1", "1", "2", "3"], (-1,)) == ("-1",)
    # San Diego's district 1-9 while 9 = don't know in the ratings: district 9 is a district.
    assert no_answer_values([str(i) for i in range(1, 10)], (9,)) == ()
    assert no_answer_values(["North", "South"], (9, 99)) == ()
    assert no_answer_values(["1", "2"], ()) == ()


def test_a_segment_value_declared_no_answer_counts_in_all_but_is_no_segment() -> None:
    import duckdb

    from cmot.engine.view import View, view_sql
    from tests.unit.moments_fixtures import make_spec, register_frame, synthetic_frame

    frame = synthetic_frame(900, seed=2, segments=("1", "2", "9"))
    con = duckdb.connect()
    register_frame(con, frame)
    tps = tuple(c for c in frame.columns if c.startswith("t"))
    q = view_sql(View("survey", segmentation=("seg",), no_answer=(("seg", ("9",)),)))
    result = find_moments(con, q.relation, make_spec(tps), list(q.columns), params=q.params)
    segs = result.segments.set_index("segment")
    assert list(segs.index) == ["All", "1", "2"]
    assert segs.loc["All", "n"] == 900 and segs.loc[["1", "2"], "n"].sum() < 900


def test_a_blank_is_no_answer_and_a_blank_codes_label_is_saved_trimmed() -> None:
    from cmot.ingest.answers import no_answer_values
    from cmot.ingest.mapping_rules import finalize_spec
    from cmot.spec import JourneySpec, Outcome, Stage, Touchpoint, default_scale

    assert no_answer_values([" ", "North", "South"], ()) == (" ",)
    spec = JourneySpec(
        stages=(Stage("J", ("q1",)),),
        touchpoints=(Touchpoint("q1"),),
        scale=default_scale(1, 5),
        outcome=Outcome("y", "scale", min=1, max=5),
        segments=("region",),
        attributes=("region", "band"),
    )
    out = finalize_spec(
        spec,
        outcome=spec.outcome,
        weight=None,
        display={},
        value_labels={"region": {" ": "Not stated", "North": "N"}},
        segment="band",
    )
    # Ingest compares trimmed text: the blank code's label is kept under "".
    assert out.labels["region"] == {"": "Not stated", "North": "N"}
    # The segment column the analyst picked comes first.
    assert out.segments == ("band", "region")


def test_the_default_segmentation_is_never_a_date_or_an_id() -> None:
    from cmot.spec import JourneySpec, Outcome, Stage, Touchpoint, default_scale
    from cmot.ui.frame import WHOLE
    from cmot.ui.sidebar import default_segmentation

    def spec(*segments: str, date: str | None = None) -> JourneySpec:
        return JourneySpec(
            stages=(Stage("J", ("q1",)),),
            touchpoints=(Touchpoint("q1"),),
            scale=default_scale(1, 5),
            outcome=Outcome("y", "scale", min=1, max=5),
            segments=segments,
            attributes=segments,
            date_column=date,
        )

    assert default_segmentation(spec("counci", "method")) == "counci"
    assert default_segmentation(spec()) == WHOLE
    assert default_segmentation(spec("InterviewDate", "region")) == WHOLE
    assert default_segmentation(spec("when", date="when")) == WHOLE
    assert default_segmentation(spec("respondent_id")) == WHOLE
