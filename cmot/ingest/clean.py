"""Cleaning: the SELECT that makes the stored layout from the raw table, and its report."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from cmot.errors import CmotError
from cmot.ingest.column_profiles import is_integer_type, is_numeric_type
from cmot.ingest.read import RawFile
from cmot.names import DERIVED_COLUMNS, ID_COL, ROW_COL, W_COL, Y_COL, quote_ident
from cmot.spec import (
    OTHER,
    Code,
    JourneySpec,
)
from cmot.text import MAX_COMMENT_CHARS, MAX_LABEL_CHARS, ellipsize

_q = quote_ident

# A Change's action: the value was cut to its cap (cmot.text: MAX_COMMENT_CHARS for comments,
# MAX_LABEL_CHARS for segment values).
SHORTENED = "shortened"


@dataclass(frozen=True)
class Change:
    """Values of a column that ingest set to missing or whose rows it dropped, and why."""

    column: str
    reason: str
    count: int
    action: str  # "set to missing", "row dropped" or SHORTENED


@dataclass(frozen=True)
class ValidationReport:
    source_name: str
    layout: str
    encoding: str
    rows_read: int
    rows_kept: int
    changes: tuple[Change, ...]
    duplicate_ids: int
    out_of_scale: int
    columns_ignored: tuple[str, ...]
    touchpoints: tuple[str, ...]
    outcome: str
    notes: tuple[str, ...] = ()
    labels_shortened: int = 0  # labels of the spec cut to MAX_LABEL_CHARS (`shorten_labels`)

    @property
    def drop_warning(self) -> str:
        """What a choice that drops over a tenth of the respondents must say (`drop_warning`)."""
        return drop_warning(self.rows_read, self.rows_kept, self.changes)

    @property
    def values_shortened(self) -> int:
        """Values (comments, segment values) cut to their cap at ingest."""
        return sum(c.count for c in self.changes if c.action == SHORTENED)

    def to_dict(self) -> dict[str, Any]:
        return {
            "source_name": self.source_name,
            "layout": self.layout,
            "encoding": self.encoding,
            "rows_read": self.rows_read,
            "rows_kept": self.rows_kept,
            "changes": [c.__dict__ for c in self.changes],
            "duplicate_ids": self.duplicate_ids,
            "out_of_scale": self.out_of_scale,
            "columns_ignored": list(self.columns_ignored),
            "touchpoints": list(self.touchpoints),
            "outcome": self.outcome,
            "notes": list(self.notes),
            "labels_shortened": self.labels_shortened,
        }

    def to_text(self) -> str:
        lines = [
            f"Validation report for {self.source_name} ({self.layout} layout, {self.encoding})",
            f"  rows read:        {self.rows_read:,}",
            f"  rows kept:        {self.rows_kept:,}",
            f"  touchpoints:      {len(self.touchpoints)} ({', '.join(self.touchpoints)})",
            f"  outcome:          {self.outcome}",
            f"  duplicate ids:    {self.duplicate_ids}",
            f"  out-of-scale:     {self.out_of_scale}",
            f"  columns ignored:  {', '.join(self.columns_ignored) or 'none'}",
            f"  text shortened:   {self._shortened()}",
        ]
        if self.changes:
            lines.append("  changed or dropped values:")
            for c in self.changes:
                lines.append(f"    {c.column}: {c.count:,} {c.reason} ({c.action})")
        else:
            lines.append("  changed or dropped values: none")
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)

    def _shortened(self) -> str:
        values, labels = self.values_shortened, self.labels_shortened
        if not values and not labels:
            return "none"
        return (
            f"{values:,} value(s) and {labels:,} label(s) (comments cut at "
            f"{MAX_COMMENT_CHARS:,} characters, labels and segment values at {MAX_LABEL_CHARS:,})"
        )


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


def check_columns(spec: JourneySpec, columns: list[str]) -> None:
    need = list(spec.touchpoint_columns) + [spec.outcome.column]
    need += [c for c in (spec.id_column, spec.weight_column, spec.date_column) if c]
    need += list(spec.attributes) + list(spec.comments)
    missing = [c for c in dict.fromkeys(need) if c not in columns]
    if missing:
        raise CmotError(
            f"The file lacks column(s) the journey spec needs: {', '.join(missing)}. "
            f"The file has: {', '.join(columns)}."
        )
    reserved = [c for c in columns if c in DERIVED_COLUMNS]
    if reserved:
        raise CmotError(f"Column name(s) {reserved} are reserved by cmot; rename them.")
    check_storable(spec)


def check_storable(spec: JourneySpec) -> None:
    """What saving needs of a spec beyond `validate_spec` (which stored specs pass on every
    load, so it stays as it was): ratings fit the stored TINYINT, and each touchpoint's name
    is its own, as results are keyed on it (a chart's rows, a table's pivot)."""
    for tp in spec.touchpoint_columns:
        s = spec.scale_of(tp)
        if s.min < -127 or s.max > 127:
            raise CmotError(
                f"The scale of {tp!r} is {s.min}-{s.max}: ratings are stored as whole numbers "
                "from -127 to 127. Make a column of larger numbers an attribute, not a touchpoint."
            )
    seen: dict[str, str] = {}
    for tp in spec.touchpoint_columns:
        name = spec.touchpoint(tp).name
        if name in seen:
            raise CmotError(
                f"The touchpoints {seen[name]!r} and {tp!r} are both named {name!r}: give them "
                "different labels (on the Data page, or in the journey spec)."
            )
        seen[name] = tp


def _clean(
    spec: JourneySpec, types: dict[str, str], row: str = "rowid"
) -> tuple[list[tuple[str, list[Any]]], list[tuple[str, str, str, str, list[Any]]]]:
    """The select items (SQL, params) of the stored layout, and the report's counting rules.

    `row` is the SQL of a row's number (ROW_COL): DuckDB's `rowid` of the read file, or for an
    external source, whose rows have no fixed position, a hash of its respondent id. The SQL
    is portable between DuckDB and Spark SQL (`::STRING`, not `::VARCHAR`, which Spark wants
    with a length), so that one definition cleans a file at ingest and a lake in place."""
    items: list[tuple[str, list[Any]]] = []
    counts: list[tuple[str, str, str, str, list[Any]]] = []  # column, reason, action, sql, params
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
    counts.append(
        (
            o.column,
            "outcome missing or not usable",
            "row dropped",
            f"({y}) IS NULL",
            y_params,
        )
    )
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

    if spec.weight_column:
        w = f"TRY_CAST({_q(spec.weight_column)}::STRING AS DOUBLE)"
        w_expr = f"CASE WHEN {w} > 0 THEN {w} ELSE NULL END"
        counts.append(
            (
                spec.weight_column,
                "weight missing or not positive",
                "row dropped",
                f"({w_expr}) IS NULL",
                [],
            )
        )
    else:
        w_expr = "1.0"

    if spec.id_column:
        id_expr = f"nullif(trim({_q(spec.id_column)}::STRING), '')"
        counts.append(
            (
                spec.id_column,
                "respondent id missing",
                "row dropped",
                f"{id_expr} IS NULL",
                [],
            )
        )
    else:
        id_expr = "(rowid + 1)::STRING"

    items.append((f"{row} AS {_q(ROW_COL)}", []))
    items.append((f"{id_expr} AS {_q(ID_COL)}", []))
    items.append((f"({y})::DOUBLE AS {_q(Y_COL)}", list(y_params)))
    items.append((f"({w_expr})::DOUBLE AS {_q(W_COL)}", []))

    keep = [c for c in (spec.id_column, spec.date_column) if c] + list(spec.attributes)
    keep += [o.column] + ([spec.weight_column] if spec.weight_column else [])
    keep += list(spec.comments)
    for col in dict.fromkeys(keep):
        c = _q(col)
        codes = spec.missing_codes(col)
        labels = spec.labels.get(col, {})
        is_code, cp = _is_code(c, types.get(col, "VARCHAR"), codes)
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
        cap = _text_cap(spec, col, types.get(col, "VARCHAR"), bool(labels))
        if cap is None:
            items.append((expr if expr == c else f"{expr} AS {c}", params))
            continue
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
        items.append((f"substr({text}, 1, ?) AS {c}", [*params, cap]))

    for tp in spec.touchpoint_columns:
        c, t = _q(tp), types[tp]
        s = spec.scale_of(tp)  # a 0-10 touchpoint beside 1-5 ones keeps its own range
        codes = spec.missing_codes(tp)
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
        items.append(
            (
                f"CASE WHEN {is_code} OR {bad} THEN NULL ELSE {value} END::TINYINT AS {c}",
                list(code_params) + [s.min, s.max],
            )
        )
    return items, counts


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

    # One pass for every count the report and the checks need. counts[0] is the outcome
    # rule; items 1-3 are the id, outcome and weight expressions.
    y, y_params = items[2][0].rsplit(" AS ", 1)[0], items[2][1]
    ok = f"({counts[0][3]}) IS NOT TRUE"  # same parameters as y
    w_ok = f"({items[3][0].rsplit(' AS ', 1)[0]}) IS NOT NULL"
    id_ok = f"({items[1][0].rsplit(' AS ', 1)[0]}) IS NOT NULL"
    keep = f"({ok} AND {w_ok} AND {id_ok})"
    idc = _q(spec.id_column) if spec.id_column else None
    ids = f"nullif(trim({idc}::STRING), '')" if idc else None
    stats = [f"count_if({c[3]})" for c in counts]
    stat_params = [p for c in counts for p in c[4]]
    stats += [
        f"count_if({keep})",
        f"min({y}) FILTER (WHERE {keep})",
        f"max({y}) FILTER (WHERE {keep})",
        # A blank id (spaces) is a missing one, as the stored id reads it: never a repeat.
        f"count({ids}) - count(DISTINCT {ids})" if ids else "0",
    ]
    stat_params += y_params * 5  # count_if(keep); min(y) FILTER (keep); max(y) FILTER (keep)
    got = run(f"SELECT {', '.join(stats)} FROM {relation}", stat_params)[0]
    tallies, (kept, y_lo, y_hi, dup_rows) = got[: len(counts)], got[len(counts) :]
    changes = tuple(
        Change(col, reason, int(k), action)
        for (col, reason, action, _, _), k in zip(counts, tallies, strict=True)
        if k
    )
    if dup_rows:
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
    notes: list[str] = []
    dropped = drop_warning(rows, int(kept), changes)
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
        pro, det = run(
            f"SELECT avg((({y}) >= 9)::INT), avg((({y}) <= 6)::INT) FROM {relation} WHERE {keep}",
            y_params * 3,
        )[0]
        notes.append(
            f"NPS {100 * (pro - det):+.0f}: promoters (9-10) {pro:.0%}, "
            f"passives (7-8) {1 - pro - det:.0%}, detractors (0-6) {det:.0%}"
        )
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
        notes=tuple(notes),
    )
    return CleaningPlan(sql, params, report)


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


# A choice (outcome, its range, the codes, the weight) that drops more than this share of
# the respondents is said before saving and in the validation report (issue 23).
DROP_WARN_SHARE = 0.10


def drop_warning(rows_read: int, rows_kept: int, changes: Sequence[Change]) -> str:
    """'121 of 1,033 respondents (12%) are dropped: ...' when over DROP_WARN_SHARE, else ''."""
    dropped = rows_read - rows_kept
    if rows_read <= 0 or dropped <= DROP_WARN_SHARE * rows_read:
        return ""
    why = "; ".join(
        f"{c.column}: {c.count:,} {c.reason}" for c in changes if c.action == "row dropped"
    )
    return (
        f"{dropped:,} of {rows_read:,} respondents ({dropped / rows_read:.0%}) are dropped"
        + (f" ({why})" if why else "")
        + ": check the outcome, its range, the codes declared missing and the weight"
    )


def used_columns(spec: JourneySpec) -> set[str]:
    used = set(spec.touchpoint_columns) | set(spec.attributes) | {spec.outcome.column}
    used |= set(spec.comments)
    return used | {c for c in (spec.id_column, spec.weight_column, spec.date_column) if c}
