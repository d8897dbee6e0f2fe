"""`python -m cmot trend` end to end: the demo's waves and the real Kansas City waves."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from cmot.demo import EMERGING, FIXED, WAVE_COLUMN, WAVE_LABELS, demo_spec, generate_waves
from cmot.spec import save_spec
from cmot.trend_cli import CHANGES_CSV_FIRST, TREND_CSV_FIRST
from tests.conftest import DATA, need_real
from tests.unit.test_cli import run_cli

KC = DATA / "kansas-city-resident"


@pytest.fixture(scope="module")
def demo_files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo's three waves stacked in one file, one file per wave, and the spec."""
    folder = tmp_path_factory.mktemp("waves")
    data = generate_waves(n_per_segment=1500, seed=11)
    data.frame.to_csv(folder / "stacked.csv", index=False)
    for label in WAVE_LABELS:
        part = data.frame[data.frame[WAVE_COLUMN] == label].drop(columns=WAVE_COLUMN)
        part.to_csv(folder / f"wave_{label}.csv", index=False)
    # The plain demo spec, without the wave column: trend keeps --wave's column anyway.
    save_spec(demo_spec(), folder / "spec.toml")
    return folder


def read_out(out: Path) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    return (
        pd.read_csv(out / "trend.csv"),
        pd.read_csv(out / "changes.csv", keep_default_na=False, na_values=[""]),
        pd.read_csv(out / "fixes.csv"),
    )


def test_one_file_with_a_wave_column(demo_files: Path, tmp_path: Path, store_dir: Path) -> None:
    out = tmp_path / "out"
    r = run_cli(
        "trend",
        str(demo_files / "stacked.csv"),
        "--wave",
        WAVE_COLUMN,
        "--spec",
        str(demo_files / "spec.toml"),
        "--segment",
        "Segment",
        "--out",
        str(out),
    )
    assert r.returncode == 0, r.stderr
    assert "# Trend: stacked.csv" in r.stdout and "## Did the fix work" in r.stdout
    assert (out / "summary.md").read_text(encoding="utf-8") in r.stdout
    trend, changes, fixes = read_out(out)
    assert list(trend.columns[: len(TREND_CSV_FIRST)]) == TREND_CSV_FIRST
    assert list(changes.columns[: len(CHANGES_CSV_FIRST)]) == CHANGES_CSV_FIRST
    assert [str(w) for w in trend.wave.unique()] == list(WAVE_LABELS)
    assert len(trend) == 3 * 5 * 12  # waves x (All + 4 segments) x touchpoints
    sig = changes[changes.p_adj < 0.05]
    fixed = sig[(sig.segment == FIXED[0]) & (sig.touchpoint == FIXED[1])]
    assert len(fixed) == 1 and fixed.sentence.iloc[0].startswith(f"{FIXED[1]} ({FIXED[0]})")
    assert fixed.sentence.iloc[0] in r.stdout
    emerging = sig[(sig.segment == EMERGING[0]) & (sig.touchpoint == EMERGING[1])]
    assert emerging.to_class.tolist() == ["opportunity"]
    verdict = fixes[(fixes.segment == FIXED[0]) & (fixes.touchpoint == FIXED[1])]
    assert verdict.verdict.iloc[0] in ("reduced", "removed")


def test_one_file_per_wave_and_dates_by_year(
    demo_files: Path, tmp_path: Path, store_dir: Path
) -> None:
    files = [str(demo_files / f"wave_{w}.csv") for w in WAVE_LABELS]
    spec = str(demo_files / "spec.toml")
    r = run_cli(
        "trend", *files, "--spec", spec, "--segment", "Segment", "--out", str(tmp_path / "a")
    )
    assert r.returncode == 0, r.stderr
    by_file, changes_a, _ = read_out(tmp_path / "a")
    assert list(by_file.wave.unique()) == [f"wave_{w}" for w in WAVE_LABELS]  # the file stems
    r = run_cli(
        "trend",
        str(demo_files / "stacked.csv"),
        "--by",
        "year",  # the spec's date column, "Survey date"
        "--spec",
        spec,
        "--segment",
        "Segment",
        "--labels",
        "first,second,third",
        "--out",
        str(tmp_path / "b"),
    )
    assert r.returncode == 0, r.stderr
    by_year, changes_b, _ = read_out(tmp_path / "b")
    assert list(by_year.wave.unique()) == ["first", "second", "third"]
    # The same rows make the same waves, whichever way they are given.
    cols = ["segment", "touchpoint", "n", "penalty", "reward", "penalty_se", "class"]
    pd.testing.assert_frame_equal(by_file[cols], by_year[cols])
    num = ["d_penalty", "d_penalty_se", "d_reward", "p_adj"]
    pd.testing.assert_frame_equal(changes_a[num], changes_b[num])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["stacked.csv"], "One source makes one wave"),
        (["wave_2025.csv", "wave_2026.csv", "--wave", "Region"], "Several sources are one wave"),
        (["wave_2025.csv", "wave_2026.csv", "--labels", "a"], "one label per source"),
        (["stacked.csv", "--wave", "Region", "--labels", "a,b"], "'Region' has 4 waves"),
        (["wave_2025.csv", "--by", "year"], "'Survey date' has one value per year"),
        (["stacked.csv", "--wave", WAVE_COLUMN, "--from", "2025"], "both --from and --to"),
        (
            ["stacked.csv", "--wave", WAVE_COLUMN, "--from", "2025", "--to", "1999"],
            "No wave '1999'",
        ),
    ],
)
def test_mistakes_are_one_line_with_what_to_do(
    demo_files: Path, tmp_path: Path, store_dir: Path, args: list[str], message: str
) -> None:
    full = [str(demo_files / a) if a.endswith(".csv") else a for a in args]
    r = run_cli(
        "trend", *full, "--spec", str(demo_files / "spec.toml"), "--out", str(tmp_path / "o")
    )
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert message in r.stderr and "Traceback" not in r.stderr


