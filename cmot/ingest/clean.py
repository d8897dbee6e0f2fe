"""Cleaning: the SELECT that makes the stored layout from the raw table, and the counts of
its report (`cmot.ingest.validation`)."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from cmot.errors import CmotError
from cmot.ingest.column_profiles import is_integer_type, is_numeric_type
from cmot.ingest.read import RawFile
from cmot.ingest.validation import SHORTENED, Change, ValidationReport, drop_warning
from cmot.names import ID_COL, ROW_COL, W_COL, Y_COL, quote_ident
from cmot.spec import (
    OTHER,
    Code,
    JourneySpec,
)
from cmot.text import MAX_COMMENT_CHARS, MAX_LABEL_CHARS, ellipsize

_q = quote_ident

# A select item (SQL, params) and a counting rule of the report (column, reason, action,
# SQL that is true where the rule applies, params).
Item = tuple[str, list[Any]]
Count = tuple[str, str, str, str, list[Any]]


# ---- cleaning -----------------------------------------------------------------------


def _in_list(codes: Sequence[Code], text: bool) -> tuple[str, list[Any]]:
    vals = [str(c) for c in codes] if text else [c for c in codes if isinstance(c, int)]
    if not vals:
        return "(NULL)", []
    return "(" + ", ".join("?" for _ in vals) + ")", vals


def _is_code(qc: str, dtype: str, codes: Sequence[Code]) -> tuple[str, list[Any]]:
    """SQL that is true where a column's trimmed text is one of `codes`, and its params.

    A whole-number column is compared as numbers: its text is the number's own, so only a
    code written as a whole number can match, and no value is cast to text (150 columns of
    casts were the slowest part of the cleaning scan). Like the text test, it is never true
    on a blank (NULL or false: every use reads it as a condition)."""
    if is_integer_type(dtype):
        ints = [int(t) for t in map(str, codes) if re.fullmatch(r"-?(0|[1-9][0-9]*)", t)]
        if not ints:
            return "false", []
        return f"{qc} IN (" + ", ".join("?" for _ in ints) + ")", ints
    if not codes:
        return "false", []  # no text to make
    listed, params = _in_list(codes, text=True)
    return f"trim({qc}::STRING) IN {listed}", params


def _number(qc: str, dtype: str) -> str:
    """A column's values as numbers, NULL where the text is no number. A numeric column's
    own value is the number its text reads as: no round trip through text."""
    return f"{qc}::DOUBLE" if is_numeric_type(dtype) else f"TRY_CAST(trim({qc}::STRING) AS DOUBLE)"


def _clean(
    spec: JourneySpec, types: dict[str, str], row: str = "rowid"
) -> tuple[list[Item], list[Count]]:
    """The select items (SQL, params) of the stored layout, and the report's counting rules.

    `row` is the SQL of a row's number (ROW_COL): DuckDB's `rowid` of the read file, or for an
    external source, whose rows have no fixed position, a hash of its respondent id. The SQL
    is portable between DuckDB and Spark SQL (`::STRING`, not `::VARCHAR`, which Spark wants
    with a length), so that one definition cleans a file at ingest and a lake in place."""
    y, y_params, counts = _outcome(spec, types)
    w_expr, w_counts = _weight(spec)
    id_expr, id_counts = _respondent_id(spec)
    counts += w_counts + id_counts
    items: list[Item] = [
        (f"{row} AS {_q(ROW_COL)}", []),
        (f"{id_expr} AS {_q(ID_COL)}", []),
        (f"({y})::DOUBLE AS {_q(Y_COL)}", list(y_params)),
        (f"({w_expr})::DOUBLE AS {_q(W_COL)}", []),
    ]
    keep = [c for c in (spec.id_column, spec.date_column) if c] + list(spec.attributes)
    keep += [spec.outcome.column] + ([spec.weight_column] if spec.weight_column else [])
    keep += list(spec.comments)
    for col in dict.fromkeys(keep):
        item, col_counts = _kept_column(spec, col, types.get(col, "VARCHAR"))
        items.append(item)
        counts += col_counts
    for tp in spec.touchpoint_columns:
        item, tp_counts = _touchpoint(spec, tp, types[tp])
        items.append(item)
        counts += tp_counts
    return items, counts


def _outcome(spec: JourneySpec, types: dict[str, str]) -> tuple[str, list[Any], list[Count]]:
    """The outcome's SQL (`__cmot_y`: 1.0/0.0 for a binary one, else the value within its
    range; NULL for no answer), its params, and its rules: counts[0] drops a row without one."""
    o = spec.outcome
    oc = _q(o.column)
    ot = types.get(o.column, "VARCHAR")
    out_code, out_params = _is_code(oc, ot, outcome_missing(spec))
    if o.kind == "binary":
        is_pos, pos_params = _is_code(oc, ot, o.positive)
        y = f"CASE WHEN {oc} IS NULL OR {out_code} THEN NULL WHEN {is_pos} THEN 1.0 ELSE 0.0 END"
        y_params = out_params + pos_params
    else:
        lo = o.min if o.min is not None else -1e300
        hi = o.max if o.max is not None else 1e300
        v = _number(oc, ot)
        y = f"CASE WHEN {out_code} OR {v} < ? OR {v} > ? THEN NULL ELSE {v} END"
        y_params = out_params + [lo, hi]
    counts: list[Count] = [
        (
            o.column,
            "outcome missing or not usable",
            "row dropped",
            f"({y}) IS NULL",
            y_params,
        )
    ]
    if o.kind != "binary" and o.min is not None and o.max is not None:
        # Said apart from blanks: a value outside the declared range is a wrong range or a
        # wrong column, which the analyst should see (an id as outcome, a 0-100 on 1-5).
        counts.append(
            (
                o.column,
                f"outcome outside its {lo:g}-{hi:g} range",
                "row dropped",
                f"NOT coalesce({out_code}, false) AND ({v} < ? OR {v} > ?)",
                out_params + [lo, hi],
            )
        )
    return y, y_params, counts


def _weight(spec: JourneySpec) -> tuple[str, list[Count]]:
    """The weight's SQL (`__cmot_w`: a positive number, else NULL; 1.0 without a weight)."""
    if not spec.weight_column:
        return "1.0", []
    w = f"TRY_CAST({_q(spec.weight_column)}::STRING AS DOUBLE)"
    w_expr = f"CASE WHEN {w} > 0 THEN {w} ELSE NULL END"
    return w_expr, [
        (
            spec.weight_column,
            "weight missing or not positive",
            "row dropped",
            f"({w_expr}) IS NULL",
            [],
        )
    ]


