"""Linear and structural layers: ``Dense``, ``Conv``, ``AvgPool``, ``GlobalAvgPool``, ``Flatten``,
``LayerNorm``.

Parameterizations of the layers with weights (``W ~ N(0, 1)``, ``b ~ N(0, 1)`` unless noted;
``fan_in`` = input channels × filter size):

* ``"ntk"`` (default): ``y = W_std / sqrt(fan_in) · x W + b_std · b``. Kernels
  ``Σ' = W_std² Σ + b_std²`` and ``Θ' = Σ' + W_std² Θ``.
* ``"standard"``: ``W ~ N(0, W_std² / fan_in)``, ``b ~ N(0, b_std²)``, ``y = x W + b``. Same NNGP;
  the NTK of the finite network grows with width: ``Θ' = fan_in · Σ + 1 + W_std² Θ`` (the ``1`` only
  when there is a bias), with the finite ``fan_in`` of the layer.
* ``"mup"``: the μP *readout* rule, ``y = W_std / fan_in · x W + b_std · b``. Its finite-width
  kernels are ``Σ' = (W_std² / fan_in) Σ + b_std²`` and ``Θ' = (W_std² / fan_in)(Σ + Θ) + b_std²``:
  both tend to ``b_std²`` as the width grows — μP has no non-trivial kernel limit, which is the
  point of it (features move at infinite width). Use it on the last layer, ``"ntk"`` or
  ``"standard"`` elsewhere.

Here ``Σ`` is the covariance of the layer's input divided by its channel count, i.e. the
``nngp`` of the previous layer (``x1 · x2ᵀ / d`` for the network input).
"""

from __future__ import annotations

import math
import string
from typing import Any, Sequence

import jax
import jax.numpy as jnp

from .. import _validate
from ._core import Layer, check_single
from ._state import Kernel, output_size, pads_for, window_mean

PARAMETERIZATIONS = ("ntk", "standard", "mup")
PADDINGS = ("VALID", "SAME", "CIRCULAR")


def _check_param(parameterization: str) -> str:
    if parameterization not in PARAMETERIZATIONS:
        raise ValueError(f"parameterization must be one of {PARAMETERIZATIONS}, got {parameterization!r}")
    return parameterization


def _check_std(value: Any, name: str, allow_none: bool) -> float | None:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{name} must be a non-negative float{' or None' if allow_none else ''}, got {value!r}")
    _validate.check_positive(value, name, allow_zero=True)
    return float(value)


def _check_padding(padding: str) -> str:
    p = str(padding).upper()
    if p not in PADDINGS:
        raise ValueError(f"padding must be one of {PADDINGS}, got {padding!r}")
    return p


def _tuple_of_ints(value: Any, n: int | None, name: str) -> tuple[int, ...]:
    if isinstance(value, (int,)) and not isinstance(value, bool):
        value = (value,) * (n or 1)
    try:
        out = tuple(value)
    except TypeError:
        raise ValueError(f"{name} must be an int or a tuple of ints, got {value!r}") from None
    for v in out:
        _validate.check_positive_int(v, name)
    if n is not None and len(out) != n:
        raise ValueError(f"{name} must have {n} entries, got {value!r}")
    return tuple(int(v) for v in out)


def _affine_kernel(k: Kernel, A, *, W_std: float, b_std: float | None, fan_in: int,
                   parameterization: str, shape: tuple[int, ...]) -> Kernel:
    """Kernels after ``y = (scale) · A(x) W + b`` where ``A`` averages input entries (filter taps)."""
    b2 = 0.0 if b_std is None else b_std ** 2
    w2 = W_std ** 2 if parameterization != "mup" else W_std ** 2 / fan_in
    nngp_in = A(k.nngp, 2)
    nngp = w2 * nngp_in + b2
    cov1 = w2 * A(k.cov1, 1) + b2
    cov2 = w2 * A(k.cov2, 1) + b2
    ntk = None
    if k.ntk is not None:
        ntk_in = A(k.ntk, 2)
        if parameterization == "ntk":
            ntk = nngp + W_std ** 2 * ntk_in
        elif parameterization == "standard":
            ntk = fan_in * nngp_in + (0.0 if b_std is None else 1.0) + W_std ** 2 * ntk_in
        else:
            ntk = w2 * (nngp_in + ntk_in) + b2
    return k.replace(nngp=nngp, ntk=ntk, cov1=cov1, cov2=cov2, shape=shape)


