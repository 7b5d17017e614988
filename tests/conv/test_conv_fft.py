"""fft_conv vs direct convolution (lax reference and NumPy brute force), gradients, errors, properties."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.fft
from conv_numpy_ref import conv1d_abs_scale, conv1d_bruteforce, rel_err
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ntkbook import conv

# max |y − y_exact| / max(|k| ⊛ |u|), per dtype (the exact result uses the dtype-rounded inputs)
TOL = {"float64": 1e-12, "float32": 2e-6, "bfloat16": 1e-2, "float16": 2e-3}
GRAD_TOL = {"float64": 1e-11, "float32": 2e-5}

LENGTHS = [1, 7, 64, 100, 257]


def _kernel_lengths(length):
    return sorted({1, max(1, length // 3), length})


CASES = [(L, Lk) for L in LENGTHS for Lk in _kernel_lengths(L)]


def _inputs(seed, b, c, length, lk, dtype):
    rng = np.random.default_rng(seed)
    u = jnp.asarray(rng.standard_normal((b, c, length)), dtype)
    k = jnp.asarray(rng.standard_normal((c, lk)) / np.sqrt(lk), dtype)
    return u, k


@pytest.mark.parametrize("causal", [True, False])
@pytest.mark.parametrize("L,Lk", CASES)
def test_matches_bruteforce_float32(L, Lk, causal):
    u, k = _inputs(L * 1000 + Lk, 2, 3, L, Lk, jnp.float32)
    exact = conv1d_bruteforce(u, k, causal)
    scale = conv1d_abs_scale(u, k, causal)
    # the reference is checked on every other case (it is the oracle of the gradient tests)
    impls = ("xla", None, "reference") if (L + Lk) % 2 == 0 else ("xla", None)
    for impl in impls:
        y = conv.fft_conv(u, k, causal=causal, implementation=impl)
        assert y.shape == u.shape and y.dtype == jnp.float32
        assert np.max(np.abs(np.asarray(y, np.float64) - exact)) / scale < TOL["float32"], impl


@pytest.mark.parametrize("causal", [True, False])
@pytest.mark.parametrize("L,Lk", [(7, 3), (257, 85)])
def test_matches_bruteforce_float64(x64, L, Lk, causal):
    u, k = _inputs(L + Lk, 2, 2, L, Lk, jnp.float64)
    exact = conv1d_bruteforce(u, k, causal)
    scale = conv1d_abs_scale(u, k, causal)
    for impl in ("xla", "reference"):
        y = conv.fft_conv(u, k, causal=causal, implementation=impl)
        assert y.dtype == jnp.float64
        assert np.max(np.abs(np.asarray(y) - exact)) / scale < TOL["float64"], impl


@pytest.mark.parametrize("dtype,L,Lk", [("bfloat16", 7, 7), ("bfloat16", 64, 21), ("bfloat16", 257, 257),
                                         ("float16", 100, 33)])
@pytest.mark.parametrize("causal", [True, False])
def test_half_precision_accumulates_in_float32(dtype, L, Lk, causal):
    u, k = _inputs(L, 2, 3, L, Lk, getattr(jnp, dtype))
    exact = conv1d_bruteforce(np.asarray(u, np.float64), np.asarray(k, np.float64), causal)
    scale = conv1d_abs_scale(np.asarray(u, np.float64), np.asarray(k, np.float64), causal)
    for impl in ("xla", "reference"):
        y = conv.fft_conv(u, k, causal=causal, implementation=impl)
        assert y.dtype == getattr(jnp, dtype)
        assert np.max(np.abs(np.asarray(y, np.float64) - exact)) / scale < TOL[dtype], impl


PALLAS_CASES = [(1, 1), (100, 1), (257, 33)]


@pytest.mark.parametrize("causal", [True, False])
@pytest.mark.parametrize("L,Lk", PALLAS_CASES)
def test_pallas_direct_kernel_interpret(L, Lk, causal):
    """The Pallas kernel (interpret mode on CPU): forward vs brute force, gradients vs reference."""
    u, k = _inputs(3 * L + Lk, 2, 9, L, Lk, jnp.float32)   # 9 channels: a partial channel block
    y = conv.fft_conv(u, k, causal=causal, implementation="pallas")
    exact = conv1d_bruteforce(u, k, causal)
    assert y.shape == u.shape and y.dtype == jnp.float32
    assert np.max(np.abs(np.asarray(y, np.float64) - exact)) / conv1d_abs_scale(u, k, causal) < TOL["float32"]
    if L < 257:
        return  # gradients (custom VJP) on the largest case only: interpret mode is slow to compile
    cot = jnp.asarray(np.random.default_rng(L).standard_normal(u.shape), jnp.float32)
    gu, gk = _grads("pallas", u, k, causal, cot)
    ru, rk = _grads("reference", u, k, causal, cot)
    assert rel_err(gu, ru) < GRAD_TOL["float32"] and rel_err(gk, rk) < GRAD_TOL["float32"]


def test_pallas_batched_kernels_and_bfloat16():
    rng = np.random.default_rng(2)
    u = jnp.asarray(rng.standard_normal((2, 3, 50)), jnp.float32)
    kb = jnp.asarray(rng.standard_normal((2, 3, 20)) / 4, jnp.float32)
    assert rel_err(conv.fft_conv(u, kb, implementation="pallas"), conv1d_bruteforce(u, kb)) < 1e-5
    g = jax.grad(lambda k: jnp.sum(conv.fft_conv(u, k, implementation="pallas") ** 2))(kb)
    r = jax.grad(lambda k: jnp.sum(conv.fft_conv(u, k, implementation="reference") ** 2))(kb)
    assert rel_err(g, r) < GRAD_TOL["float32"]
    ub, kh = u.astype(jnp.bfloat16), kb[0].astype(jnp.bfloat16)
    y = conv.fft_conv(ub, kh, implementation="pallas")
    un, kn = np.asarray(ub, np.float64), np.asarray(kh, np.float64)
    assert y.dtype == jnp.bfloat16
    assert np.max(np.abs(np.asarray(y, np.float64) - conv1d_bruteforce(un, kn))) / conv1d_abs_scale(un, kn) \
        < TOL["bfloat16"]


def test_mixed_dtypes_promote():
    u, k = _inputs(0, 1, 2, 16, 5, jnp.bfloat16)
    y = conv.fft_conv(u, k.astype(jnp.float32))
    assert y.dtype == jnp.float32


def test_batched_kernels_match_per_sample():
    rng = np.random.default_rng(1)
    u = jnp.asarray(rng.standard_normal((3, 2, 50)), jnp.float32)
    k = jnp.asarray(rng.standard_normal((3, 2, 17)), jnp.float32)
    for causal in (True, False):
        y = conv.fft_conv(u, k, causal=causal)
        yr = conv.fft_conv(u, k, causal=causal, implementation="reference")
        exact = conv1d_bruteforce(u, k, causal)
        assert rel_err(y, exact) < 1e-5 and rel_err(yr, exact) < 1e-5


def _grads(impl, u, k, causal, cot):
    def loss(u, k):
        return jnp.sum(conv.fft_conv(u, k, causal=causal, implementation=impl) * cot)
    return jax.grad(loss, argnums=(0, 1))(u, k)


@pytest.mark.parametrize("causal", [True, False])
@pytest.mark.parametrize("L,Lk", [(1, 1), (100, 33), (257, 256)])
def test_gradients_match_reference_float32(L, Lk, causal):
    u, k = _inputs(7 * L + Lk, 2, 3, L, Lk, jnp.float32)
    cot = jnp.asarray(np.random.default_rng(3).standard_normal(u.shape), jnp.float32)
    gu, gk = _grads("xla", u, k, causal, cot)
    ru, rk = _grads("reference", u, k, causal, cot)
    assert gu.shape == u.shape and gk.shape == k.shape
    assert rel_err(gu, ru) < GRAD_TOL["float32"]
    assert rel_err(gk, rk) < GRAD_TOL["float32"]


@pytest.mark.parametrize("causal", [True, False])
def test_gradients_match_bruteforce_float64(x64, causal):
    L, Lk = 37, 11
    u, k = _inputs(5, 2, 2, L, Lk, jnp.float64)
    cot = jnp.asarray(np.random.default_rng(4).standard_normal(u.shape))
    gu, gk = _grads("xla", u, k, causal, cot)
    # adjoint identities: ∂/∂k[c,j] = Σ_{b,t} cot[b,c,t] u[b,c,t−j]; ∂/∂u = correlation with k
    un, cn, kn = np.asarray(u), np.asarray(cot), np.asarray(k)
    exact_gk = np.zeros_like(kn)
    for j in range(Lk):
        shifted = np.roll(un, j, axis=-1)
        if causal:
            shifted[..., :j] = 0.0
        exact_gk[:, j] = np.sum(cn * shifted, axis=(0, 2))
    flipped = conv1d_bruteforce(cn[..., ::-1], kn, causal)[..., ::-1] if causal else None
    if not causal:
        flipped = np.zeros_like(un)
        for j in range(Lk):
            flipped += kn[None, :, j:j + 1] * np.roll(cn, -j, axis=-1)
    assert rel_err(gk, exact_gk) < GRAD_TOL["float64"]
    assert rel_err(gu, flipped) < GRAD_TOL["float64"]


def test_jit_and_vmap():
    u, k = _inputs(2, 2, 3, 40, 9, jnp.float32)
    f = jax.jit(lambda u, k: conv.fft_conv(u, k))
    assert rel_err(f(u, k), conv1d_bruteforce(u, k)) < 1e-5
    y = jax.vmap(lambda ui: conv.fft_conv(ui[None], k)[0])(u)
    assert rel_err(y, conv1d_bruteforce(u, k)) < 1e-5


def test_next_fast_len_matches_scipy():
    for n in list(range(1, 400)) + [1000, 1025, 4097, 10007, 65537]:
        m = conv.next_fast_len(n)
        assert m == scipy.fft.next_fast_len(n, real=True), n
    with pytest.raises(ValueError):
        conv.next_fast_len(0)


def test_monarch_fft_and_conv():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 48)) + 1j * rng.standard_normal((2, 48))
    for n1 in (None, 1, 6):
        assert np.max(np.abs(np.asarray(conv.monarch_fft(x, n1=n1)) - np.fft.fft(x))) < 1e-3
    assert np.max(np.abs(np.asarray(conv.monarch_ifft(x)) - np.fft.ifft(x))) < 1e-5
    u, k = _inputs(3, 2, 3, 64, 64, jnp.float32)
    for causal in (True, False):
        exact = conv1d_bruteforce(u, k, causal)
        assert rel_err(conv.monarch_conv(u, k, causal=causal), exact) < 1e-5
    with pytest.raises(ValueError):
        conv.monarch_fft(x, n1=5)


@pytest.mark.parametrize("mode", ["full", "same", "circular"])
def test_fft_conv2d_matches_scipy(mode):
    import scipy.signal
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 9, 12))
    k = rng.standard_normal((3, 4, 5))
    y = conv.fft_conv2d(jnp.asarray(x, jnp.float32), jnp.asarray(k, jnp.float32), mode=mode)
    if mode == "circular":
        ref = np.real(np.fft.ifft2(np.fft.fft2(x) * np.fft.fft2(k, s=(9, 12))[None]))
    else:
        ref = np.stack([np.stack([scipy.signal.convolve2d(x[b, c], k[c], mode=mode) for c in range(3)])
                        for b in range(2)])
    assert y.shape == ref.shape
    assert rel_err(y, ref) < 1e-5


# ---- bad input --------------------------------------------------------------------------------

def test_errors():
    u = jnp.ones((2, 3, 8))
    k = jnp.ones((3, 4))
    with pytest.raises(ValueError, match="exceeds"):
        conv.fft_conv(u, jnp.ones((3, 9)))
    with pytest.raises(ValueError, match="rank"):
        conv.fft_conv(jnp.ones((3, 8)), k)
    with pytest.raises(ValueError, match="rank"):
        conv.fft_conv(u, jnp.ones((4,)))
    with pytest.raises(ValueError, match="channels"):
        conv.fft_conv(u, jnp.ones((2, 4)))
    with pytest.raises(ValueError, match="B=2"):
        conv.fft_conv(u, jnp.ones((3, 3, 4)))
    with pytest.raises(ValueError, match="positive"):
        conv.fft_conv(jnp.ones((2, 3, 0)), jnp.ones((3, 0)))
    with pytest.raises(ValueError, match="dtype"):
        conv.fft_conv(u.astype(jnp.complex64), k)
    with pytest.raises(ValueError, match="NaN"):
        conv.fft_conv(u.at[0, 0, 0].set(jnp.nan), k)
    with pytest.raises(ValueError, match="implementation"):
        conv.fft_conv(u, k, implementation="cuda")
    with pytest.raises(ValueError, match="causal"):
        conv.fft_conv(u, k, causal="yes")
    with pytest.raises(ValueError, match="fit"):
        conv.fft_conv2d(jnp.ones((1, 1, 4, 4)), jnp.ones((1, 5, 2)), mode="circular")
    with pytest.raises(ValueError, match="mode"):
        conv.fft_conv2d(jnp.ones((1, 1, 4, 4)), jnp.ones((1, 2, 2)), mode="valid")


def test_integer_inputs_are_promoted():
    y = conv.fft_conv(jnp.ones((1, 1, 4), jnp.int32), jnp.ones((1, 2), jnp.int32))
    assert jnp.issubdtype(y.dtype, jnp.floating)
    assert np.allclose(y, [[[1, 2, 2, 2]]], atol=1e-5)


# ---- properties -------------------------------------------------------------------------------

@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(b=st.integers(1, 3), c=st.integers(1, 4), length=st.integers(1, 90), frac=st.floats(0.0, 1.0),
       causal=st.booleans(), seed=st.integers(0, 2**16))
def test_property_random_shapes(b, c, length, frac, causal, seed):
    lk = max(1, int(round(frac * length)))
    u, k = _inputs(seed, b, c, length, lk, jnp.float32)
    y = conv.fft_conv(u, k, causal=causal)
    exact = conv1d_bruteforce(u, k, causal)
    assert np.max(np.abs(np.asarray(y, np.float64) - exact)) / conv1d_abs_scale(u, k, causal) < 5e-6


@settings(max_examples=5, deadline=None)
@given(length=st.integers(2, 60), shift=st.integers(0, 59), seed=st.integers(0, 2**16))
def test_property_circular_is_shift_equivariant(length, shift, seed):
    u, k = _inputs(seed, 1, 2, length, length, jnp.float32)
    shift %= length
    y = conv.fft_conv(u, k, causal=False)
    y_shift = conv.fft_conv(jnp.roll(u, shift, axis=-1), k, causal=False)
    assert rel_err(y_shift, jnp.roll(y, shift, axis=-1)) < 1e-5


@settings(max_examples=5, deadline=None)
@given(length=st.integers(2, 60), t0=st.integers(1, 59), seed=st.integers(0, 2**16))
def test_property_causal_ignores_the_future(length, t0, seed):
    u, k = _inputs(seed, 1, 2, length, length, jnp.float32)
    t0 = 1 + (t0 - 1) % (length - 1)
    y = conv.fft_conv(u, k)
    y2 = conv.fft_conv(u.at[..., t0:].add(10.0), k)
    assert np.max(np.abs(np.asarray(y[..., :t0]) - np.asarray(y2[..., :t0]))) < 1e-4
