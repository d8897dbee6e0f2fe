"""One rule for the outcome's type, positive values and range (`cmot.ingest.outcome_choice`):
the Data page's outcome picker and the command line's --outcome-type, --positive and
--outcome-range give the same outcome for the same choices (issue 25).

The page's path is what `cmot.ui.mapping` does with its widgets' values (`_outcome_values`:
the positive values of a yes/no, the range inputs of a scale, nothing for a recommend),
`outcome_choice` and `Choices.with_outcome`; the flags' path is `options_from_flags`. The
grid at the end fails as soon as either path decides on its own."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from cmot.cli.flags import options_from_flags
from cmot.errors import CmotError
from cmot.ingest.mapping_rules import KINDS, RANGE_HI, RANGE_LO, Choices, seed_of
from cmot.ingest.options import IngestOptions
from cmot.ingest.outcome_choice import (
    RECOMMEND_RANGE,
    OutcomeChoice,
    outcome_choice,
    positive_choice,
)
from cmot.spec import Outcome, load_spec

Range = tuple[float, float]


def page_path(kind: str, picked: tuple[str, ...] = (), inputs: Range | None = None) -> Choices:
    """The choices the Data page hands detection and Save: the widgets the type shows (the
    positive values of a yes/no, the range inputs of a scale) through the shared rule."""
    shown = (picked, None) if kind == "binary" else (None, inputs if kind == "scale" else None)
    return Choices(outcome="y").with_outcome(outcome_choice(kind, *shown))


def chosen(o: Choices | IngestOptions) -> tuple[object, ...]:
    return (o.outcome, o.outcome_kind, o.positive, o.outcome_range)


def range_text(rng: Range) -> str:
    return f"{rng[0]:g}-{rng[1]:g}"


# ---- the rule itself -----------------------------------------------------------------------

SCALE_1_7 = Outcome("y", "scale", (), 1.0, 7.0)
YES = Outcome("y", "binary", ("Yes",))


@pytest.mark.parametrize(
    ("kind", "positive", "rng", "kept", "expected"),
    [
        ("binary", ("Yes",), None, None, OutcomeChoice("binary", ("Yes",))),
        ("binary", (), None, None, OutcomeChoice("binary")),  # none picked: detection's guess
        ("recommend", None, None, None, OutcomeChoice("recommend", None, 0.0, 10.0)),
        ("scale", None, (1.0, 5.0), None, OutcomeChoice("scale", None, 1.0, 5.0)),
        # No type: the values say it; nothing at all: detection decides.
        (None, None, (1.0, 5.0), None, OutcomeChoice("scale", None, 1.0, 5.0)),
        (None, ("4", "5"), None, None, OutcomeChoice("binary", ("4", "5"))),
        (None, None, None, None, OutcomeChoice(None)),
        # A stored outcome's type and values stand until others are given...
        (None, None, None, SCALE_1_7, OutcomeChoice("scale", None, 1.0, 7.0)),
        (None, None, None, YES, OutcomeChoice("binary", ("Yes",))),
        ("scale", None, (0.0, 9.0), SCALE_1_7, OutcomeChoice("scale", None, 0.0, 9.0)),
        ("binary", ("No",), None, YES, OutcomeChoice("binary", ("No",))),
        # ... and go with its type: another type starts afresh.
        ("binary", None, None, SCALE_1_7, OutcomeChoice("binary")),
        ("scale", None, None, YES, OutcomeChoice("scale")),
        ("recommend", None, None, SCALE_1_7, OutcomeChoice("recommend", None, 0.0, 10.0)),
        # A value the type does not take is named, never silently dropped.
        ("scale", ("5",), None, None, OutcomeChoice("scale", misfit="positive")),
        (None, ("5",), (1.0, 5.0), None, OutcomeChoice("scale", None, 1.0, 5.0, "positive")),
        ("binary", ("1",), (0.0, 1.0), None, OutcomeChoice("binary", ("1",), misfit="range")),
        (
            "recommend",
            None,
            (1.0, 5.0),
            None,
            OutcomeChoice("recommend", None, 0.0, 10.0, "recommend"),
        ),
        ("recommend", None, RECOMMEND_RANGE, None, OutcomeChoice("recommend", None, 0.0, 10.0)),
    ],
)
def test_outcome_choice(
    kind: str | None,
    positive: tuple[str, ...] | None,
    rng: Range | None,
    kept: Outcome | None,
    expected: OutcomeChoice,
) -> None:
    assert outcome_choice(kind, positive, rng, kept) == expected


def test_a_choice_as_the_outcome_and_its_range() -> None:
    c = outcome_choice("scale", None, (1.0, 5.0))
    assert c.outcome("q") == Outcome("q", "scale", (), 1.0, 5.0) and c.range == (1.0, 5.0)
    c = outcome_choice("binary", ("Yes",), None)
    assert c.outcome("q") == Outcome("q", "binary", ("Yes",)) and c.range is None
    # A stored outcome with half a range keeps that half; no range is said to detection.
    half = outcome_choice(None, None, None, Outcome("q", "scale", (), None, 5.0))
    assert (half.low, half.high, half.range) == (None, 5.0, None)


@pytest.mark.parametrize(
    ("values", "current", "detected", "shown"),
    [
        (None, None, YES, ["Yes"]),  # the command line: any value, the spec's when none given
        (None, ["4", "5"], YES, ["4", "5"]),
        (["Yes", "No"], ["DK", "Yes"], None, ["Yes"]),  # the page: only values the data hold
    ],
)
def test_positive_values_with_and_without_the_data(
    values: list[str] | None, current: list[str] | None, detected: Outcome, shown: list[str]
) -> None:
    assert positive_choice(values, current, detected) == shown


# ---- the page's path and the flags' path ------------------------------------------------------


@pytest.mark.parametrize(
    ("page", "flags", "expected"),
    [
        (
            ("binary", ("satisfied",)),
            {"outcome_type": "binary", "positive": "satisfied"},
            ("binary", ("satisfied",), None),
        ),
        (("binary", ("4", "5")), {"positive": "4, 5"}, ("binary", ("4", "5"), None)),
        (("binary", ()), {"outcome_type": "binary"}, ("binary", None, None)),
        (("scale", (), (1.0, 5.0)), {"outcome_range": "1-5"}, ("scale", None, (1.0, 5.0))),
        (
            ("scale", (), (-2.0, 2.0)),
            {"outcome_type": "scale", "outcome_range": "-2-2"},
            ("scale", None, (-2.0, 2.0)),
        ),
        (("recommend",), {"outcome_type": "recommend"}, ("recommend", None, (0.0, 10.0))),
        (
            ("recommend",),
            {"outcome_type": "recommend", "outcome_range": "0-10"},
            ("recommend", None, (0.0, 10.0)),
        ),
    ],
)
def test_the_page_and_the_flags_choose_the_same_outcome(
    page: tuple, flags: dict[str, str], expected: tuple[object, ...]
) -> None:
    on_page = page_path(*page)
    by_flags = options_from_flags(outcome="y", **flags)
    assert chosen(on_page) == chosen(by_flags) == ("y", *expected)
    assert chosen(on_page.options()) == chosen(by_flags)


SPEC = """
[outcome]
column = "y"
{outcome}

