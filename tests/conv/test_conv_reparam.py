"""Structural re-parameterization: dilated/small branches and batch norm merge into one kernel exactly."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest
from conv_numpy_ref import rel_err
from hypothesis import given, settings
from hypothesis import strategies as st

from ntkbook import conv


def _bn_params(rng, c):
    return dict(mean=jnp.asarray(rng.standard_normal(c)), var=jnp.asarray(rng.uniform(0.5, 2.0, c)),
                gamma=jnp.asarray(rng.standard_normal(c)), beta=jnp.asarray(rng.standard_normal(c)))


def _bn(y, p, eps):
    return p["gamma"] * (y - p["mean"]) / jnp.sqrt(p["var"] + eps) + p["beta"]


def test_dilate_kernel():
    w = jnp.arange(6.0).reshape(3, 2, 1)
    d = conv.dilate_kernel(w, (2, 3))
    assert d.shape == (5, 4, 1)
    assert np.array_equal(np.asarray(d)[::2, ::3], np.asarray(w))
    assert float(jnp.sum(jnp.abs(d))) == float(jnp.sum(jnp.abs(w)))


def test_merge_3x3_5x5_dilated_and_bn_is_exact(x64):
    """7×7 + 3×3 + 5×5 + dilated 3×3 (r=2) branches, each with its own BN → one 7×7 conv + bias."""
    rng = np.random.default_rng(0)
    c, eps = 4, 1e-5
    x = jnp.asarray(rng.standard_normal((2, 12, 11, c)))
    branches = [((7, 7), 1), ((3, 3), 1), ((5, 5), 1), ((3, 3), 2)]
    weights = [jnp.asarray(rng.standard_normal((*k, c))) for k, _ in branches]
    biases = [jnp.asarray(rng.standard_normal(c)) for _ in branches]
    bns = [_bn_params(rng, c) for _ in branches]

    y_train = 0.0
    for w, b, (_, r), p in zip(weights, biases, branches, bns):
        y_train = y_train + _bn(conv.depthwise_conv(x, w, dilation=r) + b, p, eps)

    fused = [conv.fuse_batchnorm(w, b, eps=eps, **p) for w, b, p in zip(weights, biases, bns)]
    big = conv.merge_branches([f[0] for f in fused], dilations=[r for _, r in branches], target_size=7)
    bias = sum(f[1] for f in fused)
    assert big.shape == (7, 7, c) and big.dtype == jnp.float64
    y_deploy = conv.depthwise_conv(x, big) + bias
    assert rel_err(y_deploy, y_train) < 1e-10
    # the reference implementation agrees too
    y_ref = conv.depthwise_conv(x, big, implementation="reference") + bias
    assert rel_err(y_ref, y_train) < 1e-10


def test_merge_into_larger_target_and_1d(x64):
    rng = np.random.default_rng(1)
    x = jnp.asarray(rng.standard_normal((1, 30, 3)))
    ws = [jnp.asarray(rng.standard_normal((k, 3))) for k in (3, 5, 3)]
    dil = [1, 3, 4]
    y = sum(conv.depthwise_conv(x, w, dilation=r) for w, r in zip(ws, dil))
    big = conv.merge_branches(ws, dil, target_size=15)
    assert big.shape == (15, 3)
    assert rel_err(conv.depthwise_conv(x, big), y) < 1e-12
    # default target: the largest effective size (5 taps at r=3 → 13)
    assert conv.merge_branches(ws, dil).shape == (13, 3)


def test_fuse_batchnorm_without_bias_and_hwio(x64):
    rng = np.random.default_rng(2)
    x = jnp.asarray(rng.standard_normal((1, 6, 6, 3)))
    w = jnp.asarray(rng.standard_normal((3, 3, 3)))
    p = _bn_params(rng, 3)
    w2, b2 = conv.fuse_batchnorm(w, None, eps=1e-3, **p)
    assert rel_err(conv.depthwise_conv(x, w2) + b2, _bn(conv.depthwise_conv(x, w), p, 1e-3)) < 1e-12
    w_hwio = jnp.asarray(rng.standard_normal((3, 3, 2, 3)))
    w3, _ = conv.fuse_batchnorm(w_hwio, jnp.zeros(3), eps=1e-3, **p)
    assert w3.shape == w_hwio.shape


def test_errors():
    with pytest.raises(ValueError, match="centred"):
        conv.merge_branches([jnp.ones((3, 3, 1)), jnp.ones((2, 2, 1))], target_size=3)
    with pytest.raises(ValueError, match="centred"):
        conv.merge_branches([jnp.ones((5, 5, 1))], target_size=3)
    with pytest.raises(ValueError, match="incompatible"):
        conv.merge_branches([jnp.ones((3, 3, 1)), jnp.ones((3, 3, 2))])
    with pytest.raises(ValueError, match="one dilation"):
        conv.merge_branches([jnp.ones((3, 3, 1))], dilations=[1, 2])
    with pytest.raises(ValueError, match="non-empty"):
        conv.merge_branches([])
    with pytest.raises(ValueError, match="dilation"):
        conv.dilate_kernel(jnp.ones((3, 1)), 0)
    ones = jnp.ones(2)
    with pytest.raises(ValueError, match="shape"):
        conv.fuse_batchnorm(jnp.ones((3, 3, 2)), None, jnp.ones(3), ones, ones, ones)
    with pytest.raises(ValueError, match="positive"):
        conv.fuse_batchnorm(jnp.ones((3, 2)), None, ones, -ones, ones, ones, eps=0.0)


@settings(max_examples=5, deadline=None)
@given(data=st.data())
def test_property_merge_equals_sum_of_branches(data):
    n_br = data.draw(st.integers(1, 3))
    ks = [data.draw(st.sampled_from([1, 3, 5])) for _ in range(n_br)]
    dil = [data.draw(st.integers(1, 3)) for _ in range(n_br)]
    target = max(r * (k - 1) + 1 for k, r in zip(ks, dil)) + 2 * data.draw(st.integers(0, 2))
    rng = np.random.default_rng(data.draw(st.integers(0, 999)))
    x = jnp.asarray(rng.standard_normal((1, 13, 2)), jnp.float32)
    ws = [jnp.asarray(rng.standard_normal((k, 2)), jnp.float32) for k in ks]
    y = sum(conv.depthwise_conv(x, w, dilation=r) for w, r in zip(ws, dil))
    big = conv.merge_branches(ws, dil, target_size=target)
    assert rel_err(conv.depthwise_conv(x, big), y) < 1e-5
