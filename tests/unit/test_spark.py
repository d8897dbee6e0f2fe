"""The sums on Spark equal DuckDB's: coefficients and HC3 errors to 1e-9 relative, classes
equal; weighted and unweighted, filtered, by segment (the command line end to end:
tests/unit/test_spark_cli.py).

Marked `spark` (requirements-spark.txt and Java 17): skipped, saying what is missing, where
Spark cannot run; the quick loop leaves them out. One local Spark session serves them all.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pytest

from cmot.engine import sums_sql
from cmot.engine.design import Layout
from cmot.engine.engines import SparkEngine
from cmot.engine.fits import Fit
from cmot.engine.stats import SufficientStats
from cmot.engine.sums import compute_stats
from cmot.engine.sums_sql import stats_from_sql
from cmot.engine.view import Query
from cmot.errors import CmotError
from cmot.names import quote_ident
from cmot.results.moments import classify_moments
from cmot.settings import Settings
from cmot.spec import JourneySpec, default_scale
from cmot.store import spark as store_spark
from cmot.store.spark import spark_reason, spark_rows, spark_session
from tests.unit.moments_fixtures import load_airline, make_spec, register_frame, synthetic_frame

REL = 1e-9
N = 20_000
EFFECTS = {
    "A": [(0.2, 0.0), (0.0, 0.2), (0.1, 0.1), (0.0, 0.0), (0.15, 0.05)],
    "B": [(0.0, 0.25), (0.2, 0.0), (0.0, 0.0), (0.1, 0.15), (0.05, 0.1)],
}


def hc3_se(stats: SufficientStats) -> np.ndarray:
    """Every segment's HC3 standard errors, stacked (0 where a column was dropped)."""
    out = []
    for s in stats.segments:
        cov = s.bread @ s.meat @ s.bread
        out.append(np.sqrt(np.clip(np.diag(cov), 0, None)))
    return np.array(out)


def assert_same(a: SufficientStats, b: SufficientStats) -> None:
    assert [s.segment for s in a.segments] == [s.segment for s in b.segments]
    assert [s.n for s in a.segments] == [s.n for s in b.segments]
    assert a.weighted == b.weighted
    for sa, sb in zip(a.segments, b.segments, strict=True):
        assert sa.kept == sb.kept
        np.testing.assert_allclose(sb.beta, sa.beta, rtol=REL, atol=1e-12)
        np.testing.assert_array_equal(sb.levels[..., 0], sa.levels[..., 0])
    np.testing.assert_allclose(hc3_se(b), hc3_se(a), rtol=REL, atol=1e-13)
    ca, cb = classify_moments(a).moments, classify_moments(b).moments
    pd.testing.assert_series_equal(ca["class"], cb["class"])
    pd.testing.assert_series_equal(ca["mot"], cb["mot"])


@pytest.fixture(scope="session")
def spark() -> Iterator[Any]:
    """One local session for every Spark test (no UI, 2 shuffle partitions, 1 GB driver)."""
    session = spark_session()
    yield session
    session.stop()


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory: pytest.TempPathFactory) -> tuple[duckdb.DuckDBPyConnection, Path]:
    frame = synthetic_frame(N, 20261128, touchpoints=5, effects=EFFECTS)
    frame["wt"] = np.random.default_rng(5).uniform(0.3, 3.0, len(frame))
    con = duckdb.connect()
    register_frame(con, frame)
    path = tmp_path_factory.mktemp("spark") / "synthetic.parquet"
    con.execute(f"COPY survey TO '{path}' (FORMAT parquet)")
    return con, path


def spec5(weight: str | None = None) -> JourneySpec:
    return make_spec(("t0", "t1", "t2", "t3", "t4"), weight=weight)


def weighted_sql(table: str, columns: Sequence[str] = ("seg", "t0", "t1", "t2", "t3", "t4")) -> str:
    """The survey with its weight as the stored weight column, as a weighted dataset has it
    (columns listed: DuckDB's `* EXCLUDE` is not Spark's)."""
    cols = ", ".join(quote_ident(c) for c in columns)
    return f"(SELECT {cols}, __cmot_y, wt AS __cmot_w FROM {table})"


