"""Fuzz: random and adversarial CSV bytes give a dataset or a CmotError, never a crash."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cmot.errors import CmotError
from cmot.ingest.pipeline import read_csv

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


@pytest.mark.slow  # 100 hypothesis files: ~6 s
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
    from cmot.store.intake import ingest

    text = f'id,"{name.replace(chr(34), chr(34) * 2)}",b,c,satisfied\n'
    text += "".join(
        f"{i},{i % 5 + 1},{i * 2 % 5 + 1},{i * 3 % 5 + 1},{'yes' if i % 2 else 'no'}\n"
        for i in range(40)
    )
    info, _ = ingest(store, text.encode(), "adversarial")  # type: ignore[arg-type]
    assert name in info.spec.touchpoint_columns
    assert [d.name for d in store.list_datasets()] == ["adversarial"]  # type: ignore[attr-defined]


# ---- issue 6: through ingest into a store, which changes only by a whole new dataset ----

ADVERSARIAL = st.sampled_from(
    [
        'a"b',
        '"; DROP TABLE cmot_datasets; --',
        "x; DROP TABLE t; --",
        "' OR 1=1 --",
        "cmot_datasets",
        "ds_1",
        "NULL",
        "SELECT",
        "a\\nb",
        "%s",
        "?",
        "$1",
        "{0}",
        '=HYPERLINK("http://x")',
        "@SUM(A1)",
        "naïve ✓",
        "a" * 300,
    ]
)


@st.composite
def survey_with_names(draw: st.DrawFn) -> tuple[bytes, list[str]]:
    """A valid survey (id, three ratings, a yes/no outcome) whose rating columns have
    adversarial names, so ingest reaches the save with them."""
    names = draw(
        st.lists(
            st.one_of(ADVERSARIAL, st.text(min_size=1, max_size=10)),
            min_size=3,
            max_size=3,
            unique_by=lambda s: s.strip().lower(),
        )
    )
    names = [n for n in names if n.strip() and "\x00" not in n]
    if len(names) < 3 or {n.strip().lower() for n in names} & {"id", "satisfied"}:
        names = ['a"b', "'; DROP TABLE cmot_datasets; --", "ds_1"]

    def q(v: str) -> str:
        return '"' + v.replace('"', '""') + '"'

    lines = [",".join(["id", *(q(n) for n in names), "satisfied"])]
    lines += [
        f"{i},{i % 5 + 1},{i * 2 % 5 + 1},{i * 3 % 5 + 1},{'yes' if i % 3 else 'no'}"
        for i in range(30)
    ]
    return ("\n".join(lines) + "\n").encode(), [n.strip() for n in names]


@pytest.fixture(scope="module")
def seeded_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from cmot.store.datasets import Store
    from cmot.store.demo import DEMO_CSV
    from cmot.store.directory import close_all
    from cmot.store.intake import ingest

    db = tmp_path_factory.mktemp("fuzzstore") / "store"
    ingest(Store(db), DEMO_CSV, "earlier")
    close_all()
    return db


def _fresh(db: Path) -> tuple[dict[str, str], object]:
    from cmot.store.datasets import Store
    from cmot.store.directory import close_all
    from tests.conftest import files_digest

    close_all()  # every byte on disk, so "unchanged" can be checked byte for byte
    return files_digest(db), Store(db)


def _check_whole(store: object, name: str, rows: int) -> None:
    info = store.get_dataset(name)  # type: ignore[attr-defined]
    count = store.cursor().execute(f"SELECT count(*) FROM {info.table}").fetchall()[0][0]  # type: ignore[attr-defined]
    assert count == info.rows_kept == rows
    store.delete_dataset(name)  # type: ignore[attr-defined]


@pytest.mark.slow  # fuzzing: 60 drawn files saved into a store
@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(data=st.one_of(survey_csv(), st.binary(max_size=400)))
def test_ingest_into_a_store_saves_a_whole_dataset_or_changes_nothing(
    data: bytes, seeded_db: Path
) -> None:
    from cmot.store.directory import close_all
    from cmot.store.intake import ingest

    before, store = _fresh(seeded_db)
    try:
        info, report = ingest(store, data, "fuzz", source_name="fuzz.csv")  # type: ignore[arg-type]
    except CmotError as e:
        assert str(e) and "Traceback" not in str(e)
        assert [d.name for d in store.list_datasets()] == ["earlier"]  # type: ignore[attr-defined]
        close_all()
        from tests.conftest import files_digest

        assert files_digest(seeded_db) == before
    else:
        assert info.rows_kept == report.rows_kept > 0
        _check_whole(store, "fuzz", report.rows_kept)


@pytest.mark.slow  # fuzzing: 40 drawn surveys with adversarial names saved and read back
@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(case=survey_with_names(), dataset_name=st.one_of(ADVERSARIAL, st.text(max_size=20)))
def test_adversarial_column_and_dataset_names_are_stored_as_given(
    case: tuple[bytes, list[str]], dataset_name: str, seeded_db: Path
) -> None:
    from cmot.store.intake import ingest

    data, names = case
    _, store = _fresh(seeded_db)
    try:
        info, report = ingest(store, data, dataset_name)  # type: ignore[arg-type]
    except CmotError as e:  # a clear refusal (a blank name, a header the reader rejects)
        assert str(e) and "Traceback" not in str(e)
        assert [d.name for d in store.list_datasets()] == ["earlier"]  # type: ignore[attr-defined]
        return
    assert info.name == dataset_name.strip()
    spec = info.spec
    placed = set(spec.touchpoint_columns) | set(spec.attributes) | set(report.columns_ignored)
    assert set(names) <= placed | {spec.id_column, spec.weight_column, spec.date_column}
    tps = [n for n in names if n in spec.touchpoint_columns]
    frame = store.read_frame(info, tps)  # type: ignore[attr-defined]
    assert list(frame.columns) == tps and len(frame) == 30
    sql = "SELECT count(*) FROM datasets WHERE name = ?"
    assert store.catalog.read(sql, (info.name,))[0][0] == 1  # type: ignore[attr-defined]
    _check_whole(store, info.name, 30)
