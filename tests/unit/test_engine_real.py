"""The engine on real shapes: per-touchpoint scales, fits that cannot be solved, cheap
importance, guardrails, and the weighted Kansas City survey against statsmodels WLS HC3."""

from __future__ import annotations

import time
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from cmot.engine import fits
from cmot.engine.design import Layout
from cmot.engine.importance import MAX_SHAPLEY_TOUCHPOINTS, SHAPLEY_BUDGET, shapley_plan
from cmot.errors import CmotError
from cmot.results import moments as M
from cmot.results.compare import compare_all, find_flips
from cmot.results.guardrails import WARNING_COLUMNS
from cmot.spec import JourneySpec, Outcome, Stage, Touchpoint, default_scale
from tests.conftest import SHARED
from tests.unit.moments_fixtures import register_frame

KANSAS = SHARED / "data" / "kansas-city-resident" / "wave_2021_09.csv"
KANSAS_SERVICES = tuple(f"q3_{i:02d}" for i in range(1, 17))  # satisfaction with services
# The services with at least 8 respondents in every district's low and high cells: with
# fewer, some respondent has leverage 1 and HC3 is undefined (statsmodels returns noise).
KANSAS_TOUCHPOINTS = ("q3_01", "q3_04", "q3_05", "q3_07", "q3_08", "q3_09", "q3_10", "q3_12")
SAN_DIEGO = SHARED / "data" / "san-diego-resident" / "survey_2015.csv"


def spec_of(
    touchpoints: tuple[str, ...],
    outcome: Outcome,
    scales: dict[str, tuple[int, int]] | None = None,
    weight: str | None = None,
    attributes: tuple[str, ...] = (),
    missing: tuple[int, ...] = (),
) -> JourneySpec:
    return JourneySpec(
        stages=(Stage("Journey", touchpoints),),
        touchpoints=tuple(Touchpoint(c) for c in touchpoints),
        scale=default_scale(1, 5, missing),
        outcome=outcome,
        weight_column=weight,
        segments=attributes,
        attributes=attributes,
        scales={c: default_scale(lo, hi, missing) for c, (lo, hi) in (scales or {}).items()},
    )


def reference_design(
    frame: pd.DataFrame, touchpoints: tuple[str, ...], cuts: dict[str, tuple[int, int]]
) -> pd.DataFrame:
    """The PRCA design built in pandas with each touchpoint's own cut-offs (low, high)."""
    cols: dict[str, pd.Series | float] = {}
    for c in touchpoints:
        cols[f"low {c}"] = (frame[c].le(cuts[c][0]) & frame[c].notna()).astype(float)
    for c in touchpoints:
        cols[f"high {c}"] = frame[c].ge(cuts[c][1]).fillna(False).astype(float)
    cols["intercept"] = 1.0
    for c in touchpoints:
        cols[f"missing {c}"] = frame[c].isna().astype(float)
    return pd.DataFrame(cols, index=frame.index)


def worst_gap(
    result: M.MomentsResult,
    frame: pd.DataFrame,
    touchpoints: tuple[str, ...],
    cuts: dict[str, tuple[int, int]],
    segment_col: str | None,
    weight: str | None,
    segments: list[str] | None = None,
) -> tuple[float, float, int]:
    """Largest |coefficient| and |HC3 SE| gaps to statsmodels over the fitted segments."""
    import statsmodels.api as sm

    worst_b = worst_se = 0.0
    checked = 0
    for name, fit in result.fits.items():
        if segments is not None and name not in segments:
            continue
        part = frame if name == M.ALL else frame[frame[segment_col].astype(str) == name]
        x = reference_design(part, touchpoints, cuts)
        kept = [c for c, b in zip(fit.columns, fit.beta, strict=True) if np.isfinite(b)]
        y = part["__cmot_y"]
        model = sm.WLS(y, x[kept], weights=part[weight]) if weight else sm.OLS(y, x[kept])
        ref = model.fit(cov_type="HC3")
        beta = pd.Series(fit.beta, index=list(fit.columns))[kept]
        se = pd.Series(np.sqrt(np.diag(fit.cov)), index=list(fit.columns))[kept]
        ok = se.notna()
        worst_b = max(worst_b, float((beta - ref.params).abs().max()))
        worst_se = max(worst_se, float((se[ok] - ref.bse[ok]).abs().max()))
        checked += 1
    return worst_b, worst_se, checked


