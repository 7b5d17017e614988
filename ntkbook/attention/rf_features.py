"""Random-feature attention (Fu, Guo, Bai & Mei, P031): many frozen random heads, trained values.

A single attention layer with ``M`` heads whose query–key products ``W_m = Q_m K_mᵀ`` are drawn
at random and frozen, and whose value vectors ``v_m`` are trained, computes

``f(x₀, X) = (1/M) Σ_m Σ_i softmax_i(x₀ᵀ W_m x_i) ⟨v_m, x_i⟩ = (1/M) Σ_m ⟨v_m, φ_m(x₀, X)⟩``

with ``φ_m(x₀, X) = Σ_i softmax_i(x₀ᵀ W_m x_i) x_i ∈ R^d``: a linear model on the ``M·d`` random
features ``φ`` — a random-feature model, fitted by ridge regression.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ._common import as_attention_array

__all__ = ["random_attention_weights", "rf_attention_features"]


def random_attention_weights(key: Any, d: int, num_heads: int, *, mean: float = 0.0,
                             dtype: Any = None) -> jnp.ndarray:
    """Draw ``num_heads`` frozen query–key matrices ``W_m = mean·I + G_m``, ``G_m`` iid ``N(0, 1/d)``.

    Parameters
    ----------
    key : jax.random key
    d : int
        Token dimension.
    num_heads : int
        Number of heads ``M``.
    mean : float, keyword-only
        Multiple of the identity added to every ``W_m`` (``0`` gives the zero-mean ensemble).
    dtype : floating dtype, optional, keyword-only

    Returns
    -------
    array ``(M, d, d)``.

    Raises
    ------
    ValueError
        If ``d`` or ``num_heads`` is not a positive integer or ``mean`` is not finite.

    Examples
    --------
    >>> import jax
    >>> W = random_attention_weights(jax.random.key(0), 4, 3, mean=1.0)
    >>> W.shape
    (3, 4, 4)
    """
    for name, v in (("d", d), ("num_heads", num_heads)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise ValueError(f"random_attention_weights: {name} must be a positive integer, got {v!r}")
    try:
        mu = float(mean)
    except (TypeError, ValueError):
        raise ValueError(f"random_attention_weights: mean must be a finite float, got {mean!r}") from None
    if not np.isfinite(mu):
        raise ValueError(f"random_attention_weights: mean must be a finite float, got {mean!r}")
    dtype = jnp.dtype(dtype) if dtype is not None else jnp.result_type(float)
    if not jnp.issubdtype(dtype, jnp.floating):
        raise ValueError(f"random_attention_weights: dtype must be floating, got {dtype}")
    g = jax.random.normal(key, (int(num_heads), int(d), int(d)), dtype) / np.sqrt(d)
    return g + jnp.asarray(mu, dtype) * jnp.eye(int(d), dtype=dtype)


@jax.jit
def _features(x0, x, w):
    scores = jnp.einsum("...a,mab,...ib->...mi", x0, w, x)
    attn = jax.nn.softmax(scores, axis=-1)
    return jnp.einsum("...mi,...ib->...mb", attn, x)


def rf_attention_features(query: Any, keys: Any, weights: Any) -> jnp.ndarray:
    """Random-feature attention features ``φ_m = Σ_i softmax_i(x₀ᵀ W_m x_i) x_i`` for every head.

    Parameters
    ----------
    query : array ``[..., d]``
        The query token ``x₀`` of each example.
    keys : array ``[..., N, d]``
        The ``N`` key tokens ``x_i`` (which are also the values), same leading axes as ``query``.
    weights : array ``(M, d, d)``
        Frozen query–key matrices ``W_m`` (e.g. from :func:`random_attention_weights`).

    Returns
    -------
    array ``[..., M, d]`` in the promoted dtype; reshape to ``[..., M·d]`` (and scale by
    ``1/√M``) for a ridge regression over all heads.

    Raises
    ------
    ValueError
        On mismatched shapes, empty axes, non-finite or non-floating inputs.

    Examples
    --------
    >>> import jax
    >>> x = jax.random.normal(jax.random.key(0), (5, 7, 3))          # 5 sets of 7 tokens in R^3
    >>> W = random_attention_weights(jax.random.key(1), 3, 4)
    >>> rf_attention_features(x[:, 0], x, W).shape
    (5, 4, 3)
    """
    op = "rf_attention_features"
    x0 = as_attention_array(query, f"{op}: query", min_ndim=1)
    x = as_attention_array(keys, f"{op}: keys", min_ndim=2)
    w = as_attention_array(weights, f"{op}: weights", ndim=3)
    d = x0.shape[-1]
    if x.shape[-1] != d or w.shape[1:] != (d, d):
        raise ValueError(f"{op}: query [..., d], keys [..., N, d] and weights (M, d, d) must share d, got "
                         f"{tuple(x0.shape)}, {tuple(x.shape)}, {tuple(w.shape)}")
    if x.shape[:-2] != x0.shape[:-1]:
        raise ValueError(f"{op}: keys [..., N, d] must have the query's leading axes {tuple(x0.shape[:-1])}, "
                         f"got {tuple(x.shape)}")
    dt = jnp.result_type(x0.dtype, x.dtype, w.dtype)
    return _features(x0.astype(dt), x.astype(dt), w.astype(dt))
