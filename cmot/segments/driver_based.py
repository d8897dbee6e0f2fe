"""Driver-based segments: respondents who differ in what drives their outcome, a mixture
of PRCA regressions (`driver_segments`, by named steps; the fit is cmot.segments.drivers'),
and the driver segments' moments of truth from their respondents' sums (`driver_moments`,
`driver_overview`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from cmot.engine.engines import DuckDBEngine
from cmot.engine.view import Query
from cmot.errors import CmotError
from cmot.names import ROW_COL, W_COL, Y_COL, quote_ident
from cmot.results.moments import ALL, MomentsResult, analyse_stats
from cmot.segments.drivers import (
    DRIVER_FIT_SAMPLE,
    DRIVER_K_MAX,
    Mixture,
    concomitant_matrix,
    driver_table,
    fit_drivers,
    prca_design,
)
from cmot.segments.features import read_columns, read_outcome, read_ratings
from cmot.segments.profiles import distinctions, driver_names, names_from, profile_table
from cmot.segments.segmentation import Segmentation, fit_settings, rename_segments
from cmot.settings import Settings
from cmot.spec import JourneySpec


def driver_segments(
    con: duckdb.DuckDBPyConnection,
    table: str,
    spec: JourneySpec,
    *,
    attributes: Sequence[str] = (),
    k: int | None = None,
    k_max: int = DRIVER_K_MAX,
    seed: int = 0,
    restarts: int = 3,
    fit_sample: int = DRIVER_FIT_SAMPLE,
    stability_sample: int = 10_000,
    refits: int = 5,
    describe: Sequence[str] = (),
) -> Segmentation:
    """Segments that differ in what drives their outcome: a mixture of PRCA regressions (EM).

    Each segment g has its own outcome = X b_g + e, X the PRCA design (`prca_design`): for a
    binary outcome a linear probability model with a Bernoulli likelihood (probabilities read
    within [0.02, 0.98]), else e ~ N(0, s_g^2). One respondent's outcome says little about
    which regression they follow, so `attributes`, when given, enter as concomitant
    variables: membership shares follow a multinomial logit on them (a mixture of experts).
    The segments are still defined by their regressions: if the drivers are the same
    everywhere, one segment fits as well and BIC keeps k = 1. k is chosen by BIC over
    1..k_max on a seeded sample of `fit_sample` rows (k = 1 is a candidate: "one driver
    segment" is an honest answer; the scan stops once BIC rises), then refined on every row.
    Respondents without an outcome are assigned by their attributes alone.
    """
    tps = list(spec.touchpoint_columns)
    attributes = list(dict.fromkeys(attributes))
    r = read_ratings(con, table, tps)
    y_all = read_outcome(con, table)
    frame = read_columns(con, table, [*attributes, *describe])
    has_y = np.isfinite(y_all)
    if has_y.sum() < 50:
        raise CmotError("Driver-based segments need at least 50 respondents with an outcome.")
    x_all, meta = prca_design(r, spec.scale)
    z_all, zparams = concomitant_matrix(frame, attributes)
    fit = fit_drivers(
        x_all,
        y_all,
        z_all,
        k=k,
        k_max=k_max,
        seed=seed,
        restarts=restarts,
        fit_sample=fit_sample,
        stability_sample=stability_sample,
        refits=refits,
    )
    m, labels, chosen = fit.mixture, fit.labels, fit.k
    drivers = driver_table(m, meta, tps)
    names = driver_names(drivers, float(np.nanstd(y_all)), chosen)
    who = list(dict.fromkeys([*attributes, *describe]))
    sizes, profile = _driver_profile(frame, y_all, labels, names, [*attributes, *describe])
    return Segmentation(
        mode="drivers",
        method="mixture of PRCA regressions",
        columns=tuple(attributes),
        k=chosen,
        seed=seed,
        names=names,
        rows=frame[ROW_COL].to_numpy(np.int64),
        labels=labels,
        sizes=sizes,
        profile=profile,
        k_curve=fit.k_curve,
        stability=fit.stability,
        model=_driver_model(spec, tps, meta, zparams, m),
        note=_driver_note(k, chosen),
        drivers=rename_segments(drivers, names),
        descriptions=names_from(distinctions(frame, labels, chosen, who)) if who else (),
        settings=fit_settings(locals()),
    )


def _driver_note(k: int | None, chosen: int) -> str:
    """What the number of driver segments rests on: asked for, or chosen by BIC."""
    if k is not None:
        return f"{k} driver segment(s) as asked; BIC did not choose k."
    if chosen == 1:
        return (
            "The data support one driver segment: splitting respondents by what drives their "
            "outcome does not fit better than one model for everyone (BIC)."
        )
    return f"{chosen} driver segments fit better than one (BIC); see the k curve."


def _driver_profile(
    frame: pd.DataFrame,
    y_all: np.ndarray,
    labels: np.ndarray,
    names: tuple[str, ...],
    columns: list[str],
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The driver segments' sizes and profiles on `columns`, the outcome's mean first."""
    prof = frame.copy()
    outcome_col = "Outcome" if "Outcome" not in prof.columns else Y_COL
    prof[outcome_col] = y_all  # the outcome's mean per segment leads the profile
    return profile_table(
        prof, labels, names, list(dict.fromkeys([outcome_col, *columns])),
        frame[W_COL].to_numpy(),
    )  # fmt: skip


def _driver_model(
    spec: JourneySpec,
    tps: list[str],
    meta: list[tuple[int, str]],
    zparams: dict[str, Any],
    m: Mixture,
) -> dict[str, Any]:
    """The mixture's parameters that assign_segments needs for new respondents, as JSON."""
    return {
        "touchpoints": tps,
        "scale": [spec.scale.low_max, spec.scale.high_min],
        "design": [[j, kind] for j, kind in meta],
        "concomitant": zparams,
        "beta": m.beta.tolist(),
        "sigma2": m.sigma2.tolist(),
        "gamma": m.gamma.tolist(),
    }


# The driver segment of each row, joined onto the survey for the segments' own PRCA fits.
DRIVER_COL = "driver segment"


def driver_moments(
    con: duckdb.DuckDBPyConnection,
    table: str,
    spec: JourneySpec,
    seg: Segmentation,
    settings: Settings,
) -> MomentsResult:
    """The driver segments' moments of truth from the sums of the respondents assigned to
    each (penalty, reward, intervals, classes as `analyze` gives them), pooled across
    segments or each segment alone as `settings.pooling` says: the mixture's own
    coefficients (drivers.csv) come from the fit that found them; these are what the
    dashboard shows for the saved segmentation (the Segments page and `segments` show them
    for a fit not yet saved)."""
    named = [seg.names[g] if g >= 0 else None for g in seg.labels]
    con.register("cmot_driver_labels", pd.DataFrame({ROW_COL: seg.rows, DRIVER_COL: named}))
    try:
        col = quote_ident(DRIVER_COL)
        relation = (
            f"(SELECT t.*, d.{col} FROM {table} t JOIN cmot_driver_labels d "
            f"USING ({ROW_COL}) WHERE d.{col} IS NOT NULL)"
        )
        query = Query(relation, (), (DRIVER_COL,))
        return analyse_stats(DuckDBEngine(con).statistics(query, spec, settings), settings)
    finally:
        con.unregister("cmot_driver_labels")


def driver_overview(result: MomentsResult) -> pd.DataFrame:
    """One row per driver segment of driver_moments' result, for the Segments page: its
    respondents, its moments of truth with their classes (by rank), how much of its estimate
    is its own data (pooled; NaN alone) and why it has no result where it has none."""
    m = result.moments
    rows = []
    for r in result.segments[result.segments.segment != ALL].itertuples():
        mine = m[(m.segment == r.segment) & m.mot.astype(bool)].sort_values("rank")
        rows.append(
            {
                "segment": r.segment,
                "respondents": int(r.n),
                "moments of truth": ", ".join(
                    f"{t} ({c})" for t, c in zip(mine.touchpoint, mine["class"], strict=True)
                ),
                "own data": float(r.own_share),
                "note": str(r.reason or ""),
            }
        )
    return pd.DataFrame(
        rows, columns=["segment", "respondents", "moments of truth", "own data", "note"]
    )
