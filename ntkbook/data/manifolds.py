"""Points on manifolds with known geodesic distances.

* :func:`swiss_roll` — the Swiss roll surface in ``R³`` with its isometric unrolled coordinates, so that the
  geodesic distance on the surface is the Euclidean distance between unrolled coordinates.
* :func:`sphere_geodesic` — great-circle distances ``arccos⟨x, y⟩`` between points on a unit sphere
  (for the points use :func:`ntkbook.data.sphere`).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from .._validate import as_float_array, check_positive, check_positive_int
from ._common import check_key, float_dtype

__all__ = ["SwissRoll", "swiss_roll", "sphere_geodesic"]


class SwissRoll(NamedTuple):
    """A Swiss-roll sample: ``points (n, 3)`` in space and ``coords (n, 2)``, the unrolled (arc length, height)."""

    points: jax.Array
    coords: jax.Array


def swiss_roll(key: jax.Array, n: int, *, noise: float = 0.0, height: float = 21.0) -> SwissRoll:
    """Sample the Swiss roll together with its isometric unrolled coordinates.

    The angle ``θ = 1.5π (1 + 2u)`` and height ``h = height · v`` (``u, v`` uniform on ``[0, 1]``) give the
    point ``(θ cos θ, h, θ sin θ)`` (the parametrisation popularised by scikit-learn's ``make_swiss_roll``).
    The spiral has arc length ``s(θ) = ½ (θ √(1 + θ²) + asinh θ)``, so ``(s, h)`` is an isometric chart:
    geodesic distances on the surface equal Euclidean distances between the ``coords``. Points are
    uniform in ``(θ, h)``, not in area (density grows towards the inner turn like ``1/√(1 + θ²)``).

    Parameters
    ----------
    key
        PRNG key.
    n
        Number of points.
    noise
        Standard deviation of isotropic Gaussian noise added to ``points`` (``coords`` stay clean), ``≥ 0``.
    height
        Width of the roll along its axis, ``> 0``.

    Returns
    -------
    SwissRoll
        ``points (n, 3)`` and ``coords (n, 2)`` in the default float dtype.

    Examples
    --------
    >>> import jax
    >>> roll = swiss_roll(jax.random.key(0), 5)
    >>> roll.points.shape, roll.coords.shape
    ((5, 3), (5, 2))
    """
    key = check_key(key)
    n = check_positive_int(n, "n")
    check_positive(noise, "noise", allow_zero=True)
    check_positive(height, "height")
    return _swiss_roll(key, n, float(noise), float(height), float_dtype())


@jax.jit(static_argnums=(1, 4))
def _swiss_roll(key, n, noise, height, dtype):
    k_u, k_v, k_noise = jax.random.split(key, 3)
    theta = 1.5 * jnp.pi * (1.0 + 2.0 * jax.random.uniform(k_u, (n,), dtype))
    h = height * jax.random.uniform(k_v, (n,), dtype)
    points = jnp.stack([theta * jnp.cos(theta), h, theta * jnp.sin(theta)], axis=1)
    points = points + noise * jax.random.normal(k_noise, (n, 3), dtype)
    arc = 0.5 * (theta * jnp.sqrt(1.0 + theta ** 2) + jnp.arcsinh(theta))
    return SwissRoll(points, jnp.stack([arc, h], axis=1))


def sphere_geodesic(x: Any) -> jax.Array:
    """Great-circle distances ``arccos⟨x_i, x_j⟩`` between unit vectors.

    Parameters
    ----------
    x
        ``(n, d)`` points on the unit sphere (rows are normalised first).

    Returns
    -------
    jax.Array
        ``(n, n)`` distances in ``[0, π]`` with a zero diagonal.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> d = sphere_geodesic(jnp.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]]))
    >>> [round(float(v), 4) for v in d[0]]
    [0.0, 1.5708, 3.1416]
    """
    x = as_float_array(x, "x", ndim=2)
    x = x / jnp.linalg.norm(x, axis=1, keepdims=True)
    d = jnp.arccos(jnp.clip(x @ x.T, -1.0, 1.0))
    return d.at[jnp.diag_indices(x.shape[0])].set(0.0)