def _respondent_id(spec: JourneySpec) -> tuple[str, list[Count]]:
    """The respondent id's SQL (`__cmot_id`: trimmed text, NULL when blank; the row's number
    from 1 without an id column)."""
    if not spec.id_column:
        return "(rowid + 1)::STRING", []
    id_expr = f"nullif(trim({_q(spec.id_column)}::STRING), '')"
    return id_expr, [
        (
            spec.id_column,
            "respondent id missing",
            "row dropped",
            f"{id_expr} IS NULL",
            [],
        )
    ]


def _kept_column(spec: JourneySpec, col: str, dtype: str) -> tuple[Item, list[Count]]:
    """A column kept beside the ratings (id, date, attributes, outcome, weight, comments):
    declared codes to NULL, value labels applied, comments trimmed, text cut to its cap."""
    c = _q(col)
    codes = spec.missing_codes(col)
    labels = spec.labels.get(col, {})
    is_code, cp = _is_code(c, dtype, codes)
    counts: list[Count] = []
    if codes:
        counts.append(
            (
                col,
                f"declared missing code ({', '.join(map(str, codes))})",
                "set to missing",
                is_code,
                cp,
            )
        )
    if labels:
        listed = {k: v for k, v in labels.items() if k != OTHER}
        cases = " ".join("WHEN ? THEN ?" for _ in listed)
        lp: list[Any] = [x for kv in listed.items() for x in kv]
        # OTHER labels every code not listed: "the rest" of a merge.
        if OTHER in labels:
            other, op = "?", [labels[OTHER]]
        else:
            other, op = f"{c}::STRING", []
        mapped = f"CASE trim({c}::STRING) {cases} ELSE {other} END" if listed else other
        expr = f"CASE WHEN {c} IS NULL OR {is_code} THEN NULL ELSE {mapped} END"
        params = cp + lp + op
    elif codes:
        expr, params = f"CASE WHEN {is_code} THEN NULL ELSE {c} END", cp
    elif col in spec.comments:
        # Free text is kept as text, trimmed; a blank answer is no answer.
        expr, params = f"NULLIF(trim({c}::STRING), '')", []
    else:
        expr, params = c, []
    cap = _text_cap(spec, col, dtype, bool(labels))
    if cap is None:
        return (expr if expr == c else f"{expr} AS {c}", params), counts
    # substr/length count characters on both engines; a shorter value is unchanged.
    text = f"({expr})::STRING"
    counts.append(
        (
            col,
            f"longer than {cap:,} characters",
            SHORTENED,
            f"length({text}) > ?",
            [*params, cap],
        )
    )
    return (f"substr({text}, 1, ?) AS {c}", [*params, cap]), counts


