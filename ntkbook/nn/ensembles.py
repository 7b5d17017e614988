"""Ensembles of random MLPs: the preactivations of every layer for many networks at once.

A deep MLP in the NTK parameterisation (``nn.Dense(width, W_std, b_std)`` after every activation)

    z¹ = W_std/√d · W⁰ x + b_std b⁰,    z^{ℓ+1} = W_std/√n · W^ℓ σ(z^ℓ) + b_std b^ℓ,

has, over its Gaussian initialisation, preactivations whose law tends to the Gaussian process with
the NNGP kernel of ``net.kernel`` as the width ``n → ∞``; at finite width their higher cumulants are
``O(depth/width)``. :func:`mlp_preactivations` draws them for an ensemble of networks, vmapped, by
one of two exact methods:

* ``"weights"`` draws every weight matrix (``O(n²)`` per layer and network), as ``net.module`` does;
* ``"conditional"`` uses that each layer draws fresh weights: given layer ``ℓ`` the preactivations of
  layer ``ℓ + 1`` are Gaussian, i.i.d. over neurons, with the ``N × N`` covariance
  ``W_std² σσᵀ/n + b_std²`` over the ``N`` inputs. Writing ``σᵀ = QR`` (thin QR), ``z = W_std/√n · G R +
  b_std b`` with ``G`` standard normal ``(n, N)`` has exactly that law, at ``O(n N²)`` per layer. The
  joint law of all layers is the same as for ``"weights"``; only the cost differs.
"""

from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp

from .. import _validate
from ._core import Layer

__all__ = ["mlp_preactivations"]

_METHODS = ("conditional", "weights")


def _check_std(value: Any, name: str) -> Any:
    """A float or scalar array ``>= 0`` (arrays may be traced, e.g. vmapped over ``C_W``)."""
    if isinstance(value, bool):
        raise ValueError(f"{name} must be a float >= 0, got {value!r}")
    if isinstance(value, (int, float)):
        if not math.isfinite(value) or value < 0:
            raise ValueError(f"{name} must be a finite float >= 0, got {value!r}")
        return float(value)
    arr = _validate.as_float_array(value, name, ndim=0)
    if _validate.is_concrete(arr) and float(arr) < 0:
        raise ValueError(f"{name} must be >= 0, got {float(arr)}")
    return arr


def _sizes(N, d, depth, width, method):
    """Rows of the first and of the later Gaussian blocks, and the draws one network needs."""
    rows0 = d if method == "weights" else min(d, N)
    rows = width if method == "weights" else min(width, N)
    return rows0, rows, (rows0 * width, (depth - 1) * rows * width, depth * width)


def _one_network(draws, x, act, depth, width, W_std, b_std, method):
    """Preactivations ``(depth, N, width)`` of one random network at inputs ``x (N, d)``.

    ``draws`` holds all its standard normal numbers, drawn up front (this compiles much faster
    than drawing inside the scan).
    """
    N, d = x.shape
    rows0, rows, sizes = _sizes(N, d, depth, width, method)
    G0 = draws[:sizes[0]].reshape(rows0, width)
    G = draws[sizes[0]:sizes[0] + sizes[1]].reshape(depth - 1, rows, width)
    b = draws[sizes[0] + sizes[1]:].reshape(depth, 1, width) * (0.0 if b_std is None else b_std)

    def dense(h, g, fan_in):
        if method == "weights":
            return (W_std / math.sqrt(fan_in)) * (h @ g)
        # conditional: h @ W has the law of R^T G with h^T = Q R and G standard normal
        if N == 1:  # the norm of the single row
            r = jnp.sqrt(jnp.sum(h * h, axis=1, keepdims=True))
        else:
            r = jnp.linalg.qr(h.T, mode="r") if fan_in >= N else h.T  # (min(fan_in, N), N)
        return (W_std / math.sqrt(fan_in)) * (r.T @ g)

    z = dense(x, G0, d) + b[0]

    def step(z, inputs):
        g, bias = inputs
        z = dense(act.apply({}, z), g, width) + bias
        return z, z

    _, rest = jax.lax.scan(step, z, (G, b[1:]))
    return jnp.concatenate([z[None], rest])


