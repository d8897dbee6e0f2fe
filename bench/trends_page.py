"""Server-side time of a wave switch on the Trends page, warm (issue 12).

Runs the app with Streamlit's AppTest (the script run a server does, without the browser) on
a temporary store holding the demo waves (cmot.store.demo.generate_waves: three waves, segmented
by Segment) at each size. "Warm" means every view switched to was computed once before (as
on a server after its first visitor): the trend per wave source is cached, so a switch only
redraws. Timed: switching the pair of waves compared (the changes and fix verdicts of a new
pair are derived once, then reused), and switching the wave source (Wave <-> Survey date by
year, both cached). Wall time and process CPU per switch, medians of `--repeat`. Writes
bench/trends_page.md (the label says what else the machine ran).

    .venv/bin/python bench/trends_page.py --sizes 1500 --repeat 5 --label "busy machine"
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _check(at: Any) -> Any:
    if at.exception:
        raise SystemExit(f"page failed: {[e.message for e in at.exception]}")
    return at


def _timed(at: Any, action: Any) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    _check(action().run())
    return time.perf_counter() - wall, time.process_time() - cpu


def run_size(n_per_segment: int, repeat: int) -> dict[str, Any]:
    os.environ["CMOT_STORE"] = str(Path(tempfile.mkdtemp()) / "store")
    from streamlit.testing.v1 import AppTest

    from cmot.ingest.options import IngestOptions
    from cmot.store.datasets import Store
    from cmot.store.demo import ensure_demo, generate_waves
    from cmot.store.intake import ingest

    store = Store()
    ensure_demo(store)
    waves = generate_waves(n_per_segment)
    data = waves.frame.to_csv(index=False).encode()
    opts = IngestOptions(spec=waves.spec, max_bytes=1 << 40, max_rows=1 << 40)
    ingest(store, data, "waves", opts, source_name="waves.csv")
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=600)
    at.query_params.update({"dataset": "waves", "seg": "Segment"})
    _check(at.run())
    first, _ = _timed(at, lambda: at.switch_page("pages/trends.py"))
    # Warm every view the timed switches visit.
    for src in ("Survey date", "Wave"):
        _check(at.selectbox(key="wave").set_value(src).run())
    for pair in (("2025", "2026"), ("2026", "2027")):
        _check(at.selectbox(key="wave_from").set_value(pair[0]).run())
        _check(at.selectbox(key="wave_to").set_value(pair[1]).run())
    pair_wall, pair_cpu, src_wall, src_cpu = [], [], [], []
    for _ in range(repeat):
        for a in ("2025", "2026"):
            w, c = _timed(at, lambda a=a: at.selectbox(key="wave_from").set_value(a))
            pair_wall.append(w)
            pair_cpu.append(c)
        for src in ("Survey date", "Wave"):
            w, c = _timed(at, lambda src=src: at.selectbox(key="wave").set_value(src))
            src_wall.append(w)
            src_cpu.append(c)
    return {
        "rows": len(waves.frame),
        "first": first,
        "pair_wall": statistics.median(pair_wall),
        "pair_cpu": statistics.median(pair_cpu),
        "src_wall": statistics.median(src_wall),
        "src_cpu": statistics.median(src_cpu),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="1500,15000", help="respondents per segment per wave")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--label", default="", help='e.g. "busy machine" or "quiet machine"')
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "trends_page.md")
    args = ap.parse_args()
    from cmot.ui.state import without_pages_folder

    rows = []
    with without_pages_folder():  # as tests/app/conftest.py: the served app's navigation
        for size in (int(s) for s in args.sizes.split(",")):
            r = run_size(size, args.repeat)
            rows.append(
                f"| {r['rows']:,} | {r['first']:.2f} | {r['pair_wall'] * 1000:.0f} / "
                f"{r['pair_cpu'] * 1000:.0f} | {r['src_wall'] * 1000:.0f} / "
                f"{r['src_cpu'] * 1000:.0f} |"
            )
            print(rows[-1], flush=True)
    text = "\n".join(
        [
            "# Trends page: a wave switch, warm",
            "",
            f"`python bench/trends_page.py --sizes {args.sizes} --repeat {args.repeat}`, "
            f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.processor() or platform.machine()}"
            f", {os.cpu_count()} cores; {args.label or 'machine load not stated'}.",
            "",
            "Demo waves (3 waves, 4 segments), AppTest. First visit: the Trends page after the "
            "Overview, whose headline change already computed the Wave trend (s). Switches: "
            "median wall / process CPU in ms, every view already computed once.",
            "",
            "| respondents (3 waves) | first visit (s) | switch the waves compared (ms) | "
            "switch the wave source (ms) |",
            "|---|---|---|---|",
            *rows,
            "",
        ]
    )
    args.out.write_text(text)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