def _touchpoint(spec: JourneySpec, tp: str, t: str) -> tuple[Item, list[Count]]:
    """A rating as TINYINT: NULL for a declared code, text that is no number, a fraction or
    a value outside the touchpoint's own scale, each counted."""
    c = _q(tp)
    s = spec.scale_of(tp)  # a 0-10 touchpoint beside 1-5 ones keeps its own range
    codes = spec.missing_codes(tp)
    counts: list[Count] = []
    if is_integer_type(t):
        value = c  # whole numbers: no cast, and no test for fractions
        is_code, code_params = _in_list(codes, text=False)
        is_code = f"coalesce({c} IN {is_code}, false)" if code_params else "false"
    elif is_numeric_type(t):
        value = f"{c}::DOUBLE"
        is_code, code_params = _in_list(codes, text=False)
        is_code = f"coalesce({c} IN {is_code}, false)" if code_params else "false"
    else:
        raw_text = f"trim({c}::STRING)"
        value = f"TRY_CAST({raw_text} AS DOUBLE)"
        is_code, code_params = _in_list(codes, text=True)
        is_code = f"coalesce({raw_text} IN {is_code}, false)" if code_params else "false"
        counts.append(
            (
                tp,
                "text that is not a rating",
                "set to missing",
                f"{c} IS NOT NULL AND NOT {is_code} AND {value} IS NULL",
                list(code_params),
            )
        )
    fraction = "" if is_integer_type(t) else f" OR {value} <> round({value})"
    bad = f"coalesce({value} < ? OR {value} > ?{fraction}, false)"
    if codes:
        counts.append(
            (
                tp,
                f"declared missing code ({', '.join(map(str, codes))})",
                "set to missing",
                is_code,
                list(code_params),
            )
        )
    counts.append(
        (
            tp,
            f"outside the {s.min}-{s.max} scale",
            "set to missing",
            f"NOT {is_code} AND {bad}",
            list(code_params) + [s.min, s.max],
        )
    )
    item = (
        f"CASE WHEN {is_code} OR {bad} THEN NULL ELSE {value} END::TINYINT AS {c}",
        list(code_params) + [s.min, s.max],
    )
    return item, counts


def _text_cap(spec: JourneySpec, col: str, dtype: str, labelled: bool) -> int | None:
    """The cap on a kept column's values, or None: a comment's, or a segment attribute's
    when its values are text (labelled, or read as text); numbers and dates are no text."""
    if col in spec.comments:
        return MAX_COMMENT_CHARS
    if col in spec.attributes and (labelled or dtype.upper() in ("VARCHAR", "STRING")):
        return MAX_LABEL_CHARS
    return None


