"""Sums that add up (issue 26, item 2): a version's sums as its files' sums added equal a
full recomputation to 1e-9, and after a batch only the new file is read."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import statsmodels.api as sm

from cmot.engine import incremental, sums
from cmot.engine.design import Layout
from cmot.engine.sums import compute_stats
from cmot.feedback.feed import feed_csv, feed_spec
from cmot.ingest.options import IngestOptions
from cmot.settings import Settings
from cmot.store.append import append_batch
from cmot.store.datasets import Store
from cmot.store.intake import ingest


def _stored(store_dir: Path, batches: int = 3) -> Store:
    store = Store(store_dir)
    ingest(store, feed_csv(1, 400, 4), "feed", IngestOptions(spec=feed_spec()), "w1.csv")
    for w in range(2, batches + 1):
        append_batch(store, "feed", feed_csv(w, 150, 4), f"w{w}.csv")
    return store


def test_files_sums_equal_a_full_recomputation(store_dir: Path) -> None:
    store = _stored(store_dir)
    info = store.get_dataset("feed")
    settings = Settings()
    full = compute_stats(store.cursor(), info.table, info.spec, ["Segment"], settings)
    added = incremental.files_sums(store.cursor(), info.files, info.spec, ["Segment"], settings)
    t = len(info.spec.touchpoint_columns)
    assert set(added) == {s.segment for s in full.segments}
    for s in full.segments:
        a = added[s.segment]
        assert a.n == s.n
        for mine, theirs in ((a.gram, s.gram), (a.pair, s.pair), (a.levels, s.levels)):
            np.testing.assert_allclose(mine, theirs, rtol=1e-9, atol=1e-9)
        est = incremental.estimate(a, t)
        kept = np.isfinite(s.beta)
        np.testing.assert_allclose(est.beta[kept], s.beta[kept], rtol=1e-9, atol=1e-9)


def test_classical_errors_match_statsmodels(store_dir: Path) -> None:
    store = _stored(store_dir, 2)
    info = store.get_dataset("feed")
    spec = info.spec
    added = incremental.files_sums(store.cursor(), info.files, spec, [], Settings())["All"]
    t = len(spec.touchpoint_columns)
    est = incremental.estimate(added, t)
    frame = store.read_frame(info)
    lay = Layout(t)
    x = np.zeros((len(frame), lay.k))
    for i, c in enumerate(spec.touchpoint_columns):
        r = frame[c].astype(float)
        x[:, lay.low(i)] = (r <= 2).astype(float)
        x[:, lay.high(i)] = (r >= 5).astype(float)
        x[:, lay.miss(i)] = r.isna().astype(float)
    x[:, lay.icpt] = 1.0
    kept = np.flatnonzero(np.isfinite(est.beta))
    fit = sm.WLS(frame["__cmot_y"].to_numpy(), x[:, kept], weights=frame["__cmot_w"]).fit()
    np.testing.assert_allclose(est.beta[kept], fit.params, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(est.se[kept], fit.bse, rtol=1e-8)


def test_after_a_batch_only_the_new_file_is_read(
    store_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = _stored(store_dir, 2)
    info = store.get_dataset("feed")
    settings = Settings()
    incremental.clear_files_cache()
    incremental.files_sums(store.cursor(), info.files, info.spec, ["Segment"], settings)
    new = append_batch(store, "feed", feed_csv(3, 100, 4), "w3.csv").info
    read: list[str] = []
    real = sums._compute

    def counting(con, table, *args, **kwargs):  # type: ignore[no-untyped-def]
        read.append(table)
        return real(con, table, *args, **kwargs)

    monkeypatch.setattr(sums, "_compute", counting)
    again = incremental.files_sums(store.cursor(), new.files, new.spec, ["Segment"], settings)
    # The earlier two files' sums come from the cache: only the new file is scanned.
    assert len(new.files) == 3 and read == [f"read_parquet('{new.files[-1]}')"]
    assert again["All"].n == new.rows_kept
