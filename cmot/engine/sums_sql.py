"""The sums as SQL text, for engines other than this process's DuckDB (cmot.engine.engines): the
checks (build_facts_sql), the sums (cmot.engine.level_sums.build_stats_sql, which DuckDB's own
path shares), the fits in numpy (cmot.engine.fits), then the HC3 pass (build_hc3_sql), each
fit's fitted value and leverage inlined as products or, for a journey too wide for one Java
method, as lookups (`_fit_sql`). Only their rows travel back; the result is built as
compute_stats builds its own (cmot.engine.fits.sufficient_stats).
"""

from __future__ import annotations

import math
import time
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import numpy as np

from cmot.engine.cache import cached
from cmot.engine.design import Cuts, Layout, design_sql, touchpoint_cuts
from cmot.engine.fits import Fit, fit_sums, segment_stats, sufficient_stats
from cmot.engine.level_sums import (
    build_stats_sql,
    by_touchpoint,
    design_rows,
    level_sums_accum,
    slots,
    symmetric,
)
from cmot.engine.rows import as_columns, inner_sql
from cmot.engine.stats import SufficientStats, add_accum, new_accum
from cmot.errors import CmotError
from cmot.names import quote_ident
from cmot.settings import ALL, Measure, Settings
from cmot.spec import JourneySpec


def _num(v: float) -> str:
    """A float as a SQL literal both DuckDB and Spark read as DOUBLE, exactly: Python's
    shortest repr that reads back as the same double, in exponent form (Spark reads a plain
    0.5 as DECIMAL). Short, because Spark's parser spends time on every digit of the
    products' terms (`_lookup_sql` gives it a lookup's numbers as one string instead)."""
    text = repr(float(v)).removesuffix(".0")
    # Exponent form already (1e-300), or nan/inf (never a lookup's value: left as before).
    return text if "e" in text or "n" in text else f"{text}e0"


Dialect = Literal["duckdb", "spark"]
# Product terms of the fits one HC3 query may hold (`_products_sql`). Spark compiles a
# query's row expressions into one Java method, which may not pass 64 KB: 14 touchpoints,
# ~900 terms a fit, one fit a query; 5 touchpoints, ~120, several. A single fit over the
# limit (~2,400 terms at 23 touchpoints, the Kansas City survey) is written as lookups
# instead (`_lookups_sql`), in a query of lookups only.
HC3_SQL_TERMS = 1200
# Spark settings of an HC3 query whose fits are lookups (Hc3Query.conf): the byte size of a
# generated Java method past which Spark runs the stage without whole-stage code
# generation. The lookups' one method (~20 KB of bytecode at 14 touchpoints) is more than
# HotSpot's compilers take ("out of virtual registers", "out of nodes"), so it ran in the
# bytecode interpreter, ~9x the products' time a row; without whole-stage code generation
# Spark splits each expression into small methods that compile. A query of lookups also
# repartitions its rows once their HC3 weights are computed (`REPARTITION` in
# build_hc3_sql): a stage boundary, so only the lookups' stage runs without whole-stage
# code generation and the cross join by touchpoint and the sums stay compiled as one.
# Together 1.4x the products' time for the whole survey's fit at 1M respondents
# (bench/engine_spark_lookups.md). The products keep Spark's 64 KB default, whose
# methods HotSpot compiles under -XX:-DontCompileHugeMethods (cmot.store.spark.LOCAL_CONF).
LOOKUPS_CONF = (("spark.sql.codegen.hugeMethodLimit", "8000"),)
# Segments whose fits are lookups share a query, this many at most (`_lookups_sql`): one
# scan and one plan for them all (each query costs ~1.5 s of planning and code generation
# on a local Spark), the query's text growing with each one's tables (~100 KB a fit at 23
# touchpoints).
LOOKUP_FITS_PER_QUERY = 8


def _fit_sql(fit: Fit, lay: Layout, dialect: Dialect = "duckdb") -> tuple[str, str, int]:
    """The fitted value b'x and the leverage's quadratic form x'Bx of one fit as SQL, with its
    coefficients inlined as literals (numbers the engine computed, not user values), and
    the query budget it takes (product terms; a fit written as lookups takes it all).

    Two forms, equal to rounding (tests/unit/test_spark.py): products of the design's
    columns, which Spark runs fastest while they fit in one Java method; past
    HC3_SQL_TERMS, lookups by touchpoint state, whose code grows as T²/2 instead of
    4.5 T², so it compiles where the products cannot, and which Spark runs ~1.4x the
    products' time a row (LOOKUPS_CONF; at 14 touchpoints, 1M respondents: 6.7 s against
    4.8 s for the whole survey's fit)."""
    terms = _products_sql(fit, lay)
    if terms[2] <= HC3_SQL_TERMS:
        return terms
    fitted, lev = _lookups_sql([fit], lay, dialect)
    return fitted, lev, HC3_SQL_TERMS + 1


