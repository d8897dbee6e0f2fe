"""Where the sums run: this process's DuckDB (the default) or Apache Spark.

An `Engine` turns a relation and a journey spec into `SufficientStats`; everything after
the sums (fits' classes, importance, comparison) never sees which engine made them. DuckDB
runs `cmot.engine.sums.compute_stats` (numpy over Arrow blocks); Spark runs the same sums as SQL
text (`cmot.engine.sums_sql.stats_from_sql`: `build_facts_sql`, `build_stats_sql`, `build_hc3_sql`)
and brings back only their rows. PySpark is optional (requirements-spark.txt).
"""

from __future__ import annotations

import importlib.util
import shutil
import uuid
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import duckdb

from cmot.engine.sums import SufficientStats, compute_stats
from cmot.engine.sums_sql import stats_from_sql
from cmot.errors import CmotError
from cmot.names import quote_ident
from cmot.settings import Settings
from cmot.spec import JourneySpec

EngineName = Literal["duckdb", "spark"]
ENGINES: tuple[EngineName, ...] = ("duckdb", "spark")
ENABLE_SPARK = (
    "Spark is optional: install it with `pip install -r requirements-spark.txt` "
    "(PySpark) and Java 17 (Debian: `apt-get install openjdk-17-jre-headless`)."
)
# Settings of a local session: no web UI, few shuffle partitions (the sums shuffle a few
# hundred rows per segment per partition), Spark SQL reading "double-quoted" names as
# identifiers, as cmot's SQL (quote_ident) writes them, and a JVM that compiles huge
# methods: the HC3 pass's leverage (a fit's quadratic form, ~900 terms at 14 touchpoints)
# compiles to one method beyond HotSpot's 8,000-byte limit, which would otherwise run in
# the bytecode interpreter, 4x slower over the whole pass (bench/engine_spark.md). A
# cluster sets the same option on its executors (spark.executor.extraJavaOptions).
LOCAL_CONF = {
    "spark.ui.enabled": "false",
    "spark.sql.shuffle.partitions": "2",
    "spark.driver.memory": "1g",
    "spark.sql.ansi.doubleQuotedIdentifiers": "true",
    "spark.driver.extraJavaOptions": "-XX:-DontCompileHugeMethods",
}


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


def spark_available() -> str:
    """ "" when Spark can run here, else why not (and how to enable it)."""
    if importlib.util.find_spec("pyspark") is None:
        return f"PySpark is not installed. {ENABLE_SPARK}"
    if shutil.which("java") is None:
        return f"Java is not installed. {ENABLE_SPARK}"
    return ""


def spark_session(remote: str | None = None, conf: dict[str, str] | None = None) -> Any:
    """A Spark session: local (`local[2]`, settings of LOCAL_CONF updated by `conf`) or Spark
    Connect (`sc://host:port`). Raises CmotError saying how to enable Spark when it cannot
    run."""
    if remote is None:
        missing = spark_available()
        if missing:
            raise CmotError(missing)
    elif importlib.util.find_spec("pyspark") is None:
        raise CmotError(f"PySpark is not installed. {ENABLE_SPARK}")
    from pyspark.sql import SparkSession

    try:
        if remote is not None:
            if not remote.startswith("sc://"):
                raise CmotError(f"--spark-remote must look like sc://host:15002, not {remote!r}.")
            session = SparkSession.builder.remote(remote).getOrCreate()
            session.conf.set("spark.sql.ansi.doubleQuotedIdentifiers", "true")
            return session
        builder = SparkSession.builder.master("local[2]").appName("cmot")
        for key, value in {**LOCAL_CONF, **(conf or {})}.items():
            builder = builder.config(key, value)
        return builder.getOrCreate()
    except CmotError:
        raise
    except Exception as e:  # py4j / gRPC errors have no common base worth naming
        where = remote or "local[2]"
        if "SESSION_ALREADY_EXIST" in str(e):
            # PySpark allows one kind of session per process: local, or Spark Connect.
            raise CmotError(
                f"This process already runs a {'local Spark' if remote else 'Spark Connect'} "
                f"session, and PySpark cannot open {where} beside it. Analyse datasets of "
                "the other Spark in another process (another dashboard server or command)."
            ) from None
        raise CmotError(f"Cannot start Spark ({where}): {e}. {ENABLE_SPARK}") from None


def spark_reason(error: BaseException) -> str:
    """What went wrong in a Spark error, for a person: a Java error arrives as "An error
    occurred while calling o71.collectToPython" and a stack trace, whose last "Caused by"
    names the cause; running out of memory says what to do."""
    text = str(error)
    if "OutOfMemoryError" in text:
        return (
            "Spark ran out of memory (Java heap space). Run it on a cluster with more memory "
            "(--spark-remote sc://host:15002), or analyse with DuckDB (--engine duckdb)."
        )
    lines = [line.strip() for line in text.splitlines()]
    lines = [line for line in lines if line and not line.startswith(("at ", "..."))]
    causes = [
        line.removeprefix("Caused by:").strip() for line in lines if line.startswith("Caused by:")
    ]
    if causes:
        return causes[-1][:500]
    useful = [line.lstrip(": ") for line in lines if not line.startswith("An error occurred")]
    return (useful[0] if useful else text)[:500]


@dataclass(frozen=True)
class SparkEngine:
    """The sums as Spark SQL over a view of the session; only their rows travel back
    (collect(): Arrow batches under Spark Connect, never PySpark's pandas conversion)."""

    session: Any  # pyspark.sql.SparkSession (classic or Connect): pyspark is optional
    name: EngineName = "spark"

    def run(self, sql: str, params: Sequence[object]) -> list[tuple[Any, ...]]:
        try:
            rows = self.session.sql(sql, args=list(params) or None).collect()
        except Exception as e:  # AnalysisException and friends: the query is the user's data
            raise CmotError(f"Spark cannot aggregate the survey: {spark_reason(e)}") from None
        return [tuple(r) for r in rows]

    def register_parquet(self, path: str) -> str:
        """A Parquet file, folder or glob as a temporary view (read in place, no copy);
        returns its quoted name for FROM."""
        name = f"cmot_{uuid.uuid4().hex[:12]}"
        try:
            self.session.read.parquet(path).createOrReplaceTempView(name)
        except Exception as e:
            raise CmotError(f"Spark cannot read the Parquet {path!r}: {str(e)[:300]}") from None
        return quote_ident(name)

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
