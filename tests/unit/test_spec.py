"""JourneySpec: TOML round trip, validation messages, defaults."""

from __future__ import annotations

from pathlib import Path

import pytest

from cmot.errors import CmotError
from cmot.spec import (
    Outcome,
    Scale,
    Stage,
    Touchpoint,
    default_scale,
    dumps_spec,
    load_spec,
    loads_spec,
    save_spec,
)
from cmot.store.demo import DEMO_SPEC, demo_spec


def test_spec_round_trips_through_toml(tmp_path: Path) -> None:
    spec = demo_spec()
    save_spec(spec, tmp_path / "s.toml")
    assert load_spec(tmp_path / "s.toml") == spec
    assert loads_spec(dumps_spec(spec)) == spec


def test_committed_demo_spec_matches_the_generator() -> None:
    assert load_spec(DEMO_SPEC) == demo_spec()


@pytest.mark.parametrize(
    ("lo", "hi", "low_max", "high_min"),
    [(1, 5, 2, 5), (0, 10, 6, 9), (1, 7, 2, 7), (1, 10, 7, 9)],
)
def test_default_cutoffs_follow_methods(lo: int, hi: int, low_max: int, high_min: int) -> None:
    s = default_scale(lo, hi)
    assert (s.low_max, s.high_min) == (low_max, high_min)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"scale": Scale(5, 1, 2, 4)}, "min (5) must be below max (1)"),
        ({"scale": Scale(1, 5, 4, 3)}, "low_max < high_min"),
        ({"outcome": Outcome("Would hire again", "binary", ())}, "needs `positive`"),
        ({"outcome": Outcome("x", "ranking", ())}, "outcome kind 'ranking'"),
        (
            {"stages": (Stage("A", ("Invoicing",)), Stage("B", ("Invoicing",)))},
            "more than one stage",
        ),
        (
            {
                "touchpoints": (Touchpoint("Invoicing", "", ("vibes",)),),
                "stages": (Stage("A", ("Invoicing",)),),
            },
            "unknown tag",
        ),
        ({"outcome": Outcome("Invoicing", "scale")}, "both the outcome and a touchpoint"),
    ],
)
def test_invalid_spec_says_what_to_fix(change: dict[str, object], message: str) -> None:
    with pytest.raises(CmotError, match="journey spec is not valid") as e:
        demo_spec().with_changes(**change)
    assert message in str(e.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[scale\nmin=1", "not valid TOML"),
        ("[scale]\nmin = 1\n", "lacks the required entry 'outcome'"),
        (
            '[outcome]\ncolumn="y"\nkind="scale"\n[[stages]]\nname="A"\ntouchpoints=["a"]\n'
            '[touchpoints.b]\nlabel="B"\n',
            "no stage lists",
        ),
        ('[outcome]\ncolumn="y"\nkind="scale"\n[scale]\nmissing=[1.5]\n', "whole numbers or text"),
    ],
)
def test_bad_toml_gets_a_clear_message(text: str, message: str) -> None:
    with pytest.raises(CmotError, match=message):
        loads_spec(text)


def test_missing_codes_per_column_override_the_scale() -> None:
    spec = demo_spec()
    assert spec.missing_codes("Invoicing") == (0,)
    assert spec.missing_codes("Likelihood to recommend") == (11,)
    assert spec.missing_codes("Sector") == ()