class _Affine(Layer):
    """Shared parameter handling of ``Dense`` and ``Conv``."""

    W_std: float
    b_std: float | None
    parameterization: str
    out_chan: int

    def _params(self, key, w_shape, fan_in, dtype):
        kw, kb = jax.random.split(key)
        W = jax.random.normal(kw, w_shape, dtype)
        params = {"W": W}
        if self.b_std is not None:
            params["b"] = jax.random.normal(kb, (self.out_chan,), dtype)
        if self.parameterization == "standard":
            params["W"] = W * (self.W_std / math.sqrt(fan_in))
            if self.b_std is not None:
                params["b"] = params["b"] * self.b_std
        return params

    def _finish(self, params, y, fan_in):
        if self.parameterization == "standard":
            return y + params["b"] if self.b_std is not None else y
        scale = self.W_std / (math.sqrt(fan_in) if self.parameterization == "ntk" else fan_in)
        y = scale * y
        if self.b_std is not None:
            y = y + self.b_std * params["b"]
        return y


class _Dense(_Affine):
    def __init__(self, out_dim, W_std, b_std, parameterization):
        self.out_chan = _validate.check_positive_int(out_dim, "out_dim")
        self.W_std = _check_std(W_std, "W_std", False)
        self.b_std = _check_std(b_std, "b_std", True)
        self.parameterization = _check_param(parameterization)
        self.name = f"Dense({out_dim}, W_std={W_std}, b_std={b_std}, {parameterization})"

    def out_shape(self, in_shape):
        in_shape = check_single(in_shape, "Dense")
        if len(in_shape) != 1:
            raise ValueError(f"Dense expects vector inputs (N, C) but got per-sample shape {in_shape}; "
                             "insert Flatten() or GlobalAvgPool() before Dense on spatial inputs")
        return (self.out_chan,)

    def init(self, key, in_shape, dtype):
        return self._params(key, (in_shape[-1], self.out_chan), in_shape[-1], dtype)

    def apply(self, params, x):
        return self._finish(params, x @ params["W"], x.shape[-1])

    def kernel_fn(self, k, out_full):
        self.out_shape(k.shape)
        return _affine_kernel(k, lambda a, lead: a, W_std=self.W_std, b_std=self.b_std,
                              fan_in=k.channels, parameterization=self.parameterization,
                              shape=(self.out_chan,))


def Dense(out_dim: int, W_std: float = 1.0, b_std: float | None = None,
          parameterization: str = "ntk") -> Layer:
    """Fully connected layer ``(N, C) -> (N, out_dim)``.

    Args:
        out_dim: output width (infinite in the kernel; used by the finite module).
        W_std: weight standard deviation (see the module docstring for the parameterizations).
        b_std: bias standard deviation, or ``None`` for no bias.
        parameterization: ``"ntk"``, ``"standard"`` or ``"mup"``.

    Memory of the kernel: ``O(N1 N2)``.

    Example:
        >>> from ntkbook import nn
        >>> k = nn.Dense(10, W_std=2.0, b_std=0.5).kernel([[1.0, 1.0]])
        >>> round(float(k.nngp[0, 0]), 4), round(float(k.ntk[0, 0]), 4)   # 4*1 + 0.25; + 0 from the input
        (4.25, 4.25)
    """
    return _Dense(out_dim, W_std, b_std, parameterization)


def _spatial_letters(d: int) -> str:
    return "DHW"[-d:] if d <= 3 else string.ascii_uppercase[:d]