def shorten_labels(spec: JourneySpec) -> tuple[JourneySpec, int]:
    """`spec` with every label longer than MAX_LABEL_CHARS cut to it (an ellipsis last, so a
    reader sees it was cut), and how many were: touchpoints' labels, columns' question text
    and value labels, from a spec file or the file's own header rows or metadata."""
    cut = 0

    def short(label: str) -> str:
        nonlocal cut
        cut += len(label) > MAX_LABEL_CHARS
        return ellipsize(label, MAX_LABEL_CHARS)

    touchpoints = tuple(replace(t, label=short(t.label)) for t in spec.touchpoints)
    column_labels = {k: short(v) for k, v in spec.column_labels.items()}
    labels = {col: {k: short(v) for k, v in m.items()} for col, m in spec.labels.items()}
    if not cut:
        return spec, 0
    return replace(spec, touchpoints=touchpoints, column_labels=column_labels, labels=labels), cut


@dataclass(frozen=True)
class CleaningPlan:
    """The validated SELECT that makes the stored layout from `raw`, and its report."""

    sql: str
    params: list[Any]
    report: ValidationReport


# Runs one query with bound `?` values on some engine and returns its rows.
Run = Callable[[str, Sequence[Any]], list[tuple[Any, ...]]]


def cleaning_select(
    spec: JourneySpec, types: dict[str, str], relation: str, row: str = "rowid"
) -> tuple[str, list[Any]]:
    """The SELECT (and its bound values) that makes the stored layout from `relation`: the
    rows a stored dataset holds, or what an external dataset's view is, on either engine."""
    return _select(_clean(spec, types, row)[0], relation)


def _select(items: list[tuple[str, list[Any]]], relation: str) -> tuple[str, list[Any]]:
    select = ", ".join(i[0] for i in items)
    params = [p for i in items for p in i[1]]
    where = f"{_q(Y_COL)} IS NOT NULL AND {_q(W_COL)} IS NOT NULL AND {_q(ID_COL)} IS NOT NULL"
    return f"SELECT * FROM (SELECT {select} FROM {relation}) WHERE {where}", params


