"""bench/ingest: a 1M-respondent wide CSV from the demo generator vs DuckDB's bare read_csv.

Run: .venv/bin/python bench/ingest.py [--rows N] [--repeat K]; writes bench/ingest.md.
Each case runs in a fresh subprocess so its peak memory (ru_maxrss) is its own.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# (imports, timed body): imports are outside the timing, as in a running server.
CASES = {
    "duckdb read_csv (baseline)": (
        "import duckdb",
        """
con = duckdb.connect()
con.execute("CREATE TABLE t AS SELECT * FROM read_csv(?)", [CSV])
rows = con.execute("SELECT count(*) FROM t").fetchall()[0][0]
""",
    ),
    "duckdb read_csv into a database file": (
        "import duckdb",
        """
con = duckdb.connect(DB)
con.execute("CREATE TABLE t AS SELECT * FROM read_csv(?)", [CSV])
rows = con.execute("SELECT count(*) FROM t").fetchall()[0][0]
con.close()
""",
    ),
    "cmot read_csv (detect + validate, in memory)": (
        "from cmot.ingest import read_csv",
        "rows = read_csv(CSV).data.num_rows",
    ),
    "cmot ingest (detect + validate + save to the store)": (
        "from cmot.ingest import ingest\nfrom cmot.store import Store\nstore = Store(DB)",
        'info, _ = ingest(store, CSV, "bench")\nrows = info.rows_kept',
    ),
}

RUNNER = """
import json, sys, time
CSV, DB = sys.argv[1], sys.argv[2]
{setup}
t0 = time.perf_counter()
{body}
seconds = time.perf_counter() - t0
# VmHWM, not ru_maxrss: Linux carries ru_maxrss over exec from the (large) parent.
hwm = [l for l in open("/proc/self/status") if l.startswith("VmHWM")][0]
peak_mb = int(hwm.split()[1]) / 1024
print(json.dumps({{"seconds": seconds, "peak_mb": peak_mb, "rows": rows}}))
"""


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        mem = next(
            int(x.split()[1]) // 1024 // 1024
            for x in Path("/proc/meminfo").read_text().splitlines()
            if x.startswith("MemTotal")
        )
    except (OSError, StopIteration):
        mem = 0
    return f"{os.cpu_count()} cores, {cpu}, {mem} GiB RAM, {platform.platform()}"


def make_csv(path: Path, rows: int) -> None:
    sys.path.insert(0, str(ROOT))
    from cmot.demo import generate_demo

    demo = generate_demo(n_per_segment=round(rows / 4.4), seed=1)
    demo.frame.to_csv(path, index=False)


def run_case(case: tuple[str, str], csv: Path, work: Path, i: int) -> dict[str, float]:
    db = work / f"store-{i}.duckdb"
    code = RUNNER.format(setup=case[0], body=case[1])
    out = subprocess.run(
        [sys.executable, "-c", code, str(csv), str(db)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    for p in work.glob(f"store-{i}.duckdb*"):  # a DuckDB file, or a cmot store folder
        shutil.rmtree(p) if p.is_dir() else p.unlink()
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="cmot-bench-") as tmp:
        work = Path(tmp)
        csv = work / "survey.csv"
        make_csv(csv, args.rows)
        size_mb = csv.stat().st_size / 1e6
        results: dict[str, list[dict[str, float]]] = {k: [] for k in CASES}
        for r in range(args.repeat):
            for name, body in CASES.items():  # interleaved, so drift hits every case alike
                results[name].append(run_case(body, csv, work, r))
        rows = int(results["duckdb read_csv (baseline)"][0]["rows"])
    base = statistics.median(x["seconds"] for x in results["duckdb read_csv (baseline)"])
    lines = [
        "# bench/ingest",
        "",
        f"- date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        f"- machine: {machine()}",
        f"- file: wide CSV from `cmot.demo.generate_demo`, {rows:,} respondents, "
        f"{size_mb:,.0f} MB, 23 columns (12 touchpoints with 0 = not applicable, weights, "
        "a date, text attributes)",
        f"- method: each case in a fresh subprocess, {args.repeat} interleaved runs, median; "
        "peak memory is the subprocess's VmHWM (Python and libraries included)",
        "",
        "| case | median s | runs (s) | ratio to baseline | rows/s | peak MB |",
        "|---|---:|---|---:|---:|---:|",
    ]
    for name, runs in results.items():
        med = statistics.median(x["seconds"] for x in runs)
        peak = max(x["peak_mb"] for x in runs)
        each = ", ".join(f"{x['seconds']:.2f}" for x in runs)
        lines.append(
            f"| {name} | {med:.2f} | {each} | {med / base:.2f}x | {rows / med:,.0f} | {peak:,.0f} |"
        )
    lines += [
        "",
        "Goal (issue 2): ingest within 1.5x of the bare read_csv, peak memory under 1.5 GB.",
        "The bare read_csv keeps the table in memory; ingest also writes it to the store's",
        "file, so the second row (read_csv into a database file) is the like-for-like floor.",
        "",
    ]
    text = "\n".join(lines)
    (ROOT / "bench" / "ingest.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
