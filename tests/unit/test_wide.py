"""Very wide files (issue 29 G): mapping does work linear in the columns, in batches of a
bounded width, so a 2,000-column survey maps in seconds and a few hundred MB."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import cmot.ingest.column_profiles as profiles_mod
from cmot.ingest.column_profiles import profile_columns, value_counts
from cmot.ingest.options import IngestOptions
from cmot.ingest.pipeline import detect_roles
from cmot.ingest.read import open_raw
from tests.conftest import KANSAS_CSV, ROOT, need_real


def wide_survey(columns: int, rows: int, seed: int = 0) -> bytes:
    """An id, an outcome, ratings 1-5 with a 9 (don't know), a few text and segment columns."""
    rng = np.random.default_rng(seed)
    names = ["id", "overall", *(f"q{i:05d}" for i in range(columns - 4)), "region", "note"]
    ratings = rng.integers(1, 6, size=(rows, columns - 4))
    ratings[rng.random(size=ratings.shape) < 0.1] = 9
    lines = [",".join(names)]
    for r in range(rows):
        cells = [str(r), str(ratings[r, 0]), *map(str, ratings[r]), f"r{r % 4}", f"text {r}"]
        lines.append(",".join(cells))
    return ("\n".join(lines) + "\n").encode()


class Recorder:
    """A DuckDB connection that keeps the text of every statement run through it."""

    def __init__(self, con: Any) -> None:
        self.con = con
        self.sql: list[str] = []

    def execute(self, sql: str, *args: Any) -> Any:
        self.sql.append(sql)
        return self.con.execute(sql, *args)


def test_profiling_reads_columns_in_batches_of_a_bounded_width() -> None:
    """No statement names more than a batch of columns, whatever the file's width: the
    planner's work on one statement grows faster than its width (2,000 columns in one
    statement took 18 s and 1 GB), a batch's stays small."""
    data = wide_survey(700, 40)
    with open_raw(data, IngestOptions(), "wide.csv") as raw:
        con = Recorder(raw.con)
        profiles = profile_columns(con, raw.rows)  # type: ignore[arg-type]
        value_counts(con, profiles)  # type: ignore[arg-type]
    assert len(profiles) == 700
    widths = [len(set(profiles_mod.re.findall(r'"q\d{5}"', sql))) for sql in con.sql]
    assert max(widths) <= profiles_mod.BATCH_COLUMNS < 700
    # and the statements stay few: one per batch and pass, not one per column
    assert len(con.sql) <= 4 * (700 // profiles_mod.BATCH_COLUMNS + 1) + 4


def profiles_and_counts(data: bytes, name: str) -> tuple[Any, Any]:
    with open_raw(data, IngestOptions(), name) as raw:
        profiles = profile_columns(raw.con, raw.rows)
        return profiles, value_counts(raw.con, profiles)


def test_batches_give_the_same_profiles_as_one_statement(monkeypatch: pytest.MonkeyPatch) -> None:
    data = wide_survey(60, 200)
    whole = profiles_and_counts(data, "w.csv")
    monkeypatch.setattr(profiles_mod, "BATCH_COLUMNS", 7)
    assert profiles_and_counts(data, "w.csv") == whole


def test_batches_give_the_same_profiles_on_a_real_survey(monkeypatch: pytest.MonkeyPatch) -> None:
    data = need_real(KANSAS_CSV).read_bytes()
    whole = profiles_and_counts(data, "kc.csv")
    monkeypatch.setattr(profiles_mod, "BATCH_COLUMNS", 13)
    assert profiles_and_counts(data, "kc.csv") == whole
    assert len(detect_roles(data, IngestOptions(), "kc.csv").columns) == 160


@pytest.mark.slow
def test_a_2000_column_file_maps_in_a_few_hundred_mb(tmp_path: Path) -> None:
    """Peak memory of the whole mapping (read, profile, counts, detection) in a process of
    its own: its high-water mark, not a timing."""
    path = tmp_path / "wide.csv"
    path.write_bytes(wide_survey(2_000, 1_000))
    script = textwrap.dedent(
        f"""
        import sys
        from cmot.ingest.pipeline import detect_roles
        from cmot.ingest.options import IngestOptions

        def hwm():
            # VmHWM is this process's own high-water mark: ru_maxrss keeps the forking
            # parent's across exec (a full test run's 1.2 GB pytest read as 'imports').
            for line in open("/proc/self/status"):
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])

        before = hwm()
        det = detect_roles(open({str(path)!r}, "rb").read(), IngestOptions(), "wide.csv")
        assert det.spec is not None and len(det.columns) == 2000, det.problems
        print("rss", before, hwm())
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    line = next(ln for ln in done.stdout.splitlines() if ln.startswith("rss "))
    before, peak = (int(x) for x in line.split()[1:])
    # Measured 480-650 MB over runs on one machine: DuckDB's CSV reader alone takes ~330 MB
    # passing over 2,000 columns, and its threads make the rest vary. The bound is for the
    # blow-up this guards against (one statement over every column: 1 GB and more).
    assert peak < 800_000, f"peak RSS {peak / 1000:.0f} MB (imports {before / 1000:.0f} MB)"