def test_the_sql_passes_equal_compute_stats_on_duckdb(
    synthetic: tuple[duckdb.DuckDBPyConnection, Path],
) -> None:
    """Engine-independent: the three SQL passes run by DuckDB give compute_stats' figures."""
    con, _ = synthetic

    def run(sql: str, params: Any) -> list[tuple[Any, ...]]:
        return con.execute(sql, list(params)).fetchall()

    for seg in (None, ["seg"]):
        a = compute_stats(con, "survey", spec5(), seg)
        assert_same(a, stats_from_sql(run, "survey", spec5(), seg))
    filtered = "(SELECT * FROM survey WHERE t0 >= ?)"
    a = compute_stats(con, filtered, spec5(), ["seg"], params=[2])
    assert_same(a, stats_from_sql(run, filtered, spec5(), ["seg"], params=[2]))


@pytest.mark.parametrize("terms", [1, 10**9], ids=["a-query-a-segment", "one-query"])
def test_the_sql_passes_on_mixed_scales_and_a_scored_outcome(
    monkeypatch: pytest.MonkeyPatch, terms: int
) -> None:
    """Engine-independent, the cases the narrow SQL's numpy side must get right: a
    touchpoint on its own 0-10 scale beside 1-5 ones (rating slots of different widths), a
    0-10 outcome (its powers in the pair sums), weights, three segments, and the HC3 pass
    split one query per segment, its fits written as lookups (a budget of 1 term is below
    every fit), or run as one query with the fits, as products, chosen by segment."""
    monkeypatch.setattr(sums_sql, "HC3_SQL_TERMS", terms)
    frame = synthetic_frame(6000, 7, touchpoints=5, segments=("A", "B", "C"), effects=EFFECTS)
    frame["t4"] = (frame["t4"] * 2 - frame["t0"].fillna(1).clip(upper=2)).astype("Int8")
    frame["__cmot_y"] = frame["__cmot_y"] * 6 + frame["t1"].fillna(3).astype(float)
    frame["wt"] = np.random.default_rng(8).uniform(0.3, 3.0, len(frame))
    con = duckdb.connect()
    register_frame(con, frame)
    base = make_spec(("t0", "t1", "t2", "t3", "t4"), kind="score", weight="wt")
    spec = replace(base, scales={"t4": default_scale(0, 10)})
    table = weighted_sql("survey")

    def run(sql: str, params: Any) -> list[tuple[Any, ...]]:
        return con.execute(sql, list(params)).fetchall()

    for seg in (None, ["seg"]):
        a = compute_stats(con, table, spec, seg)
        b = stats_from_sql(run, table, spec, seg)
        assert b.weighted and a.segments[0].levels.shape[1] == 12  # 0-10 and missing
        assert_same(a, b)
        for sa, sb in zip(a.segments, b.segments, strict=True):
            np.testing.assert_allclose(sb.pair, sa.pair, rtol=1e-12)
            np.testing.assert_allclose(sb.levels, sa.levels, rtol=1e-12, atol=1e-9)


def random_fit(lay: Layout, rng: np.random.Generator, dropped: Sequence[int] = ()) -> Any:
    """A fit with random coefficients and a random positive definite bread on its kept
    columns (0 elsewhere, as `_fit` leaves dropped columns)."""
    kept = tuple(a for a in range(lay.k) if a not in dropped)
    m = rng.normal(size=(lay.k, lay.k))
    bread = np.zeros((lay.k, lay.k))
    bread[np.ix_(kept, kept)] = (m @ m.T)[np.ix_(kept, kept)]
    beta = np.full(lay.k, np.nan)
    beta[list(kept)] = rng.normal(size=len(kept))
    return Fit(kept, (), beta, bread, 1.0)


@pytest.mark.parametrize("form", ["products", "lookups", "lookups of 3 segments"])
def test_the_leverage_sql_equals_numpys_quadratic_form(form: str) -> None:
    """Planted truth for the HC3 pass's per-row SQL, every form: on random states of 23
    touchpoints (mid, low, high, missing) and a random fit with dropped columns, DuckDB's
    b'x and x'Bx equal numpy's; with three segments' fits in one query, each row's under
    its own segment's fit (g_)."""
    t, rows = 23, 400
    lay = Layout(t)
    rng = np.random.default_rng(20261205)
    z = rng.integers(0, 4, size=(rows, t))
    x = np.zeros((rows, lay.k), dtype=np.int64)
    x[:, lay.icpt] = 1
    for i in range(t):
        for state, col in ((1, lay.low(i)), (2, lay.high(i)), (3, lay.miss(i))):
            x[z[:, i] == state, col] = 1
    fits = [random_fit(lay, rng, dropped=(lay.low(3), lay.miss(7))) for _ in range(3)]
    g = rng.integers(0, 3, size=rows) if form == "lookups of 3 segments" else np.zeros(rows, int)
    if form == "products":
        fitted, lev, _ = sums_sql._products_sql(fits[0], lay)
    else:
        fitted, lev = sums_sql._lookups_sql(fits[: g.max() + 1], lay, "duckdb")
    frame = pd.DataFrame(
        np.hstack([x, z, g[:, None]]),
        columns=[f"x{a}" for a in range(lay.k)] + [f"z{i}" for i in range(t)] + ["g_"],
    )
    con = duckdb.connect()
    con.register("rows_", frame)
    got = np.array(con.execute(f"SELECT {fitted}, {lev} FROM rows_").fetchall())
    beta = np.stack([np.nan_to_num(f.beta) for f in fits])[g]
    bread = np.stack([f.bread for f in fits])[g]
    np.testing.assert_allclose(got[:, 0], np.einsum("ra,ra->r", x, beta), rtol=1e-12)
    np.testing.assert_allclose(got[:, 1], np.einsum("ra,rab,rb->r", x, bread, x), rtol=1e-10)


