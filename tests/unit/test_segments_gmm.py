"""A saved Gaussian mixture assigns new respondents as the fitted one does.

`cmot.segments.clustering.precisions_cholesky` stands in for sklearn's private
`_compute_precision_cholesky`; these tests hold it to the fitted model's own
`precisions_cholesky_` and `predict`, for every covariance type sklearn offers.
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.mixture import GaussianMixture

from cmot.segments.clustered import cluster_attributes
from cmot.segments.clustering import assign_nearest, precisions_cholesky
from cmot.segments.modes import assign_segments
from cmot.segments.records import from_record, to_record
from tests.unit.test_segments import ATTRS, TABLE, demo_connection

COVARIANCE_TYPES = ["full", "tied", "diag", "spherical"]


def _blobs(seed: int = 5) -> np.ndarray:
    """Three overlapping, correlated clusters in 4 dimensions (seeded)."""
    rng = np.random.default_rng(seed)
    mix = rng.normal(size=(4, 4))
    parts = [rng.normal(size=(400, 4)) @ mix + 2.0 * rng.normal(size=4) for _ in range(3)]
    return np.vstack(parts)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_precisions_cholesky_equals_the_fitted_mixtures(covariance_type: str) -> None:
    x = _blobs()
    gm = GaussianMixture(3, covariance_type=covariance_type, reg_covar=1e-3, random_state=0)
    gm.fit(x)
    ours = precisions_cholesky(gm.covariances_, covariance_type)
    assert ours.shape == gm.precisions_cholesky_.shape
    np.testing.assert_allclose(ours, gm.precisions_cholesky_, rtol=1e-9, atol=1e-12)
    params = {
        "weights": gm.weights_.tolist(),
        "means": gm.means_.tolist(),
        "covariances": gm.covariances_.tolist(),
        "covariance_type": covariance_type,
    }
    new = _blobs(seed=6)  # respondents the mixture has not seen
    for rows in (x, new):
        assert (assign_nearest(rows, params, "gmm") == gm.predict(rows)).all()


@pytest.mark.parametrize(
    "covariance_type",
    # One type in the quick loop; a mixture fitted for each (6-9 s each, busy) in the full suite.
    [COVARIANCE_TYPES[0], *(pytest.param(c, marks=pytest.mark.slow) for c in COVARIANCE_TYPES[1:])],
)
def test_saved_mixture_reassigns_every_respondent(covariance_type: str) -> None:
    con, _ = demo_connection()
    seg = cluster_attributes(
        con, TABLE, ATTRS, method="gmm", covariance_type=covariance_type, k=3, refits=1
    )
    frame = con.execute(f"SELECT * FROM {TABLE} ORDER BY __cmot_row").df()
    again = assign_segments(from_record(to_record(seg)), frame)
    assert (again == seg.labels).all()
