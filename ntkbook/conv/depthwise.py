"""Depthwise (one filter per channel) convolutions in 1-D/2-D/3-D, and structural re-parameterization.

Layout is channels-last: ``x (B, *spatial, C)``, ``w (*kernel_spatial, C)``. Like every deep-learning
"convolution" these are cross-correlations: ``y[b, i, c] = Σ_t w[t, c] · x_pad[b, i·s + t·r, c]``.
"""

from __future__ import annotations

import math
from functools import partial
from typing import Any, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from .._validate import check_finite, check_ndim, is_concrete
from ._common import as_conv_array, check_implementation, compute_dtype, int_tuple

__all__ = ["depthwise_conv", "conv_output_shape", "dilate_kernel", "merge_branches", "fuse_batchnorm"]

_DIMENSION_NUMBERS = {
    1: ("NWC", "WIO", "NWC"),
    2: ("NHWC", "HWIO", "NHWC"),
    3: ("NDHWC", "DHWIO", "NDHWC"),
}


def _resolve_padding(padding: Any, in_sizes: Sequence[int], eff: Sequence[int],
                     strides: Sequence[int]) -> list[tuple[int, int]]:
    d = len(in_sizes)
    if isinstance(padding, str):
        mode = padding.upper()
        if mode == "VALID":
            return [(0, 0)] * d
        if mode == "SAME":
            pads = []
            for n, e, s in zip(in_sizes, eff, strides):
                out = -(-n // s)
                total = max((out - 1) * s + e - n, 0)
                pads.append((total // 2, total - total // 2))
            return pads
        if mode == "CAUSAL":
            return [(e - 1, 0) for e in eff]
        raise ValueError(f"padding must be 'SAME', 'VALID', 'CAUSAL' or {d} (lo, hi) pairs, got {padding!r}")
    try:
        pads = [tuple(p) for p in padding]
    except TypeError:
        raise ValueError(f"padding must be 'SAME', 'VALID', 'CAUSAL' or {d} (lo, hi) pairs, "
                         f"got {padding!r}") from None
    if len(pads) != d or any(len(p) != 2 for p in pads):
        raise ValueError(f"explicit padding needs {d} (lo, hi) pairs, got {padding!r}")
    out = []
    for lo, hi in pads:
        if any(isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 0 for v in (lo, hi)):
            raise ValueError(f"explicit padding must be non-negative ints, got {padding!r}")
        out.append((int(lo), int(hi)))
    return out


def _prepare(x: Any, w: Any, strides: Any, padding: Any, dilation: Any):
    x = as_conv_array(x, "x")
    w = as_conv_array(w, "w")
    check_ndim(x, "x", (3, 4, 5))
    d = x.ndim - 2
    if w.ndim != d + 1:
        raise ValueError(f"w must have rank {d + 1} (*kernel_spatial, C) for a {d}-D input x "
                         f"{tuple(x.shape)}, got w {tuple(w.shape)}")
    if min(x.shape) < 1 or min(w.shape) < 1:
        raise ValueError(f"x and w must have positive sizes, got {tuple(x.shape)} and {tuple(w.shape)}")
    if w.shape[-1] != x.shape[-1]:
        raise ValueError(f"w must have C={x.shape[-1]} channels (last axis), got {tuple(w.shape)}")
    strides = int_tuple(strides, d, "strides")
    dilation = int_tuple(dilation, d, "dilation")
    ksize = w.shape[:-1]
    eff = tuple(r * (k - 1) + 1 for k, r in zip(ksize, dilation))
    in_sizes = x.shape[1:-1]
    pads = _resolve_padding(padding, in_sizes, eff, strides)
    out_sizes = []
    for ax, (n, e, s, (lo, hi)) in enumerate(zip(in_sizes, eff, strides, pads)):
        span = n + lo + hi
        if span < e:
            raise ValueError(
                f"the (dilated) kernel, size {e} on spatial axis {ax}, is larger than the padded input "
                f"({span}); use padding='SAME' or a smaller kernel/dilation")
        out_sizes.append((span - e) // s + 1)
    check_finite(x, "x")
    check_finite(w, "w")
    return x, w, strides, dilation, tuple(pads), tuple(out_sizes)


def conv_output_shape(in_shape: Sequence[int], kernel_shape: Sequence[int], *, strides: Any = 1,
                      padding: Any = "SAME", dilation: Any = 1) -> tuple[int, ...]:
    """Output shape of :func:`depthwise_conv` for ``x.shape == in_shape`` and ``w.shape == kernel_shape``.

    >>> conv_output_shape((2, 56, 56, 8), (31, 31, 8), strides=2)
    (2, 28, 28, 8)
    """
    x = jax.ShapeDtypeStruct(tuple(in_shape), jnp.float32)
    w = jax.ShapeDtypeStruct(tuple(kernel_shape), jnp.float32)
    out = jax.eval_shape(lambda a, b: depthwise_conv(a, b, strides=strides, padding=padding,
                                                     dilation=dilation, implementation="xla"), x, w)
    return tuple(out.shape)


@partial(jax.jit, static_argnums=(2, 3, 4))
def _depthwise_xla(x, w, strides, dilation, pads):
    d = x.ndim - 2
    cd = compute_dtype(x.dtype, w.dtype)
    dtype = jnp.result_type(x.dtype, w.dtype)
    half = cd != dtype
    precision = None if half else lax.Precision.HIGHEST
    return lax.conv_general_dilated(
        x.astype(dtype), w.astype(dtype)[..., None, :], window_strides=strides, padding=pads,
        rhs_dilation=dilation, dimension_numbers=_DIMENSION_NUMBERS[d],
        feature_group_count=x.shape[-1], precision=precision,
        preferred_element_type=cd if half else None)


@partial(jax.jit, static_argnums=(2, 3, 4, 5))
def _depthwise_reference(x, w, strides, dilation, pads, out_sizes):
    """Shift-and-add over kernel taps in the accumulation dtype (a loop, so large kernels compile)."""
    cd = compute_dtype(x.dtype, w.dtype)
    xp = jnp.pad(x.astype(cd), [(0, 0), *pads, (0, 0)])
    ksize = w.shape[:-1]
    taps = math.prod(ksize)
    wflat = w.astype(cd).reshape(taps, w.shape[-1])
    spans = [(o - 1) * s + 1 for o, s in zip(out_sizes, strides)]
    sizes = (x.shape[0], *spans, x.shape[-1])
    take = (slice(None), *(slice(None, None, s) for s in strides), slice(None))

    def body(t, acc):
        idx = jnp.unravel_index(t, ksize)
        start = (0, *(i * r for i, r in zip(idx, dilation)), 0)
        patch = lax.dynamic_slice(xp, start, sizes)[take]
        return acc + patch * wflat[t]

    acc = jnp.zeros((x.shape[0], *out_sizes, x.shape[-1]), cd)
    return lax.fori_loop(0, taps, body, acc)


def _pow2(n: int) -> int:
    return 1 << max(n - 1, 0).bit_length()


def _depthwise_pallas_fwd_impl(x, w, dilation, pads, interpret):
    """Stride-1 depthwise correlation in Pallas: one program per (image, block of channels).

    The program holds the padded image of its channels and accumulates ``w[t] · shift_t(x)`` over
    all kernel taps (a ``fori_loop`` over the flattened tap index) in the accumulation dtype.
    """
    from jax.experimental import pallas as pl

    from .._pallas import triton_params

    d = x.ndim - 2
    b, c = x.shape[0], x.shape[-1]
    ksize = w.shape[:-1]
    taps = math.prod(ksize)
    acc_dtype = compute_dtype(x.dtype, w.dtype)
    eff = [r * (k - 1) + 1 for k, r in zip(ksize, dilation)]
    spans = [n + lo + hi for n, (lo, hi) in zip(x.shape[1:-1], pads)]
    outs = [sp - e + 1 for sp, e in zip(spans, eff)]
    outs2 = [_pow2(o) for o in outs]
    # pad every spatial axis so that any tap's window of size outs2 stays in bounds (powers of two)
    full = [_pow2(o2 + e - 1) for o2, e in zip(outs2, eff)]
    bc = min(_pow2(c), 32)
    cp = -(-c // bc) * bc
    xp = jnp.pad(x, [(0, 0), *[(lo, f - n - lo) for n, (lo, _), f in zip(x.shape[1:-1], pads, full)],
                     (0, cp - c)])
    wp = jnp.pad(w.reshape(taps, c), ((0, _pow2(taps) - taps), (0, cp - c)))

    def kernel(x_ref, w_ref, o_ref):
        def tap(t, acc):
            idx = []
            rem = t
            for ax in range(d - 1, -1, -1):          # unravel the flat tap index (row-major)
                # lax.rem/div (t ≥ 0): jnp's floor-mod adds a sign fix-up Triton cannot lower
                idx.append(lax.rem(rem, ksize[ax]))
                rem = lax.div(rem, ksize[ax])
            idx = idx[::-1]
            window = tuple(pl.ds(i * r, o2) for i, r, o2 in zip(idx, dilation, outs2))
            seg = x_ref[(0, *window, slice(None))].astype(acc_dtype)
            wt = w_ref[pl.ds(t, 1), :].astype(acc_dtype)            # (1, bc)
            return acc + seg * wt.reshape((1,) * d + (bc,))

        acc = lax.fori_loop(0, taps, tap, jnp.zeros((*outs2, bc), acc_dtype))
        o_ref[0] = acc.astype(o_ref.dtype)

    zeros = (0,) * d
    out = pl.pallas_call(
        kernel,
        out_shape=jax.ShapeDtypeStruct((b, *outs2, cp), acc_dtype),
        grid=(b, cp // bc),
        in_specs=[pl.BlockSpec((1, *full, bc), lambda i, j: (i, *zeros, j)),
                  pl.BlockSpec((_pow2(taps), bc), lambda i, j: (0, j))],
        out_specs=pl.BlockSpec((1, *outs2, bc), lambda i, j: (i, *zeros, j)),
        interpret=interpret,
        compiler_params=triton_params(interpret),
    )(xp, wp)
    return out[(slice(None), *(slice(0, o) for o in outs), slice(0, c))]


@partial(jax.custom_vjp, nondiff_argnums=(2, 3, 4, 5))
def _depthwise_pallas(x, w, strides, dilation, pads, interpret):
    y = _depthwise_pallas_fwd_impl(x, w, dilation, pads, interpret)
    return y[(slice(None), *(slice(None, None, s) for s in strides), slice(None))]


def _depthwise_pallas_fwd(x, w, strides, dilation, pads, interpret):
    return _depthwise_pallas(x, w, strides, dilation, pads, interpret), (x, w)


def _depthwise_pallas_bwd(strides, dilation, pads, interpret, res, g):
    # the backward pass goes through XLA's convolution transpose rules
    x, w = res
    _, vjp = jax.vjp(lambda a, k: _depthwise_xla(a, k, strides, dilation, pads).astype(g.dtype), x, w)
    return vjp(g)


_depthwise_pallas.defvjp(_depthwise_pallas_fwd, _depthwise_pallas_bwd)


@partial(jax.jit, static_argnums=(2, 3, 4, 5))
def _depthwise_pallas_jit(x, w, strides, dilation, pads, interpret):
    return _depthwise_pallas(x, w, strides, dilation, pads, interpret)


def depthwise_conv(x: Any, w: Any, *, strides: int | Sequence[int] = 1, padding: Any = "SAME",
                   dilation: int | Sequence[int] = 1, implementation: str | None = None) -> jnp.ndarray:
    """Depthwise convolution (cross-correlation), channels-last, 1-D/2-D/3-D, any kernel size.

    Parameters
    ----------
    x : array, shape (B, *spatial, C)
        ``len(spatial)`` ∈ {1, 2, 3}.
    w : array, shape (*kernel_spatial, C)
        One filter per channel; kernels as large as the input (31×31 and beyond) are fine.
    strides, dilation : int or tuple of ints, one per spatial axis
        Positive. A kernel of size ``k`` with dilation ``r`` spans ``r(k − 1) + 1`` samples.
    padding : "SAME" | "VALID" | "CAUSAL" | sequence of (lo, hi)
        ``"SAME"`` follows XLA/TensorFlow (output ``ceil(n / s)``, extra pad on the high side);
        ``"CAUSAL"`` pads ``r(k − 1)`` on the low side only (sequence models).
    implementation : {"reference", "xla", "pallas", None}
        ``"reference"``: shift-and-add over kernel taps with accumulation in float32 (float64 for
        float64 inputs). ``"xla"``: ``lax.conv_general_dilated`` with one feature group per channel
        (half-precision inputs accumulate in float32). ``"pallas"``: a direct kernel, one program per
        image and block of ≤ 32 channels holding the padded image, looping over the taps (computes
        the stride-1 output and subsamples; backward pass through XLA; interpret mode on CPU; its
        Triton lowering is checked on CPU, but it has not yet run or been tuned on a GPU).
        ``None``: fastest available (``"xla"``).

    Returns
    -------
    array, shape (B, *out_spatial, C), in the promoted input dtype;
    ``out = floor((n + lo + hi − r(k − 1) − 1) / s) + 1`` per axis.

    Raises
    ------
    ValueError
        Wrong ranks, channel mismatch, kernel larger than the (padded) input, non-positive
        strides/dilation, bad padding, NaN/inf, unsupported dtype.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> x = jnp.arange(5.0).reshape(1, 5, 1)
    >>> w = jnp.array([1.0, 0.0, -1.0]).reshape(3, 1)
    >>> depthwise_conv(x, w)[0, :, 0].tolist()
    [-1.0, -2.0, -2.0, -2.0, 3.0]
    >>> depthwise_conv(x, w, padding="VALID", dilation=2)[0, :, 0].tolist()
    [-4.0]
    """
    impl = check_implementation(implementation, "depthwise_conv")
    x, w, strides, dilation, pads, out_sizes = _prepare(x, w, strides, padding, dilation)
    out_dtype = jnp.result_type(x.dtype, w.dtype)
    if impl is None:
        impl = "xla"
    if impl == "pallas":
        interpret = jax.default_backend() not in ("gpu", "tpu")
        y = _depthwise_pallas_jit(x, w, strides, dilation, pads, interpret)
        return y.astype(out_dtype)
    if impl == "reference":
        y = _depthwise_reference(x, w, strides, dilation, pads, out_sizes)
    else:
        y = _depthwise_xla(x, w, strides, dilation, pads)
    return y.astype(out_dtype)


# ---------------------------------------------------------------------------------------------
# Structural re-parameterization
# ---------------------------------------------------------------------------------------------

def dilate_kernel(w: Any, dilation: int | Sequence[int]) -> jnp.ndarray:
    """The dense equivalent of a dilated kernel: insert ``r − 1`` zeros between taps.

    Parameters
    ----------
    w : array, shape (*k, C)
    dilation : int or tuple, one per spatial axis (positive)

    Returns
    -------
    array, shape (*(r (k − 1) + 1), C); convolving with it (dilation 1) equals convolving with
    ``w`` at dilation ``r``.

    >>> import jax.numpy as jnp
    >>> dilate_kernel(jnp.array([[1.0], [2.0]]), 3)[:, 0].tolist()
    [1.0, 0.0, 0.0, 2.0]
    """
    w = as_conv_array(w, "w")
    if w.ndim < 2:
        raise ValueError(f"w must have rank ≥ 2 (*kernel_spatial, C), got shape {tuple(w.shape)}")
    r = int_tuple(dilation, w.ndim - 1, "dilation")
    shape = tuple(ri * (k - 1) + 1 for k, ri in zip(w.shape[:-1], r)) + (w.shape[-1],)
    index = tuple(slice(None, None, ri) for ri in r) + (slice(None),)
    return jnp.zeros(shape, w.dtype).at[index].set(w)


def merge_branches(kernels: Sequence[Any], dilations: Sequence[int | Sequence[int]] | None = None,
                   target_size: int | Sequence[int] | None = None) -> jnp.ndarray:
    """Merge parallel depthwise branches into one large kernel (RepLKNet/UniRepLKNet style).

    A sum of ``depthwise_conv(x, w_i, dilation=r_i, padding="SAME")`` over branches (stride 1, each
    branch's effective size of the same parity as the target) equals one
    ``depthwise_conv(x, W, padding="SAME")`` with ``W`` the sum of the dilated kernels, each
    zero-padded symmetrically to ``target_size``. Biases of the branches simply add.

    Parameters
    ----------
    kernels : sequence of arrays, each (*k_i, C)
        Same spatial rank and channel count.
    dilations : sequence of ints or tuples, optional
        One per kernel (default all 1).
    target_size : int or tuple, optional
        Spatial size of the merged kernel; default the largest effective size per axis.

    Returns
    -------
    array, shape (*target_size, C), in the promoted dtype of the kernels.

    Raises
    ------
    ValueError
        If a branch does not fit, or ``target − effective`` size is odd (the centres would not align).

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> big = merge_branches([jnp.ones((3, 1)), jnp.ones((2, 1))], dilations=[1, 2], target_size=5)
    >>> big[:, 0].tolist()
    [0.0, 2.0, 1.0, 2.0, 0.0]
    """
    if isinstance(kernels, (jnp.ndarray, np.ndarray)) or len(kernels) == 0:
        raise ValueError("kernels must be a non-empty sequence of arrays (*k, C)")
    ws = [as_conv_array(k, f"kernels[{i}]") for i, k in enumerate(kernels)]
    d = ws[0].ndim - 1
    if d < 1:
        raise ValueError(f"kernels must have rank ≥ 2 (*kernel_spatial, C), got {tuple(ws[0].shape)}")
    for i, w in enumerate(ws):
        if w.ndim != d + 1 or w.shape[-1] != ws[0].shape[-1]:
            raise ValueError(f"kernels[{i}] has shape {tuple(w.shape)}, incompatible with "
                             f"kernels[0] {tuple(ws[0].shape)}")
    if dilations is None:
        dilations = [1] * len(ws)
    if len(dilations) != len(ws):
        raise ValueError(f"need one dilation per kernel, got {len(dilations)} for {len(ws)} kernels")
    dense = [dilate_kernel(w, r) for w, r in zip(ws, dilations)]
    if target_size is None:
        target = tuple(max(w.shape[ax] for w in dense) for ax in range(d))
    else:
        target = int_tuple(target_size, d, "target_size")
    dtype = jnp.result_type(*[w.dtype for w in dense])
    out = jnp.zeros((*target, ws[0].shape[-1]), dtype)
    for i, w in enumerate(dense):
        pads = []
        for ax in range(d):
            gap = target[ax] - w.shape[ax]
            if gap < 0 or gap % 2:
                raise ValueError(
                    f"branch {i} has effective size {w.shape[:-1]} which cannot be centred in "
                    f"target {target} (needs a non-negative, even difference per axis)")
            pads.append((gap // 2, gap // 2))
        out = out + jnp.pad(w.astype(dtype), [*pads, (0, 0)])
    return out


def fuse_batchnorm(w: Any, b: Any | None, mean: Any, var: Any, gamma: Any, beta: Any,
                   eps: float = 1e-5) -> tuple[jnp.ndarray, jnp.ndarray]:
    """Fold an inference-mode batch norm that follows a convolution into its weight and bias.

    ``BN(conv(x, w) + b) = conv(x, w') + b'`` with ``s = γ / sqrt(var + eps)``, ``w' = w · s`` (scaled
    along the output-channel axis, the last one) and ``b' = β + (b − mean) · s``.

    Parameters
    ----------
    w : array, shape (..., C)
        Convolution weight with output channels last (depthwise ``(*k, C)`` or ``HWIO``).
    b : array (C,) or None
        Convolution bias (None means zero).
    mean, var, gamma, beta : arrays, shape (C,)
        Running statistics and affine parameters; ``var + eps > 0``.
    eps : float

    Returns
    -------
    (w', b') with shapes ``w.shape`` and ``(C,)``.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> w2, b2 = fuse_batchnorm(jnp.ones((3, 1)), None, jnp.array([1.0]), jnp.array([3.0]),
    ...                         jnp.array([2.0]), jnp.array([0.5]), eps=1.0)
    >>> w2[:, 0].tolist(), b2.tolist()
    ([1.0, 1.0, 1.0], [-0.5])
    """
    w = as_conv_array(w, "w")
    if w.ndim < 1:
        raise ValueError("w must have at least one axis (output channels last)")
    c = w.shape[-1]
    names = ("mean", "var", "gamma", "beta")
    vecs = []
    for name, v in zip(names, (mean, var, gamma, beta)):
        v = as_conv_array(v, name)
        if v.shape != (c,):
            raise ValueError(f"{name} must have shape ({c},), got {tuple(v.shape)}")
        check_finite(v, name)
        vecs.append(v)
    mean, var, gamma, beta = vecs
    if b is None:
        b = jnp.zeros((c,), w.dtype)
    b = as_conv_array(b, "b")
    if b.shape != (c,):
        raise ValueError(f"b must have shape ({c},), got {tuple(b.shape)}")
    if not (isinstance(eps, (int, float, np.floating)) and eps >= 0):
        raise ValueError(f"eps must be a non-negative float, got {eps!r}")
    denom = var + eps
    if is_concrete(denom) and np.any(np.asarray(denom, dtype=np.float64) <= 0):
        raise ValueError("var + eps must be positive")
    scale = gamma * lax.rsqrt(denom)
    return w * scale, beta + (b - mean) * scale