@pytest.mark.spark
def test_a_lookups_numbers_reach_spark_as_the_same_doubles_folded_once(
    spark: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    """`_lookup_sql` gives Spark a lookup's numbers as one string cast to ARRAY<DOUBLE>: every
    double comes back bit for bit (subnormals, -0.0, the extremes), and the optimiser folds
    the cast to a literal array, so no row splits a string."""
    rng = np.random.default_rng(11)
    values = [0.0, -0.0, 5e-324, -2.2250738585072014e-308, 1.7976931348623157e308, 1 / 3]
    values += list(rng.normal(0, 1e-3, 40)) + list(rng.standard_cauchy(40))
    lookup = sums_sql._lookup_sql(values, "CAST(id AS INT) + 1", "spark")
    df = spark.sql(f"SELECT {lookup} AS v FROM range({len(values)}) ORDER BY id")
    got = np.array([r.v for r in df.collect()], dtype=np.float64)
    assert got.view(np.uint64).tolist() == np.array(values).view(np.uint64).tolist()
    df.explain(mode="extended")  # parsed, analysed, optimised and physical plans
    plans = capsys.readouterr().out
    optimised = plans.split("== Optimized Logical Plan ==")[1].split("== Physical Plan ==")[0]
    assert "element_at([" in optimised and "split" not in optimised, plans[:3000]


def test_a_fit_too_wide_for_one_java_method_is_written_as_lookups() -> None:
    """14 touchpoints: ~900 product terms, the fast form. 23 (the Kansas City survey's
    journey): ~2,400, whose code passed Java's 64 KB per method on Spark, so lookups, 299
    (T(T+3)/2), alone in their query."""
    rng = np.random.default_rng(7)
    fitted, lev, terms = sums_sql._fit_sql(random_fit(Layout(14), rng), Layout(14))
    assert 800 < terms <= sums_sql.HC3_SQL_TERMS and "element_at" not in lev + fitted
    fitted, lev, terms = sums_sql._fit_sql(random_fit(Layout(23), rng), Layout(23), "spark")
    assert terms > sums_sql.HC3_SQL_TERMS
    assert (fitted + lev).count("element_at(CAST(split(") == 23 * 26 // 2


def test_only_queries_of_lookups_run_without_whole_stage_code_generation() -> None:
    """Spark runs a query of lookups with a method limit HotSpot compiles (LOOKUPS_CONF); a
    query of products, and any query in DuckDB's dialect, without settings. Segments whose
    fits are lookups share a query, LOOKUP_FITS_PER_QUERY at most."""
    spec = make_spec(tuple(f"t{i}" for i in range(23)))
    rng = np.random.default_rng(3)
    fits = [(s, random_fit(Layout(23), rng)) for s in ("a", "b")]
    wide, _ = sums_sql.build_hc3_sql("v", spec, ["seg"], 2, 4, "score", fits[0][1], fits, "spark")
    assert [q.conf for q in wide] == [sums_sql.LOOKUPS_CONF] * 2  # the segments share one
    # A stage boundary after the lookups, so only their stage runs without whole-stage code
    # generation; never in DuckDB's SQL or with the products.
    assert all("/*+ REPARTITION */" in q.sql for q in wide)
    assert dict(sums_sql.LOOKUPS_CONF) == {"spark.sql.codegen.hugeMethodLimit": "8000"}
    duck, _ = sums_sql.build_hc3_sql("v", spec, ["seg"], 2, 4, "score", fits[0][1], fits)
    assert [q.conf for q in duck] == [(), ()] and not any("REPARTITION" in q.sql for q in duck)
    narrow = make_spec(tuple(f"t{i}" for i in range(5)))
    fits = [(s, random_fit(Layout(5), rng)) for s in ("a", "b")]
    few, _ = sums_sql.build_hc3_sql("v", narrow, ["seg"], 2, 4, "score", fits[0][1], fits, "spark")
    assert [q.conf for q in few] == [(), ()]  # the two segments' products share one query
    assert not any("REPARTITION" in q.sql for q in few)
    many = [(f"s{k}", random_fit(Layout(23), rng)) for k in range(11)]
    wide, _ = sums_sql.build_hc3_sql("v", spec, ["seg"], 2, 4, "score", fits[0][1], many, "spark")
    assert [len(q.after) for q in wide[1:]] == [8, 3] and [len(q.before) for q in wide] == [0, 8, 3]


PY4J = "An error occurred while calling o71.collectToPython.\n: "


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (
            PY4J + "java.util.concurrent.ExecutionException: Boxed Exception\n\tat a.b(C.java:1)"
            "\nCaused by: java.lang.RuntimeException: File 'generated.java'\n\tat d.e(F.java:2)"
            "\nCaused by: org.codehaus.InternalCompilerException: Code grows beyond 64 KB\n",
            "org.codehaus.InternalCompilerException: Code grows beyond 64 KB",
        ),
        (
            PY4J + "java.lang.IllegalStateException: boom\n\tat a.b(C.java:1)",
            "java.lang.IllegalStateException: boom",
        ),
        (
            PY4J + "java.lang.OutOfMemoryError: Java heap space\n\tat a.b(C.java:1)",
            "Spark ran out of memory",
        ),
        (
            "[UNRESOLVED_COLUMN.WITH_SUGGESTION] A column `q9` cannot be resolved.",
            "[UNRESOLVED_COLUMN.WITH_SUGGESTION] A column `q9` cannot be resolved.",
        ),
    ],
    ids=["last-cause", "java-error", "out-of-memory", "analysis"],
)
def test_a_spark_error_says_its_cause_not_the_java_call(text: str, reason: str) -> None:
    assert spark_reason(RuntimeError(text)).startswith(reason)


