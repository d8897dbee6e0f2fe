"""Column names and name patterns: the one rule the Data page and the command line share.

An item is an exact column name first; else a pattern in which only `*` (any text) and `?`
(one character) are wildcards. Everything else is literal, brackets included: survey
headers such as `Q1[01]` or `Seat [comfort]` are names, never character classes (a glob's
`[01]` would turn `Q1[01]*` into "Q10... or Q11..."). A pattern is matched with the exact
case first and, when that finds nothing, ignoring case. Matches keep the file's order.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from cmot.errors import CmotError

WILDCARDS = ("*", "?")


def has_wildcard(item: str) -> bool:
    return any(w in item for w in WILDCARDS)


def pattern_regex(pattern: str, ignore_case: bool = False) -> re.Pattern[str]:
    """The pattern as a regular expression matching a whole name: `*` and `?` translated,
    every other character escaped."""
    parts = [".*" if ch == "*" else "." if ch == "?" else re.escape(ch) for ch in pattern]
    return re.compile("".join(parts), re.DOTALL | (re.IGNORECASE if ignore_case else 0))


def match_pattern(item: str, columns: Sequence[str]) -> list[str]:
    """The columns `item` names, in file order: the exact name, else the pattern with the
    exact case, else ignoring case; [] when nothing matches."""
    if item in columns:
        return [item]
    for ignore_case in (False, True):
        rx = pattern_regex(item, ignore_case)
        hits = [c for c in columns if rx.fullmatch(c)]
        if hits:
            return hits
    return []


@dataclass(frozen=True)
class Match:
    """What one typed item matched."""

    item: str
    columns: tuple[str, ...]

    def text(self, names: int = 4) -> str:
        """'q3_*: 12 columns (q3_01 … q3_12)': the count, and the names when few (`names`
        or fewer), else the first and the last."""
        n = len(self.columns)
        shown = ", ".join(self.columns) if n <= names else f"{self.columns[0]} … {self.columns[-1]}"
        return f"{self.item}: {n} column{'' if n == 1 else 's'} ({shown})"


def match_items(columns: Sequence[str], items: Sequence[str], what: str = "") -> list[Match]:
    """Each item's matches; CmotError naming the first item that matches no column (`what`,
    e.g. "the touchpoint", says what the item was for)."""
    out = []
    for item in items:
        hits = match_pattern(item, columns)
        if not hits:
            close = _close(item, columns)
            raise CmotError(
                f"No column matches {what + ' ' if what else ''}{item!r}. Give a column name or "
                "a pattern such as Q7* (* any text, ? one character; brackets are part of a "
                "name)." + (f" Close names: {', '.join(close)}." if close else "")
            )
        out.append(Match(item, tuple(hits)))
    return out


def said(matches: Sequence[Match], columns: Sequence[str]) -> list[str]:
    """What each pattern matched, a line each; an item that is a column's exact name goes
    unsaid."""
    names = set(columns)
    return [m.text() for m in matches if m.item not in names]


def split_items(columns: Sequence[str], text: str) -> list[str]:
    """Comma-separated items of a text box; a column name holding a comma is kept whole."""
    if text.strip() in columns:
        return [text.strip()]
    return [t.strip() for t in text.split(",") if t.strip()]


def match_columns(columns: Sequence[str], text: str) -> list[str]:
    """The columns a text box names (comma-separated items, see `match_pattern`), in file
    order, each once; CmotError naming an item that matches no column."""
    chosen = {c for m in match_items(columns, split_items(columns, text)) for c in m.columns}
    return [c for c in columns if c in chosen]


def match_text(columns: Sequence[str], text: str, names: int = 4) -> str:
    """What a text box names, one item a sentence: 'q3_*: 12 columns (q3_01 … q3_12)'."""
    return "; ".join(m.text(names) for m in match_items(columns, split_items(columns, text)))


def _close(item: str, columns: Sequence[str]) -> list[str]:
    import difflib

    return difflib.get_close_matches(item, list(columns), n=5, cutoff=0.5)
