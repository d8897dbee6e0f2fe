"""Benchmark segments: 1M-respondent attribute clustering with k selection, drivers at 100k.

Run: .venv/bin/python bench/segments.py [--n 1000000] [--out bench/segments.md]

Each case runs in a fresh subprocess on a DuckDB file made once, so its peak memory
(ru_maxrss) is the case's own: reading the columns, features, fits, stability, profiles.
Ratios are against baselines measured in the same run (the machines are shared and noisy:
compare ratios, not absolute times across runs).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

ATTRS = ["Sector", "Plan", "Region", "Tenure (years)", "Monthly spend", "Age"]
TOUCHPOINTS = [f"TP{j + 1:02d}" for j in range(14)]
K_TRUE = 6
DRIVERS = ("drivers", 100_000, 1)


def make_survey(n: int, seed: int = 1) -> pd.DataFrame:
    """6 planted segments: attributes that tell them apart, and their own drivers (PRCA)."""
    rng = np.random.default_rng(seed)
    seg = rng.integers(0, K_TRUE, n)
    sectors = np.array([f"Sector {c}" for c in "ABCDEFGHIJKL"], dtype=object)
    sector_idx = np.where(rng.random(n) < 0.7, 2 * seg, 2 * seg + 1)
    stray = rng.random(n) < 0.05
    sector_idx[stray] = rng.integers(0, 12, stray.sum())
    plan = np.array(["Basic", "Plus", "Pro"], dtype=object)[seg % 3]
    frame = pd.DataFrame(
        {
            "Segment": seg,
            "Sector": sectors[sector_idx],
            "Plan": plan,
            "Region": rng.choice(np.array(["N", "S", "E", "W", "C"], dtype=object), n),
            "Tenure (years)": np.round(np.exp(rng.normal(0.5 + 0.4 * seg, 0.3)), 1),
            "Monthly spend": np.round(np.exp(rng.normal(3 + 0.5 * (seg % 4), 0.35)), 2),
            "Age": np.round(rng.normal(30 + 6 * (seg % 3), 6)),
        }
    )
    halo = rng.normal(0, 0.6, n)
    ratings = np.empty((n, len(TOUCHPOINTS)), dtype=np.int8)
    for j in range(len(TOUCHPOINTS)):
        latent = 0.35 + halo + rng.normal(0, 1, n)
        ratings[:, j] = np.digitize(latent, [-0.9, -0.35, 0.35, 1.1]) + 1
    prob = np.full(n, 0.55)
    for s in range(K_TRUE):  # as in the demo: three planted moments per segment, 0.22 each
        rows = seg == s
        j_pen, j_rew, j_both = (2 * s) % 14, (2 * s + 5) % 14, (2 * s + 9) % 14
        prob[rows] -= 0.22 * (ratings[rows, j_pen] <= 2)
        prob[rows] += 0.22 * (ratings[rows, j_rew] == 5)
        prob[rows] -= 0.22 * (ratings[rows, j_both] <= 2)
    y = (rng.random(n) < np.clip(prob, 0.02, 0.98)).astype(np.float64)
    for j, tp in enumerate(TOUCHPOINTS):
        col = pd.array(ratings[:, j], dtype="Int8")
        if j % 5 == 4:  # a few touchpoints with "not applicable" answers
            col[rng.random(n) < 0.15] = pd.NA
        frame[tp] = col
    frame["__cmot_row"] = np.arange(n, dtype=np.int64)
    frame["__cmot_id"] = frame["__cmot_row"].astype(str)
    frame["__cmot_y"] = y
    frame["__cmot_w"] = 1.0
    return frame


def bench_spec() -> Any:
    from cmot.spec import JourneySpec, Outcome, Stage, Touchpoint, default_scale

    return JourneySpec(
        stages=(Stage("Journey", tuple(TOUCHPOINTS)),),
        touchpoints=tuple(Touchpoint(t) for t in TOUCHPOINTS),
        scale=default_scale(1, 5),
        outcome=Outcome("Outcome", "binary", ("Yes",)),
        attributes=tuple(ATTRS),
    )


def naive_baseline(con: Any, table: str, n: int) -> dict[str, Any]:
    """What an analyst would write: one Pipeline per k on every row, sklearn's 10 restarts,
    the full silhouette (every pair of respondents)."""
    from sklearn.cluster import KMeans
    from sklearn.compose import ColumnTransformer
    from sklearn.metrics import silhouette_score
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    cols = ", ".join(f'"{c}"' for c in ATTRS)
    frame = con.execute(f"SELECT {cols} FROM {table} WHERE __cmot_row < {n}").df()
    nums = ["Tenure (years)", "Monthly spend", "Age"]
    cats = ["Sector", "Plan", "Region"]
    best = (-1.0, 0)
    for k in range(2, 9):
        pipe = Pipeline(
            [
                (
                    "f",
                    ColumnTransformer(
                        [("n", StandardScaler(), nums), ("c", OneHotEncoder(), cats)]
                    ),
                ),
                ("km", KMeans(k, n_init=10, random_state=0)),
            ]
        )
        labels = pipe.fit_predict(frame)
        x = pipe[:-1].transform(frame)
        sil = float(silhouette_score(x, labels))
        best = max(best, (sil, k))
    return {"k": best[1]}


def run_case(db: str, case: str, n: int) -> dict[str, Any]:
    """One case in this process; returns timings, peak memory and quality."""
    import duckdb
    from sklearn.metrics import adjusted_rand_score

    from cmot.segments.clustered import cluster_attributes
    from cmot.segments.driver_based import driver_segments

    con = duckdb.connect(db, read_only=True)
    table = "ds"
    truth = None
    t0 = time.perf_counter()
    if case == "naive":
        out = naive_baseline(con, table, n)
    else:
        if n < con.execute("SELECT count(*) FROM ds").fetchall()[0][0]:
            con.close()
            con = duckdb.connect()
            con.execute(f"ATTACH '{db}' AS src (READ_ONLY)")
            con.execute(f"CREATE TABLE ds AS SELECT * FROM src.ds WHERE __cmot_row < {n}")
            t0 = time.perf_counter()
        if case == "attributes":
            seg = cluster_attributes(con, table, ATTRS, seed=1)
        elif case == "gmm":
            seg = cluster_attributes(con, table, ATTRS, seed=1, method="gmm")
        elif case == "drivers":
            seg = driver_segments(con, table, bench_spec(), attributes=ATTRS, seed=1)
        else:
            raise SystemExit(f"unknown case {case}")
        out = {
            "k": seg.k,
            "stability": None if seg.stability is None else round(seg.stability.mean_ari, 3),
            "k_curve": seg.k_curve[["k", "silhouette", "bic"]].round(4).to_dict("list"),
            "names": list(seg.names),
        }
        truth = con.execute("SELECT Segment FROM ds ORDER BY __cmot_row").fetchnumpy()["Segment"]
        out["ari_vs_planted"] = round(float(adjusted_rand_score(truth, seg.labels)), 3)
    out["seconds"] = round(time.perf_counter() - t0, 2)
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss over exec from the parent that made the
    # data, so ru_maxrss is only an upper bound of the case's own peak.
    with open("/proc/self/status") as f:
        hwm = next(int(x.split()[1]) for x in f if x.startswith("VmHWM"))
    out["peak_mb"] = round(hwm / 1024, 1)
    return out


def subprocess_case(db: str, case: str, n: int, threads: int = 1) -> dict[str, Any]:
    env = {**os.environ, "CMOT_THREADS": str(threads)}
    if case == "naive" and threads == 1:  # the baseline's sklearn, held to one thread too
        env.update(OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    cmd = [sys.executable, __file__, "--case", case, "--db", db, "--n", str(n)]
    res = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if res.returncode != 0:
        raise SystemExit(f"case {case} failed:\n{res.stderr}")
    return dict(json.loads(res.stdout.strip().splitlines()[-1]))


def machine() -> str:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        mem = Path("/proc/meminfo").read_text().splitlines()[0].split()[1]
        ram = f"{int(mem) / 1024**2:.1f} GB"
    except OSError:
        ram = "unknown"
    return f"{os.cpu_count()} CPUs (nproc), {cpu}, {ram} RAM, Python {platform.python_version()}"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--case")
    ap.add_argument("--db")
    ap.add_argument("--out", default=str(ROOT / "bench" / "segments.md"))
    args = ap.parse_args()
    if args.case:
        print(json.dumps(run_case(args.db, args.case, args.n)))
        return

    import duckdb

    with tempfile.TemporaryDirectory() as tmp:
        db = str(Path(tmp) / "bench.duckdb")
        t = time.perf_counter()
        frame = make_survey(args.n)
        con = duckdb.connect(db)
        con.register("f", frame)
        con.execute("CREATE TABLE ds AS SELECT * FROM f")
        con.close()
        del frame
        print(f"made {args.n:,} respondents in {time.perf_counter() - t:.1f} s", flush=True)
        small = 20_000
        cases = [
            ("attributes", args.n, 1, f"attribute clustering, k = 2..8 chosen, {args.n:,} rows"),
            ("attributes", args.n, 2, "the same with 2 OpenMP/BLAS threads (CMOT_THREADS=2)"),
            ("attributes", small, 1, f"attribute clustering at {small:,} rows"),
            ("naive", small, 2, f"baseline at {small:,}: KMeans n_init=10 + full silhouette"),
            ("naive", small, 1, "the same baseline held to one thread"),
            ("gmm", 100_000, 1, "attribute clustering, GaussianMixture (diag), BIC, 100,000"),
            ("drivers", 100_000, 1, "driver-based (PRCA mixture, EM, BIC), 100,000 rows"),
        ]
        results = []
        load_before = os.getloadavg()[0]
        for case, n, threads, label in cases:
            # The goals' cases run 3 times (the median is reported): load here swings 5x.
            repeats = 3 if (case, n, threads) in (("attributes", args.n, 1), DRIVERS) else 1
            runs = sorted(
                (subprocess_case(db, case, n, threads) for _ in range(repeats)),
                key=lambda r: r["seconds"],
            )
            r = {**runs[len(runs) // 2], "runs": [x["seconds"] for x in runs]}
            r["peak_mb"] = max(x["peak_mb"] for x in runs)
            print(label, r, flush=True)
            results.append((label, case, n, threads, r))
        load = (load_before, os.getloadavg()[0])
    write_markdown(Path(args.out), results, args.n, load)


# From earlier runs of this script on these machines (2026-11-22).
EARLIER_THREADS = (
    "Earlier runs of this script measured 63.9 s against 16.8 s (3.8x) at load average ~20 "
    "and 11.8 s against 11.0 s at ~6; KMeans for k = 2..8 on 26,000 rows took 8.3 s on two "
    "threads against 0.33 s on one under load: idle OpenMP workers spin for a core another "
    "process holds."
)


def write_markdown(
    path: Path,
    results: list[tuple[str, str, int, int, dict[str, Any]]],
    n: int,
    load: tuple[float, float],
) -> None:
    from cmot.segments.clustering import FIT_SAMPLE, REFITS, SILHOUETTE_SAMPLE, STABILITY_SAMPLE
    from cmot.segments.drivers import DRIVER_FIT_SAMPLE, DRIVER_K_MAX

    by = {(c, n_, th): r for _, c, n_, th, r in results}
    att, att2 = by[("attributes", n, 1)], by[("attributes", n, 2)]
    small = by[("attributes", 20_000, 1)]
    naive, naive1 = by[("naive", 20_000, 2)], by[("naive", 20_000, 1)]
    drv = by[("drivers", 100_000, 1)]
    met = att["seconds"] < 30 and att["peak_mb"] < 2048
    lines = [
        "# Segments benchmark",
        "",
        f"Run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC by `bench/segments.py` on {machine()}.",
        "Each case is a fresh subprocess reading a DuckDB file (synthetic survey: 6 planted",
        "segments told apart by 6 attributes, each with 3 planted moments of 0.22 as in the",
        "demo; 14 touchpoints rated 1-5, 15% not applicable on three; binary outcome); peak",
        "memory is that process's ru_maxrss. Shared, noisy machines (1-minute load average",
        f"{load[0]:.1f} at the start and {load[1]:.1f} at the end, on 2 vCPUs): read the",
        "ratios within this run, not absolute times.",
        "",
        "| case | seconds (median of runs) | peak MB | k | stability (mean ARI) | ARI vs planted |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for label, _, _, _, r in results:
        runs = r.get("runs", [])
        secs = f"{r['seconds']} (of {', '.join(map(str, runs))})" if len(runs) > 1 else r["seconds"]
        lines.append(
            f"| {label} | {secs} | {r['peak_mb']} | {r.get('k', '')} | "
            f"{r.get('stability', '')} | {r.get('ari_vs_planted', '')} |"
        )
    lines += [
        "",
        f"Goals: {n:,} respondents, attribute clustering with k selection, < 30 s and < 2 GB: "
        f"**{att['seconds']} s, {att['peak_mb']:.0f} MB** ({'met' if met else 'NOT met'}); "
        f"driver-based at 100,000 < 60 s: **{drv['seconds']} s** "
        f"({'met' if drv['seconds'] < 60 else 'NOT met'}).",
        "",
        f"- Same 20,000 rows: cmot {small['seconds']} s against the naive baseline's "
        f"{naive['seconds']} s with sklearn's default threads "
        f"({naive['seconds'] / small['seconds']:.0f}x) and {naive1['seconds']} s on one thread "
        f"({naive1['seconds'] / small['seconds']:.0f}x); cmot's time includes "
        f"{REFITS} stability re-fits and the profiles. cmot on {n // 20_000}x the rows "
        f"({att['seconds']} s) is still faster than the baseline on 20,000.",
        f"- Threads: at {n:,} rows two OpenMP/BLAS threads took {att2['seconds']} s against "
        f"{att['seconds']} s on one ({att2['seconds'] / att['seconds']:.2f}x). "
        f"{EARLIER_THREADS} Two threads gain little on a quiet machine and lose a lot on a "
        "busy one, so cmot runs one thread unless CMOT_THREADS says otherwise.",
        "",
        f"How: k is searched on a seeded {FIT_SAMPLE:,}-row sample (silhouette on "
        f"{SILHOUETTE_SAMPLE:,} of them); the chosen k is fitted on every row starting from "
        f"the sample's centres; stability re-fits run on {STABILITY_SAMPLE:,}-row resamples. "
        f"Drivers: k by BIC over 1..{DRIVER_K_MAX} on a {DRIVER_FIT_SAMPLE:,}-row sample "
        "(the scan stops when BIC rises), 10 EM passes over every row, 5 re-fits for "
        "stability. GaussianMixture (diag covariances) chooses k by BIC; on one-hot columns "
        "BIC tends to split categories further than the planted segments (k above).",
        "",
        "k curves (silhouette for KMeans, BIC for the mixtures):",
        "",
    ]
    for label, case, _, _, r in results:
        if "k_curve" in r:
            metric = "bic" if case in ("gmm", "drivers") else "silhouette"
            pairs = ", ".join(
                f"{k}: {v:g}" for k, v in zip(r["k_curve"]["k"], r["k_curve"][metric], strict=True)
            )
            lines.append(f"- {label} ({metric}): {pairs}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