def test_asking_for_spark_without_pyspark_says_how_to_enable_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(
        store_spark.importlib.util,
        "find_spec",
        lambda name, *a: None if name == "pyspark" else real(name, *a),
    )
    with pytest.raises(CmotError, match=r"requirements-spark\.txt"):
        spark_session()
    with pytest.raises(CmotError, match=r"requirements-spark\.txt"):
        spark_session("sc://localhost:15002")


@pytest.mark.spark
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_spark_equals_duckdb_on_a_synthetic_survey(
    spark: Any, synthetic: tuple[duckdb.DuckDBPyConnection, Path], weighted: bool
) -> None:
    con, path = synthetic
    engine = SparkEngine(spark)
    view = engine.register_parquet(str(path))
    duck, remote = ("survey", view)
    if weighted:
        duck, remote = weighted_sql(duck), weighted_sql(view)
    for seg in (None, ["seg"]):
        a = compute_stats(con, duck, spec5(), seg)
        b = engine.statistics(Query(remote, (), tuple(seg or ())), spec5(), Settings())
        assert b.weighted == weighted
        assert_same(a, b)


@pytest.mark.spark
def test_spark_equals_duckdb_with_a_filter(
    spark: Any, synthetic: tuple[duckdb.DuckDBPyConnection, Path]
) -> None:
    """A View's WHERE with a bound value: the same `?` runs on both engines."""
    con, path = synthetic
    engine = SparkEngine(spark)
    view = engine.register_parquet(str(path))
    where = "WHERE t0 >= ? AND seg <> ?"
    a = compute_stats(con, f"(SELECT * FROM survey {where})", spec5(), ["seg"], params=[2, "B"])
    query = Query(f"(SELECT * FROM {view} {where})", (2, "B"), ("seg",))
    b = engine.statistics(query, spec5(), Settings())
    assert [s.segment for s in b.segments] == ["All", "A"]
    assert_same(a, b)