# ---- per-touchpoint scales ------------------------------------------------------------


def two_scale_frame(n: int = 3000, seed: int = 3) -> pd.DataFrame:
    """t0, t1 rated 1-5 and t2, t3 rated 0-10 in one survey, a scale outcome, weights."""
    rng = np.random.default_rng(seed)
    halo = rng.normal(0, 0.6, n)
    f = pd.DataFrame({"seg": rng.choice(np.array(["A", "B"]), n)})
    five = np.clip(np.rint(3.2 + halo[:, None] + rng.normal(0, 1.1, (n, 2))), 1, 5)
    ten = np.clip(np.rint(6.5 + 2 * halo[:, None] + rng.normal(0, 2.2, (n, 2))), 0, 10)
    y = 3 + 0.5 * (five[:, 0] == 5) - 0.6 * (five[:, 1] <= 2) - 0.4 * (ten[:, 0] <= 6)
    y = y + 0.3 * (ten[:, 1] >= 9) + rng.normal(0, 0.8, n)
    ratings = np.column_stack([five, ten])
    ratings[rng.random(ratings.shape) < 0.06] = np.nan
    for j in range(4):
        f[f"t{j}"] = pd.array(ratings[:, j], dtype="Int8")
    f["__cmot_y"] = np.clip(np.rint(y), 1, 5)
    f["__cmot_w"] = rng.uniform(0.3, 3.0, n)
    return f


TWO_SCALE_CUTS = {"t0": (2, 5), "t1": (2, 5), "t2": (6, 9), "t3": (6, 9)}


@pytest.mark.parametrize("engine", ["numpy", "sql"])
def test_two_scale_survey_equals_statsmodels_wls_hc3(engine: M.SumsPath) -> None:
    frame = two_scale_frame()
    con = duckdb.connect()
    register_frame(con, frame)
    tps = ("t0", "t1", "t2", "t3")
    spec = spec_of(tps, Outcome("y", "scale", min=1, max=5), {"t2": (0, 10), "t3": (0, 10)})
    res = M.find_moments(con, "survey", spec, "seg", engine=engine)
    worst_b, worst_se, checked = worst_gap(res, frame, tps, TWO_SCALE_CUTS, "seg", "__cmot_w")
    assert checked == 3
    assert worst_b < 1e-8
    assert worst_se < 1e-8
    # Means, boxes and the levels histogram follow each touchpoint's own scale.
    row = res.moments[(res.moments.segment == M.ALL) & (res.moments.column == "t2")].iloc[0]
    rated = frame.t2.notna()
    w = frame.__cmot_w[rated]
    t2 = frame.t2[rated].astype(float)
    assert row["mean"] == pytest.approx(100 * float((w * t2).sum() / w.sum()) / 10, rel=1e-10)
    assert row.top_box == pytest.approx(float(w[t2 >= 9].sum() / w.sum()), rel=1e-10)
    assert row.bottom_box == pytest.approx(float(w[t2 <= 6].sum() / w.sum()), rel=1e-10)
    assert (row.scale_min, row.scale_max) == (0, 10)
    lv = res.levels[(res.levels.segment == M.ALL)]
    assert sorted(lv[lv.column == "t2"].level) == list(range(11))
    assert sorted(lv[lv.column == "t0"].level) == list(range(1, 6))
    assert int(lv[lv.column == "t2"].n.sum()) == int(rated.sum())


def test_a_rating_outside_its_own_scale_names_the_touchpoint() -> None:
    frame = two_scale_frame(500)
    frame.loc[0, "t0"] = 7  # 7 is a fine 0-10 rating but not a 1-5 one
    con = duckdb.connect()
    register_frame(con, frame)
    spec = spec_of(("t0", "t2"), Outcome("y", "scale", min=1, max=5), {"t2": (0, 10)})
    with pytest.raises(CmotError, match="'t0'"):
        M.find_moments(con, "survey", spec)


