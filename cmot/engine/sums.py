"""The sums on this process's DuckDB (`compute_stats`): the only step that reads the data for
the statistics, in numpy over Arrow blocks (cmot.engine.blocks) or as the portable SQL sums
(`engine="sql"`, cmot.engine.level_sums), then the fits (cmot.engine.fits) and the HC3 pass,
kept in the cache (cmot.engine.cache). The same passes as SQL for other engines:
cmot.engine.sums_sql; which engine runs them: cmot.engine.engines.

Everything after it (cmot.results.moments, cmot.engine.importance, cmot.results.whatif)
works on the sums alone.
"""

from __future__ import annotations

import math
import time
from collections import defaultdict
from collections.abc import Hashable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

from cmot.engine.blocks import (
    Block,
    FirstPass,
    first_pass,
    hc3_pass,
    read_batches,
    single_threaded_blas,
)
from cmot.engine.cache import cached
from cmot.engine.design import Layout, touchpoint_cuts
from cmot.engine.fits import derived_tables, fit_sums, segment_stats, sufficient_stats
from cmot.engine.level_sums import build_stats_sql, level_sums_accum, slots
from cmot.engine.rows import as_columns, select_sql
from cmot.engine.stats import Accum, SegmentStats, SufficientStats, add_accum, new_accum
from cmot.engine.view import NO_ANSWER
from cmot.errors import CmotError, engine_message
from cmot.settings import ALL, Measure, Settings
from cmot.spec import JourneySpec

_SIDE = ThreadPoolExecutor(max_workers=1)  # work beside the block pool's (derived_tables)

# How compute_stats sums on DuckDB: numpy over Arrow blocks, or the portable SQL sums.
SumsPath = Literal["numpy", "sql"]


def compute_stats(
    con: duckdb.DuckDBPyConnection,
    table: str,
    spec: JourneySpec,
    segmentation: Sequence[str] | str | None = None,
    settings: Settings | None = None,
    *,
    params: Sequence[object] = (),
    cache_key: Hashable | None = None,
    engine: SumsPath = "numpy",
) -> SufficientStats:
    """Per-segment sufficient statistics and fits: the only step that reads the data.

    `table` is a SQL relation: a quoted table name (DatasetInfo.table), a table
    function such as read_parquet('...') or a parenthesised subquery whose `?`
    placeholders take `params` in order (e.g. a filtered dataset: values are bound,
    never written into the SQL). With `cache_key` (e.g. the dataset id and version) the
    result is kept and reused for the same relation, params, segmentation and cut-offs.
    """
    settings = settings or Settings()
    seg_cols = as_columns(segmentation)
    low, high = settings.cutoffs(spec)
    bound = tuple(params)

    def compute() -> SufficientStats:
        # The products are many small matrix multiplies: run them with BLAS single-threaded.
        with single_threaded_blas():
            return _compute(con, table, bound, spec, seg_cols, low, high, settings.measure, engine)

    key = (table, bound, seg_cols, low, high, settings.measure, engine)
    return cached(cache_key, key, compute)