@pytest.mark.spark
def test_spark_equals_duckdb_on_the_airline_survey(
    spark: Any, airline_csv: Path, tmp_path: Path
) -> None:
    con = duckdb.connect()
    spec = load_airline(con)
    path = tmp_path / "airline.parquet"
    con.execute(f"COPY airline TO '{path}' (FORMAT parquet)")
    engine = SparkEngine(spark)
    view = engine.register_parquet(str(path))
    # Weighted only: an unweighted dataset's SQL is the same text with a weight of 1.0
    # (test_the_airline_survey_as_a_parquet_lake runs one on Spark, registered as a user does).
    cols = ["Class", *spec.touchpoint_columns]
    a = compute_stats(con, weighted_sql("airline", cols), spec, ["Class"])
    query = Query(weighted_sql(view, cols), (), ("Class",))
    assert_same(a, engine.statistics(query, spec, Settings()))


@pytest.mark.spark
def test_spark_says_what_is_wrong_with_the_ratings(
    spark: Any, synthetic: tuple[duckdb.DuckDBPyConnection, Path]
) -> None:
    _, path = synthetic
    engine = SparkEngine(spark)
    view = engine.register_parquet(str(path))
    narrow = make_spec(("t0", "t1", "t2", "t3", "t4"), lo=1, hi=4)
    with pytest.raises(CmotError, match="outside the scale 1-4"):
        engine.statistics(Query(view, (), ("seg",)), narrow, Settings())


@pytest.mark.spark
def test_a_querys_settings_hold_for_it_alone(spark: Any) -> None:
    key = "spark.sql.codegen.hugeMethodLimit"
    before = spark.conf.get(key)
    assert spark_rows(spark, f"SET {key}", [], {key: "8000"}) == [(key, "8000")]
    assert spark.conf.get(key) == before != "8000"
    with pytest.raises(CmotError):
        spark_rows(spark, "SELECT no_such_column", [], {key: "8000"})
    assert spark.conf.get(key) == before


@pytest.mark.spark
def test_spark_pools_as_duckdb_does(spark: Any, tmp_path: Path) -> None:
    """Partial pooling reads only the sums, so Spark's sums give DuckDB's pooled numbers:
    every pooled segment's estimate, covariance and own share, the spreads and the pairs'
    covariances to 1e-9 relative, and the same classes (planted segments of 25-800 on 8
    touchpoints: the one of 25 stays alone)."""
    from bench.pooling import planted_survey
    from cmot.results.pooling import partial_pool

    planted = planted_survey(8, (25, 40, 90, 200, 400, 800), seed=9)
    frame = planted.frame.rename(columns={"y": "__cmot_y"}).assign(__cmot_w=1.0)
    con = duckdb.connect()
    con.register("frame", frame)
    path = tmp_path / "planted.parquet"
    con.execute(f"COPY frame TO '{path}' (FORMAT parquet)")
    con.execute(f"CREATE VIEW planted AS SELECT * FROM read_parquet('{path}')")
    view = SparkEngine(spark).register_parquet(str(path))
    a = partial_pool(compute_stats(con, "planted", planted.spec, ["Segment"]))
    query = Query(view, (), ("Segment",))
    b = partial_pool(SparkEngine(spark).statistics(query, planted.spec, Settings()))
    assert a.left_out == b.left_out == ("S01",) and a.converged and b.converged
    assert [p.segment for p in a.segments] == [p.segment for p in b.segments]
    np.testing.assert_allclose(b.spread, a.spread, rtol=REL, equal_nan=True)
    np.testing.assert_allclose(b.mean, a.mean, rtol=REL, equal_nan=True)
    assert b.sigma2 == pytest.approx(a.sigma2, rel=REL)
    for x, y in zip(a.stats.segments, b.stats.segments, strict=True):
        np.testing.assert_allclose(y.beta, x.beta, rtol=REL, atol=1e-12, equal_nan=True)
        assert (x.cov is None) == (y.cov is None)
        if x.cov is not None:
            np.testing.assert_allclose(y.cov, x.cov, rtol=REL, atol=1e-14, equal_nan=True)
    for x, y in zip(a.segments, b.segments, strict=True):
        assert y.own_share == pytest.approx(x.own_share, rel=REL)
    assert a.pairs is not None and b.pairs is not None
    np.testing.assert_allclose(b.pairs.low, a.pairs.low, rtol=REL, atol=1e-14, equal_nan=True)
    np.testing.assert_allclose(b.pairs.high, a.pairs.high, rtol=REL, atol=1e-14, equal_nan=True)
    ca = classify_moments(a.stats, pooled=a).moments
    cb = classify_moments(b.stats, pooled=b).moments
    pd.testing.assert_series_equal(ca["class"], cb["class"])
