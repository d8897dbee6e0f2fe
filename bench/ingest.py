"""bench/ingest: a 1M-respondent wide CSV from the demo generator vs DuckDB's bare read_csv.

Run: .venv/bin/python bench/ingest.py [--rows N] [--repeat K]; writes bench/ingest.md.
With --columns N (issue 29 G): a file of N columns (an id, an outcome, ratings 1-5 with a 9)
and --rows respondents (default 1,000 then), mapped and ingested; writes bench/ingest-wide.md.
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
        "from cmot.ingest.pipeline import read_csv",
        "rows = read_csv(CSV).data.num_rows",
    ),
    "cmot ingest (detect + validate + save to the store)": (
        "from cmot.store.intake import ingest\n"
        "from cmot.store.datasets import Store\nstore = Store(DB)",
        'info, _ = ingest(store, CSV, "bench")\nrows = info.rows_kept',
    ),
}

# A very wide file (--columns): the Data page's mapping step, and the save after it.
WIDE_CASES = {
    "cmot detect_roles (the Data page's mapping)": (
        "from cmot.ingest.pipeline import detect_roles\n"
        "from cmot.ingest.options import IngestOptions",
        "det = detect_roles(CSV, IngestOptions(max_columns=10**6))\nrows = det.rows",
    ),
    "cmot ingest (map + validate + save to the store)": (
        "from cmot.store.intake import ingest\nfrom cmot.ingest.options import IngestOptions\n"
        "from cmot.store.datasets import Store\nstore = Store(DB)",
        'opts = IngestOptions(outcome="overall", max_columns=10**6)\n'
        'info, _ = ingest(store, CSV, "bench", opts)\nrows = info.rows_kept',
    ),
}

RUNNER = """
import json, resource, sys, time
CSV, DB = sys.argv[1], sys.argv[2]
{setup}
t0 = time.perf_counter()
r0 = resource.getrusage(resource.RUSAGE_SELF)
{body}
seconds = time.perf_counter() - t0
r1 = resource.getrusage(resource.RUSAGE_SELF)
cpu = r1.ru_utime + r1.ru_stime - r0.ru_utime - r0.ru_stime
# VmHWM, not ru_maxrss: Linux carries ru_maxrss over exec from the (large) parent.
hwm = [l for l in open("/proc/self/status") if l.startswith("VmHWM")][0]
peak_mb = int(hwm.split()[1]) / 1024
print(json.dumps({{"seconds": seconds, "cpu": cpu, "peak_mb": peak_mb, "rows": rows}}))
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
    from cmot.store.demo import generate_demo

    demo = generate_demo(n_per_segment=round(rows / 4.4), seed=1)
    demo.frame.to_csv(path, index=False)


WIDE_NOTE = """\
Mapping reads a wide file in batches of `cmot.ingest.column_profiles.BATCH_COLUMNS` columns, one
statement per type and batch, so it grows linearly with the columns. The save does not yet:
validation's counts (`cmot.ingest.clean.plan_select`) and the stored SELECT are one statement
each, as wide as the file, and DuckDB's planning of such a statement (its common-subexpression
pass) grows with the square of its width (1,000 columns: 3.6 s CPU to plan the stored SELECT,
0.2 s without that pass).
"""


def make_wide_csv(path: Path, columns: int, rows: int) -> None:
    import numpy as np

    rng = np.random.default_rng(1)
    ratings = rng.integers(1, 6, size=(rows, columns - 2))
    ratings[rng.random(size=ratings.shape) < 0.1] = 9  # don't know
    with path.open("w") as f:
        f.write(",".join(["id", "overall", *(f"q{i}" for i in range(columns - 2))]) + "\n")
        for r in range(rows):
            f.write(f"{r},{rng.integers(1, 6)}," + ",".join(map(str, ratings[r])) + "\n")


def wide(columns: int, rows: int, repeat: int) -> None:
    """Map and ingest a file of `columns` columns: bench/ingest-wide.md."""
    with tempfile.TemporaryDirectory(prefix="cmot-bench-") as tmp:
        work = Path(tmp)
        csv = work / "wide.csv"
        make_wide_csv(csv, columns, rows)
        size_mb = csv.stat().st_size / 1e6
        load = os.getloadavg()[0]
        results: dict[str, list[dict[str, float]]] = {k: [] for k in WIDE_CASES}
        for r in range(repeat):
            for name, body in WIDE_CASES.items():
                results[name].append(run_case(body, csv, work, r))
        load = max(load, os.getloadavg()[0])
    lines = [
        "# bench/ingest --columns (very wide files, issue 29 G)",
        "",
        f"- date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        f"- machine: {machine()}; load average up to {load:.1f} during the run (a shared "
        "machine: wall seconds stretch with the load, CPU seconds much less)",
        f"- file: {columns:,} columns (an id, an outcome, ratings 1-5 with 10% 9 = don't "
        f"know) x {rows:,} respondents, {size_mb:,.1f} MB",
        f"- method: each case in a fresh subprocess, {repeat} run(s), median; CPU is user + "
        "system seconds of the process (DuckDB's threads included); peak memory is its VmHWM "
        "(Python and libraries included, about 130 MB)",
        "",
        "| case | median wall s | median CPU s | peak MB |",
        "|---|---:|---:|---:|",
    ]
    for name, runs in results.items():
        wall = statistics.median(x["seconds"] for x in runs)
        cpu = statistics.median(x["cpu"] for x in runs)
        peak = max(x["peak_mb"] for x in runs)
        lines.append(f"| {name} | {wall:.1f} | {cpu:.1f} | {peak:,.0f} |")
    lines += ["", *WIDE_NOTE.splitlines(), ""]
    text = "\n".join(lines)
    (ROOT / "bench" / "ingest-wide.md").write_text(text)
    print(text)


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
    ap.add_argument("--columns", type=int, help="a very wide file instead: bench/ingest-wide.md")
    args = ap.parse_args()
    if args.columns:
        rows = args.rows if "--rows" in sys.argv else 1_000
        wide(args.columns, rows, args.repeat)
        return
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
        f"- file: wide CSV from `cmot.store.demo.generate_demo`, {rows:,} respondents, "
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