def _compute(
    con: duckdb.DuckDBPyConnection,
    table: str,
    params: tuple[object, ...],
    spec: JourneySpec,
    seg_cols: tuple[str, ...],
    low: int,
    high: int,
    measure: Measure,
    engine: SumsPath,
) -> SufficientStats:
    start = time.perf_counter()
    lay = Layout(len(spec.touchpoint_columns))
    cuts = touchpoint_cuts(spec, low, high)
    sql = select_sql(table, spec, seg_cols, measure)
    codes: dict[str, int] = {}
    if engine == "sql":
        accs = _sql_accums(con, table, params, spec, seg_cols, low, high, measure, codes)
        sums = FirstPass(accs, None, False)
    else:
        sums = first_pass(con, sql, params, cuts, codes)
    if not sums.accs:
        raise CmotError("No respondent has an outcome; check the outcome column and its values.")
    by_name = _segments_by_name(sums.accs, codes)
    total = new_accum(lay.t, cuts.points)
    for acc in sums.accs.values():
        add_accum(total, acc)
    weighted = sums.weighted
    if engine == "sql":
        weighted = not np.isclose(total.gram[lay.icpt, lay.icpt], total.n)
    fits = {name: fit_sums(acc.gram, lay) for name, acc in by_name.items()}
    fit_all = fit_sums(total.gram, lay)
    code_fit = {codes[name]: fits[name] for name in by_name} if seg_cols else {}
    blocks: Iterable[Block | pa.RecordBatch] = (
        sums.kept if sums.kept is not None else read_batches(con, sql, params)
    )
    order = sorted(by_name) if seg_cols else []

    def with_meats(meat_all: np.ndarray, meats: Mapping[int, np.ndarray]) -> list[SegmentStats]:
        segs = [segment_stats(ALL, total, fit_all, meat_all)]
        for name in order:
            segs.append(segment_stats(name, by_name[name], fits[name], meats[codes[name]]))
        return segs

    def stats_of(segs: list[SegmentStats], facts: dict[str, Any], derived: Any) -> SufficientStats:
        return sufficient_stats(
            spec, cuts, (low, high), measure, seg_cols, weighted, segs, facts, start, derived
        )

    # The importance and levels table need the sums only: made on a thread while the HC3
    # pass runs (~0.04 s of 1M rows' ~0.3 s otherwise spent after it, issue 27).
    none = pd.DataFrame()
    zero = np.zeros((lay.k, lay.k))
    sums_only = stats_of(with_meats(zero, defaultdict(lambda: zero)), {}, (none, none))
    # The outcome's facts are a query: beside the HC3 pass too when that pass reads the
    # blocks held in memory, not the connection (~0.01 s of 1M rows at the end, issue 27).
    facts = _SIDE.submit(_outcome_facts, con, sql, params) if sums.kept is not None else None
    derived = _SIDE.submit(derived_tables, sums_only)
    meats, meat_all = hc3_pass(blocks, cuts, codes, code_fit, fit_all, total.n)
    facts_got = facts.result() if facts is not None else _outcome_facts(con, sql, params)
    return stats_of(with_meats(meat_all, meats), facts_got, derived.result())


def _segments_by_name(accs: dict[int, Accum], codes: dict[str, int]) -> dict[str, Accum]:
    """The segments' sums by name. A value declared 'no answer' (cmot.engine.view.NO_ANSWER)
    is no segment; its rows are in All only."""
    return {
        name: accs[code]
        for name, code in codes.items()
        if code in accs and NO_ANSWER not in str(name).split(" / ")
    }


def _sql_accums(
    con: duckdb.DuckDBPyConnection,
    table: str,
    params: tuple[object, ...],
    spec: JourneySpec,
    seg_cols: tuple[str, ...],
    low: int,
    high: int,
    measure: Measure,
    codes: dict[str, int],
) -> dict[int, Accum]:
    """The first pass as the portable SQL sums (build_stats_sql) run by DuckDB, by segment
    code (codes grow as segments are seen)."""
    sql, cells = build_stats_sql(table, spec, seg_cols, low, high, measure)
    try:
        rows = con.execute(sql, list(params)).fetchall()
    except duckdb.Error as e:
        raise CmotError(f"Cannot aggregate the survey: {engine_message(e)}") from None
    cuts = touchpoint_cuts(spec, low, high)
    return {
        codes.setdefault(name, len(codes)): level_sums_accum(a, cuts)
        for name, a in slots(rows, cuts, len(cells)).items()
    }


def _outcome_facts(
    con: duckdb.DuckDBPyConnection, sql: str, params: tuple[object, ...]
) -> dict[str, Any]:
    """Distinct values and range of the outcome, for the id and range guardrails."""
    try:
        # fetchall, not fetchone: a half-read result would block the connection.
        rows = con.execute(
            f"SELECT count(DISTINCT __y), min(__y), max(__y) FROM ({sql}) AS o_", list(params)
        ).fetchall()
    except duckdb.Error:
        return {}  # a guardrail's facts are not worth failing the analysis for
    if not rows:
        return {}
    row = rows[0]
    return {
        "outcome_distinct": int(row[0] or 0),
        "outcome_min": math.nan if row[1] is None else float(row[1]),
        "outcome_max": math.nan if row[2] is None else float(row[2]),
    }
