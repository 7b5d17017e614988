"""Residual and concatenating branches, LayerNorm: Monte Carlo agreement and structure."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ntkbook import nn

WIDTH = 1024


def rel_fro(a, b) -> float:
    return float(jnp.linalg.norm(jnp.ravel(a - b)) / jnp.linalg.norm(jnp.ravel(b)))


def _x(n=6, d=5, seed=2):
    return jax.random.normal(jax.random.key(seed), (n, d))


def residual(width):
    return nn.serial(nn.FanOut(2),
                     nn.parallel(nn.Identity(), nn.serial(nn.Relu(), nn.Dense(width, W_std=1.3, b_std=0.1))),
                     nn.FanInSum())


def test_residual_mlp_monte_carlo():
    net = nn.serial(nn.Dense(WIDTH, W_std=1.2), residual(WIDTH), nn.Relu(), nn.Dense(1, b_std=0.1))
    x = _x()
    k = net.kernel(x)
    mc = nn.monte_carlo_kernel(net, x, None, jax.random.key(8), 2, get="ntk")
    assert rel_fro(mc, k.ntk) < 0.05
    # residual NNGP = branch + skip
    skip = nn.Dense(WIDTH, W_std=1.2).kernel(x, get="nngp")
    branch = nn.serial(nn.Dense(WIDTH, W_std=1.2), nn.Relu(), nn.Dense(WIDTH, W_std=1.3, b_std=0.1)).kernel(x, get="nngp")
    np.testing.assert_allclose(nn.serial(nn.Dense(WIDTH, W_std=1.2), residual(WIDTH)).kernel(x, get="nngp"),
                               skip + branch, rtol=1e-6)


def test_concat_and_layernorm_monte_carlo():
    branches = nn.parallel(nn.serial(nn.Dense(WIDTH, W_std=1.5, b_std=0.1), nn.Erf()),
                           nn.serial(nn.Dense(WIDTH // 2, W_std=1.1), nn.Relu()))
    net = nn.serial(nn.FanOut(2), branches, nn.FanInConcat(), nn.Dense(WIDTH, W_std=1.2),
                    nn.LayerNorm(), nn.Relu(), nn.Dense(WIDTH))
    x = _x()
    mc = nn.monte_carlo_kernel(net, x, None, jax.random.key(9), 4, get="nngp")
    assert rel_fro(mc, net.kernel(x, get="nngp")) < 0.05


def test_layernorm_ntk_monte_carlo():
    net = nn.serial(nn.Dense(WIDTH, W_std=1.5, b_std=0.2), nn.LayerNorm(), nn.Gelu(), nn.Dense(1))
    x = _x()
    mc = nn.monte_carlo_kernel(net, x, None, jax.random.key(10), 2, get="ntk")
    assert rel_fro(mc, net.kernel(x, get="ntk")) < 0.05


def test_residual_cnn_with_pooling_monte_carlo():
    block = nn.serial(nn.FanOut(2), nn.parallel(nn.Identity(), nn.serial(nn.Relu(), nn.Conv(WIDTH, (3,), padding="SAME"))),
                      nn.FanInSum())
    net = nn.serial(nn.Conv(WIDTH, (2,), padding="CIRCULAR", b_std=0.1), block, nn.Relu(), nn.GlobalAvgPool(),
                    nn.Dense(WIDTH))
    x = jax.random.normal(jax.random.key(3), (4, 5, 2))
    mc = nn.monte_carlo_kernel(net, x, None, jax.random.key(11), 6, get="nngp")
    assert rel_fro(mc, net.kernel(x, get="nngp")) < 0.05


def test_concat_weights_by_channels():
    x = _x()
    a = nn.serial(nn.Dense(10, W_std=2.0), nn.Relu())
    b = nn.serial(nn.Dense(30), nn.Erf())
    cat = nn.serial(nn.FanOut(2), nn.parallel(a, b), nn.FanInConcat()).kernel(x)
    np.testing.assert_allclose(cat.nngp, 0.25 * a.kernel(x).nngp + 0.75 * b.kernel(x).nngp, rtol=1e-6)
    np.testing.assert_allclose(cat.ntk, 0.25 * a.kernel(x).ntk + 0.75 * b.kernel(x).ntk, rtol=1e-6)


def test_layernorm_normalizes_variances():
    k = nn.serial(nn.Dense(8, W_std=3.0, b_std=1.0), nn.LayerNorm()).kernel(_x())
    np.testing.assert_allclose(jnp.diag(k.nngp), 1.0, rtol=1e-5)
    np.testing.assert_allclose(k.cov1, 1.0, rtol=1e-5)


def test_combinator_errors():
    with pytest.raises(ValueError, match="FanOut"):
        nn.parallel(nn.Relu(), nn.Relu()).kernel(_x())
    with pytest.raises(ValueError, match="equal shape"):
        nn.serial(nn.FanOut(2), nn.parallel(nn.Dense(3), nn.Dense(4)), nn.FanInSum()).kernel(_x())
    with pytest.raises(ValueError, match="parallel streams"):
        nn.FanOut(2).kernel(_x())
    with pytest.raises(ValueError, match="FanInSum"):
        nn.serial(nn.FanOut(2), nn.Relu()).kernel(_x())
    with pytest.raises(ValueError):
        nn.FanOut(0)
    with pytest.raises(ValueError, match="axis"):
        nn.LayerNorm(axis=1)
