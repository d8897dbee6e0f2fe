"""`python -m cmot trend` end to end: the demo's waves and the real Kansas City waves."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from cmot.cli.trend import CHANGES_CSV_FIRST, TREND_CSV_FIRST
from cmot.spec import save_spec
from cmot.store.demo import EMERGING, FIXED, WAVE_COLUMN, WAVE_LABELS, demo_spec, generate_waves
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


@pytest.mark.slow  # a fresh process per command: not for the quick loop
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


@pytest.mark.slow  # a fresh process per command: not for the quick loop
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


@pytest.mark.slow  # a fresh process per command: not for the quick loop
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


@pytest.mark.slow  # a fresh process per command: not for the quick loop
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


@pytest.mark.slow  # a fresh process per command: not for the quick loop
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


# ---- waves in separate files, their columns renamed (issue 23) ---------------------------

KC_FLAGS = ["--outcome", "q2_01", "--missing", "9,99", "--touchpoints", "q3_*"]


def main_run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """`python -m cmot ...` in this process: its exit code, stdout and stderr."""
    from cmot.cli.main import main

    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def kc_second(tmp_path: Path, name: str, change) -> Path:  # type: ignore[no-untyped-def]
    """The second Kansas City wave, changed by `change` (a frame -> frame), as a temp file."""
    frame = change(pd.read_csv(need_real(KC / "wave_2022_03.csv")))
    path = tmp_path / name
    frame.to_csv(path, index=False)
    return path


def renamed_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """The second wave as another export names it: Q3-01 for q3_01, the district spelled out,
    and the columns in another order."""
    frame = frame.rename(columns={c: c.upper().replace("_", "-") for c in frame if c[0] == "q"})
    frame = frame.rename(columns={"counci": "Council District"})
    return frame[list(reversed(frame.columns))]


@pytest.mark.slow  # a command-line round trip over three wave files (18 s on a busy machine)
def test_renamed_columns_in_a_wave_file_are_matched_as_link_matches_them(
    tmp_path: Path, store_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = need_real(KC / "wave_2021_09.csv")
    second = need_real(KC / "wave_2022_03.csv")
    renamed = kc_second(tmp_path, "wave_2022_03_renamed.csv", renamed_columns)
    seg = ["--segment", "counci"]
    code, out, err = main_run(
        capsys, "trend", str(first), str(second), *KC_FLAGS, *seg, "--out", str(tmp_path / "a")
    )
    assert code == 0, err
    code, out, err = main_run(
        capsys, "trend", str(first), str(renamed), *KC_FLAGS, *seg, "--out", str(tmp_path / "b")
    )
    assert code == 0, err
    # The matches are said, with link's evidence
    assert "python -m cmot link" in out and "Q2-01 as q2_01" in out
    assert "Council District as counci (same values 1-6" in out
    same, changes_same, _ = read_out(tmp_path / "a")
    ren, changes_ren, _ = read_out(tmp_path / "b")
    assert list(ren.wave.unique()) == ["wave_2021_09", "wave_2022_03_renamed"]
    cols = ["segment", "touchpoint", "n", "penalty", "reward", "penalty_se", "reward_se", "class"]
    pd.testing.assert_frame_equal(same[cols], ren[cols])
    num = ["d_penalty", "d_reward", "d_penalty_se", "d_reward_se", "p_adj"]
    pd.testing.assert_frame_equal(changes_same[num], changes_ren[num])

    # As link would: each wave stored with its own names, linked, trended by the link.
    own = ["--outcome", "Q2-01", "--missing", "9,99", "--touchpoints", "Q3-*"]
    assert main_run(capsys, "ingest", str(first), "--name", "sep21", *KC_FLAGS)[0] == 0
    assert main_run(capsys, "ingest", str(renamed), "--name", "mar22", *own)[0] == 0
    code, out, err = main_run(capsys, "link", "kc", "sep21", "mar22", "--yes")
    assert code == 0, err
    code, out, err = main_run(capsys, "trend", "--link", "kc", *seg, "--out", str(tmp_path / "c"))
    assert code == 0, err
    linked, changes_linked, _ = read_out(tmp_path / "c")
    pd.testing.assert_frame_equal(linked[cols], ren[cols])
    pd.testing.assert_frame_equal(changes_linked[num], changes_ren[num])


@pytest.mark.slow  # a command-line round trip over two wave files
def test_columns_the_trend_does_not_read_never_block_it(
    tmp_path: Path, store_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Attributes not asked for and extra columns may be missing or new in a later wave; a
    touchpoint it lacks is left out with a note."""
    first = need_real(KC / "wave_2021_09.csv")

    def change(frame: pd.DataFrame) -> pd.DataFrame:
        frame = frame.drop(columns=["method", "city", "zip", "q40_w", "q3_05", "id"])
        return frame.assign(**{"new question": 1, "q99_01": "text"})

    other = kc_second(tmp_path, "fewer.csv", change)
    code, out, err = main_run(
        capsys, "trend", str(first), str(other), *KC_FLAGS, "--segment", "counci",
        "--out", str(tmp_path / "o"),
    )  # fmt: skip
    assert code == 0, err
    assert "fewer.csv has no column matching touchpoint(s) q3_05" in out
    trend, _, _ = read_out(tmp_path / "o")
    assert set(trend.touchpoint) == {f"q3_{i:02d}" for i in range(1, 17)} - {"q3_05"}


@pytest.mark.parametrize(
    ("what", "change", "flags"),
    [
        ("the outcome", lambda f: f.drop(columns="q2_01"), []),
        ("a segment column", lambda f: f.drop(columns="counci"), ["--segment", "counci"]),
    ],
)
def test_a_column_no_match_finds_is_refused_naming_the_file_and_link(
    tmp_path: Path,
    store_dir: Path,
    capsys: pytest.CaptureFixture[str],
    what: str,
    change,  # type: ignore[no-untyped-def]
    flags: list[str],
) -> None:
    first = need_real(KC / "wave_2021_09.csv")
    other = kc_second(tmp_path, "later wave.csv", change)
    out_dir = str(tmp_path / "o")
    code, out, err = main_run(
        capsys, "trend", str(first), str(other), *KC_FLAGS, *flags, "--out", out_dir
    )
    assert code == 2, (out, err)
    column = "q2_01" if what == "the outcome" else "counci"
    assert f"later wave.csv has no column matching {column!r}, {what} in wave_2021_09.csv" in err
    # the exact commands: both files stored, linked naming the column, the trend by the link
    assert f"python -m cmot ingest {first} --name wave_2021_09 --outcome q2_01" in err
    assert f"python -m cmot ingest '{other}' --name 'later wave'" in err
    assert "python -m cmot link 'wave_2021_09-later wave' wave_2021_09 'later wave' " in err
    assert f"--map COLUMN={column} --yes" in err
    assert "python -m cmot trend --link 'wave_2021_09-later wave'" in err and out_dir in err
    assert "Close names" not in err and "Traceback" not in err
    assert err.count("\n") == 1  # one line


def test_close_names_are_only_really_close_ones(
    tmp_path: Path, store_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """q2_01 is no close name of q2_1 (a different question number); Q2_01 is."""
    first = str(need_real(KC / "wave_2021_09.csv"))
    out = ["--out", str(tmp_path / "o")]
    code, _, err = main_run(capsys, "trend", first, first, "--outcome", "q2_1", *out)
    assert code == 2 and "There is no column 'q2_1'" in err
    assert "Close names" not in err, err
    code, _, err = main_run(capsys, "trend", first, first, "--outcome", "Q2_01", *out)
    assert code == 2 and "Close names: q2_01." in err, err
