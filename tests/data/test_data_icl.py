"""In-context linear regression prompts: shapes, seeding, the linear model, conditioning, tokens."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ntkbook.data import icl_linear_regression, icl_query_mask, icl_tokens


def test_shapes_seeding_and_model(key):
    p = icl_linear_regression(key, 4, 6, 3)
    assert p.x.shape == (4, 6, 3) and p.y.shape == (4, 6) and p.w.shape == (4, 3)
    assert p.x.dtype == jnp.float32
    q = icl_linear_regression(key, 4, 6, 3)
    np.testing.assert_array_equal(p.x, q.x)
    r = icl_linear_regression(jax.random.key(1), 4, 6, 3)
    assert not np.allclose(p.x, r.x)
    # noiseless: y is exactly x w
    np.testing.assert_allclose(p.y, np.einsum("bnd,bd->bn", p.x, p.w), rtol=1e-5, atol=1e-5)


def test_noise_level(key):
    p = icl_linear_regression(key, 400, 50, 2, noise=0.5)
    resid = np.asarray(p.y) - np.einsum("bnd,bd->bn", p.x, p.w)
    assert abs(resid.std() - 0.5) < 0.02


def test_condition_number(x64, key):
    p = icl_linear_regression(key, 3, 20000, 4, condition_number=100.0)
    assert p.x.dtype == jnp.float64
    for x in np.asarray(p.x):
        eig = np.linalg.eigvalsh(x.T @ x / len(x))
        np.testing.assert_allclose(eig, np.geomspace(0.01, 1.0, 4), rtol=0.05)


def test_tokens_and_mask():
    x = jnp.arange(12.0).reshape(1, 3, 4)
    y = jnp.array([[7.0, 8.0, 9.0]])
    t = np.asarray(icl_tokens(x, y))
    assert t.shape == (1, 6, 5)
    np.testing.assert_array_equal(t[0, :3, :4], x[0])
    np.testing.assert_array_equal(t[0, 3:, :4], x[0])
    np.testing.assert_array_equal(t[0, :3, 4], y[0])
    assert np.all(t[0, 3:, 4] == 0)
    m = icl_query_mask(3)
    # the label of example i is visible to query j only when i < j
    for j in range(3):
        assert [bool(m[3 + j, i]) for i in range(3)] == [i < j for i in range(3)]
        assert m[3 + j, 3 + j] and m[3 + j, 3:].sum() == 1
    np.testing.assert_array_equal(m[:3, :3], np.tril(np.ones((3, 3), bool)))
    assert not m[:3, 3:].any()


def test_bad_inputs(key):
    with pytest.raises(ValueError):
        icl_linear_regression(key, 0, 3, 2)
    with pytest.raises(ValueError):
        icl_linear_regression(key, 2, 3, 2, noise=-1.0)
    with pytest.raises(ValueError):
        icl_linear_regression(key, 2, 3, 2, condition_number=0.5)
    with pytest.raises(ValueError):
        icl_linear_regression(0, 2, 3, 2)
    with pytest.raises(ValueError):
        icl_tokens(jnp.ones((1, 3, 2)), jnp.ones((1, 2)))
    with pytest.raises(ValueError):
        icl_query_mask(0)
