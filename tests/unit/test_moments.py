"""The moments-of-truth engine against statsmodels, planted truth and its guardrails."""

from __future__ import annotations

import math

import duckdb
import numpy as np
import pandas as pd
import pytest

from cmot.engine import blocks
from cmot.errors import CmotError
from cmot.names import quote_ident
from cmot.results import classes, sensitivity, whatif
from cmot.results import moments as M
from cmot.results.moments import Settings
from tests.unit.moments_fixtures import (
    AIRLINE,
    AIRLINE_SEGMENTS,
    AIRLINE_TOUCHPOINTS,
    load_airline,
    make_spec,
    register_frame,
    synthetic_frame,
)

needs_airline = pytest.mark.skipif(
    not AIRLINE.exists(),
    reason=f"the real airline survey is not at {AIRLINE} (it lives outside the repository)",
)


@pytest.fixture(scope="module")
def airline() -> tuple[duckdb.DuckDBPyConnection, object, pd.DataFrame]:
    if not AIRLINE.exists():
        pytest.skip(f"the real airline survey is not at {AIRLINE}")
    con = duckdb.connect()
    spec = load_airline(con)
    con.execute("CREATE TABLE airline_w AS SELECT * REPLACE (wt AS __cmot_w) FROM airline")
    frame = con.execute("SELECT * FROM airline ORDER BY __cmot_row").df()
    return con, spec, frame


def reference_design(frame: pd.DataFrame, touchpoints: tuple[str, ...]) -> pd.DataFrame:
    """The PRCA design built independently in pandas, named as the engine names it."""
    cols: dict[str, pd.Series | float] = {}
    for c in touchpoints:
        cols[f"low {c}"] = (frame[c].le(2) & frame[c].notna()).astype(float)
    for c in touchpoints:
        cols[f"high {c}"] = frame[c].ge(5).fillna(False).astype(float)
    cols["intercept"] = 1.0
    for c in touchpoints:
        cols[f"missing {c}"] = frame[c].isna().astype(float)
    return pd.DataFrame(cols, index=frame.index)


def check_against_statsmodels(
    stats: M.SufficientStats, frame: pd.DataFrame, weights: str | None
) -> tuple[float, float]:
    import statsmodels.api as sm

    lay = stats.layout
    names = lay.column_names(stats.names)
    worst_b = worst_se = 0.0
    result = M.classify_moments(stats)
    for seg in stats.segments:
        if stats.segmentation:
            col = stats.segmentation[0]
            part = frame if seg.segment == M.ALL else frame[frame[col] == seg.segment]
        else:
            part = frame
        x = reference_design(part, AIRLINE_TOUCHPOINTS)
        kept = [names[i] for i in seg.kept]
        gram = x.T @ x  # ranks from the small cross-product matrix
        assert np.linalg.matrix_rank(gram.loc[kept, kept].to_numpy()) == len(kept)
        for c, _ in seg.dropped:  # dropped: empty, or making the design rank deficient
            trial = gram.loc[[*kept, names[c]], [*kept, names[c]]].to_numpy()
            assert x[names[c]].sum() == 0 or np.linalg.matrix_rank(trial) == len(kept)
        y = part["__cmot_y"]
        model = sm.WLS(y, x[kept], weights=part[weights]) if weights else sm.OLS(y, x[kept])
        ref = model.fit(cov_type="HC3")
        fit = result.fits[seg.segment]
        beta = pd.Series(fit.beta, index=names)[kept]
        se = pd.Series(np.sqrt(np.diag(fit.cov)), index=names)[kept]
        defined = se.notna()  # HC3 is undefined for a column holding one respondent
        assert (x[kept].sum()[~defined] <= 1).all()
        worst_b = max(worst_b, float((beta - ref.params).abs().max()))
        worst_se = max(worst_se, float((se[defined] - ref.bse[defined]).abs().max()))
    return worst_b, worst_se


