"""Polynomial-friendly attention normalisers (P095): power-softmax, pointwise attention, Newton
reciprocal / inverse square root and a LayerNorm whose ``1/√v`` is replaceable.

Power-softmax replaces ``exp`` in the attention weights by an even power,

    w_ij = (s_ij^p / L) / (ε + (1/L) Σ_j s_ij^p),          s_ij = scale · q_i·k_j,

so the weights stay normalised while the only non-polynomial step left is one division per
query row. That division (and LayerNorm's inverse square root) can then be replaced by a fixed
number of Newton iterations, which are polynomial in their input, once the input range is known.

>>> import jax
>>> from ntkbook.attention import power_softmax_attention
>>> q = jax.random.normal(jax.random.key(0), (1, 5, 2, 4))
>>> power_softmax_attention(q, q, q, p=4).shape
(1, 5, 2, 4)
"""

from __future__ import annotations

from typing import Any, Callable

import jax.numpy as jnp
from flax import nnx

from ._common import as_attention_array, check_qkv, resolve_scale

__all__ = ["power_softmax", "power_softmax_attention", "pointwise_attention", "newton_reciprocal",
           "newton_rsqrt", "ApproxLayerNorm"]


def _check_power(p: int) -> int:
    if isinstance(p, bool) or not isinstance(p, int) or p < 2 or p % 2:
        raise ValueError(f"p must be an even integer >= 2, got {p!r}")
    return p


def _reciprocal(x: jnp.ndarray) -> jnp.ndarray:
    return 1.0 / x


def power_softmax(s: Any, p: int = 4, *, eps: float = 1e-6, axis: int = -1,
                  reciprocal: Callable[[jnp.ndarray], jnp.ndarray] | None = None) -> jnp.ndarray:
    """Power-softmax ``s^p / (L ε + Σ s^p)`` along ``axis`` (``L`` = length of that axis).

    ``p`` must be even (non-negative weights). ``reciprocal`` computes ``1/d`` for the
    length-normalised denominator ``d = ε + mean(s^p)`` (default: exact division); pass e.g.
    ``functools.partial(newton_reciprocal, ...)`` for a polynomial-only evaluation.

    >>> import jax.numpy as jnp
    >>> w = power_softmax(jnp.array([1.0, -2.0, 0.0]), p=2, eps=0.0)
    >>> [round(float(v), 3) for v in w]
    [0.2, 0.8, 0.0]
    """
    p = _check_power(p)
    s = as_attention_array(s, "s")
    if not eps >= 0:
        raise ValueError(f"eps must be non-negative, got {eps!r}")
    sp = s ** p
    denom = eps + jnp.mean(sp, axis=axis, keepdims=True)
    inv = (reciprocal or _reciprocal)(denom)
    return sp * inv / s.shape[axis]


def _scores(q: Any, k: Any, v: Any, scale: float | None, op: str):
    q, k, v = check_qkv(q, k, v, op, n_spatial=1)
    sc = resolve_scale(scale, q.shape[-1], f"{op}: scale")
    return jnp.einsum("bqhd,bkhd->bhqk", q, k) * sc, v


def power_softmax_attention(q: Any, k: Any, v: Any, *, p: int = 4, eps: float = 1e-6,
                            scale: float | None = None,
                            reciprocal: Callable[[jnp.ndarray], jnp.ndarray] | None = None
                            ) -> jnp.ndarray:
    """Attention with power-softmax weights on heads-last arrays ``[B, L, H, D]`` (non-causal).

    ``scale`` defaults to ``D ** -0.5``; ``reciprocal`` as in :func:`power_softmax`.

    >>> import jax.numpy as jnp
    >>> q = jnp.ones((1, 3, 1, 2)); v = jnp.arange(6.0).reshape(1, 3, 1, 2)
    >>> power_softmax_attention(q, q, v, eps=0.0)[0, 0, 0].tolist()     # equal weights: the mean
    [2.0, 3.0]
    """
    s, v = _scores(q, k, v, scale, "power_softmax_attention")
    w = power_softmax(s, p, eps=eps, reciprocal=reciprocal)
    return jnp.einsum("bhqk,bkhd->bqhd", w, v)


