"""What a wave is and how rows get one: a date grouped by period, a wave column's values, or
one relation per wave.

A `WaveSource` is what the trend engine (cmot.results.trend) reads: the journey spec every wave is
analysed with and, per wave, a SQL relation with its bound parameters on a DuckDB
connection. It is built either from one relation and a wave expression
(`waves_from_column`) or from several relations already sharing their column names
(`waves_from_relations`), or from stored datasets linked as waves, their columns renamed to
the first wave's names (`waves_from_link`).
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Literal

import duckdb

from cmot.errors import CmotError
from cmot.ingest.wave_columns import MAX_WAVES
from cmot.names import DERIVED_COLUMNS, ROW_COL, quote_ident
from cmot.spec import JourneySpec
from cmot.store.datasets import Store
from cmot.store.links import Link

Period = Literal["month", "quarter", "year"]
PERIODS: tuple[Period, ...] = ("month", "quarter", "year")


def confirmed_waves(spec: JourneySpec) -> str | None:
    """The column the analyst confirmed as the waves, or None: a single-wave survey until
    someone says otherwise (no headline change, no default trend)."""
    return spec.wave_column


@dataclass(frozen=True)
class Wave:
    """One wave: its label and the rows that belong to it (`relation` with `params` on `con`).

    `cache_key` names the data version for the engine's cache (None: no caching).
    """

    label: str
    con: duckdb.DuckDBPyConnection
    relation: str
    params: tuple[object, ...] = ()
    cache_key: Hashable | None = None


@dataclass(frozen=True)
class WaveSource:
    """The waves of one survey, in order, and the spec every wave is analysed with.

    column / by: the wave column and its grouping ("value" for its values), None for waves
    given as separate relations. notes: what a reader must know (rows without a wave,
    touchpoints left out because a wave lacks them).
    """

    spec: JourneySpec
    waves: tuple[Wave, ...]
    column: str | None = None
    by: str | None = None
    notes: tuple[str, ...] = ()

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(w.label for w in self.waves)


def wave_expression(column: str, by: Period | None = None) -> str:
    """The SQL text giving a row's wave as VARCHAR (NULL when it has none).

    by None: the column's value as text. month / quarter / year: the column read as a
    timestamp (TRY_CAST: an unreadable date gives NULL) and labelled "2026-03", "2026-Q1",
    "2026", which sort as time does.
    """
    col = quote_ident(column)
    if by is None:
        return f"CAST({col} AS VARCHAR)"
    ts = f"TRY_CAST({col} AS TIMESTAMP)"
    if by == "month":
        return f"strftime({ts}, '%Y-%m')"
    if by == "quarter":
        return f"CAST(year({ts}) AS VARCHAR) || '-Q' || CAST(quarter({ts}) AS VARCHAR)"
    if by == "year":
        return f"CAST(year({ts}) AS VARCHAR)"
    raise CmotError(f"Group waves by one of {', '.join(PERIODS)}, not {by!r}.")


def _columns(con: duckdb.DuckDBPyConnection, relation: str, params: Sequence[object]) -> list[str]:
    rows = con.execute(f"DESCRIBE SELECT * FROM {relation}", list(params)).fetchall()
    return [str(r[0]) for r in rows]


def _check_column(spec: JourneySpec, column: str, present: Sequence[str]) -> None:
    if column not in present:
        offer = [c for c in (spec.date_column, *spec.attributes) if c]
        raise CmotError(
            f"No column {column!r} to take waves from. Columns that could hold the wave: "
            f"{', '.join(repr(c) for c in offer) or 'none'}."
        )
    if column == spec.outcome.column:
        raise CmotError(f"{column!r} is the outcome; take the waves from a date or wave column.")
    if column in spec.touchpoint_columns:
        raise CmotError(
            f"{column!r} is a touchpoint in the journey; take the waves from a date or wave "
            "column (map it as an attribute)."
        )


def waves_from_column(
    con: duckdb.DuckDBPyConnection,
    relation: str,
    spec: JourneySpec,
    column: str,
    *,
    by: Period | None = None,
    labels: Sequence[str] | None = None,
    params: Sequence[object] = (),
    cache_key: Hashable | None = None,
) -> WaveSource:
    """The waves of one relation from its `column`: grouped `by` period, or its values.

    Order: periods by time; values numerically when they all read as numbers, by time when
    they all read as dates, else in order of first appearance (the source row order).
    `labels`: for values, either the values themselves in the order wanted, or as many new
    names as there are waves (renaming them in their natural order); for periods, new names.
    Each wave's relation is `(SELECT * FROM relation WHERE <wave expression> = ?)` with the
    wave's value bound after `params`.
    """
    present = _columns(con, relation, params)
    _check_column(spec, column, present)
    expr = wave_expression(column, by)
    empty = _count_waves(con, relation, column, expr, by, list(params))
    values, names = _wave_values(con, relation, present, expr, by, list(params), labels, column)
    notes = []
    if empty:
        what = "a readable date" if by else "a value"
        notes.append(f"{empty:,} rows have no wave ({column!r} without {what}) and are left out.")
    waves = tuple(
        Wave(
            label=name,
            con=con,
            relation=f"(SELECT * FROM {relation} WHERE {expr} = ?)",
            params=(*params, value),
            cache_key=cache_key,
        )
        for name, value in zip(names, values, strict=True)
    )
    return WaveSource(spec, waves, column, by or "value", tuple(notes))


def _count_waves(
    con: duckdb.DuckDBPyConnection,
    relation: str,
    column: str,
    expr: str,
    by: Period | None,
    bound: list[object],
) -> int:
    """The rows without a wave; refuses a column that gives no dates, one wave or too many."""
    total, distinct, empty = con.execute(
        f"SELECT count(*), count(DISTINCT {expr}), count(*) - count({expr}) FROM {relation}",
        bound,
    ).fetchall()[0]
    if by is not None and total > 0 and empty == total:
        sample = con.execute(
            f"SELECT CAST({quote_ident(column)} AS VARCHAR) FROM {relation} "
            f"WHERE {quote_ident(column)} IS NOT NULL LIMIT 1",
            bound,
        ).fetchall()
        example = f" (e.g. {sample[0][0]!r})" if sample else ""
        raise CmotError(
            f"{column!r} holds no dates that can be read{example}: group waves by its values "
            "instead (leave out --by), or pick the date column."
        )
    if distinct <= 1:
        raise CmotError(
            f"{column!r} has {'one value' if distinct == 1 else 'no values'}"
            f"{' per ' + by if by else ''}: a trend needs two waves or more. Pick another "
            "column, a finer grouping, or give one file or dataset per wave."
        )
    if distinct > MAX_WAVES:
        hint = {
            None: "group a date column by month, quarter or year (--by)",
            "month": "group by quarter or year",
            "quarter": "group by year",
            "year": "pick a wave column",
        }[by]
        raise CmotError(
            f"{column!r} gives {distinct} distinct waves; at most {MAX_WAVES} can be compared: "
            f"{hint}."
        )
    return int(empty)


def _wave_values(
    con: duckdb.DuckDBPyConnection,
    relation: str,
    present: Sequence[str],
    expr: str,
    by: Period | None,
    bound: list[object],
    labels: Sequence[str] | None,
    column: str,
) -> tuple[list[str], list[str]]:
    """The waves' values in order (see waves_from_column) and their names."""
    pos = quote_ident(ROW_COL) if ROW_COL in present else "row_number() OVER ()"
    rows = con.execute(
        f"SELECT v, count(*) AS n, min(pos) AS first, TRY_CAST(v AS DOUBLE) AS num, "
        f"TRY_CAST(v AS TIMESTAMP) AS ts FROM (SELECT {expr} AS v, {pos} AS pos "
        f"FROM {relation}) WHERE v IS NOT NULL GROUP BY v",
        bound,
    ).fetchall()
    values = [str(r[0]) for r in _ordered(rows, by)]
    names = _apply_labels(values, labels, column)
    if names != values and labels is not None and set(labels) == set(values):
        values = list(labels)  # the labels gave the order
        names = list(labels)
    return values, names


