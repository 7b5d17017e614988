"""Gaussian expectations of activations: the NNGP map and its derivative (private).

For a pair ``(u, v)`` of centred jointly Gaussian pre-activations with variances ``s11``, ``s22``
and covariance ``s12`` each activation ``phi`` needs

* ``T(s11, s12, s22) = E[phi(u) phi(v)]``   (the NNGP map), and
* ``Tdot(s11, s12, s22) = E[phi'(u) phi'(v)]``   (its derivative in ``s12``, used by the NTK).

All functions here broadcast over their three array arguments and keep their dtype. They are safe
for zero variances (a zero input) and for colinear inputs (``s12**2 == s11 * s22``).
"""

from __future__ import annotations

import math
from typing import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import scipy.special

Array = jax.Array


def _sqrt0(x: Array) -> Array:
    """``sqrt(max(x, 0))`` with a finite gradient at 0."""
    x = jnp.maximum(x, 0)
    safe = jnp.where(x > 0, x, 1)
    return jnp.where(x > 0, jnp.sqrt(safe), 0)


def angle(s11: Array, s12: Array, s22: Array) -> Array:
    """The angle ``theta = arccos(s12 / sqrt(s11 s22))`` in ``[0, pi]``; ``pi/2`` if a variance is 0."""
    prod = s11 * s22
    sine = _sqrt0(prod - s12 * s12)
    both_zero = (sine == 0) & (s12 == 0)
    theta = jnp.arctan2(sine, jnp.where(both_zero, 1, s12))
    return jnp.where(both_zero, jnp.asarray(math.pi / 2, theta.dtype), theta)


# --------------------------------------------------------------------------- piecewise linear
def abrelu(a: float, b: float):
    """``phi(x) = a min(x, 0) + b max(x, 0)``: arc-cosine kernel of order 1 plus a linear part.

    Writing ``phi = (b - a) relu(x) + a x``,
    ``T = (b-a)^2 / (2 pi) (sqrt(s11 s22 - s12^2) + (pi - theta) s12) + a b s12`` and
    ``Tdot = (a^2 + b^2)/2 - (a - b)^2 theta / (2 pi)``.
    """

    def maps(s11, s12, s22, need_dot=True):
        theta = angle(s11, s12, s22)
        sine = _sqrt0(s11 * s22 - s12 * s12)
        coef = (b - a) ** 2 / (2 * math.pi)
        t = coef * (sine + (math.pi - theta) * s12) + a * b * s12
        dot = ((a * a + b * b) / 2 - (a - b) ** 2 / (2 * math.pi) * theta) if need_dot else None
        return t, dot

    return maps


def sign():
    """``phi = sign``: ``T = 1 - 2 theta / pi`` (0 when a variance is 0); ``Tdot = 0``.

    The derivative of ``sign`` is zero almost everywhere, which is also what automatic
    differentiation of the finite network sees, so the NTK does not flow through this layer.
    """

    def maps(s11, s12, s22, need_dot=True):
        theta = angle(s11, s12, s22)
        nonzero = (s11 > 0) & (s22 > 0)
        t = jnp.where(nonzero, 1 - 2 * theta / math.pi, 0)
        return t, (jnp.zeros_like(t) if need_dot else None)

    return maps


# --------------------------------------------------------------------------- smooth, closed form
def erf(a: float, b: float, c: float):
    """``phi = a erf(b x) + c`` (Williams 1997):
    ``T = a^2 (2/pi) arcsin(2 b^2 s12 / sqrt((1 + 2 b^2 s11)(1 + 2 b^2 s22))) + c^2``,
    ``Tdot = a^2 b^2 (4/pi) / sqrt((1 + 2 b^2 s11)(1 + 2 b^2 s22) - 4 b^4 s12^2)``."""

    def maps(s11, s12, s22, need_dot=True):
        bb = 2 * b * b
        prod = (1 + bb * s11) * (1 + bb * s22)
        root = _sqrt0(prod - (bb * s12) ** 2)
        t = a * a * (2 / math.pi) * jnp.arctan2(bb * s12, root) + c * c
        dot = a * a * b * b * (4 / math.pi) / root if need_dot else None
        return t, dot

    return maps


