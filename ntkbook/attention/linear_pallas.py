"""Chunked causal linear attention as one Pallas kernel (the ``implementation="pallas"`` path).

Causal linear attention needs, for features ``a = φ(q)``, ``b = φ(k)`` and values ``c``,

    y_i = Σ_{j ≤ i} (a_i · b_j) c_j.

The kernel runs one program per (batch, head) and walks the sequence in chunks of ``C`` rows,
carrying the state ``S = Σ_{j < chunk} b_j c_jᵀ`` (``M × E``) in registers: each chunk costs one
masked ``C × C`` block ``tril(a bᵀ) c`` plus ``a S``, and then adds ``bᵀ c`` to the state. Nothing
of size ``L × L`` (or ``L/C × M × E``, as the prefix-sum formulation stores) is ever written.

The denominator of linear attention is the same sum with ``c = 1``, so values are extended with a
column of ones and a single call gives numerator and denominator. The backward pass reuses the
same kernel three times (with ``g`` the cotangent of ``y``)::

    ∂a_i = Σ_{j ≤ i} (g_i · c_j) b_j                 (causal:      y(g, c, b))
    ∂b_j = Σ_{i ≥ j} (c_j · g_i) a_i                 (anti-causal: reversed y(c, g, a))
    ∂c_j = Σ_{i ≥ j} (a_i · b_j) g_i                 (anti-causal: reversed y(b, a, g))

Zero rows and zero feature columns contribute nothing, so ragged lengths and feature sizes are
zero-padded to whole chunks (and, for Triton, to powers of two ≥ 16).
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
from jax import lax
from jax.experimental import pallas as pl

from ._common import pallas_interpret
from .flash import _compiler_params, _dot_nn, _dot_nt, _dot_tn, _next_pow2, _round_up, _to_bhld

__all__: list[str] = []


def _kernel(a_ref: Any, b_ref: Any, c_ref: Any, o_ref: Any, *, chunk: int, n_chunks: int,
            acc: Any) -> None:
    m, e = a_ref.shape[-1], c_ref.shape[-1]
    rows = lax.broadcasted_iota(jnp.int32, (chunk, chunk), 0)
    cols = lax.broadcasted_iota(jnp.int32, (chunk, chunk), 1)
    lower = cols <= rows

    def body(t: Any, state: Any) -> Any:
        start = pl.multiple_of(t * chunk, chunk)
        a = a_ref[pl.ds(start, chunk), :]
        b = b_ref[pl.ds(start, chunk), :]
        c = c_ref[pl.ds(start, chunk), :]
        s = jnp.where(lower, _dot_nt(a, b, acc), 0.0)
        y = _dot_nn(s.astype(c.dtype), c, acc) + _dot_nn(a.astype(acc), state, acc)
        o_ref[pl.ds(start, chunk), :] = y.astype(o_ref.dtype)
        return state + _dot_tn(b, c, acc)

    lax.fori_loop(0, n_chunks, body, jnp.zeros((m, e), acc))


def _call(a: jnp.ndarray, b: jnp.ndarray, c: jnp.ndarray, chunk: int, interpret: bool) -> jnp.ndarray:
    """``y_i = Σ_{j ≤ i} (a_i·b_j) c_j`` for ``a, b: [B, H, L, M]``, ``c: [B, H, L, E]``
    (``L`` a multiple of ``chunk``; everything already padded)."""
    B, H, L, M = a.shape
    E = c.shape[-1]
    spec = lambda d: pl.BlockSpec((None, None, L, d), lambda i, j: (i, j, 0, 0))  # noqa: E731
    return pl.pallas_call(
        functools.partial(_kernel, chunk=chunk, n_chunks=L // chunk, acc=a.dtype),
        out_shape=jax.ShapeDtypeStruct((B, H, L, E), a.dtype), grid=(B, H),
        in_specs=[spec(M), spec(M), spec(E)], out_specs=spec(E), interpret=interpret,
        compiler_params=_compiler_params(interpret), name="ntkbook_causal_linear")(a, b, c)


@functools.partial(jax.custom_vjp, nondiff_argnums=(3, 4))
def _causal(a: jnp.ndarray, b: jnp.ndarray, c: jnp.ndarray, chunk: int, interpret: bool) -> jnp.ndarray:
    return _call(a, b, c, chunk, interpret)


def _causal_fwd(a, b, c, chunk, interpret):  # type: ignore[no-untyped-def]
    return _call(a, b, c, chunk, interpret), (a, b, c)


def _causal_bwd(chunk, interpret, res, g):  # type: ignore[no-untyped-def]
    a, b, c = res
    rev = lambda x: jnp.flip(x, axis=2)  # noqa: E731
    da = _call(g, c, b, chunk, interpret)
    db = rev(_call(rev(c), rev(g), rev(a), chunk, interpret))
    dc = rev(_call(rev(b), rev(a), rev(g), chunk, interpret))
    return da, db, dc


_causal.defvjp(_causal_fwd, _causal_bwd)


def causal_linear_pallas(fq: jnp.ndarray, fk: jnp.ndarray, v: jnp.ndarray, chunk: int, *,
                         interpret: bool | None = None,
                         gpu_layout: bool | None = None) -> tuple[jnp.ndarray, jnp.ndarray]:
    """Causal numerator ``[B, L, H, E]`` and denominator ``[B, L, H]`` of linear attention.

    ``fq, fk: [B, L, H, M]`` (features, in the accumulation dtype), ``v: [B, L, H, E]``; the same
    contract as the prefix-sum path of :func:`~ntkbook.attention.linear_attention`.
    ``gpu_layout`` (default: when not interpreting) pads chunk, feature and value sizes to powers
    of two ≥ 16 as Triton needs; tests force it in interpret mode.

    >>> import jax.numpy as jnp
    >>> num, den = causal_linear_pallas(jnp.ones((1, 5, 2, 3)), jnp.ones((1, 5, 2, 3)),
    ...                                 jnp.ones((1, 5, 2, 4)), 2)
    >>> den[0, :, 0].tolist()
    [3.0, 6.0, 9.0, 12.0, 15.0]
    """
    interp = pallas_interpret() if interpret is None else bool(interpret)
    B, L, H, M = fq.shape
    E = v.shape[-1]
    gpu = (not interp) if gpu_layout is None else bool(gpu_layout)
    C = max(16, _next_pow2(chunk)) if gpu else min(int(chunk), L)
    Lp = _round_up(L, C)
    Mp = max(16, _next_pow2(M)) if gpu else M
    Ep = max(16, _next_pow2(E + 1)) if gpu else E + 1
    ones = jnp.ones((B, L, H, 1), v.dtype)
    c = jnp.concatenate([v, ones], axis=-1)                   # the last column gives the denominator

    y = _causal(_to_bhld(fq, Lp, Mp), _to_bhld(fk.astype(fq.dtype), Lp, Mp),
                _to_bhld(c.astype(fq.dtype), Lp, Ep), C, interp)
    y = jnp.transpose(y[:, :, :L], (0, 2, 1, 3))
    return y[..., :E], y[..., E]
