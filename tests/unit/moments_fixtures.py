"""Shared builders for the engine tests: survey tables in DuckDB and their journey specs."""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from cmot.names import quote_ident
from cmot.spec import JourneySpec, Outcome, Stage, Touchpoint, default_scale

AIRLINE = (
    Path(__file__).parents[2].parent / "shared/data/airline/airline_passenger_satisfaction.csv"
)
AIRLINE_TOUCHPOINTS = (
    "Inflight wifi service",
    "Departure/Arrival time convenient",
    "Ease of Online booking",
    "Gate location",
    "Food and drink",
    "Online boarding",
    "Seat comfort",
    "Inflight entertainment",
    "On-board service",
    "Leg room service",
    "Baggage handling",
    "Checkin service",
    "Inflight service",
    "Cleanliness",
)
AIRLINE_SEGMENTS = ("Type of Travel", "Class", "Customer Type")


def make_spec(
    touchpoints: tuple[str, ...],
    lo: int = 1,
    hi: int = 5,
    outcome: str = "y",
    kind: str = "binary",
    weight: str | None = None,
) -> JourneySpec:
    return JourneySpec(
        stages=(Stage("Journey", touchpoints),),
        touchpoints=tuple(Touchpoint(c) for c in touchpoints),
        scale=default_scale(lo, hi, (0,) if lo > 0 else ()),
        outcome=Outcome(outcome, kind, ("1",) if kind == "binary" else ()),  # type: ignore[arg-type]
        weight_column=weight,
    )


def load_airline(con: duckdb.DuckDBPyConnection, table: str = "airline") -> JourneySpec:
    """The airline survey as a stored-dataset-like table (0 = not applicable -> NULL)."""
    tps = ", ".join(
        f"CASE WHEN {quote_ident(c)} = 0 THEN NULL ELSE {quote_ident(c)} END::TINYINT "
        f"AS {quote_ident(c)}"
        for c in AIRLINE_TOUCHPOINTS
    )
    segs = ", ".join(quote_ident(c) for c in AIRLINE_SEGMENTS)
    con.execute(
        f"CREATE OR REPLACE TABLE {table} AS SELECT row_number() OVER () - 1 AS __cmot_row, "
        f"{segs}, {tps}, (satisfaction = 'satisfied')::DOUBLE AS __cmot_y, "
        "1.0 + (id % 7) / 3.0 AS wt, 1.0 AS __cmot_w "
        f"FROM read_csv('{AIRLINE}', header = true)"
    )
    return make_spec(AIRLINE_TOUCHPOINTS, outcome="satisfaction")


def register_frame(
    con: duckdb.DuckDBPyConnection, frame: pd.DataFrame, table: str = "survey"
) -> None:
    """A pandas survey (ratings with NaN = missing) as a table with TINYINT ratings."""
    con.register("frame_in", frame)
    con.execute(f"CREATE OR REPLACE TABLE {table} AS SELECT * FROM frame_in")
    con.unregister("frame_in")


def synthetic_frame(
    n: int,
    seed: int,
    touchpoints: int = 4,
    segments: tuple[str, ...] = ("A", "B"),
    effects: dict[str, list[tuple[float, float]]] | None = None,
    missing: float = 0.05,
) -> pd.DataFrame:
    """Ratings 1-5 with a halo; outcome = Bernoulli(0.5 - p*low + r*high) per segment."""
    rng = np.random.default_rng(seed)
    seg = rng.choice(np.array(segments), n)
    halo = rng.normal(0, 0.5, n)
    ratings = np.clip(
        np.rint(3.3 + halo[:, None] + rng.normal(0, 1.1, (n, touchpoints))), 1, 5
    ).astype(float)
    prob = np.full(n, 0.5)
    for s, eff in (effects or {}).items():
        rows = seg == s
        for j, (p, r) in enumerate(eff):
            prob[rows] += -p * (ratings[rows, j] <= 2) + r * (ratings[rows, j] == 5)
    y = (rng.random(n) < np.clip(prob, 0.01, 0.99)).astype(float)
    ratings[rng.random((n, touchpoints)) < missing] = np.nan
    frame = pd.DataFrame({"seg": seg})
    for j in range(touchpoints):
        frame[f"t{j}"] = pd.array(ratings[:, j], dtype="Int8")
    frame["__cmot_y"] = y
    frame["__cmot_w"] = 1.0
    return frame
