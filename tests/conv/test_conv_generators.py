"""SGConv, squash/smooth and Gaussian-mixture kernels."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.stats
from conv_numpy_ref import rel_err
from hypothesis import given, settings
from hypothesis import strategies as st

from ntkbook import conv


@pytest.mark.parametrize("length,d_s", [(1024, 32), (256, 16), (100, 32), (7, 8), (1, 1)])
def test_sgconv_shapes_and_parameter_count(length, d_s):
    n = conv.sgconv_num_scales(length, d_s)
    assert d_s * 2 ** max(n - 1, 0) >= length            # covers L
    assert n == 1 or d_s * 2 ** max(n - 2, 0) < length   # and no scale is superfluous
    w = conv.sgconv_init(jax.random.key(0), 3, length, d_s=d_s)
    assert w.shape == (n, 3, d_s)
    k = conv.sgconv_kernel(w, length)
    assert k.shape == (3, length)
    assert np.allclose(np.linalg.norm(np.asarray(k), axis=-1), 1.0, atol=1e-5)
    assert w.size // 3 == d_s * n                          # O(d_s log L) parameters per channel
    assert n <= np.log2(max(length / d_s, 1)) + 2


def test_sgconv_structure_nearest():
    w = jnp.asarray(np.random.default_rng(0).standard_normal((4, 2, 3)), jnp.float32)
    k = np.asarray(conv.sgconv_kernel(w, 24, alpha=0.5, interpolation="nearest", normalize=False))
    wn = np.asarray(w)
    expect = np.concatenate([wn[0], 0.5 * wn[1], 0.25 * np.repeat(wn[2], 2, -1),
                             0.125 * np.repeat(wn[3], 4, -1)], axis=-1)
    assert np.allclose(k, expect, atol=1e-6)


def test_sgconv_linear_upsampling_and_decay():
    w = jnp.ones((5, 1, 4))
    k = np.asarray(conv.sgconv_kernel(w, 64, interpolation="linear", normalize=False))[0]
    # constant sub-kernels stay constant under linear interpolation → a staircase of α^i
    bounds = [0, 4, 8, 16, 32, 64]
    for i in range(5):
        assert np.allclose(k[bounds[i]:bounds[i + 1]], 0.5 ** i)
    # a linear ramp is reproduced exactly in the interior (half-pixel centres)
    ramp = jnp.arange(4.0)[None, None, :] * jnp.ones((3, 1, 1))
    up = np.asarray(conv.sgconv_kernel(ramp, 16, alpha=1.0, normalize=False))[0, 8:16]
    assert np.allclose(up, [0.0, 0.25, 0.75, 1.25, 1.75, 2.25, 2.75, 3.0], atol=1e-6)


def test_squash_and_smooth():
    k = jnp.asarray(np.random.default_rng(0).standard_normal((3, 50)), jnp.float32)
    s = np.asarray(conv.squash(k, 0.5))
    kn = np.asarray(k)
    assert np.allclose(s, np.sign(kn) * np.maximum(np.abs(kn) - 0.5, 0))
    assert np.all(np.abs(s) <= np.abs(kn))
    for width in (1, 3, 5, 51):
        sm = np.asarray(conv.smooth(k, width))
        half = width // 2
        ref = np.stack([[kn[c, max(0, i - half): i + half + 1].mean() for i in range(50)] for c in range(3)])
        assert np.allclose(sm, ref, atol=1e-5)
    assert np.allclose(conv.smooth(jnp.full((2, 9), 3.0), 5), 3.0)


def test_gaussian_mixture_kernel_matches_scipy(x64):
    rng = np.random.default_rng(0)
    c, m, d = 2, 3, 2
    w = rng.standard_normal((c, m))
    mu = rng.standard_normal((c, m, d))
    a = rng.standard_normal((c, m, d, d))
    cov = a @ np.swapaxes(a, -1, -2) + 0.5 * np.eye(d)
    xs = np.stack(np.meshgrid(np.linspace(-2, 2, 5), np.linspace(-1, 1, 4), indexing="ij"), -1)
    K = conv.gaussian_mixture_kernel(w, mu, cov, xs)
    assert K.shape == (c, 5, 4)
    ref = np.zeros((c, 5, 4))
    for ci in range(c):
        for j in range(m):
            ref[ci] += w[ci, j] * scipy.stats.multivariate_normal(mu[ci, j], cov[ci, j]).pdf(xs)
    assert rel_err(K, ref) < 1e-12
    K1 = conv.gaussian_mixture_kernel(w, mu[..., :1], cov[..., :1, :1], jnp.arange(6.0)[:, None])
    assert K1.shape == (c, 6)


def test_gaussian_mixture_conv_analytic_vs_fft(x64):
    """P165 check: the analytic K·L-component convolution equals the rasterised FFT convolution."""
    rng = np.random.default_rng(1)
    def random_gm(m):
        w = rng.uniform(0.5, 1.5, (1, m))
        mu = rng.uniform(-1.5, 1.5, (1, m, 2))
        a = rng.uniform(0.3, 0.6, (1, m, 2))
        cov = np.zeros((1, m, 2, 2))
        cov[..., 0, 0], cov[..., 1, 1] = a[..., 0] ** 2, a[..., 1] ** 2
        cov[..., 0, 1] = cov[..., 1, 0] = 0.3 * a[..., 0] * a[..., 1]
        return w, mu, cov
    f, g = random_gm(3), random_gm(2)
    w, mu, cov = conv.gaussian_mixture_conv(f, g)
    assert w.shape == (1, 6) and mu.shape == (1, 6, 2) and cov.shape == (1, 6, 2, 2)
    n, lo = 64, -6.0
    h = 12.0 / n
    axis = lo + h * np.arange(n)
    grid = np.stack(np.meshgrid(axis, axis, indexing="ij"), -1)
    rf = conv.gaussian_mixture_kernel(*f, grid)
    rg = conv.gaussian_mixture_kernel(*g, grid)
    full = conv.fft_conv2d(rf[None], rg, mode="full")[0, 0] * h * h      # Riemann sum of ∫f(x−y)g(y)dy
    out_axis = 2 * lo + h * np.arange(2 * n - 1)
    out_grid = np.stack(np.meshgrid(out_axis, out_axis, indexing="ij"), -1)
    analytic = conv.gaussian_mixture_kernel(w, mu, cov, out_grid)[0]
    err = np.linalg.norm(np.asarray(full - analytic)) / np.linalg.norm(np.asarray(analytic))
    assert err < 1e-3


def test_errors():
    with pytest.raises(ValueError, match="need N"):
        conv.sgconv_kernel(jnp.ones((2, 1, 4)), 64)
    with pytest.raises(ValueError, match="rank"):
        conv.sgconv_kernel(jnp.ones((1, 4)), 4)
    with pytest.raises(ValueError, match="interpolation"):
        conv.sgconv_kernel(jnp.ones((1, 1, 4)), 4, interpolation="cubic")
    with pytest.raises(ValueError, match="alpha"):
        conv.sgconv_kernel(jnp.ones((1, 1, 4)), 4, alpha=0.0)
    with pytest.raises(ValueError, match="odd"):
        conv.smooth(jnp.ones(5), 2)
    with pytest.raises(ValueError, match="lam"):
        conv.squash(jnp.ones(5), -1.0)
    with pytest.raises(ValueError, match="expected"):
        conv.gaussian_mixture_kernel(jnp.ones((1, 2)), jnp.ones((1, 3, 1)), jnp.ones((1, 2, 1, 1)),
                                     jnp.ones((4, 1)))
    with pytest.raises(ValueError, match="positions"):
        conv.gaussian_mixture_kernel(jnp.ones((1, 2)), jnp.ones((1, 2, 2)), jnp.ones((1, 2, 2, 2)),
                                     jnp.ones((4, 1)))


@settings(max_examples=6, deadline=None)
@given(length=st.sampled_from([1, 20, 64, 100, 300]), d_s=st.sampled_from([4, 8, 16]), seed=st.integers(0, 99))
def test_property_sgconv_decays(length, d_s, seed):
    """With equal-norm sub-kernels the energy per tap decays geometrically from scale to scale."""
    n = conv.sgconv_num_scales(length, d_s)
    w = conv.sgconv_init(jax.random.key(seed), 1, length, d_s=d_s)
    w = w / jnp.linalg.norm(w, axis=-1, keepdims=True)
    k = np.asarray(conv.sgconv_kernel(w, d_s * 2 ** max(n - 1, 0), interpolation="nearest",
                                      normalize=False))[0]
    energies = [np.mean(k[:d_s] ** 2)]
    for i in range(1, n):
        start, size = d_s * 2 ** max(i - 1, 0), d_s * 2 ** max(i - 1, 0)
        energies.append(np.mean(k[start:start + size] ** 2))
    assert all(e2 < e1 for e1, e2 in zip(energies, energies[1:]))
