"""Issue 23: what the messy-survey generator found at save time. Ratings are stored as
TINYINT, and results are keyed on a touchpoint's name: a spec that breaks either is refused
with the fix before anything is written, and detection proposes neither."""

from __future__ import annotations

import pytest

from cmot.errors import CmotError
from cmot.ingest.pipeline import detect_roles
from cmot.ingest.storable import check_storable
from cmot.spec import Scale, Touchpoint
from cmot.store.demo import demo_spec


def test_a_scale_beyond_the_stored_ratings_is_refused_with_the_fix() -> None:
    spec = demo_spec().with_changes(scale=Scale(1289, 1293, 1290, 1293))
    with pytest.raises(CmotError, match=r"-127 to 127.*attribute"):
        check_storable(spec)
    check_storable(demo_spec())


def test_two_touchpoints_of_one_name_are_refused_with_the_fix() -> None:
    spec = demo_spec()
    a, b = spec.touchpoints[0], spec.touchpoints[1]
    twins = (Touchpoint(a.column, "Staff"), Touchpoint(b.column, "Staff"), *spec.touchpoints[2:])
    with pytest.raises(CmotError, match=r"both named 'Staff'.*different labels"):
        check_storable(spec.with_changes(touchpoints=twins))


def test_ids_under_a_rating_name_are_no_touchpoint() -> None:
    rows = ["staff,service,checkin,overall"]
    rows += [f"{1289 + i % 5},{i % 5 + 1},{(i * 3) % 5 + 1},{(i * 7) % 5 + 1}" for i in range(60)]
    det = detect_roles(("\n".join(rows) + "\n").encode(), source_name="ids.csv")
    assert det.roles()["staff"] != "touchpoint"


def test_one_question_text_on_two_columns_makes_two_names() -> None:
    header = "overall satisfaction,staff,staff\n"
    text = "overall satisfaction - how satisfied?,staff - rate it,staff - rate it\n"
    text += '"{""ImportId"":""QID1""}","{""ImportId"":""QID2""}","{""ImportId"":""QID3""}"\n'
    body = "".join(f"{i % 5 + 1},{(i * 3) % 5 + 1},{(i * 7) % 5 + 1}\n" for i in range(60))
    det = detect_roles((header + text + body).encode(), source_name="q.csv")
    spec = det.require_spec()
    names = [t.name for t in spec.touchpoints]
    assert len(names) == 2 and len(set(names)) == 2, names
    assert all(n.startswith("staff - rate it (") for n in names), names
    check_storable(spec)


def test_blank_ids_are_missing_not_repeated() -> None:
    """Ids of spaces were counted as one id repeated ("8 row(s) repeat a respondent id (e.g.
    )"), though the stored id reads them as missing: those rows are dropped as missing."""
    from cmot.ingest.pipeline import read_csv

    rows = ["id,service,staff,checkin,overall"]
    for i in range(60):
        rid = '" "' if i % 10 == 3 else str(1000 + i)
        rows.append(f"{rid},{i % 5 + 1},{(i * 3) % 5 + 1},{(i * 7) % 5 + 1},{(i * 2) % 5 + 1}")
    prepared = read_csv(("\n".join(rows) + "\n").encode(), source_name="ids.csv")
    assert prepared.spec.id_column == "id"
    assert prepared.report.rows_kept == 54
