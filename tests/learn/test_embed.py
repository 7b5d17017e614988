"""Tests for ntkbook.learn.embed: classical MDS, diffusion-map and PHATE distances vs NumPy references."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest
import scipy.sparse as sp

from ntkbook.learn.embed import classical_mds, diffusion_map_distance, phate_potential_distance


def pdist(x):
    return np.sqrt(np.maximum(((x[:, None, :] - x[None, :, :]) ** 2).sum(-1), 0))


def knn_like_graph(n=15, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 2))
    w = np.exp(-pdist(x) ** 2)
    np.fill_diagonal(w, 0.0)
    return w


@pytest.mark.parametrize("dim", [2, 3])
def test_mds_recovers_point_cloud_up_to_rotation(x64, dim):
    rng = np.random.default_rng(dim)
    x = rng.standard_normal((30, dim)) * np.arange(1, dim + 1)
    y = np.asarray(classical_mds(pdist(x), dim))
    assert y.shape == (30, dim)
    np.testing.assert_allclose(pdist(y), pdist(x), atol=1e-9)
    # Procrustes: an orthogonal map takes the centred cloud onto the embedding
    xc = x - x.mean(0)
    u, _, vt = np.linalg.svd(xc.T @ y)
    np.testing.assert_allclose(xc @ (u @ vt), y, atol=1e-9)


def test_mds_float32_and_truncation():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((20, 3)).astype(np.float32) * np.array([5.0, 1.0, 0.1], np.float32)
    y = classical_mds(pdist(x), 2)
    assert y.dtype == jnp.float32 and y.shape == (20, 2)
    # the best 2-D approximation keeps the two dominant directions
    xc = x - x.mean(0)
    np.testing.assert_allclose(np.sort(np.abs(np.asarray(y)).std(0)), np.sort(np.abs(xc[:, :2]).std(0)), rtol=0.05)


def test_mds_bad_inputs():
    with pytest.raises(ValueError, match="square"):
        classical_mds(np.ones((3, 4)))
    with pytest.raises(ValueError, match="dim"):
        classical_mds(np.zeros((3, 3)), 4)
    with pytest.raises(ValueError, match="dim"):
        classical_mds(np.zeros((3, 3)), 0)


def test_diffusion_map_distance_matches_definition(x64):
    w = knn_like_graph()
    d = w.sum(1)
    p = w / d[:, None]
    pi = d / d.sum()
    for t in (1, 3):
        pt = np.linalg.matrix_power(p, t)
        want = np.sqrt((((pt[:, None, :] - pt[None, :, :]) ** 2) / pi).sum(-1))
        np.testing.assert_allclose(diffusion_map_distance(w, t), want, atol=1e-8)
    np.testing.assert_allclose(diffusion_map_distance(sp.csr_matrix(w), 2), diffusion_map_distance(w, 2), atol=1e-10)


def test_phate_potential_distance_matches_definition(x64):
    w = knn_like_graph(seed=1)
    p = w / w.sum(1)[:, None]
    pt = np.linalg.matrix_power(p, 4)
    pot = np.log(pt + 1e-5)
    want = pdist(pot)
    np.testing.assert_allclose(phate_potential_distance(w, 4, eps=1e-5), want, atol=1e-6)


def test_diffusion_distances_float32_and_bad_inputs():
    w = knn_like_graph(seed=2).astype(np.float32)
    assert diffusion_map_distance(w, 2).dtype == jnp.float32
    assert phate_potential_distance(w, 2).dtype == jnp.float32
    with pytest.raises(ValueError, match="t"):
        diffusion_map_distance(w, 0)
    with pytest.raises(ValueError, match="t"):
        phate_potential_distance(w, 1.5)
    iso = w.copy()
    iso[0, :] = iso[:, 0] = 0.0
    with pytest.raises(ValueError, match="isolated"):
        diffusion_map_distance(iso, 1)


def test_step_sequences_match_single_steps(x64):
    w = knn_like_graph(seed=3)
    dm = diffusion_map_distance(w, [1, 4])
    ph = phate_potential_distance(w, (2, 3))
    assert dm.shape == (2, 15, 15) and ph.shape == (2, 15, 15)
    np.testing.assert_allclose(dm[1], diffusion_map_distance(w, 4), atol=1e-12)
    np.testing.assert_allclose(ph[0], phate_potential_distance(w, 2), atol=1e-12)
    with pytest.raises(ValueError, match="t"):
        diffusion_map_distance(w, [])
    with pytest.raises(ValueError, match="t"):
        phate_potential_distance(w, [1, 0])