def _ordered(rows: list[tuple], by: Period | None) -> list[tuple]:
    if by is not None:  # period labels sort as time does
        return sorted(rows, key=lambda r: str(r[0]))
    if all(r[3] is not None and math.isfinite(r[3]) for r in rows):
        return sorted(rows, key=lambda r: float(r[3]))
    if all(r[4] is not None for r in rows):
        return sorted(rows, key=lambda r: r[4])
    return sorted(rows, key=lambda r: int(r[2]))


def _apply_labels(values: list[str], labels: Sequence[str] | None, column: str) -> list[str]:
    if labels is None:
        return values
    labels = list(labels)
    if len(set(labels)) != len(labels):
        raise CmotError(f"The wave labels repeat a name: {', '.join(labels)}; give each once.")
    if set(labels) == set(values):
        return labels
    if len(labels) == len(values):
        return labels
    raise CmotError(
        f"{column!r} has {len(values)} waves ({', '.join(values)}); give that many labels, "
        "or the values themselves in the order wanted."
    )


def waves_from_relations(
    waves: Sequence[Wave], specs: Sequence[JourneySpec], notes: Sequence[str] = ()
) -> WaveSource:
    """Several relations, one per wave, already sharing their column names.

    The first wave's spec is used for all: its outcome (kind and scale) and touchpoint
    scale must match every other wave's; touchpoints some wave lacks are left out, with a
    note. Raises CmotError when fewer than two waves, labels repeat, or the outcome differs.
    """
    if len(waves) < 2:
        raise CmotError(
            "A trend needs two waves or more: give one file or dataset per wave, or one "
            "with a wave column (--wave)."
        )
    if len(waves) != len(specs):
        raise CmotError("Give one journey spec per wave.")
    labels = [w.label for w in waves]
    if len(set(labels)) != len(labels):
        raise CmotError(
            f"Two waves are called the same: {', '.join(labels)}; label them (--labels)."
        )
    if len(waves) > MAX_WAVES:
        raise CmotError(f"{len(waves)} waves; at most {MAX_WAVES} can be compared.")
    first = specs[0]
    out_notes = list(notes)
    keep = list(first.touchpoint_columns)
    for wave, spec in zip(waves[1:], specs[1:], strict=True):
        o, p = first.outcome, spec.outcome
        if (o.column, o.kind) != (p.column, p.kind):
            raise CmotError(
                f"Wave {wave.label!r} has outcome {p.column!r} ({p.kind}), wave "
                f"{waves[0].label!r} has {o.column!r} ({o.kind}): waves must share the outcome."
            )
        if (first.scale.min, first.scale.max) != (spec.scale.min, spec.scale.max):
            raise CmotError(
                f"Wave {wave.label!r} rates on {spec.scale.min}-{spec.scale.max}, wave "
                f"{waves[0].label!r} on {first.scale.min}-{first.scale.max}: waves must share "
                "the rating scale."
            )
        present = set(_columns(wave.con, wave.relation, wave.params))
        lost = [c for c in keep if c not in present]
        if lost:
            out_notes.append(
                f"Left out {len(lost)} touchpoint{'s' if len(lost) > 1 else ''} wave "
                f"{wave.label!r} does not have: {', '.join(lost[:10])}"
                + (" ..." if len(lost) > 10 else "")
                + "."
            )
            keep = [c for c in keep if c in present]
    if not keep:
        raise CmotError("The waves share no touchpoint column: nothing to compare.")
    spec = first if keep == list(first.touchpoint_columns) else _only(first, keep)
    return WaveSource(spec, tuple(waves), None, None, tuple(out_notes))


