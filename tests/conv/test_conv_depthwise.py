"""depthwise_conv vs lax and NumPy brute force (1-D/2-D/3-D), gradients, errors, properties."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conv_numpy_ref import depthwise_bruteforce, rel_err
from hypothesis import given, settings
from hypothesis import strategies as st

from ntkbook import conv

TOL = {"float64": 1e-12, "float32": 1e-5, "bfloat16": 2e-2}


def _xw(seed, x_shape, k_shape, dtype=jnp.float32):
    rng = np.random.default_rng(seed)
    x = jnp.asarray(rng.standard_normal(x_shape), dtype)
    w = jnp.asarray(rng.standard_normal(k_shape) / np.sqrt(np.prod(k_shape[:-1])), dtype)
    return x, w


def _check(x, w, tol, **kw):
    exact = depthwise_bruteforce(x, w, kw.get("strides_t"), kw["padding"], kw.get("dilation_t"))
    for impl in ("xla", "reference"):
        y = conv.depthwise_conv(x, w, strides=kw["strides"], padding=kw["padding"],
                                dilation=kw["dilation"], implementation=impl)
        assert y.shape == exact.shape, (impl, y.shape, exact.shape)
        assert y.dtype == x.dtype
        assert rel_err(y, exact) < tol, impl


CASES_1D = [
    ((2, 17, 3), (5, 3), 1, "SAME", 1),
    ((2, 17, 3), (5, 3), 2, "VALID", 1),
    ((1, 16, 2), (3, 2), 1, "CAUSAL", 3),
    ((2, 9, 4), (9, 4), 3, "SAME", 1),
    ((1, 12, 2), (4, 2), 1, ((2, 5),), 2),
]
CASES_2D = [
    ((2, 9, 8, 3), (3, 3, 3), 1, "SAME", 1),
    ((1, 10, 7, 2), (5, 3, 2), (2, 1), "VALID", 1),
    ((1, 11, 11, 2), (3, 3, 2), 1, "SAME", (2, 3)),
    ((2, 8, 9, 1), (4, 4, 1), 2, "SAME", 1),
    ((1, 7, 6, 2), (2, 3, 2), (1, 2), "VALID", (2, 1)),
]
CASES_3D = [
    ((1, 5, 6, 4, 2), (3, 3, 3, 2), 1, "SAME", 1),
    ((1, 6, 5, 7, 1), (2, 3, 3, 1), (1, 2, 1), "VALID", (1, 1, 2)),
]


@pytest.mark.parametrize("x_shape,k_shape,strides,padding,dilation", CASES_1D + CASES_2D + CASES_3D)
def test_matches_bruteforce(x_shape, k_shape, strides, padding, dilation):
    d = len(x_shape) - 2
    st_t = strides if isinstance(strides, tuple) else (strides,) * d
    dl_t = dilation if isinstance(dilation, tuple) else (dilation,) * d
    x, w = _xw(sum(x_shape), x_shape, k_shape)
    _check(x, w, TOL["float32"], strides=strides, padding=padding, dilation=dilation,
           strides_t=st_t, dilation_t=dl_t)


PALLAS_CASES = [
    ((2, 17, 3), (5, 3), 1, "SAME", 1),
    ((1, 10, 7, 2), (5, 3, 2), (2, 1), "VALID", 1),
    ((1, 11, 9, 40), (3, 3, 40), 1, "SAME", (2, 3)),      # two channel blocks, one partial
    ((1, 5, 6, 4, 2), (3, 3, 3, 2), 1, "CAUSAL", 1),
]


@pytest.mark.parametrize("x_shape,k_shape,strides,padding,dilation", PALLAS_CASES)
def test_pallas_kernel_interpret(x_shape, k_shape, strides, padding, dilation):
    d = len(x_shape) - 2
    st_t = strides if isinstance(strides, tuple) else (strides,) * d
    dl_t = dilation if isinstance(dilation, tuple) else (dilation,) * d
    x, w = _xw(len(x_shape), x_shape, k_shape)
    y = conv.depthwise_conv(x, w, strides=strides, padding=padding, dilation=dilation,
                            implementation="pallas")
    exact = depthwise_bruteforce(x, w, st_t, padding, dl_t)
    assert y.shape == exact.shape and y.dtype == x.dtype
    assert rel_err(y, exact) < TOL["float32"]


def test_pallas_large_kernel_and_gradients():
    x, w = _xw(6, (1, 16, 16, 2), (31, 31, 2))
    assert rel_err(conv.depthwise_conv(x, w, implementation="pallas"), conv.depthwise_conv(x, w)) < 1e-5

    def loss(impl):
        return lambda x, w: jnp.sum(conv.depthwise_conv(x, w, strides=2, implementation=impl) ** 2)

    x, w = _xw(7, (2, 9, 8, 3), (3, 3, 3))
    gp = jax.grad(loss("pallas"), argnums=(0, 1))(x, w)
    gr = jax.grad(loss("reference"), argnums=(0, 1))(x, w)
    assert rel_err(gp[0], gr[0]) < 1e-5 and rel_err(gp[1], gr[1]) < 1e-5


def test_float64(x64):
    x, w = _xw(0, (1, 9, 7, 2), (3, 5, 2), jnp.float64)
    _check(x, w, TOL["float64"], strides=(2, 1), padding="SAME", dilation=(1, 2),
           strides_t=(2, 1), dilation_t=(1, 2))


def test_bfloat16_accumulates_in_float32():
    x, w = _xw(1, (2, 12, 12, 3), (7, 7, 3), jnp.bfloat16)
    exact = depthwise_bruteforce(np.asarray(x, np.float64), np.asarray(w, np.float64), (1, 1), "SAME", (1, 1))
    for impl in ("xla", "reference"):
        y = conv.depthwise_conv(x, w, implementation=impl)
        assert y.dtype == jnp.bfloat16
        assert rel_err(y, exact) < TOL["bfloat16"], impl


def test_large_kernel_31x31_on_small_image():
    """A 31×31 kernel on a 16×16 image: SAME padding makes every output see the whole image."""
    x, w = _xw(2, (1, 16, 16, 2), (31, 31, 2))
    lax_y = jax.lax.conv_general_dilated(
        x, w[:, :, None, :], (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC"),
        feature_group_count=2, precision=jax.lax.Precision.HIGHEST)
    y = conv.depthwise_conv(x, w)
    y_ref = conv.depthwise_conv(x, w, implementation="reference")
    assert rel_err(y, lax_y) < 1e-6
    assert rel_err(y_ref, lax_y) < 1e-5
    # spot-check one output pixel against the explicit sum
    xn, wn = np.asarray(x, np.float64), np.asarray(w, np.float64)
    xp = np.pad(xn, [(0, 0), (15, 15), (15, 15), (0, 0)])
    i, j = 3, 11
    expect = np.einsum("hwc,hwc->c", xp[0, i:i + 31, j:j + 31], wn)
    assert np.allclose(np.asarray(y)[0, i, j], expect, atol=1e-5)
    with pytest.raises(ValueError, match="larger than"):
        conv.depthwise_conv(x, w, padding="VALID")


def test_long_1d_kernel_equals_causal_fft_conv():
    """CAUSAL depthwise correlation with a flipped kernel is the causal convolution of fft_conv."""
    rng = np.random.default_rng(3)
    u = jnp.asarray(rng.standard_normal((2, 3, 40)), jnp.float32)
    k = jnp.asarray(rng.standard_normal((3, 40)) / 6, jnp.float32)
    y_fft = conv.fft_conv(u, k)
    y_dw = conv.depthwise_conv(jnp.swapaxes(u, 1, 2), jnp.flip(k, -1).T, padding="CAUSAL")
    assert rel_err(jnp.swapaxes(y_dw, 1, 2), y_fft) < 1e-5


@pytest.mark.parametrize("strides,dilation,padding", [(1, 1, "SAME"), (2, 2, "VALID"), (1, 3, "CAUSAL")])
def test_gradients_match_reference(strides, dilation, padding):
    x, w = _xw(4, (2, 10, 9, 2), (3, 3, 2))
    cot = jnp.asarray(np.random.default_rng(5).standard_normal(
        conv.conv_output_shape(x.shape, w.shape, strides=strides, padding=padding, dilation=dilation)),
        jnp.float32)

    def loss(impl):
        return lambda x, w: jnp.sum(cot * conv.depthwise_conv(
            x, w, strides=strides, padding=padding, dilation=dilation, implementation=impl))

    gx, gw = jax.grad(loss("xla"), argnums=(0, 1))(x, w)
    rx, rw = jax.grad(loss("reference"), argnums=(0, 1))(x, w)
    assert rel_err(gx, rx) < 1e-5 and rel_err(gw, rw) < 1e-5


def test_conv_output_shape():
    assert conv.conv_output_shape((2, 56, 56, 8), (31, 31, 8)) == (2, 56, 56, 8)
    assert conv.conv_output_shape((2, 56, 56, 8), (7, 7, 8), padding="VALID", strides=2) == (2, 25, 25, 8)
    assert conv.conv_output_shape((1, 20, 4), (3, 4), padding="CAUSAL", dilation=4) == (1, 20, 4)


def test_errors():
    x = jnp.ones((1, 8, 8, 2))
    w = jnp.ones((3, 3, 2))
    with pytest.raises(ValueError, match="rank"):
        conv.depthwise_conv(jnp.ones((8, 2)), jnp.ones((3, 2)))
    with pytest.raises(ValueError, match="rank"):
        conv.depthwise_conv(jnp.ones((1, 2, 2, 2, 2, 2, 2)), jnp.ones((3, 2)))
    with pytest.raises(ValueError, match="rank 3"):
        conv.depthwise_conv(x, jnp.ones((3, 2)))
    with pytest.raises(ValueError, match="channels"):
        conv.depthwise_conv(x, jnp.ones((3, 3, 3)))
    with pytest.raises(ValueError, match="larger than"):
        conv.depthwise_conv(x, jnp.ones((9, 3, 2)), padding="VALID")
    with pytest.raises(ValueError, match="larger than"):
        conv.depthwise_conv(x, w, padding="VALID", dilation=4)
    with pytest.raises(ValueError, match="dilation"):
        conv.depthwise_conv(x, w, dilation=0)
    with pytest.raises(ValueError, match="dilation"):
        conv.depthwise_conv(x, w, dilation=(1, -2))
    with pytest.raises(ValueError, match="strides"):
        conv.depthwise_conv(x, w, strides=(1, 1, 1))
    with pytest.raises(ValueError, match="strides"):
        conv.depthwise_conv(x, w, strides=0)
    with pytest.raises(ValueError, match="padding"):
        conv.depthwise_conv(x, w, padding="FULL")
    with pytest.raises(ValueError, match="padding"):
        conv.depthwise_conv(x, w, padding=((1, 1),))
    with pytest.raises(ValueError, match="padding"):
        conv.depthwise_conv(x, w, padding=((1, -1), (0, 0)))
    with pytest.raises(ValueError, match="dtype"):
        conv.depthwise_conv(x.astype(jnp.complex64), w)
    with pytest.raises(ValueError, match="NaN"):
        conv.depthwise_conv(x, w.at[0, 0, 0].set(jnp.inf))
    with pytest.raises(ValueError, match="implementation"):
        conv.depthwise_conv(x, w, implementation="triton")


@settings(max_examples=10, deadline=None)
@given(d=st.integers(1, 2), data=st.data())
def test_property_random_configs(d, data):
    sizes = [data.draw(st.integers(1, 9)) for _ in range(d)]
    ks = [data.draw(st.integers(1, 4)) for _ in range(d)]
    strides = tuple(data.draw(st.integers(1, 3)) for _ in range(d))
    dil = tuple(data.draw(st.integers(1, 3)) for _ in range(d))
    padding = data.draw(st.sampled_from(["SAME", "VALID", "CAUSAL"]))
    eff = [r * (k - 1) + 1 for k, r in zip(ks, dil)]
    if padding == "VALID" and any(e > n for e, n in zip(eff, sizes)):
        with pytest.raises(ValueError):
            conv.depthwise_conv(jnp.ones((1, *sizes, 2)), jnp.ones((*ks, 2)), padding="VALID", dilation=dil)
        return
    x, w = _xw(data.draw(st.integers(0, 999)), (2, *sizes, 2), (*ks, 2))
    exact = depthwise_bruteforce(x, w, strides, padding, dil)
    y = conv.depthwise_conv(x, w, strides=strides, padding=padding, dilation=dil)
    assert y.shape == exact.shape
    assert rel_err(y, exact) < 1e-5
