"""Long convolutions by FFT: ``fft_conv`` (1-D, causal or circular), ``fft_conv2d``, four-step FFT.

Convention: these are *convolutions* (the kernel is flipped), as in signal processing and in
state-space / long-convolution models: ``y[t] = Σ_j k[j] · u[t − j]``.
"""

from __future__ import annotations

import math
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from .._validate import check_finite, check_ndim, check_positive_int
from ._common import as_conv_array, check_implementation, compute_dtype

__all__ = ["next_fast_len", "fft_conv", "fft_conv2d", "monarch_fft", "monarch_ifft", "monarch_conv"]


def next_fast_len(n: int) -> int:
    """Smallest ``m ≥ n`` of the form ``2^a · 3^b · 5^c`` (a size every FFT library handles fast).

    Parameters
    ----------
    n : int
        Target length, ``n ≥ 1``.

    Returns
    -------
    int

    Examples
    --------
    >>> next_fast_len(97), next_fast_len(128), next_fast_len(1)
    (100, 128, 1)
    """
    n = check_positive_int(n, "n")
    best = 1 << max(n - 1, 0).bit_length()  # a power of two ≥ n is always a candidate
    p5 = 1
    while p5 < best:
        p35 = p5
        while p35 < best:
            # the smallest power of two making p35 · 2^a ≥ n
            quotient = -(-n // p35)
            m = p35 * (1 << max(quotient - 1, 0).bit_length())
            if m < best:
                best = m
            p35 *= 3
        p5 *= 5
    return best


# ---------------------------------------------------------------------------------------------
# fft_conv
# ---------------------------------------------------------------------------------------------

def _check_fft_conv_inputs(u: Any, k: Any) -> tuple[jnp.ndarray, jnp.ndarray]:
    u = as_conv_array(u, "u")
    k = as_conv_array(k, "k")
    check_ndim(u, "u", 3)
    check_ndim(k, "k", (2, 3))
    b, c, length = u.shape
    if min(b, c, length) < 1:
        raise ValueError(f"u must have positive sizes (B, C, L), got shape {tuple(u.shape)}")
    if k.shape[-2] != c:
        raise ValueError(f"k must have C={c} channels on axis -2 to match u {tuple(u.shape)}, "
                         f"got k {tuple(k.shape)}")
    if k.ndim == 3 and k.shape[0] != b:
        raise ValueError(f"a batched kernel k (B, C, Lk) must have B={b}, got {tuple(k.shape)}")
    lk = k.shape[-1]
    if lk < 1:
        raise ValueError(f"k must have a positive length, got shape {tuple(k.shape)}")
    if lk > length:
        raise ValueError(f"kernel length Lk={lk} exceeds the sequence length L={length}; "
                         "pad u or crop k")
    check_finite(u, "u")
    check_finite(k, "k")
    return u, k


@partial(jax.jit, static_argnums=2)
def _fft_conv_xla(u: jnp.ndarray, k: jnp.ndarray, causal: bool) -> jnp.ndarray:
    length, lk = u.shape[-1], k.shape[-1]
    cd = compute_dtype(u.dtype, k.dtype)
    n = next_fast_len(length + lk - 1) if causal else length
    u_hat = jnp.fft.rfft(u.astype(cd), n=n, axis=-1)
    k_hat = jnp.fft.rfft(k.astype(cd), n=n, axis=-1)
    return jnp.fft.irfft(u_hat * k_hat, n=n, axis=-1)[..., :length]


def _direct_conv1d(u: jnp.ndarray, k: jnp.ndarray, causal: bool) -> jnp.ndarray:
    """O(L·Lk) direct depthwise convolution with a shared kernel, u (B, C, L), k (C, Lk)."""
    length, lk = u.shape[-1], k.shape[-1]
    if causal:
        u_pad = jnp.pad(u, ((0, 0), (0, 0), (lk - 1, 0)))
    else:  # circular: prepend the last Lk-1 samples
        u_pad = jnp.concatenate([u[..., length - (lk - 1):], u], axis=-1) if lk > 1 else u
    # lax convs are cross-correlations: flip the kernel to convolve.
    rhs = jnp.flip(k, axis=-1)[:, None, :]
    return lax.conv_general_dilated(
        u_pad, rhs, window_strides=(1,), padding="VALID",
        dimension_numbers=("NCH", "OIH", "NCH"), feature_group_count=u.shape[1],
        precision=lax.Precision.HIGHEST)


@partial(jax.jit, static_argnums=2)
def _fft_conv_reference(u: jnp.ndarray, k: jnp.ndarray, causal: bool) -> jnp.ndarray:
    cd = compute_dtype(u.dtype, k.dtype)
    u, k = u.astype(cd), k.astype(cd)
    if k.ndim == 2:
        return _direct_conv1d(u, k, causal)
    return jax.vmap(lambda ub, kb: _direct_conv1d(ub[None], kb, causal)[0])(u, k)


def _pow2(n: int) -> int:
    return 1 << max(n - 1, 0).bit_length()


def _direct_pallas_fwd_impl(u: jnp.ndarray, k: jnp.ndarray, causal: bool, interpret: bool) -> jnp.ndarray:
    """Blocked direct convolution in Pallas: one program per (sequence, block of channels).

    Each program holds its channels' whole (padded) sequence and accumulates ``k[:, j] · shift_j(u)``
    over the taps in the accumulation dtype. Block shapes are padded to powers of two (Triton).
    """
    from jax.experimental import pallas as pl

    from .._pallas import triton_params

    b, c, length = u.shape
    kb = k if k.ndim == 3 else k[None]
    lk = kb.shape[-1]
    acc_dtype = compute_dtype(u.dtype, k.dtype)
    l2 = _pow2(length)
    lp = _pow2(l2 + lk - 1)
    lk2 = _pow2(lk)
    bc = min(_pow2(c), 8)
    cp = -(-c // bc) * bc
    if causal:
        up = jnp.pad(u, ((0, 0), (0, cp - c), (lk - 1, lp - (lk - 1) - length)))
    else:
        wrapped = jnp.concatenate([u[..., length - (lk - 1):], u], axis=-1) if lk > 1 else u
        up = jnp.pad(wrapped, ((0, 0), (0, cp - c), (0, lp - (lk - 1) - length)))
    kp = jnp.pad(kb, ((0, 0), (0, cp - c), (0, lk2 - lk)))
    per_sample = kb.shape[0] == b and k.ndim == 3

    def kernel(u_ref, k_ref, o_ref):
        def tap(j, acc):
            seg = u_ref[0, :, pl.ds(lk - 1 - j, l2)].astype(acc_dtype)
            kj = k_ref[0, :, pl.ds(j, 1)].astype(acc_dtype)
            return acc + seg * kj

        acc = lax.fori_loop(0, lk, tap, jnp.zeros((bc, l2), acc_dtype))
        o_ref[0] = acc.astype(o_ref.dtype)

    k_map = (lambda i, j: (i, j, 0)) if per_sample else (lambda i, j: (0, j, 0))
    out = pl.pallas_call(
        kernel,
        out_shape=jax.ShapeDtypeStruct((b, cp, l2), acc_dtype),
        grid=(b, cp // bc),
        in_specs=[pl.BlockSpec((1, bc, lp), lambda i, j: (i, j, 0)), pl.BlockSpec((1, bc, lk2), k_map)],
        out_specs=pl.BlockSpec((1, bc, l2), lambda i, j: (i, j, 0)),
        interpret=interpret,
        compiler_params=triton_params(interpret),
    )(up, kp)
    return out[:, :c, :length]


@partial(jax.custom_vjp, nondiff_argnums=(2, 3))
def _direct_pallas(u, k, causal, interpret):
    return _direct_pallas_fwd_impl(u, k, causal, interpret)


def _direct_pallas_fwd(u, k, causal, interpret):
    return _direct_pallas_fwd_impl(u, k, causal, interpret), (u, k)


def _direct_pallas_bwd(causal, interpret, res, g):
    u, k = res
    # ∂u[s] = Σ_j k[j] g[s + j]: the same convolution applied to the time-reversed cotangent.
    gu = jnp.flip(_direct_pallas_fwd_impl(jnp.flip(g, -1), k, causal, interpret), -1)
    # ∂k[j] = Σ_t g[t] u[t − j]: a cross-correlation, by FFT (zero-padded for the causal case).
    length, lk = u.shape[-1], k.shape[-1]
    n = next_fast_len(length + lk - 1) if causal else length
    cd = compute_dtype(u.dtype, k.dtype)
    r = jnp.fft.irfft(jnp.fft.rfft(g.astype(cd), n=n) * jnp.conj(jnp.fft.rfft(u.astype(cd), n=n)), n=n)
    gk = r[..., :lk]
    if k.ndim == 2:
        gk = jnp.sum(gk, axis=0)
    return gu.astype(u.dtype), gk.astype(k.dtype)


_direct_pallas.defvjp(_direct_pallas_fwd, _direct_pallas_bwd)


@partial(jax.jit, static_argnums=(2, 3))
def _fft_conv_pallas(u: jnp.ndarray, k: jnp.ndarray, causal: bool, interpret: bool) -> jnp.ndarray:
    return _direct_pallas(u, k, causal, interpret)


def fft_conv(u: Any, k: Any, *, causal: bool = True, implementation: str | None = None) -> jnp.ndarray:
    """Depthwise long convolution of sequences with per-channel kernels.

    ``causal=True`` computes the linear (zero-padded) causal convolution
    ``y[b, c, t] = Σ_{j=0}^{min(t, Lk−1)} k[c, j] · u[b, c, t − j]``;
    ``causal=False`` the circular one, ``y[b, c, t] = Σ_j k[c, j] · u[b, c, (t − j) mod L]``.

    Parameters
    ----------
    u : array, shape (B, C, L)
        Input sequences (channels first). Any ``L ≥ 1``.
    k : array, shape (C, Lk) or (B, C, Lk)
        Kernels, ``1 ≤ Lk ≤ L``; a 3-D ``k`` gives every sequence its own kernel (input-dependent
        kernels such as HyperZ·Z·W).
    causal : bool
        Zero padding (causal, linear convolution) or wrap-around (circular).
    implementation : {"reference", "xla", "pallas", None}
        ``"reference"``: direct O(L·Lk) convolution (``lax.conv_general_dilated`` with one group per
        channel). ``"xla"``: real FFTs of size ``next_fast_len(L + Lk − 1)`` (causal) or ``L``
        (circular) — O(L log L). ``"pallas"``: a blocked *direct* convolution kernel (O(L·Lk), one
        program per sequence and block of 8 channels holding the whole sequence; meant for short
        kernels, Lk ≲ 128, and L up to a few thousand; runs with ``interpret=True`` on CPU; its
        backward pass reuses the kernel for ∂u and an FFT correlation for ∂k). There is no Pallas
        *FFT* kernel yet. ``None``: the fastest available on the current backend (``"xla"``).

    Returns
    -------
    array, shape (B, C, L)
        In the promoted input dtype. Half-precision (bf16/f16) inputs are transformed and
        accumulated in float32 and the result rounded once at the end.

    Raises
    ------
    ValueError
        On wrong ranks, channel mismatch, ``Lk > L``, non-positive sizes, NaN/inf or unsupported dtype.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> u = jnp.array([[[1.0, 2.0, 3.0, 4.0]]])
    >>> [round(v, 4) for v in fft_conv(u, jnp.array([[1.0, 1.0]]))[0, 0].tolist()]
    [1.0, 3.0, 5.0, 7.0]
    >>> [round(v, 4) for v in fft_conv(u, jnp.array([[1.0, 1.0]]), causal=False)[0, 0].tolist()]
    [5.0, 3.0, 5.0, 7.0]
    """
    impl = check_implementation(implementation, "fft_conv")
    if not isinstance(causal, (bool, np.bool_)):
        raise ValueError(f"causal must be a bool, got {causal!r}")
    u, k = _check_fft_conv_inputs(u, k)
    out_dtype = jnp.result_type(u.dtype, k.dtype)
    if impl is None:
        impl = "xla"
    if impl == "pallas":
        interpret = jax.default_backend() not in ("gpu", "tpu")
        return _fft_conv_pallas(u, k, bool(causal), interpret).astype(out_dtype)
    if impl == "reference":
        y = _fft_conv_reference(u, k, bool(causal))
    else:
        y = _fft_conv_xla(u, k, bool(causal))
    return y.astype(out_dtype)


# ---------------------------------------------------------------------------------------------
# fft_conv2d
# ---------------------------------------------------------------------------------------------

_MODES2D = ("full", "same", "circular")


def fft_conv2d(x: Any, k: Any, *, mode: str = "same") -> jnp.ndarray:
    """2-D depthwise convolution by FFT (true convolution, as ``scipy.signal.fftconvolve``).

    Parameters
    ----------
    x : array, shape (B, C, H, W)
    k : array, shape (C, Hk, Wk)
        One kernel per channel. For ``mode="circular"`` it must fit: ``Hk ≤ H``, ``Wk ≤ W``.
    mode : {"full", "same", "circular"}
        ``"full"``: output (B, C, H + Hk − 1, W + Wk − 1); ``"same"``: the centre (B, C, H, W) of the
        full output (scipy's convention); ``"circular"``: periodic convolution on the H×W torus.

    Returns
    -------
    array in the promoted input dtype (float32 accumulation for half precision).

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> x = jnp.zeros((1, 1, 3, 3)).at[0, 0, 1, 1].set(1.0)
    >>> k = jnp.arange(9.0).reshape(1, 3, 3)
    >>> bool(jnp.allclose(fft_conv2d(x, k)[0, 0], k[0], atol=1e-5))
    True
    """
    if mode not in _MODES2D:
        raise ValueError(f"mode must be one of {_MODES2D}, got {mode!r}")
    x = as_conv_array(x, "x")
    k = as_conv_array(k, "k")
    check_ndim(x, "x", 4)
    check_ndim(k, "k", 3)
    if min(x.shape) < 1 or min(k.shape) < 1:
        raise ValueError(f"x and k must have positive sizes, got {tuple(x.shape)} and {tuple(k.shape)}")
    if k.shape[0] != x.shape[1]:
        raise ValueError(f"k must have C={x.shape[1]} channels, got shape {tuple(k.shape)}")
    h, w = x.shape[-2:]
    hk, wk = k.shape[-2:]
    if mode == "circular" and (hk > h or wk > w):
        raise ValueError(f"circular mode needs the kernel {hk}x{wk} to fit in the input {h}x{w}")
    check_finite(x, "x")
    check_finite(k, "k")
    out_dtype = jnp.result_type(x.dtype, k.dtype)
    cd = compute_dtype(x.dtype, k.dtype)
    if mode == "circular":
        shape = (h, w)
    else:
        shape = (next_fast_len(h + hk - 1), next_fast_len(w + wk - 1))
    x_hat = jnp.fft.rfft2(x.astype(cd), s=shape, axes=(-2, -1))
    k_hat = jnp.fft.rfft2(k.astype(cd), s=shape, axes=(-2, -1))
    y = jnp.fft.irfft2(x_hat * k_hat, s=shape, axes=(-2, -1))
    if mode == "full":
        y = y[..., : h + hk - 1, : w + wk - 1]
    elif mode == "same":
        r0, c0 = (hk - 1) // 2, (wk - 1) // 2
        y = y[..., r0: r0 + h, c0: c0 + w]
    return y.astype(out_dtype)


# ---------------------------------------------------------------------------------------------
# Four-step ("Monarch") FFT
# ---------------------------------------------------------------------------------------------

def _default_split(n: int) -> int:
    best = 1
    for d in range(1, int(math.isqrt(n)) + 1):
        if n % d == 0:
            best = d
    return best


def _dft_matrix(n: int, dtype: Any) -> jnp.ndarray:
    idx = np.arange(n)
    # reduce the exponent mod n before the trig call to keep it accurate for large n
    phase = -2.0 * np.pi * ((idx[:, None] * idx[None, :]) % n) / n
    return jnp.asarray(np.exp(1j * phase), dtype=dtype)


def monarch_fft(x: Any, *, n1: int | None = None) -> jnp.ndarray:
    """Discrete Fourier transform along the last axis by the four-step (Monarch) algorithm.

    With ``N = n1 · n2`` the length-``N`` DFT becomes: ``n1`` DFTs of size ``n2`` (a batched matmul),
    an elementwise twiddle ``exp(−2πi·a·b/N)``, ``n2`` DFTs of size ``n1`` (a second matmul) and a
    transpose — two block-diagonal factors and permutations, i.e. a Monarch matrix. This is the
    structure FlashFFTConv/FlashButterfly map onto matrix-multiply units.

    Parameters
    ----------
    x : array, shape (..., N), real or complex
    n1 : int, optional
        A divisor of ``N``; default the largest divisor ≤ √N.

    Returns
    -------
    complex array, shape (..., N), equal to ``jnp.fft.fft(x, axis=-1)``.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> x = jnp.arange(12.0)
    >>> bool(jnp.allclose(monarch_fft(x, n1=3), jnp.fft.fft(x), atol=1e-3))
    True
    """
    x = jnp.asarray(x)
    if x.ndim < 1 or x.shape[-1] < 1:
        raise ValueError(f"x must have a non-empty last axis, got shape {tuple(x.shape)}")
    n = x.shape[-1]
    if n1 is None:
        n1 = _default_split(n)
    n1 = check_positive_int(n1, "n1")
    if n % n1:
        raise ValueError(f"n1={n1} must divide the length N={n}")
    return _monarch_core(x, n1)


@partial(jax.jit, static_argnums=1)
def _monarch_core(x, n1):
    n = x.shape[-1]
    n2 = n // n1
    cdtype = jnp.result_type(x.dtype, jnp.complex64)
    xr = x.astype(cdtype).reshape(*x.shape[:-1], n2, n1)         # xr[..., b, a] = x[a + n1·b]
    hi = lax.Precision.HIGHEST
    y = jnp.einsum("kb,...ba->...ka", _dft_matrix(n2, cdtype), xr, precision=hi)  # size-n2 DFTs
    a = np.arange(n1)[None, :]
    kk = np.arange(n2)[:, None]
    twiddle = jnp.asarray(np.exp(-2j * np.pi * ((kk * a) % n) / n), dtype=cdtype)
    y = y * twiddle
    z = jnp.einsum("...ka,aj->...jk", y, _dft_matrix(n1, cdtype), precision=hi)  # size-n1 DFTs
    return z.reshape(*x.shape[:-1], n)                           # X[n2·j + k] = z[..., j, k]


def monarch_ifft(x: Any, *, n1: int | None = None) -> jnp.ndarray:
    """Inverse DFT along the last axis by the four-step algorithm (``jnp.fft.ifft`` equivalent).

    >>> import jax.numpy as jnp
    >>> x = jnp.arange(6.0)
    >>> bool(jnp.allclose(monarch_ifft(monarch_fft(x)).real, x, atol=1e-4))
    True
    """
    x = jnp.asarray(x)
    cdtype = jnp.result_type(x.dtype, jnp.complex64)
    x = x.astype(cdtype)
    return jnp.conj(monarch_fft(jnp.conj(x), n1=n1)) / x.shape[-1]


def monarch_conv(u: Any, k: Any, *, causal: bool = True, n1: int | None = None) -> jnp.ndarray:
    """``fft_conv`` computed with the four-step FFT (matmuls) instead of ``jnp.fft``.

    The transform length is ``2L`` (causal) or ``L`` (circular); pick ``L`` with small factors.
    Same shapes and semantics as :func:`fft_conv`; float32/float64 only (complex matmuls).

    >>> import jax.numpy as jnp
    >>> u = jnp.ones((1, 1, 8)); k = jnp.ones((1, 3))
    >>> [round(v, 3) for v in monarch_conv(u, k)[0, 0].tolist()]
    [1.0, 2.0, 3.0, 3.0, 3.0, 3.0, 3.0, 3.0]
    """
    u, k = _check_fft_conv_inputs(u, k)
    out_dtype = jnp.result_type(u.dtype, k.dtype)
    cd = compute_dtype(u.dtype, k.dtype)
    length = u.shape[-1]
    n = 2 * length if causal else length
    pad_u = [(0, 0)] * (u.ndim - 1) + [(0, n - length)]
    pad_k = [(0, 0)] * (k.ndim - 1) + [(0, n - k.shape[-1])]
    u_hat = monarch_fft(jnp.pad(u.astype(cd), pad_u), n1=n1)
    k_hat = monarch_fft(jnp.pad(k.astype(cd), pad_k), n1=n1)
    y = monarch_ifft(u_hat * k_hat, n1=n1).real[..., :length]
    return y.astype(out_dtype)

