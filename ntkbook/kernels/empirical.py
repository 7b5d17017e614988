"""Empirical neural tangent kernels of finite networks.

For a network ``f(params, x)`` the empirical NTK between two inputs is the inner product of parameter
gradients, summed over every parameter leaf::

    Θ(x, x')[a, b] = Σ_p ∂f_a(x)/∂θ_p · ∂f_b(x')/∂θ_p

where ``a, b`` index the per-example outputs (for a classifier with ``O`` logits, ``Θ(x, x')`` is an
``O × O`` block). :func:`empirical_ntk` computes the whole Gram matrix of these blocks in three ways:

* ``"jacobian"`` — per-example Jacobians (reverse mode, one backward pass per output unit) contracted
  over the parameters. Fast; stores ``chunk · O · P`` numbers per side.
* ``"ntvp"`` — kernel columns from NTK-vector products: a vector-Jacobian product on one ``x2`` example
  gives a parameter-space vector, a Jacobian-vector product of the linearised network on the ``x1``
  block turns it into a kernel column. The Jacobian of a whole block is never formed.
* ``"sum_of_logits"`` — the N × N "pseudo-NTK" of Mohamadi, Bae & Sutherland (ICML 2023, P159):
  the NTK of the scalar ``Σ_o f_o / √O``, i.e. ``(1/O)·∇θ(Σ_o f_o(x))·∇θ(Σ_o f_o(x'))ᵀ``.
  It needs a single backward pass per example.

All three accept any ``f(params, x)`` that maps a batch ``(n, ...)`` to ``(n, *S)`` (e.g. ``(n, O)``),
or a :class:`flax.nnx.Module` (its :class:`flax.nnx.Param` variables are the parameters).
"""

from __future__ import annotations

import math
import sys
from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp

from .._validate import as_float_array, check_positive_int, check_same_features

__all__ = ["empirical_ntk", "NTK_IMPLEMENTATIONS"]

#: The values accepted by ``empirical_ntk(..., implementation=...)``.
NTK_IMPLEMENTATIONS: tuple[str, ...] = ("jacobian", "ntvp", "sum_of_logits")

PyTree = Any


# ----------------------------------------------------------------------------------------------------
# Public entry point
# ----------------------------------------------------------------------------------------------------