class _Conv(_Affine):
    def __init__(self, out_chan, filter_shape, strides, padding, W_std, b_std, parameterization):
        self.out_chan = _validate.check_positive_int(out_chan, "out_chan")
        self.filter_shape = _tuple_of_ints(filter_shape, None, "filter_shape")
        d = len(self.filter_shape)
        if d not in (1, 2, 3):
            raise ValueError(f"filter_shape must have 1, 2 or 3 entries, got {filter_shape!r}")
        self.strides = (1,) * d if strides is None else _tuple_of_ints(strides, d, "strides")
        self.padding = _check_padding(padding)
        self.W_std = _check_std(W_std, "W_std", False)
        self.b_std = _check_std(b_std, "b_std", True)
        self.parameterization = _check_param(parameterization)
        self.name = (f"Conv({out_chan}, {self.filter_shape}, strides={self.strides}, "
                     f"padding={self.padding!r}, W_std={W_std}, b_std={b_std}, {parameterization})")

    @property
    def d(self) -> int:
        return len(self.filter_shape)

    def out_shape(self, in_shape):
        in_shape = check_single(in_shape, "Conv")
        if len(in_shape) != self.d + 1:
            raise ValueError(f"Conv with a {self.d}-D filter {self.filter_shape} needs inputs of rank "
                             f"{self.d + 2} (N, *spatial, C), got per-sample shape {in_shape}")
        sp = tuple(output_size(s, f, st, self.padding)
                   for s, f, st in zip(in_shape[:-1], self.filter_shape, self.strides))
        return sp + (self.out_chan,)

    def _fan_in(self, channels: int) -> int:
        return channels * math.prod(self.filter_shape)

    def init(self, key, in_shape, dtype):
        shape = self.filter_shape + (in_shape[-1], self.out_chan)
        return self._params(key, shape, self._fan_in(in_shape[-1]), dtype)

    def apply(self, params, x):
        pads = [pads_for(s, f, st, self.padding)
                for s, f, st in zip(x.shape[1:-1], self.filter_shape, self.strides)]
        if self.padding == "CIRCULAR":
            x = jnp.pad(x, [(0, 0)] + pads + [(0, 0)], mode="wrap")
            pads = [(0, 0)] * self.d
        sp = _spatial_letters(self.d)
        y = jax.lax.conv_general_dilated(
            x, params["W"], window_strides=self.strides, padding=pads,
            dimension_numbers=(f"N{sp}C", f"{sp}IO", f"N{sp}C"))
        return self._finish(params, y, self._fan_in(x.shape[-1]))

    def kernel_fn(self, k, out_full):
        shape = self.out_shape(k.shape)
        if not out_full:
            k = k.to_diagonal()
        full = k.full

        def A(a, lead):
            for i, (f, st) in enumerate(zip(self.filter_shape, self.strides)):
                axes = (lead + 2 * i, lead + 2 * i + 1) if full else (lead + i,)
                a = window_mean(a, axes, f, st, self.padding)
            return a

        return _affine_kernel(k, A, W_std=self.W_std, b_std=self.b_std,
                              fan_in=self._fan_in(k.channels), parameterization=self.parameterization,
                              shape=shape)


def Conv(out_chan: int, filter_shape: Sequence[int], strides: Sequence[int] | None = None,
         padding: str = "VALID", W_std: float = 1.0, b_std: float | None = None,
         parameterization: str = "ntk") -> Layer:
    """Convolution over channels-last inputs: ``(N, W, C)`` for a 1-D and ``(N, H, W, C)`` for a
    2-D ``filter_shape``.

    ``fan_in = C * prod(filter_shape)``. Padding ``"VALID"``, ``"SAME"`` (zeros, XLA's split) or
    ``"CIRCULAR"`` (wrap-around, same amounts as ``SAME``).

    Kernel: with i.i.d. filter taps, ``Σ'[p, p'] = W_std² mean_q Σ[p s + q, p' s + q] + b_std²``
    (and likewise ``Θ``). Memory and time: ``O(N1 N2 P'^2 · |filter|)`` in full mode and
    ``O(N1 N2 P' · |filter|)`` in diagonal mode (``P'`` output positions); the mode is chosen by the
    layers downstream.

    Example:
        >>> import jax.numpy as jnp
        >>> from ntkbook import nn
        >>> net = nn.serial(nn.Conv(8, (3,), padding="SAME"), nn.Relu(), nn.Flatten(), nn.Dense(1))
        >>> net.kernel(jnp.ones((2, 5, 3)), get="ntk").shape
        (2, 2)
    """
    return _Conv(out_chan, filter_shape, strides, padding, W_std, b_std, parameterization)