def _only(spec: JourneySpec, columns: Sequence[str]) -> JourneySpec:
    """The spec with only `columns` as touchpoints (stages that lose all of theirs go)."""
    keep = set(columns)
    stages = tuple(
        replace(s, touchpoints=tuple(t for t in s.touchpoints if t in keep))
        for s in spec.stages
        if any(t in keep for t in s.touchpoints)
    )
    tps = tuple(t for t in spec.touchpoints if t.column in keep)
    return replace(spec, stages=stages, touchpoints=tps)


def trend_columns(spec: JourneySpec, segments: Sequence[str] = ()) -> dict[str, str]:
    """The columns a trend reads, each with what it is: the outcome, the touchpoints, the
    weight and the `segments` asked for. Any other column of a wave may be absent or differ."""
    out = {spec.outcome.column: "the outcome"}
    out.update({c: "a touchpoint" for c in spec.touchpoint_columns if c not in out})
    if spec.weight_column:
        out.setdefault(spec.weight_column, "the weight")
    out.update({c: "a segment column" for c in segments if c not in out})
    return out


def wave_spec(
    spec: JourneySpec, names: Mapping[str, str], segments: Sequence[str] = ()
) -> JourneySpec:
    """The first wave's `spec` for reading a later wave: only the columns a trend reads
    (`trend_columns`; touchpoints `names` lacks are left out), in the later wave's names
    (`names`: a first-wave column -> the later wave's column; absent: the same name). Its
    scale, codes, value labels and question texts stay, so every wave is cleaned alike; ids,
    dates, comments and attributes not asked for are dropped, so they never block a wave."""

    def n(c: str) -> str:
        return names.get(c, c)

    keep = [c for c in spec.touchpoint_columns if c in names]
    only = _only(spec, keep) if keep != list(spec.touchpoint_columns) else spec
    used = set(trend_columns(only, segments))
    return replace(
        only,
        stages=tuple(replace(st, touchpoints=tuple(map(n, st.touchpoints))) for st in only.stages),
        touchpoints=tuple(replace(t, column=n(t.column)) for t in only.touchpoints),
        outcome=replace(only.outcome, column=n(only.outcome.column)),
        weight_column=n(only.weight_column) if only.weight_column else None,
        id_column=None,
        date_column=None,
        wave_column=None,
        segments=tuple(n(c) for c in only.segments if c in segments),
        attributes=tuple(n(c) for c in segments),
        ignored=(),
        missing={n(c): v for c, v in only.missing.items() if c in used},
        labels={n(c): v for c, v in only.labels.items() if c in used},
        scales={n(c): v for c, v in only.scales.items() if c in used},
        comments=(),
        comment_links={},
        column_labels={n(c): v for c, v in only.column_labels.items() if c in used},
    )


