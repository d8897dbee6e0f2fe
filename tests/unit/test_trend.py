"""The trend engine: per-wave numbers equal a single-wave analysis, changes, migrations, fixes."""

from __future__ import annotations

import math

import duckdb
import numpy as np
import pandas as pd
import pytest

from cmot.errors import CmotError
from cmot.results import moments as M
from cmot.results.trend import NO_OUTCOME, NO_RESPONDENTS, TREND_COLUMNS, compute_trend
from cmot.results.trend_changes import CHANGE_COLUMNS, compare_waves, migration
from cmot.results.trend_fixes import FIX_COLUMNS, fix_check, fix_verdict
from cmot.store.demo import DEMO_CSV, EMERGING, FIXED, WAVE_COLUMN, WAVE_LABELS, generate_demo
from cmot.waves.sources import waves_from_column
from tests.unit.trend_fixtures import waves_table

ENGINE_COLUMNS = [
    c for c in TREND_COLUMNS if c not in ("wave", "bottom_box_se", "top_box_se", "risk_se")
]


@pytest.fixture(scope="module")
def planted():
    con = duckdb.connect()
    data = waves_table(con, n_per_segment=1500, seed=11)
    src = waves_from_column(con, "waves", data.spec, WAVE_COLUMN)
    trend = compute_trend(src, "Segment")
    return con, data, trend


def test_generate_demo_is_unchanged() -> None:
    """The demo committed in data/ is still what generate_demo makes (byte for byte)."""
    made = generate_demo().frame.to_csv(index=False, lineterminator="\n").encode()
    assert made == DEMO_CSV.read_bytes()


def test_per_wave_numbers_equal_a_single_wave_analysis(planted) -> None:
    con, data, trend = planted
    assert trend.waves == WAVE_LABELS
    assert list(trend.trend.columns) == TREND_COLUMNS
    for label in WAVE_LABELS:
        con.execute("CREATE OR REPLACE TABLE one AS SELECT * FROM waves WHERE Wave = ?", [label])
        alone = M.find_moments(con, "one", data.spec, "Segment").moments
        mine = trend.trend[trend.trend.wave == label].reset_index(drop=True)
        assert len(mine) == len(alone)
        for c in ENGINE_COLUMNS:
            a, b = mine[c], alone[c]
            if pd.api.types.is_float_dtype(b):
                np.testing.assert_allclose(
                    a.to_numpy(float), b.to_numpy(float), rtol=0, atol=1e-10, err_msg=c
                )
            else:
                assert a.tolist() == b.tolist(), c


def test_one_wave_equals_statsmodels_wls_hc3(planted) -> None:
    import statsmodels.api as sm

    con, data, trend = planted
    wave = WAVE_LABELS[1]
    frame = con.execute("SELECT * FROM waves WHERE Wave = ? ORDER BY __cmot_row", [wave]).df()
    tps = data.spec.touchpoint_columns
    mine = trend.trend[trend.trend.wave == wave]
    for segment in (M.ALL, "Public agencies"):
        part = frame if segment == M.ALL else frame[frame.Segment == segment]
        x = pd.DataFrame(
            {
                **{f"low {c}": (part[c].le(2) & part[c].notna()).astype(float) for c in tps},
                **{f"high {c}": part[c].ge(5).fillna(False).astype(float) for c in tps},
                "intercept": 1.0,
                **{f"missing {c}": part[c].isna().astype(float) for c in tps},
            }
        )
        x = x.loc[:, x.sum() > 0]  # an empty missing column is left out, as the engine does
        ref = sm.WLS(part["__cmot_y"], x, weights=part["__cmot_w"]).fit(cov_type="HC3")
        rows = mine[mine.segment == segment].set_index("column")
        for c in tps:
            assert abs(rows.loc[c, "penalty"] - max(0.0, -ref.params[f"low {c}"])) < 1e-10
            assert abs(rows.loc[c, "reward"] - max(0.0, ref.params[f"high {c}"])) < 1e-10
            assert abs(rows.loc[c, "penalty_se"] - ref.bse[f"low {c}"]) < 1e-10
            assert abs(rows.loc[c, "reward_se"] - ref.bse[f"high {c}"]) < 1e-10


def test_share_errors_are_weighted_proportion_errors(planted) -> None:
    con, data, trend = planted
    wave = WAVE_LABELS[0]
    frame = con.execute("SELECT * FROM waves WHERE Wave = ?", [wave]).df()
    part = frame[frame.Segment == "Private clients"]
    rows = trend.trend[(trend.trend.wave == wave) & (trend.trend.segment == "Private clients")]
    rows = rows.set_index("column")
    w = part["__cmot_w"].to_numpy(float)
    for c in data.spec.touchpoint_columns:
        rated = part[c].notna().to_numpy()
        for box, mask in (("bottom_box", part[c].le(2)), ("top_box", part[c].ge(5))):
            x = mask.fillna(False).to_numpy(float)[rated]
            wr = w[rated]
            p = (wr * x).sum() / wr.sum()
            se = math.sqrt((wr**2 * (x - p) ** 2).sum()) / wr.sum()
            assert abs(rows.loc[c, box] - p) < 1e-12
            assert abs(rows.loc[c, f"{box}_se"] - se) < 1e-12
        # risk = P x share of all respondents in the bottom box; SE by the delta method
        b = (w * part[c].le(2).fillna(False).to_numpy(float)).sum() / w.sum()
        x = part[c].le(2).fillna(False).to_numpy(float)
        se_b = math.sqrt((w**2 * (x - b) ** 2).sum()) / w.sum()
        pen, se_p = rows.loc[c, "penalty"], rows.loc[c, "penalty_se"]
        assert abs(rows.loc[c, "risk"] - pen * b) < 1e-12
        assert abs(rows.loc[c, "risk_se"] - math.hypot(b * se_p, pen * se_b)) < 1e-12


