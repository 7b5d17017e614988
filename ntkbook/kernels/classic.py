"""Classic positive-definite kernels as jit/vmap-friendly JAX functions.

Every kernel follows the package convention ``k(x1, x2=None, *, hyper...) -> Gram``:

* ``x1`` has shape ``(N1, d)``; ``x2`` has shape ``(N2, d)`` or is ``None``, meaning ``x2 = x1``;
* the result has shape ``(N1, N2)`` and the floating dtype of the inputs (float32 by default,
  float64 when ``jax_enable_x64`` is on and the inputs are float64);
* hyperparameters are keyword-only. They may be traced (e.g. differentiated for marginal-likelihood
  fitting); their values are checked only when they are concrete.

When ``x2`` is ``None`` the inner products / squared distances are symmetrised and, for the
distance-based kernels, the diagonal is computed from an exact zero distance; the Gram matrix is
symmetric up to a few ulps (XLA may round an element-wise function differently at mirrored positions).

Stationary kernels (:func:`rbf`, :func:`laplace`, :func:`matern`) accept a scalar ``lengthscale`` or one
lengthscale per input dimension (shape ``(d,)``, "automatic relevance determination").

Inner products and squared distances are computed with ``precision=HIGHEST`` matrix products, so that
accelerators which would otherwise use reduced-precision (TF32/bfloat16) passes keep float32 accuracy.
"""

from __future__ import annotations

import functools
import math
from typing import Any, Literal

import jax
import jax.numpy as jnp
import numpy as np

from .._validate import (
    as_float_array,
    check_positive,
    check_positive_int,
    check_same_features,
    is_concrete,
)

__all__ = [
    "sq_distances",
    "rbf",
    "laplace",
    "matern",
    "polynomial",
    "linear",
    "arccos",
]

_HIGHEST = jax.lax.Precision.HIGHEST
_MATERN_NUS = (0.5, 1.5, 2.5)
_ARCCOS_ORDERS = (0, 1, 2)


# --------------------------------------------------------------------------------------------------
# Input handling and numerically safe building blocks (private)
# --------------------------------------------------------------------------------------------------

def _inputs(x1: Any, x2: Any) -> tuple[jnp.ndarray, jnp.ndarray | None]:
    """Validate ``x1`` (and ``x2`` unless ``None``) and bring both to a common floating dtype."""
    a = as_float_array(x1, "x1", ndim=2)
    if x2 is None:
        return a, None
    b = as_float_array(x2, "x2", ndim=2)
    check_same_features(a, b)
    dtype = jnp.result_type(a.dtype, b.dtype)
    return a.astype(dtype), b.astype(dtype)


def _scalar_hyper(value: Any, name: str, dtype: Any, *, allow_zero: bool = False) -> jnp.ndarray:
    """Check a scalar hyperparameter (positivity only when concrete) and cast it to ``dtype``."""
    check_positive(value, name, allow_zero=allow_zero)
    arr = jnp.asarray(value)
    if arr.ndim != 0:
        raise ValueError(f"{name} must be a scalar, got shape {tuple(arr.shape)}")
    return arr.astype(dtype)


def _lengthscale(value: Any, d: int, dtype: Any) -> jnp.ndarray:
    """A positive scalar or per-dimension ``(d,)`` lengthscale, cast to ``dtype``."""
    check_positive(value, "lengthscale")
    arr = jnp.asarray(value)
    if arr.ndim > 1 or (arr.ndim == 1 and arr.shape[0] != d):
        raise ValueError(
            f"lengthscale must be a scalar or have shape ({d},) (one per input dimension), "
            f"got shape {tuple(arr.shape)}")
    return arr.astype(dtype)


def _dot(a: jnp.ndarray, b: jnp.ndarray | None) -> jnp.ndarray:
    """Inner products ``a @ b.T`` at full precision; symmetrised when ``b`` is ``None``."""
    if b is None:
        g = jnp.matmul(a, a.T, precision=_HIGHEST)
        return 0.5 * (g + g.T)
    return jnp.matmul(a, b.T, precision=_HIGHEST)


