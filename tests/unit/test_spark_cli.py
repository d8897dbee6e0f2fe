"""The command line on Spark, and every Spark Connect test: `analyze --engine spark` gives
DuckDB's moments on the wide Kansas City journey (a local Spark: the widest fit, so the
demo adds nothing but another JVM's start), and through one Spark Connect server the
command line (the demo), a registered lake, a server's table and a page do too.

Each command runs in a process of its own, as a user runs it, so this file needs no Spark
session of its own and runs beside tests/unit/test_spark.py (whose in-process tests share
one). One Connect server (a JVM: its start is the dearest part of each Connect test) serves
the three that need one: each reads through its own session and store, and only one makes a
table in the server's catalog.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import KANSAS_CSV, ROOT
from tests.unit.test_external import FLAGS, assert_moments_equal_to, cli, lake

__all__ = ["lake"]

REL = 1e-9
DEMO = ["analyze", str(ROOT / "data" / "demo_survey.csv")]
DEMO += ["--spec", str(ROOT / "data" / "demo_spec.toml"), "--segment", "Segment"]

pytestmark = pytest.mark.spark


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cmot", *args],
        cwd=ROOT,
        env=os.environ.copy(),
        capture_output=True,
        text=True,
        timeout=900,
    )


def analyze(out: Path, args: Sequence[str]) -> pd.DataFrame:
    """`analyze` with `args` writing to `out`: its moments.csv."""
    done = run_cli(*args, "--out", str(out))
    assert done.returncode == 0, done.stderr[-3000:]
    return pd.read_csv(out / "moments.csv")


def assert_same_moments(a: pd.DataFrame, b: pd.DataFrame) -> None:
    """Two moments.csv files: numbers to REL, every other column equal."""
    assert list(a.columns) == list(b.columns) and len(a) == len(b)
    numbers = a.select_dtypes("number").columns
    pd.testing.assert_frame_equal(a[numbers], b[numbers], rtol=REL, atol=1e-12)
    others = [c for c in a.columns if c not in numbers]
    pd.testing.assert_frame_equal(a[others], b[others])


@pytest.fixture
def demo_on_duckdb(tmp_path: Path) -> pd.DataFrame:
    """The demo's moments.csv from `analyze` on DuckDB: what the Connect command compares with."""
    return analyze(tmp_path / "duckdb", DEMO)


def test_spark_analyses_the_wide_kansas_city_journey_as_duckdb_does(tmp_path: Path) -> None:
    """Real data, as a user runs it: the Kansas City resident survey with 23 touchpoints
    (services and communication) and 9 = "don't know" detected, by council district. A fit
    this wide once made Spark's generated code pass 64 KB and the run fail."""
    if not KANSAS_CSV.exists():
        pytest.skip(f"the Kansas City survey is not at {KANSAS_CSV} (../shared beside the repo)")
    kc = ["analyze", str(KANSAS_CSV), "--outcome", "q2_01", "--touchpoints", "q3_*,q5_*"]
    kc += ["--segment", "counci"]
    a = analyze(tmp_path / "duckdb", kc)
    b = analyze(tmp_path / "spark", [*kc, "--engine", "spark"])
    assert a["touchpoint"].nunique() == 23 and a["segment"].nunique() == 7
    assert_same_moments(a, b)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def connect_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The Spark Connect server shipped in the PySpark package (sbin/start-connect-server.sh,
    in the foreground), on a free port; stopped by its process group after this file."""
    import pyspark

    home = Path(pyspark.__file__).parent
    port = free_port()
    logs = tmp_path_factory.mktemp("connect")
    env = {
        **os.environ,
        "SPARK_HOME": str(home),
        "SPARK_NO_DAEMONIZE": "1",  # a child we can stop, not a daemon with a pid file
        "SPARK_LOG_DIR": str(logs),
        "SPARK_PID_DIR": str(logs),
    }
    conf = ["spark.ui.enabled=false", "spark.sql.shuffle.partitions=2"]
    conf.append(f"spark.connect.grpc.binding.port={port}")
    cmd = [str(home / "sbin" / "start-connect-server.sh"), "--master", "local[2]"]
    cmd += ["--driver-memory", "1g", *[a for c in conf for a in ("--conf", c)]]
    if java := os.environ.get("CMOT_SPARK_JAVA_OPTIONS"):
        cmd += ["--driver-java-options", java]
    log = (logs / "connect.log").open("w")
    server = subprocess.Popen(
        cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    tail = (logs / "connect.log").read_text()[-2000:]
                    pytest.fail(f"the Connect server did not start: {tail}")
                time.sleep(1)
        yield f"sc://localhost:{port}"
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
        log.close()


def test_the_command_line_through_spark_connect(
    connect_server: str, demo_on_duckdb: pd.DataFrame, tmp_path: Path
) -> None:
    remote = ("--engine", "spark", "--spark-remote", connect_server)
    assert_same_moments(demo_on_duckdb, analyze(tmp_path / "spark", [*DEMO, *remote]))


def test_register_and_analyze_through_spark_connect(
    connect_server: str, store_dir: Path, lake: tuple[Path, Path], tmp_path: Path
) -> None:
    folder, csv = lake
    remote = ("--engine", "spark", "--spark-remote", connect_server)
    reg = cli(store_dir, "register", "lake", f"{folder}/*.parquet", *remote, *FLAGS)
    assert reg.returncode == 0, reg.stderr[-3000:]
    assert f"read in place by Spark at {connect_server}" in reg.stdout
    assert cli(store_dir, "ingest", str(csv), "--name", "csv", *FLAGS).returncode == 0
    # A table of the server's catalog (shared by its sessions), made by another client.
    make = (
        "from pyspark.sql import SparkSession; "
        f"s = SparkSession.builder.remote({connect_server!r}).getOrCreate(); "
        f"s.sql(\"CREATE TABLE responses USING parquet LOCATION '{folder}'\")"
    )
    made = subprocess.run([sys.executable, "-c", make], capture_output=True, text=True)
    assert made.returncode == 0, made.stderr[-3000:]
    runs = {
        "lake": ("lake",),  # the dataset remembers its server
        "csv": ("csv",),
        "table": ("responses", *remote, *FLAGS),  # a table analysed in place, unregistered
    }
    for name, what in runs.items():
        out = ("--segment", "region", "--out", str(tmp_path / name))
        done = cli(store_dir, "analyze", *what, *out)
        assert done.returncode == 0, done.stderr[-3000:]
    assert_moments_equal_to(tmp_path, "csv", ("lake", "table"))


# PySpark allows one kind of session per process, and a worker may hold a local one: the page
# runs in a pytest process of its own.
PAGES_TEST = ROOT / "tests" / "app" / "test_external_pages.py"


def test_a_page_through_spark_connect(connect_server: str) -> None:
    test = f"{PAGES_TEST}::test_the_overview_of_a_spark_connect_dataset"
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", test],
        env={**os.environ, "CMOT_TEST_SPARK_REMOTE": connect_server},
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0 and "1 passed" in done.stdout, done.stdout[-3000:]