def plan_cleaning(
    raw: RawFile,
    spec: JourneySpec,
    types: dict[str, str],
    labels_shortened: int = 0,
    batch: bool = False,
) -> CleaningPlan:
    """The cleaning of a file read into the TEMP table `raw` of `raw.con`; `labels_shortened`
    is what `shorten_labels` cut from the spec, for the report; `batch`: see plan_select."""

    def run(sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        return raw.con.execute(sql, list(params)).fetchall()

    plan = plan_select(
        run,
        "raw",
        spec,
        types,
        raw.source_name,
        raw.layout,
        raw.encoding,
        raw.rows,
        raw.columns,
        batch=batch,
    )
    renamed = tuple(
        f"the header {h!r} appears more than once: one is read as {c!r}"
        for c, h in raw.renamed.items()
    )
    report = replace(
        plan.report, labels_shortened=labels_shortened, notes=plan.report.notes + renamed
    )
    return replace(plan, report=report)


def plan_select(
    run: Run,
    relation: str,
    spec: JourneySpec,
    types: dict[str, str],
    source_name: str,
    layout: str,
    encoding: str,
    rows: int,
    columns: Sequence[str],
    row: str = "rowid",
    batch: bool = False,
) -> CleaningPlan:
    """Validate `relation` (counts in one pass on the engine `run` queries) and plan its
    cleaning; raises CmotError when no analysis could use it (no usable row, one outcome
    value, a repeated respondent id). A `batch` appended to a stored dataset (cmot.store.append)
    may have one outcome value: a handful of new answers often do."""
    items, counts = _clean(spec, types, row)
    sql, params = _select(items, relation)
    kept_rows = _KeptRows.of(items, counts)
    idc = _q(spec.id_column) if spec.id_column else None
    ids = f"nullif(trim({idc}::STRING), '')" if idc else None
    tallies, (kept, y_lo, y_hi, dup_rows) = _count(run, relation, counts, kept_rows, ids)
    changes = tuple(
        Change(col, reason, int(k), action)
        for (col, reason, action, _, _), k in zip(counts, tallies, strict=True)
        if k
    )
    if dup_rows and ids:  # without an id column, no repeat is counted
        _refuse_repeated_ids(run, relation, spec, ids, row, dup_rows)
    _check_usable(spec, int(kept), y_lo, y_hi, batch)
    o = spec.outcome
    report = ValidationReport(
        source_name=source_name,
        layout=layout,
        encoding=encoding,
        rows_read=rows,
        rows_kept=int(kept),
        changes=changes,
        duplicate_ids=0,
        out_of_scale=sum(c.count for c in changes if c.reason.startswith("outside the")),
        columns_ignored=tuple(c for c in columns if c not in used_columns(spec)),
        touchpoints=spec.touchpoint_columns,
        outcome=f"{o.column} ({o.kind})",
        notes=tuple(_notes(run, relation, spec, rows, int(kept), changes, kept_rows)),
    )
    return CleaningPlan(sql, params, report)


@dataclass(frozen=True)
class _KeptRows:
    """The SQL of a row's outcome (`y`, with `y_params`) and of the rows the stored layout
    keeps (`keep`: a usable outcome, weight and id; the same parameters as `y`)."""

    y: str
    y_params: list[Any]
    keep: str

    @classmethod
    def of(cls, items: list[Item], counts: list[Count]) -> _KeptRows:
        # counts[0] is the outcome rule; items 1-3 are the id, outcome and weight expressions.
        y, y_params = items[2][0].rsplit(" AS ", 1)[0], items[2][1]
        ok = f"({counts[0][3]}) IS NOT TRUE"  # same parameters as y
        w_ok = f"({items[3][0].rsplit(' AS ', 1)[0]}) IS NOT NULL"
        id_ok = f"({items[1][0].rsplit(' AS ', 1)[0]}) IS NOT NULL"
        return cls(y, y_params, f"({ok} AND {w_ok} AND {id_ok})")


def _count(
    run: Run, relation: str, counts: list[Count], kept_rows: _KeptRows, ids: str | None
) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
    """One pass for every count the report and the checks need: each rule's tally, then the
    rows kept, the lowest and highest outcome kept and the rows that repeat an id."""
    y, keep = kept_rows.y, kept_rows.keep
    stats = [f"count_if({c[3]})" for c in counts]
    stat_params = [p for c in counts for p in c[4]]
    stats += [
        f"count_if({keep})",
        f"min({y}) FILTER (WHERE {keep})",
        f"max({y}) FILTER (WHERE {keep})",
        # A blank id (spaces) is a missing one, as the stored id reads it: never a repeat.
        f"count({ids}) - count(DISTINCT {ids})" if ids else "0",
    ]
    # count_if(keep); min(y) FILTER (keep); max(y) FILTER (keep)
    stat_params += kept_rows.y_params * 5
    got = run(f"SELECT {', '.join(stats)} FROM {relation}", stat_params)[0]
    return tuple(got[: len(counts)]), tuple(got[len(counts) :])


def _refuse_repeated_ids(
    run: Run, relation: str, spec: JourneySpec, ids: str, row: str, dup_rows: int
) -> None:
    """A repeated respondent id is refused, with the first few repeated."""
    dups = run(
        f"SELECT {ids} FROM {relation} WHERE {ids} IS NOT NULL "
        f"GROUP BY 1 HAVING count(*) > 1 ORDER BY min({row}) LIMIT 5",
        [],
    )
    ex = ", ".join(str(d[0]) for d in dups)
    raise CmotError(
        f"{dup_rows} row(s) repeat a respondent id in {spec.id_column!r} (e.g. {ex}). "
        "Remove the duplicate rows, or map another id column."
    )


def _check_usable(spec: JourneySpec, kept: int, y_lo: Any, y_hi: Any, batch: bool) -> None:
    """Refuse what no analysis could use: no usable row, or (except in a `batch`) one
    outcome value for every respondent."""
    o = spec.outcome
    if kept == 0:
        raise CmotError(
            f"No usable rows: every row lacks a usable outcome ({o.column!r}), weight or id. "
            "Check the outcome column and its positive values."
        )
    if y_lo == y_hi and not batch:
        what = "positive" if y_lo == 1 and o.kind == "binary" else "the same value"
        raise CmotError(
            f"The outcome {o.column!r} is {what} for every respondent, so nothing can explain it. "
            + (
                f"Positive values are {list(o.positive)}; check them, or pick another outcome."
                if o.kind == "binary"
                else "Pick another outcome column."
            )
        )


def _notes(
    run: Run,
    relation: str,
    spec: JourneySpec,
    rows: int,
    kept: int,
    changes: tuple[Change, ...],
    kept_rows: _KeptRows,
) -> list[str]:
    """The report's notes: many respondents dropped, codes kept as answers in the outcome,
    'not applicable' codes, a binary outcome's positive values, a recommend outcome's NPS."""
    o = spec.outcome
    notes: list[str] = []
    dropped = drop_warning(rows, kept, changes)
    if dropped:
        notes.append(dropped)
    kept_codes = kept_in_outcome(spec)
    if kept_codes:
        codes = ", ".join(map(str, kept_codes))
        verb = "is" if len(kept_codes) == 1 else "are"
        notes.append(
            f"{codes} {verb} declared missing but inside the outcome's {o.min:g}-{o.max:g} "
            f"range: kept as answers in {o.column}, no answer in the other columns"
        )
    if spec.scale.missing:
        notes.append(
            f"{', '.join(map(str, spec.scale.missing))} in a rating means 'not applicable': "
            "treated as missing, never as a low score"
        )
    if o.kind == "binary":
        notes.append(f"outcome {o.column!r}: positive = {', '.join(o.positive)}")
    if o.kind == "recommend":
        y, keep = kept_rows.y, kept_rows.keep
        pro, det = run(
            f"SELECT avg((({y}) >= 9)::INT), avg((({y}) <= 6)::INT) FROM {relation} WHERE {keep}",
            kept_rows.y_params * 3,
        )[0]
        notes.append(
            f"NPS {100 * (pro - det):+.0f}: promoters (9-10) {pro:.0%}, "
            f"passives (7-8) {1 - pro - det:.0%}, detractors (0-6) {det:.0%}"
        )
    return notes


def outcome_missing(spec: JourneySpec) -> tuple[Code, ...]:
    """Codes that mean 'no answer' in the outcome.

    Its own list when the spec has one; else a rating-like outcome shares the ratings'
    codes (a 9 = don't know on the overall 1-5 is no score). A yes/no outcome does not:
    a 0 that is 'not applicable' for ratings may be its 'no'.
    """
    o = spec.outcome
    if o.column in spec.missing:
        codes = tuple(spec.missing[o.column])
    else:
        codes = () if o.kind == "binary" else spec.scale.missing
    # A point of the outcome's own range is an answer there, whatever the list says: a 7 that
    # is "don't know" on 1-5 ratings is a score on a 1-10 outcome (issue 23).
    return tuple(c for c in codes if not _in_range(spec, c))


def kept_in_outcome(spec: JourneySpec) -> tuple[Code, ...]:
    """Codes declared missing that lie inside the outcome's range: answers in the outcome,
    no answer in the other columns (`outcome_missing`)."""
    declared = [*spec.scale.missing, *spec.missing.get(spec.outcome.column, ())]
    return tuple(c for c in dict.fromkeys(declared) if _in_range(spec, c))


def _in_range(spec: JourneySpec, code: Code) -> bool:
    o = spec.outcome
    return (
        o.kind != "binary"
        and isinstance(code, int | float)
        and not isinstance(code, bool)
        and o.min is not None
        and o.max is not None
        and o.min <= code <= o.max
    )


def used_columns(spec: JourneySpec) -> set[str]:
    """The columns the spec gives a role; the file's others are ignored (and said so)."""
    used = set(spec.touchpoint_columns) | set(spec.attributes) | {spec.outcome.column}
    used |= set(spec.comments)
    return used | {c for c in (spec.id_column, spec.weight_column, spec.date_column) if c}
