"""Tests for ntkbook.learn.clustering against SciPy's Ward linkage and scikit-learn's metrics."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.spatial.distance import pdist, squareform
from sklearn.metrics import adjusted_rand_score, roc_auc_score

from ntkbook.learn.clustering import adjusted_rand_index, separation_auc, ward_clustering


def same_partition(a, b):
    return adjusted_rand_score(np.asarray(a), np.asarray(b)) == 1.0


@pytest.mark.parametrize("k", [2, 3, 5])
def test_ward_matches_scipy_float64(x64, k):
    rng = np.random.default_rng(k)
    x = np.concatenate([rng.standard_normal((12, 2)) + c for c in ([0, 0], [4, 0], [0, 5])])
    d = squareform(pdist(x))
    want = fcluster(linkage(pdist(x), method="ward"), k, criterion="maxclust")
    got = ward_clustering(d, k)
    assert got.dtype == jnp.int32 and set(np.asarray(got).tolist()) == set(range(k))
    assert same_partition(got, want)


def test_ward_batched_float32_and_non_euclidean():
    rng = np.random.default_rng(7)
    xs = rng.standard_normal((3, 20, 4)).astype(np.float32)
    ds = np.stack([squareform(pdist(x)) for x in xs])
    got = ward_clustering(ds, 4)
    assert got.shape == (3, 20)
    for x, g in zip(xs, got):
        assert same_partition(g, fcluster(linkage(pdist(x.astype(np.float64)), method="ward"), 4, "maxclust"))
    # any symmetric dissimilarity (here L1) is clustered with the same Lance–Williams recursion as SciPy
    d1 = pdist(xs[0].astype(np.float64), "cityblock")
    assert same_partition(ward_clustering(squareform(d1), 3), fcluster(linkage(d1, method="ward"), 3, "maxclust"))


def test_ward_edge_cases():
    d = squareform(pdist(np.arange(5.0)[:, None]))
    assert ward_clustering(d, 5).tolist() == [0, 1, 2, 3, 4]
    assert ward_clustering(d, 1).tolist() == [0] * 5
    with pytest.raises(ValueError, match="n_clusters"):
        ward_clustering(d, 6)
    with pytest.raises(ValueError, match="square"):
        ward_clustering(np.ones((2, 3)), 1)
    with pytest.raises(ValueError, match="non-negative"):
        ward_clustering(-d, 2)


def test_adjusted_rand_index_matches_sklearn(x64):
    rng = np.random.default_rng(0)
    for _ in range(5):
        a = rng.integers(0, 3, 40)
        b = np.where(rng.random(40) < 0.7, a, rng.integers(0, 4, 40))
        np.testing.assert_allclose(adjusted_rand_index(a, b), adjusted_rand_score(a, b), atol=1e-12)
    a = rng.integers(0, 3, (4, 30))
    b = rng.integers(0, 3, (4, 30))
    np.testing.assert_allclose(adjusted_rand_index(a, b), [adjusted_rand_score(x, y) for x, y in zip(a, b)],
                               atol=1e-12)
    assert float(adjusted_rand_index([0, 0, 0], [1, 1, 1])) == 1.0  # both trivial, like scikit-learn


def test_adjusted_rand_index_float32_and_bad_inputs():
    assert adjusted_rand_index(np.array([0, 1, 1, 0]), np.array([0, 1, 0, 0])).dtype == jnp.float32
    with pytest.raises(ValueError, match="same shape"):
        adjusted_rand_index([0, 1], [0, 1, 1])
    with pytest.raises(ValueError, match="integer"):
        adjusted_rand_index([0.5, 1.0], [0, 1])
    with pytest.raises(ValueError, match="non-negative"):
        adjusted_rand_index([0, -1], [0, 1])
    with pytest.raises(ValueError, match="lie in"):
        adjusted_rand_index([0, 5], [0, 1])


def test_separation_auc_matches_sklearn(x64):
    rng = np.random.default_rng(3)
    y = rng.integers(0, 3, 25)
    x = rng.standard_normal((25, 2)) + 2.0 * y[:, None]
    d = np.round(squareform(pdist(x)), 1)  # ties
    iu = np.triu_indices(25, 1)
    want = roc_auc_score((y[:, None] != y[None, :])[iu], d[iu])
    np.testing.assert_allclose(separation_auc(d, y), want, atol=1e-12)
    np.testing.assert_allclose(separation_auc(np.stack([d, d]), y), [want, want], atol=1e-12)
    assert separation_auc(d.astype(np.float32), y).dtype == jnp.float32


def test_separation_auc_bad_inputs():
    d = np.ones((3, 3))
    with pytest.raises(ValueError, match="both"):
        separation_auc(d, np.array([0, 0, 0]))
    with pytest.raises(ValueError, match="shape"):
        separation_auc(d, np.array([0, 1]))


def test_ward_nearest_neighbour_bookkeeping_many_draws(x64):
    # the cached nearest neighbours must give exactly SciPy's merges, draw after draw
    rng = np.random.default_rng(11)
    xs = rng.standard_normal((12, 40, 3)) * rng.uniform(0.2, 3.0, (12, 1, 3))
    ds = np.stack([squareform(pdist(x)) for x in xs])
    for k in (2, 5):
        got = ward_clustering(ds, k)
        for x, g in zip(xs, got):
            assert same_partition(g, fcluster(linkage(pdist(x), method="ward"), k, "maxclust"))