# ---- the real Kansas City waves ----------------------------------------------------------


def test_kansas_city_waves_as_two_files_and_as_one_stacked_file(
    tmp_path: Path, store_dir: Path
) -> None:
    first = need_real(KC / "wave_2021_09.csv")
    second = need_real(KC / "wave_2022_03.csv")
    # The same touchpoints both ways: detection on the stacked file sees one more column as
    # a rating than on the first wave alone.
    common = ["--outcome", "q2_01", "--missing", "9,99", "--segment", "counci"]
    common += ["--touchpoints", "q3_*,q9_*,q12_*"]
    r = run_cli("trend", str(first), str(second), *common, "--out", str(tmp_path / "two"))
    assert r.returncode == 0, r.stderr
    two, changes_two, _ = read_out(tmp_path / "two")
    assert list(two.wave.unique()) == ["wave_2021_09", "wave_2022_03"]
    assert set(two.segment.unique()) == {"All", "1", "2", "3", "4", "5", "6"}
    # districts too small for 36 touchpoints say so in the row, never a traceback
    thin = two[two.insufficient]
    assert len(thin) and (thin.reason.str.len() > 0).all()
    assert two[two.segment == "All"].n.max() > 900

    stacked = tmp_path / "kc_stacked.csv"  # a temp copy, never in the repository
    pd.concat([pd.read_csv(first), pd.read_csv(second)]).to_csv(stacked, index=False)
    r = run_cli("trend", str(stacked), "--wave", "quarte", *common, "--out", str(tmp_path / "one"))
    assert r.returncode == 0, r.stderr
    one, changes_one, _ = read_out(tmp_path / "one")
    assert list(one.wave.unique()) == ["1QSEP2021", "3QMAR2022"]  # order of appearance
    # Both ways give the same per-wave numbers and changes: same rows, same mapping.
    cols = ["segment", "touchpoint", "n", "penalty", "reward", "penalty_se", "reward_se", "class"]
    pd.testing.assert_frame_equal(two[cols], one[cols], check_exact=False, atol=1e-10)
    num = ["d_penalty", "d_reward", "d_penalty_se", "d_reward_se", "p_adj"]
    pd.testing.assert_frame_equal(changes_two[num], changes_one[num], check_exact=False, atol=1e-10)


def test_stored_datasets_as_waves(demo_files: Path, tmp_path: Path, store_dir: Path) -> None:
    spec = str(demo_files / "spec.toml")
    for w in WAVE_LABELS[:2]:
        r = run_cli(
            "ingest", str(demo_files / f"wave_{w}.csv"), "--name", f"clients {w}", "--spec", spec
        )
        assert r.returncode == 0, r.stderr
    r = run_cli(
        "trend",
        "clients 2025",
        "clients 2026",
        "--segment",
        "Segment",
        "--out",
        str(tmp_path / "o"),
    )
    assert r.returncode == 0, r.stderr
    trend, changes, _ = read_out(tmp_path / "o")
    assert list(trend.wave.unique()) == ["clients 2025", "clients 2026"]
    sig = changes[changes.p_adj < 0.05]
    assert ((sig.segment == FIXED[0]) & (sig.touchpoint == FIXED[1])).any()
    # One stored dataset holding every wave: its date column grouped by year.
    r = run_cli("ingest", str(demo_files / "stacked.csv"), "--name", "clients", "--spec", spec)
    assert r.returncode == 0, r.stderr
    r = run_cli("trend", "clients", "--by", "year", "--out", str(tmp_path / "y"))
    assert r.returncode == 0, r.stderr
    by_year, _, _ = read_out(tmp_path / "y")
    assert [str(w) for w in by_year.wave.unique()] == list(WAVE_LABELS)
    # its spec did not name the wave column, so ingest left it out: the error says so
    r = run_cli("trend", "clients", "--wave", WAVE_COLUMN, "--out", str(tmp_path / "w"))
    assert r.returncode == 2 and "No column 'Wave' to take waves from" in r.stderr
    assert "'Survey date'" in r.stderr