def _products_sql(fit: Fit, lay: Layout) -> tuple[str, str, int]:
    """b'x and x'Bx over the design columns x0..: x is 0/1, so x_a x_a = x_a, and one
    touchpoint's columns exclude each other: x'Bx = Σ_a x_a (B_aa + Σ_b>a 2 B_ab x_b),
    each x_a's part skipped when x_a is 0. Returns them and their number of terms."""
    beta = np.nan_to_num(fit.beta)
    kept = list(fit.kept)
    fitted = [f"({_num(beta[a])}) * x{a}" for a in kept if beta[a] != 0.0]
    parts, count = [], len(fitted)
    for i, a in enumerate(kept):
        terms = [f"({_num(fit.bread[a, a])})"] if fit.bread[a, a] != 0.0 else []
        for b in kept[i + 1 :]:
            if fit.bread[a, b] != 0.0 and not _same_touchpoint(lay, a, b):
                terms.append(f"({_num(2.0 * fit.bread[a, b])}) * x{b}")
        if terms:
            parts.append(f"CASE WHEN x{a} = 1 THEN {_sum_sql(terms)} ELSE 0 END")
            count += len(terms)
    return _sum_sql(fitted), _sum_sql(parts), count


def _touchpoint_of(lay: Layout, col: int) -> int | None:
    if col < 2 * lay.t:  # low_i, high_i
        return col % lay.t
    if lay.icpt < col <= 3 * lay.t:  # miss_i
        return col - lay.icpt - 1
    return None


def _same_touchpoint(lay: Layout, a: int, b: int) -> bool:
    ta = _touchpoint_of(lay, a)
    return a != b and ta is not None and ta == _touchpoint_of(lay, b)


def _state_sql(c: str, low_max: int, high_min: int) -> str:
    """A rating's state in the design, z_i: 0 between the cut-offs, 1 low, 2 high, 3
    missing (each touchpoint sets at most one of its low, high and missing columns)."""
    return (
        f"CASE WHEN {c} IS NULL THEN 3 WHEN {c} <= {low_max} THEN 1 "
        f"WHEN {c} >= {high_min} THEN 2 ELSE 0 END"
    )


def _lookup_sql(values: Sequence[float], index: str, dialect: Dialect) -> str:
    """values[index] (1-based) from a literal array: one expression, which Spark folds to
    one constant, where CASE terms take one per value. The one function the two SQL
    dialects name differently.

    Spark's array is one string literal cast to ARRAY<DOUBLE>, which its optimiser folds to
    the same literal array `array(...)` gives (each number read by Java's correctly rounded
    parser from Python's shortest exact repr: the same doubles): the parser and analyser
    then see one token and one node instead of one per number. The Kansas City query of
    seven segments' lookups (377 KB) planned and ran in 3.8 s instead of 8.0."""
    if dialect == "spark":
        text = ",".join(repr(float(v)) for v in values)
        return f"element_at(CAST(split('{text}', ',') AS ARRAY<DOUBLE>), {index})"
    items = ", ".join(_num(v) for v in values)
    return f"list_extract([{items}], {index})"


Table = tuple[str, int, list[float]]  # a lookup's index (SQL, 0-based), width and values