# ---- never a crash --------------------------------------------------------------------


def awkward_frame(seed: int = 11) -> pd.DataFrame:
    """Segments that break naive fits: big and healthy, one-valued, collinear, tiny."""
    rng = np.random.default_rng(seed)
    parts = []
    for name, n in (("big", 2000), ("one value", 300), ("twins", 300), ("tiny", 4)):
        r = np.clip(np.rint(3.3 + rng.normal(0, 1.2, (n, 3))), 1, 5)
        if name == "one value":
            r[:, 0] = 4  # a touchpoint with one value in this segment
        if name == "twins":
            r[:, 1] = r[:, 0]  # collinear cells
        p = pd.DataFrame(r, columns=["t0", "t1", "t2"]).astype("Int8")
        p["seg"] = name
        p["__cmot_y"] = (rng.random(n) < 0.3 + 0.1 * (r[:, 2] == 5)).astype(float)
        p["__cmot_w"] = rng.uniform(0.001, 0.01, n) if name == "tiny" else 1.0 + rng.random(n)
        parts.append(p)
    return pd.concat(parts, ignore_index=True)


@pytest.mark.parametrize("engine", ["numpy", "sql"])
def test_awkward_segments_are_insufficient_with_reasons_not_exceptions(engine: M.SumsPath) -> None:
    frame = awkward_frame()
    con = duckdb.connect()
    register_frame(con, frame)
    spec = spec_of(("t0", "t1", "t2"), Outcome("y", "binary", ("1",)))
    res = M.find_moments(con, "survey", spec, "seg", engine=engine)
    segs = res.segments.set_index("segment")
    assert not segs.loc["big", "insufficient"]
    assert segs.loc["tiny", "insufficient"] and "4 respondents" in segs.loc["tiny", "reason"]
    one = res.moments[(res.moments.segment == "one value") & (res.moments.column == "t0")]
    assert one.insufficient.all() and one.reason.str.contains("left out").all()
    twins = res.moments[(res.moments.segment == "twins") & (res.moments.column == "t1")]
    assert twins.insufficient.all() and "combination" in twins.reason.iloc[0]
    assert (res.moments[res.moments.insufficient]["class"] == "insufficient").all()
    compare_all(res)
    find_flips(res)
    assert len(res.importance) == len(res.moments)


def test_a_singular_or_non_finite_fit_is_a_reason() -> None:
    lay = Layout(2)
    gram = np.full((lay.k + 1, lay.k + 1), np.nan)
    fit = fits.fit_sums(gram, lay)
    assert fit.problem and not fit.kept and np.isnan(fit.beta).all()
    # An ill-conditioned design: two columns agreeing to 1e-7 relative.
    rng = np.random.default_rng(0)
    x = np.ones((50, lay.k + 1))
    x[:, :4] = rng.random((50, 4)) < 0.5
    x[:, 4] = 1.0
    x[:, 5] = x[:, 0] * (1 + 1e-7 * rng.random(50))
    x[:, 6] = 0.0
    x[:, -1] = rng.random(50)
    fit = fits.fit_sums(x.T @ x, lay)
    assert fit.problem == "" or "ill-conditioned" in fit.problem


def test_a_fit_problem_makes_the_segment_insufficient(monkeypatch: pytest.MonkeyPatch) -> None:
    frame = awkward_frame()
    con = duckdb.connect()
    register_frame(con, frame)
    spec = spec_of(("t0", "t1", "t2"), Outcome("y", "binary", ("1",)))
    real = fits._solve

    def failing(gram: np.ndarray, lay: Layout) -> fits.Fit:
        if gram[lay.icpt, lay.icpt] > 3000:  # "All" only
            raise np.linalg.LinAlgError("Singular matrix")
        return real(gram, lay)

    monkeypatch.setattr(fits, "_solve", failing)
    res = M.find_moments(con, "survey", spec, "seg")
    seg = res.segments.set_index("segment").loc[M.ALL]
    assert seg.insufficient and "Singular matrix" in seg.reason
    assert res.moments[res.moments.segment == M.ALL].insufficient.all()
    assert (res.warnings.kind == "fit").any()


