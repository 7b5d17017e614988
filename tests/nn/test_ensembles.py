"""Ensembles of random MLP preactivations vs the kernel recursion and exact finite-width moments."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ntkbook import nn

KEY = jax.random.key(0, impl="rbg")


def second_moments(z):
    """mean over networks and neurons of z(x_a) z(x_b): (depth, N, N)."""
    z = np.asarray(z, np.float64)
    return np.einsum("slai,slbi->lab", z, z) / (z.shape[0] * z.shape[-1])


def recursion(act, W_std, b_std, depth, x):
    """NNGP of the depth-l network for l = 1..depth from nn.serial(...).kernel."""
    layers = [nn.Dense(1, W_std=W_std, b_std=b_std)]
    out = [np.asarray(nn.serial(*layers).kernel(x, get="nngp"))]
    for _ in range(depth - 1):
        layers += [act, nn.Dense(1, W_std=W_std, b_std=b_std)]
        out.append(np.asarray(nn.serial(*layers).kernel(x, get="nngp")))
    return np.stack(out)


@pytest.mark.parametrize("method", ["conditional", "weights"])
@pytest.mark.parametrize("act,W_std,b_std", [(nn.Relu(), 2**0.5, None), (nn.ElementwiseNumerical(jnp.tanh, 20), 1.2, 0.3)])
def test_second_moments_match_kernel_recursion(method, act, W_std, b_std):
    x = jnp.array([[1.0, 0.5, -0.2], [0.3, -1.0, 0.8], [0.0, 0.0, 0.0]])
    z = nn.mlp_preactivations(KEY, x, activation=act, depth=4, width=256, n_nets=128, W_std=W_std,
                              b_std=b_std, method=method, chunk=32)
    assert z.shape == (128, 4, 3, 256) and z.dtype == jnp.float32
    mc, ref = second_moments(z), recursion(act, W_std, b_std, 4, x)
    err = np.linalg.norm(mc - ref, axis=(1, 2)) / np.linalg.norm(ref, axis=(1, 2))
    assert np.all(err < 0.05), err


def test_relu_kurtosis_exact_finite_width():
    # critical ReLU, one input: E z^4 / (E z^2)^2 - 3 = 3 ((1 + 5/n)^(l-1) - 1) exactly (chi-square argument)
    n, depth = 16, 5
    z = nn.mlp_preactivations(KEY, jnp.ones((1, 2)), activation=nn.Relu(), depth=depth, width=n,
                              n_nets=40000, W_std=2**0.5)
    z = np.asarray(z[:, :, 0], np.float64)
    m2, m4 = (z**2).mean((0, 2)), (z**4).mean((0, 2))
    kurt = m4 / m2**2 - 3
    exact = 3 * ((1 + 5 / n) ** np.arange(depth) - 1)
    np.testing.assert_allclose(m2, 2.0, rtol=0.02)  # K^(l) = K^(1) = C_W |x|^2 / d at criticality
    assert abs(kurt[0]) < 0.05
    np.testing.assert_allclose(kurt[1:], exact[1:], rtol=0.12)


def test_methods_have_the_same_law():
    x = jnp.array([[1.0, 0.0], [0.6, 0.8]])
    kw = dict(activation=nn.Relu(), depth=3, width=8, n_nets=20000, W_std=2**0.5, b_std=0.2)
    a = np.asarray(nn.mlp_preactivations(jax.random.key(1, impl="rbg"), x, method="weights", **kw), np.float64)
    b = np.asarray(nn.mlp_preactivations(jax.random.key(2, impl="rbg"), x, method="conditional", **kw), np.float64)
    for stat, rtol in ((lambda z: (z[:, :, 0] ** 2).mean((0, 2)), 0.03),
                       (lambda z: (z[:, :, 0] * z[:, :, 1]).mean((0, 2)), 0.03),
                       (lambda z: (z[:, :, 0] ** 4).mean((0, 2)), 0.1),  # heavy tails at width 8: noisier
                       (lambda z: (z[:, :, 0] ** 2 * z[:, :, 1] ** 2).mean((0, 2)), 0.1)):
        np.testing.assert_allclose(stat(a), stat(b), rtol=rtol)


def test_traced_W_std_and_float64(x64):
    x = jnp.ones((1, 3), jnp.float64)
    f = jax.jit(jax.vmap(lambda w: nn.mlp_preactivations(KEY, x, activation=nn.Relu(), depth=3, width=4,
                                                         n_nets=2, W_std=w)))
    z = f(jnp.array([1.0, 2.0], jnp.float64))
    assert z.shape == (2, 2, 3, 1, 4) and z.dtype == jnp.float64
    # same key: the W_std = 2 ensemble is the W_std = 1 ensemble scaled by 2^depth (ReLU is homogeneous)
    np.testing.assert_allclose(z[1], z[0] * 2.0 ** jnp.arange(1, 4)[None, :, None, None], rtol=1e-12)


def test_bad_inputs():
    x = jnp.ones((2, 3))
    ok = dict(activation=nn.Relu(), depth=2, width=4, n_nets=4)
    with pytest.raises(ValueError, match="rank"):
        nn.mlp_preactivations(KEY, jnp.ones(3), **ok)
    with pytest.raises(ValueError, match="activation"):
        nn.mlp_preactivations(KEY, x, **{**ok, "activation": jnp.tanh})
    with pytest.raises(ValueError, match="elementwise"):
        nn.mlp_preactivations(KEY, x, **{**ok, "activation": nn.Dense(2)})
    with pytest.raises(ValueError, match="depth"):
        nn.mlp_preactivations(KEY, x, **{**ok, "depth": 0})
    with pytest.raises(ValueError, match="W_std"):
        nn.mlp_preactivations(KEY, x, **ok, W_std=-1.0)
    with pytest.raises(ValueError, match="method"):
        nn.mlp_preactivations(KEY, x, **ok, method="exact")
    with pytest.raises(ValueError, match="chunk"):
        nn.mlp_preactivations(KEY, x, **ok, chunk=3)
    with pytest.raises(ValueError, match="NaN"):
        nn.mlp_preactivations(KEY, jnp.array([[jnp.nan, 1.0]]), **ok)
