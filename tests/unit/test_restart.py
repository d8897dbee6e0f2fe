"""Restart: datasets, their specs and saved segmentations survive a process that is killed
(SIGKILL, no clean close) right after saving them."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

from cmot.segments.records import load_segmentation
from cmot.spec import dumps_spec
from cmot.store.datasets import Store
from cmot.store.directory import close_all
from tests.conftest import ROOT

WRITER = """
import dataclasses, os, signal, sys
from cmot.store.demo import DEMO_CSV, DEMO_SPEC
from cmot.store.intake import IngestOptions, ingest
from cmot.segments.given import given_segments
from cmot.segments.records import save_segmentation
from cmot.spec import load_spec
from cmot.store.datasets import Store

store = Store(sys.argv[1])
spec = load_spec(DEMO_SPEC)
demo, _ = ingest(store, DEMO_CSV, "demo", IngestOptions(spec=spec))
edited_spec = dataclasses.replace(spec, stages=tuple(reversed(spec.stages)))
edited, _ = ingest(store, DEMO_CSV, "demo", IngestOptions(spec=edited_spec))  # version 2
seg = given_segments(store.cursor(), demo.table, [spec.segments[0]])
save_segmentation(store, demo.id, "by first segment column", seg)
print("SAVED", flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""


@pytest.mark.slow  # a fresh process per command: not for the quick loop
def test_datasets_specs_and_segmentations_survive_a_kill(tmp_path: Path) -> None:
    db = tmp_path / "store"
    proc = subprocess.run(
        [sys.executable, "-c", WRITER, str(db)], cwd=ROOT, capture_output=True, text=True
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert proc.stdout.strip() == "SAVED"

    store = Store(db)
    versions = store.list_datasets(all_versions=True)
    assert [(d.name, d.version, d.rows_kept) for d in versions] == [
        ("demo", 1, 6600),
        ("demo", 2, 6600),
    ]
    v1, v2 = versions
    assert [s.name for s in v2.spec.stages] == [s.name for s in reversed(v1.spec.stages)]
    assert dumps_spec(store.get_dataset("demo", 1).spec) == dumps_spec(v1.spec)
    segs = store.list_segmentations(v1.id)
    assert segs["name"].tolist() == ["by first segment column"]
    seg = load_segmentation(store, (v1.id, "by first segment column"))
    assert len(seg.rows) == 6600 and seg.k >= 2
    close_all()