@needs_airline
@pytest.mark.parametrize(
    "segmentation",
    # The whole survey in the quick loop; each segmentation of its 103,904 respondents (7-8 s
    # each on a busy machine) in the full suite.
    [None, *(pytest.param(s, marks=pytest.mark.slow) for s in AIRLINE_SEGMENTS)],
)
def test_prca_equals_statsmodels_ols_hc3_on_airline(airline, segmentation) -> None:
    con, spec, frame = airline
    stats = M.compute_stats(con, "airline", spec, segmentation)
    worst_b, worst_se = check_against_statsmodels(stats, frame, None)
    assert worst_b < 1e-8
    assert worst_se < 1e-6


@needs_airline
@pytest.mark.parametrize("segmentation", [None, pytest.param("Class", marks=pytest.mark.slow)])
def test_weighted_prca_equals_statsmodels_wls_hc3_on_airline(airline, segmentation) -> None:
    con, spec, frame = airline
    stats = M.compute_stats(con, "airline_w", spec.with_changes(weight_column="wt"), segmentation)
    assert stats.weighted
    worst_b, worst_se = check_against_statsmodels(stats, frame, "wt")
    assert worst_b < 1e-8
    assert worst_se < 1e-6


@needs_airline
def test_portable_sql_aggregation_gives_the_same_sums(airline) -> None:
    con, spec, _ = airline
    spec_w = spec.with_changes(weight_column="wt")
    fast = M.compute_stats(con, "airline_w", spec_w, "Class")
    sql = M.compute_stats(con, "airline_w", spec_w, "Class", engine="sql")
    for a, b in zip(fast.segments, sql.segments, strict=True):
        assert a.segment == b.segment and a.n == b.n
        for x, y in ((a.gram, b.gram), (a.pair, b.pair), (a.levels, b.levels), (a.meat, b.meat)):
            np.testing.assert_allclose(x, y, rtol=1e-9, atol=1e-9)


def demo_table(con: duckdb.DuckDBPyConnection, n_per_segment: int = 1500, seed: int = 7):
    from cmot.store.demo import generate_demo

    demo = generate_demo(n_per_segment=n_per_segment, seed=seed)
    con.register("demo_raw", demo.frame)
    tps = ", ".join(
        f"CASE WHEN {quote_ident(c)} = 0 THEN NULL ELSE {quote_ident(c)} END::TINYINT "
        f"AS {quote_ident(c)}"
        for c in demo.spec.touchpoint_columns
    )
    con.execute(
        f"CREATE OR REPLACE TABLE demo AS SELECT Segment, {tps}, "
        "(\"Would hire again\" = 'Yes')::DOUBLE AS __cmot_y, Weight::DOUBLE AS __cmot_w, "
        'CASE WHEN "Likelihood to recommend" = 11 THEN NULL '
        'ELSE "Likelihood to recommend" END::DOUBLE AS recommend FROM demo_raw'
    )
    con.unregister("demo_raw")
    return demo


@pytest.fixture(scope="module")
def demo():
    con = duckdb.connect()
    d = demo_table(con)
    return con, d, M.find_moments(con, "demo", d.spec, "Segment")


def test_planted_vulnerabilities_and_opportunities_are_found(demo) -> None:
    _, d, result = demo
    got = result.moments.merge(d.truth[["segment", "touchpoint", "planted_class"]])
    planted = got[got.planted_class.isin(["vulnerability", "opportunity"])]
    assert len(planted) == 11
    assert (planted["class"] == planted.planted_class).all(), planted
    # and the planted hybrid, while no unplanted touchpoint is called a vulnerability
    assert (got[got.planted_class == "hybrid"]["class"] == "hybrid").all()
    unplanted = got[got.planted_class == "low impact"]
    assert not unplanted["class"].isin(["vulnerability", "opportunity"]).any()


def test_planted_flips_are_found(demo) -> None:
    from cmot.results.compare import find_flips

    _, d, result = demo
    flips = find_flips(result)
    assert set(flips.touchpoint) == set(d.flips)
    assert flips.sentence.str.contains("vulnerability for").all()