def _lookup_tables(fit: Fit, lay: Layout) -> tuple[list[Table], list[Table]]:
    """b'x and x'Bx over the state codes z0.. (`_state_sql`): x sets at most one column per
    touchpoint, so b'x = b_c + Σ_i F_i[z_i] and x'Bx = B_cc + Σ_i D_i[z_i] + Σ_i<j
    P_ij[z_i, z_j], with c the intercept, F_i[s] = b_s, D_i[s] = 2 B_cs + B_ss and P_ij[s,
    r] = 2 B_sr: T(T+3)/2 tables of 4 or 16 numbers (299 at 23 touchpoints, where the
    products take ~2,400 terms), and the two constants as tables of one."""
    t = lay.t
    b = np.zeros((lay.k, lay.k))
    beta = np.zeros(lay.k)
    kept = list(fit.kept)
    b[np.ix_(kept, kept)] = fit.bread[np.ix_(kept, kept)]
    beta[kept] = np.nan_to_num(fit.beta[kept])
    c = lay.icpt

    def cols(i: int) -> list[int | None]:
        return [None, lay.low(i), lay.high(i), lay.miss(i)]

    def at(a: int | None, r: int | None) -> float:
        return 0.0 if a is None or r is None else float(b[a, r])

    fitted: list[Table] = []
    lev: list[Table] = []
    for i in range(t):
        fitted.append((f"z{i}", 4, [0.0 if a is None else float(beta[a]) for a in cols(i)]))
        lev.append((f"z{i}", 4, [2.0 * at(c, a) + at(a, a) for a in cols(i)]))
        for j in range(i + 1, t):
            p = [2.0 * at(a, r) for a in cols(i) for r in cols(j)]
            lev.append((f"z{i} * 4 + z{j}", 16, p))
    fitted.append(("0", 1, [float(beta[c])]))
    lev.append(("0", 1, [float(b[c, c])]))
    return fitted, lev


def _lookups_sql(fits: Sequence[Fit], lay: Layout, dialect: Dialect) -> tuple[str, str]:
    """b'x and x'Bx as lookups in literal arrays (`_lookup_tables`), tables of zeros left
    out. Of one fit: each table read at the row's state, the constants as literals. Of
    several (segments whose fits are lookups, in one query): each table holds every fit's
    values one after another, read at the row's fit number g_ (`build_hc3_sql`), so the
    query's code is one fit's, and one scan serves them all."""
    tables = [_lookup_tables(fit, lay) for fit in fits]
    out = []
    for part in (0, 1):
        terms = []
        for k, (index, width, _) in enumerate(tables[0][part]):
            values = [v for fit_tables in tables for v in fit_tables[part][k][2]]
            if not any(values):
                continue
            if len(fits) > 1:
                terms.append(_lookup_sql(values, f"g_ * {width} + {index} + 1", dialect))
            elif width == 1:
                terms.append(_num(values[0]))
            else:
                terms.append(_lookup_sql(values, f"{index} + 1", dialect))
        out.append(_sum_sql(terms))
    return out[0], out[1]


def _sum_sql(terms: Sequence[str]) -> str:
    """a + b + c ... as a balanced tree of parentheses: Spark's parser recurses once per `+`
    of a flat chain and overflows its stack on the ~1000 terms of a 14-touchpoint fit."""
    if not terms:
        return "0"
    if len(terms) == 1:
        return terms[0]
    mid = len(terms) // 2
    return f"({_sum_sql(terms[:mid])} + {_sum_sql(terms[mid:])})"


@dataclass(frozen=True)
class Hc3Query:
    """One query of the HC3 pass: its SQL, the values bound before and after the relation's
    own parameters, whose meat its rows add to ("all": the whole survey's fit, "seg":
    each row's segment's fit), and the engine's settings for this query alone (Spark's
    LOOKUPS_CONF for fits written as lookups)."""

    sql: str
    before: tuple[str, ...]
    after: tuple[str, ...]
    which: Literal["all", "seg"]
    conf: tuple[tuple[str, str], ...] = ()

    def params(self, bound: Sequence[object]) -> list[object]:
        return [*self.before, *bound, *self.after]