@jax.jit
def _sq_dist(a: jnp.ndarray, b: jnp.ndarray | None) -> jnp.ndarray:
    """Squared Euclidean distances without validation (see :func:`sq_distances`)."""
    # Distances are translation invariant: centring on the mean of ``a`` shrinks the norms that the
    # expansion |a|^2 + |b|^2 - 2 a.b subtracts from each other, which limits cancellation error.
    # The shift is held constant for differentiation; since d2 does not depend on it, gradients with
    # respect to ``a`` and ``b`` are unchanged.
    if a.shape[0] > 0:
        shift = jax.lax.stop_gradient(jnp.mean(a, axis=0))
        a = a - shift
        b = None if b is None else b - shift
    other = a if b is None else b
    na = jnp.sum(a * a, axis=-1)
    nb = jnp.sum(other * other, axis=-1)
    d2 = na[:, None] + nb[None, :] - 2.0 * _dot(a, b)
    d2 = jnp.maximum(d2, jnp.zeros((), d2.dtype))
    if b is None:
        d2 = jnp.where(jnp.eye(a.shape[0], dtype=bool), jnp.zeros((), d2.dtype), d2)
    return d2


def _safe_sqrt(t: jnp.ndarray) -> jnp.ndarray:
    """``sqrt(t)`` for ``t >= 0`` whose derivative is 0 (not inf/NaN) where ``t == 0``."""
    positive = t > 0
    return jnp.where(positive, jnp.sqrt(jnp.where(positive, t, jnp.ones((), t.dtype))),
                     jnp.zeros((), t.dtype))


def _stationary_args(x1: Any, x2: Any, lengthscale: Any, variance: Any) -> tuple[Any, ...]:
    a, b = _inputs(x1, x2)
    ls = _lengthscale(lengthscale, a.shape[1], a.dtype)
    var = _scalar_hyper(variance, "variance", a.dtype)
    return a, b, ls, var


# The computations below are jitted (validation stays outside, in the public functions), so an eager
# call dispatches one compiled program instead of dozens of small operations; inside a caller's
# jit/vmap/grad they are simply inlined.

@jax.jit
def _rbf_core(a, b, ls, var):
    return var * jnp.exp(-0.5 * _sq_dist(a / ls, None if b is None else b / ls))


@functools.partial(jax.jit, static_argnames=("metric",))
def _laplace_core(a, b, ls, var, metric):
    a = a / ls
    b = None if b is None else b / ls
    if metric == "euclidean":
        r = _safe_sqrt(_sq_dist(a, b))
    else:
        other = a if b is None else b
        r = jnp.sum(jnp.abs(a[:, None, :] - other[None, :, :]), axis=-1)
    return var * jnp.exp(-r)


@functools.partial(jax.jit, static_argnames=("nu",))
def _matern_core(a, b, ls, var, nu):
    d2 = _sq_dist(a / ls, None if b is None else b / ls)
    r = _safe_sqrt(d2)
    if nu == 0.5:
        shape = jnp.exp(-r)
    elif nu == 1.5:
        s = math.sqrt(3.0) * r
        shape = (1.0 + s) * jnp.exp(-s)
    else:
        s = math.sqrt(5.0) * r
        shape = (1.0 + s + (5.0 / 3.0) * d2) * jnp.exp(-s)
    return var * shape


@functools.partial(jax.jit, static_argnames=("degree",))
def _polynomial_core(a, b, gamma, offset, degree):
    return (gamma * _dot(a, b) + offset) ** degree


@jax.jit
def _linear_core(a, b, var, offset):
    return var * _dot(a, b) + offset


# --------------------------------------------------------------------------------------------------
# Public kernels
# --------------------------------------------------------------------------------------------------