def test_weights_and_unweighted_both_respected(demo) -> None:
    con, d, result = demo
    con.execute("CREATE OR REPLACE TABLE demo_unw AS SELECT * REPLACE (1.0 AS __cmot_w) FROM demo")
    unweighted = M.find_moments(con, "demo_unw", d.spec.with_changes(weight_column=None), "Segment")
    # the demo's weights vary within segments, so the weighted fit differs a little
    diff = (result.moments.penalty - unweighted.moments.penalty).abs().max()
    assert 0 < diff < 0.05
    seg = result.segments.set_index("segment")
    assert seg.loc[M.ALL, "weight_sum"] != seg.loc[M.ALL, "n"]


def test_cached_stats_let_thresholds_change_without_the_data() -> None:
    con = duckdb.connect()
    register_frame(con, synthetic_frame(2000, seed=3, effects={"A": [(0.3, 0.0)] * 4}))
    spec = make_spec(tuple(f"t{j}" for j in range(4)))
    M.clear_cache()
    first = M.compute_stats(con, "survey", spec, "seg", cache_key=("survey", 1))
    con.close()  # any further read would fail
    again = M.compute_stats(con, "survey", spec, "seg", cache_key=("survey", 1))
    assert again is first
    loose = M.find_moments(
        con, "survey", spec, "seg", Settings(vulnerability_ia=-0.99), cache_key=("survey", 1)
    )
    strict = M.find_moments(con, "survey", spec, "seg", cache_key=("survey", 1))
    assert (strict.moments["class"] == "vulnerability").sum() > 0
    assert (loose.moments["class"] == "vulnerability").sum() < (
        strict.moments["class"] == "vulnerability"
    ).sum()
    with pytest.raises(CmotError):
        M.compute_stats(con, "survey", spec, "seg", Settings(low_max=1), cache_key=("survey", 1))


