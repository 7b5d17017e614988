"""Elementwise activations with their infinite-width kernel maps.

For pre-activations ``(u, v)`` with covariance ``[[s11, s12], [s12, s22]]`` an activation ``phi``
maps ``nngp -> E[phi(u) phi(v)]`` and ``ntk -> ntk · E[phi'(u) phi'(v)]`` entrywise (per pair of
inputs and, for signals, per pair of positions), and each per-sample covariance likewise. Memory:
that of the incoming kernel (``ElementwiseNumerical`` needs ``deg`` times it while it works).

Closed forms: ``Relu``, ``LeakyRelu``, ``ABRelu``, ``Abs`` (arc-cosine), ``Sign``, ``Erf``,
``Sigmoid_like``, ``Gelu``, ``Sin``, ``Cos``, ``Rbf``, ``Exp``, ``Gaussian``, ``Monomial``,
``Polynomial``; any other function through :func:`ElementwiseNumerical` (Gauss–Hermite).
"""

from __future__ import annotations

import math
from typing import Callable, Sequence

import jax
import jax.numpy as jnp
from jax.scipy.special import erf as _erf

from .. import _validate
from . import _gauss
from ._core import Layer, check_single
from ._state import pair_variances


class _Elementwise(Layer):
    def __init__(self, fn: Callable, maps: Callable, name: str):
        self.fn = fn
        self.maps = maps
        self.name = name

    def out_shape(self, in_shape):
        return check_single(in_shape, self.name)

    def apply(self, params, x):
        return self.fn(x)

    def kernel_fn(self, k, out_full):
        self.out_shape(k.shape)
        if not out_full:
            k = k.to_diagonal()
        a1, a2, c1a, c1b, c2a, c2b = pair_variances(k)
        nngp, dot = self.maps(a1, k.nngp, a2, k.ntk is not None)
        ntk = None if k.ntk is None else k.ntk * dot
        cov1, _ = self.maps(c1a, k.cov1, c1b, False)
        cov2, _ = self.maps(c2a, k.cov2, c2b, False)
        return k.replace(nngp=nngp.astype(k.nngp.dtype), ntk=ntk,
                         cov1=cov1.astype(k.cov1.dtype), cov2=cov2.astype(k.cov2.dtype))