def build_hc3_sql(
    table: str,
    spec: JourneySpec,
    segmentation: Sequence[str],
    low_max: int,
    high_min: int,
    measure: Measure,
    fit_all: Fit,
    seg_fits: Sequence[tuple[str, Fit]] = (),
    dialect: Dialect = "duckdb",
) -> tuple[list[Hc3Query], list[tuple[str, int]]]:
    """The HC3 pass: per segment, Σ u²x x' with u = w e / (1 - h), e = y - b'x,
    h = w x'(X'WX)^-1 x, under the whole survey's fit (the "all" query) and under each
    segment's own fit ("seg" queries, each for as many segments as HC3_SQL_TERMS allows,
    reading only their rows), as compute_stats' streamed pass computes them (a leverage of
    1 leaves the respondent out). Each query is narrow as build_stats_sql: grouped by
    (segment, touchpoint i, i's rating), Σu² and per touchpoint j Σu² low_j, Σu² high_j,
    Σu² missing_j; `meat_from_rows` adds them up. Returns the queries and what each
    aggregate after (segment, touchpoint, rating) holds."""
    lay = Layout(len(spec.touchpoint_columns))
    t = lay.t
    cuts = touchpoint_cuts(spec, low_max, high_min)
    q = [quote_ident(c) for c in spec.touchpoint_columns]
    inner = inner_sql(table, spec, segmentation, measure)
    xs = ", ".join(f"{e} AS x{i}" for i, e in enumerate(design_sql(q, cuts)))
    zs = ", ".join(
        f"{_state_sql(c, cuts.of(i)[2], cuts.of(i)[3])} AS z{i}" for i, c in enumerate(q)
    )
    xcols = ", ".join(f"x{i}" for i in range(lay.k))
    tcols = ", ".join(q)
    cells: list[tuple[str, int]] = [("n", 0)]
    aggs = ["SUM(uu)"]
    for what, col in (("low", lay.low), ("high", lay.high), ("miss", lay.miss)):
        for j in range(t):
            aggs.append(f"SUM(uu * x{col(j)})")
            cells.append((what, j))

    query = _Hc3Text(inner, tuple(q), tcols, xcols, xs, zs, tuple(aggs)).sql

    lookups = LOOKUPS_CONF if dialect == "spark" else ()
    fa, ha, ta = _fit_sql(fit_all, lay, dialect)
    wide_all = ta > HC3_SQL_TERMS
    barrier = bool(lookups)  # Spark's lookups: see LOOKUPS_CONF
    queries = [
        Hc3Query(
            query(fa, ha, "", "", barrier and wide_all), (), (), "all", lookups if wide_all else ()
        )
    ]
    products, wide = _segment_queries(seg_fits, lay)
    for chunk in products:
        names = tuple(name for name, _, _ in chunk)
        if len(chunk) == 1:
            fitted, lev = chunk[0][1], chunk[0][2]
        else:
            fitted = "CASE " + " ".join(f"WHEN seg = ? THEN {f}" for _, f, _ in chunk) + " END"
            lev = "CASE " + " ".join(f"WHEN seg = ? THEN {h}" for _, _, h in chunk) + " END"
        where = f" WHERE seg IN ({', '.join('?' for _ in names)})"
        before = names + names if len(chunk) > 1 else ()
        queries.append(Hc3Query(query(fitted, lev, where), before, names, "seg"))
    for group in wide:
        names = tuple(name for name, _ in group)
        fitted, lev = _lookups_sql([fit for _, fit in group], lay, dialect)
        where = f" WHERE seg IN ({', '.join('?' for _ in names)})"
        whens = " ".join(f"WHEN ? THEN {k}" for k in range(len(names)))
        g = f", CASE seg {whens} END AS g_" if len(names) > 1 else ""
        before = names if g else ()
        queries.append(
            Hc3Query(query(fitted, lev, where, g, barrier), before, names, "seg", lookups)
        )
    return queries, cells


@dataclass(frozen=True)
class _Hc3Text:
    """The parts of the HC3 pass's SQL every query of one build_hc3_sql shares: the rows
    (`inner`), the touchpoints (quoted, and as a list `tcols`), the design columns (`xcols`,
    and as expressions `xs`), the state codes (`zs`) and the sums (`aggs`)."""

    inner: str
    q: tuple[str, ...]
    tcols: str
    xcols: str
    xs: str
    zs: str
    aggs: tuple[str, ...]

    def sql(self, fitted: str, lev: str, where: str, g: str = "", barrier: bool = False) -> str:
        """A query of the pass with b'x `fitted` and x'Bx `lev`, the rows `where` says, the
        segment number `g` (several fits of lookups) and, with `barrier`, a repartition once
        each row's HC3 weight is computed (see LOOKUPS_CONF)."""
        u = "CASE WHEN h < 1 - 1.0e-06 THEN e / GREATEST(1 - h, 1.0e-06) ELSE 0 END"
        tcols, xcols, xs, zs, inner = self.tcols, self.xcols, self.xs, self.zs, self.inner
        if barrier:
            weights = (
                f"SELECT seg, {tcols}, ({u}) * ({u}) AS uu FROM ("
                f"SELECT seg, {tcols}, w * (y - ({fitted})) AS e, w * ({lev}) AS h FROM ("
                f"SELECT seg, w, y, {tcols}, {zs}{g} FROM ({inner}) AS inner_{where}) AS x_"
                ") AS e_"
            )
            rows = (
                f"SELECT seg, {tcols}, {xs}, uu FROM ("
                f"SELECT /*+ REPARTITION */ * FROM ({weights}) AS w_) AS b_"
            )
        else:
            rows = (
                f"SELECT seg, {tcols}, {xcols}, ({u}) * ({u}) AS uu FROM ("
                f"SELECT seg, {tcols}, {xcols}, w * (y - ({fitted})) AS e, w * ({lev}) AS h FROM ("
                f"SELECT seg, w, y, {tcols}, {xs}, {zs}{g} FROM ({inner}) AS inner_{where}) AS x_"
                ") AS e_"
            )
        return (
            f"SELECT seg, tp_, r_, {', '.join(self.aggs)} FROM ({by_touchpoint(rows, self.q)}) "
            "AS u_ GROUP BY seg, tp_, r_"
        )


