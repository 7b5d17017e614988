"""Tests for ntkbook.data.mesh: Euler's formula, unit points, weights = 1/length."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest

from ntkbook.data.mesh import sphere_mesh


@pytest.mark.parametrize("n", [12, 100, 642])
def test_sphere_mesh_structure(n, x64):
    mesh = sphere_mesh(n)
    x, tri, a = (np.asarray(m) for m in mesh)
    assert mesh.adjacency.dtype == jnp.float64
    np.testing.assert_allclose(np.linalg.norm(x, axis=1), 1.0, atol=1e-12)
    assert tri.shape == (2 * n - 4, 3)                      # Euler: F = 2V - 4
    assert int((a > 0).sum()) // 2 == 3 * n - 6             # E = 3V - 6
    np.testing.assert_array_equal(a, a.T)
    assert np.all(np.diag(a) == 0)
    i, j = np.nonzero(a)
    np.testing.assert_allclose(a[i, j], 1 / np.linalg.norm(x[i] - x[j], axis=1), rtol=1e-12)
    assert np.all((a > 0).sum(1) >= 3)


def test_unit_weights_float32_and_bad_inputs():
    mesh = sphere_mesh(50, weights="unit")
    assert mesh.adjacency.dtype == jnp.float32
    assert set(np.unique(np.asarray(mesh.adjacency))) == {0.0, 1.0}
    with pytest.raises(ValueError):
        sphere_mesh(3)
    with pytest.raises(ValueError):
        sphere_mesh(20, weights="gaussian")
    with pytest.raises(ValueError):
        sphere_mesh(0)