def sq_distances(x1: Any, x2: Any = None) -> jnp.ndarray:
    r"""Pairwise squared Euclidean distances :math:`\|x_i - y_j\|^2`, clamped at zero.

    Computed through the expansion :math:`\|x\|^2 + \|y\|^2 - 2 x^\top y` (one matrix product, no
    ``(N1, N2, d)`` intermediate) after centring the inputs, then clamped at 0 so that round-off never
    produces negative values. When ``x2`` is ``None`` the diagonal holds exact zeros (and the matrix is
    symmetric up to round-off). No square root is taken, so the result is differentiable everywhere
    (the gradient with respect to the inputs at coincident points is finite, namely zero).

    Parameters
    ----------
    x1 : array, shape (N1, d)
    x2 : array, shape (N2, d), optional
        Defaults to ``x1``.

    Returns
    -------
    array, shape (N1, N2)
        In the dtype of the inputs.

    Raises
    ------
    ValueError
        If an input is not rank 2, the feature dimensions differ, or an input holds NaN/inf.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> sq_distances(jnp.array([[0.0, 0.0], [3.0, 4.0]])).tolist()
    [[0.0, 25.0], [25.0, 0.0]]
    """
    a, b = _inputs(x1, x2)
    return _sq_dist(a, b)


def rbf(x1: Any, x2: Any = None, *, lengthscale: Any = 1.0, variance: Any = 1.0) -> jnp.ndarray:
    r"""Radial basis function kernel (a.k.a. Gaussian or squared-exponential kernel).

    .. math:: k(x, y) = \sigma^2 \exp\!\Big(-\frac{\|x - y\|^2}{2\ell^2}\Big)

    With a per-dimension lengthscale, :math:`\|x - y\|^2/\ell^2` becomes
    :math:`\sum_i (x_i - y_i)^2/\ell_i^2`. Equals scikit-learn's ``RBF(length_scale=ℓ)`` times
    ``σ²``, and ``rbf_kernel(gamma=1/(2ℓ²))``.

    Parameters
    ----------
    x1 : array, shape (N1, d)
    x2 : array, shape (N2, d), optional
        Defaults to ``x1``.
    lengthscale : float or array of shape (d,), keyword-only
        :math:`\ell > 0`.
    variance : float, keyword-only
        :math:`\sigma^2 > 0`, the value on the diagonal.

    Returns
    -------
    array, shape (N1, N2)

    Raises
    ------
    ValueError
        On wrong ranks, mismatched feature dimensions, NaN/inf inputs, or a non-positive (or wrongly
        shaped) lengthscale or variance.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> x = jnp.array([[0.0], [1.0]])
    >>> round(float(rbf(x)[0, 1]), 6)  # exp(-1/2)
    0.606531
    >>> rbf(x, jnp.zeros((3, 1)), lengthscale=2.0).shape
    (2, 3)
    """
    return _rbf_core(*_stationary_args(x1, x2, lengthscale, variance))


def laplace(x1: Any, x2: Any = None, *, lengthscale: Any = 1.0, variance: Any = 1.0,
            metric: Literal["euclidean", "manhattan"] = "euclidean") -> jnp.ndarray:
    r"""Laplace (exponential) kernel.

    .. math:: k(x, y) = \sigma^2 \exp\!\big(-\|x - y\| / \ell\big)

    With ``metric="euclidean"`` (default) this is the Laplace kernel of the deep-learning literature
    (e.g. its comparison with the NTK) and equals :func:`matern` with ``nu=0.5``. With
    ``metric="manhattan"`` the distance is the L1 norm :math:`\sum_i |x_i - y_i|/\ell_i`, which is
    scikit-learn's ``laplacian_kernel(gamma=1/ℓ)``; that variant builds an ``(N1, N2, d)``
    intermediate.

    The kernel is not differentiable at coincident points; there the gradient returned is the
    (finite) subgradient 0.

    Parameters
    ----------
    x1 : array, shape (N1, d)
    x2 : array, shape (N2, d), optional
        Defaults to ``x1``.
    lengthscale : float or array of shape (d,), keyword-only
        :math:`\ell > 0`.
    variance : float, keyword-only
        :math:`\sigma^2 > 0`.
    metric : {"euclidean", "manhattan"}, keyword-only

    Returns
    -------
    array, shape (N1, N2)

    Raises
    ------
    ValueError
        On wrong ranks, mismatched feature dimensions, NaN/inf inputs, non-positive hyperparameters or
        an unknown metric.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> x = jnp.array([[0.0, 0.0], [3.0, 4.0]])
    >>> round(float(laplace(x, lengthscale=5.0)[0, 1]), 6)  # exp(-1)
    0.367879
    >>> round(float(laplace(x, lengthscale=7.0, metric="manhattan")[0, 1]), 6)
    0.367879
    """
    if metric not in ("euclidean", "manhattan"):
        raise ValueError(f"metric must be 'euclidean' or 'manhattan', got {metric!r}")
    return _laplace_core(*_stationary_args(x1, x2, lengthscale, variance), metric=metric)