def test_planted_changes_are_found_and_nothing_else(planted) -> None:
    _, data, trend = planted
    changes = compare_waves(trend)
    assert list(changes.columns) == CHANGE_COLUMNS
    sig = changes[changes.significant]
    found = set(zip(sig.segment, sig.touchpoint, sig.from_wave, sig.to_wave, strict=True))
    for r in data.changes.itertuples():
        assert (r.segment, r.touchpoint, r.from_wave, r.to_wave) in found
    # Besides the planted ones (in their segment, or in "All" that contains it), FDR control
    # lets a rare false discovery through: at most 2 of the 120 segment x touchpoint x pair rows.
    planted_keys = {(r.touchpoint, r.from_wave, r.to_wave) for r in data.changes.itertuples()}
    planted_in = {
        tp: {M.ALL, *data.changes[data.changes.touchpoint == tp].segment}
        for tp, _, _ in planted_keys
    }
    others = [
        (s, tp, a, b)
        for s, tp, a, b in found
        if (tp, a, b) not in planted_keys or s not in planted_in[tp]
    ]
    assert len(others) <= 2, others
    fixed = sig[(sig.segment == FIXED[0]) & (sig.touchpoint == FIXED[1])].iloc[0]
    assert fixed.d_bottom_box < 0 and fixed.d_bottom_box_q < 0.05
    assert fixed.migration == "vulnerability -> adequate (maintain)"
    assert fixed.sentence.startswith(f"{FIXED[1]} ({FIXED[0]}), 2025 to 2026: the bottom-box")
    emerging = sig[(sig.segment == EMERGING[0]) & (sig.touchpoint == EMERGING[1])]
    e = emerging.iloc[0]
    assert e.d_reward > 0 and e.d_reward_q < 0.05 and e.to_class == "opportunity"
    assert e.migration == "new moment (opportunity)"
    assert "what a top rating adds rose from" in e.sentence and "pts" in e.sentence
    # the interval is d +- 1.96 SE
    assert e.d_reward_lo == pytest.approx(e.d_reward - 1.959963984540054 * e.d_reward_se)


def test_the_fix_is_seen_to_work(planted) -> None:
    _, _, trend = planted
    fixes = fix_check(trend)
    assert list(fixes.columns) == FIX_COLUMNS
    first = fixes[fixes.from_wave == WAVE_LABELS[0]]
    row = first[(first.segment == FIXED[0]) & (first.touchpoint == FIXED[1])].iloc[0]
    assert row.verdict in ("removed", "reduced")
    assert row.risk_to < row.risk_from and row.d_risk_hi < 0
    assert row.bottom_box_to < row.bottom_box_from
    assert f"risk {row.verdict} in 2026" in row.sentence
    others = fixes[~((fixes.segment.isin([FIXED[0], M.ALL])) & (fixes.touchpoint == FIXED[1]))]
    assert set(others.verdict) <= {"unchanged"}, others[others.verdict != "unchanged"]


def test_chosen_pairs_and_unknown_waves() -> None:
    con = duckdb.connect()
    data = waves_table(con, n_per_segment=300, seed=5)
    trend = compute_trend(waves_from_column(con, "waves", data.spec, WAVE_COLUMN))
    changes = compare_waves(trend, [("2025", "2027")])
    assert set(zip(changes.from_wave, changes.to_wave, strict=True)) == {("2025", "2027")}
    with pytest.raises(CmotError, match="No wave '2030'"):
        compare_waves(trend, [("2025", "2030")])
    with pytest.raises(CmotError, match="not '2025' with itself"):
        fix_check(trend, [("2025", "2025")])