[[stages]]
name = "Service"
touchpoints = ["q1", "q2"]
"""


def spec_file(tmp_path: Path, outcome: str) -> Path:
    p = tmp_path / "spec.toml"
    p.write_text(textwrap.dedent(SPEC).format(outcome=outcome), encoding="utf-8")
    return p


def seeded(path: Path) -> tuple[str, tuple[str, ...], Range | None]:
    """Edit mapping on the page: the picker's widgets as a stored spec seeds them."""
    w = seed_of(load_spec(path), None).widgets
    rng = (w[RANGE_LO], w[RANGE_HI]) if RANGE_LO in w else None
    return w["map_kind"], tuple(w.get("map_positive", ())), rng


@pytest.mark.parametrize(
    ("stored", "edit", "flags", "expected"),
    [
        # Nothing changed: the stored outcome as it was.
        ('kind = "scale"\nmin = 1\nmax = 7', {}, {}, Outcome("y", "scale", (), 1.0, 7.0)),
        ('kind = "binary"\npositive = ["Yes"]', {}, {}, Outcome("y", "binary", ("Yes",))),
        # The range edited, or given.
        (
            'kind = "scale"\nmin = 1\nmax = 7',
            {"rng": (1.0, 5.0)},
            {"outcome_range": "1-5"},
            Outcome("y", "scale", (), 1.0, 5.0),
        ),
        # Other positive values.
        (
            'kind = "binary"\npositive = ["Yes"]',
            {"positive": ("Yes", "Maybe")},
            {"positive": "Yes,Maybe"},
            Outcome("y", "binary", ("Yes", "Maybe")),
        ),
        # Another type: the stored values go (the page's on_kind drops them).
        (
            'kind = "scale"\nmin = 0\nmax = 10',
            {"kind": "recommend", "positive": (), "rng": None},
            {"outcome_type": "recommend"},
            Outcome("y", "recommend", (), 0.0, 10.0),
        ),
        (
            'kind = "scale"\nmin = 1\nmax = 7',
            {"kind": "binary", "positive": ("6", "7"), "rng": None},
            {"outcome_type": "binary", "positive": "6,7"},
            Outcome("y", "binary", ("6", "7")),
        ),
    ],
)
def test_edit_mapping_and_flags_over_a_spec_agree(
    tmp_path: Path, stored: str, edit: dict, flags: dict[str, str], expected: Outcome
) -> None:
    path = spec_file(tmp_path, stored)
    kind, positive, rng = seeded(path)
    kind, positive, rng = (
        edit.get("kind", kind),
        edit.get("positive", positive),
        edit.get("rng", rng),
    )
    shown = (positive, None) if kind == "binary" else (None, rng if kind == "scale" else None)
    on_page = outcome_choice(kind, *shown).outcome("y")
    by_flags = options_from_flags(str(path), outcome="y", **flags).spec
    assert by_flags is not None
    assert on_page == by_flags.outcome == expected