def matern(x1: Any, x2: Any = None, *, nu: float = 1.5, lengthscale: Any = 1.0,
           variance: Any = 1.0) -> jnp.ndarray:
    r"""Matérn kernel for the half-integer smoothness values ``nu`` = 0.5, 1.5, 2.5.

    With :math:`r = \|x - y\|/\ell`:

    * ``nu=0.5``: :math:`\sigma^2 e^{-r}` (the Laplace / exponential kernel),
    * ``nu=1.5``: :math:`\sigma^2 (1 + \sqrt3 r) e^{-\sqrt3 r}`,
    * ``nu=2.5``: :math:`\sigma^2 (1 + \sqrt5 r + 5r^2/3) e^{-\sqrt5 r}`.

    Same parameterisation as scikit-learn's ``Matern(length_scale=ℓ, nu=ν)`` (times ``σ²``). Sample paths
    of the corresponding Gaussian process are :math:`\lceil\nu\rceil - 1` times differentiable; the
    kernel tends to :func:`rbf` as :math:`\nu \to \infty`.

    Parameters
    ----------
    x1 : array, shape (N1, d)
    x2 : array, shape (N2, d), optional
        Defaults to ``x1``.
    nu : {0.5, 1.5, 2.5}, keyword-only
        Smoothness; a concrete Python number (it selects the formula).
    lengthscale : float or array of shape (d,), keyword-only
        :math:`\ell > 0`.
    variance : float, keyword-only
        :math:`\sigma^2 > 0`.

    Returns
    -------
    array, shape (N1, N2)

    Raises
    ------
    ValueError
        If ``nu`` is not 0.5, 1.5 or 2.5, or on the input/hyperparameter errors of :func:`rbf`.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> x = jnp.array([[0.0], [1.0]])
    >>> round(float(matern(x, nu=0.5)[0, 1]), 6)  # exp(-1)
    0.367879
    >>> matern(x, nu=2.5).shape
    (2, 2)
    """
    nu_value = _check_nu(nu)
    return _matern_core(*_stationary_args(x1, x2, lengthscale, variance), nu=nu_value)


def _check_nu(nu: Any) -> float:
    """``nu`` as a float, if it is a concrete real number among the supported half-integers."""
    ok = (not isinstance(nu, (bool, np.bool_))
          and (isinstance(nu, (int, float, np.integer, np.floating))
               or (is_concrete(nu) and np.ndim(nu) == 0
                   and np.issubdtype(np.asarray(nu).dtype, np.number))))
    if not ok or float(np.asarray(nu)) not in _MATERN_NUS:
        raise ValueError(f"nu must be one of {_MATERN_NUS} (a concrete number), got {nu!r}")
    return float(np.asarray(nu))


def polynomial(x1: Any, x2: Any = None, *, degree: int = 3, c: Any = 1.0,
               scale: Any = 1.0) -> jnp.ndarray:
    r"""Polynomial kernel :math:`k(x, y) = (\gamma\, x^\top y + c)^p`.

    Equals scikit-learn's ``polynomial_kernel(degree=p, gamma=γ, coef0=c)``.

    Parameters
    ----------
    x1 : array, shape (N1, d)
    x2 : array, shape (N2, d), optional
        Defaults to ``x1``.
    degree : int, keyword-only
        :math:`p \geq 1`, a concrete Python integer.
    c : float, keyword-only
        Offset :math:`c \geq 0` (a negative offset would break positive semi-definiteness).
    scale : float, keyword-only
        :math:`\gamma > 0`, multiplies the inner product.

    Returns
    -------
    array, shape (N1, N2)

    Raises
    ------
    ValueError
        If ``degree`` is not a positive integer, ``c < 0``, ``scale <= 0``, or on input errors.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> x = jnp.array([[1.0, 2.0]])
    >>> float(polynomial(x, jnp.array([[3.0, 1.0]]), degree=2, c=1.0)[0, 0])  # (5 + 1)^2
    36.0
    """
    p = check_positive_int(degree, "degree")
    a, b = _inputs(x1, x2)
    offset = _scalar_hyper(c, "c", a.dtype, allow_zero=True)
    gamma = _scalar_hyper(scale, "scale", a.dtype)
    return _polynomial_core(a, b, gamma, offset, degree=p)


