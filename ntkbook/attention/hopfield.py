"""Modern (continuous) Hopfield networks: retrieval is softmax attention (Ramsauer et al., P071).

For stored patterns ``X = (x_1, …, x_N)`` and a state ``ξ``, the energy
``E(ξ) = −β⁻¹ log Σ_i exp(β x_iᵀξ) + ½ ξᵀξ + β⁻¹ log N + ½ M²`` (``M = max_i ‖x_i‖``) is
decreased by the update ``ξ ← X softmax(β Xᵀ ξ)`` — attention with query ``ξ``, keys = values =
patterns and scale ``β``.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ._common import as_attention_array
from .dot_product import dot_product_attention

__all__ = ["hopfield_retrieval", "hopfield_energy"]


def _check(query: Any, patterns: Any, beta: Any, op: str) -> tuple[jnp.ndarray, jnp.ndarray, float]:
    xi = as_attention_array(query, f"{op}: query", min_ndim=2)
    x = as_attention_array(patterns, f"{op}: patterns", min_ndim=2)
    if xi.shape[-1] != x.shape[-1]:
        raise ValueError(f"{op}: query and patterns must share the last axis, got {tuple(xi.shape)} "
                         f"and {tuple(x.shape)}")
    if x.ndim > 2 and x.shape[:-2] != xi.shape[:-2]:
        raise ValueError(f"{op}: patterns [..., N, D] must have the query's leading axes "
                         f"{tuple(xi.shape[:-2])} (or be [N, D]), got {tuple(x.shape)}")
    try:
        b = float(beta)
    except (TypeError, ValueError):
        raise ValueError(f"{op}: beta must be a positive float, got {beta!r}") from None
    if not np.isfinite(b) or b <= 0:
        raise ValueError(f"{op}: beta must be a positive finite float, got {beta!r}")
    return xi, x, b


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
