"""bench/results_stage: the serial part of an analysis after its sums (issue 27, goal 1).

Once the sufficient statistics are summed (in parallel, bench/engine.py), a view's result is
made on one thread: classes, estimates and warnings (`classify_moments`, with `guardrails`),
the flips, every pairwise comparison and a what-if. Those costs do not shrink with more
cores, so at 1M respondents they are a fixed share of the wall time. This times each on the
cached statistics of bench/engine.py's 1,000,000-respondent survey (6 segments, 14
touchpoints): medians of 30 calls in one process, after one untimed call.

Run: .venv/bin/python bench/results_stage.py [--workdir DIR] [--out FILE]; it writes
bench/results_stage.md (or --out) and prints the table.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
for p in (ROOT, ROOT / "bench"):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))

import engine as E  # noqa: E402  (bench/engine.py: the same survey and spec)

N = 1_000_000
REPEATS = 30


def median_ms(f: Callable[[], object]) -> float:
    f()
    times = []
    for _ in range(REPEATS):
        t0 = time.perf_counter()
        f()
        times.append(time.perf_counter() - t0)
    return 1000 * statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--workdir", default=tempfile.gettempdir())
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results_stage.md")
    args = ap.parse_args()
    import duckdb

    from cmot.results import guardrails, whatif
    from cmot.results import moments as M
    from cmot.results.compare import compare_all, find_flips

    path = Path(args.workdir) / f"cmot_bench_{N}.parquet"
    if not path.exists():
        E.write_survey(path, N)
    spec = E.bench_spec()
    stats = M.compute_stats(
        duckdb.connect(), f"read_parquet('{path}')", spec, "Segment", cache_key="stage"
    )
    res = M.classify_moments(stats)
    load = os.getloadavg()[0]
    steps: list[tuple[str, Callable[[], object]]] = [
        ("classes, estimates and warnings (classify_moments)", lambda: M.classify_moments(stats)),
        (
            "of which the warnings (guardrails)",
            lambda: guardrails.guardrails(stats, res.segments, res.moments, res.settings),
        ),
        ("flips (find_flips)", lambda: find_flips(res)),
        ("every pairwise comparison (compare_all)", lambda: compare_all(res)),
        (
            "one what-if (predict_what_if)",
            lambda: whatif.predict_what_if(
                res, "Segment 1", E.TOUCHPOINTS[0], "bottom_to_middle", 0.5
            ),
        ),
    ]
    rows = [(name, median_ms(f)) for name, f in steps]
    serial = sum(ms for name, ms in rows if not name.startswith("of which"))
    lines = [
        "# bench/results_stage",
        "",
        __doc__.split("\n\n")[1].replace("\n", " "),
        "",
        f"- date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; machine: {os.cpu_count()} cores, "
        f"{platform.processor() or platform.machine()}; load average {load:.1f} at the start",
        f"- {len(res.moments)} touchpoint rows, {len(find_flips(res))} flips",
        "",
        "| step | median ms |",
        "|---|---:|",
        *[f"| {name} | {ms:.1f} |" for name, ms in rows],
        f"| **the serial part, together** | **{serial:.1f}** |",
        "",
    ]
    args.out.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
