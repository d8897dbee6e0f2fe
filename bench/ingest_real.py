"""bench/ingest_real: a real survey's shape at 100k respondents, the way an analyst loads it.

The Kansas City resident survey (../shared/data, 160 columns: 83 ratings with 9 = don't
know, coded segments, importance picks) resampled with replacement to --rows respondents
(seeded). Three cases, each in a fresh subprocess, against DuckDB's bare read_csv of the
same file in the same run:
- upload to the mapping on screen: `detect_roles` with the outcome the user picks;
- save: `ingest` into a store with the same choices.

And a second file (issue 23, round two): a 226-column, 1,000-respondent export of the
shape real tools write (`make_wide_226`): bracketed headers (`Q4[07]`), headers cut at 64
characters (several cut alike, so read as `name`, `name_1`, ...), 1-5 items with 9 = don't
know, free-text and coded text columns and a start date. Goals: upload to the mapping under
2 s, save under 5 s. The machine is shared: CPU seconds are reported beside wall seconds.

Run: .venv/bin/python bench/ingest_real.py [--rows N] [--repeat K];
writes bench/ingest-real.md.
"""

from __future__ import annotations

import argparse
import os
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
        "from cmot.ingest.pipeline import IngestOptions, detect_roles",
        f"det = detect_roles(CSV, {CHOICES})\nrows = det.rows",
    ),
    "save (ingest: detect + validate + store)": (
        "from cmot.store.intake import IngestOptions, ingest\n"
        "from cmot.store.datasets import Store\n"
        "store = Store(DB)",
        f'info, _ = ingest(store, CSV, "bench", {CHOICES})\nrows = info.rows_read',
    ),
}
GOALS = {
    "upload to the mapping (detect_roles)": "under 2 s",
    "save (ingest: detect + validate + store)": "under 5 s, and 2x the bare read",
}


# The 226-column export: outcome `Overall[1]` (1-5, 9 = don't know), the rest detected.
WIDE_CHOICES = 'IngestOptions(outcome="Overall[1]", outcome_kind="scale")'
WIDE_CASES = {
    "226 columns: upload to the mapping (detect_roles)": (
        "from cmot.ingest.pipeline import IngestOptions, detect_roles",
        f"det = detect_roles(CSV, {WIDE_CHOICES})\nrows = det.rows",
    ),
    "226 columns: save (ingest: detect + validate + store)": (
        "from cmot.store.intake import IngestOptions, ingest\n"
        "from cmot.store.datasets import Store\n"
        "store = Store(DB)",
        f'info, _ = ingest(store, CSV, "bench", {WIDE_CHOICES})\nrows = info.rows_read',
    ),
}
WIDE_GOALS = {
    "226 columns: upload to the mapping (detect_roles)": "under 2 s",
    "226 columns: save (ingest: detect + validate + store)": "under 5 s",
}
CUT = 64  # where SPSS-era and some export tools cut a header
STEMS = (
    "How satisfied are you with the cleanliness and upkeep of the stations you use most",
    "How satisfied are you with the information given to you when services are disrupted",
    "Thinking about your most recent visit, how easy was it to find what you needed",
)


