"""Benchmark: the sums on DuckDB (compute_stats) against Spark local (stats_from_sql) on the
same Parquet file, in one run: the ratio, the cost of each Spark stage and the bytes that
travel back.

    .venv/bin/python bench/engine_spark.py --sizes 1000000,10000000,50000000
    .venv/bin/python bench/engine_spark.py --sizes 1000000 --lookups

Each size's survey is generated once as Parquet under /tmp/cmot-bench-spark/ (reused by
later runs; not in the repository). Writes bench/engine_spark.md, or with --lookups
bench/engine_spark_lookups.md: every fit of the HC3 pass written as the lookups a journey
too wide for the products gets (`cmot.engine.sums_sql._fit_sql`), to price them on the same survey.
Needs requirements-spark.txt and Java 17.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.engine import SEGMENTS, TOUCHPOINTS, write_survey  # noqa: E402
from cmot.engine import sums_sql  # noqa: E402
from cmot.engine.engines import SparkEngine  # noqa: E402
from cmot.engine.sums import compute_stats  # noqa: E402
from cmot.engine.sums_sql import stats_from_sql  # noqa: E402
from cmot.results.moments import classify_moments  # noqa: E402
from cmot.spec import JourneySpec, Outcome, Stage, Touchpoint, default_scale  # noqa: E402
from cmot.store.spark import spark_session  # noqa: E402

DATA = Path("/tmp/cmot-bench-spark")
WARM_ROWS = 20_000  # a first run that warms the JVM (class loading, JIT) before timing


def spec() -> JourneySpec:
    return JourneySpec(
        stages=(Stage("Journey", TOUCHPOINTS),),
        touchpoints=tuple(Touchpoint(c) for c in TOUCHPOINTS),
        scale=default_scale(1, 5),
        outcome=Outcome("y", "binary", ("1",)),
    )


def load() -> float:
    return os.getloadavg()[0]


def survey(n: int) -> Path:
    path = DATA / f"survey_{n}.parquet"
    if not path.exists():
        DATA.mkdir(parents=True, exist_ok=True)
        part = path.with_suffix(".part")
        write_survey(part, n)
        part.rename(path)
    return path


def stage_of(sql: str) -> str:
    if sql.startswith("SELECT COUNT(DISTINCT"):
        return "checks"
    if "SUM(uu)" not in sql[:100]:
        return "sums"
    return "hc3 segments" if " WHERE seg IN (" in sql else "hc3 all"


def bench(n: int, session: Any) -> dict[str, Any]:
    path = survey(n)
    out: dict[str, Any] = {"rows": n, "mb": path.stat().st_size / 1e6}
    s = spec()
    con = duckdb.connect()
    t = time.perf_counter()
    duck = compute_stats(con, f"read_parquet('{path}')", s, ["Segment"])
    out["duckdb"] = time.perf_counter() - t
    engine = SparkEngine(session)
    view = engine.register_parquet(str(path))
    stages: dict[str, float] = {}
    counts: dict[str, int] = {}
    travelled = [0, 0]  # bytes, rows

    def run(sql: str, params: Any, conf: Any = None) -> list[tuple[Any, ...]]:
        t = time.perf_counter()
        rows = engine.run(sql, params, conf)
        name = stage_of(sql)
        stages[name] = stages.get(name, 0.0) + time.perf_counter() - t
        counts[name] = counts.get(name, 0) + 1
        # Values as 8 bytes (doubles, longs); the segment name as its UTF-8 bytes.
        travelled[0] += sum(8 * (len(r) - 1) + len(str(r[0]).encode()) for r in rows)
        travelled[1] += len(rows)
        return rows

    t = time.perf_counter()
    sp = stats_from_sql(run, view, s, ["Segment"], dialect="spark")
    out["spark"] = time.perf_counter() - t
    out["stages"], out["queries"] = stages, counts
    out["bytes"], out["rows_back"] = travelled
    rel = 0.0
    for a, b in zip(duck.segments, sp.segments, strict=True):
        se_a = np.sqrt(np.diag(a.bread @ a.meat @ a.bread))
        se_b = np.sqrt(np.diag(b.bread @ b.meat @ b.bread))
        rel = max(rel, float(np.nanmax(np.abs(a.beta - b.beta) / np.abs(a.beta))))
        rel = max(rel, float(np.nanmax(np.abs(se_a - se_b) / np.where(se_a > 0, se_a, 1))))
    out["rel"] = rel
    same = classify_moments(duck).moments["class"].equals(classify_moments(sp).moments["class"])
    out["classes_equal"] = same
    return out


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--sizes", default="1000000", help="respondents, comma-separated")
    p.add_argument("--lookups", action="store_true", help="the HC3 fits as lookups")
    args = p.parse_args()
    if args.lookups:
        sums_sql.HC3_SQL_TERMS = 0  # every fit is over the budget: lookups, one a query
    sizes = [int(x) for x in args.sizes.split(",")]
    load_start = load()
    t = time.perf_counter()
    # 1 GB (the tests' setting) ran out of heap at 1M rows with the wide SQL of earlier
    # versions; 4 GB leaves room at 50M.
    session = spark_session(conf={"spark.driver.memory": "4g"})
    start_s = time.perf_counter() - t
    t = time.perf_counter()
    bench(WARM_ROWS, session)
    warm_s = time.perf_counter() - t
    results = []
    for n in sizes:
        results.append(bench(n, session))
        print(results[-1], flush=True)
    session.stop()
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "# Engine benchmark: DuckDB against Spark local"
        + (", every HC3 fit as lookups" if args.lookups else ""),
        "",
        f"Run {now} by `bench/engine_spark.py --sizes {args.sizes}"
        f"{' --lookups' if args.lookups else ''}` on {os.cpu_count()} "
        f"CPUs, {platform.processor() or platform.machine()}, Python "
        f"{platform.python_version()}; Spark local[2] (driver 4 GB), session start "
        f"{start_s:.1f} s and a warm-up run at {WARM_ROWS:,} rows {warm_s:.1f} s (not "
        "counted below).",
        f"{SEGMENTS} segments, {len(TOUCHPOINTS)} touchpoints on 1-5, binary outcome, one "
        "Parquet file (1M-row row groups) read by both engines.",
        f"1-minute load average {load_start:.1f} at the start and {load():.1f} at the end "
        "on 2 vCPUs.",
        "",
        "| rows | Parquet MB | DuckDB s | Spark s | ratio | checks s | sums s | HC3 all s "
        "| HC3 segments s (queries) | rows back | bytes back | max rel. diff (coef, HC3 SE) "
        "| classes equal |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in results:
        st, qn = r["stages"], r["queries"]
        lines.append(
            f"| {r['rows']:,} | {r['mb']:.0f} | {r['duckdb']:.2f} | {r['spark']:.2f} | "
            f"{r['spark'] / r['duckdb']:.1f} | {st.get('checks', 0):.2f} | "
            f"{st.get('sums', 0):.2f} | {st.get('hc3 all', 0):.2f} | "
            f"{st.get('hc3 segments', 0):.2f} ({qn.get('hc3 segments', 0)}) | "
            f"{r['rows_back']:,} | {r['bytes']:,} | {r['rel']:.1e} | {r['classes_equal']} |"
        )
    out = Path(__file__).with_name("engine_spark_lookups.md" if args.lookups else "engine_spark.md")
    text = out.read_text(encoding="utf-8") if out.exists() else ""
    notes = text[text.index("\n## Notes") :] if "\n## Notes" in text else ""
    out.write_text("\n".join(lines) + "\n" + notes, encoding="utf-8")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
