"""Random-feature maps: finite-dimensional maps whose inner products estimate a kernel.

A feature map ``phi`` is a small frozen dataclass built from an explicit ``jax.random`` key. Calling it
on ``x`` of shape ``(N, d)`` returns features of shape ``(N, D)`` with ``D = num_features``, such that

.. math:: \\mathbb E_{\\text{weights}}\\big[\\phi(x)\\,\\phi(y)^\\top\\big] = k(x, y)

for the kernel given by ``phi.kernel`` (a function in the convention of :mod:`ntkbook.kernels.classic`),
with a Monte-Carlo error that decays like :math:`1/\\sqrt D`. ``phi.gram(x1, x2)`` returns the
estimate :math:`\\phi(x_1)\\phi(x_2)^\\top` and ``phi.weights`` holds the sampled projection matrix of
shape ``(num_weights, d)`` (rows are random directions) so it can be reused, e.g. as the first layer of
a network.

The dataclasses are registered as JAX pytrees (arrays are leaves, settings such as ``kind`` or
``order`` are static), so feature maps can be passed through ``jax.jit`` and built under ``jax.vmap``
over keys. Features are computed in the dtype of ``x``.

* :func:`random_fourier_features` — Rahimi & Recht (2007) features for :func:`~.classic.rbf`;
* :func:`orthogonal_random_features` — Yu et al. (2016): the same map with block-orthogonal frequencies;
* :func:`linear_gaussian_features` — Gaussian projections :math:`Wz/\\sqrt N` for :func:`~.classic.linear`;
* :func:`arccos_features` — step / ReLU / squared-ReLU features for :func:`~.classic.arccos`.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import Any, Callable, Literal

import jax
import jax.numpy as jnp
import numpy as np

from .._validate import as_float_array, check_positive, check_positive_int
from .classic import arccos, linear, rbf

__all__ = [
    "RandomFourierFeatures",
    "LinearGaussianFeatures",
    "ArcCosFeatures",
    "random_fourier_features",
    "orthogonal_random_features",
    "linear_gaussian_features",
    "arccos_features",
]

_HIGHEST = jax.lax.Precision.HIGHEST
_FOURIER_KINDS = ("cos_sin", "cos")
_ARCCOS_ORDERS = (0, 1, 2)

Kernel = Callable[..., jnp.ndarray]


# --------------------------------------------------------------------------------------------------
# Shared helpers (private)
# --------------------------------------------------------------------------------------------------

def _features_input(x: Any, d: int) -> jnp.ndarray:
    arr = as_float_array(x, "x", ndim=2)
    if arr.shape[1] != d:
        raise ValueError(f"x must have {d} features (shape (N, {d})), got shape {tuple(arr.shape)}")
    return arr


def _project(x: jnp.ndarray, weights: jnp.ndarray) -> jnp.ndarray:
    """``x @ weights.T`` in the dtype of ``x``, at full matmul precision."""
    return jnp.matmul(x, weights.astype(x.dtype).T, precision=_HIGHEST)


@jax.jit
def _outer(f1: jnp.ndarray, f2: jnp.ndarray | None) -> jnp.ndarray:
    if f2 is None:
        g = jnp.matmul(f1, f1.T, precision=_HIGHEST)
        return 0.5 * (g + g.T)
    dtype = jnp.result_type(f1.dtype, f2.dtype)
    return jnp.matmul(f1.astype(dtype), f2.astype(dtype).T, precision=_HIGHEST)


def _gram(phi: Callable[[Any], jnp.ndarray], x1: Any, x2: Any) -> jnp.ndarray:
    return _outer(phi(x1), None if x2 is None else phi(x2))


def _float_dtype(dtype: Any) -> Any:
    dt = jnp.result_type(float) if dtype is None else jnp.dtype(dtype)
    if not jnp.issubdtype(dt, jnp.floating):
        raise ValueError(f"dtype must be a floating dtype, got {dtype!r}")
    return dt


def _positive_hyper(value: Any, name: str, *, d: int | None = None) -> jnp.ndarray:
    check_positive(value, name)
    arr = jnp.asarray(value)
    if d is None and arr.ndim != 0:
        raise ValueError(f"{name} must be a scalar, got shape {tuple(arr.shape)}")
    if d is not None and (arr.ndim > 1 or (arr.ndim == 1 and arr.shape[0] != d)):
        raise ValueError(f"{name} must be a scalar or have shape ({d},), got shape {tuple(arr.shape)}")
    if not jnp.issubdtype(arr.dtype, jnp.floating):
        arr = arr.astype(jnp.result_type(float))
    return arr


def _pytree_dataclass(data: tuple[str, ...], meta: tuple[str, ...]):
    def wrap(cls):
        cls = dataclasses.dataclass(frozen=True, eq=False)(cls)
        return jax.tree_util.register_dataclass(cls, data_fields=list(data), meta_fields=list(meta))
    return wrap


# --------------------------------------------------------------------------------------------------
# Random Fourier features (iid and orthogonal)
# --------------------------------------------------------------------------------------------------

@_pytree_dataclass(data=("weights", "offsets", "lengthscale", "variance"), meta=("kind",))
class RandomFourierFeatures:
    r"""Random Fourier features for the RBF kernel (built by :func:`random_fourier_features` or
    :func:`orthogonal_random_features`).

    With frequencies :math:`\omega_i = w_i / \ell` (rows :math:`w_i` of ``weights``, divided
    elementwise by the lengthscale):

    * ``kind="cos_sin"``: :math:`\phi(x) = \sqrt{\sigma^2/m}\,[\cos(\omega_i^\top x)]_{i\le m}
      \oplus [\sin(\omega_i^\top x)]_{i \le m}` with :math:`m = D/2` weights;
    * ``kind="cos"``: :math:`\phi(x) = \sqrt{2\sigma^2/D}\,[\cos(\omega_i^\top x + b_i)]_{i \le D}`,
      :math:`b_i \sim U[0, 2\pi)` (``offsets``).

    Attributes
    ----------
    weights : array, shape (m, d)
        Unit-scale frequency directions (``m = D/2`` for ``"cos_sin"``, ``m = D`` for ``"cos"``).
    offsets : array of shape (D,), or None
        Phases for ``kind="cos"``; ``None`` for ``"cos_sin"``.
    lengthscale : array, shape () or (d,)
    variance : array, shape ()
    kind : {"cos_sin", "cos"}
    """

    weights: jnp.ndarray
    offsets: jnp.ndarray | None
    lengthscale: jnp.ndarray
    variance: jnp.ndarray
    kind: str

    @property
    def input_dim(self) -> int:
        """The input dimension ``d``."""
        return self.weights.shape[1]

    @property
    def num_features(self) -> int:
        """The output dimension ``D``."""
        m = self.weights.shape[0]
        return 2 * m if self.kind == "cos_sin" else m

    @property
    def frequencies(self) -> jnp.ndarray:
        """The frequencies :math:`\\omega_i = w_i/\\ell`, shape ``(m, d)``."""
        return self.weights / self.lengthscale

    @property
    def kernel(self) -> Kernel:
        """The RBF kernel these features estimate: ``rbf(·, ·, lengthscale=ℓ, variance=σ²)``."""
        return functools.partial(rbf, lengthscale=self.lengthscale, variance=self.variance)

    def __call__(self, x: Any) -> jnp.ndarray:
        """Features of ``x``: shape ``(N, d)`` → ``(N, D)``, in the dtype of ``x``."""
        x = _features_input(x, self.input_dim)
        return _fourier_map(x, self.weights, self.offsets, self.lengthscale, self.variance, kind=self.kind)

    def gram(self, x1: Any, x2: Any = None) -> jnp.ndarray:
        """The Monte-Carlo kernel estimate :math:`\\phi(x_1)\\phi(x_2)^\\top`, shape ``(N1, N2)``."""
        return _gram(self, x1, x2)


# Jitted cores: validation happens outside; an eager call dispatches one compiled program.

@functools.partial(jax.jit, static_argnames=("kind",))
def _fourier_map(x, weights, offsets, lengthscale, variance, kind):
    z = _project(x / lengthscale.astype(x.dtype), weights)
    var = variance.astype(x.dtype)
    m = weights.shape[0]
    if kind == "cos_sin":
        return jnp.sqrt(var / m) * jnp.concatenate([jnp.cos(z), jnp.sin(z)], axis=-1)
    return jnp.sqrt(2.0 * var / m) * jnp.cos(z + offsets.astype(x.dtype))


@functools.partial(jax.jit, static_argnames=("m", "d", "kind", "orthogonal", "dtype"))
def _sample_fourier(key, m, d, kind, orthogonal, dtype):
    """``m`` frequency directions (iid Gaussian or block-orthogonal) and, for ``"cos"``, phases."""
    k_w, k_s, k_b = jax.random.split(key, 3)
    if orthogonal:
        blocks = -(-m // d)
        q = jax.random.orthogonal(k_w, d, shape=(blocks,), dtype=dtype).reshape(blocks * d, d)
        norms = jnp.linalg.norm(jax.random.normal(k_s, (blocks * d, d), dtype=dtype), axis=1)
        weights = (norms[:, None] * q)[:m]
    else:
        weights = jax.random.normal(k_w, (m, d), dtype=dtype)
    offsets = None
    if kind == "cos":
        offsets = jax.random.uniform(k_b, (m,), dtype=dtype, maxval=2.0 * math.pi)
    return weights, offsets


@functools.partial(jax.jit, static_argnames=("n", "d", "dtype"))
def _sample_gaussian(key, n, d, dtype):
    return jax.random.normal(key, (n, d), dtype=dtype)


def _fourier_setup(d: int, num_features: int, kind: str, lengthscale: Any,
                   variance: Any) -> tuple[int, int, jnp.ndarray, jnp.ndarray]:
    d = check_positive_int(d, "d")
    num_features = check_positive_int(num_features, "num_features")
    if kind not in _FOURIER_KINDS:
        raise ValueError(f"kind must be one of {_FOURIER_KINDS}, got {kind!r}")
    if kind == "cos_sin" and num_features % 2:
        raise ValueError(
            f"num_features must be even for kind='cos_sin' (a cos and a sin per frequency), "
            f"got {num_features}")
    ls = _positive_hyper(lengthscale, "lengthscale", d=d)
    var = _positive_hyper(variance, "variance")
    return d, num_features, ls, var


def random_fourier_features(key: Any, d: int, num_features: int, *, lengthscale: Any = 1.0,
                            variance: Any = 1.0, kind: Literal["cos_sin", "cos"] = "cos_sin",
                            dtype: Any = None) -> RandomFourierFeatures:
    r"""Random Fourier features for the RBF kernel (Rahimi & Recht, 2007).

    By Bochner's theorem :math:`k(x, y) = \sigma^2\,\mathbb E_{\omega \sim N(0, \ell^{-2} I)}
    \cos(\omega^\top (x - y))`; sampling the frequencies gives an unbiased estimate. The
    ``"cos_sin"`` variant (default) has lower variance than ``"cos"`` (random phases) for the same
    output dimension.

    Parameters
    ----------
    key : jax.random key
    d : int
        Input dimension.
    num_features : int
        Output dimension ``D`` (even for ``kind="cos_sin"``).
    lengthscale : float or array of shape (d,), keyword-only
        RBF lengthscale :math:`\ell > 0`.
    variance : float, keyword-only
        RBF variance :math:`\sigma^2 > 0`.
    kind : {"cos_sin", "cos"}, keyword-only
    dtype : floating dtype, optional, keyword-only
        Dtype of the sampled weights (default: JAX's default float). Features are computed in the dtype
        of the input anyway.

    Returns
    -------
    RandomFourierFeatures
        Callable ``(N, d) -> (N, D)``; ``.kernel`` is the matching :func:`~.classic.rbf`.

    Raises
    ------
    ValueError
        On non-positive sizes or hyperparameters, an unknown ``kind`` or an odd ``num_features`` with
        ``kind="cos_sin"``.

    Examples
    --------
    >>> import jax
    >>> phi = random_fourier_features(jax.random.key(0), 3, 512, lengthscale=2.0)
    >>> x = jax.random.normal(jax.random.key(1), (5, 3))
    >>> phi(x).shape
    (5, 512)
    >>> bool(abs(phi.gram(x) - phi.kernel(x)).max() < 0.2)
    True
    """
    d, num_features, ls, var = _fourier_setup(d, num_features, kind, lengthscale, variance)
    m = num_features // 2 if kind == "cos_sin" else num_features
    weights, offsets = _sample_fourier(key, m=m, d=d, kind=kind, orthogonal=False, dtype=_float_dtype(dtype))
    return RandomFourierFeatures(weights, offsets, ls, var, kind)


def orthogonal_random_features(key: Any, d: int, num_features: int, *, lengthscale: Any = 1.0,
                               variance: Any = 1.0, kind: Literal["cos_sin", "cos"] = "cos_sin",
                               dtype: Any = None) -> RandomFourierFeatures:
    r"""Orthogonal random features for the RBF kernel (Yu et al., 2016).

    The Gaussian frequency matrix of :func:`random_fourier_features` is replaced by stacked ``d × d``
    blocks :math:`S Q`: :math:`Q` Haar-distributed orthogonal, :math:`S` diagonal with independent
    :math:`\chi_d`-distributed entries (the norms of Gaussian vectors). Each row keeps the marginal law
    :math:`N(0, I)`, so the estimate stays unbiased, while rows within a block are exactly
    orthogonal, which lowers the variance of the kernel estimate. Blocks are drawn independently; the
    last one is truncated when the number of weights is not a multiple of ``d``.

    Parameters
    ----------
    key : jax.random key
    d : int
        Input dimension.
    num_features : int
        Output dimension ``D`` (even for ``kind="cos_sin"``).
    lengthscale : float or array of shape (d,), keyword-only
    variance : float, keyword-only
    kind : {"cos_sin", "cos"}, keyword-only
    dtype : floating dtype, optional, keyword-only

    Returns
    -------
    RandomFourierFeatures
        The same feature map as :func:`random_fourier_features`, with orthogonal-block weights.

    Raises
    ------
    ValueError
        As :func:`random_fourier_features`.

    Examples
    --------
    >>> import jax, jax.numpy as jnp
    >>> phi = orthogonal_random_features(jax.random.key(0), 4, 16)
    >>> w = phi.weights / jnp.linalg.norm(phi.weights, axis=1, keepdims=True)
    >>> bool(jnp.allclose(w[:4] @ w[:4].T, jnp.eye(4), atol=1e-5))
    True
    """
    d, num_features, ls, var = _fourier_setup(d, num_features, kind, lengthscale, variance)
    m = num_features // 2 if kind == "cos_sin" else num_features
    weights, offsets = _sample_fourier(key, m=m, d=d, kind=kind, orthogonal=True, dtype=_float_dtype(dtype))
    return RandomFourierFeatures(weights, offsets, ls, var, kind)


# --------------------------------------------------------------------------------------------------
# Linear Gaussian projections
# --------------------------------------------------------------------------------------------------

@jax.jit
def _linear_map(x, weights):
    return _project(x, weights) / math.sqrt(weights.shape[0])


@_pytree_dataclass(data=("weights",), meta=())
class LinearGaussianFeatures:
    r"""Gaussian random projections :math:`\phi(z) = W z / \sqrt N` (built by
    :func:`linear_gaussian_features`).

    Attributes
    ----------
    weights : array, shape (N, d)
        iid :math:`N(0, 1)` entries.
    """

    weights: jnp.ndarray

    @property
    def input_dim(self) -> int:
        """The input dimension ``d``."""
        return self.weights.shape[1]

    @property
    def num_features(self) -> int:
        """The output dimension ``N``."""
        return self.weights.shape[0]

    @property
    def kernel(self) -> Kernel:
        """The kernel these features estimate: :func:`~.classic.linear`, :math:`z^\\top z'`."""
        return linear

    def __call__(self, x: Any) -> jnp.ndarray:
        """Features of ``x``: shape ``(M, d)`` → ``(M, N)``, in the dtype of ``x``."""
        x = _features_input(x, self.input_dim)
        return _linear_map(x, self.weights)

    def gram(self, x1: Any, x2: Any = None) -> jnp.ndarray:
        """The Monte-Carlo kernel estimate :math:`\\phi(x_1)\\phi(x_2)^\\top`, shape ``(N1, N2)``."""
        return _gram(self, x1, x2)


