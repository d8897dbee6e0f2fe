"""Fuzz: random and adversarial CSV bytes give a dataset or a CmotError, never a crash."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cmot.errors import CmotError
from cmot.ingest import read_csv

NAMES = st.one_of(
    st.text(min_size=1, max_size=12),
    st.sampled_from(
        ['a"b', "x; DROP TABLE t; --", "' OR 1=1 --", "__cmot_y", " ", "=cmd|'/C calc'!A0", "ü"]
    ),
)
CELLS = st.one_of(
    st.integers(-3, 12).map(str),
    st.sampled_from(["", "NA", "Blank", "yes", "no", "3.5", '"', "\r", "1e309"]),
    st.text(max_size=6),
)


@st.composite
def survey_csv(draw: st.DrawFn) -> bytes:
    cols = draw(st.lists(NAMES, min_size=1, max_size=7))
    rows = draw(st.lists(st.lists(CELLS, min_size=len(cols), max_size=len(cols)), max_size=25))

    def cell(v: str) -> str:
        return '"' + v.replace('"', '""') + '"' if any(c in v for c in ',"\r\n') else v

    sep = draw(st.sampled_from([",", ";", "\t"]))
    lines = [sep.join(cell(c) for c in cols)] + [sep.join(cell(c) for c in r) for r in rows]
    text = "\n".join(lines) + draw(st.sampled_from(["", "\n", "\r\n"]))
    return text.encode(draw(st.sampled_from(["utf-8", "latin-1", "utf-8-sig"])), "replace")


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.one_of(survey_csv(), st.binary(max_size=400)))
def test_any_bytes_give_a_dataset_or_a_clear_error(data: bytes) -> None:
    try:
        p = read_csv(data, source_name="fuzz.csv")
    except CmotError as e:
        assert str(e) and "Traceback" not in str(e)
    else:
        assert p.data.num_rows == p.report.rows_kept > 0
        assert set(p.spec.touchpoint_columns) <= set(p.data.column_names)


@pytest.mark.parametrize("name", ['a"b', "x; DROP TABLE cmot_datasets; --", "' OR 1=1 --"])
def test_adversarial_names_round_trip_through_the_store(
    name: str, store: object, tmp_path: Path
) -> None:
    from cmot.ingest import ingest

    text = f'id,"{name.replace(chr(34), chr(34) * 2)}",b,c,satisfied\n'
    text += "".join(
        f"{i},{i % 5 + 1},{i * 2 % 5 + 1},{i * 3 % 5 + 1},{'yes' if i % 2 else 'no'}\n"
        for i in range(40)
    )
    info, _ = ingest(store, text.encode(), "adversarial")  # type: ignore[arg-type]
    assert name in info.spec.touchpoint_columns
    assert [d.name for d in store.list_datasets()] == ["adversarial"]  # type: ignore[attr-defined]