def mlp_preactivations(key: jax.Array, x: Any, *, activation: Layer, depth: int, width: int, n_nets: int,
                       W_std: float = 1.0, b_std: float | None = None, method: str = "conditional",
                       chunk: int | None = None) -> jnp.ndarray:
    """Preactivations of every layer of ``n_nets`` independent random MLPs at the inputs ``x``.

    The networks are ``nn.serial(nn.Dense(width, W_std, b_std), *[activation, nn.Dense(width, W_std,
    b_std)] * (depth - 1))`` in the NTK parameterisation; layer ``ℓ = 1 … depth`` is the output of the
    ``ℓ``-th ``Dense``. As ``width → ∞``, ``mean(z_i(x) z_i(x'))`` tends to the NNGP kernel of the
    depth-``ℓ`` network from ``net.kernel``.

    Args:
        key: PRNG key.
        x: ``(N, d)`` inputs (their dtype is the sampling dtype).
        activation: an elementwise activation layer, e.g. ``nn.Relu()`` or
            ``nn.ElementwiseNumerical(jnp.tanh)``.
        depth: number of ``Dense`` layers (≥ 1).
        width: hidden width ``n`` (≥ 1).
        n_nets: ensemble size (≥ 1).
        W_std, b_std: as in ``nn.Dense`` (``W_std² = C_W``, ``b_std² = C_b``; ``b_std=None``: no bias);
            floats or scalar arrays.
        method: ``"conditional"`` (exact, ``O(n N²)`` per layer; default) or ``"weights"`` (explicit
            weight matrices, ``O(n²)``); see the module docstring.
        chunk: networks drawn per vmapped batch (``lax.map`` over batches); ``None`` = all at once.

    Returns:
        ``(n_nets, depth, N, width)`` preactivations.

    Works under :func:`jax.jit` with ``depth``, ``width``, ``n_nets``, ``method``, ``chunk`` and
    ``activation`` static; ``W_std`` and ``b_std`` may be traced scalars (e.g. vmapped over ``C_W``).
    Memory: the returned array plus, for ``"weights"``, ``chunk · depth · width²`` weights.

    >>> import jax, jax.numpy as jnp
    >>> from ntkbook import nn
    >>> z = nn.mlp_preactivations(jax.random.key(0), jnp.ones((1, 3)), activation=nn.Relu(),
    ...                           depth=4, width=8, n_nets=5, W_std=2**0.5)
    >>> z.shape
    (5, 4, 1, 8)
    """
    x = _validate.as_float_array(x, "x", ndim=2)
    if not isinstance(activation, Layer):
        raise ValueError(f"activation must be an ntkbook.nn layer such as nn.Relu(), got {activation!r}")
    if activation.out_shape((3,)) != (3,):
        raise ValueError(f"activation must be elementwise, got {activation!r}")
    depth = _validate.check_positive_int(depth, "depth")
    width = _validate.check_positive_int(width, "width")
    n_nets = _validate.check_positive_int(n_nets, "n_nets")
    W_std = _check_std(W_std, "W_std")
    b_std = None if b_std is None else _check_std(b_std, "b_std")
    if method not in _METHODS:
        raise ValueError(f"method must be one of {_METHODS}, got {method!r}")
    chunk = n_nets if chunk is None else _validate.check_positive_int(chunk, "chunk")
    if n_nets % chunk:
        raise ValueError(f"chunk ({chunk}) must divide n_nets ({n_nets})")

    total = sum(_sizes(x.shape[0], x.shape[1], depth, width, method)[2])

    def batch(k):
        draws = jax.random.normal(k, (chunk, total), x.dtype)
        return jax.vmap(lambda g: _one_network(g, x, activation, depth, width, W_std, b_std, method))(draws)

    if chunk == n_nets:
        return batch(key)
    z = jax.lax.map(batch, jax.random.split(key, n_nets // chunk))
    return z.reshape((n_nets,) + z.shape[2:])