def waves_from_link(store: Store, link: Link) -> WaveSource:
    """The waves of a stored link: each dataset with its columns renamed to the first wave's.

    A later wave's relation is `(SELECT "old" AS "new", ... FROM its file)` by the link's
    mapping; its other columns keep their names unless a mapped column takes the name.
    Each dataset was cleaned with its own spec, so its missing codes are NULL already and
    its own codes are honoured (a "BLANK" in one wave and "Blank" in the next); its spec
    is read with the renamed outcome column to check the waves share the outcome.
    A first-wave touchpoint whose column in a later wave was not read as a rating there
    (not cleaned: its missing codes are still codes) counts as lacking. Touchpoints a wave
    lacks are left out with a note (waves_from_relations).
    """
    con = store.cursor()
    waves: list[Wave] = []
    specs: list[JourneySpec] = []
    notes: list[str] = []
    rated: set[str] = set()
    for k, (did, label) in enumerate(zip(link.dataset_ids, link.labels, strict=True)):
        info = store.get_dataset_by_id(did)
        if not k:
            rated = set(info.spec.touchpoint_columns)
        rename = dict(link.mapping.get(did, {})) if k else {}
        present = _columns(con, info.table, ())
        unknown = [c for c in rename if c not in present]
        if unknown:
            raise CmotError(
                f"Link {link.name!r} maps columns {', '.join(map(repr, unknown))} that "
                f"{info.label} does not have; link the datasets again."
            )
        taken = set(rename.values())
        parts = []
        unrated = []
        for c in present:
            target = rename.get(c, c)
            if k and target in rated and c not in info.spec.touchpoint_columns:
                unrated.append(c)
                continue
            if c in rename:
                parts.append(f"{quote_ident(c)} AS {quote_ident(rename[c])}")
            elif c in DERIVED_COLUMNS or c not in taken:
                parts.append(quote_ident(c))
        if unrated:
            notes.append(
                f"Wave {label!r} did not read {', '.join(unrated[:10])} as ratings (stored as "
                "they were, codes and all); left out of that wave."
            )
        changed = rename or unrated
        relation = f"(SELECT {', '.join(parts)} FROM {info.table})" if changed else info.table
        spec = info.spec
        if rename:
            o = spec.outcome
            spec = replace(spec, outcome=replace(o, column=rename.get(o.column, o.column)))
        waves.append(
            Wave(
                label,
                con,
                relation,
                (),
                ("dataset", did, "link", tuple(rename.items()), tuple(unrated)),
            )
        )
        specs.append(spec)
    return waves_from_relations(waves, specs, notes)