def make_wide_226(path: Path, rows: int = 1_000, seed: int = 23) -> int:
    """A 226-column export: an id, a start date, `Overall[1]`, 200 bracketed items
    `Q1[01]`..`Q20[10]` and 10 items under headers cut at 64 characters (three stems, so
    several cut alike), all 1-5 with about 8% 9 = don't know; 5 coded or text segments, 8 free-text
    columns. Ratings follow one latent quality, so the outcome has drivers."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    quality = rng.normal(size=rows)
    cols: dict[str, object] = {"Response ID": [f"R_{i:06d}" for i in range(rows)]}
    start = pd.Timestamp("2024-03-01")
    cols["Start Date"] = (
        start + pd.to_timedelta(rng.integers(0, 60 * 24 * 3600, size=rows), unit="s")
    ).strftime("%Y-%m-%d %H:%M:%S")

    def item(weight: float) -> np.ndarray:
        x = np.clip(np.rint(3.2 + weight * quality + rng.normal(scale=0.9, size=rows)), 1, 5)
        return np.where(rng.random(rows) < 0.08, 9, x).astype(int)

    cols["Overall[1]"] = item(1.0)
    for b in range(1, 21):
        for i in range(1, 11):
            cols[f"Q{b}[{i:02d}]"] = item(0.6 if i <= 3 else 0.2)
    # Headers cut at 64 characters: the first stem's and the second's two aspects cut alike.
    for k in range(10):
        stem = STEMS[k % 3]
        full = f"{stem} - aspect {k // 3 + 1}" if k < 6 else f"{stem} ({k})"
        name = full[:CUT]
        while name in cols:  # a header the file repeats: written as it is, read as name_1
            name = name + " "
        cols[name] = item(0.3)
    cols["Region"] = rng.choice(["North", "South", "East", "West", "Central"], size=rows)
    cols["Age band"] = rng.choice([1, 2, 3, 4, 5, 6, 9], size=rows)
    cols["Channel"] = rng.choice(["Web", "Phone", "Mail"], size=rows, p=[0.6, 0.3, 0.1])
    cols["Member"] = rng.choice(["Yes", "No"], size=rows)
    cols["Income band"] = rng.choice([1, 2, 3, 4, 99], size=rows)
    words = np.array(
        ["late", "slow", "rude", "clean", "quick", "helpful", "crowded", "broken", "kind", "clear"]
    )
    for t in range(8):
        cols[f"Comment {t + 1}"] = [
            "" if rng.random() < 0.5 else " ".join(rng.choice(words, size=rng.integers(3, 30)))
            for _ in range(rows)
        ]
    frame = pd.DataFrame(cols)
    # Headers padded to stay apart in the frame are written as the file repeats them.
    header = [c.rstrip() for c in frame.columns]
    frame.to_csv(path, index=False, header=header)
    return len(header)


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
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="cmot-bench-") as tmp:
        work = Path(tmp)
        csv = work / "survey.csv"
        ncols = make_csv(csv, args.rows)
        size_mb = csv.stat().st_size / 1e6
        wide_csv = work / "wide226.csv"
        wide_cols = make_wide_226(wide_csv)
        wide_mb = wide_csv.stat().st_size / 1e6
        results: dict[str, list[dict[str, float]]] = {k: [] for k in CASES}
        wide_results: dict[str, list[dict[str, float]]] = {k: [] for k in WIDE_CASES}
        for r in range(args.repeat):
            for name, case in CASES.items():  # interleaved, so drift hits every case alike
                results[name].append(run_case(case, csv, work, r))
            for name, case in WIDE_CASES.items():
                wide_results[name].append(run_case(case, wide_csv, work, r))
            load = max(load, os.getloadavg()[0])
    base = statistics.median(x["seconds"] for x in results["duckdb read_csv (baseline)"])
    busy = (
        f"; load average up to {load:.1f} during the run on {os.cpu_count()} cores (a shared, "
        "busy machine: wall seconds stretch with the load, CPU seconds much less)"
        if load > 1.5
        else ""
    )
    lines = [
        "# bench/ingest-real",
        "",
        f"- date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        f"- machine: {machine()}" + (f" ({args.note})" if args.note else "") + busy,
        f"- file: the Kansas City resident survey resampled (seeded) to {args.rows:,} "
        f"respondents, {ncols} columns, {size_mb:,.0f} MB; the user's choice: outcome q2_01 "
        "as a 1-5 scale, everything else detected (9 and 99 proposed as missing)",
        f"- method: each case in a fresh subprocess, {args.repeat} interleaved runs, median; "
        "CPU is user + system seconds of the process (DuckDB's threads included); peak "
        "memory is the subprocess's VmHWM",
        "",
        "| case | median wall s | runs (s) | median CPU s | ratio to baseline | peak MB | goal |",
        "|---|---:|---|---:|---:|---:|---|",
    ]
    for name, runs in results.items():
        lines.append(row(name, runs, GOALS.get(name, ""), base))
    lines += [
        "",
        "## A 226-column export (issue 23, round two)",
        "",
        f"- file: `make_wide_226`, 1,000 respondents x {wide_cols} columns, {wide_mb:.1f} MB: "
        "an id, a start date, `Overall[1]`, 200 bracketed items `Q1[01]`..`Q20[10]`, 10 items "
        "under headers cut at 64 characters (several cut alike: read as `name_1`, ...), all "
        "1-5 with 8% 9 = don't know; 5 coded or text segments, 8 free-text columns",
        "- the user's choice: outcome `Overall[1]` as a 1-5 scale, everything else detected",
        "",
        "| case | median wall s | runs (s) | median CPU s | peak MB | goal |",
        "|---|---:|---|---:|---:|---|",
    ]
    for name, runs in wide_results.items():
        lines.append(row(name, runs, WIDE_GOALS.get(name, ""), None))
    lines.append("")
    text = "\n".join(lines)
    (ROOT / "bench" / "ingest-real.md").write_text(text)
    print(text)


def row(name: str, runs: list[dict[str, float]], goal: str, base: float | None) -> str:
    med = statistics.median(x["seconds"] for x in runs)
    cpu = statistics.median(x["cpu"] for x in runs)
    peak = max(x["peak_mb"] for x in runs)
    each = ", ".join(f"{x['seconds']:.2f}" for x in runs)
    ratio = f" {med / base:.2f}x |" if base else ""
    return f"| {name} | {med:.2f} | {each} | {cpu:.2f} |{ratio} {peak:,.0f} | {goal} |"


if __name__ == "__main__":
    main()
