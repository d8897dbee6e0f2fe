"""Where the sums run: this process's DuckDB (the default) or Apache Spark.

The one entry to the statistics is `Engine.statistics(query, spec, settings)`: a view of the
data (`cmot.engine.view.Query`: relation, bound values, segment columns), the journey spec
and the settings in, `SufficientStats` out, kept in the process's cache under `cache_key`
(the data's version). The UI, the command line, trends and driver segments call it;
everything after the sums (fits' classes, importance, comparison) never sees which engine
made them. `DuckDBEngine` runs `cmot.engine.sums.compute_stats` (numpy over Arrow blocks,
or the portable SQL); `SparkEngine` runs the same sums as SQL
text (`cmot.engine.sums_sql.stats_from_sql`: `build_facts_sql`, `build_stats_sql`, `build_hc3_sql`)
and brings back only their rows. PySpark is optional (requirements-spark.txt); a session
is the store's (`cmot.store.spark.spark_session`).
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import duckdb

from cmot.engine.stats import SufficientStats
from cmot.engine.sums import SumsPath, compute_stats
from cmot.engine.sums_sql import stats_from_sql
from cmot.engine.view import Query
from cmot.settings import Settings
from cmot.spec import JourneySpec
from cmot.store.sources import EngineName
from cmot.store.spark import register_parquet, spark_rows

ENGINES: tuple[EngineName, ...] = ("duckdb", "spark")


class Engine(Protocol):
    """Where the sums run: the one entry to the statistics (`statistics`)."""

    @property
    def name(self) -> EngineName:
        """ "duckdb" or "spark"."""
        ...

    def statistics(
        self,
        query: Query,
        spec: JourneySpec,
        settings: Settings,
        *,
        cache_key: Hashable | None = None,
    ) -> SufficientStats:
        """The per-segment sufficient statistics of the view's rows (`query.relation` with
        `query.params` bound, segments by `query.columns`) under the settings' cut-offs and
        measure; with `cache_key` (the data's version) kept and reused for the same view."""
        ...


@dataclass(frozen=True)
class DuckDBEngine:
    """The sums on a DuckDB connection (compute_stats): numpy over Arrow blocks, or the
    portable SQL sums with `path="sql"`."""

    con: duckdb.DuckDBPyConnection
    path: SumsPath = "numpy"
    name: EngineName = "duckdb"

    def statistics(
        self,
        query: Query,
        spec: JourneySpec,
        settings: Settings,
        *,
        cache_key: Hashable | None = None,
    ) -> SufficientStats:
        """See Engine.statistics."""
        return compute_stats(
            self.con,
            query.relation,
            spec,
            query.columns,
            settings,
            params=query.params,
            cache_key=cache_key,
            engine=self.path,
        )


@dataclass(frozen=True)
class SparkEngine:
    """The sums as Spark SQL over a view of the session; only their rows travel back
    (collect(): Arrow batches under Spark Connect, never PySpark's pandas conversion)."""

    session: Any  # pyspark.sql.SparkSession (classic or Connect): pyspark is optional
    name: EngineName = "spark"

    def run(
        self, sql: str, params: Sequence[object], conf: Mapping[str, str] | None = None
    ) -> list[tuple[Any, ...]]:
        return spark_rows(self.session, sql, params, conf)

    def register_parquet(self, path: str) -> str:
        """A Parquet file, folder or glob as a temporary view (read in place, no copy);
        returns its quoted name for FROM."""
        return register_parquet(self.session, path)

    def statistics(
        self,
        query: Query,
        spec: JourneySpec,
        settings: Settings,
        *,
        cache_key: Hashable | None = None,
    ) -> SufficientStats:
        """See Engine.statistics."""
        # Kept only under a cache_key, which names the data's version (a lake can change).
        return stats_from_sql(
            self.run,
            query.relation,
            spec,
            query.columns,
            settings,
            params=query.params,
            cache_key=cache_key,
            dialect="spark",
        )
