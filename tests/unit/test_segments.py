"""Segments: planted-segment recovery, names, profiles, stability, seeds, given segments."""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from sklearn.metrics import adjusted_rand_score

from cmot.errors import CmotError
from cmot.ingest.options import IngestOptions
from cmot.ingest.pipeline import read_csv
from cmot.names import quote_ident
from cmot.segments.clustered import cluster_attributes, cluster_needs
from cmot.segments.clustering import ClusterSettings, cluster_matrix, verdict
from cmot.segments.driver_based import driver_segments
from cmot.segments.drivers import prca_design
from cmot.segments.features import needs_matrix, read_ratings
from cmot.segments.given import band_names, given_segments, suggest_cuts
from cmot.segments.modes import assign_segments, segment
from cmot.segments.profiles import names_from
from cmot.segments.segmentation import Segmentation
from cmot.spec import default_scale, load_spec
from cmot.store.demo import DEMO_CSV, DEMO_SPEC, SEGMENT_COLUMN, generate_demo

ATTRS = ["Sector", "Contract type", "Region", "Project budget (k)", "Years as client"]
TABLE = '"ds"'


def demo_connection(csv: bytes | None = None) -> tuple[duckdb.DuckDBPyConnection, np.ndarray]:
    """An in-memory DuckDB holding the demo in the stored layout, and the planted segments."""
    source = DEMO_CSV if csv is None else csv
    prepared = read_csv(source, IngestOptions(spec=load_spec(DEMO_SPEC)), source_name="demo.csv")
    con = duckdb.connect()
    con.register("incoming", prepared.data)
    con.execute("CREATE TABLE ds AS SELECT * FROM incoming ORDER BY __cmot_row")
    con.unregister("incoming")
    truth = con.execute(f"SELECT {quote_ident(SEGMENT_COLUMN)} FROM ds ORDER BY __cmot_row")
    return con, truth.df().iloc[:, 0].to_numpy()


@pytest.fixture(scope="module")
def demo() -> tuple[duckdb.DuckDBPyConnection, np.ndarray]:
    return demo_connection()


@pytest.fixture(scope="module")
def clustered(demo: tuple[duckdb.DuckDBPyConnection, np.ndarray]) -> Segmentation:
    return cluster_attributes(demo[0], TABLE, ATTRS, seed=3, refits=3)


def test_attribute_clustering_recovers_the_planted_segments(
    clustered: Segmentation, demo: tuple[duckdb.DuckDBPyConnection, np.ndarray]
) -> None:
    assert clustered.k == 4
    assert adjusted_rand_score(demo[1], clustered.labels) >= 0.8
    curve = clustered.k_curve
    assert list(curve["k"]) == list(range(2, 9))
    assert curve.loc[curve["chosen"], "k"].item() == 4
    assert curve["silhouette"].idxmax() == curve.index[curve["chosen"]][0]


def test_segment_names_come_from_the_distinguishing_attribute_values(
    clustered: Segmentation,
) -> None:
    names = clustered.names
    assert len(set(names)) == 4
    assert any("Time and materials" in n for n in names)
    assert any("Design-build" in n for n in names)
    assert not any("Region" in n for n in names)  # noise: never distinguishing
    renamed = clustered.with_names(["A", "B", "C", "D"])
    assert set(renamed.profile["name"]) == {"A", "B", "C", "D"}
    with pytest.raises(CmotError, match="differ"):
        clustered.with_names(["A", "A", "C", "D"])


def test_profile_has_sizes_shares_and_indices(clustered: Segmentation) -> None:
    sizes, prof = clustered.sizes, clustered.profile
    assert sizes["size"].sum() == 6600
    assert sizes["share"].sum() == pytest.approx(1.0)
    assert list(sizes["size"]) == sorted(sizes["size"], reverse=True)  # code 0 = largest
    tm = prof[(prof.attribute == "Contract type") & (prof.level == "Time and materials")]
    seg = next(i for i, n in enumerate(clustered.names) if "Time and materials" in n)
    assert tm.set_index("segment").loc[seg, "index"] > 300
    assert set(prof.columns) >= {"segment", "name", "attribute", "level", "index"}
    region = prof[prof.attribute == "Region"]
    assert region["index"].between(80, 120).all()