@pytest.mark.parametrize("engine", ["numpy", "sql"])
@pytest.mark.parametrize("keep_blocks", [True, False])
def test_bound_params_filter_like_a_prefiltered_table(
    engine: M.SumsPath, keep_blocks: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A relation with `?` placeholders and its params analyses exactly the rows a table
    filtered beforehand holds: in both engines and when pass 2 reads the data again."""
    if not keep_blocks:
        monkeypatch.setattr(blocks, "_KEEP_BLOCKS_BYTES", 0)
    con = duckdb.connect()
    frame = synthetic_frame(3000, seed=5, segments=("A", "B", "O'Brien"))
    frame["wave"] = np.arange(len(frame)) % 4
    register_frame(con, frame)
    con.execute(
        "CREATE TABLE prefiltered AS SELECT * FROM survey "
        "WHERE seg IN ('A', 'O''Brien') AND wave BETWEEN 1 AND 2"
    )
    spec = make_spec(tuple(f"t{j}" for j in range(4)))
    relation = "(SELECT * FROM survey WHERE seg IN (?, ?) AND wave BETWEEN ? AND ?)"
    params = ["A", "O'Brien", 1, 2]
    M.clear_cache()
    bound = M.compute_stats(con, relation, spec, "seg", params=params, engine=engine)
    direct = M.compute_stats(con, "prefiltered", spec, "seg", engine=engine)
    assert [s.segment for s in bound.segments] == [M.ALL, "A", "O'Brien"]
    for a, b in zip(bound.segments, direct.segments, strict=True):
        assert a.segment == b.segment and a.n == b.n
        for x, y in ((a.gram, b.gram), (a.pair, b.pair), (a.levels, b.levels), (a.meat, b.meat)):
            np.testing.assert_allclose(x, y, rtol=1e-9, atol=1e-9)
    got = M.find_moments(con, relation, spec, "seg", params=params, engine=engine)
    want = M.find_moments(con, "prefiltered", spec, "seg", engine=engine)
    pd.testing.assert_frame_equal(got.moments, want.moments, rtol=1e-9)


def test_cache_key_includes_the_params() -> None:
    con = duckdb.connect()
    register_frame(con, synthetic_frame(2000, seed=3, segments=("A", "B")))
    spec = make_spec(tuple(f"t{j}" for j in range(4)))
    relation = "(SELECT * FROM survey WHERE seg = ?)"
    M.clear_cache()
    a = M.compute_stats(con, relation, spec, "seg", params=["A"], cache_key=("survey", 1))
    b = M.compute_stats(con, relation, spec, "seg", params=["B"], cache_key=("survey", 1))
    assert [s.segment for s in a.segments] == [M.ALL, "A"]
    assert [s.segment for s in b.segments] == [M.ALL, "B"]
    again = M.compute_stats(con, relation, spec, "seg", params=("A",), cache_key=("survey", 1))
    assert again is a


# ---- guardrails ---------------------------------------------------------------------


def analyse(frame: pd.DataFrame, settings: Settings | None = None, **spec_kw) -> M.MomentsResult:
    con = duckdb.connect()
    register_frame(con, frame)
    tps = tuple(c for c in frame.columns if c.startswith("t"))
    return M.find_moments(con, "survey", make_spec(tps, **spec_kw), "seg", settings)


def test_small_segment_is_insufficient_with_its_reason() -> None:
    frame = synthetic_frame(400, seed=1, segments=("A",) * 19 + ("B",))
    result = analyse(frame)
    b = result.moments[result.moments.segment == "B"]
    assert (b["class"] == "insufficient").all()
    assert b.reason.str.contains("needs at least 40").all()
    assert result.segments.set_index("segment").loc["B", "insufficient"]


def test_thin_low_cell_is_insufficient() -> None:
    frame = synthetic_frame(600, seed=2)
    frame.loc[frame.t0 <= 2, "t0"] = 3  # nobody rates t0 low
    frame.loc[frame.index[:5], "t0"] = 1  # ... except five
    result = analyse(frame)
    t0 = result.moments[result.moments.column == "t0"]
    assert (t0["class"] == "insufficient").all()
    assert t0.reason.str.contains("rated it low").all()


def test_empty_column_is_dropped_and_reported() -> None:
    frame = synthetic_frame(800, seed=4, missing=0.0)
    result = analyse(frame)
    assert result.segments.dropped.str.contains("missing t0").all()
    assert (result.segments.reason == "").all()  # everyone rated everything: no warning
    assert result.moments.missing_coef.isna().all()
    assert result.moments.penalty.notna().all()


def test_duplicate_touchpoint_is_aliased_not_a_crash() -> None:
    frame = synthetic_frame(800, seed=5, missing=0.0)
    frame["t3"] = frame["t2"]
    result = analyse(frame)
    seg = result.segments.set_index("segment")
    assert "(combinations of others): low t3, high t3" in seg.loc[M.ALL, "reason"]
    t3 = result.moments[(result.moments.segment == M.ALL) & (result.moments.column == "t3")]
    assert t3.penalty.isna().all() and (t3["class"] == "insufficient").all()
    assert "a combination of other columns" in t3.reason.iloc[0]


def test_significant_wrong_sign_is_reported_with_collinearity() -> None:
    rng = np.random.default_rng(6)
    frame = synthetic_frame(3000, seed=6, missing=0.0)
    # low ratings of t1 *raise* the outcome
    frame["__cmot_y"] = (rng.random(len(frame)) < 0.3 + 0.4 * (frame.t1 <= 2)).astype(float)
    result = analyse(frame)
    t1 = result.moments[(result.moments.segment == M.ALL) & (result.moments.column == "t1")]
    assert t1.wrong_sign.iloc[0] == "penalty"
    assert t1.penalty.iloc[0] == 0
    assert "wrong sign" in t1.reason.iloc[0] and "VIF" in t1.reason.iloc[0]


def test_near_duplicate_touchpoints_flag_collinearity() -> None:
    frame = synthetic_frame(3000, seed=8, missing=0.0)
    frame["t3"] = frame["t2"]
    frame.loc[frame.index[frame.t2 >= 3][:30], "t3"] = 1  # almost the same column
    result = analyse(frame)
    assert result.segments.collinear.all()
    assert result.segments.reason.str.contains("VIF").all()
    t3 = result.moments[result.moments.column == "t3"]
    assert t3.reason.str.contains("collinear: VIF").all()


@pytest.mark.parametrize(
    ("what", "frame_change", "settings", "message"),
    [
        ("rating above the scale", {"t0": 9}, None, "outside the scale"),
        ("negative weight", {"__cmot_w": -1.0}, None, "weights"),
        ("cut-offs crossed", {}, Settings(low_max=4, high_min=3), "cut-offs"),
        ("promoter share of a binary outcome", {}, Settings(measure="promoter"), "recommend"),
    ],
)
def test_bad_input_raises_a_helpful_cmot_error(what, frame_change, settings, message) -> None:
    frame = synthetic_frame(300, seed=9)
    for col, value in frame_change.items():
        frame.loc[frame.index[0], col] = value
    with pytest.raises(CmotError, match=message):
        analyse(frame, settings)


def test_no_outcome_at_all_is_an_error() -> None:
    frame = synthetic_frame(100, seed=9)
    frame["__cmot_y"] = np.nan
    with pytest.raises(CmotError, match="outcome"):
        analyse(frame)


# ---- classification rules, table-driven ------------------------------------------------


def row(ia: float, ris: float = 0.2, sig: bool = True, insufficient: bool = False) -> dict:
    return {
        "ia": ia,
        "ia_lo": ia - 0.3,
        "ia_hi": ia + 0.3,
        "ris": ris,
        "ris_significant": sig,
        "insufficient": insufficient,
        "bottom_box": 0.2,
    }


@pytest.mark.parametrize(
    ("name", "ia", "settings", "expected"),
    [
        ("ia at the vulnerability threshold", -0.2, Settings(), "vulnerability"),
        ("ia just above it is hybrid", -0.19, Settings(), "hybrid"),
        ("ia at the opportunity threshold", 0.2, Settings(), "opportunity"),
        ("wider thresholds make hybrids", 0.25, Settings(opportunity_ia=0.3), "hybrid"),
        ("interval rule: interval holds 0", 0.25, Settings(hybrid_rule="interval"), "hybrid"),
        ("interval rule: interval above 0", 0.5, Settings(hybrid_rule="interval"), "opportunity"),
    ],
)
def test_class_follows_the_ia_rule(name, ia, settings, expected) -> None:
    r = row(ia)
    r["mot"] = True
    assert classes.class_of(r, settings) == expected


def test_moments_of_truth_cover_the_set_share_of_total_ris() -> None:
    rows = [row(-1, 0.4), row(1, 0.3), row(0, 0.2), row(-1, 0.1), row(1, 0.05, sig=False)]
    total, _ = classes.assign_classes(rows, Settings())
    assert total == pytest.approx(1.05)
    # 0.4 + 0.3 = 0.7 >= 0.6 x 1.05: the first two
    assert [r["mot"] for r in rows] == [True, True, False, False, False]
    assert [r["class"] for r in rows] == [
        "vulnerability",
        "opportunity",
        "low impact",
        "low impact",
        "low impact",
    ]
    rows = [row(-1, 0.4), row(1, 0.3, sig=False), row(0, 0.2)]
    classes.assign_classes(rows, Settings())
    assert [r["mot"] for r in rows] == [True, False, True]  # not significant: skipped


def test_insufficient_touchpoints_never_count() -> None:
    rows = [row(-1, 0.9, insufficient=True), row(1, 0.3)]
    total, _ = classes.assign_classes(rows, Settings())
    assert total == pytest.approx(0.3)
    assert [r["class"] for r in rows] == ["insufficient", "opportunity"]
    assert rows[0]["action"] == "collect more responses" and rows[1]["action"] == "grow"


def test_adequate_vulnerability_is_maintained() -> None:
    r = row(-1)
    r["bottom_box"] = 0.05
    classes.assign_classes([r], Settings())
    assert r["class"] == "vulnerability" and r["adequate"] and r["action"] == "maintain"


# ---- what is at stake, importance, outcomes ---------------------------------------------


def test_what_if_equals_the_model_on_changed_data(demo) -> None:
    con, d, result = demo
    seg, tp = "Public agencies", "Invoicing"
    got = whatif.predict_what_if(result, seg, tp, "bottom_to_middle", 1.0)
    q = quote_ident(tp)
    con.execute(
        "CREATE OR REPLACE TABLE demo_fixed AS SELECT * REPLACE "
        f"(CASE WHEN {q} <= 2 THEN 3 ELSE {q} END::TINYINT AS {q}) FROM demo"
    )
    fixed = M.compute_stats(con, "demo_fixed", d.spec, "Segment").segment(seg)
    lay = M.Layout(len(d.spec.touchpoint_columns))
    mean_x = fixed.gram[lay.icpt, : lay.k] / fixed.gram[lay.icpt, lay.icpt]
    expected = float(np.nansum(result.fits[seg].beta * mean_x))
    assert got.predicted == pytest.approx(expected, abs=1e-12)
    assert got.delta > 0.03 and got.delta_lo < got.delta < got.delta_hi
    half = whatif.predict_what_if(result, seg, tp, "bottom_to_middle", 0.5)
    assert half.delta == pytest.approx(got.delta / 2)
    up = whatif.predict_what_if(result, seg, "Project handoff/closeout", "middle_to_top", 0.2)
    assert up.delta > 0
    with pytest.raises(CmotError):
        whatif.predict_what_if(result, seg, tp, "bottom_to_middle", 1.5)


def test_stakes_follow_the_formulas(demo) -> None:
    _, _, result = demo
    m = result.moments
    share_low = m.bottom_box * (1 - m.missing)
    np.testing.assert_allclose(m.risk, m.penalty * share_low, rtol=1e-9)
    np.testing.assert_allclose(m.upside, m.reward * (1 - m.top_box) * (1 - m.missing), rtol=1e-9)


def test_just_enough_sits_on_the_step_of_the_penalty() -> None:
    rng = np.random.default_rng(10)
    n = 4000
    t0 = rng.integers(1, 6, n)
    frame = pd.DataFrame({"seg": "A", "t0": pd.array(t0, dtype="Int8")})
    frame["t1"] = pd.array(rng.integers(1, 6, n), dtype="Int8")
    frame["__cmot_y"] = (rng.random(n) < np.where(t0 >= 3, 0.8, 0.3)).astype(float)
    frame["__cmot_w"] = 1.0
    result = analyse(frame, Settings(low_max=1))
    t0_all = result.moments[(result.moments.column == "t0") & (result.moments.segment == M.ALL)]
    assert t0_all.just_enough.iloc[0] == 3


def test_relative_weights_and_shapley_sum_to_r2() -> None:
    frame = synthetic_frame(3000, seed=11, missing=0.0, effects={"A": [(0.2, 0.1)] * 4})
    result = analyse(frame)
    imp = result.importance[result.importance.segment == M.ALL]
    x = frame[[f"t{j}" for j in range(4)]].astype(float).to_numpy()
    x = np.column_stack([np.ones(len(x)), x])
    y = frame.__cmot_y.to_numpy()
    resid = y - x @ np.linalg.lstsq(x, y, rcond=None)[0]
    r2 = 1 - resid @ resid / ((y - y.mean()) @ (y - y.mean()))
    assert imp.relative_weight.sum() == pytest.approx(r2, rel=1e-9)
    assert imp.shapley.sum() == pytest.approx(r2, rel=1e-9)
    assert (imp.relative_weight > 0).all()


def test_shapley_of_two_predictors_has_the_closed_form() -> None:
    rxx = np.array([[1.0, 0.4], [0.4, 1.0]])
    rxy = np.array([0.5, 0.3])
    r2_full = rxy @ np.linalg.solve(rxx, rxy)
    phi = M.compute_shapley(rxx, rxy)
    assert phi[0] == pytest.approx((0.25 + r2_full - 0.09) / 2)
    assert phi.sum() == pytest.approx(r2_full)


def test_recommend_outcome_as_score_and_promoter_share(demo) -> None:
    con, d, _ = demo
    con.execute(
        "CREATE OR REPLACE TABLE demo_rec AS SELECT * REPLACE (recommend AS __cmot_y), "
        "(recommend >= 9)::DOUBLE AS promoter FROM demo"
    )
    spec = d.spec.with_changes(outcome=d.spec.outcome.__class__("recommend", "recommend"))
    score = M.find_moments(con, "demo_rec", spec, "Segment")
    promo = M.find_moments(con, "demo_rec", spec, "Segment", Settings(measure="promoter"))
    assert score.unit == "points of 0-10" and promo.unit == "percentage points"
    con.execute(
        "CREATE OR REPLACE TABLE demo_p AS SELECT * REPLACE (promoter AS __cmot_y) FROM demo_rec"
    )
    direct = M.find_moments(con, "demo_p", d.spec, "Segment")
    np.testing.assert_allclose(promo.moments.penalty, direct.moments.penalty, atol=1e-12)
    assert score.segments.outcome_mean.between(0, 10).all()
    assert math.isclose(
        float(promo.segments.outcome_mean.iloc[0]), float(direct.segments.outcome_mean.iloc[0])
    )


def test_result_frames_have_the_documented_columns(demo) -> None:
    _, _, result = demo
    for col in ("segment", "touchpoint", "n", "mean", "top_box", "bottom_box", "penalty"):
        assert col in result.moments
    for col in ("reward", "penalty_se", "reward_se", "ris", "ia", "class", "reason", "action"):
        assert col in result.moments
    assert set(result.moments["class"]) <= set(classes.CLASSES)
    assert result.moments.segment.iloc[0] == M.ALL
    assert result.moments["mean"].between(0, 100).all()
    assert list(result.levels.columns) == [
        "segment",
        "touchpoint",
        "column",
        "level",
        "n",
        "share",
        "outcome_mean",
    ]


def test_sensitivity_marks_fragile_classes(demo) -> None:
    con, d, _ = demo
    sens = sensitivity.assess_sensitivity(con, "demo", d.spec, "Segment", cache_key="demo-sens")
    assert {"low_one", "high_two", "ia_0.1", "ia_0.3", "interval_hybrid", "fragile"} <= set(
        sens.columns
    )
    strong = sens[(sens.segment == "Industrial owners") & (sens.touchpoint == "Site visits")]
    assert strong["class"].iloc[0] == "vulnerability"
    assert sens.fragile.dtype == bool


def test_sums_stay_exact_on_an_eleven_point_scale() -> None:
    # 0-10 ratings and a 0-10 outcome: products reach 10³, so float32 would round them.
    rng = np.random.default_rng(12)
    n = 40_000
    frame = pd.DataFrame({"seg": rng.choice(["A", "B"], n)})
    for c in ("t0", "t1", "t2"):
        frame[c] = pd.array(rng.integers(0, 11, n), dtype="Int8")
    frame["__cmot_y"] = rng.integers(0, 11, n).astype(float)
    frame["__cmot_w"] = 1.0
    con = duckdb.connect()
    register_frame(con, frame)
    spec = make_spec(("t0", "t1", "t2"), lo=0, hi=10, kind="recommend")
    fast = M.compute_stats(con, "survey", spec, "seg")
    sql = M.compute_stats(con, "survey", spec, "seg", engine="sql")
    for a, b in zip(fast.segments, sql.segments, strict=True):
        np.testing.assert_array_equal(a.gram, b.gram)
        np.testing.assert_array_equal(a.pair, b.pair)
        np.testing.assert_array_equal(a.levels, b.levels)


def test_streamed_second_pass_equals_held_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    frame = synthetic_frame(5000, seed=13, segments=("A", "B", "C"))
    con = duckdb.connect()
    register_frame(con, frame)
    spec = make_spec(tuple(f"t{j}" for j in range(4)))
    monkeypatch.setattr(blocks, "BLOCK_ROWS", 1024)  # many blocks
    held = M.compute_stats(con, "survey", spec, "seg")
    monkeypatch.setattr(blocks, "_KEEP_BLOCKS_BYTES", 0)  # too big to hold: read again
    streamed = M.compute_stats(con, "survey", spec, "seg")
    for a, b in zip(held.segments, streamed.segments, strict=True):
        np.testing.assert_allclose(a.meat, b.meat, rtol=1e-12)
        np.testing.assert_array_equal(a.gram, b.gram)