def linear(x1: Any, x2: Any = None, *, variance: Any = 1.0, bias: Any = 0.0) -> jnp.ndarray:
    r"""Linear (dot-product) kernel :math:`k(x, y) = \sigma^2 x^\top y + b`.

    Parameters
    ----------
    x1 : array, shape (N1, d)
    x2 : array, shape (N2, d), optional
        Defaults to ``x1``.
    variance : float, keyword-only
        :math:`\sigma^2 > 0`, multiplies the inner product.
    bias : float, keyword-only
        :math:`b \geq 0`, a constant added to every entry.

    Returns
    -------
    array, shape (N1, N2)

    Raises
    ------
    ValueError
        If ``variance <= 0``, ``bias < 0``, or on input errors.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> linear(jnp.array([[1.0, 2.0], [0.0, 1.0]])).tolist()
    [[5.0, 2.0], [2.0, 1.0]]
    """
    a, b = _inputs(x1, x2)
    var = _scalar_hyper(variance, "variance", a.dtype)
    offset = _scalar_hyper(bias, "bias", a.dtype, allow_zero=True)
    return _linear_core(a, b, var, offset)


# --------------------------------------------------------------------------------------------------
# Arc-cosine kernels
# --------------------------------------------------------------------------------------------------

def _angle_parts(c: jnp.ndarray) -> tuple[jnp.ndarray, jnp.ndarray, jnp.ndarray]:
    """``(theta, sin theta, interior mask)`` for cosines ``c`` in [-1, 1], without NaN anywhere."""
    inside = jnp.abs(c) < 1
    cs = jnp.where(inside, c, jnp.zeros((), c.dtype))
    theta = jnp.where(inside, jnp.arccos(cs),
                      jnp.where(c > 0, jnp.zeros((), c.dtype), jnp.full((), math.pi, c.dtype)))
    sin = jnp.where(inside, jnp.sqrt((1.0 - cs) * (1.0 + cs)), jnp.zeros((), c.dtype))
    return theta, sin, inside


@jax.custom_jvp
def _j0(c: jnp.ndarray) -> jnp.ndarray:
    theta, _, _ = _angle_parts(c)
    return math.pi - theta


@_j0.defjvp
def _j0_jvp(primals, tangents):
    (c,), (dc,) = primals, tangents
    theta, sin, inside = _angle_parts(c)
    # dJ0/dc = 1/sin(theta); infinite at |c| = 1 where J0 is not differentiable: use 0 there.
    ok = inside & (sin > 0)
    deriv = jnp.where(ok, 1.0 / jnp.where(ok, sin, jnp.ones((), c.dtype)), jnp.zeros((), c.dtype))
    return math.pi - theta, deriv * dc


@jax.custom_jvp
def _j1(c: jnp.ndarray) -> jnp.ndarray:
    theta, sin, _ = _angle_parts(c)
    return sin + (math.pi - theta) * c


@_j1.defjvp
def _j1_jvp(primals, tangents):
    (c,), (dc,) = primals, tangents
    # dJ1/dc = J0: finite everywhere, including at colinear points (|c| = 1).
    return _j1(c), _j0(c) * dc


@jax.custom_jvp
def _j2(c: jnp.ndarray) -> jnp.ndarray:
    theta, sin, _ = _angle_parts(c)
    return 3.0 * sin * c + (math.pi - theta) * (1.0 + 2.0 * c * c)


@_j2.defjvp
def _j2_jvp(primals, tangents):
    (c,), (dc,) = primals, tangents
    # dJ2/dc = 4 J1.
    return _j2(c), 4.0 * _j1(c) * dc


_J = {0: _j0, 1: _j1, 2: _j2}