# ---- every choice the page can make, by both paths --------------------------------------------

PICKED: list[tuple[str, ...]] = [(), ("yes",), ("4", "5"), ("Very satisfied",)]
RANGES: list[Range] = [(1.0, 5.0), (0.0, 10.0), (-2.0, 2.0), (1.5, 9.5), (0.0, 1.0)]


def flag_forms(kind: str, picked: tuple[str, ...], rng: Range) -> list[dict[str, str]]:
    """The ways to say a page's choice with flags: with the type, and without it where the
    values say it."""
    if kind == "binary":
        listed = {"positive": ",".join(picked)} if picked else {}
        return [{"outcome_type": "binary", **listed}, *([listed] if picked else [])]
    if kind == "scale":
        return [
            {"outcome_type": "scale", "outcome_range": range_text(rng)},
            {"outcome_range": range_text(rng)},
        ]
    return [{"outcome_type": "recommend"}, {"outcome_type": "recommend", "outcome_range": "0-10"}]


def page_states() -> list[tuple[str, tuple[str, ...], Range | None]]:
    """What the picker's widgets can hold: each type with the values its widgets show."""
    binary = [("binary", p, None) for p in PICKED]
    return [*binary, *(("scale", (), r) for r in RANGES), ("recommend", (), None)]


def test_every_page_choice_is_the_same_by_flags() -> None:
    """Fails as soon as the page and the command line decide an outcome differently."""
    checked = set()
    for kind, picked, rng in page_states():
        assert kind in KINDS
        on_page = page_path(kind, picked, rng).options()
        for flags in flag_forms(kind, picked, rng or (0.0, 10.0)):
            assert chosen(options_from_flags(outcome="y", **flags)) == chosen(on_page), flags
            checked.add((kind, *sorted(flags)))
    assert {k for k, *_ in checked} == set(KINDS) and len(checked) == 7


@pytest.mark.parametrize(
    ("flags", "misfit"),
    [
        ({"outcome_type": "scale", "positive": "5"}, "positive"),
        ({"outcome_type": "recommend", "positive": "9,10"}, "positive"),
        ({"positive": "5", "outcome_range": "1-5"}, "positive"),
        ({"outcome_type": "binary", "outcome_range": "0-1"}, "range"),
        ({"outcome_type": "recommend", "outcome_range": "1-10"}, "recommend"),
    ],
)
def test_what_the_page_cannot_say_the_flags_refuse(flags: dict[str, str], misfit: str) -> None:
    """Values the type does not take: the page never shows their widgets together; the
    command line says which flag does not fit, in its own words."""
    pos = tuple(flags["positive"].split(",")) if "positive" in flags else None
    rng = (
        tuple(float(x) for x in flags["outcome_range"].split("-"))
        if "outcome_range" in flags
        else None
    )
    assert outcome_choice(flags.get("outcome_type"), pos, rng).misfit == misfit  # type: ignore[arg-type]
    with pytest.raises(CmotError, match=r"--positive|--outcome-range|rated 0-10"):
        options_from_flags(outcome="y", **flags)
