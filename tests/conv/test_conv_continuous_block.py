"""Continuous kernels (MFN/MAGNet, FlexConv, hyper-kernels) and the LongConvBlock."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conv_numpy_ref import conv1d_bruteforce, rel_err
from flax import nnx

from ntkbook import conv


def test_mfn_shapes_and_bandwidth():
    for kind in ("fourier", "gabor"):
        net = conv.MultiplicativeFilterNet(2, 8, 3, num_layers=3, filter=kind, rngs=nnx.Rngs(0))
        y = net(jnp.zeros((5, 2)))
        assert y.shape == (5, 3)
        f = float(net.max_frequency())
        assert f > 0
    # the bound really bounds: the output's spectrum vanishes above it
    net = conv.MultiplicativeFilterNet(1, 16, 1, num_layers=2, filter="fourier", input_scale=8.0,
                                       rngs=nnx.Rngs(1))
    xs = jnp.linspace(-1, 1, 2048, endpoint=False)
    y = np.asarray(net(xs[:, None])[:, 0])
    spec = np.abs(np.fft.rfft((y - y.mean()) * np.hanning(2048))) ** 2
    freqs = np.fft.rfftfreq(2048, d=2 / 2048)       # cycles per unit
    above = spec[freqs > float(net.max_frequency()) + 2.0].sum() / spec.sum()
    assert above < 1e-4                             # (+2: the Hann window's main lobe)
    with pytest.raises(ValueError, match="coordinates"):
        net(jnp.zeros((3, 2)))
    with pytest.raises(ValueError, match="filter"):
        conv.MultiplicativeFilterNet(1, 4, 1, filter="relu", rngs=nnx.Rngs(0))


def test_flexconv_mask_crop_and_resolution():
    gen = conv.FlexConvKernel(3, hidden=8, sigma_init=0.125, rngs=nnx.Rngs(0))
    k = gen(64)
    assert k.shape == (3, 64)
    m = np.asarray(gen.mask(64))
    assert m[0] == pytest.approx(1.0) and np.all(np.diff(m) <= 0)
    # cropped where the mask < 0.1: support radius σ·sqrt(2 ln 10) in coordinate units
    p = np.asarray(conv.kernel_positions(64))
    outside = (p + 1) > 0.125 * np.sqrt(2 * np.log(10)) + 1e-6
    assert np.all(np.asarray(k)[:, outside] == 0)
    assert np.any(np.asarray(k)[:, ~outside] != 0)
    k_nocrop = gen(64, crop_threshold=None)
    assert np.any(np.asarray(k_nocrop)[:, outside] != 0)
    # resolution transfer: the same continuous kernel on a 2× finer grid, rescaled by Δx
    k2 = gen(127, reference_length=64)
    assert np.allclose(np.asarray(k2)[:, ::2], 0.5 * np.asarray(k),
                       atol=1e-5)
    # σ is learnable: the gradient of a kernel statistic w.r.t. σ is non-zero
    grads = nnx.grad(lambda g: jnp.sum(g(64, crop_threshold=None) ** 2))(gen)
    assert float(jnp.abs(grads.sigma[...])) > 0
    assert float(gen.aliasing_penalty(64)) >= 0.0


def test_hyper_kernel_and_hyper_zzw():
    hk = conv.HyperKernel(4, hidden=8, rngs=nnx.Rngs(0))
    n_params = sum(x.size for x in jax.tree.leaves(nnx.state(hk, nnx.Param)))
    assert hk(64).shape == (4, 64) and hk(512).shape == (4, 512)
    assert sum(x.size for x in jax.tree.leaves(nnx.state(hk, nnx.Param))) == n_params
    rng = np.random.default_rng(0)
    z = jnp.asarray(rng.standard_normal((2, 4, 32)), jnp.float32)
    w = hk(32)
    y = conv.hyper_zzw(z, w)
    kb = np.asarray(w)[None] * np.asarray(z)
    assert rel_err(y, conv1d_bruteforce(z, kb)) < 1e-5
    with pytest.raises(ValueError, match="shape"):
        conv.hyper_zzw(z, w[:, :16])


@pytest.mark.parametrize("kind", conv.KERNEL_KINDS)
def test_long_conv_block_forward_grad_causality(kind):
    blk = conv.LongConvBlock(4, 32, kernel=kind, hidden=8, state_size=4, d_s=4, rngs=nnx.Rngs(0))
    x = jnp.asarray(np.random.default_rng(1).standard_normal((2, 32, 4)), jnp.float32)
    forward = nnx.jit(lambda m, x: m(x))
    y = forward(blk, x)
    assert y.shape == x.shape and np.all(np.isfinite(np.asarray(y)))
    # causal: perturbing the input at t ≥ 20 leaves outputs before 20 untouched
    y2 = forward(blk, x.at[:, 20:].add(5.0))
    assert np.allclose(np.asarray(y[:, :20]), np.asarray(y2[:, :20]), atol=1e-5)

    @nnx.jit
    def loss(m, x):
        return jnp.mean(m(x) ** 2)

    grads = nnx.grad(loss)(blk, x)
    leaves = jax.tree.leaves(nnx.state(grads, nnx.Param))
    assert all(np.all(np.isfinite(np.asarray(g))) for g in leaves)
    assert sum(float(jnp.sum(jnp.abs(g))) for g in leaves) > 0


def test_long_conv_block_shorter_sequences():
    blk = conv.LongConvBlock(4, 32, kernel="s4d", state_size=4, rngs=nnx.Rngs(0))
    x = jnp.asarray(np.random.default_rng(1).standard_normal((2, 17, 4)), jnp.float32)
    forward = nnx.jit(lambda m, x: m(x))
    y = forward(blk, x)
    assert y.shape == (2, 17, 4)
    assert blk.kernel().shape == (4, 32) and blk.kernel(17).shape == (4, 17)
    # the first 17 outputs of a length-32 input that starts with x are the same
    y_long = forward(blk, jnp.concatenate([x, jnp.ones((2, 15, 4))], axis=1))
    assert np.allclose(np.asarray(y), np.asarray(y_long[:, :17]), atol=1e-5)


def test_long_conv_block_regularised_free_kernel():
    blk = conv.LongConvBlock(3, 40, kernel="free", squash_lambda=0.05, smooth_width=5, rngs=nnx.Rngs(0))
    k = np.asarray(blk.kernel())
    raw = np.asarray(blk.k[...])
    assert np.allclose(k, np.asarray(conv.smooth(conv.squash(raw, 0.05), 5)))


def test_long_conv_block_errors():
    with pytest.raises(ValueError, match="kernel"):
        conv.LongConvBlock(4, 16, kernel="fourier", rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match="odd"):
        conv.LongConvBlock(4, 16, smooth_width=4, rngs=nnx.Rngs(0))
    blk = conv.LongConvBlock(4, 16, rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match="exceeds"):
        blk(jnp.ones((1, 17, 4)))
    with pytest.raises(ValueError, match="shape"):
        blk(jnp.ones((1, 16, 3)))
