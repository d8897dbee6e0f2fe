"""Which column of a later wave is which column of the first: matches by name, question text
or value distribution, each with its evidence in plain words.

Pure functions over `ColumnsInfo` (a dataset's column names, question texts, value shares
and missing codes), which `columns_info` reads from a stored dataset in one DuckDB scan. The
analyst confirms or fixes the proposals; the confirmed mapping is kept with the link
(`Store.save_link`) and applied by `cmot.waves.sources.waves_from_link`.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from cmot.names import DERIVED_COLUMNS, quote_ident
from cmot.spec import Code

if TYPE_CHECKING:
    from pathlib import Path

    import duckdb

    from cmot.ingest.options import IngestOptions
    from cmot.store.datasets import Store

How = Literal["name", "label", "values", "none"]
# Total variation distance of two columns' value shares (half the summed absolute
# differences: the share of answers that would have to move) at most this for a match by
# values: a question asked twice moves a few points between waves; two different questions
# on the same scale usually differ by more.
MAX_TVD = 0.10
# Values rarer than this in both waves do not count against "the same value set" (a stray
# code in one wave).
RARE_SHARE = 0.01
# More distinct values than this: an id, a date or free text, not a question's answers.
MAX_VALUES = 30
# Scores order the proposals (best first); a match by name always beats one by text, which
# always beats one by values.
SCORE_EXACT = 1.0
SCORE_NAME = 0.95
SCORE_LABEL = 0.8
SCORE_VALUES = 0.5  # at most; less the further the shares are apart


@dataclass(frozen=True)
class ColumnsInfo:
    """What a wave's columns are: names in order, question texts, value shares, missing codes.

    labels: a column's question text (empty when the spec has none). shares: value -> share
    of the answered rows (None for a column with more than MAX_VALUES values). missing: the
    codes the wave's spec treats as no answer (already NULL in a stored dataset).
    """

    names: tuple[str, ...]
    labels: Mapping[str, str] = field(default_factory=dict)
    shares: Mapping[str, Mapping[str, float] | None] = field(default_factory=dict)
    missing: Mapping[str, tuple[Code, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class Match:
    """One first-wave column and the later wave's column proposed for it (None: none)."""

    first_column: str
    other_column: str | None
    how: How
    score: float
    evidence: str


def normalise_name(name: str) -> str:
    """A column name with case, spacing and punctuation ignored: ' Q3_01 ' -> 'q301'."""
    text = unicodedata.normalize("NFKC", name).casefold()
    return re.sub(r"[\W_]+", "", text)


def total_variation(p: Mapping[str, float], q: Mapping[str, float]) -> float:
    """Half the summed absolute differences of two share distributions (0 same, 1 disjoint)."""
    keys = set(p) | set(q)
    return 0.5 * sum(abs(p.get(k, 0.0) - q.get(k, 0.0)) for k in keys)


def describe_values(values: list[str]) -> str:
    """'1-5,9' for whole numbers (runs joined), else the values listed."""
    try:
        nums = sorted({int(float(v)) for v in values})
        if any(float(v) != int(float(v)) for v in values):
            raise ValueError
    except ValueError:
        shown = sorted(values)
        return ", ".join(shown[:8]) + (" ..." if len(shown) > 8 else "")
    runs: list[str] = []
    start = prev = nums[0]
    for n in nums[1:] + [None]:
        if n is not None and n == prev + 1:
            prev = n
            continue
        runs.append(str(start) if start == prev else f"{start}-{prev}")
        if n is not None:
            start = prev = n
    return ",".join(runs)


def _common(shares: Mapping[str, float]) -> set[str]:
    return {v for v, s in shares.items() if s >= RARE_SHARE}


def _label_match(first: ColumnsInfo, a: str, other: ColumnsInfo, b: str) -> bool:
    la = normalise_name(first.labels.get(a, ""))
    lb = normalise_name(other.labels.get(b, ""))
    na, nb = normalise_name(a), normalise_name(b)
    # The same question text, or one wave's column named with the other's question text.
    return bool((la and la in (lb, nb)) or (lb and lb == na))


def _candidates(first: ColumnsInfo, other: ColumnsInfo) -> list[Match]:
    out: list[Match] = []
    other_norm = {b: normalise_name(b) for b in other.names}
    for a in first.names:
        na = normalise_name(a)
        sa = first.shares.get(a)
        for b in other.names:
            if a == b:
                out.append(Match(a, b, "name", SCORE_EXACT, "same name"))
                continue
            if na and na == other_norm[b]:
                out.append(
                    Match(
                        a, b, "name", SCORE_NAME, "same name ignoring case, spaces and punctuation"
                    )
                )
                continue
            if _label_match(first, a, other, b):
                out.append(Match(a, b, "label", SCORE_LABEL, "same question text"))
                continue
            sb = other.shares.get(b)
            if not sa or not sb or len(sa) < 2 or _common(sa) != _common(sb):
                continue
            tvd = total_variation(sa, sb)
            if tvd <= MAX_TVD:
                evidence = (
                    f"same values {describe_values(sorted(_common(sa)))}; shares differ by "
                    f"{tvd:.2f}"
                )
                score = SCORE_VALUES * (1.0 - tvd / (2 * MAX_TVD))
                out.append(Match(a, b, "values", score, evidence))
    return out