def _float(value, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite float, got {value!r}")
    return float(value)


def ABRelu(a: float, b: float) -> Layer:
    """``phi(x) = a min(x, 0) + b max(x, 0)``; arc-cosine closed form.

    >>> from ntkbook import nn
    >>> round(float(nn.ABRelu(-1.0, 1.0).kernel([[1.0]], get="nngp")[0, 0]), 6)   # |x|: E[u^2]
    1.0
    """
    a, b = _float(a, "a"), _float(b, "b")
    return _Elementwise(lambda x: a * jnp.minimum(x, 0) + b * jnp.maximum(x, 0),
                        _gauss.abrelu(a, b), f"ABRelu({a}, {b})")


def Relu() -> Layer:
    """``max(x, 0)``: ``E = sqrt(s11 s22) (sin t + (pi - t) cos t) / (2 pi)``, ``Tdot = (pi - t)/(2 pi)``.

    >>> from ntkbook import nn
    >>> float(nn.Relu().kernel([[2.0]], get="nngp")[0, 0])   # E[relu(u)^2] = s/2 with s = 4
    2.0
    """
    layer = _Elementwise(jax.nn.relu, _gauss.abrelu(0.0, 1.0), "Relu")
    return layer


def LeakyRelu(alpha: float) -> Layer:
    """``max(x, 0) + alpha min(x, 0)``.

    >>> from ntkbook import nn
    >>> float(nn.LeakyRelu(1.0).kernel([[1.0, 3.0]], get="nngp")[0, 0])   # identity: s = 5
    5.0
    """
    alpha = _float(alpha, "alpha")
    return _Elementwise(lambda x: jnp.maximum(x, 0) + alpha * jnp.minimum(x, 0),
                        _gauss.abrelu(alpha, 1.0), f"LeakyRelu({alpha})")


def Abs() -> Layer:
    """``|x|``.

    >>> from ntkbook import nn
    >>> float(nn.Abs().kernel([[2.0]], get="nngp")[0, 0])
    4.0
    """
    return _Elementwise(jnp.abs, _gauss.abrelu(-1.0, 1.0), "Abs")


def Sign() -> Layer:
    """``sign(x)``: ``T = 1 - 2 theta / pi``; its derivative is 0 almost everywhere, so the NTK
    stops here (as for autodiff of the finite network).

    >>> from ntkbook import nn
    >>> float(nn.Sign().kernel([[1.0, 0.0], [-1.0, 0.0]], get="nngp")[0, 1])
    -1.0
    """
    return _Elementwise(jnp.sign, _gauss.sign(), "Sign")


def Erf(a: float = 1.0, b: float = 1.0, c: float = 0.0) -> Layer:
    """``a erf(b x) + c`` (Williams' arcsine kernel).

    >>> from ntkbook import nn
    >>> float(nn.Erf(c=1.0).kernel([[0.0]], get="nngp")[0, 0])
    1.0
    """
    a, b, c = _float(a, "a"), _float(b, "b"), _float(c, "c")
    return _Elementwise(lambda x: a * _erf(b * x) + c, _gauss.erf(a, b, c), f"Erf({a}, {b}, {c})")


_SIGMOID_SCALE = 2.4020563531719796


def Sigmoid_like() -> Layer:
    """The sigmoid-like ``0.5 erf(x / 2.4020563531719796) + 0.5`` (an ``Erf`` with closed form).

    >>> from ntkbook import nn
    >>> float(nn.Sigmoid_like().kernel([[0.0]], get="nngp")[0, 0])
    0.25
    """
    return _Elementwise(lambda x: 0.5 * _erf(x / _SIGMOID_SCALE) + 0.5,
                        _gauss.erf(0.5, 1 / _SIGMOID_SCALE, 0.5), "Sigmoid_like")


def Gelu() -> Layer:
    """Exact GELU, ``x Phi(x)`` with the standard normal CDF ``Phi``.

    >>> from ntkbook import nn
    >>> float(nn.Gelu().kernel([[0.0]], get="nngp")[0, 0])
    0.0
    """
    return _Elementwise(lambda x: jax.nn.gelu(x, approximate=False), _gauss.gelu(), "Gelu")


def Sin(a: float = 1.0, b: float = 1.0, c: float = 0.0) -> Layer:
    """``a sin(b x + c)``.

    >>> from ntkbook import nn
    >>> round(float(nn.Sin(c=1.5707963267948966).kernel([[0.0]], get="nngp")[0, 0]), 6)
    1.0
    """
    a, b, c = _float(a, "a"), _float(b, "b"), _float(c, "c")
    return _Elementwise(lambda x: a * jnp.sin(b * x + c), _gauss.sin(a, b, c), f"Sin({a}, {b}, {c})")


def Cos(a: float = 1.0, b: float = 1.0, c: float = 0.0) -> Layer:
    """``a cos(b x + c) = a sin(b x + c + pi/2)``.

    >>> from ntkbook import nn
    >>> round(float(nn.Cos().kernel([[0.0]], get="nngp")[0, 0]), 6)
    1.0
    """
    a, b, c = _float(a, "a"), _float(b, "b"), _float(c, "c")
    return _Elementwise(lambda x: a * jnp.cos(b * x + c), _gauss.sin(a, b, c + math.pi / 2),
                        f"Cos({a}, {b}, {c})")


def Rbf(gamma: float = 1.0) -> Layer:
    """``sqrt(2) sin(sqrt(2 gamma) x + pi/4)``, whose NNGP map is the RBF kernel
    ``exp(-gamma (s11 + s22 - 2 s12))`` (= ``exp(-gamma |x - x'|^2 / d)`` on the inputs).

    >>> from ntkbook import nn
    >>> round(float(nn.Rbf(0.5).kernel([[1.0], [0.0]], get="nngp")[0, 1]), 6)   # exp(-0.5)
    0.606531
    """
    _validate.check_positive(gamma, "gamma")
    gamma = _float(gamma, "gamma")
    w = math.sqrt(2 * gamma)
    return _Elementwise(lambda x: math.sqrt(2) * jnp.sin(w * x + math.pi / 4), _gauss.rbf(gamma),
                        f"Rbf({gamma})")


def Exp(a: float = 1.0, b: float = 1.0) -> Layer:
    """``a exp(b x)``.

    >>> from ntkbook import nn
    >>> float(nn.Exp().kernel([[0.0]], get="nngp")[0, 0])
    1.0
    """
    a, b = _float(a, "a"), _float(b, "b")
    return _Elementwise(lambda x: a * jnp.exp(b * x), _gauss.exp(a, b), f"Exp({a}, {b})")


def Gaussian(a: float = 1.0, b: float = -1.0) -> Layer:
    """``a exp(b x^2)``; the kernel is finite while ``1 - 4 b s > 0`` (always for ``b <= 0``).

    >>> from ntkbook import nn
    >>> float(nn.Gaussian().kernel([[0.0]], get="nngp")[0, 0])
    1.0
    """
    a, b = _float(a, "a"), _float(b, "b")
    return _Elementwise(lambda x: a * jnp.exp(b * x * x), _gauss.gaussian(a, b), f"Gaussian({a}, {b})")


def Polynomial(coef: Sequence[float]) -> Layer:
    """``sum_i coef[i] x^i`` (Gaussian moments by Isserlis' theorem).

    >>> from ntkbook import nn
    >>> float(nn.Polynomial([1.0, 0.0, 1.0]).kernel([[1.0]], get="nngp")[0, 0])   # E[(1+u^2)^2] = 1+2+3
    6.0
    """
    try:
        coef = [_float(c, "coef") for c in coef]
    except TypeError:
        raise ValueError(f"coef must be a sequence of floats, got {coef!r}") from None
    if not coef:
        raise ValueError("coef must not be empty")
    cs = tuple(coef)

    def fn(x):
        out = jnp.zeros_like(x) + cs[-1]
        for c in reversed(cs[:-1]):
            out = out * x + c
        return out

    return _Elementwise(fn, _gauss.polynomial(cs), f"Polynomial({list(cs)})")


def Monomial(degree: int) -> Layer:
    """``x ** degree``.

    >>> from ntkbook import nn
    >>> float(nn.Monomial(2).kernel([[1.0]], get="nngp")[0, 0])   # E[u^4] = 3
    3.0
    """
    if isinstance(degree, bool) or not isinstance(degree, int) or degree < 0:
        raise ValueError(f"degree must be a non-negative int, got {degree!r}")
    coef = [0.0] * degree + [1.0]
    return _Elementwise(lambda x: x ** degree, _gauss.polynomial(coef), f"Monomial({degree})")


def ElementwiseNumerical(fn: Callable[[jax.Array], jax.Array], deg: int = 25,
                         df: Callable[[jax.Array], jax.Array] | None = None) -> Layer:
    """Any elementwise ``fn`` with kernels by ``deg x deg``-point Gauss–Hermite quadrature.

    Args:
        fn: a scalar function written with ``jax.numpy`` (applied elementwise).
        deg: quadrature points per dimension; smooth ``fn`` converge fast (``deg ≈ 25``), kinks
            (ReLU-like) only as ``O(deg^-1)``–``O(deg^-1.5)``.
        df: its derivative; default ``jax.grad(fn)`` applied elementwise.

    Memory while computing: ``deg`` times the incoming kernel.

    Example:
        >>> import jax.numpy as jnp
        >>> from ntkbook import nn
        >>> k = nn.serial(nn.Dense(4), nn.ElementwiseNumerical(jnp.tanh, deg=30)).kernel([[1.0, 0.5]])
        >>> k.nngp.shape
        (1, 1)
    """
    if not callable(fn):
        raise ValueError(f"fn must be callable, got {fn!r}")
    deg = _validate.check_positive_int(deg, "deg")
    if df is None:
        grad = jax.grad(lambda x: fn(x))
        df = jnp.vectorize(grad)
    elif not callable(df):
        raise ValueError(f"df must be callable or None, got {df!r}")
    name = f"ElementwiseNumerical({getattr(fn, '__name__', fn)}, deg={deg})"
    return _Elementwise(fn, _gauss.quadrature(fn, df, deg), name)