def _segment_queries(
    seg_fits: Sequence[tuple[str, Fit]], lay: Layout
) -> tuple[list[list[tuple[str, str, str]]], list[list[tuple[str, Fit]]]]:
    """The segments' fits as the HC3 pass's queries hold them: as products (name, b'x,
    x'Bx), as many a query as HC3_SQL_TERMS allows; past it as lookups, LOOKUP_FITS_PER_QUERY
    a query (`_lookups_sql`)."""
    products: list[list[tuple[str, str, str]]] = []
    chunk: list[tuple[str, str, str]] = []
    wide: list[tuple[str, Fit]] = []
    size = 0
    for name, fit in seg_fits:
        fitted, lev, terms = _products_sql(fit, lay)
        if terms > HC3_SQL_TERMS:
            wide.append((name, fit))
            continue
        if chunk and size + terms > HC3_SQL_TERMS:
            products.append(chunk)
            chunk, size = [], 0
        chunk.append((name, fitted, lev))
        size += terms
    products += [chunk] if chunk else []
    n = LOOKUP_FITS_PER_QUERY
    return products, [wide[at : at + n] for at in range(0, len(wide), n)]


def meat_from_rows(a: np.ndarray, cuts: Cuts) -> np.ndarray:
    """One segment's Σ u²x x' from an HC3 query's rows as a (T, points + 1, 1 + 3T) array
    (`slots`)."""
    t = a.shape[0]
    uu, ul, uh, um = a[..., 0], a[..., 1 : 1 + t], a[..., 1 + t : 1 + 2 * t], a[..., 1 + 2 * t :]
    xb = np.concatenate([ul, uh, uu[..., None], um], axis=2)
    return symmetric(design_rows(cuts, xb))


def build_facts_sql(table: str, spec: JourneySpec, measure: Measure = "score") -> str:
    """The checks compute_stats makes on its blocks, as one aggregate: the outcome's distinct
    values and range, weights that differ from 1, negative weights, and per touchpoint the
    ratings outside its scale with their min and max."""
    cuts = touchpoint_cuts(spec, *Settings().cutoffs(spec))
    aggs = [
        "COUNT(DISTINCT y)",
        "MIN(y)",
        "MAX(y)",
        "SUM(CASE WHEN w <> 1 THEN 1 ELSE 0 END)",
        "SUM(CASE WHEN w < 0 THEN 1 ELSE 0 END)",
    ]
    for i, c in enumerate(quote_ident(c) for c in spec.touchpoint_columns):
        lo, hi = cuts.of(i)[:2]
        out = f"({c} < {lo} OR {c} > {hi})"
        aggs += [
            f"SUM(CASE WHEN {out} THEN 1 ELSE 0 END)",
            f"MIN(CASE WHEN {out} THEN {c} END)",
            f"MAX(CASE WHEN {out} THEN {c} END)",
        ]
    return f"SELECT {', '.join(aggs)} FROM ({inner_sql(table, spec, (), measure)}) AS f_"


class Runner(Protocol):
    """Runs `sql` with `params` bound and returns its rows. `conf`, when given: the engine's
    session settings for this query alone (Spark's; no other dialect's query has any)."""

    def __call__(
        self, sql: str, params: Sequence[object], conf: Mapping[str, str] | None = None
    ) -> list[tuple[Any, ...]]: ...


def stats_from_sql(
    run: Runner,
    table: str,
    spec: JourneySpec,
    segmentation: Sequence[str] | str | None = None,
    settings: Settings | None = None,
    *,
    params: Sequence[object] = (),
    cache_key: Hashable | None = None,
    dialect: Dialect = "duckdb",
) -> SufficientStats:
    """compute_stats' result with every pass as SQL run by `run(sql, params) -> rows`: the
    checks (build_facts_sql), the sums (build_stats_sql), the fits here, then the HC3 pass
    (build_hc3_sql, its array lookups written in `dialect`). For engines that are not this
    process's DuckDB (cmot.engine.engines). With `cache_key` (the data's version) the result is
    kept as compute_stats keeps its own."""
    settings = settings or Settings()
    seg_cols = as_columns(segmentation)
    low, high = settings.cutoffs(spec)
    key = (table, tuple(params), seg_cols, low, high, settings.measure, "sql-runner")
    return cached(
        cache_key,
        key,
        lambda: _stats_from_sql(
            run, table, spec, seg_cols, low, high, settings.measure, params, dialect
        ),
    )