def test_stability_is_high_for_planted_segments_with_a_verdict(clustered: Segmentation) -> None:
    st = clustered.stability
    assert st is not None and st.refits == 3 and len(st.scores) == 3
    assert st.mean_ari >= 0.9 and st.verdict.startswith("Very stable")


@pytest.mark.parametrize(
    ("ari", "start"),
    [(0.95, "Very stable"), (0.8, "Stable"), (0.6, "Moderately"), (0.2, "Unstable")],
)
def test_stability_verdicts_are_plain_language(ari: float, start: str) -> None:
    assert verdict(ari).startswith(start)


def test_same_seed_same_result_other_seed_a_stability_score(
    demo: tuple[duckdb.DuckDBPyConnection, np.ndarray],
) -> None:
    con = demo[0]
    a = cluster_attributes(con, TABLE, ATTRS, k=4, seed=11, refits=2, fit_sample=3000)
    b = cluster_attributes(con, TABLE, ATTRS, k=4, seed=11, refits=2, fit_sample=3000)
    c = cluster_attributes(con, TABLE, ATTRS, k=5, seed=12, refits=2, fit_sample=3000)
    assert np.array_equal(a.labels, b.labels) and a.names == b.names
    assert a.stability == b.stability
    pd.testing.assert_frame_equal(a.profile, b.profile)
    assert c.stability is not None and -1.0 <= c.stability.mean_ari <= 1.0


def test_one_settings_object_with_the_defaults_in_one_place(
    demo: tuple[duckdb.DuckDBPyConnection, np.ndarray],
) -> None:
    """`ClusterSettings` holds every clustering's settings and defaults: a fit stores them,
    and `cluster_matrix` with the same settings finds the same segments."""
    con, _ = demo
    seg = cluster_attributes(con, TABLE, ATTRS, k=3, seed=4, refits=0, fit_sample=3000)
    d = ClusterSettings()
    assert seg.settings == {
        "k_range": list(d.k_range),
        "method": d.method,
        "covariance_type": d.covariance_type,
        "fit_sample": 3000,
        "silhouette_sample": d.silhouette_sample,
        "stability_sample": d.stability_sample,
        "refits": 0,
        "describe": [],
        "attributes": ATTRS,
        "k_requested": 3,
    }
    needs = cluster_needs(con, TABLE, load_spec(DEMO_SPEC), k=3, seed=4, refits=0)
    x = needs_matrix(read_ratings(con, TABLE, list(needs.columns)), True)
    labels, *_ = cluster_matrix(x, ClusterSettings(k=3, seed=4, refits=0))
    assert np.array_equal(labels, needs.labels)
    with pytest.raises(TypeError):
        cluster_attributes(con, TABLE, ATTRS, restarts=2)  # a driver setting, not a clustering's


def test_new_respondents_are_assigned_as_the_fit_assigned_them(
    clustered: Segmentation, demo: tuple[duckdb.DuckDBPyConnection, np.ndarray]
) -> None:
    frame = demo[0].execute(f"SELECT * FROM {TABLE} ORDER BY __cmot_row").df()
    assert np.array_equal(assign_segments(clustered, frame), clustered.labels)
    new = frame.head(3).copy()
    new.loc[0, "Sector"] = "Never seen"  # unknown level: ignored, still assigned
    new.loc[1, "Years as client"] = None
    assert assign_segments(clustered, new).min() >= 0
    with pytest.raises(CmotError, match="columns"):
        assign_segments(clustered, frame.drop(columns=["Sector"]))


