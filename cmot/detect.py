"""Profiling the raw columns and detecting roles, scale and outcome: the proposed mapping."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Literal

import duckdb

from cmot.errors import CmotError
from cmot.options import IngestOptions
from cmot.spec import (
    Code,
    JourneySpec,
    Outcome,
    Stage,
    Touchpoint,
    default_scale,
    validate_spec,
)
from cmot.store import (
    quote_ident,
)

Role = Literal["id", "outcome", "touchpoint", "attribute", "weight", "date", "comment", "ignore"]
ROLES: tuple[str, ...] = (
    "id",
    "outcome",
    "touchpoint",
    "attribute",
    "weight",
    "date",
    "comment",
    "ignore",
)
Layout = Literal["wide", "long"]


_q = quote_ident


@dataclass(frozen=True)
class ColumnGuess:
    """The role detected for one column, how sure the detection is and why."""

    column: str
    role: str
    kind: str  # rating, binary, categorical, numeric, text, date, id, weight
    confidence: float
    reason: str
    dtype: str
    distinct: int
    nulls: int
    sample: str = ""  # a look at the values: "1 (12%), 2 (30%), ... 9 (20%)" or examples
    label: str = ""  # question text, when the file carries it


@dataclass(frozen=True)
class CodeProposal:
    """A value that looks like a code beside the scale rather than a scale point."""

    code: Code
    columns: tuple[str, ...]
    evidence: str  # e.g. "9 holds 21% of answers in 83 columns rated 1-5"
    applied: bool = True  # proposals are applied unless the analyst unticks them


@dataclass(frozen=True)
class Detection:
    """The proposed mapping: every column's role, and a spec once the mapping is valid."""

    layout: str
    encoding: str
    rows: int
    columns: tuple[ColumnGuess, ...]
    spec: JourneySpec | None  # None until the mapping is valid: see `problems`
    problems: tuple[str, ...] = ()  # what to choose before saving, e.g. "pick the outcome"
    proposals: tuple[CodeProposal, ...] = ()
    weight_candidates: tuple[str, ...] = ()  # proposed, never applied unasked
    format: str = "csv"
    sheets: tuple[str, ...] = ()
    sheet: str | None = None

    def roles(self) -> dict[str, str]:
        return {g.column: g.role for g in self.columns}

    def require_spec(self) -> JourneySpec:
        """The spec, or a CmotError that says what to choose first."""
        if self.spec is None:
            raise CmotError("The mapping is not complete: " + "; ".join(self.problems) + ".")
        return self.spec


# ---- profiling and role detection ---------------------------------------------------


@dataclass(frozen=True)
class _Profile:
    column: str
    dtype: str
    count: int
    nulls: int
    distinct: int
    lo: float | None
    hi: float | None
    integral: bool
    values: tuple[str, ...]  # the distinct values when there are few
    first_is_row_index: bool
    counts: tuple[int, ...] = ()  # how often each of `values` occurs

    def share_above(self, limit: float) -> float:
        """Share of the non-blank values that are numbers above `limit`."""
        above = 0
        for v, k in zip(self.values, self.counts, strict=True):
            x = _as_number(v)
            if x is not None and x > limit:
                above += k
        return above / self.count if self.count else 0.0


def _as_number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


_NUMERIC = (
    "TINYINT",
    "SMALLINT",
    "INTEGER",
    "BIGINT",
    "HUGEINT",
    "UTINYINT",
    "USMALLINT",
)
_FLOAT = ("DOUBLE", "FLOAT", "DECIMAL")


def _is_int(dtype: str) -> bool:
    return dtype.startswith(_NUMERIC) or dtype.startswith("UINTEGER") or dtype == "UBIGINT"


def is_numeric_type(dtype: str) -> bool:
    return _is_int(dtype) or dtype.startswith(_FLOAT)


PROFILE_ROWS = 200_000