def gelu():
    """``phi(x) = x Phi(x)`` (exact GELU). With ``P = (1+s11)(1+s22)``, ``delta = sqrt(P - s12^2)``,
    ``T = s12/4 + [s12 atan(s12/delta) + (s12^2 + s11 s22 delta^2) / (P delta)] / (2 pi)`` and
    ``Tdot = 1/4 + [atan(s12/delta) + (s12/delta)(1 + (1 - s11 s22)/P + 1/delta^2)] / (2 pi)``
    (derived by conditioning on auxiliary Gaussians and differentiating in ``s12``)."""

    def maps(s11, s12, s22, need_dot=True):
        P = (1 + s11) * (1 + s22)
        delta = jnp.sqrt(jnp.maximum(P - s12 * s12, 1))  # P - s12^2 >= 1 + s11 + s22 >= 1
        ang = jnp.arctan2(s12, delta)
        t = s12 / 4 + (s12 * ang + (s12 * s12 + s11 * s22 * delta * delta) / (P * delta)) / (2 * math.pi)
        dot = None
        if need_dot:
            dot = 0.25 + (ang + s12 / delta * (1 + (1 - s11 * s22) / P + 1 / (delta * delta))) / (2 * math.pi)
        return t, dot

    return maps


def sin(a: float, b: float, c: float):
    """``phi = a sin(b x + c)``:
    ``T = a^2/2 [exp(-b^2 (s11 + s22 - 2 s12)/2) - cos(2c) exp(-b^2 (s11 + s22 + 2 s12)/2)]``,
    ``Tdot = a^2 b^2 / 2 [exp(-b^2 (s11 + s22 - 2 s12)/2) + cos(2c) exp(-b^2 (s11 + s22 + 2 s12)/2)]``."""

    def maps(s11, s12, s22, need_dot=True):
        bb = b * b
        e_minus = jnp.exp(-bb * (s11 + s22 - 2 * s12) / 2)
        e_plus = jnp.exp(-bb * (s11 + s22 + 2 * s12) / 2) * math.cos(2 * c)
        t = a * a / 2 * (e_minus - e_plus)
        dot = a * a * bb / 2 * (e_minus + e_plus) if need_dot else None
        return t, dot

    return maps


def rbf(gamma: float):
    """``phi = sqrt(2) sin(sqrt(2 gamma) x + pi/4)``: ``T = exp(-gamma (s11 + s22 - 2 s12))``,
    ``Tdot = 2 gamma T``."""

    def maps(s11, s12, s22, need_dot=True):
        t = jnp.exp(-gamma * (s11 + s22 - 2 * s12))
        return t, (2 * gamma * t if need_dot else None)

    return maps


def exp(a: float, b: float):
    """``phi = a exp(b x)``: ``T = a^2 exp(b^2 (s11 + s22 + 2 s12) / 2)``, ``Tdot = b^2 T``."""

    def maps(s11, s12, s22, need_dot=True):
        t = a * a * jnp.exp(b * b * (s11 + s22 + 2 * s12) / 2)
        return t, (b * b * t if need_dot else None)

    return maps


def gaussian(a: float, b: float):
    """``phi = a exp(b x^2)`` (finite for ``1 - 2 b s > 0``): with
    ``D = (1 - 2 b s11)(1 - 2 b s22) - 4 b^2 s12^2``, ``T = a^2 / sqrt(D)`` and
    ``Tdot = 4 a^2 b^2 s12 / D^{3/2}``."""

    def maps(s11, s12, s22, need_dot=True):
        D = (1 - 2 * b * s11) * (1 - 2 * b * s22) - 4 * b * b * s12 * s12
        t = a * a / jnp.sqrt(D)
        dot = 4 * a * a * b * b * s12 / (D * jnp.sqrt(D)) if need_dot else None
        return t, dot

    return maps


def _double_factorial_odd(n: int) -> int:
    """``(n)!!`` for odd ``n >= -1`` (``(-1)!! = 1``)."""
    out = 1
    while n > 1:
        out *= n
        n -= 2
    return out


