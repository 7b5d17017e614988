"""Randomly projected empirical NTK: a Johnson–Lindenstrauss sketch of per-output parameter gradients.

For a network ``f(params, x)`` with ``P`` parameters and ``O`` outputs per example, let
``g_c(x) = ∇_θ f_c(x) ∈ ℝ^P``. With a Gaussian matrix ``R ∈ ℝ^{k×P}`` of i.i.d. ``N(0, 1/k)`` entries,
the projected gradients ``φ_c(x) = R g_c(x) ∈ ℝ^k`` give an unbiased estimate of every NTK entry,
because ``E[RᵀR] = I_P``::

    E[⟨φ_c(x), φ_c'(x')⟩] = ⟨g_c(x), g_c'(x')⟩ = Θ(x, x')[c, c'] ,

with a relative error of order ``k^{-1/2}`` (the usual Johnson–Lindenstrauss behaviour). The sketch
stores ``N·O·k`` numbers instead of the ``N·O·P`` of the Jacobians, and any pair of inputs can be
compared later without touching the network again.

Row ``j`` of ``R`` is a parameter-space tangent vector, so ``(R g_c(x))_j`` is the directional
derivative of ``f_c(x)`` along it: a Jacobian-vector product. :func:`projected_ntk_features` therefore
never forms a Jacobian or the matrix ``R``: it linearises the network on a batch of inputs and pushes
a chunk of random tangents through the linearisation at once (cost about ``N·k`` forward passes'
worth of multiply-adds, ``N·P·k`` for dense layers; all ``O`` outputs come out of each pass).
Tangent ``j`` is drawn from ``fold_in(key, j)``, so the projection depends only on ``key``: the
features of different input sets computed with the same key can be compared, and the first ``k``
features of a ``k' > k`` sketch are the ``k``-dimensional sketch.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree

from .._validate import as_float_array, check_positive_int, check_same_features
from .empirical import _check_batch, _pad_to_blocks, _resolve_network, _split_axes

__all__ = ["projected_ntk_features", "projected_ntk"]

PyTree = Any


def projected_ntk_features(key: jax.Array, f: Callable[[PyTree, jax.Array], jax.Array] | Any, x: Any, *,
                           dim: int, params: PyTree | None = None, batch_size: int | None = None,
                           tangent_chunk: int = 64) -> jax.Array:
    """Gaussian random projections of the per-output parameter gradients of a network.

    Parameters
    ----------
    key
        PRNG key of the projection ``R``; the same key gives the same projection for any ``x``.
    f
        A function ``f(params, x) -> y`` with ``y: (n,)`` or ``(n, O)`` (row ``i`` depending on
        ``x[i]`` only), or a :class:`flax.nnx.Module` (its ``nnx.Param`` variables are the parameters).
    x
        Inputs, shape ``(N, *in_shape)``.
    dim
        Sketch dimension ``k`` (> 0).
    params
        Parameter pytree of a plain function (required); ``None`` for a module's own parameters.
    batch_size
        Inputs linearised at a time (``None``: all ``N`` at once). Live memory grows with
        ``batch_size · tangent_chunk`` activations.
    tangent_chunk
        Random tangents (rows of ``R``) pushed through the linearisation at a time.

    Returns
    -------
    jax.Array
        ``(N, O, k)`` (``(N, 1, k)`` for a scalar output): ``φ[i, c] = R ∇_θ f_c(x_i)`` with
        ``R_{jp} ~ N(0, 1/k)``, so ``φ[i, c] · φ[j, c']`` is an unbiased estimate of the empirical
        NTK entry ``Θ(x_i, x_j)[c, c']``.

    Notes
    -----
    Work: about ``N · k`` Jacobian-vector products (for dense layers ``N · P · k`` multiply-adds)
    and ``P · k`` Gaussian draws. Memory: the output, ``tangent_chunk · P`` numbers of tangents and
    ``batch_size · tangent_chunk`` copies of the network's activations.

    Examples
    --------
    >>> import jax, jax.numpy as jnp
    >>> def f(p, x):
    ...     return jnp.tanh(x @ p["w1"]) @ p["w2"]
    >>> k1, k2, k3 = jax.random.split(jax.random.key(0), 3)
    >>> p = {"w1": jax.random.normal(k1, (3, 16)), "w2": jax.random.normal(k2, (16, 2)) / 4}
    >>> x = jax.random.normal(k3, (5, 3))
    >>> projected_ntk_features(jax.random.key(1), f, x, params=p, dim=32, batch_size=2).shape
    (5, 2, 32)
    """
    apply, params = _resolve_network(f, params)
    dim = check_positive_int(dim, "dim")
    tangent_chunk = check_positive_int(tangent_chunk, "tangent_chunk")
    if batch_size is not None:
        batch_size = check_positive_int(batch_size, "batch_size")
    x = as_float_array(x, "x")
    _check_batch(x, "x")
    n_out = _output_size(apply, params, x)
    return jax.jit(_features, static_argnums=(0, 4, 5, 6, 7))(apply, key, params, x, dim, batch_size,
                                                               tangent_chunk, n_out)


def projected_ntk(key: jax.Array, f: Callable[[PyTree, jax.Array], jax.Array] | Any, x1: Any,
                  x2: Any | None = None, *, dim: int, params: PyTree | None = None,
                  trace_axes: Sequence[int] | int = (-1,), batch_size: int | None = None,
                  tangent_chunk: int = 64) -> jax.Array:
    """Empirical NTK estimated from randomly projected parameter gradients (unbiased).

    Parameters
    ----------
    key, f, dim, params, batch_size, tangent_chunk
        As in :func:`projected_ntk_features`; ``x1`` and ``x2`` are sketched with the same projection.
    x1
        Inputs, shape ``(N1, *in_shape)``.
    x2
        Inputs, shape ``(N2, *in_shape)``, or ``None`` for ``x2 = x1``.
    trace_axes
        ``(-1,)`` (default, for ``y: (n, O)``): the mean over ``c`` of ``Θ[c, c]``, the projected trace
        NTK ``(N1, N2)``, as in :func:`ntkbook.kernels.empirical_ntk`; ``()``: the full
        ``(N1, N2, O, O)`` (``(N1, N2)`` for a scalar output).

    Returns
    -------
    jax.Array
        The estimate; its expectation over ``key`` is the exact empirical NTK and its relative
        Frobenius error is of order ``dim^{-1/2}``.

    Examples
    --------
    >>> import jax, jax.numpy as jnp
    >>> from ntkbook.kernels import empirical_ntk
    >>> def f(p, x):
    ...     return jnp.tanh(x @ p["w1"]) @ p["w2"]
    >>> k1, k2, k3 = jax.random.split(jax.random.key(0), 3)
    >>> p = {"w1": jax.random.normal(k1, (3, 16)), "w2": jax.random.normal(k2, (16, 2)) / 4}
    >>> x = jax.random.normal(k3, (5, 3))
    >>> est = projected_ntk(jax.random.key(1), f, x, params=p, dim=4096)
    >>> exact = empirical_ntk(f, x, params=p)
    >>> bool(jnp.linalg.norm(est - exact) < 0.1 * jnp.linalg.norm(exact))
    True
    """
    apply, params = _resolve_network(f, params)
    x1 = as_float_array(x1, "x1")
    _check_batch(x1, "x1")
    if x2 is not None:
        x2 = as_float_array(x2, "x2")
        _check_batch(x2, "x2")
        check_same_features(x1, x2)
    out = jax.eval_shape(apply, params, x1[:1])
    if not isinstance(out, jax.ShapeDtypeStruct) or out.ndim not in (1, 2) or out.shape[0] != 1:
        raise ValueError("f(params, x) must return an array of shape (n,) or (n, O); for a batch of one "
                         f"input it returned {out!r}")
    untraced, traced = _split_axes(trace_axes, out.ndim - 1)
    kw = dict(dim=dim, params=params, batch_size=batch_size, tangent_chunk=tangent_chunk)
    phi1 = projected_ntk_features(key, apply, x1, **kw)
    phi2 = phi1 if x2 is None else projected_ntk_features(key, apply, x2, **kw)
    if traced:
        return jnp.einsum("ick,jck->ij", phi1, phi2) / phi1.shape[1]
    k = jnp.einsum("ick,jdk->ijcd", phi1, phi2)
    return k[:, :, 0, 0] if out.ndim == 1 else k


# ----------------------------------------------------------------------------------------------------

def _output_size(apply, params, x) -> int:
    out = jax.eval_shape(apply, params, x[:1])
    if not isinstance(out, jax.ShapeDtypeStruct) or out.ndim not in (1, 2) or out.shape[0] != 1:
        raise ValueError("f(params, x) must return an array of shape (n,) or (n, O); for a batch of one "
                         f"input it returned {out!r}")
    return 1 if out.ndim == 1 else out.shape[1]


def _tangents(key, params, first, count):
    """Tangents ``first … first+count-1`` (leaves ``(count, *leaf.shape)``), each ``N(0, I)``.

    Tangent ``j`` is one flat Gaussian vector drawn from ``fold_in(key, j)`` (one draw per tangent
    compiles much faster than one per leaf).
    """
    flat, unravel = ravel_pytree(params)

    def one(j):
        return jax.random.normal(jax.random.fold_in(key, j), flat.shape, flat.dtype)

    return jax.vmap(unravel)(jax.vmap(one)(first + jnp.arange(count)))


def _features(apply, key, params, x, dim, batch_size, chunk, n_out):
    n = x.shape[0]
    b = n if batch_size is None else min(batch_size, n)
    blocks = _pad_to_blocks(x, b)                     # (B, b, ...)
    t = min(chunk, dim)
    n_chunks = -(-dim // t)

    def one_chunk(c):
        tangents = _tangents(key, params, c * t, t)

        def one_block(xb):
            _, lin = jax.linearize(lambda p: apply(p, xb).reshape(xb.shape[0], n_out), params)
            return jax.vmap(lin)(tangents)            # (t, b, O)

        return jax.lax.map(one_block, blocks)         # (B, t, b, O)

    phi = jax.lax.map(one_chunk, jnp.arange(n_chunks))  # (C, B, t, b, O)
    phi = phi.transpose(1, 3, 4, 0, 2).reshape(blocks.shape[0] * b, n_out, n_chunks * t)
    return phi[:n, :, :dim] / math.sqrt(dim)