def propose_matches(first: ColumnsInfo, other: ColumnsInfo) -> tuple[Match, ...]:
    """For each first-wave column, the later wave's column that is it, best evidence first.

    Every candidate pair is scored (same name > same name ignoring case, spacing and
    punctuation > same question text > same value set with shares within MAX_TVD, closer
    better); pairs are taken best score first, each column of either wave at most once.
    First-wave columns left over get how "none". In the first wave's column order.
    """
    order = {a: i for i, a in enumerate(first.names)}
    chosen: dict[str, Match] = {}
    used: set[str] = set()
    for m in sorted(_candidates(first, other), key=lambda m: (-m.score, order[m.first_column])):
        if m.first_column in chosen or m.other_column in used:
            continue
        chosen[m.first_column] = m
        used.add(str(m.other_column))
    out = []
    for a in first.names:
        found = chosen.get(a)
        if found is None:
            none = "no column matches by name, question text or values"
            out.append(Match(a, None, "none", 0.0, none))
        else:
            out.append(_with_missing(found, first, other))
    return tuple(out)


def _with_missing(m: Match, first: ColumnsInfo, other: ColumnsInfo) -> Match:
    """Say when the two waves code no-answer differently: each wave keeps its own codes."""
    ma = first.missing.get(m.first_column, ())
    mb = other.missing.get(str(m.other_column), ())
    if tuple(map(str, ma)) == tuple(map(str, mb)):
        return m
    shown = [", ".join(map(str, c)) or "none" for c in (ma, mb)]
    return Match(
        m.first_column,
        m.other_column,
        m.how,
        m.score,
        f"{m.evidence}; missing codes {shown[0]} and {shown[1]} (each wave keeps its own)",
    )


def mapping_of(matches: tuple[Match, ...]) -> dict[str, str]:
    """The later wave's column -> the first wave's column, for every match found."""
    return {m.other_column: m.first_column for m in matches if m.other_column is not None}


def columns_info(store: Store, dataset: int | str) -> ColumnsInfo:
    """A stored dataset's columns (by id, or name for its latest version): names, question
    texts from its spec, value shares from one DuckDB scan, missing codes."""
    info = store.get_dataset_by_id(dataset) if isinstance(dataset, int) else None
    if info is None:
        info = store.get_dataset(str(dataset))
    cur = store.cursor()
    described = cur.execute(f"DESCRIBE SELECT * FROM {info.table}").fetchall()
    names = tuple(str(r[0]) for r in described if str(r[0]) not in DERIVED_COLUMNS)
    spec = info.spec
    labels = {c: spec.label_of(c) for c in names if spec.label_of(c) != c}
    missing = {c: spec.missing_codes(c) for c in names if spec.missing_codes(c)}
    return ColumnsInfo(names, labels, _shares(cur, info.table, names), missing)


def _shares(
    con: duckdb.DuckDBPyConnection, relation: str, names: tuple[str, ...], numbers: bool = False
) -> dict[str, Mapping[str, float] | None]:
    """Each column's value shares (None over MAX_VALUES values), in one scan: every column's
    values unpivoted to (column, value), counted together. `numbers`: a value that reads as
    a whole number counts as that number ("4", "4.0" and " 4" alike: a raw file's column
    is text in one wave when it holds a marker, numbers in the next)."""
    shares: dict[str, dict[str, float]] = {c: {} for c in names}
    if names:
        cols = ", ".join(f"CAST({quote_ident(c)} AS VARCHAR) AS {quote_ident(c)}" for c in names)
        rows = con.execute(
            f"SELECT name, value, count(*) FROM (UNPIVOT (SELECT {cols} FROM {relation}) "
            "ON COLUMNS(*) INTO NAME name VALUE value) GROUP BY name, value"
        ).fetchall()
        for name, value, n in rows:
            key = _number_text(str(value)) if numbers else str(value)
            counts = shares[str(name)]
            counts[key] = counts.get(key, 0.0) + float(n)
    out: dict[str, Mapping[str, float] | None] = {}
    for c, counts in shares.items():
        total = sum(counts.values()) if counts else 0.0
        if not counts or len(counts) > MAX_VALUES or total <= 0:
            out[c] = None
        else:
            out[c] = {v: n / total for v, n in counts.items()}
    return out


def _number_text(value: str) -> str:
    text = value.strip()
    try:
        number = float(text)
    except ValueError:
        return text
    return str(int(number)) if number.is_integer() else text


def file_columns_info(path: str | Path, options: IngestOptions) -> ColumnsInfo:
    """A survey file's columns as they are in the file (`link` reads a stored dataset's):
    names, question texts the file carries (Qualtrics, SPSS), value shares of the raw values,
    and the missing codes it declares. What `propose_matches` needs to match a wave given as
    a file (`python -m cmot trend a.csv b.csv`) the way `link` matches stored datasets."""
    from cmot.ingest.read import open_raw  # reading builds on detection; harmonising comes later

    with open_raw(path, options, None) as raw:
        names = tuple(raw.columns)
        shares = _shares(raw.con, "raw", names, numbers=True)
        labels = {c: t for c, t in raw.labels.items() if t and t != c}
        missing = {c: tuple(v) for c, v in raw.declared_missing.items() if v}
    return ColumnsInfo(names, labels, shares, missing)