def gaussian_moment(m: int, n: int, s11: Array, s12: Array, s22: Array) -> Array:
    """``E[u^m v^n]`` by Isserlis' theorem: a sum over the number ``k`` of ``u``–``v`` pairings."""
    total = jnp.zeros_like(s12)
    for k in range(min(m, n) + 1):
        if (m - k) % 2 or (n - k) % 2:
            continue
        count = (math.comb(m, k) * math.comb(n, k) * math.factorial(k)
                 * _double_factorial_odd(m - k - 1) * _double_factorial_odd(n - k - 1))
        term = float(count) * s12 ** k
        if m - k:
            term = term * s11 ** ((m - k) // 2)
        if n - k:
            term = term * s22 ** ((n - k) // 2)
        total = total + term
    return total


def polynomial(coef: Sequence[float]):
    """``phi = sum_i coef[i] x^i``: ``T = sum_ij c_i c_j E[u^i v^j]`` and
    ``Tdot = sum_ij i j c_i c_j E[u^(i-1) v^(j-1)]`` (Gaussian moments by Isserlis' theorem)."""
    coef = [float(c) for c in coef]

    def maps(s11, s12, s22, need_dot=True):
        t = jnp.zeros_like(s12 * s11 * s22)
        dot = jnp.zeros_like(t) if need_dot else None
        for i, ci in enumerate(coef):
            for j, cj in enumerate(coef):
                if ci == 0 or cj == 0:
                    continue
                t = t + ci * cj * gaussian_moment(i, j, s11, s12, s22)
                if need_dot and i > 0 and j > 0:
                    dot = dot + i * j * ci * cj * gaussian_moment(i - 1, j - 1, s11, s12, s22)
        return t, dot

    return maps


# --------------------------------------------------------------------------- numerical
def hermite_rule(deg: int) -> tuple[np.ndarray, np.ndarray]:
    """Nodes and weights of ``deg``-point Gauss–Hermite quadrature for ``E_{z ~ N(0,1)}[f(z)]``."""
    z, w = scipy.special.roots_hermitenorm(deg)
    return np.asarray(z, np.float64), np.asarray(w, np.float64) / math.sqrt(2 * math.pi)


def quadrature(fn: Callable[[Array], Array], df: Callable[[Array], Array], deg: int):
    """2-D Gauss–Hermite quadrature of ``E[fn(u) fn(v)]`` and ``E[df(u) df(v)]``.

    ``u = sqrt(s11) z1``, ``v = rho sqrt(s22) z1 + sqrt((1 - rho^2) s22) z2`` with nodes ``z1, z2``;
    the ``z1`` nodes are swept in chunks so memory stays near ``max(deg, 2**22 / size)`` times
    the kernel size.
    """
    z_np, w_np = hermite_rule(deg)

    def expect(g, s11, s12, s22):
        dtype = jnp.result_type(s11, s12, s22)
        z = jnp.asarray(z_np, dtype)
        w = jnp.asarray(w_np, dtype)
        s11, s12, s22 = jnp.broadcast_arrays(s11, s12, s22)
        prod = s11 * s22
        rho = jnp.where(prod > 0, s12 / jnp.sqrt(jnp.where(prod > 0, prod, 1)), 0)
        rho = jnp.clip(rho, -1, 1)
        r1 = jnp.sqrt(s11)
        r22 = jnp.sqrt(s22)
        a = rho * r22
        c = _sqrt0(1 - rho * rho) * r22

        # Sweep the z1 nodes in chunks so that at most ~2**22 integrand values live at once.
        size = max(int(np.prod(s12.shape)), 1)
        chunk = int(max(1, min(deg, (1 << 22) // (size * deg))))
        acc = jnp.zeros(s12.shape, dtype)
        for start in range(0, deg, chunk):
            zi, wi = z[start:start + chunk], w[start:start + chunk]
            u = g(r1[..., None] * zi)  # (..., chunk)
            v = g(a[..., None, None] * zi[:, None] + c[..., None, None] * z)  # (..., chunk, deg)
            acc = acc + jnp.sum(wi * u * jnp.sum(v * w, axis=-1), axis=-1)
        return acc

    def maps(s11, s12, s22, need_dot=True):
        t = expect(fn, s11, s12, s22)
        dot = expect(df, s11, s12, s22) if need_dot else None
        return t, dot

    return maps