def test_gaussian_mixture_option_chooses_k_by_bic(
    demo: tuple[duckdb.DuckDBPyConnection, np.ndarray],
) -> None:
    seg = cluster_attributes(
        demo[0], TABLE, ATTRS[:2] + ATTRS[3:], method="gmm", k_range=(3, 5), refits=2,
        fit_sample=3000,
    )  # fmt: skip
    curve = seg.k_curve
    assert curve.loc[curve["chosen"], "k"].item() == curve.loc[curve["bic"].idxmin(), "k"]
    assert adjusted_rand_score(demo[1], seg.labels) >= 0.6
    frame = demo[0].execute(f"SELECT * FROM {TABLE} ORDER BY __cmot_row").df()
    assert (assign_segments(seg, frame) == seg.labels).mean() > 0.99


def test_needs_based_clustering_reads_missing_as_the_respondents_own_mean() -> None:
    r = np.array([[5.0, np.nan, 3.0], [np.nan, np.nan, np.nan], [1.0, 2.0, 3.0]])
    raw = needs_matrix(r, centre=False)
    assert raw[0].tolist() == [5.0, 4.0, 3.0]
    assert raw[1].tolist() == [3.0, 2.0, 3.0]  # nothing rated: everyone's means
    assert np.allclose(needs_matrix(r, centre=True).mean(1), 0.0)


def test_needs_based_clustering_is_honest_about_structureless_ratings(
    demo: tuple[duckdb.DuckDBPyConnection, np.ndarray],
) -> None:
    spec = load_spec(DEMO_SPEC)
    seg = cluster_needs(demo[0], TABLE, spec, k_range=(2, 4), refits=3, fit_sample=3000)
    # The demo's ratings are independent draws around a halo: no needs segments exist.
    assert seg.stability is not None and seg.stability.mean_ari < 0.75
    assert "re-fits" in seg.stability.verdict
    assert seg.profile["attribute"].isin(spec.touchpoint_columns).all()
    frame = demo[0].execute(f"SELECT * FROM {TABLE} ORDER BY __cmot_row").df()
    assert np.array_equal(assign_segments(seg, frame), seg.labels)


# ---- given segments -------------------------------------------------------------


@pytest.mark.parametrize(
    ("columns", "method", "k", "a_name"),
    [
        (["Contract type"], "column", 3, "Design-build"),
        (["Contract type", "Region"], "combination", 12, "Fixed fee / North"),
        (["Years as client"], "bands", 4, "Years as client < "),
    ],
)
def test_given_segments_from_a_column_a_pair_or_bands(
    demo: tuple[duckdb.DuckDBPyConnection, np.ndarray],
    columns: list[str],
    method: str,
    k: int,
    a_name: str,
) -> None:
    seg = given_segments(demo[0], TABLE, columns)
    assert (seg.method, seg.k) == (method, k)
    assert any(n.startswith(a_name) for n in seg.names)
    assert seg.sizes["size"].sum() == 6600 and (seg.labels >= 0).all()
    frame = demo[0].execute(f"SELECT * FROM {TABLE} ORDER BY __cmot_row").df()
    assert np.array_equal(assign_segments(seg, frame), seg.labels)


def test_band_cut_points_are_returned_and_editable(
    demo: tuple[duckdb.DuckDBPyConnection, np.ndarray],
) -> None:
    seg = given_segments(demo[0], TABLE, ["Years as client"], bands=3)
    assert len(seg.cuts) == 2 and all(float(c * 10).is_integer() for c in seg.cuts)
    edited = given_segments(demo[0], TABLE, ["Years as client"], cuts=[5, 10])
    assert edited.cuts == (5.0, 10.0)
    assert edited.names == (
        "Years as client < 5",
        "Years as client 5 to < 10",
        "Years as client 10+",
    )
    years = demo[0].execute(f'SELECT "Years as client" FROM {TABLE} ORDER BY __cmot_row').df()
    expected = np.searchsorted([5, 10], years.iloc[:, 0].to_numpy(), side="right")
    assert np.array_equal(edited.labels, expected)


