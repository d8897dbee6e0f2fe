"""Spark: a session, and an external dataset read through it where it lies.

A Spark session is how the store reads a Spark table or a Parquet location on Spark: local
(`local[2]`) or Spark Connect (`sc://host:port`). A Spark dataset's rows are a temporary
view of the session (`spark_view`): its cleaning SELECT over the source, which the sums
(`cmot.engine.engines.SparkEngine`) read where the data lies. PySpark is optional
(requirements-spark.txt).
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from cmot.errors import CmotError
from cmot.ingest.clean import cleaning_select
from cmot.names import quote_ident
from cmot.spec import JourneySpec
from cmot.store.sources import ExternalSource, allowed_roots, id_hash, read_files
from cmot.store.versions import DatasetInfo
from cmot.text import code_span

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


def local_conf() -> dict[str, str]:
    """LOCAL_CONF with `$CMOT_SPARK_JAVA_OPTIONS` added to the driver JVM's options (read as
    each session starts): e.g. the tests' `-XX:TieredStopAtLevel=1`, since on a few
    thousand rows HotSpot's optimising compiler spends more CPU compiling Spark's generated
    code than it saves running it."""
    extra = os.environ.get("CMOT_SPARK_JAVA_OPTIONS", "").strip()
    key = "spark.driver.extraJavaOptions"
    return {**LOCAL_CONF, key: f"{LOCAL_CONF[key]} {extra}".strip()}


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
        for key, value in {**local_conf(), **(conf or {})}.items():
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


def spark_rows(
    session: Any, sql: str, params: Sequence[object], conf: Mapping[str, str] | None = None
) -> list[tuple[Any, ...]]:
    """The rows of `sql` run by `session` with `params` bound (collect(): Arrow batches under
    Spark Connect, never PySpark's pandas conversion), with the session settings `conf` for
    this query alone. The settings are the session's while the query runs: another thread's
    query on the same session meanwhile runs under them too, which cmot's (code generation
    limits) change the speed of, never the rows."""
    before = {key: session.conf.get(key, None) for key in conf or {}}
    try:
        for key, value in (conf or {}).items():
            session.conf.set(key, value)
        rows = session.sql(sql, args=list(params) or None).collect()
    except Exception as e:  # AnalysisException and friends: the query is the user's data
        raise CmotError(f"Spark cannot aggregate the survey: {spark_reason(e)}") from None
    finally:
        for key, value in before.items():
            if value is None:
                session.conf.unset(key)
            else:
                session.conf.set(key, value)
    return [tuple(r) for r in rows]


def register_parquet(session: Any, path: str) -> str:
    """A Parquet file, folder or glob as a temporary view of `session` (read in place, no
    copy); returns its quoted name for FROM."""
    name = f"cmot_{uuid.uuid4().hex[:12]}"
    try:
        session.read.parquet(path).createOrReplaceTempView(name)
    except Exception as e:
        raise CmotError(f"Spark cannot read the Parquet {path!r}: {str(e)[:300]}") from None
    return quote_ident(name)


def spark_source(session: Any, source: ExternalSource) -> str:
    """The FROM text of a source on Spark: a Parquet location as a temporary view (read in
    place), a table by its (quoted, dotted) name after checking it exists."""
    if source.kind == "parquet":
        roots = allowed_roots() or None
        if roots is not None:  # checked again on every read, as DuckDB's files are
            read_files(source.location, source.files, registered=True)
        return register_parquet(session, source.location)
    name = ".".join(quote_ident(p) for p in source.location.split("."))
    try:
        session.sql(f"SELECT * FROM {name} LIMIT 0").schema  # noqa: B018 - resolves the name
    except Exception as e:
        raise CmotError(
            f"Spark has no table {code_span(source.location)}: {str(e).splitlines()[0][:200]}. "
            "Give a table the session can read (database.table), or a Parquet path."
        ) from None
    return name


def spark_view_name(info: DatasetInfo) -> str:
    """The quoted name of a Spark dataset's view: one per dataset version and store."""
    digest = hashlib.sha256(str(info.file).encode()).hexdigest()[:16]
    return quote_ident(f"cmot_ds_{digest}")


def spark_view(session: Any, info: DatasetInfo) -> str:
    """Register (again) the Spark dataset `info` as a temporary view of `session`: its
    cleaning SELECT over the source, values bound. Returns spark_view_name(info)."""
    if info.external is None or info.external.engine != "spark":
        raise CmotError(f"{info.label} is not a Spark dataset.")
    return cleaned_view(session, info.external, info.spec, spark_view_name(info))


def cleaned_view(session: Any, source: ExternalSource, spec: JourneySpec, name: str) -> str:
    """`source` read by Spark in the stored layout, as the temporary view `name` (quoted)."""
    rel = spark_source(session, source)
    sql, params = cleaning_select(spec, dict(source.types), rel, id_hash("spark", spec))
    try:
        session.sql(sql, args=params or None).createOrReplaceTempView(name.strip('"'))
    except Exception as e:
        raise CmotError(
            f"Spark cannot read {source.label} with its mapping: {str(e).splitlines()[0][:300]}"
        ) from None
    return name
