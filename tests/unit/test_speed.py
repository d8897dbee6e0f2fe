"""The fast paths to the mapping and the save give what the slow ones gave."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import duckdb
import pandas as pd
import pytest

import cmot.ingest.pipeline as ingest_mod
from cmot.errors import CmotError
from cmot.ingest.column_profiles import COUNTED
from cmot.ingest.options import IngestOptions
from cmot.ingest.pipeline import detect_roles, read_csv
from cmot.ingest.read import _scan_file
from cmot.store.datasets import Store
from cmot.store.intake import ingest
from tests.conftest import SHARED

KC = SHARED / "data" / "kansas-city-resident" / "wave_2021_09.csv"


def kc() -> Path:
    if not KC.exists():
        pytest.skip(f"the Kansas City survey is not at {KC} (../shared beside the repo)")
    return KC


def test_value_counts_are_exact_counts_of_every_row() -> None:
    path = kc()
    det = detect_roles(path.read_bytes(), IngestOptions(outcome="q2_01"), "kc.csv")
    frame = duckdb.connect().execute("SELECT * FROM read_csv(?)", [str(path)]).df()
    counted = [g for g in det.columns if g.counts]
    assert len(counted) > 100
    for g in counted:
        want = frame[g.column].dropna().astype(str).value_counts()
        assert len(g.counts) == min(len(want), COUNTED)
        for value, n in g.counts:
            assert want[value] == n, (g.column, value)
    # Many-valued columns (the id) are left to the page to count alone.
    assert not next(g for g in det.columns if g.column == "id").counts


def test_a_choice_on_the_same_upload_detects_without_reading_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    data = kc().read_bytes()
    ingest_mod._READ.clear()
    first = detect_roles(data, IngestOptions(), "kc.csv")

    def no_read(*_: object, **__: object) -> None:
        raise AssertionError("the file was read again")

    chosen = IngestOptions(outcome="q2_01", outcome_kind="scale", missing=(9,))
    with monkeypatch.context() as m:
        m.setattr(ingest_mod, "open_raw", no_read)
        fast = detect_roles(data, chosen, "kc.csv")
        assert detect_roles(data, IngestOptions(), "kc.csv") == first
    ingest_mod._READ.clear()
    assert detect_roles(data, chosen, "kc.csv") == fast  # a fresh read detects the same
    # Another sheet, name or limit is another read.
    with monkeypatch.context() as m:
        m.setattr(ingest_mod, "open_raw", no_read)
        with pytest.raises(AssertionError, match="read again"):
            detect_roles(data, IngestOptions(max_rows=10**6), "kc.csv")
        with pytest.raises(AssertionError, match="read again"):
            detect_roles(data, IngestOptions(), "other.csv")


def test_codes_on_whole_numbers_match_as_the_text_did(tmp_path: Path) -> None:
    """A code matches a whole-number column where its text is the number's text: 9, not
    '09' or ' 9' or 'Blank'; the same column read as text gives the same cleaned values."""
    rows = ["id,overall,region,q1,q2,q3"]
    for i in range(60):
        rows.append(f"{i},{1 + i % 5},{[1, 2, 9, 3][i % 4]},{1 + i % 5},{1 + i % 4},{1 + i % 3}")
    numbers = tmp_path / "n.csv"
    numbers.write_text("\n".join(rows) + "\n")
    text = tmp_path / "t.csv"
    text.write_text("\n".join(rows[:2] + [rows[2].replace(",9,", ",x,")] + rows[3:]) + "\n")
    base = IngestOptions(
        outcome="overall", outcome_kind="scale", roles={"region": "attribute"}, touchpoints=("q*",)
    )
    spec = detect_roles(numbers, base).require_spec()
    for missing in ((9,), ("09",), (" 9",), ("Blank", 9), (9.5,)):
        opts = IngestOptions(spec=replace(spec, missing={"region": missing}))
        got = read_csv(numbers, opts).data.to_pandas()
        as_text = read_csv(text, opts).data.to_pandas()
        nines = int((got["region"].astype("Int64") == 9).sum())
        assert nines == (0 if 9 in missing else 15), missing
        # Row 0 is 'x' in the text file: the rest must be cleaned alike.
        pd.testing.assert_series_equal(
            got["region"].iloc[1:].astype("Int64").reset_index(drop=True),
            pd.to_numeric(as_text["region"].iloc[1:]).astype("Int64").reset_index(drop=True),
            check_names=False,
        )


def test_binary_outcome_on_whole_numbers_takes_its_positive_values_as_text(
    tmp_path: Path,
) -> None:
    rows = ["id,overall,q1,q2,q3"] + [
        f"{i},{[0, 1, 2][i % 3]},{1 + i % 5},{1 + i % 4},{1 + i % 3}" for i in range(60)
    ]
    path = tmp_path / "b.csv"
    path.write_text("\n".join(rows) + "\n")
    for positive, share in ((("1", "2"), 2 / 3), (("2",), 1 / 3), (("02",), 0.0)):
        opts = IngestOptions(
            outcome="overall", outcome_kind="binary", positive=positive, touchpoints=("q*",)
        )
        if share == 0.0:
            with pytest.raises(CmotError, match=r"same value|positive"):
                read_csv(path, opts)
            continue
        y = read_csv(path, opts).data.column("__cmot_y").to_pandas()
        assert y.mean() == pytest.approx(share)


def test_one_scan_counts_lines_as_the_row_cap_did(tmp_path: Path) -> None:
    for body in (b"a,b\n1,2\n", b"a,b\n1,2", b"a,b\r\n1,2\r\n3,4", "é,b\n1,2\n".encode()):
        path = tmp_path / "x.csv"
        path.write_bytes(body)
        _, encoding, lines = _scan_file(path)
        assert lines == len(body.splitlines())
        assert encoding == "utf-8"
    path.write_bytes("é,b\n1,2\n".encode("latin-1"))
    assert _scan_file(path)[1] == "latin-1"
    # A multi-byte character split across the 64 kB head and the next block is utf-8.
    path.write_bytes(b"a" * ((1 << 16) - 1) + "é\n".encode())
    assert _scan_file(path)[1] == "utf-8"


def test_saving_the_upload_just_mapped_reuses_its_profile(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = kc().read_bytes()
    ingest_mod._READ.clear()
    chosen = IngestOptions(outcome="q2_01", outcome_kind="scale", missing=(9,))
    spec = detect_roles(data, chosen, "kc.csv").require_spec()
    page = IngestOptions(spec=spec, missing=(9,))  # what the page saves with

    def no_profile(*_: object, **__: object) -> None:
        raise AssertionError("profiled again")

    with monkeypatch.context() as m:
        m.setattr(ingest_mod, "profile_columns", no_profile)
        fast, fast_report = ingest(store, data, "kc", page, source_name="kc.csv")
    ingest_mod._READ.clear()
    cold, cold_report = ingest(store, data, "kc", page, source_name="kc.csv")
    assert fast_report == cold_report
    assert fast.rows_kept == cold.rows_kept == fast_report.rows_kept
    assert store.read_frame(fast).equals(store.read_frame(cold))


def test_a_windows_export_with_curly_quotes_is_read(tmp_path: Path) -> None:
    """cp1252 puts ’ “ ” – in bytes 0x80-0x9F, which DuckDB's latin-1 refuses; plain
    latin-1 (é) is read as before."""
    rows = ["id,comment,q1,q2,q3,overall"] + [
        f"{i},“don’t” – {i},{1 + i % 5},{1 + i % 4},{1 + i % 3},{1 + i % 5}" for i in range(30)
    ]
    path = tmp_path / "w.csv"
    path.write_bytes(("\n".join(rows) + "\n").encode("cp1252"))
    p = read_csv(path, IngestOptions(outcome="overall", touchpoints=("q*",)))
    assert p.report.encoding == "cp1252"
    assert p.data.column("comment").to_pylist()[:2] == ["“don’t” – 0", "“don’t” – 1"]
    real = SHARED / "data" / "santa-monica-comments" / "open_ended_2014.csv"
    if real.exists():
        from cmot.ingest.read import open_raw

        with open_raw(real, IngestOptions(), None) as raw:
            assert (raw.rows, raw.encoding) == (1837, "cp1252")