class _AvgPool(Layer):
    def __init__(self, window_shape, strides, padding):
        self.window_shape = _tuple_of_ints(window_shape, None, "window_shape")
        d = len(self.window_shape)
        self.strides = self.window_shape if strides is None else _tuple_of_ints(strides, d, "strides")
        self.padding = _check_padding(padding)
        self.name = f"AvgPool({self.window_shape}, strides={self.strides}, padding={self.padding!r})"

    def out_shape(self, in_shape):
        in_shape = check_single(in_shape, "AvgPool")
        d = len(self.window_shape)
        if len(in_shape) != d + 1:
            raise ValueError(f"AvgPool with a {d}-D window needs inputs of rank {d + 2} (N, *spatial, C), "
                             f"got per-sample shape {in_shape}")
        sp = tuple(output_size(s, w, st, self.padding)
                   for s, w, st in zip(in_shape[:-1], self.window_shape, self.strides))
        return sp + (in_shape[-1],)

    def apply(self, params, x):
        for i, (w, st) in enumerate(zip(self.window_shape, self.strides)):
            x = window_mean(x, (1 + i,), w, st, self.padding)
        return x

    def requirement(self, out_full):
        return True

    def kernel_fn(self, k, out_full):
        shape = self.out_shape(k.shape)
        if not k.full:
            raise AssertionError("AvgPool needs the full spatial covariance")  # guaranteed by requirement

        def A(a, lead):
            for i, (w, st) in enumerate(zip(self.window_shape, self.strides)):
                a = window_mean(a, (lead + 2 * i,), w, st, self.padding)
                a = window_mean(a, (lead + 2 * i + 1,), w, st, self.padding)
            return a

        k = k.map(A).replace(shape=shape)
        return k if out_full else k.to_diagonal()


def AvgPool(window_shape: Sequence[int], strides: Sequence[int] | None = None,
            padding: str = "VALID") -> Layer:
    """Average pooling over windows of positions (channels untouched); ``strides`` default to the
    window. The divisor is always the window size (padded zeros count, as in the finite layer).

    Kernel: ``Σ'[p, p'] = mean_{q, q'} Σ[p s + q, p' s + q']`` — it needs every pair of input
    positions, so its input is kept in full mode: memory ``O(N1 N2 P^2)`` for ``P`` input positions.

    Example:
        >>> import jax.numpy as jnp
        >>> from ntkbook import nn
        >>> nn.AvgPool((2,)).out_shape((6, 3))
        (3, 3)
    """
    return _AvgPool(window_shape, strides, padding)


class _GlobalAvgPool(Layer):
    name = "GlobalAvgPool"

    def out_shape(self, in_shape):
        in_shape = check_single(in_shape, "GlobalAvgPool")
        if len(in_shape) < 2:
            raise ValueError(f"GlobalAvgPool needs spatial inputs (N, *spatial, C), got per-sample shape {in_shape}")
        return (in_shape[-1],)

    def apply(self, params, x):
        return jnp.mean(x, axis=tuple(range(1, x.ndim - 1)))

    def requirement(self, out_full):
        return True

    def kernel_fn(self, k, out_full):
        shape = self.out_shape(k.shape)
        if not k.full:
            raise AssertionError("GlobalAvgPool needs the full spatial covariance")

        def A(a, lead):
            return jnp.mean(a, axis=tuple(range(lead, a.ndim)))

        return k.map(A).replace(shape=shape, diagonal_spatial=False)