def empirical_ntk(f: Callable[[PyTree, jax.Array], jax.Array] | Any, x1: Any, x2: Any | None = None, *,
                  params: PyTree | None = None, trace_axes: Sequence[int] | int = (-1,),
                  implementation: str = "jacobian", chunk: int | None = None) -> jax.Array:
    """Empirical NTK Gram matrix of a finite network.

    Parameters
    ----------
    f
        Either a function ``f(params, x) -> y`` mapping a batch ``x: (n, *in_shape)`` to
        ``y: (n, *S)`` (row ``i`` of ``y`` must depend on row ``i`` of ``x`` only), or a
        :class:`flax.nnx.Module` called as ``module(x)``; for a module the parameters are its
        ``nnx.Param`` variables (other variables, e.g. batch statistics, are held fixed).
    x1
        Inputs, shape ``(N1, *in_shape)``.
    x2
        Inputs, shape ``(N2, *in_shape)``, or ``None`` for ``x2 = x1``.
    params
        Parameter pytree for a plain function (required). For a module, ``None`` uses the module's
        own parameters; an ``nnx.State`` with the same structure evaluates the NTK at other values.
    trace_axes
        Output axes averaged over (indices into ``y``'s axes; axis 0, the batch, cannot be traced).
        With ``y: (n, O)``: ``(-1,)`` (default) gives ``(N1, N2)``, the mean over ``o`` of
        ``Θ[o, o]``; ``()`` gives the full ``(N1, N2, O, O)``. In general the result is
        ``(N1, N2, *U, *U)`` with ``U`` the untraced output axes of ``y`` in order.
    implementation
        ``"jacobian"``, ``"ntvp"`` or ``"sum_of_logits"`` (see below and the module docstring).
        ``"jacobian"`` and ``"ntvp"`` agree to rounding.
    chunk
        Number of inputs per block along ``N1`` and ``N2`` (``None``: one block). The Gram matrix is
        assembled block pair by block pair inside :func:`jax.lax.map`, so only one block's
        Jacobians/linearisation are live at a time. ``N`` need not be a multiple of ``chunk``.

    Returns
    -------
    jax.Array
        ``(N1, N2, *U, *U)``: ``K[i, j, u, v] = (1/T) Σ_t Σ_p ∂y_{u,t}(x1_i)/∂θ_p ∂y_{v,t}(x2_j)/∂θ_p``
        where ``t`` runs over the traced axes (``T`` entries). For ``"sum_of_logits"``,
        ``K[i, j, u, v] = (1/T) Σ_p ∂(Σ_t y_{u,t}(x1_i))/∂θ_p ∂(Σ_t y_{v,t}(x2_j))/∂θ_p``: with
        ``y: (n, O)`` and the default ``trace_axes`` this is the pNTK of P159,
        ``(1/O)·∇θ(Σ_o f_o(x1))·∇θ(Σ_o f_o(x2))ᵀ``, which equals ``(1/O)·Σ_{o,o'} Θ[o, o']`` (the sum
        of *all* entries of the ``O × O`` block divided by ``O``; the traced NTK is the same with only
        the diagonal ``o = o'``). The two are close when the off-diagonal ``Θ[o, o']`` are small — a
        wide final readout layer at initialisation. With ``trace_axes=()`` it is the full NTK.

    Notes
    -----
    Memory and time, with ``P`` parameters, ``O = U·T`` outputs per example and block size
    ``c = chunk`` (or ``N`` without chunking):

    * ``"jacobian"``: two blocks of per-example Jacobians, ``2·c·O·P`` numbers, are live at once.
      Chunked, each column block's Jacobian is recomputed for every row block: ``N1 + N1·N2/c``
      example Jacobians (``O`` backward sweeps each) plus ``N1·N2·U²·T·P`` multiply-adds.
    * ``"ntvp"``: one ``x2`` example's ``O`` cotangent vectors (``O·P`` numbers) and ``O`` tangent
      copies of the ``x1`` block's linearisation (``O·c`` examples' activations); the Jacobian of a
      block is never formed. Work: ``N1·N2·O`` forward-equivalents (every column costs a JVP),
      so it is slower than ``"jacobian"`` unless ``c·O·P`` does not fit.
    * ``"sum_of_logits"``: ``2·c·U·P`` numbers; ``U`` backward sweeps per example (one for the
      default ``y: (n, O)``), ``T`` times less than ``"jacobian"``.

    The output itself takes ``N1·N2·U²`` numbers. A module must be deterministic (no dropout).
    The computation is jitted per call; to reuse the compilation, call it inside your own
    :func:`jax.jit` with ``params`` (or ``x``) as traced arguments.

    Examples
    --------
    >>> import jax, jax.numpy as jnp
    >>> def f(p, x):
    ...     return jnp.tanh(x @ p["w1"]) @ p["w2"]
    >>> k1, k2, k3 = jax.random.split(jax.random.key(0), 3)
    >>> p = {"w1": jax.random.normal(k1, (3, 16)), "w2": jax.random.normal(k2, (16, 2)) / 4}
    >>> x = jax.random.normal(k3, (5, 3))
    >>> empirical_ntk(f, x, params=p).shape
    (5, 5)
    >>> empirical_ntk(f, x, x[:2], params=p, trace_axes=()).shape
    (5, 2, 2, 2)
    >>> k = empirical_ntk(f, x, params=p, implementation="ntvp", chunk=2)
    >>> bool(jnp.allclose(k, empirical_ntk(f, x, params=p), rtol=1e-4, atol=1e-4))
    True
    """
    apply, params = _resolve_network(f, params)
    if implementation not in NTK_IMPLEMENTATIONS:
        raise ValueError(f"implementation must be one of {NTK_IMPLEMENTATIONS}, got {implementation!r}")
    if chunk is not None:
        chunk = check_positive_int(chunk, "chunk")

    x1 = as_float_array(x1, "x1")
    _check_batch(x1, "x1")
    symmetric = x2 is None
    if not symmetric:
        x2 = as_float_array(x2, "x2")
        _check_batch(x2, "x2")
        check_same_features(x1, x2)

    out = jax.eval_shape(apply, params, x1[:1])
    if not isinstance(out, jax.ShapeDtypeStruct) or out.ndim < 1 or out.shape[0] != 1:
        raise ValueError("f(params, x) must return one array whose first axis is the batch axis; "
                         f"for a batch of one input it returned {out!r}")
    out_shape = tuple(out.shape[1:])
    untraced, traced = _split_axes(trace_axes, len(out_shape))

    # g: f with its per-example output rearranged to (n, U, T) — untraced block first, traced last.
    u_shape = tuple(out_shape[a] for a in untraced)
    n_u = math.prod(u_shape)
    n_t = math.prod(out_shape[a] for a in traced)
    perm = (0, *(1 + a for a in untraced), *(1 + a for a in traced))

    def g(p: PyTree, x: jax.Array) -> jax.Array:
        y = apply(p, x)
        return jnp.transpose(y, perm).reshape(y.shape[0], n_u, n_t)

    def compute(p: PyTree, a: jax.Array, b: jax.Array | None) -> jax.Array:
        prepare, pair = _IMPLEMENTATIONS[implementation](g, p, n_u, n_t)
        k = _blocked_gram(prepare, pair, a, b, chunk)
        return k.reshape(k.shape[:2] + u_shape + u_shape)

    return jax.jit(compute)(params, x1, None if symmetric else x2)