# ---- importance where it is cheap ---------------------------------------------------------


def test_shapley_runs_only_where_cheap() -> None:
    wide = shapley_plan(MAX_SHAPLEY_TOUCHPOINTS + 1, [1000, 500])
    assert all("16 touchpoints" in r for r in wide)
    plan = shapley_plan(4, [1000, 600, 20, 45])
    assert plan[0] == plan[1] == plan[3] == "" and "20 respondents" in plan[2]
    t = MAX_SHAPLEY_TOUCHPOINTS
    fit_in = SHAPLEY_BUDGET >> t
    plan = shapley_plan(t, [10_000] + [1000 - k for k in range(fit_in + 5)])
    done = [k for k, r in enumerate(plan) if r == ""]
    assert 0 in done and len(done) == fit_in  # "All" first, then the largest segments
    assert all("largest segments" in plan[k] for k in range(len(plan)) if k not in done)


def test_skipped_shapley_is_nan_with_the_reason_and_a_warning() -> None:
    rng = np.random.default_rng(4)
    n, t = 400, 16
    f = pd.DataFrame(np.clip(np.rint(3 + rng.normal(0, 1.2, (n, t))), 1, 5).astype(int))
    f.columns = [f"t{j}" for j in range(t)]
    f = f.astype("Int8")
    f["__cmot_y"] = (rng.random(n) < 0.5).astype(float)
    f["__cmot_w"] = 1.0
    con = duckdb.connect()
    register_frame(con, f)
    res = M.find_moments(con, "survey", spec_of(tuple(f.columns[:t]), Outcome("y")))
    assert res.importance.shapley.isna().all()
    assert res.importance.relative_weight.notna().all()
    assert res.importance.shapley_note.str.contains("16 touchpoints").all()
    imp = res.warnings[res.warnings.kind == "importance"]
    assert len(imp) == 1 and "relative weights shown" in imp.message.iloc[0]


# ---- guardrails -------------------------------------------------------------------------


def test_guardrails_name_the_problem_where_the_number_is() -> None:
    rng = np.random.default_rng(8)
    n = 600
    f = pd.DataFrame(
        {
            "t0": np.clip(np.rint(3 + rng.normal(0, 1.2, n)), 1, 5),
            "t1": np.full(n, 3.0),  # one value
            "t2": np.clip(np.rint(2 + rng.normal(0, 0.5, n)), 1, 4),  # nobody in the top box
        }
    ).astype("Int8")
    f["seg"] = (np.arange(n) % 60).astype(str)  # 60 segments of 10
    f["__cmot_y"] = np.arange(n, dtype=float)  # an id, and outside 1-5
    f["__cmot_w"] = 1.0
    con = duckdb.connect()
    register_frame(con, f)
    spec = spec_of(("t0", "t1", "t2"), Outcome("y", "scale", min=1, max=5))
    res = M.find_moments(con, "survey", spec, "seg")
    w = res.warnings
    assert list(w.columns) == WARNING_COLUMNS
    kinds = set(w.kind)
    assert {"id_outcome", "outcome_range", "one_value", "thin_cell", "many_segments"} <= kinds
    assert "looks like an id" in w[w.kind == "id_outcome"].message.iloc[0]
    assert "0 to 599" in w[w.kind == "outcome_range"].message.iloc[0]
    assert set(w[w.kind == "one_value"].column) == {"t1"}
    thin = w[(w.kind == "thin_cell") & (w.column == "t2")]
    assert thin.message.str.contains("nobody in the top box").any()
    assert "60 values" in w[w.kind == "many_segments"].message.iloc[0]
    assert "empty_boxes" not in kinds  # t0 has a top box
    # Only "All" is big enough here: tiny segments do not repeat the cell warnings.
    assert set(w[w.kind == "thin_cell"].segment) == {M.ALL}


