"""`python -m cmot analyze`: tables and a summary from a CSV or a dataset; exit 2 on bad input."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from cmot.cli.main import main
from cmot.ingest.options import IngestOptions
from cmot.spec import load_spec
from cmot.store.datasets import Store
from cmot.store.demo import DEMO_CSV, DEMO_SPEC
from cmot.store.intake import ingest

REQUIRED = [
    "segment",
    "touchpoint",
    "n",
    "mean",
    "top_box",
    "bottom_box",
    "penalty",
    "reward",
    "penalty_se",
    "reward_se",
    "ris",
    "ia",
    "class",
]


def test_analyze_a_csv_writes_the_tables_and_summary(tmp_path: Path) -> None:
    if not DEMO_CSV.exists():
        pytest.skip("the demo survey has not been generated (python -m cmot.store.demo)")
    out = tmp_path / "out"
    code = main(
        [
            "analyze",
            str(DEMO_CSV),
            "--spec",
            str(DEMO_SPEC),
            "--segment",
            "Segment",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    moments = pd.read_csv(out / "moments.csv")
    assert list(moments.columns[: len(REQUIRED)]) == REQUIRED
    assert moments.segment.iloc[0] == "All"
    assert set(moments["class"]) <= {
        "vulnerability",
        "opportunity",
        "hybrid",
        "low impact",
        "insufficient",
    }
    summary = (out / "summary.md").read_text()
    assert "## How the segments differ" in summary
    assert "is a vulnerability for" in summary
    assert len(pd.read_csv(out / "comparison.csv")) > 0


def test_analyze_the_airline_csv_with_missing_codes(tmp_path: Path, airline_csv: Path) -> None:
    out = tmp_path / "out"
    args = ["analyze", str(airline_csv), "--segment", "Class", "--missing", "0"]
    args += ["--outcome", "satisfaction", "--positive", "satisfied", "--out", str(out)]
    assert main(args) == 0
    moments = pd.read_csv(out / "moments.csv")
    assert set(moments.segment) == {"All", "Business", "Eco", "Eco Plus"}
    assert len(moments) == 4 * 14


def test_analyze_a_stored_dataset(tmp_path: Path, store: Store) -> None:
    if not DEMO_CSV.exists():
        pytest.skip("the demo survey has not been generated (python -m cmot.store.demo)")
    ingest(store, DEMO_CSV, "demo", IngestOptions(spec=load_spec(DEMO_SPEC)))
    out = tmp_path / "out"
    assert main(["analyze", "demo", "--segment", "Segment", "--out", str(out)]) == 0
    assert (out / "flips.csv").exists()


@pytest.mark.parametrize(
    ("name", "args", "message"),
    [
        ("unknown dataset", ["nosuchdataset", "--out", "OUT"], "No dataset named"),
        ("missing csv", ["nosuch.csv", "--out", "OUT"], "No file"),
        ("unknown segment column", ["DEMO", "--segment", "Nope", "--out", "OUT"], "No column"),
    ],
)
def test_bad_input_exits_2_with_one_message(
    tmp_path: Path, store: Store, capsys: pytest.CaptureFixture[str], name, args, message
) -> None:
    if "DEMO" in args and not DEMO_CSV.exists():
        pytest.skip("the demo survey has not been generated (python -m cmot.store.demo)")
    out = str(tmp_path / "o")
    args = [str(DEMO_CSV) if a == "DEMO" else out if a == "OUT" else a for a in args]
    if str(DEMO_CSV) in args:
        args += ["--spec", str(DEMO_SPEC)]
    assert main(["analyze", *args]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
