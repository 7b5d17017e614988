"""Compact Taylor features of the softmax kernel from symmetric monomials.

:func:`~ntkbook.attention.taylor_features` builds the truncated series ``Σ_{p≤P} (s q·k)^p / p!`` from
full tensor powers, ``Σ_p D^p`` features. The same inner product needs only the ``C(D+P, P)`` distinct
monomials: by the multinomial theorem ``(q·k)^p / p! = Σ_{|α|=p} q^α k^α / α!``, so

``φ(x) = ( x'^α / √(α!) )_{|α| ≤ P}``, ``x' = √s · x``, gives ``φ(q)·φ(k) = Σ_{p≤P} (s q·k)^p / p!``.

For ``D = 8`` and ``P = 4`` that is 495 features instead of 4,681 (the low-rank factorisation of
``exp(s QKᵀ)`` used in P057 and P102).
"""

from __future__ import annotations

import dataclasses
import itertools
import math

import jax
import jax.numpy as jnp
import numpy as np

from .._validate import check_positive_int
from .features import _input_scale

__all__ = ["SymmetricTaylorFeatures", "symmetric_taylor_features", "num_symmetric_taylor_features"]


def num_symmetric_taylor_features(head_dim: int, degree: int) -> int:
    """Number of monomials of degree ``≤ degree`` in ``head_dim`` variables, ``C(head_dim + degree, degree)``.

    >>> num_symmetric_taylor_features(8, 4)
    495
    """
    head_dim = check_positive_int(head_dim, "head_dim")
    degree = _check_degree(degree)
    return math.comb(head_dim + degree, degree)


def _check_degree(degree: int) -> int:
    if isinstance(degree, bool) or not isinstance(degree, (int, np.integer)) or degree < 0:
        raise ValueError(f"degree must be a non-negative int, got {degree!r}")
    return int(degree)


def _monomials(head_dim: int, degree: int) -> tuple[np.ndarray, np.ndarray]:
    """``(r, degree)`` variable indices (``head_dim`` = the constant 1) and ``(r,)`` weights ``1/√(α!)``."""
    rows, weights = [], []
    combos = itertools.combinations_with_replacement(range(head_dim + 1), degree)
    # constant first, then by degree: sort on the number of non-constant factors, then reversed indices
    for combo in sorted(combos, key=lambda c: (sum(i < head_dim for i in c), sorted(c))):
        counts = np.bincount([c for c in combo if c < head_dim], minlength=head_dim)
        rows.append(combo)
        weights.append(1.0 / math.sqrt(float(np.prod([math.factorial(int(c)) for c in counts]))))
    return np.asarray(rows, np.int32).reshape(len(rows), degree), np.asarray(weights)


@jax.tree_util.register_pytree_node_class
@dataclasses.dataclass(frozen=True)
class SymmetricTaylorFeatures:
    """Symmetric-monomial Taylor features: ``φ(q)·φ(k) = Σ_{p=0}^{degree} (s q·k)^p / p!``.

    ``[..., head_dim] → [..., C(head_dim + degree, degree)]``; ``input_scale = √s``. Build with
    :func:`symmetric_taylor_features`.

    >>> import jax.numpy as jnp
    >>> [round(float(v), 4) for v in SymmetricTaylorFeatures(2, 2, 1.0)(jnp.array([1.0, 2.0]))]
    [1.0, 1.0, 2.0, 0.7071, 2.0, 2.8284]
    """

    head_dim: int
    degree: int
    input_scale: float

    def tree_flatten(self) -> tuple[tuple[()], tuple[int, int, float]]:
        return (), (self.head_dim, self.degree, self.input_scale)

    @classmethod
    def tree_unflatten(cls, aux: tuple[int, int, float], children: tuple[()]) -> "SymmetricTaylorFeatures":
        return cls(*aux)

    @property
    def num_features(self) -> int:
        return math.comb(self.head_dim + self.degree, self.degree)

    def __call__(self, x: jnp.ndarray) -> jnp.ndarray:
        x = jnp.asarray(x)
        if x.ndim < 1 or x.shape[-1] != self.head_dim:
            raise ValueError(f"SymmetricTaylorFeatures expects inputs with last axis {self.head_dim}, "
                             f"got shape {tuple(x.shape)}")
        dt = jnp.result_type(x.dtype, jnp.float32)
        idx, w = _monomials(self.head_dim, self.degree)
        xs = jnp.concatenate([x.astype(dt) * self.input_scale, jnp.ones(x.shape[:-1] + (1,), dt)], axis=-1)
        if self.degree == 0:
            return jnp.ones(x.shape[:-1] + (1,), dt)
        # select the factors by one-hot matmuls rather than a gather: the backward pass is then a matmul
        # too, not a scatter-add (several times faster on CPU)
        sel = jax.nn.one_hot(jnp.asarray(idx), self.head_dim + 1, dtype=dt)      # (r, degree, D + 1)
        factors = jnp.einsum("...i,rpi->...rp", xs, sel)
        return jnp.prod(factors, axis=-1) * jnp.asarray(w, dt)


def symmetric_taylor_features(head_dim: int, degree: int = 4, *,
                              scale: float | None = None) -> SymmetricTaylorFeatures:
    """Taylor feature map of ``exp(scale · q·k)`` truncated at ``degree``, one feature per monomial.

    Same kernel as :func:`~ntkbook.attention.taylor_features` with ``C(head_dim + degree, degree)``
    features instead of ``Σ_p head_dim^p``; ``scale`` defaults to ``head_dim ** -0.5``. The truncation
    error per kernel entry is at most ``e^{|t|} |t|^{degree+1} / (degree+1)!`` for ``t = scale · q·k``.

    >>> import jax.numpy as jnp
    >>> phi = symmetric_taylor_features(3, 4, scale=1.0)
    >>> q = jnp.array([0.3, -0.1, 0.2]); k = jnp.array([0.2, 0.5, -0.4])
    >>> t = float(q @ k); exact = sum(t ** p / math.factorial(p) for p in range(5))
    >>> phi.num_features, bool(abs(phi(q) @ phi(k) - exact) < 1e-6)
    (35, True)
    """
    head_dim = check_positive_int(head_dim, "head_dim")
    degree = _check_degree(degree)
    return SymmetricTaylorFeatures(head_dim, degree, _input_scale(scale, head_dim))