# ----------------------------------------------------------------------------------------------------
# Input handling
# ----------------------------------------------------------------------------------------------------

def _resolve_network(f: Any, params: PyTree | None) -> tuple[Callable[[PyTree, jax.Array], jax.Array], PyTree]:
    """Turn ``f`` (function or nnx.Module) into ``apply(params, x)`` and its parameter pytree."""
    nnx = sys.modules.get("flax.nnx")  # an nnx.Module can only exist if flax.nnx was imported
    if nnx is not None and isinstance(f, nnx.Module):
        graphdef, state, rest = nnx.split(f, nnx.Param, ...)
        if params is None:
            params = state
        elif jax.tree.structure(params) != jax.tree.structure(state):
            raise ValueError("params must have the structure of the module's nnx.Param state "
                             "(as returned by nnx.split(module, nnx.Param, ...)[1])")

        def apply(p: PyTree, x: jax.Array) -> jax.Array:
            return nnx.merge(graphdef, p, rest)(x)

        return apply, params
    if not callable(f):
        raise ValueError(f"f must be a function f(params, x) or a flax.nnx.Module, got {type(f).__name__}")
    if params is None:
        raise ValueError("params is required when f is a function f(params, x)")
    leaves = jax.tree.leaves(params)
    if not leaves:
        raise ValueError("params has no array leaves: the NTK of a parameter-free function is zero")
    for leaf in leaves:
        if not jnp.issubdtype(jnp.result_type(leaf), jnp.inexact):
            raise ValueError(f"every params leaf must be a floating array, got dtype {jnp.result_type(leaf)}")
    return f, params


def _check_batch(x: jax.Array, name: str) -> None:
    if x.ndim < 1 or x.shape[0] == 0:
        raise ValueError(f"{name} must have a leading batch axis of positive length, got shape {tuple(x.shape)}")