def GlobalAvgPool() -> Layer:
    """Mean over all positions: ``(N, *S, C) -> (N, C)``.

    Kernel: ``Σ' = mean_{p, p'} Σ[p, p']`` — needs every pair of positions, so the layers before it
    keep the full spatial covariance: memory ``O(N1 N2 P^2)``.

    >>> from ntkbook import nn
    >>> nn.GlobalAvgPool().out_shape((4, 4, 3))
    (3,)
    """
    return _GlobalAvgPool()


class _Flatten(Layer):
    name = "Flatten"

    def out_shape(self, in_shape):
        in_shape = check_single(in_shape, "Flatten")
        return (math.prod(in_shape),)

    def apply(self, params, x):
        return x.reshape(x.shape[0], -1)

    def requirement(self, out_full):
        return False

    def kernel_fn(self, k, out_full):
        shape = self.out_shape(k.shape)
        if not k.is_spatial:
            return k
        k = k.to_diagonal()

        def A(a, lead):
            return jnp.mean(a, axis=tuple(range(lead, a.ndim)))

        return k.map(A).replace(shape=shape, diagonal_spatial=False)


def Flatten() -> Layer:
    """Flatten positions and channels: ``(N, *S, C) -> (N, prod(S) C)``.

    Kernel: ``Σ' = mean_p Σ[p, p]`` (the next ``Dense`` averages over all flattened entries, and
    entries at different positions meet different weights), so only equal-position covariances
    are needed upstream: memory ``O(N1 N2 P)``.

    >>> from ntkbook import nn
    >>> nn.Flatten().out_shape((4, 4, 3))
    (48,)
    """
    return _Flatten()


class _LayerNorm(Layer):
    def __init__(self, axis, eps):
        if axis not in (-1,):
            raise ValueError(f"LayerNorm normalizes over the channel axis only (axis=-1), got axis={axis!r}")
        self.axis = -1
        self.eps = _check_std(eps, "eps", False)
        self.name = f"LayerNorm(eps={eps})"

    def out_shape(self, in_shape):
        return check_single(in_shape, "LayerNorm")

    def apply(self, params, x):
        mean = jnp.mean(x, axis=-1, keepdims=True)
        var = jnp.mean((x - mean) ** 2, axis=-1, keepdims=True)
        return (x - mean) / jnp.sqrt(var + self.eps)

    def kernel_fn(self, k, out_full):
        from ._state import pair_variances

        self.out_shape(k.shape)
        if not out_full:
            k = k.to_diagonal()
        a1, a2, c1a, c1b, c2a, c2b = pair_variances(k)

        def inv(v):
            return jnp.where(v > 0, 1 / jnp.sqrt(jnp.where(v > 0, v, 1)), 0)

        s12 = inv(a1) * inv(a2)
        return k.replace(nngp=k.nngp * s12, ntk=None if k.ntk is None else k.ntk * s12,
                         cov1=k.cov1 * inv(c1a) * inv(c1b), cov2=k.cov2 * inv(c2a) * inv(c2b))


def LayerNorm(axis: int = -1, eps: float = 1e-12) -> Layer:
    """Normalize each position over the channels: ``(x - mean_c x) / sqrt(var_c x + eps)``.

    Kernel: ``Σ'[p, p'] = Σ[p, p'] / sqrt(v1[p] v2[p'])`` with the per-position variances
    ``v`` (``Θ`` likewise), memory as its input. The infinite-width map takes the channel mean to
    be zero, which holds for pre-activations (after ``Dense``/``Conv``); after an activation with
    non-zero mean (e.g. ``Relu``) the finite layer's centring is not modelled.

    >>> import jax.numpy as jnp
    >>> from ntkbook import nn
    >>> round(float(nn.serial(nn.Dense(4, W_std=3.0), nn.LayerNorm()).kernel(jnp.ones((1, 2)), get="nngp")[0, 0]), 5)
    1.0
    """
    return _LayerNorm(axis, eps)