@pytest.mark.parametrize(
    ("values", "bands", "cuts"),
    [
        (np.arange(18, 81), 4, (35.0, 50.0, 65.0)),  # steps of 5 over a 56-year spread
        (np.arange(0, 5001, 10), 2, (2500.0,)),
        ([1, 1, 1, 1], 4, ()),
    ],
)
def test_suggested_cuts_are_round_quantiles(
    values: object, bands: int, cuts: tuple[float, ...]
) -> None:
    assert suggest_cuts(values, bands) == cuts  # type: ignore[arg-type]


def test_errors_say_what_to_do(demo: tuple[duckdb.DuckDBPyConnection, np.ndarray]) -> None:
    con = demo[0]
    with pytest.raises(CmotError, match="not in the dataset"):
        cluster_attributes(con, TABLE, ["No such column"])
    with pytest.raises(CmotError, match="at least one attribute"):
        cluster_attributes(con, TABLE, [])
    with pytest.raises(CmotError, match="at least 2"):
        cluster_attributes(con, TABLE, ATTRS, k=1)
    with pytest.raises(CmotError, match="too many segments"):
        given_segments(con, TABLE, ["__cmot_id"])
    with pytest.raises(CmotError, match="mode"):
        segment(con, TABLE, load_spec(DEMO_SPEC), "psychic", ATTRS)


def test_prca_design_has_low_high_missing_indicators() -> None:
    r = np.array([[1.0, 5.0], [3.0, np.nan], [5.0, 2.0]])
    x, meta = prca_design(r, default_scale(1, 5))
    assert meta == [(0, "low"), (0, "high"), (1, "low"), (1, "high"), (1, "missing")]
    assert x.tolist() == [
        [1, 1, 0, 0, 1, 0],
        [1, 0, 0, 0, 0, 1],
        [1, 0, 1, 1, 0, 0],
    ]


def test_demo_frame_matches_the_planted_segment_column() -> None:
    # Guards the fixture: the CSV on disk is the seeded demo the planted truth describes.
    con, truth = demo_connection()
    assert (truth == generate_demo().frame[SEGMENT_COLUMN].to_numpy()).all()
    con.close()


@given(
    st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=1, max_size=300),
    st.integers(2, 8),
)
@example([0.0, 5e-324], 2)  # a spread whose rounding step underflows to 0 (found by hypothesis)
@settings(max_examples=200, deadline=None)
def test_suggested_cuts_are_increasing_inside_the_data(values: list[float], bands: int) -> None:
    cuts = suggest_cuts(values, bands)
    assert list(cuts) == sorted(set(cuts)) and len(cuts) <= bands - 1
    assert all(min(values) < c <= max(values) for c in cuts)
    assert len(band_names("x", cuts)) == len(cuts) + 1


@given(st.lists(st.lists(st.sampled_from(["a", "b", "c"]), max_size=4), min_size=1, max_size=8))
@settings(max_examples=200, deadline=None)
def test_generated_names_are_unique_and_never_empty(traits: list[list[str]]) -> None:
    names = names_from([[(0.5, t) for t in ts] for ts in traits])
    assert len(set(names)) == len(names) and all(names)


def test_driver_segments_same_seed_same_result(
    demo: tuple[duckdb.DuckDBPyConnection, np.ndarray],
) -> None:
    spec = load_spec(DEMO_SPEC)
    a, b = (
        driver_segments(demo[0], TABLE, spec, attributes=ATTRS, k=2, seed=3, refits=0)
        for _ in range(2)
    )
    assert np.array_equal(a.labels, b.labels) and a.names == b.names
    assert a.drivers is not None and b.drivers is not None
    pd.testing.assert_frame_equal(a.drivers, b.drivers)
