"""`python -m cmot analyze ... --comments COL` writes evidence.csv: quotes only from raters
on their side, personal data masked, formula-safe."""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd
import pytest

from cmot.feedback.evidence import EVIDENCE_COLUMNS
from cmot.store.demo import (
    COMMENT_COLUMN,
    SEGMENT_COLUMN,
    TOUCHPOINTS,
    demo_comments,
    generate_demo,
)
from tests.unit.test_cli import DEMO_SPEC, run_cli

NASTY = "=cmd|' /C calc'!A0 <script>x</script> [link](http://e.x) mail me: a.b@example.org"


@pytest.mark.slow  # a fresh process per command: not for the quick loop
def test_analyze_writes_evidence_csv(tmp_path: Path) -> None:
    frame = generate_demo(300, seed=5).frame
    frame[COMMENT_COLUMN] = demo_comments(frame, seed=5)
    frame.loc[frame.index[:5], COMMENT_COLUMN] = NASTY  # whoever they are, whatever they rated
    csv = tmp_path / "demo.csv"
    frame.to_csv(csv, index=False)
    out = tmp_path / "out"
    done = run_cli(
        "analyze", str(csv), "--spec", str(DEMO_SPEC), "--segment", SEGMENT_COLUMN,
        "--comments", COMMENT_COLUMN, "--out", str(out),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "evidence.csv" in done.stdout
    raw = (out / "evidence.csv").read_bytes()
    ev = pd.read_csv(io.BytesIO(raw), encoding="utf-8-sig", dtype={"respondent": str})
    assert list(ev.columns) == EVIDENCE_COLUMNS
    assert {"All", "Public agencies"} <= set(ev["segment"])
    by_id = frame.set_index("Client ID")
    for row in ev.itertuples(index=False):
        rating = by_id.at[row.respondent, row.touchpoint]
        assert 1 <= rating <= 2 if row.side == "low" else rating == 5, row
        if row.segment != "All":
            assert by_id.at[row.respondent, SEGMENT_COLUMN] == row.segment
    assert set(ev["touchpoint"]) <= set(TOUCHPOINTS)
    nasty = ev[ev["quote"].str.contains("calc", regex=False)]
    assert len(nasty) and not nasty["quote"].str.startswith(("=", "+", "-", "@")).any()
    assert b"example.org" not in raw and "[email]" in nasty["quote"].iloc[0]


@pytest.mark.slow  # a fresh process per command: not for the quick loop
def test_analyze_names_a_missing_comment_column(tmp_path: Path) -> None:
    frame = generate_demo(100, seed=5).frame
    csv = tmp_path / "demo.csv"
    frame.to_csv(csv, index=False)
    done = run_cli(
        "analyze", str(csv), "--spec", str(DEMO_SPEC), "--comments", "Nope",
        "--out", str(tmp_path / "o"),
    )  # fmt: skip
    assert done.returncode != 0
    assert "Nope" in done.stderr