def test_a_clean_survey_has_no_warnings() -> None:
    frame = two_scale_frame(3000)
    con = duckdb.connect()
    register_frame(con, frame)
    spec = spec_of(
        ("t0", "t1", "t2", "t3"),
        Outcome("y", "scale", min=1, max=5),
        {"t2": (0, 10), "t3": (0, 10)},
    )
    res = M.find_moments(con, "survey", spec, "seg")
    assert res.warnings.empty, res.warnings.to_dict("records")
    assert res.unit == "scale points"
    assert res.weighting == "weighted by survey weights"  # the table has weights, the spec no name
    unweighted = M.find_moments(con, "(SELECT * REPLACE (1.0 AS __cmot_w) FROM survey)", spec)
    assert unweighted.weighting == "unweighted"


# ---- the real Kansas City survey, weighted ------------------------------------------------


@pytest.fixture(scope="module")
def kansas(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pd.DataFrame]:
    """The survey with a seeded positive weight column added (in a temp dir, never the repo)."""
    if not KANSAS.exists():
        pytest.skip(
            f"the Kansas City resident survey is not at {KANSAS} (../shared beside the repo)"
        )
    raw = pd.read_csv(KANSAS).copy()
    raw["w"] = np.random.default_rng(2021).lognormal(0.0, 0.5, len(raw)).round(6)
    path = tmp_path_factory.mktemp("kansas") / "kansas_weighted.csv"
    raw.to_csv(path, index=False)
    return path, raw


def kansas_spec(
    weight: str | None, attributes: tuple[str, ...], touchpoints: tuple[str, ...]
) -> JourneySpec:
    return spec_of(
        touchpoints,
        Outcome("q2_01", "scale", min=1, max=5),
        weight=weight,
        attributes=attributes,
        missing=(9, 99),
    )


def read_kansas(path: Path, spec: JourneySpec) -> tuple[duckdb.DuckDBPyConnection, JourneySpec]:
    from cmot.ingest.options import IngestOptions
    from cmot.ingest.pipeline import read_csv

    # A spec as an analyst would write it (detection on this file is another step's work);
    # outcome and kind repeated so that either way of reading the options gets them.
    opts = IngestOptions(spec=spec, outcome="q2_01", outcome_kind="scale", missing=(9, 99))
    prepared = read_csv(path, opts)
    con = duckdb.connect()
    con.register("kc", prepared.data)
    return con, prepared.spec


def test_weighted_kansas_city_equals_statsmodels_wls_hc3(kansas) -> None:
    path, raw = kansas
    con, spec = read_kansas(path, kansas_spec("w", ("counci",), KANSAS_TOUCHPOINTS))
    res = M.find_moments(con, "kc", spec, "counci")
    assert res.unit == "scale points"
    assert res.weighting == "weighted by w"
    # The reference, built independently from the CSV: 9 and 99 are missing everywhere.
    ref = raw.replace({9: np.nan, 99: np.nan})
    ref = ref[ref.q2_01.notna()].copy()
    ref["__cmot_y"] = ref.q2_01.astype(float)
    assert res.segments.n.iloc[0] == len(ref)
    cuts = dict.fromkeys(KANSAS_TOUCHPOINTS, (2, 5))
    worst_b, worst_se, checked = worst_gap(res, ref, KANSAS_TOUCHPOINTS, cuts, "counci", "w")
    assert checked == 7  # All and the six districts
    assert worst_b < 1e-8
    assert worst_se < 1e-8


def test_tiny_weighted_segments_are_insufficient_not_exceptions(kansas) -> None:
    path, _ = kansas
    con, spec = read_kansas(path, kansas_spec("w", ("q36_a",), KANSAS_SERVICES))
    start = time.perf_counter()
    res = M.find_moments(con, "kc", spec, "q36_a")  # 77 values, most of them tiny
    seconds = time.perf_counter() - start
    segs = res.segments.iloc[1:]
    tiny = segs[(segs.n >= 3) & (segs.n <= 20)]
    assert len(tiny) > 10
    assert tiny.insufficient.all()
    assert tiny.reason.str.contains("respondents; needs at least").all()
    assert (res.warnings.kind == "many_segments").any()
    compare_all(res)
    find_flips(res)
    # 16 touchpoints: Shapley is skipped with its reason; the analysis stays fast.
    assert res.importance.shapley_note.str.contains("16 touchpoints").all()
    assert seconds < 10, seconds


