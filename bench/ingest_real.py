"""bench/ingest_real: a real survey's shape at 100k respondents, the way an analyst loads it.

The Kansas City resident survey (../shared/data, 160 columns: 83 ratings with 9 = don't
know, coded segments, importance picks) resampled with replacement to --rows respondents
(seeded). Three cases, each in a fresh subprocess, against DuckDB's bare read_csv of the
same file in the same run:
- upload to the mapping on screen: `detect_roles` with the outcome the user picks;
- save: `ingest` into a store with the same choices.

Run: .venv/bin/python bench/ingest_real.py [--rows N] [--repeat K]; writes bench/ingest-real.md.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ingest import CASES as BARE_CASES  # bench/ingest.py: the shared runner and baseline
from ingest import ROOT, machine, run_case

SOURCE = ROOT.parent / "shared" / "data" / "kansas-city-resident" / "wave_2021_09.csv"
CHOICES = 'IngestOptions(outcome="q2_01", outcome_kind="scale")'

CASES = {
    "duckdb read_csv (baseline)": BARE_CASES["duckdb read_csv (baseline)"],
    "upload to the mapping (detect_roles)": (
        "from cmot.ingest import IngestOptions, detect_roles",
        f"det = detect_roles(CSV, {CHOICES})\nrows = det.rows",
    ),
    "save (ingest: detect + validate + store)": (
        "from cmot.ingest import IngestOptions, ingest\nfrom cmot.store import Store\n"
        "store = Store(DB)",
        f'info, _ = ingest(store, CSV, "bench", {CHOICES})\nrows = info.rows_read',
    ),
}
GOALS = {
    "upload to the mapping (detect_roles)": "under 2 s",
    "save (ingest: detect + validate + store)": "under 5 s, and 2x the bare read",
}


def make_csv(path: Path, rows: int) -> int:
    import duckdb

    con = duckdb.connect()
    # Resample whole respondents (seeded), so every column keeps its real distribution.
    con.execute("SELECT setseed(0.42)")
    con.execute(
        # Each copy a new respondent: a fresh id, so the file stays valid (ids unique).
        "COPY (SELECT s.* REPLACE (row_number() OVER ()::VARCHAR AS id) "
        "FROM read_csv(?, all_varchar = true) s, range(?) r "
        "ORDER BY random() LIMIT ?) TO ? (HEADER, DELIMITER ',')",
        [str(SOURCE), rows // 1000 + 1, rows, str(path)],
    )
    return len(con.execute("SELECT * FROM read_csv(?) LIMIT 0", [str(path)]).description)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--note", default="", help="a line about the machine's load")
    args = ap.parse_args()
    if not SOURCE.exists():
        sys.exit(f"needs {SOURCE} (../shared beside the repository)")
    with tempfile.TemporaryDirectory(prefix="cmot-bench-") as tmp:
        work = Path(tmp)
        csv = work / "survey.csv"
        ncols = make_csv(csv, args.rows)
        size_mb = csv.stat().st_size / 1e6
        results: dict[str, list[dict[str, float]]] = {k: [] for k in CASES}
        for r in range(args.repeat):
            for name, case in CASES.items():  # interleaved, so drift hits every case alike
                results[name].append(run_case(case, csv, work, r))
    base = statistics.median(x["seconds"] for x in results["duckdb read_csv (baseline)"])
    lines = [
        "# bench/ingest-real",
        "",
        f"- date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        f"- machine: {machine()}" + (f" ({args.note})" if args.note else ""),
        f"- file: the Kansas City resident survey resampled (seeded) to {args.rows:,} "
        f"respondents, {ncols} columns, {size_mb:,.0f} MB; the user's choice: outcome q2_01 "
        "as a 1-5 scale, everything else detected (9 and 99 proposed as missing)",
        f"- method: each case in a fresh subprocess, {args.repeat} interleaved runs, median; "
        "peak memory is the subprocess's VmHWM",
        "",
        "| case | median s | runs (s) | ratio to baseline | peak MB | goal |",
        "|---|---:|---|---:|---:|---|",
    ]
    for name, runs in results.items():
        med = statistics.median(x["seconds"] for x in runs)
        peak = max(x["peak_mb"] for x in runs)
        each = ", ".join(f"{x['seconds']:.2f}" for x in runs)
        goal = GOALS.get(name, "")
        lines.append(f"| {name} | {med:.2f} | {each} | {med / base:.2f}x | {peak:,.0f} | {goal} |")
    lines.append("")
    text = "\n".join(lines)
    (ROOT / "bench" / "ingest-real.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
