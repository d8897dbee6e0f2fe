"""Partial pooling wired into the product (issue 24): Settings.pooling chooses the estimates
every result follows from, each segment says its own share, the size rules say what a
segment has and needs, and the command line takes --pooling and writes own_share."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pytest

from cmot.cli.main import main
from cmot.results import moments as M
from cmot.results.pooling import PoolResult
from cmot.settings import DEFAULT_POOLING, POOLING_WORDS, Pooling, Settings
from cmot.store.demo import DEMO_CSV, DEMO_SPEC
from tests.unit.moments_fixtures import make_spec, register_frame, synthetic_frame

PARTIAL = Settings(pooling="partial")
ALONE = Settings(pooling="none")
EFFECTS = {s: [(0.2, 0.05), (0.05, 0.2), (0.1, 0.1), (0.0, 0.0)] for s in "ABCD"}


def analyse(frame: pd.DataFrame, settings: Settings) -> M.MomentsResult:
    con = duckdb.connect()
    register_frame(con, frame)
    tps = tuple(c for c in frame.columns if c.startswith("t"))
    return M.find_moments(con, "survey", make_spec(tps), "seg", settings)


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    # 4 touchpoints: alone needs max(30, 40) = 40. A 585, B 364, C 36 (enough to pool, not
    # alone), D 15 (too few even to pool).
    segs = ("A",) * 120 + ("B",) * 70 + ("C",) * 7 + ("D",) * 3
    return synthetic_frame(1000, seed=7, segments=segs, effects=EFFECTS)


def test_the_front_ends_default_to_the_measured_pooling_a_library_call_to_alone() -> None:
    # The front ends' default is what bench/pooling.md decided, written in METHODS.md.
    methods = (Path(__file__).parents[2] / "docs" / "METHODS.md").read_text(encoding="utf-8")
    said = {"partial": "**The default is partial pooling**", "none": "**The default is each"}
    assert said[DEFAULT_POOLING] in methods
    assert Settings().pooling == "none" and Settings().min_pool == 30
    assert POOLING_WORDS == {
        "partial": "partial pooling across segments",
        "none": "each segment alone",
    }


def test_pooled_segments_carry_their_own_share_and_all_is_never_pooled(frame: pd.DataFrame) -> None:
    pooled, alone = analyse(frame, PARTIAL), analyse(frame, ALONE)
    segs = pooled.segments.set_index("segment")
    assert not segs.loc[M.ALL, "pooled"] and math.isnan(segs.loc[M.ALL, "own_share"])
    assert not segs.loc["D", "pooled"]
    for s in "ABC":
        assert segs.loc[s, "pooled"] and 0 < segs.loc[s, "own_share"] < 1
    # Smaller segments lean more on the journey.
    assert segs.loc["A", "own_share"] > segs.loc["B", "own_share"] > segs.loc["C", "own_share"]
    # The whole survey's numbers are the same either way.
    both = [m[m.segment == M.ALL].reset_index(drop=True) for m in (pooled.moments, alone.moments)]
    pd.testing.assert_frame_equal(
        both[0].drop(columns="own_share"), both[1].drop(columns="own_share"), check_dtype=False
    )
    m = pooled.moments
    assert m[m.segment == "A"].own_share.eq(segs.loc["A", "own_share"]).all()
    assert alone.moments.own_share.isna().all() and not alone.segments.pooled.any()
    assert pooled.method == "partial pooling across segments"
    assert alone.method == "each segment alone"
    # The pooled estimates are what the segment's result follows from.
    own_c = alone.moments[alone.moments.segment == "C"]
    assert own_c.penalty.isna().all() and m[m.segment == "C"].penalty.notna().any()


def test_below_the_minimum_a_segment_says_what_it_has_and_needs(frame: pd.DataFrame) -> None:
    pooled, alone = analyse(frame, PARTIAL), analyse(frame, ALONE)
    d = pooled.segments.set_index("segment").loc["D"]
    assert d.insufficient and not d.pooled
    n_d = int(d.n)
    assert f"{n_d} respondents; needs at least 30 to be pooled across segments" in d.reason
    rows = pooled.moments[pooled.moments.segment == "D"]
    assert rows.reason.str.contains("needs at least 30 to be pooled").all()
    # Alone: C has 30+ respondents, too few for 4 touchpoints: it says how many it could take.
    c = alone.segments.set_index("segment").loc["C"]
    n_c = int(c.n)
    assert 30 <= n_c < 40 and c.insufficient
    assert f"{n_c} respondents; needs at least 40" in c.reason
    assert f"enough alone for {n_c // 10} of its 4 touchpoints" in c.reason
    assert "pooled across segments, 30 suffice" in c.reason
    assert "suffice" not in alone.segments.set_index("segment").loc["D", "reason"]
    # Pooled, C gets an answer.
    assert not pooled.segments.set_index("segment").loc["C", "insufficient"]


def test_a_pool_that_cannot_run_says_so() -> None:
    frame = synthetic_frame(400, seed=1, segments=("A",) * 19 + ("B",))
    result = analyse(frame, PARTIAL)
    assert result.method.startswith("each segment alone (no partial pooling: fewer than two")
    assert result.moments.own_share.isna().all()


def test_pooling_is_done_once_per_sums(
    frame: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    con = duckdb.connect()
    register_frame(con, frame)
    spec = make_spec(tuple(c for c in frame.columns if c.startswith("t")))
    calls: list[int] = []
    real = M.partial_pool

    def counted(*a: Any, **k: Any) -> PoolResult:
        calls.append(1)
        return real(*a, **k)

    monkeypatch.setattr(M, "partial_pool", counted)
    first = M.find_moments(con, "survey", spec, "seg", PARTIAL, cache_key="pool-once")
    again = M.find_moments(
        con, "survey", spec, "seg", Settings(pooling="partial", alpha=0.1), cache_key="pool-once"
    )
    assert len(calls) == 1  # a threshold change reclassifies the same pooled sums
    assert first.fits["A"].beta.tolist() == again.fits["A"].beta.tolist()


def _demo_args(out: Path, *extra: str) -> list[str]:
    if not DEMO_CSV.exists():
        pytest.skip("the demo survey has not been generated (python -m cmot.store.demo)")
    return ["analyze", str(DEMO_CSV), "--spec", str(DEMO_SPEC), "--segment", "Segment",
            "--out", str(out), *extra]  # fmt: skip


def test_analyze_pooling_partial_writes_own_share(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "pooled"
    assert main(_demo_args(out, "--pooling", "partial")) == 0
    moments = pd.read_csv(out / "moments.csv")
    segs = moments[moments.segment != "All"]
    assert "own_share" in moments and segs.own_share.between(0, 1, inclusive="neither").all()
    assert moments[moments.segment == "All"].own_share.isna().all()
    assert pd.read_csv(out / "segments.csv").set_index("segment").own_share.drop("All").gt(0).all()
    summary = (out / "summary.md").read_text()
    assert "partial pooling across segments" in summary
    assert "own data" in summary
    assert "partial pooling across segments" in capsys.readouterr().out


def test_analyze_pooling_none_is_each_segment_alone(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "alone"
    assert main(_demo_args(out, "--pooling", "none")) == 0
    assert pd.read_csv(out / "moments.csv").own_share.isna().all()
    assert "each segment alone" in (out / "summary.md").read_text()
    assert "each segment alone" in capsys.readouterr().out


def test_analyze_takes_the_measured_default(tmp_path: Path) -> None:
    out = tmp_path / "default"
    assert main(_demo_args(out)) == 0
    assert POOLING_WORDS[DEFAULT_POOLING] in (out / "summary.md").read_text()


def test_a_bad_pooling_value_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(_demo_args(tmp_path / "x", "--pooling", "full")) == 2
    assert "choose from 'partial', 'none'" in capsys.readouterr().err


@pytest.mark.parametrize("pooling", ["partial", "none"])
def test_the_report_says_the_pooling_and_each_segments_own_share(
    frame: pd.DataFrame, pooling: Pooling
) -> None:
    import io

    from pypdf import PdfReader

    from cmot.present import report
    from cmot.results.summary import headline, top_stakes

    result = analyse(frame, Settings(pooling=pooling))
    segs = ["A", "B"]
    rep = report.Report(
        title="Comparison", dataset="synthetic", segmentation="seg", segments=tuple(segs),
        filters="", headline=headline(result, segs), stakes=top_stakes(result, segs),
        matrix=report.matrix_table(result, segs), differences=pd.DataFrame(), flips=(),
        charts=(), result=result,
    )  # fmt: skip
    page = report.report_html(rep)
    pdf = " ".join(p.extract_text() for p in PdfReader(io.BytesIO(report.report_pdf(rep))).pages)
    pdf = " ".join(pdf.split())
    for text in (page, pdf):
        assert POOLING_WORDS[pooling] in text
        assert ("own data" in text) == (pooling == "partial")
    if pooling == "partial":
        share = result.segments.set_index("segment").own_share["A"]
        assert f"own data {share:.0%}" in page
        assert "30 pooled (40 alone)" in page


@pytest.mark.parametrize("pooling", ["partial", "none"])
def test_trend_takes_pooling_and_says_it(
    tmp_path: Path, pooling: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from cmot.spec import save_spec
    from cmot.store.demo import WAVE_COLUMN, demo_spec, generate_waves

    data = generate_waves(n_per_segment=300, seed=11)
    data.frame.to_csv(tmp_path / "stacked.csv", index=False)
    save_spec(demo_spec(), tmp_path / "spec.toml")
    out = tmp_path / "out"
    args = ["trend", str(tmp_path / "stacked.csv"), "--wave", WAVE_COLUMN, "--spec",
            str(tmp_path / "spec.toml"), "--segment", "Segment", "--out", str(out),
            "--pooling", pooling]  # fmt: skip
    assert main(args) == 0
    assert f"Estimates: {POOLING_WORDS[pooling]}." in (out / "summary.md").read_text()
    segments = pd.read_csv(out / "segments.csv")
    shares = segments[segments.segment != "All"].own_share
    assert shares.notna().all() if pooling == "partial" else shares.isna().all()


@pytest.mark.parametrize("pooling", ["partial", "none"])
def test_driver_segments_moments_take_pooling(tmp_path: Path, pooling: str) -> None:
    if not DEMO_CSV.exists():
        pytest.skip("the demo survey has not been generated (python -m cmot.store.demo)")
    out = tmp_path / "drivers"
    args = ["segments", str(DEMO_CSV), "--spec", str(DEMO_SPEC), "--mode", "drivers",
            "--k", "3", "--out", str(out), "--pooling", pooling]  # fmt: skip
    assert main(args) == 0
    moments = pd.read_csv(out / "driver_moments.csv")
    found = moments[moments.segment != "All"]
    assert found.segment.nunique() == 3
    assert found.own_share.notna().all() if pooling == "partial" else found.own_share.isna().all()
    summary = (out / "summary.md").read_text()
    assert f"Driver segments' moments of truth (driver_moments.csv): {POOLING_WORDS[pooling]}" in (
        summary
    )


@pytest.mark.parametrize("pooling", ["partial", "none"])
def test_analyze_says_below_the_minimum_what_a_segment_has_and_needs(
    tmp_path: Path, frame: pd.DataFrame, pooling: str
) -> None:
    """summary.md and moments.csv carry the size rule's words where the numbers would be:
    pooled, D (below 30) says it needs 30 to be pooled; alone, C (30-39 respondents, 4
    touchpoints) says how many touchpoints its respondents could support."""
    csv = tmp_path / "survey.csv"
    survey = frame.rename(columns={"__cmot_y": "y"}).drop(columns="__cmot_w", errors="ignore")
    survey.assign(y=survey.y.astype(int)).to_csv(csv, index=False)  # 0/1, not 0.0/1.0
    out = tmp_path / pooling
    args = ["analyze", str(csv), "--outcome", "y", "--outcome-type", "binary"]
    args += ["--touchpoints", "t0,t1,t2,t3", "--segment", "seg", "--pooling", pooling]
    assert main([*args, "--out", str(out)]) == 0
    summary = (out / "summary.md").read_text()
    segs = pd.read_csv(out / "segments.csv").set_index("segment")
    n_c, n_d = int(segs.loc["C", "n"]), int(segs.loc["D", "n"])
    if pooling == "partial":
        said = f"{n_d} respondents; needs at least 30 to be pooled across segments"
        assert f"Note: {said}" in summary
        assert not segs.loc["C", "insufficient"]
    else:
        said = f"{n_c} respondents; needs at least 40; enough alone for {n_c // 10} of its 4"
        assert f"Note: {said} touchpoints; pooled across segments, 30 suffice" in summary
        assert f"Note: {n_d} respondents; needs at least 40" in summary
    moments = pd.read_csv(out / "moments.csv")
    short = "D" if pooling == "partial" else "C"
    assert moments[moments.segment == short].reason.str.contains(said, regex=False).all()