def linear_gaussian_features(key: Any, d: int, num_features: int, *,
                             dtype: Any = None) -> LinearGaussianFeatures:
    r"""Linear Gaussian random features :math:`\phi(z) = W z/\sqrt N`, :math:`W_{ij} \sim N(0, 1)`.

    :math:`\mathbb E\,\phi(z)^\top\phi(z') = z^\top z'`, the :func:`~.classic.linear` kernel. Ridge
    regression on these features is the random-feature model of "more data / more features" studies
    (e.g. the "More is Better" analysis of random-feature ridge regression).

    Parameters
    ----------
    key : jax.random key
    d : int
        Input dimension.
    num_features : int
        Number of features ``N``.
    dtype : floating dtype, optional, keyword-only
        Dtype of ``W`` (default: JAX's default float).

    Returns
    -------
    LinearGaussianFeatures
        Callable ``(M, d) -> (M, N)``; ``.kernel`` is :func:`~.classic.linear`.

    Raises
    ------
    ValueError
        If ``d`` or ``num_features`` is not a positive integer.

    Examples
    --------
    >>> import jax
    >>> phi = linear_gaussian_features(jax.random.key(0), 3, 8)
    >>> phi.weights.shape, phi(jax.numpy.ones((2, 3))).shape
    ((8, 3), (2, 8))
    """
    d = check_positive_int(d, "d")
    num_features = check_positive_int(num_features, "num_features")
    return LinearGaussianFeatures(_sample_gaussian(key, n=num_features, d=d, dtype=_float_dtype(dtype)))


