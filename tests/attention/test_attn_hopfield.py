"""Classical (Hebbian) Hopfield retrieval and the participation ratio (P071 helpers)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ntkbook.attention import hebbian_hopfield_retrieval, hopfield_retrieval, participation_ratio


def _async_numpy(s, x, max_sweeps=100):
    # independent reference: plain Python loops over units
    w = x.T @ x
    np.fill_diagonal(w, 0.0)
    s = np.where(s < 0, -1.0, 1.0)
    for _ in range(max_sweeps):
        changed = False
        for i in range(len(s)):
            h = w[i] @ s
            new = 1.0 if h > 0 else (-1.0 if h < 0 else s[i])
            changed |= new != s[i]
            s[i] = new
        if not changed:
            break
    return s


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
def test_hebbian_matches_python_loop_and_is_fixed_point(dtype, x64):
    rng = np.random.default_rng(0)
    x = np.sign(rng.standard_normal((12, 24)))
    q = np.where(rng.random((10, 24)) < 0.25, -x[:10], x[:10])
    out = hebbian_hopfield_retrieval(jnp.asarray(q, dtype), jnp.asarray(x, dtype))
    ref = np.stack([_async_numpy(qi.copy(), x) for qi in q])
    assert out.dtype == dtype
    np.testing.assert_array_equal(np.asarray(out), ref)
    w = x.T @ x
    np.fill_diagonal(w, 0.0)
    h = np.asarray(out) @ w.T                                       # fixed point: s_i h_i >= 0
    assert np.all(np.asarray(out) * h >= 0)


def test_hebbian_low_load_retrieves_and_high_load_fails():
    rng = np.random.default_rng(1)
    d = 64
    for n, lo, hi in [(3, 0.95, 1.0), (128, 0.0, 0.1)]:
        x = np.sign(rng.standard_normal((n, d)))
        q = np.where(rng.random((n, d)) < 0.1, -x, x)
        out = np.asarray(hebbian_hopfield_retrieval(q, x))
        rate = np.mean(np.all(out == x, axis=1))
        assert lo <= rate <= hi, (n, rate)


def test_participation_ratio_closed_forms(x64):
    p = jnp.array([[0.5, 0.5, 0.0], [1.0, 1.0, 1.0], [0.0, 0.0, 2.0]])
    np.testing.assert_allclose(np.asarray(participation_ratio(p)), [2.0, 3.0, 1.0], rtol=1e-6)
    np.testing.assert_allclose(np.asarray(participation_ratio(p.T, axis=0)), [2.0, 3.0, 1.0], rtol=1e-6)
    np.testing.assert_allclose(np.asarray(jax.jit(participation_ratio)(p)), [2.0, 3.0, 1.0], rtol=1e-6)
    # softmax weights of a Hopfield state: between 1 and N
    x = jnp.asarray(np.random.default_rng(2).standard_normal((16, 8)), jnp.float64)
    xi = hopfield_retrieval(x[:4] + 0.1, x, beta=0.3)
    pr = participation_ratio(jnp.exp(0.3 * xi @ x.T))
    assert pr.dtype == jnp.float64 and np.all((np.asarray(pr) >= 1) & (np.asarray(pr) <= 16))


def test_bad_inputs():
    with pytest.raises(ValueError, match="non-negative"):
        participation_ratio(jnp.array([0.5, -0.5, 1.0]))
    with pytest.raises(ValueError, match="positive sum"):
        participation_ratio(jnp.zeros((2, 3)))
    with pytest.raises(ValueError, match="at least one axis"):
        participation_ratio(1.0)
    with pytest.raises(ValueError, match="last axis"):
        hebbian_hopfield_retrieval(jnp.ones((2, 4)), jnp.ones((3, 5)))
    with pytest.raises(ValueError, match="max_sweeps"):
        hebbian_hopfield_retrieval(jnp.ones((2, 4)), jnp.ones((3, 4)), max_sweeps=0)
    with pytest.raises(ValueError, match="rank"):
        hebbian_hopfield_retrieval(jnp.ones((4,)), jnp.ones((3, 4)))
