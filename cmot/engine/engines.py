"""Where the sums run: this process's DuckDB (the default) or Apache Spark.

An `Engine` turns a relation and a journey spec into `SufficientStats`; everything after
the sums (fits' classes, importance, comparison) never sees which engine made them. DuckDB
runs `cmot.engine.sums.compute_stats` (numpy over Arrow blocks); Spark runs the same sums as SQL
text (`cmot.engine.sums_sql.stats_from_sql`: `build_facts_sql`, `build_stats_sql`, `build_hc3_sql`)
and brings back only their rows. PySpark is optional (requirements-spark.txt); a session
is the store's (`cmot.store.spark.spark_session`).
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import duckdb

from cmot.engine.sums import SufficientStats, compute_stats
from cmot.engine.sums_sql import stats_from_sql
from cmot.settings import Settings
from cmot.spec import JourneySpec
from cmot.store.sources import EngineName
from cmot.store.spark import register_parquet, spark_rows

ENGINES: tuple[EngineName, ...] = ("duckdb", "spark")


class Engine(Protocol):
    """Computes the per-segment sufficient statistics of a relation it can read."""

    name: EngineName

    def stats(
        self,
        table: str,
        spec: JourneySpec,
        segmentation: Sequence[str] | None = None,
        settings: Settings | None = None,
        *,
        params: Sequence[object] = (),
        cache_key: Hashable | None = None,
    ) -> SufficientStats: ...


@dataclass(frozen=True)
class DuckDBEngine:
    """Today's path: compute_stats on a DuckDB connection (figures and speed unchanged)."""

    con: duckdb.DuckDBPyConnection
    name: EngineName = "duckdb"

    def stats(
        self,
        table: str,
        spec: JourneySpec,
        segmentation: Sequence[str] | None = None,
        settings: Settings | None = None,
        *,
        params: Sequence[object] = (),
        cache_key: Hashable | None = None,
    ) -> SufficientStats:
        return compute_stats(
            self.con, table, spec, segmentation, settings, params=params, cache_key=cache_key
        )


@dataclass(frozen=True)
class SparkEngine:
    """The sums as Spark SQL over a view of the session; only their rows travel back
    (collect(): Arrow batches under Spark Connect, never PySpark's pandas conversion)."""

    session: Any  # pyspark.sql.SparkSession (classic or Connect): pyspark is optional
    name: EngineName = "spark"

    def run(self, sql: str, params: Sequence[object]) -> list[tuple[Any, ...]]:
        return spark_rows(self.session, sql, params)

    def register_parquet(self, path: str) -> str:
        """A Parquet file, folder or glob as a temporary view (read in place, no copy);
        returns its quoted name for FROM."""
        return register_parquet(self.session, path)

    def stats(
        self,
        table: str,
        spec: JourneySpec,
        segmentation: Sequence[str] | None = None,
        settings: Settings | None = None,
        *,
        params: Sequence[object] = (),
        cache_key: Hashable | None = None,
    ) -> SufficientStats:
        # Kept only under a cache_key, which names the data's version (a lake can change).
        return stats_from_sql(
            self.run,
            table,
            spec,
            segmentation,
            settings,
            params=params,
            cache_key=cache_key,
            dialect="spark",
        )