# --------------------------------------------------------------------------------------------------
# Arc-cosine (step / ReLU / squared-ReLU) features
# --------------------------------------------------------------------------------------------------

@functools.partial(jax.jit, static_argnames=("order",))
def _arccos_map(x, weights, order):
    z = _project(x, weights)
    if order == 0:
        units = jnp.heaviside(z, jnp.asarray(0.5, z.dtype))
    else:
        units = jnp.maximum(z, jnp.zeros((), z.dtype)) ** order
    return math.sqrt(2.0 / weights.shape[0]) * units


@_pytree_dataclass(data=("weights",), meta=("order",))
class ArcCosFeatures:
    r"""Random features for the arc-cosine kernel of order n (built by :func:`arccos_features`).

    :math:`\phi(x) = \sqrt{2/N}\,\big[\Theta(w_i^\top x)\,(w_i^\top x)^n\big]_{i \le N}`, i.e. step
    (n = 0, with :math:`\Theta(0) = 1/2`), ReLU (n = 1) or squared-ReLU (n = 2) units.

    Attributes
    ----------
    weights : array, shape (N, d)
        iid :math:`N(0, 1)` entries.
    order : {0, 1, 2}
    """

    weights: jnp.ndarray
    order: int

    @property
    def input_dim(self) -> int:
        """The input dimension ``d``."""
        return self.weights.shape[1]

    @property
    def num_features(self) -> int:
        """The output dimension ``N``."""
        return self.weights.shape[0]

    @property
    def kernel(self) -> Kernel:
        """The kernel these features estimate: ``arccos(·, ·, order=n)``."""
        return functools.partial(arccos, order=self.order)

    def __call__(self, x: Any) -> jnp.ndarray:
        """Features of ``x``: shape ``(M, d)`` → ``(M, N)``, in the dtype of ``x``."""
        x = _features_input(x, self.input_dim)
        return _arccos_map(x, self.weights, order=self.order)

    def gram(self, x1: Any, x2: Any = None) -> jnp.ndarray:
        """The Monte-Carlo kernel estimate :math:`\\phi(x_1)\\phi(x_2)^\\top`, shape ``(N1, N2)``."""
        return _gram(self, x1, x2)