@pytest.mark.skipif(not SAN_DIEGO.exists(), reason=f"the San Diego survey is not at {SAN_DIEGO}")
def test_many_valued_segment_with_fifteen_touchpoints_stays_fast() -> None:
    """15 touchpoints (exact Shapley's limit) by a 76-value column on 2,477 respondents:
    the case that took 19.5 s with Shapley in every segment."""
    from cmot.ingest.options import IngestOptions
    from cmot.ingest.pipeline import read_csv

    tps = tuple(f"Q3_{i}" for i in range(1, 16))
    spec = spec_of(tps, Outcome("Q2_6", "scale", min=1, max=5), attributes=("Q21",), missing=(9,))
    opts = IngestOptions(spec=spec, outcome="Q2_6", outcome_kind="scale", missing=(9,))
    con = duckdb.connect()
    con.register("sd", read_csv(SAN_DIEGO, opts).data)
    start = time.perf_counter()
    res = M.find_moments(con, "sd", spec, "Q21")
    seconds = time.perf_counter() - start
    notes = res.importance.drop_duplicates("segment").set_index("segment").shapley_note
    assert notes[M.ALL] == ""
    assert (notes != "").sum() >= len(notes) - 5
    assert seconds < 5, seconds


def test_pages_open_on_the_largest_segments_with_enough_data() -> None:
    from cmot.results.summary import segments_of

    frame = awkward_frame()
    con = duckdb.connect()
    register_frame(con, frame)
    res = M.find_moments(con, "survey", spec_of(("t0", "t1", "t2"), Outcome("y")), "seg")
    order = segments_of(res)
    segs = res.segments.set_index("segment")
    assert order[0] == "big"
    flags = [bool(segs.loc[s, "insufficient"]) for s in order]
    assert flags == sorted(flags)  # every sufficient segment before any insufficient one
    assert order[-1] == "tiny"


def test_a_scale_whose_top_is_a_code_says_so() -> None:
    """The airport case: 6 = "never used" taken as the top of a 1-6 scale, then declared
    missing: the top box is empty everywhere and no moment can be found."""
    rng = np.random.default_rng(9)
    n = 500
    f = pd.DataFrame(
        {c: np.clip(np.rint(3 + rng.normal(0, 1, n)), 1, 5) for c in ("t0", "t1")}
    ).astype("Int8")
    f["__cmot_y"] = (rng.random(n) < 0.5).astype(float)
    f["__cmot_w"] = 1.0
    con = duckdb.connect()
    register_frame(con, f)
    spec = spec_of(("t0", "t1"), Outcome("y", "binary", ("1",))).with_changes(
        scale=default_scale(1, 6)
    )
    res = M.find_moments(con, "survey", spec)
    assert res.moments.mot.sum() == 0
    empty = res.warnings[res.warnings.kind == "empty_boxes"]
    assert len(empty) == 1 and "top box (>= 6)" in empty.message.iloc[0]


def test_levels_frame_equals_the_loop_over_levels() -> None:
    """The array-built levels frame against the plain loop it replaced (own scales kept)."""
    import math

    frame = two_scale_frame(1500)
    con = duckdb.connect()
    register_frame(con, frame)
    spec = spec_of(("t0", "t1", "t2"), Outcome("y", "scale", min=1, max=5), {"t2": (0, 10)})
    stats = M.compute_stats(con, "survey", spec, "seg")
    rows = []
    for s in stats.segments:
        for i in range(len(stats.columns)):
            lv = s.levels[i]
            w_rated = lv[:-1, 1].sum()
            lo, hi = stats.scale_at(i)[:2]
            for k in range(hi - lo + 1):
                rows.append(
                    (
                        s.segment,
                        stats.names[i],
                        stats.columns[i],
                        lo + k,
                        int(lv[k, 0]),
                        lv[k, 1] / w_rated if w_rated > 0 else math.nan,
                        lv[k, 2] / lv[k, 1] if lv[k, 1] > 0 else math.nan,
                    )
                )
    loop = pd.DataFrame(rows, columns=list(stats.levels.columns))
    pd.testing.assert_frame_equal(stats.levels, loop, check_dtype=False)