def _stats_from_sql(
    run: Runner,
    table: str,
    spec: JourneySpec,
    seg_cols: tuple[str, ...],
    low: int,
    high: int,
    measure: Measure,
    params: Sequence[object],
    dialect: Dialect,
) -> SufficientStats:
    start = time.perf_counter()
    lay = Layout(len(spec.touchpoint_columns))
    cuts = touchpoint_cuts(spec, low, high)
    bound = list(params)
    facts = _checked_facts(run, table, spec, measure, cuts, bound)
    sql, cells = build_stats_sql(table, spec, seg_cols, low, high, measure)
    by_name = {
        name: level_sums_accum(a, cuts)
        for name, a in slots(run(sql, bound), cuts, len(cells)).items()
    }
    if not by_name:
        raise CmotError("No respondent has an outcome; check the outcome column and its values.")
    total = new_accum(lay.t, cuts.points)
    for acc in by_name.values():
        add_accum(total, acc)
    fits = {name: fit_sums(acc.gram, lay) for name, acc in by_name.items()}
    fit_all = fit_sums(total.gram, lay)
    order = sorted(by_name)
    seg_fits = [(name, fits[name]) for name in order] if seg_cols else []
    queries, hcells = build_hc3_sql(
        table, spec, seg_cols, low, high, measure, fit_all, seg_fits, dialect
    )
    meats, meat_all = _hc3_meats(run, queries, len(hcells), cuts, by_name, bound)
    segs = [segment_stats(ALL, total, fit_all, meat_all)]
    if seg_cols:
        segs += [segment_stats(name, by_name[name], fits[name], meats[name]) for name in order]
    outcome = {
        "outcome_distinct": int(facts[0] or 0),
        "outcome_min": math.nan if facts[1] is None else float(facts[1]),
        "outcome_max": math.nan if facts[2] is None else float(facts[2]),
    }
    return sufficient_stats(
        spec, cuts, (low, high), measure, seg_cols, bool(facts[3]), segs, outcome, start
    )


def _checked_facts(
    run: Runner,
    table: str,
    spec: JourneySpec,
    measure: Measure,
    cuts: Cuts,
    bound: list[object],
) -> tuple[Any, ...]:
    """build_facts_sql's row, after the checks compute_stats makes on its blocks: no
    negative weight, no rating outside its touchpoint's scale (CmotError saying which)."""
    facts = run(build_facts_sql(table, spec, measure), bound)[0]
    if facts[4]:
        raise CmotError("Survey weights must be finite and not negative; fix the weights.")
    columns = spec.touchpoint_columns
    for i in range(len(columns)):
        if facts[5 + 3 * i]:
            lo, hi = cuts.of(i)[:2]
            raise CmotError(
                f"Ratings from {facts[6 + 3 * i]} to {facts[7 + 3 * i]} fall outside the scale "
                f"{lo}-{hi} (touchpoint {columns[i]!r}); fix the scale in the "
                "journey spec or declare the out-of-scale codes as missing."
            )
    return facts


def _hc3_meats(
    run: Runner,
    queries: Sequence[Hc3Query],
    width: int,
    cuts: Cuts,
    segments: Iterable[str],
    bound: list[object],
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """The HC3 pass's queries run: each segment's meat under its own fit, and the whole
    survey's under its fit, from `width` sums a row (build_hc3_sql's cells)."""
    k = 3 * cuts.lo.shape[0] + 1
    meats = {name: np.zeros((k, k)) for name in segments}
    meat_all = np.zeros((k, k))
    for query in queries:
        params = query.params(bound)
        # Only a query with settings passes them, so a plain (sql, params) runner serves
        # every dialect without any.
        rows = run(query.sql, params, dict(query.conf)) if query.conf else run(query.sql, params)
        for name, a in slots(rows, cuts, width).items():
            meat = meat_from_rows(a, cuts)
            if query.which == "all":
                meat_all += meat
            else:
                meats[name] += meat
    return meats, meat_all
