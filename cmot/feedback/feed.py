"""A demo feed: the demo journey's responses arriving in weekly batches, one moment slipping.

Each batch is a survey file with the demo's columns (cmot.store.demo), its dates inside its week.
With a `slip`, one touchpoint of one segment starts to slip in week k: from that week on its
latent rating falls by `drop`, so more of that segment rate it low (its bottom-box share
rises); its effect on the outcome (the planted penalty) stays, so the outcome falls with it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from cmot.ingest.options import IngestOptions
from cmot.spec import JourneySpec
from cmot.store.datasets import Store
from cmot.store.demo import (
    COMMENT_COLUMN,
    CONTRACT,
    NA_CODE,
    SEGMENT_COLUMN,
    SEGMENTS,
    TOUCHPOINTS,
    demo_spec,
    outcome_chance,
)
from cmot.store.intake import ingest
from cmot.store.versions import DatasetInfo

FEED_START = pd.Timestamp("2026-01-05")  # a Monday: week 1 starts here
CUTS = (-0.9, -0.35, 0.35, 1.1)  # the demo's latent cuts to ratings 1..5


@dataclass(frozen=True)
class Slip:
    """Where the planted slip is: from `week` (1-based) on, `touchpoint` of `segment`."""

    segment: str = "Private clients"
    touchpoint: str = "Pricing clarity"
    week: int = 5
    drop: float = 0.8  # the latent rating's fall (the demo's ratings have unit noise)


def feed_spec() -> JourneySpec:
    """The demo's spec with its comment column: what each batch is appended with."""
    spec = demo_spec()
    return spec.with_changes(comments=(COMMENT_COLUMN,))


def feed_batch(week: int, n: int, seed: int, slip: Slip | None = None) -> pd.DataFrame:
    """Week `week`'s batch of `n` responses (ids unique across weeks and seeds' weeks)."""
    rng = np.random.default_rng([seed, week])
    seg = rng.choice(np.array(SEGMENTS, dtype=object), n)
    halo = rng.normal(0.0, 0.6, n)
    latent = 0.35 + halo[:, None] + rng.normal(0.0, 1.0, (n, len(TOUCHPOINTS)))
    if slip is not None and week >= slip.week:
        j = TOUCHPOINTS.index(slip.touchpoint)
        latent[seg == slip.segment, j] -= slip.drop
    ratings = np.digitize(latent, CUTS) + 1
    prob = outcome_chance(seg, ratings)
    complains = (ratings <= 2).any(axis=1)  # before the not-applicable answers
    hire = rng.random(n) < np.clip(prob, 0.02, 0.98)
    ratings[rng.random((n, len(TOUCHPOINTS))) < 0.05] = NA_CODE
    day = FEED_START + pd.Timedelta(weeks=week - 1)
    dates = day + pd.to_timedelta(rng.integers(0, 7, n), unit="D")
    frame = pd.DataFrame({"Client ID": [f"W{week:03d}-{i:05d}" for i in range(n)]})
    frame["Survey date"] = dates.strftime("%Y-%m-%d")
    frame[SEGMENT_COLUMN] = seg
    frame["Sector"] = "Other"
    frame["Contract type"] = [CONTRACT[s] for s in seg]
    frame["Region"] = rng.choice(["North", "South", "East", "West"], n)
    frame["Project budget (k)"] = np.round(np.exp(rng.normal(7, 1, n)), 1)
    frame["Years as client"] = np.round(np.exp(rng.normal(1.5, 0.5, n)), 1)
    for j, tp in enumerate(TOUCHPOINTS):
        frame[tp] = ratings[:, j]
    frame["Likelihood to recommend"] = np.clip(np.rint(1.5 + 10 * prob), 0, 10).astype(int)
    frame["Would hire again"] = np.where(hire, "Yes", "No")
    frame["Weight"] = 1.0
    words = np.where(complains, "The invoices were confusing", "Good work overall")
    frame[COMMENT_COLUMN] = words
    return frame


def feed_csv(week: int, n: int, seed: int, slip: Slip | None = None) -> bytes:
    """`feed_batch` as the CSV file a daily or weekly export would be."""
    frame = feed_batch(week, n, seed, slip)
    return frame.to_csv(index=False, lineterminator="\n").encode()


FEED_NAME = "demo-feed"
FEED_WEEKS = 8
FEED_N = 600
FEED_SEED = 101


def ensure_demo_feed(store: Store) -> DatasetInfo:
    """The stored demo feed: week 1 ingested, weeks 2-8 appended as batches, Pricing clarity
    slipping for private clients from week 5 (the alerts show it). Made once per store."""
    from cmot.store.append import append_batch  # the feed is a demo of appending

    with store.lock("demo"):
        if store.has_dataset(FEED_NAME):
            return store.get_dataset(FEED_NAME)
        slip = Slip()
        opts = IngestOptions(spec=feed_spec(), max_bytes=1 << 40, max_rows=1 << 40)
        first = feed_csv(1, FEED_N, FEED_SEED, slip)
        ingest(store, first, FEED_NAME, opts, source_name="week01.csv")
        for week in range(2, FEED_WEEKS + 1):
            batch = feed_csv(week, FEED_N, FEED_SEED, slip)
            append_batch(store, FEED_NAME, batch, f"week{week:02d}.csv")
        return store.get_dataset(FEED_NAME)


def write_feed(folder: Path, weeks: int = FEED_WEEKS, slip: Slip | None = None) -> list[Path]:
    """The feed's weekly batches as files in `folder` (to try `watch` and `alerts`)."""
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for week in range(1, weeks + 1):
        path = folder / f"week{week:02d}.csv"
        path.write_bytes(feed_csv(week, FEED_N, FEED_SEED, slip))
        out.append(path)
    return out


if __name__ == "__main__":
    import sys

    paths = write_feed(Path(sys.argv[1] if len(sys.argv) > 1 else "feed"), slip=Slip())
    print(f"Wrote {len(paths)} weekly batches to {paths[0].parent}.")
