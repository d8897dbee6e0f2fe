"""Masking people's text: what it hides, what it leaves, and that its work is linear in the
text (issue 29 C: a run without spaces, e.g. a comment in Chinese, took time in its square).

No test here is timed: linearity is proved on the patterns' structure (no repeat that could
re-read a run), and the long inputs below just have to come out right; bench/mask.py times it.
"""

from __future__ import annotations

import re
from re import _constants as sre  # the parsed form of a pattern, to read its structure
from re import _parser as sre_parse
from typing import Any

import pytest

from cmot import text
from cmot.text import mask_personal

HIDDEN = [
    ("jane@x.org", "[email]"),
    ("mail jane.doe+x@example.co.uk now", "mail [email] now"),
    ("東京jane@x.jp東京", "[email]"),  # CJK letters are word characters: one address
    ("東京 jane@x.jp 東京", "東京 [email] 東京"),
    ("+1 (310) 555-0100", "[phone]"),
    ("call 310.555.0100 or 3105550100", "call [phone] or [phone]"),
    ("tel:+13105550100", "tel:[phone]"),
    ("+44 20 7946 0958", "[phone]"),
    ("0120-123-456", "[phone]"),
    ("310 555 0100 22abc", "[phone] 22abc"),  # the group touching a word is left, as before
    ("1234-5678", "[phone]"),  # 56:78 is no time: a phone, not a time range
    ("call 555-1234", "call [phone]"),  # a US local number: no time range (5:55-12:34)
    ("１２３４５６７８９０", "[phone]"),  # full-width digits
]

KEPT = [
    "open 0830-0930 daily",
    "open 0830 - 0930 daily",
    "open 8:30-9:30 daily",
    "paid $1,299.00",
    "paid $12345.00 for it",
    "paid 1234567 €",
    "in 2019-2021 and 2019 - 2021",
    "on 2024-01-15, 15.01.2024 and 01/15/2024",
    "at 2024-01-15 10:30 and 10:30 2024-01-15",
    "from 2024-01-15 - 2024-02-15",
    "since 2014 with 3 kids",
]


@pytest.mark.parametrize(("said", "shown"), HIDDEN)
def test_contacts_are_hidden(said: str, shown: str) -> None:
    assert mask_personal(said) == shown


def test_addresses_back_to_back_are_all_hidden() -> None:
    for said in ("a@b.c+x@y.z", "a@b.c.+x@y.z"):
        out = mask_personal(said)
        assert "b.c" not in out and "x@" not in out and "y.z" not in out, out


@pytest.mark.parametrize("said", KEPT)
def test_times_prices_dates_and_years_are_kept(said: str) -> None:
    assert mask_personal(said) == said


def _repeats(tree: Any) -> list[tuple[Any, int, int]]:
    """Every repeat in a parsed pattern: (kind, min, max), nested ones included."""
    found: list[tuple[Any, int, int]] = []
    for op, av in tree:
        if op in (sre.MAX_REPEAT, sre.MIN_REPEAT, sre.POSSESSIVE_REPEAT):
            found.append((op, av[0], av[1]))
            found += _repeats(av[2])
        elif op in (sre.SUBPATTERN, sre.ATOMIC_GROUP):
            found += _repeats(av[-1])
        elif op in (sre.ASSERT, sre.ASSERT_NOT):
            found += _repeats(av[1])
        elif op == sre.BRANCH:
            for branch in av[1]:
                found += _repeats(branch)
    return found


@pytest.mark.parametrize("name", ["_EMAIL", "_PHONE"])
def test_masking_patterns_never_read_a_run_twice(name: str) -> None:
    """Linear by construction: a match may start only where a run starts (a lookbehind
    first), and every unbounded repeat is possessive, so a failed attempt gives nothing back
    for another try to re-read. The former patterns backtracked over the run from each of its
    characters: quadratic."""
    pattern: re.Pattern[str] = getattr(text, name)
    tree = sre_parse.parse(pattern.pattern, pattern.flags)
    op, av = tree[0]
    assert op == sre.ASSERT_NOT and av[0] == -1, "no lookbehind guard first"
    loose = [r for r in _repeats(tree) if r[2] == sre.MAXREPEAT and r[0] != sre.POSSESSIVE_REPEAT]
    assert not loose, f"{name} has unbounded repeats that backtrack: {loose}"


LONG = 100_000


@pytest.mark.parametrize(
    ("said", "shown"),
    [
        ("a" * LONG, "a" * LONG),
        ("東京" * (LONG // 2), "東京" * (LONG // 2)),
        ("@" * LONG, "@" * LONG),
        ("a@" * (LONG // 2), "a@" * (LONG // 2)),
        (("x" * 99 + "@") * (LONG // 100), ("x" * 99 + "@") * (LONG // 100)),
        ("a@" + "b" * LONG, "a@" + "b" * LONG),
        ("." * LONG + "a@b.c", "[email]"),
        ("1" * LONG, "[phone]"),
        ("1" * LONG + "a", "1" * LONG + "a"),
        ("1-" * (LONG // 2) + "1a", "[phone]-1a"),
        ("1!" * (LONG // 2), "1!" * (LONG // 2)),
        ("1" + " " * LONG + "2", "1" + " " * LONG + "2"),
    ],
    ids=lambda v: f"{v[:6]!r}..{len(v)}",
)
def test_runs_without_spaces_come_out_right(said: str, shown: str) -> None:
    """Inputs that took minutes with the former patterns (0.56 s for 10,000 letters, growing
    with the square); here they only have to come out right: bench/mask.py times them."""
    assert mask_personal(said) == shown


def test_the_keep_check_reads_short_runs_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """`_kept`'s patterns (dates, ranges, sums) backtrack, so they must only ever see a short
    run: a long one is a phone without asking. Counted, not timed."""
    seen: list[int] = []
    real = text._kept

    def counted(run: str, *rest: Any) -> bool:
        seen.append(len(run))
        return real(run, *rest)

    monkeypatch.setattr(text, "_kept", counted)
    said = "1-" * (LONG // 2) + "1 on 2024-01-15, 0830-0930"
    assert mask_personal(said) == "[phone] on 2024-01-15, 0830-0930"
    assert seen and max(seen) <= text._KEPT_MAX
