"""Convolutional kernels: Monte Carlo agreement, full vs diagonal spatial modes, shapes and errors."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ntkbook import nn
from ntkbook.nn._state import input_kernel

WIDTH = 1024


def rel_fro(a, b) -> float:
    return float(jnp.linalg.norm(jnp.ravel(a - b)) / jnp.linalg.norm(jnp.ravel(b)))


def x1d(n=4, seed=0, dtype=jnp.float32):
    return jax.random.normal(jax.random.key(seed), (n, 5, 2), dtype)


def x2d(n=3, seed=0, dtype=jnp.float32):
    return jax.random.normal(jax.random.key(seed), (n, 4, 3, 2), dtype)


def _mc_nngp(net, x, samples=6, seed=5):
    return nn.monte_carlo_kernel(net, x, None, jax.random.key(seed), samples, get="nngp")


def test_cnn1d_global_avg_pool_monte_carlo():
    net = nn.serial(nn.Conv(WIDTH, (3,), padding="SAME", W_std=1.4, b_std=0.1), nn.Relu(),
                    nn.Conv(WIDTH, (2,), padding="CIRCULAR", W_std=1.3, b_std=0.1), nn.Erf(),
                    nn.GlobalAvgPool(), nn.Dense(WIDTH))
    x = x1d()
    assert rel_fro(_mc_nngp(net, x), net.kernel(x, get="nngp")) < 0.05


def test_cnn1d_flatten_strided_monte_carlo():
    net = nn.serial(nn.Conv(WIDTH, (3,), strides=(2,), padding="SAME", W_std=1.4, b_std=0.1), nn.Relu(),
                    nn.Flatten(), nn.Dense(512))
    x = x1d()
    assert rel_fro(_mc_nngp(net, x), net.kernel(x, get="nngp")) < 0.05


def test_cnn2d_avgpool_flatten_monte_carlo():
    net = nn.serial(nn.Conv(WIDTH, (2, 2), padding="VALID", W_std=1.5, b_std=0.2), nn.Gelu(),
                    nn.AvgPool((2, 2), strides=(1, 1), padding="SAME"), nn.Flatten(), nn.Dense(512))
    x = x2d()
    assert rel_fro(_mc_nngp(net, x), net.kernel(x, get="nngp")) < 0.05


def test_cnn2d_global_avg_pool_ntk_monte_carlo():
    net = nn.serial(nn.Conv(WIDTH, (2, 2), padding="CIRCULAR", W_std=1.4, b_std=0.1), nn.Relu(),
                    nn.GlobalAvgPool(), nn.Dense(1, b_std=0.1))
    x = x2d()
    k = net.kernel(x)
    mc = nn.monte_carlo_kernel(net, x, None, jax.random.key(6), 2, get="ntk")
    assert rel_fro(mc, k.ntk) < 0.05


def test_cnn1d_standard_parameterization_ntk_monte_carlo():
    net = nn.serial(nn.Conv(WIDTH, (3,), padding="VALID", W_std=1.3, b_std=0.1, parameterization="standard"),
                    nn.Relu(), nn.Flatten(), nn.Dense(1, b_std=0.2, parameterization="standard"))
    x = x1d()
    k = net.kernel(x)
    mc = nn.monte_carlo_kernel(net, x, None, jax.random.key(7), 4, get="ntk")
    assert rel_fro(mc, k.ntk) < 0.05


def test_spatial_output_is_the_full_covariance(x64):
    """Without a readout the kernel is the (N1, N2, W, W) covariance of the output signals; its mean
    over position pairs is the GlobalAvgPool kernel and its diagonal mean the Flatten kernel."""
    body = nn.serial(nn.Conv(8, (3,), padding="SAME", W_std=1.2), nn.Relu(), nn.Conv(8, (2,), padding="VALID"))
    x = x1d(3, dtype=jnp.float64)
    k = body.kernel(x)
    assert k.nngp.shape == (3, 3, 4, 4) and k.ntk.shape == (3, 3, 4, 4) and k.cov1.shape == (3, 4, 4)
    gap = nn.serial(body, nn.GlobalAvgPool()).kernel(x)
    flat = nn.serial(body, nn.Flatten()).kernel(x)
    np.testing.assert_allclose(gap.ntk, k.ntk.mean(axis=(2, 3)), rtol=1e-12)
    np.testing.assert_allclose(flat.ntk, jnp.diagonal(k.ntk, axis1=2, axis2=3).mean(-1), rtol=1e-10)


def _forced_full(net, x):
    """The kernel computed with every position pair kept (full mode) throughout."""
    return jax.jit(lambda x: net.kernel_fn(input_kernel(x, x, full=True, with_ntk=True), True))(x)


@pytest.mark.parametrize("pad", ["SAME", "VALID", "CIRCULAR"])
def test_diagonal_mode_equals_full_mode_for_flatten(pad, x64):
    net = nn.serial(nn.Conv(3, (2, 2), strides=(1, 2), padding=pad, W_std=1.2, b_std=0.3), nn.Erf(),
                    nn.Conv(3, (2, 1), padding=pad), nn.Relu(), nn.LayerNorm(), nn.Flatten(), nn.Dense(1))
    x = x2d(dtype=jnp.float64)
    assert net.requirement(True) is False  # only equal-position covariances are needed
    k = net.kernel(x)
    full = _forced_full(net, x)
    np.testing.assert_allclose(k.nngp, full.nngp, rtol=1e-8)
    np.testing.assert_allclose(k.ntk, full.ntk, rtol=1e-8)


def test_requirements_follow_the_readout():
    conv = nn.Conv(3, (2,))
    assert nn.serial(conv, nn.Relu(), nn.GlobalAvgPool()).requirement(True) is True
    assert nn.serial(conv, nn.Relu(), nn.Flatten()).requirement(True) is False
    assert nn.serial(conv, nn.AvgPool((2,)), nn.Flatten()).requirement(True) is True


def test_conv_kernel_closed_form_single_layer(x64):
    """One linear conv layer: Σ'[p,p'] = W² mean_q Σ[p+q, p'+q] + b² (VALID, stride 1)."""
    x = x1d(dtype=jnp.float64)
    k = nn.Conv(4, (2,), W_std=1.5, b_std=0.5).kernel(x, get="nngp")
    s = jnp.einsum("apc,bqc->abpq", x, x) / 2
    expected = 2.25 * (s[:, :, :-1, :-1] + s[:, :, 1:, 1:]) / 2 + 0.25
    np.testing.assert_allclose(k, expected, rtol=1e-12)


def test_symmetry_psd_and_dtypes(x64):
    net = nn.serial(nn.Conv(3, (2, 2), padding="SAME", b_std=0.1), nn.Relu(), nn.AvgPool((2, 1)),
                    nn.GlobalAvgPool(), nn.Dense(1))
    x = x2d(5, dtype=jnp.float64)
    k = net.kernel(x)
    for m in (k.nngp, k.ntk):
        np.testing.assert_allclose(m, m.T, rtol=1e-12)
        assert float(jnp.min(jnp.linalg.eigvalsh(m))) > -1e-10
    k32 = net.kernel(x.astype(jnp.float32))
    assert k32.ntk.dtype == jnp.float32
    np.testing.assert_allclose(k32.ntk, k.ntk, rtol=1e-4, atol=1e-6)
    kz = net.kernel(jnp.zeros_like(x))
    assert bool(jnp.all(jnp.isfinite(kz.ntk)))


def test_module_shapes():
    from flax import nnx
    net = nn.serial(nn.Conv(4, (3, 3), strides=(2, 1), padding="CIRCULAR"), nn.Relu(),
                    nn.AvgPool((2, 2), padding="SAME"), nn.Flatten(), nn.Dense(2))
    assert net.out_shape((5, 4, 2)) == (2,)
    y = net.module(rngs=nnx.Rngs(0))(jnp.ones((3, 5, 4, 2)))
    assert y.shape == (3, 2)


def test_conv_errors():
    with pytest.raises(ValueError, match="rank"):
        nn.serial(nn.Conv(3, (2, 2)), nn.Flatten()).kernel(jnp.ones((2, 5, 3)))
    with pytest.raises(ValueError, match="rank"):
        nn.Conv(3, (2,)).kernel(jnp.ones((2, 5)))
    with pytest.raises(ValueError, match="padding"):
        nn.Conv(3, (2,), padding="REFLECT")
    with pytest.raises(ValueError, match="padding"):
        nn.AvgPool((2,), padding="FULL")
    with pytest.raises(ValueError, match="larger"):
        nn.Conv(3, (6,)).kernel(jnp.ones((2, 5, 3)))
    with pytest.raises(ValueError, match="strides"):
        nn.Conv(3, (2, 2), strides=(1,))
    with pytest.raises(ValueError, match="filter_shape"):
        nn.Conv(3, (0,))
    with pytest.raises(ValueError, match="spatial"):
        nn.GlobalAvgPool().kernel(jnp.ones((2, 3)))
    with pytest.raises(ValueError, match="Flatten"):
        nn.serial(nn.Conv(3, (2,)), nn.Dense(2)).kernel(jnp.ones((2, 5, 3)))
