"""Benchmark comments as evidence: a 100k-respondent demo survey with one comment column,
stored, then `evidence_of_table` by segment: the first call in a fresh process (imports
included) and warm calls. Writes figures to stdout; bench/evidence.md records a run."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=100_000, help="respondents (about)")
    ap.add_argument("--warm", type=int, default=3, help="warm repetitions")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["CMOT_STORE"] = tmp
        from cmot.ingest.options import IngestOptions
        from cmot.spec import load_spec
        from cmot.store.datasets import Store
        from cmot.store.demo import COMMENT_COLUMN, DEMO_SPEC, demo_comments, generate_demo
        from cmot.store.intake import ingest

        t = time.perf_counter()
        frame = generate_demo(round(args.n / 4.4), seed=7).frame  # 4.4 x n_per_segment rows
        frame[COMMENT_COLUMN] = demo_comments(frame, seed=7)
        spec = load_spec(DEMO_SPEC).with_changes(comments=(COMMENT_COLUMN,))
        store = Store(Path(tmp))
        info, _ = ingest(
            store, frame.to_csv(index=False).encode(), "bench", IngestOptions(spec=spec), "b.csv"
        )
        print(f"setup (generate + ingest {len(frame):,} rows): {time.perf_counter() - t:.1f} s")
        print(f"comments: {frame[COMMENT_COLUMN].notna().sum():,}")
        con = store.cursor()
        t = time.perf_counter()
        from cmot.feedback.evidence import (
            evidence_of_table,  # sklearn's import counts as first view
        )

        ev = evidence_of_table(con, info.table, spec, ["Segment"], [COMMENT_COLUMN])
        first = time.perf_counter() - t
        print(f"first call (import included): {first:.2f} s, {len(ev.quotes)} quotes")
        warm = []
        for _ in range(args.warm):
            t = time.perf_counter()
            evidence_of_table(con, info.table, spec, ["Segment"], [COMMENT_COLUMN])
            warm.append(time.perf_counter() - t)
        print("warm calls: " + ", ".join(f"{w:.2f} s" for w in warm))
        page(info.name, args.warm)
        print(f"load average after: {os.getloadavg()}, cores: {os.cpu_count()}")


def page(dataset: str, repeat: int) -> None:
    """What a person waits for on the Moments page (AppTest: the server's script run, no
    browser): the first view of the evidence panel (the segment's evidence computed, then
    cached per view), then switching the panel's touchpoint, warm (median of `repeat`)."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=600)
    at.query_params.update({"dataset": dataset, "seg": "Segment"})
    at.run()
    t = time.perf_counter()
    at.switch_page("pages/moments.py").run()
    assert not at.exception, [e.message for e in at.exception]
    print(f"Moments page, first view with the evidence panel: {time.perf_counter() - t:.2f} s")
    names = at.selectbox(key="ev_tp").options
    for name in names:  # warm every touchpoint once
        at.selectbox(key="ev_tp").set_value(name).run()
    times = []
    for k in range(repeat * 2):
        t = time.perf_counter()
        at.selectbox(key="ev_tp").set_value(names[k % len(names)]).run()
        times.append(time.perf_counter() - t)
    times.sort()
    print(f"switch the panel's touchpoint, warm: median {times[len(times) // 2] * 1000:.0f} ms")


if __name__ == "__main__":
    main()