def test_a_segment_missing_from_a_wave_says_so() -> None:
    con = duckdb.connect()
    data = waves_table(con, n_per_segment=400, seed=3)
    # Private clients answered only in the first wave; public agencies are few in the last.
    con.execute("DELETE FROM waves WHERE Segment = 'Private clients' AND Wave <> '2025'")
    con.execute(
        "DELETE FROM waves WHERE Segment = 'Public agencies' AND Wave = '2027' "
        "AND __cmot_row % 20 <> 0"
    )
    trend = compute_trend(waves_from_column(con, "waves", data.spec, WAVE_COLUMN), "Segment")
    t = trend.trend
    gone = t[(t.segment == "Private clients") & (t.wave == "2026")]
    assert len(gone) == len(data.spec.touchpoint_columns)
    assert (gone.reason == NO_RESPONDENTS).all() and (gone["class"] == "insufficient").all()
    assert gone.penalty.isna().all() and (gone.n == 0).all()
    few = t[(t.segment == "Public agencies") & (t.wave == "2027")]
    assert few.insufficient.all() and few.reason.str.contains("respondents; needs at least").all()
    segs = trend.segments
    assert (
        segs[(segs.segment == "Private clients") & (segs.wave == "2027")].reason.iloc[0]
        == NO_RESPONDENTS
    )
    changes = compare_waves(trend)
    c = changes[(changes.segment == "Private clients") & (changes.from_wave == "2025")]
    assert c.d_penalty_p.isna().all() and c.d_bottom_box_p.isna().all()
    assert not c.significant.any() and c.reason.str.contains("2026: " + NO_RESPONDENTS).all()
    assert (c.migration.isin(["not comparable", ""])).all()
    fixes = fix_check(trend)
    lost = fixes[fixes.segment == "Private clients"]
    assert (lost.verdict == "cannot tell").all()
    assert lost.sentence.str.contains("cannot tell in 2026").all()


@pytest.mark.parametrize(
    ("before", "after", "adequate", "text"),
    [
        ("vulnerability", "vulnerability", (False, True), "vulnerability -> adequate (maintain)"),
        ("vulnerability", "vulnerability", (True, False), "adequate -> vulnerability (fix)"),
        ("vulnerability", "vulnerability", (False, False), ""),
        ("opportunity", "hybrid", (False, False), "opportunity -> hybrid"),
        ("low impact", "opportunity", (False, False), "new moment (opportunity)"),
        ("vulnerability", "low impact", (False, False), "lost moment (was vulnerability)"),
        ("vulnerability", "insufficient", (False, False), "not comparable"),
        ("insufficient", "insufficient", (False, False), ""),
        ("low impact", "low impact", (False, False), ""),
    ],
)
def test_migrations(before, after, adequate, text) -> None:
    assert migration(before, after, *adequate) == text


@pytest.mark.parametrize(
    ("d", "q", "lo", "verdict"),
    [
        (-0.05, 0.001, -0.001, "removed"),
        (-0.05, 0.001, 0.002, "reduced"),
        (0.03, 0.01, 0.05, "worse"),
        (-0.05, 0.2, -0.01, "unchanged"),
        (-0.05, math.nan, -0.01, "cannot tell"),
    ],
)
def test_fix_verdict_rule(d, q, lo, verdict) -> None:
    assert fix_verdict(d, q, lo) == verdict


@pytest.mark.slow  # a simulation of many seeded null surveys (80 s on a busy machine)
def test_nulls_rarely_report_a_change() -> None:
    """No change planted, 40 seeded runs of two waves. After Benjamini-Hochberg:
    - the whole survey (one FDR family per run) reports a change in at most 5% of runs;
    - at most 5% of the (segment, wave pair) families report one (FDR per family);
    - with family "all" (one FDR over every segment), at most 5% of segmented runs do.
    Per-family control lets several segments add up: segmented runs with family "segment"
    are not bounded by 5% (docs/METHODS.md, "Waves and trends")."""
    runs_with_change = runs_all_family = 0
    families = families_with_change = 0
    for seed in range(40):
        con = duckdb.connect()
        data = waves_table(con, n_per_segment=250, seed=1000 + seed, planted=False)
        src = waves_from_column(con, "waves", data.spec, WAVE_COLUMN)
        trend = compute_trend(src, "Segment")
        changes = compare_waves(trend, [("2025", "2026")])
        runs_with_change += bool(changes[changes.segment == M.ALL].significant.any())
        per_family = changes.groupby("segment").significant.any()
        families += len(per_family)
        families_with_change += int(per_family.sum())
        pooled = compare_waves(trend, [("2025", "2026")], family="all")
        runs_all_family += bool(pooled.significant.any())
    assert runs_with_change <= 2, runs_with_change
    assert families_with_change <= 0.05 * families, (families_with_change, families)
    assert runs_all_family <= 2, runs_all_family


def test_a_wave_without_outcomes_says_so_in_its_rows() -> None:
    con = duckdb.connect()
    data = waves_table(con, n_per_segment=300, seed=3)
    con.execute("UPDATE waves SET __cmot_y = NULL WHERE Wave = '2026'")
    trend = compute_trend(waves_from_column(con, "waves", data.spec, WAVE_COLUMN), "Segment")
    rows = trend.trend[trend.trend.wave == "2026"]
    assert (rows.reason == NO_OUTCOME).all() and (rows.n == 0).all()
    assert "Wave 2026: " + NO_OUTCOME + "; its rows say so." in trend.notes
    assert list(trend.results) == ["2025", "2027"]
    assert (fix_check(trend, [("2025", "2026")]).verdict == "cannot tell").all()
    con.execute("UPDATE waves SET __cmot_y = NULL")
    with pytest.raises(CmotError, match="No respondent of any wave has an outcome"):
        compute_trend(waves_from_column(con, "waves", data.spec, WAVE_COLUMN))
