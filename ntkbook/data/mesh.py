"""Triangle meshes of the unit sphere, as weighted graphs for graph kernels.

:func:`sphere_mesh` places ``n`` nearly uniform points on the unit sphere (the Fibonacci / golden-angle
spiral) and triangulates them by their convex hull; the graph joins the two ends of every triangle edge
with weight ``1 / length`` (or ``1``).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .._validate import check_positive_int
from ._common import float_dtype

__all__ = ["SphereMesh", "sphere_mesh"]


class SphereMesh(NamedTuple):
    """``points (n, 3)`` on the unit sphere, ``triangles (2n − 4, 3)`` vertex indices, ``adjacency (n, n)``."""

    points: jax.Array
    triangles: jax.Array
    adjacency: jax.Array


def sphere_mesh(n: int, *, weights: str = "inverse_length") -> SphereMesh:
    """Fibonacci-sphere triangle mesh with ``n`` vertices and its weighted edge graph.

    Vertex ``i`` sits at height ``z_i = 1 − (2i + 1)/n`` and longitude ``i · π (3 − √5)`` (the golden
    angle), so the points are close to uniform; the triangles are the faces of their convex hull
    (``2n − 4`` triangles, ``3n − 6`` edges, as for any triangulated sphere).

    Parameters
    ----------
    n
        Number of vertices, ``≥ 4``.
    weights
        ``"inverse_length"``: edge weight ``1 / ‖x_i − x_j‖``; ``"unit"``: weight 1.

    Returns
    -------
    SphereMesh
        Points, triangles (int32) and the symmetric ``(n, n)`` adjacency (zero diagonal) in the default
        float dtype.

    Examples
    --------
    >>> mesh = sphere_mesh(12)
    >>> mesh.points.shape, mesh.triangles.shape, int((mesh.adjacency > 0).sum()) // 2  # 3n - 6 edges
    ((12, 3), (20, 3), 30)
    """
    n = check_positive_int(n, "n")
    if n < 4:
        raise ValueError(f"a sphere mesh needs at least 4 vertices, got {n}")
    if weights not in ("inverse_length", "unit"):
        raise ValueError(f"weights must be 'inverse_length' or 'unit', got {weights!r}")
    from scipy.spatial import ConvexHull

    i = np.arange(n)
    z = 1.0 - (2.0 * i + 1.0) / n
    r = np.sqrt(np.clip(1.0 - z * z, 0.0, None))
    phi = i * np.pi * (3.0 - np.sqrt(5.0))
    x = np.stack([r * np.cos(phi), r * np.sin(phi), z], axis=1)
    tri = ConvexHull(x).simplices.astype(np.int32)
    a = np.zeros((n, n))
    for u, v in ((0, 1), (1, 2), (2, 0)):
        length = np.linalg.norm(x[tri[:, u]] - x[tri[:, v]], axis=1)
        w = 1.0 / length if weights == "inverse_length" else np.ones_like(length)
        a[tri[:, u], tri[:, v]] = w
        a[tri[:, v], tri[:, u]] = w
    dtype = float_dtype()
    return SphereMesh(jnp.asarray(x, dtype), jnp.asarray(tri), jnp.asarray(a, dtype))
