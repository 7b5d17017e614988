"""Modern (continuous) Hopfield networks: retrieval is softmax attention (Ramsauer et al., P071).

For stored patterns ``X = (x_1, …, x_N)`` and a state ``ξ``, the energy
``E(ξ) = −β⁻¹ log Σ_i exp(β x_iᵀξ) + ½ ξᵀξ + β⁻¹ log N + ½ M²`` (``M = max_i ‖x_i‖``) is
decreased by the update ``ξ ← X softmax(β Xᵀ ξ)`` — attention with query ``ξ``, keys = values =
patterns and scale ``β``.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from .._validate import as_float_array, check_positive_float
from ._common import as_attention_array
from .dot_product import dot_product_attention

__all__ = ["hopfield_retrieval", "hopfield_energy", "participation_ratio", "hebbian_hopfield_retrieval"]


def _check(query: Any, patterns: Any, beta: Any, op: str) -> tuple[jnp.ndarray, jnp.ndarray, float]:
    xi = as_attention_array(query, f"{op}: query", min_ndim=2)
    x = as_attention_array(patterns, f"{op}: patterns", min_ndim=2)
    if xi.shape[-1] != x.shape[-1]:
        raise ValueError(f"{op}: query and patterns must share the last axis, got {tuple(xi.shape)} "
                         f"and {tuple(x.shape)}")
    if x.ndim > 2 and x.shape[:-2] != xi.shape[:-2]:
        raise ValueError(f"{op}: patterns [..., N, D] must have the query's leading axes "
                         f"{tuple(xi.shape[:-2])} (or be [N, D]), got {tuple(x.shape)}")
    return xi, x, check_positive_float(beta, f"{op}: beta")


def hopfield_retrieval(query: Any, patterns: Any, *, beta: float = 1.0, num_steps: int = 1,
                       implementation: str | None = None) -> jnp.ndarray:
    """Run ``num_steps`` updates ``ξ ← X softmax(β Xᵀ ξ)`` of a modern Hopfield network.

    Parameters
    ----------
    query : array ``[..., Q, D]``
        ``Q`` states (probes) ``ξ``.
    patterns : array ``[..., N, D]`` or ``[N, D]``
        Stored patterns (shared by all leading axes when 2-D).
    beta : float
        Inverse temperature (the attention scale).
    num_steps : int
        Number of updates (one usually suffices for well-separated patterns).
    implementation : passed to :func:`~ntkbook.attention.dot_product_attention`.

    Returns
    -------
    array ``[..., Q, D]``.

    >>> import jax.numpy as jnp
    >>> X = jnp.array([[1.0, 1, -1, -1], [1, -1, 1, -1]])
    >>> probe = jnp.array([[0.9, 1.1, -0.8, -1.2]])
    >>> hopfield_retrieval(probe, X, beta=4.0).round(2).tolist()
    [[1.0, 1.0, -1.0, -1.0]]
    """
    op = "hopfield_retrieval"
    xi, x, b = _check(query, patterns, beta, op)
    if isinstance(num_steps, bool) or not isinstance(num_steps, (int, np.integer)) or num_steps < 1:
        raise ValueError(f"{op}: num_steps must be a positive int, got {num_steps!r}")
    lead = xi.shape[:-2]
    n_lead = int(np.prod(lead)) if lead else 1
    Q, D = xi.shape[-2:]
    xb = jnp.broadcast_to(x, (*lead, *x.shape[-2:])).reshape(n_lead, x.shape[-2], 1, D)
    state = xi.reshape(n_lead, Q, 1, D)
    for _ in range(int(num_steps)):
        state = dot_product_attention(state, xb, xb, scale=b, implementation=implementation)
    return state.reshape(*lead, Q, D)


def hopfield_energy(query: Any, patterns: Any, *, beta: float = 1.0) -> jnp.ndarray:
    """The modern Hopfield energy ``E(ξ)`` of every state: ``[..., Q, D] → [..., Q]``.

    >>> import jax.numpy as jnp
    >>> X = jnp.eye(3)
    >>> e0 = hopfield_energy(jnp.array([[0.6, 0.3, 0.1]]), X, beta=2.0)
    >>> e1 = hopfield_energy(hopfield_retrieval(jnp.array([[0.6, 0.3, 0.1]]), X, beta=2.0), X, beta=2.0)
    >>> bool(e1[0] <= e0[0])
    True
    """
    xi, x, b = _check(query, patterns, beta, "hopfield_energy")
    xb = jnp.broadcast_to(x, (*xi.shape[:-2], *x.shape[-2:]))
    logits = b * jnp.einsum("...qd,...nd->...qn", xi, xb)
    n = x.shape[-2]
    big_m = jnp.max(jnp.linalg.norm(xb, axis=-1), axis=-1)[..., None]
    return (-jax.nn.logsumexp(logits, axis=-1) / b + 0.5 * jnp.sum(xi * xi, -1)
            + jnp.log(n) / b + 0.5 * big_m ** 2)


def participation_ratio(weights: Any, *, axis: int = -1) -> jnp.ndarray:
    """The participation ratio ``1 / Σ_i p_i²`` of probability vectors along ``axis``.

    It counts how many entries carry the mass: ``N`` for the uniform vector over ``N`` entries,
    ``1`` for a one-hot vector. Applied to the softmax weights of a modern Hopfield state it tells
    the global-average, metastable and single-pattern fixed points apart. Rows are normalized
    before squaring, so unnormalized non-negative weights are accepted; the value checks are
    skipped under ``jax.jit``.

    >>> import jax.numpy as jnp
    >>> participation_ratio(jnp.array([[0.25, 0.25, 0.25, 0.25], [1.0, 0.0, 0.0, 0.0]])).tolist()
    [4.0, 1.0]
    """
    p = as_float_array(weights, "participation_ratio: weights", allow_nan=False)
    if p.ndim == 0:
        raise ValueError("participation_ratio: weights must have at least one axis")
    total = jnp.sum(p, axis=axis, keepdims=True)
    if not isinstance(p, jax.core.Tracer):                      # value checks only outside jit
        if bool(jnp.any(p < 0)):
            raise ValueError("participation_ratio: weights must be non-negative")
        if bool(jnp.any(total <= 0)):
            raise ValueError("participation_ratio: every weight vector needs a positive sum")
    p = p / total
    return 1.0 / jnp.sum(p * p, axis=axis)


def hebbian_hopfield_retrieval(query: Any, patterns: Any, *, max_sweeps: int = 100) -> jnp.ndarray:
    """Classical Hopfield network: Hebbian weights, asynchronous sign updates to convergence.

    The weights are ``W = Σ_μ x_μ x_μᵀ`` with a zero diagonal. Each sweep visits the units
    ``i = 0, …, D−1`` in order and sets ``s_i ← sign(W_i · s)`` (a zero field keeps ``s_i``), using
    the already-updated units; sweeps repeat until one changes nothing (a fixed point: the energy
    ``−½ sᵀWs`` cannot decrease further) or ``max_sweeps`` is reached.

    Parameters
    ----------
    query : array ``[Q, D]``
        Start states; their signs are used (zeros count as ``+1``).
    patterns : array ``[N, D]``
        Stored ``±1`` patterns.
    max_sweeps : int
        Upper bound on the number of full sweeps.

    Returns
    -------
    array ``[Q, D]`` of ``±1``: the final states.

    >>> import jax.numpy as jnp
    >>> X = jnp.array([[1.0, 1, 1, -1, -1, -1], [1, -1, 1, -1, 1, -1]])
    >>> hebbian_hopfield_retrieval(jnp.array([[1.0, 1, -1, -1, -1, -1]]), X).tolist()
    [[1.0, 1.0, 1.0, -1.0, -1.0, -1.0]]
    """
    op = "hebbian_hopfield_retrieval"
    s0 = as_attention_array(query, f"{op}: query", ndim=2)
    x = as_attention_array(patterns, f"{op}: patterns", ndim=2)
    if s0.shape[-1] != x.shape[-1]:
        raise ValueError(f"{op}: query and patterns must share the last axis, got {tuple(s0.shape)} "
                         f"and {tuple(x.shape)}")
    if isinstance(max_sweeps, bool) or not isinstance(max_sweeps, (int, np.integer)) or max_sweeps < 1:
        raise ValueError(f"{op}: max_sweeps must be a positive int, got {max_sweeps!r}")
    dtype = jnp.result_type(s0.dtype, x.dtype)
    return _hebbian_run(jnp.where(s0 < 0, -1.0, 1.0).astype(dtype), x.astype(dtype), int(max_sweeps))


@partial(jax.jit, static_argnums=2)
def _hebbian_run(s0: jnp.ndarray, x: jnp.ndarray, max_sweeps: int) -> jnp.ndarray:
    d = x.shape[-1]
    w = x.T @ x
    w = w - jnp.diag(jnp.diag(w))

    def sweep(s):
        def unit(i, s):
            h = w[i] @ s
            return s.at[i].set(jnp.where(h > 0, 1.0, jnp.where(h < 0, -1.0, s[i])).astype(s.dtype))
        return jax.lax.fori_loop(0, d, unit, s)

    def one(s):
        def cond(c):
            return c[2] & (c[1] < max_sweeps)

        def body(c):
            s_new = sweep(c[0])
            return s_new, c[1] + 1, jnp.any(s_new != c[0])

        return jax.lax.while_loop(cond, body, (s, 0, True))[0]

    return jax.vmap(one)(s0)