def arccos_features(key: Any, d: int, num_features: int, *, order: int = 1,
                    dtype: Any = None) -> ArcCosFeatures:
    r"""Random step / ReLU / squared-ReLU features for the arc-cosine kernel (Cho & Saul, 2009).

    With :math:`w \sim N(0, I)`, :math:`2\,\mathbb E[\Theta(w^\top x)\Theta(w^\top y)(w^\top x)^n
    (w^\top y)^n] = k_n(x, y)` exactly as defined by :func:`~.classic.arccos` (default variance), so
    :math:`\phi(x) = \sqrt{2/N}\,\Theta(Wx)(Wx)^n` gives an unbiased estimate. The zero-input
    convention :math:`\Theta(0) = 1/2` matches the kernel's :math:`k_0(0, y) = 1/2`.

    Parameters
    ----------
    key : jax.random key
    d : int
        Input dimension.
    num_features : int
        Number of random units ``N``.
    order : {0, 1, 2}, keyword-only
    dtype : floating dtype, optional, keyword-only

    Returns
    -------
    ArcCosFeatures
        Callable ``(M, d) -> (M, N)``; ``.kernel`` is ``arccos(·, ·, order=order)``.

    Raises
    ------
    ValueError
        If ``d`` or ``num_features`` is not a positive integer or ``order`` is not 0, 1 or 2.

    Examples
    --------
    >>> import jax
    >>> phi = arccos_features(jax.random.key(0), 2, 4096, order=1)
    >>> x = jax.numpy.array([[1.0, 0.0], [0.0, 1.0]])
    >>> bool(abs(phi.gram(x) - phi.kernel(x)).max() < 0.1)
    True
    """
    d = check_positive_int(d, "d")
    num_features = check_positive_int(num_features, "num_features")
    if isinstance(order, bool) or not isinstance(order, (int, np.integer)) or order not in _ARCCOS_ORDERS:
        raise ValueError(f"order must be one of {_ARCCOS_ORDERS}, got {order!r}")
    weights = _sample_gaussian(key, n=num_features, d=d, dtype=_float_dtype(dtype))
    return ArcCosFeatures(weights, int(order))
