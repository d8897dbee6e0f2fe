"""The comment role in the journey spec: several columns, each general or linked to a
touchpoint or a stage; TOML round trip; validation that says what to fix."""

from __future__ import annotations

import pytest

from cmot.errors import CmotError
from cmot.spec import dumps_spec, loads_spec
from cmot.store.demo import demo_spec


def test_comment_links_round_trip_and_expand_stages() -> None:
    spec = demo_spec().with_changes(
        comments=("General", "About invoices", "About delivery"),
        comment_links={"About invoices": "Invoicing", "About delivery": "Delivery"},
    )
    assert loads_spec(dumps_spec(spec)) == spec
    links = spec.comment_touchpoints()
    assert links["General"] == ()
    assert links["About invoices"] == ("Invoicing",)
    assert links["About delivery"] == spec.stages[2].touchpoints
    assert "Change orders" in links["About delivery"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"comments": ("Invoicing",)}, "cannot be a touchpoint or the outcome"),
        ({"comments": ("C",), "comment_links": {"C": "Nowhere"}}, "link it to a touchpoint"),
        ({"comment_links": {"C": "Invoicing"}}, "not a comment column"),
    ],
)
def test_bad_comment_roles_say_what_to_fix(change: dict[str, object], message: str) -> None:
    with pytest.raises(CmotError, match=message):
        demo_spec().with_changes(**change)