def _split_axes(trace_axes: Sequence[int] | int, out_rank: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Per-example (batch axis removed) untraced and traced axes, each in increasing order."""
    if isinstance(trace_axes, (int,)) and not isinstance(trace_axes, bool):
        trace_axes = (trace_axes,)
    try:
        axes = tuple(trace_axes)
    except TypeError:
        raise ValueError(f"trace_axes must be a sequence of ints, got {trace_axes!r}") from None
    if axes and out_rank == 0:
        raise ValueError("f returns one number per example, so there is no output axis to trace: "
                         "use trace_axes=()")
    full_rank = out_rank + 1
    normalised = []
    for a in axes:
        if isinstance(a, bool) or not isinstance(a, int):
            raise ValueError(f"trace_axes must hold ints, got {trace_axes!r}")
        if not -full_rank <= a < full_rank:
            raise ValueError(f"trace_axes {tuple(axes)} out of range for f's output of rank {full_rank} "
                             f"(batch axis + {out_rank} output axes); for a scalar-per-example "
                             "f use trace_axes=()")
        a = a % full_rank
        if a == 0:
            raise ValueError("trace_axes cannot contain the batch axis (axis 0 of f's output)")
        normalised.append(a - 1)
    if len(set(normalised)) != len(normalised):
        raise ValueError(f"trace_axes has repeated axes: {tuple(axes)}")
    traced = tuple(sorted(normalised))
    untraced = tuple(a for a in range(out_rank) if a not in traced)
    return untraced, traced


# ----------------------------------------------------------------------------------------------------
# Block assembly shared by the implementations
# ----------------------------------------------------------------------------------------------------

def _pad_to_blocks(x: jax.Array, c: int) -> jax.Array:
    """``(n, ...) -> (ceil(n / c), c, ...)``, padding with copies of the first row (valid inputs)."""
    n = x.shape[0]
    blocks = -(-n // c)
    pad = blocks * c - n
    if pad:
        x = jnp.concatenate([x, jnp.broadcast_to(x[:1], (pad,) + x.shape[1:])], axis=0)
    return x.reshape((blocks, c) + x.shape[1:])


def _blocked_gram(prepare: Callable[[jax.Array], Any], pair: Callable[[Any, jax.Array | None], jax.Array],
                  x1: jax.Array, x2: jax.Array | None, chunk: int | None) -> jax.Array:
    """Assemble ``pair(prepare(x1_block), x2_block) -> (c1, c2, U, U)`` over all block pairs.

    ``pair(r, None)`` means "the same inputs as ``r`` was prepared from" (lets the unchunked symmetric
    case reuse one Jacobian).
    """
    n1 = x1.shape[0]
    n2 = n1 if x2 is None else x2.shape[0]
    if chunk is None or (chunk >= n1 and chunk >= n2):
        return pair(prepare(x1), x2)
    if x2 is None:
        x2 = x1
    c1, c2 = min(chunk, n1), min(chunk, n2)
    blocks1, blocks2 = _pad_to_blocks(x1, c1), _pad_to_blocks(x2, c2)

    def row(xa: jax.Array) -> jax.Array:
        prepared = prepare(xa)
        return jax.lax.map(lambda xb: pair(prepared, xb), blocks2)  # (B2, c1, c2, U, U)

    k = jax.lax.map(row, blocks1)  # (B1, B2, c1, c2, U, U)
    b1, b2 = k.shape[:2]
    k = jnp.swapaxes(k, 1, 2).reshape((b1 * c1, b2 * c2) + k.shape[4:])
    return k[:n1, :n2]


# ----------------------------------------------------------------------------------------------------
# Implementations. Each returns (prepare, pair) for _blocked_gram; g(p, x) has output (n, U, T).
# ----------------------------------------------------------------------------------------------------

def _per_example_jacobian(h: Callable[[PyTree, jax.Array], jax.Array], params: PyTree,
                          x: jax.Array) -> PyTree:
    """Leaves ``(n, *out, P_leaf)``: the Jacobian of ``h(params, x_i)`` for every example ``i``."""
    def one(xi: jax.Array) -> PyTree:
        return jax.jacrev(lambda p: h(p, xi[None])[0])(params)

    jac = jax.vmap(one)(x)
    out_rank = jax.eval_shape(lambda p: h(p, x[:1]), params).ndim - 1
    return [leaf.reshape(leaf.shape[:1 + out_rank] + (-1,)) for leaf in jax.tree.leaves(jac)]


def _jacobian_impl(g, params, n_u, n_t):
    def prepare(x):
        return _per_example_jacobian(g, params, x)  # leaves (n, U, T, P_leaf)

    def pair(jac1, x2):
        jac2 = jac1 if x2 is None else _per_example_jacobian(g, params, x2)
        terms = [jnp.einsum("iutp,jvtp->ijuv", a, b) for a, b in zip(jac1, jac2)]
        return sum(terms[1:], terms[0]) / n_t

    return prepare, pair


def _sum_of_logits_impl(g, params, n_u, n_t):
    def summed(p, x):
        return g(p, x).sum(axis=-1)  # (n, U): the traced outputs summed

    def prepare(x):
        return _per_example_jacobian(summed, params, x)  # leaves (n, U, P_leaf)

    def pair(jac1, x2):
        jac2 = jac1 if x2 is None else _per_example_jacobian(summed, params, x2)
        terms = [jnp.einsum("iup,jvp->ijuv", a, b) for a, b in zip(jac1, jac2)]
        return sum(terms[1:], terms[0]) / n_t

    return prepare, pair


def _ntvp_impl(g, params, n_u, n_t):
    n_out = n_u * n_t
    def prepare(x1):
        _, jvp1 = jax.linearize(lambda p: g(p, x1), params)  # tangent -> (c1, U, T)
        return x1, jvp1

    def pair(prepared, x2):
        x1, jvp1 = prepared
        if x2 is None:
            x2 = x1

        def column(xj: jax.Array) -> jax.Array:
            y, vjp2 = jax.vjp(lambda p: g(p, xj[None])[0], params)  # y: (U, T)
            # cotangent basis: row (v, s) is the indicator of output entry (v, s)
            eye = jnp.eye(n_out, dtype=y.dtype).reshape(n_out, n_u, n_t)
            (cotangents,) = jax.vmap(vjp2)(eye)            # rows of this example's Jacobian, (O, ...)
            cols = jax.vmap(jvp1)(cotangents)              # (O, c1, U, T): Θ(x1_i, xj)[u, t; v, s]
            cols = cols.reshape(n_u, n_t, -1, n_u, n_t)    # (v, s, i, u, t)
            return jnp.einsum("vsius->iuv", cols) / n_t    # keep t == s, average

        return jnp.swapaxes(jax.lax.map(column, x2), 0, 1)  # (c1, c2, U, U)

    return prepare, pair


_IMPLEMENTATIONS = {"jacobian": _jacobian_impl, "ntvp": _ntvp_impl, "sum_of_logits": _sum_of_logits_impl}