def pointwise_attention(q: Any, k: Any, v: Any, *, p: int = 2, scale: float | None = None) -> jnp.ndarray:
    """Unnormalised polynomial attention ``Σ_j s_ij^p v_j`` (no denominator): the baseline
    power-softmax improves on; its output scale grows with the context length.

    >>> import jax.numpy as jnp
    >>> q = jnp.ones((1, 3, 1, 1))
    >>> pointwise_attention(q, q, q)[0, :, 0, 0].tolist()
    [3.0, 3.0, 3.0]
    """
    p = _check_power(p)
    s, v = _scores(q, k, v, scale, "pointwise_attention")
    return jnp.einsum("bhqk,bkhd->bqhd", s ** p, v)


def _check_iters(iters: int, upper: float) -> None:
    if isinstance(iters, bool) or not isinstance(iters, int) or iters < 0:
        raise ValueError(f"iters must be a non-negative integer, got {iters!r}")
    if not upper > 0:
        raise ValueError(f"the calibrated upper bound must be positive, got {upper!r}")


def newton_reciprocal(x: Any, *, upper: float, iters: int = 10) -> jnp.ndarray:
    """``1/x`` by ``iters`` Newton steps ``y ← y(2 − x y)`` from ``y₀ = 1/upper`` (polynomial in ``x``).

    Converges for ``0 < x < 2·upper``; the relative error after ``k`` steps is
    ``(1 − x/upper)^(2^k)``, so ``upper`` should be a calibrated bound of the inputs' range.

    >>> import jax.numpy as jnp
    >>> round(float(newton_reciprocal(jnp.array(4.0), upper=10.0, iters=8)), 6)
    0.25
    """
    _check_iters(iters, upper)
    x = as_attention_array(x, "x")
    y = jnp.full_like(x, 1.0 / upper)
    for _ in range(iters):
        y = y * (2.0 - x * y)
    return y


def newton_rsqrt(x: Any, *, upper: float, iters: int = 12) -> jnp.ndarray:
    """``1/√x`` by ``iters`` Newton steps ``y ← y(3 − x y²)/2`` from ``y₀ = 1/√upper``.

    Converges monotonically from below for ``0 < x ≤ upper`` (polynomial in ``x``).

    >>> import jax.numpy as jnp
    >>> round(float(newton_rsqrt(jnp.array(4.0), upper=16.0, iters=10)), 6)
    0.5
    """
    _check_iters(iters, upper)
    x = as_attention_array(x, "x")
    y = jnp.full_like(x, upper ** -0.5)
    for _ in range(iters):
        y = 0.5 * y * (3.0 - x * y * y)
    return y


class ApproxLayerNorm(nnx.Module):
    """A LayerNorm (last axis) that shares the parameters of ``norm`` and computes ``1/√(var + ε)``
    with ``rsqrt`` (e.g. ``functools.partial(newton_rsqrt, upper=...)``), for polynomial inference.

    >>> import functools, jax.numpy as jnp
    >>> from flax import nnx
    >>> ln = nnx.LayerNorm(4, rngs=nnx.Rngs(0))
    >>> x = jnp.array([[1.0, 2.0, 3.0, 6.0]])
    >>> approx = ApproxLayerNorm(ln, functools.partial(newton_rsqrt, upper=10.0, iters=20))
    >>> bool(jnp.allclose(approx(x), ln(x), atol=1e-5))
    True
    """

    def __init__(self, norm: nnx.LayerNorm, rsqrt: Callable[[jnp.ndarray], jnp.ndarray]) -> None:
        self.scale, self.bias, self.epsilon = norm.scale, norm.bias, norm.epsilon
        self.rsqrt = rsqrt

    def variance(self, x: jnp.ndarray) -> jnp.ndarray:
        """The per-token variance ``mean((x − mean x)²)`` that the inverse square root reads."""
        return jnp.var(x, axis=-1, keepdims=True)

    def __call__(self, x: jnp.ndarray) -> jnp.ndarray:
        xc = x - jnp.mean(x, axis=-1, keepdims=True)
        y = xc * self.rsqrt(self.variance(x) + self.epsilon)
        if self.scale is not None:
            y = y * self.scale[...]
        if self.bias is not None:
            y = y + self.bias[...]
        return y