def arccos(x1: Any, x2: Any = None, *, order: int = 1, variance: Any = 1.0) -> jnp.ndarray:
    r"""Arc-cosine kernel of order 0, 1 or 2 (Cho & Saul, 2009).

    .. math::
        k_n(x, y) = \frac{\sigma^2}{\pi} \|x\|^n \|y\|^n J_n(\theta), \qquad
        \theta = \arccos \frac{x^\top y}{\|x\|\,\|y\|},

    with :math:`J_0 = \pi - \theta`, :math:`J_1 = \sin\theta + (\pi - \theta)\cos\theta` and
    :math:`J_2 = 3\sin\theta\cos\theta + (\pi - \theta)(1 + 2\cos^2\theta)`. For :math:`\sigma^2 = 1`,
    :math:`k_n(x, y) = 2\,\mathbb E_{w \sim N(0, I)}[\Theta(w^\top x)\Theta(w^\top y)(w^\top x)^n
    (w^\top y)^n]`: the kernel of one infinitely wide layer of step (n = 0), ReLU (n = 1) or squared
    ReLU (n = 2) units; ``order=1`` is twice the ReLU NNGP kernel of a bias-free layer.
    Useful values: :math:`k_0(x, x) = 1`, :math:`k_1(x, x) = \|x\|^2`, :math:`k_2(x, x) = 3\|x\|^4`.

    Numerics: the cosine is clipped to [-1, 1] and the diagonal of ``arccos(x)`` uses the exact cosine 1.
    For a zero vector the angle is taken as π/2 (the convention Θ(0) = 1/2), so
    :math:`k_0(0, y) = 1/2` and :math:`k_{1,2}(0, y) = 0`. Derivatives use the identities
    :math:`J_1' = J_0`, :math:`J_2' = 4 J_1` (with respect to :math:`\cos\theta`), so gradients are
    finite at colinear and zero inputs (where ``k_0`` and ``k_1`` are not differentiable, a finite
    one-sided value or 0 is returned).

    Parameters
    ----------
    x1 : array, shape (N1, d)
    x2 : array, shape (N2, d), optional
        Defaults to ``x1``.
    order : {0, 1, 2}, keyword-only
        :math:`n`, a concrete Python integer.
    variance : float, keyword-only
        :math:`\sigma^2 > 0`, an overall scale.

    Returns
    -------
    array, shape (N1, N2)

    Raises
    ------
    ValueError
        If ``order`` is not 0, 1 or 2, ``variance <= 0``, or on input errors.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> x = jnp.array([[1.0, 0.0], [0.0, 2.0]])
    >>> k = arccos(x, order=1)  # off-diagonal: (1/pi) * |x| |y| * J1(pi/2) = 2/pi
    >>> [round(float(v), 5) for v in k.ravel()]
    [1.0, 0.63662, 0.63662, 4.0]
    >>> round(float(arccos(x, order=0)[0, 1]), 5)  # 1 - (pi/2)/pi
    0.5
    """
    if isinstance(order, bool) or not isinstance(order, (int, np.integer)) or order not in _ARCCOS_ORDERS:
        raise ValueError(f"order must be one of {_ARCCOS_ORDERS}, got {order!r}")
    order = int(order)
    a, b = _inputs(x1, x2)
    var = _scalar_hyper(variance, "variance", a.dtype)
    return _arccos_core(a, b, var, order=order)


@functools.partial(jax.jit, static_argnames=("order",))
def _arccos_core(a, b, var, order):
    other = a if b is None else b
    sq_a = jnp.sum(a * a, axis=-1)
    sq_b = jnp.sum(other * other, axis=-1)
    norm_prod = _safe_sqrt(sq_a)[:, None] * _safe_sqrt(sq_b)[None, :]
    nonzero = norm_prod > 0
    cos = jnp.where(nonzero, _dot(a, b) / jnp.where(nonzero, norm_prod, jnp.ones((), a.dtype)),
                    jnp.zeros((), a.dtype))
    cos = jnp.clip(cos, -1.0, 1.0)
    if b is None:
        cos = jnp.where(jnp.eye(a.shape[0], dtype=bool) & nonzero, jnp.ones((), a.dtype), cos)
    if order == 0:
        magnitude = jnp.ones((), a.dtype)
    elif order == 1:
        magnitude = norm_prod
    else:
        magnitude = sq_a[:, None] * sq_b[None, :]
    return (var / math.pi) * magnitude * _J[order](cos)
