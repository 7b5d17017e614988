"""In-context linear regression prompts (for transformers that learn from examples in their input).

A prompt holds ``n`` examples ``(x_i, y_i)`` of one random linear task ``y = wᵀx + ε`` with
``w ~ N(0, I_d)`` and ``ε ~ N(0, noise²)``; a new ``w`` is drawn for every prompt. Inputs are Gaussian,
``x ~ N(0, Σ)``, with ``Σ = I`` or, for ``condition_number = κ > 1``, a randomly rotated covariance whose
eigenvalues are spaced geometrically from ``1`` down to ``1/κ`` (one rotation per prompt).

:func:`icl_tokens` turns a batch into ``2n`` tokens of width ``d + 1`` for a transformer: ``n`` context
tokens ``[x_i; y_i]`` and then ``n`` query tokens ``[x_i; 0]``; under :func:`icl_query_mask` the query
token of example ``i`` sees only the ``i − 1`` examples before it, so the outputs at the query tokens
are predictions for every prompt length ``0 … n − 1`` at once.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .._validate import as_float_array, check_positive, check_positive_int
from ._common import check_key, float_dtype

__all__ = ["ICLRegression", "icl_linear_regression", "icl_tokens", "icl_query_mask"]


class ICLRegression(NamedTuple):
    """A batch of in-context linear regression prompts.

    Attributes:
        x: ``(B, n, d)`` inputs.
        y: ``(B, n)`` targets ``x wᵀ + ε``.
        w: ``(B, d)`` the task vector of every prompt.
    """

    x: jax.Array
    y: jax.Array
    w: jax.Array


def icl_linear_regression(key: jax.Array, num_prompts: int, num_examples: int, dim: int, *,
                          noise: float = 0.0, condition_number: float = 1.0) -> ICLRegression:
    """Draw ``num_prompts`` prompts of ``num_examples`` examples of a random linear task in ``dim`` dims.

    Args:
        key: a ``jax.random`` key.
        num_prompts, num_examples, dim: ``B``, ``n``, ``d`` (positive ints).
        noise: standard deviation ``σ ≥ 0`` of the label noise.
        condition_number: ``κ ≥ 1`` of the input covariance (``1``: isotropic ``x ~ N(0, I)``).

    Returns:
        :class:`ICLRegression` with ``x (B, n, d)``, ``y (B, n)``, ``w (B, d)`` in the default float dtype.

    >>> import jax
    >>> p = icl_linear_regression(jax.random.key(0), 3, 5, 2, noise=0.1)
    >>> p.x.shape, p.y.shape, p.w.shape
    ((3, 5, 2), (3, 5), (3, 2))
    """
    key = check_key(key)
    b = check_positive_int(num_prompts, "num_prompts")
    n = check_positive_int(num_examples, "num_examples")
    d = check_positive_int(dim, "dim")
    check_positive(noise, "noise", allow_zero=True)
    if not (isinstance(condition_number, (int, float)) and condition_number >= 1.0):
        raise ValueError(f"condition_number must be a number >= 1, got {condition_number!r}")
    return _draw(key, b, n, d, float(noise), float(condition_number), float_dtype())


@functools.partial(jax.jit, static_argnums=(1, 2, 3, 4, 5, 6))
def _draw(key, b, n, d, noise, kappa, dtype):
    # one normal draw, sliced (one random-number kernel compiles much faster than four)
    sizes = (b * n * d, b * d, b * n, b * d * d if kappa > 1.0 else 0)
    flat = jax.random.normal(key, (sum(sizes),), dtype)
    parts = jnp.split(flat, np.cumsum(sizes)[:-1])
    x, w, eps = parts[0].reshape(b, n, d), parts[1].reshape(b, d), parts[2].reshape(b, n)
    if kappa > 1.0:
        scales = jnp.sqrt(jnp.geomspace(1.0, 1.0 / kappa, d)).astype(dtype)
        rotations, _ = jnp.linalg.qr(parts[3].reshape(b, d, d))
        x = jnp.einsum("bnd,d,bed->bne", x, scales, rotations)  # x = U diag(sqrt(eig)) z
    y = jnp.einsum("bnd,bd->bn", x, w) + noise * eps
    return ICLRegression(x, y, w)


def icl_tokens(x: jax.Array, y: jax.Array) -> jax.Array:
    """Context tokens ``[x_i; y_i]`` followed by query tokens ``[x_i; 0]``: shape ``(B, 2n, d + 1)``.

    With the mask of :func:`icl_query_mask`, query token ``n + i`` sees the ``i`` examples before
    example ``i``, so one pass gives the prediction of every ``y_i`` from its prefix.

    >>> import jax.numpy as jnp
    >>> icl_tokens(jnp.ones((1, 2, 2)), jnp.array([[5.0, 6.0]]))[0]
    Array([[1., 1., 5.],
           [1., 1., 6.],
           [1., 1., 0.],
           [1., 1., 0.]], dtype=float32)
    """
    x = as_float_array(x, "x", ndim=3)
    y = as_float_array(y, "y", ndim=2).astype(x.dtype)
    b, n, d = x.shape
    if y.shape != (b, n):
        raise ValueError(f"y must have shape {(b, n)} to match x {tuple(x.shape)}, got {tuple(y.shape)}")
    context = jnp.concatenate([x, y[..., None]], axis=-1)
    queries = jnp.concatenate([x, jnp.zeros((b, n, 1), x.dtype)], axis=-1)
    return jnp.concatenate([context, queries], axis=1)


def icl_query_mask(num_examples: int) -> np.ndarray:
    """Boolean attention mask ``(2n, 2n)`` (True = attend) for :func:`icl_tokens`.

    Context token ``i`` sees context tokens ``j ≤ i``; query token ``n + i`` sees context tokens ``j < i``
    and itself — never its own label or a later one.

    >>> icl_query_mask(2).astype(int)
    array([[1, 0, 0, 0],
           [1, 1, 0, 0],
           [0, 0, 1, 0],
           [1, 0, 0, 1]])
    """
    n = check_positive_int(num_examples, "num_examples")
    i = np.arange(n)
    mask = np.zeros((2 * n, 2 * n), bool)
    mask[:n, :n] = i[:, None] >= i[None, :]
    mask[n:, :n] = i[:, None] > i[None, :]
    mask[n:, n:] = np.eye(n, dtype=bool)
    return mask
