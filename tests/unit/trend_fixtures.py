"""Shared builders for the trend tests: the demo's waves as a stored-layout table in DuckDB."""

from __future__ import annotations

import duckdb
import pandas as pd

from cmot.names import quote_ident
from cmot.spec import JourneySpec
from cmot.store.demo import WavesData, generate_waves


def waves_table(
    con: duckdb.DuckDBPyConnection,
    n_per_segment: int = 1500,
    seed: int = 11,
    planted: bool = True,
    table: str = "waves",
) -> WavesData:
    """generate_waves laid out as a stored dataset is (0 -> NULL, __cmot_y, __cmot_w, row)."""
    data = generate_waves(n_per_segment, seed, planted)
    layout(con, data.frame, data.spec, table)
    return data


def layout(
    con: duckdb.DuckDBPyConnection, frame: pd.DataFrame, spec: JourneySpec, table: str
) -> None:
    con.register("waves_raw", frame)
    tps = ", ".join(
        f"CASE WHEN {quote_ident(c)} = 0 THEN NULL ELSE {quote_ident(c)} END::TINYINT "
        f"AS {quote_ident(c)}"
        for c in spec.touchpoint_columns
    )
    con.execute(
        f"CREATE OR REPLACE TABLE {quote_ident(table)} AS SELECT "
        "(row_number() OVER () - 1)::BIGINT AS __cmot_row, Wave, Segment, Region, "
        f'"Survey date", {tps}, ("Would hire again" = \'Yes\')::DOUBLE AS __cmot_y, '
        "Weight::DOUBLE AS __cmot_w FROM waves_raw"
    )
    con.unregister("waves_raw")