def profile_columns(con: duckdb.DuckDBPyConnection, rows: int) -> list[_Profile]:
    """Per-column statistics for role detection, from every k-th row of a large file.

    Detection needs shapes (types, ranges, few distinct values), not exact counts: the
    validation pass counts every value anyway. A systematic sample keeps it deterministic.
    """
    types = dict((r[0], r[1]) for r in con.execute("DESCRIBE raw").fetchall())
    step = max(1, -(-rows // PROFILE_ROWS))
    # Materialised once: the per-column queries below each read it again.
    con.execute(
        "CREATE OR REPLACE TEMP TABLE sample AS "
        f"SELECT rowid AS __cmot_r, * FROM raw WHERE rowid % {step} = 0"
    )
    table = "sample"
    parts = ["count(*)"]
    for c, t in types.items():
        qc = _q(c)
        parts.append(f"count({qc})")
        parts.append(f"approx_count_distinct({qc})")
        if is_numeric_type(t):
            parts.append(f"min({qc})::DOUBLE")
            parts.append(f"max({qc})::DOUBLE")
            parts.append(f"bool_and({qc} = round({qc}))" if t.startswith(_FLOAT) else "true")
            # A leading 0..n-1 or 1..n counter is a row index, not data.
            parts.append(f"bool_and({qc} = __cmot_r) OR bool_and({qc} = __cmot_r + 1)")
        else:
            parts += ["NULL", "NULL", "false", "false"]
    row = con.execute(f"SELECT {', '.join(parts)} FROM {table}").fetchall()[0]
    n = row[0]
    out = []
    for i, (c, t) in enumerate(types.items()):
        cnt, dist, lo, hi, integral, is_index = row[1 + 6 * i : 7 + 6 * i]
        values: tuple[str, ...] = ()
        counts: tuple[int, ...] = ()
        if dist <= 30:
            vals = con.execute(
                f"SELECT {_q(c)}::VARCHAR, count(*) FROM {table} WHERE {_q(c)} IS NOT NULL "
                "GROUP BY 1 ORDER BY 1 LIMIT 40"
            ).fetchall()
            values = tuple(v[0] for v in vals)
            counts = tuple(int(v[1]) for v in vals)
            dist = len(values)
        elif re.search(ID_WORDS, c.lower()):
            # approx_count_distinct can be 6% off: too coarse to call a column unique.
            dist = con.execute(f"SELECT count(DISTINCT {_q(c)}) FROM {table}").fetchall()[0][0]
        out.append(
            _Profile(
                c, t, cnt, n - cnt, dist, lo, hi, bool(integral), values, bool(is_index), counts
            )
        )
    con.execute("DROP TABLE IF EXISTS temp.sample")
    return out


_OUTCOME_WORDS = (
    r"satisf|outcome|target|recommend|\bnps\b|\bltr\b|loyal(ty)?\b|retain|retention|churn|"
    r"renew|again|overall"
)
_STRONG_OUTCOME = r"^(satisfaction|satisfied|outcome|target|overall|nps|churn|retained)$"
ID_WORDS = r"(^|[\s_])(id|respondent|resp|uuid|record)($|[\s_])|^id$|_id$|\bid\b"
_WEIGHT_WORDS = r"weight|^wt$|wgt|weighting"
_DATE_WORDS = r"date|time|when|day"
_NOT_RATING_WORDS = r"\bage\b|year|count|number|\bnum\b|children|distance|delay|minutes|size"
_NEGATIVE = r"\bnot\b|\bno\b|dis|unsat|neutral|false|\bdetractor|unlikely|never|^0$|^n$"


def _positive_values(values: Sequence[str]) -> tuple[str, ...]:
    """For a two-valued outcome, the value meaning 'positive': the one that is not a negation."""
    pos = [v for v in values if not re.search(_NEGATIVE, v.strip().lower())]
    if len(pos) == 1:
        return (pos[0],)
    if set(values) == {"0", "1"}:
        return ("1",)
    return (sorted(values)[-1],)


def _guess(p: _Profile, n: int, scale_max: int | None) -> ColumnGuess:
    name = p.column.lower()

    def g(role: str, kind: str, conf: float, why: str) -> ColumnGuess:
        return ColumnGuess(p.column, role, kind, conf, why, p.dtype, p.distinct, p.nulls)

    if p.count == 0:
        return g("ignore", "text", 0.9, "every value is blank")
    if p.first_is_row_index and not re.search(ID_WORDS, name):
        return g("ignore", "id", 0.8, "a row counter (0, 1, 2, ...)")
    if p.dtype in ("DATE", "TIMESTAMP", "TIMESTAMP WITH TIME ZONE"):
        return g("date", "date", 0.9, "read as dates")
    if re.search(ID_WORDS, name):
        if p.distinct >= 0.95 * p.count:
            return g("id", "id", 0.9, "named like an id and (nearly) unique")
        return g("id", "id", 0.5, "named like an id, but some values repeat")
    if re.search(_WEIGHT_WORDS, name) and is_numeric_type(p.dtype) and (p.lo or 0) > 0:
        return g("weight", "weight", 0.85, "named like a weight, positive numbers")
    if re.search(_OUTCOME_WORDS, name):
        if p.distinct == 1:
            return g("outcome", "binary", 0.5, "named like an outcome, but one value only")
        if p.distinct == 2:
            return g("outcome", "binary", 0.9, "two values, named like an outcome")
        if is_numeric_type(p.dtype) and p.integral and p.distinct <= 11:
            return g("outcome", "scale", 0.7, "a small scale, named like an outcome")
    is_rating = (
        (_is_int(p.dtype) or (is_numeric_type(p.dtype) and p.integral))
        and p.lo is not None
        and p.hi is not None
        and p.lo >= 0
        and p.hi <= 10
        and p.distinct >= 3
    )
    whole = [
        (v, k)
        for v, k in zip(p.values, p.counts, strict=True)
        if (x := _as_number(v)) is not None and 0 <= x <= 10 and x == round(x)
    ]
    if (
        not is_numeric_type(p.dtype)
        and len(whole) >= 3
        and sum(k for _, k in whole) >= 0.9 * p.count
        and not re.search(_NOT_RATING_WORDS, name)
    ):
        text = [v for v in p.values if v not in dict(whole)]
        return g("touchpoint", "rating", 0.6, f"whole numbers with text ({', '.join(text)})")
    if is_rating and not re.search(_NOT_RATING_WORDS, name):
        conf = 0.9 if scale_max is None or p.hi == scale_max or p.hi == scale_max - 1 else 0.5
        return g("touchpoint", "rating", conf, f"whole numbers {p.lo:g}-{p.hi:g}")
    if p.distinct <= (7 if is_numeric_type(p.dtype) else 12) or not is_numeric_type(p.dtype):
        if not is_numeric_type(p.dtype) and p.distinct > 50 and p.distinct > 0.5 * p.count:
            return g("ignore", "text", 0.6, "free text (mostly unique values)")
        return g("attribute", "categorical", 0.8, f"{p.distinct} distinct values")
    if p.dtype == "VARCHAR" and re.search(_DATE_WORDS, name):
        return g("date", "date", 0.5, "named like a date")
    return g("attribute", "numeric", 0.8, f"numbers {p.lo:g}-{p.hi:g}")


def _typical_max(p: _Profile) -> int:
    """The largest rating that is not a stray: at most 2% of the answers lie above it."""
    nums = sorted(x for x in map(_as_number, p.values) if x is not None)
    for x in nums:
        if p.share_above(x) <= 0.02:
            return int(x)
    return int(p.hi) if p.hi is not None else 5


def _infer_scale(ratings: list[_Profile]) -> tuple[int, int, tuple[Code, ...]]:
    his = [_typical_max(p) for p in ratings]
    hi = max(set(his), key=lambda h: (his.count(h), h)) if his else 5
    has_zero = any(p.lo == 0 for p in ratings)
    if hi <= 7 and has_zero:
        # On 5- and 7-point scales a 0 is the survey's "not applicable", not a score.
        return 1, hi, (0,)
    return (0 if has_zero else 1), hi, ()


def detect(
    profiles: list[_Profile], n: int, opts: IngestOptions, layout: str, encoding: str
) -> Detection:
    first = [_guess(p, n, None) for p in profiles]
    ratings = [p for p, g in zip(profiles, first, strict=True) if g.role == "touchpoint"]
    lo, hi, missing = _infer_scale(ratings)
    guesses = {p.column: _guess(p, n, hi) for p in profiles}
    for p in profiles:
        g = guesses[p.column]
        # A stray 9 on a 1-5 scale is an out-of-scale answer; many values above it mean
        # the column is something else (a count, another scale).
        if g.role == "touchpoint" and p.hi is not None and p.share_above(hi) > 0.02:
            guesses[p.column] = replace(
                g,
                role="attribute",
                kind="numeric",
                confidence=0.5,
                reason=f"whole numbers {p.lo:g}-{p.hi:g}, beyond the {lo}-{hi} rating scale",
            )
    # Only one outcome: the best named one, else the last two-valued column.
    outcomes = [g for g in guesses.values() if g.role == "outcome"]
    if opts.outcome:
        outcomes = []
    elif len(outcomes) > 1:
        strong = [g for g in outcomes if re.search(_STRONG_OUTCOME, g.column.lower())]
        keep = (strong or sorted(outcomes, key=lambda g: (g.kind != "binary", -g.confidence)))[0]
        for g in outcomes:
            if g is not keep:
                guesses[g.column] = replace(g, role="attribute", kind="categorical")
        outcomes = [keep]
    elif not outcomes:
        binary = [g for g in guesses.values() if g.role == "attribute" and g.distinct == 2]
        if binary and binary[-1].column == profiles[-1].column:
            last = binary[-1]
            guesses[last.column] = replace(
                last,
                role="outcome",
                kind="binary",
                confidence=0.4,
                reason="last column, two values",
            )
    for col, role in opts.roles.items():
        if col not in guesses:
            raise CmotError(f"The mapping names a column {col!r} that the file does not have.")
        if role not in ROLES:
            raise CmotError(f"Unknown role {role!r} for {col!r}; use one of {', '.join(ROLES)}.")
        guesses[col] = replace(guesses[col], role=role, confidence=1.0, reason="set by you")
    if opts.outcome:
        if opts.outcome not in guesses:
            raise CmotError(
                f"There is no column {opts.outcome!r} to use as the outcome. "
                f"Columns: {', '.join(guesses)}."
            )
        for g in list(guesses.values()):
            if g.role == "outcome" and g.column != opts.outcome:
                guesses[g.column] = replace(g, role="attribute", kind="categorical")
        g = guesses[opts.outcome]
        guesses[opts.outcome] = replace(g, role="outcome", confidence=1.0, reason="set by you")

    by_col = {p.column: p for p in profiles}
    # A mapping that is not complete yet (no outcome, no touchpoints) is shown for the user
    # to finish, not refused: the Data page prompts for what `problems` names.
    try:
        spec: JourneySpec | None = _infer_spec(guesses, by_col, (lo, hi, missing), opts)
    except CmotError as e:
        return Detection(layout, encoding, n, tuple(guesses.values()), None, (str(e),))
    return Detection(layout, encoding, n, tuple(guesses.values()), spec)


def _infer_spec(
    guesses: dict[str, ColumnGuess],
    profiles: dict[str, _Profile],
    scale: tuple[int, int, tuple[Code, ...]],
    opts: IngestOptions,
) -> JourneySpec:
    def cols(role: str) -> list[str]:
        return [c for c, g in guesses.items() if g.role == role]

    outcome_cols = cols("outcome")
    if not outcome_cols:
        raise CmotError(
            "No outcome column was found. Name the column that measures the whole relationship "
            "(e.g. overall satisfaction, would recommend, renewed) with --outcome COLUMN, "
            "or map one column to the role 'outcome'. Columns: " + ", ".join(guesses) + "."
        )
    if len(outcome_cols) > 1:
        raise CmotError(f"Only one column can be the outcome; you mapped {outcome_cols}.")
    oc = outcome_cols[0]
    op = profiles[oc]
    kind = opts.outcome_kind
    if kind is None:
        if opts.positive or op.distinct <= 2:
            kind = "binary"
        elif is_numeric_type(op.dtype) and op.lo is not None and op.lo >= 0 and op.hi == 10:
            kind = "recommend" if re.search(r"recommend|nps|ltr", oc.lower()) else "scale"
        elif is_numeric_type(op.dtype):
            kind = "scale"
        else:
            kind = "binary"
    positive: tuple[str, ...] = ()
    if kind == "binary":
        positive = opts.positive or _positive_values(op.values)
    touchpoints = cols("touchpoint")
    if not touchpoints:
        raise CmotError(
            "No touchpoint ratings were found: no column holds whole-number ratings such as "
            "1-5 or 0-10. Map the rating columns to the role 'touchpoint'."
        )
    lo, hi, missing = scale
    if opts.missing is not None:
        missing = opts.missing
        if lo == 1 and 0 not in missing and any(profiles[t].lo == 0 for t in touchpoints):
            lo = 0
    attributes = cols("attribute")
    segments = [
        c for c in attributes if guesses[c].kind == "categorical" and 2 <= guesses[c].distinct <= 12
    ]
    ids, weights, dates = cols("id"), cols("weight"), cols("date")
    spec = JourneySpec(
        stages=(Stage("Journey", tuple(touchpoints)),),
        touchpoints=tuple(Touchpoint(t) for t in touchpoints),
        scale=default_scale(lo, hi, missing),
        outcome=Outcome(
            oc,
            kind,  # type: ignore[arg-type]
            positive,
            0.0 if kind == "recommend" else None,
            10.0 if kind == "recommend" else None,
        ),
        id_column=ids[0] if ids else None,
        weight_column=weights[0] if weights else None,
        date_column=dates[0] if dates else None,
        segments=tuple(segments),
        attributes=tuple(attributes),
        ignored=tuple(cols("ignore") + ids[1:] + weights[1:] + dates[1:]),
        labels=dict(opts.labels),
    )
    return validate_spec(spec)
