"""Gaussian-mixture data for diffusion models, with the exact scores of the noised marginals.

The variance-preserving (Ornstein–Uhlenbeck) forward process

    x_t = e^{−t} x_0 + σ_t ε,    σ_t² = 1 − e^{−2t},    ε ~ N(0, I),

maps a Gaussian mixture ``p_0 = Σ_k w_k N(μ_k, Σ_k)`` to the Gaussian mixture
``p_t = Σ_k w_k N(e^{−t} μ_k, e^{−2t} Σ_k + σ_t² I)``, so its score ``∇ log p_t`` is known in closed
form. Denoising score matching regresses the noisy label ``−ε/σ_t`` on ``(x_t, t)``; its conditional
mean given ``(x_t, t)`` is that score.

* :func:`gaussian_mixture` — a validated :class:`GaussianMixture` (``sample``, ``log_prob``, ``score``);
* :func:`diffusion_marginal` — the mixture ``p_t`` at one time;
* :func:`diffusion_score` / :func:`diffusion_log_prob` — ``∇ log p_t(x)`` and ``log p_t(x)`` with one
  time per sample;
* :func:`denoising_pairs` — ``(x_t, t, target = −ε/σ_t)`` triples for denoising score matching.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from .._validate import as_float_array, check_positive_int, is_concrete
from ._common import check_key, check_nonneg_float

__all__ = ["GaussianMixture", "gaussian_mixture", "diffusion_marginal", "diffusion_score",
           "diffusion_log_prob", "denoising_pairs"]


def _component_terms(x, means, covs, log_w):
    """``log w_k + log N(x; m_k, C_k)`` and ``−C_k⁻¹ (x − m_k)``: ``(n, K)`` and ``(n, K, d)``.

    ``means`` and ``covs`` broadcast against ``x``: ``(K, d)``/``(K, d, d)`` or per sample
    ``(n, K, d)``/``(n, K, d, d)``.
    """
    d = x.shape[-1]
    diff = x[:, None, :] - means  # (n, K, d)
    L = jnp.linalg.cholesky(covs)
    L = jnp.broadcast_to(L, diff.shape[:2] + (d, d))
    sol = jax.scipy.linalg.solve_triangular(L, diff[..., None], lower=True)[..., 0]  # L⁻¹ (x − m)
    maha = jnp.sum(sol * sol, -1)
    logdet = 2 * jnp.sum(jnp.log(jnp.diagonal(L, axis1=-2, axis2=-1)), -1)
    logp = log_w - 0.5 * (maha + logdet + d * math.log(2 * math.pi))
    grad = -jax.scipy.linalg.solve_triangular(jnp.swapaxes(L, -1, -2), sol[..., None], lower=False)[..., 0]
    return logp, grad


def _mixture_log_prob(x, means, covs, log_w):
    logp, _ = _component_terms(x, means, covs, log_w)
    return jax.scipy.special.logsumexp(logp, axis=-1)


def _mixture_score(x, means, covs, log_w):
    logp, grad = _component_terms(x, means, covs, log_w)
    resp = jax.nn.softmax(logp, axis=-1)  # responsibilities p(k | x)
    return jnp.sum(resp[..., None] * grad, axis=1)


@dataclasses.dataclass(frozen=True)
class GaussianMixture:
    """A Gaussian mixture ``Σ_k w_k N(μ_k, Σ_k)`` in ``R^d``; build it with :func:`gaussian_mixture`.

    Attributes:
        weights: ``(K,)`` mixture weights (positive, summing to 1).
        means: ``(K, d)`` component means.
        covariances: ``(K, d, d)`` symmetric positive-definite covariances.
    """

    weights: jax.Array
    means: jax.Array
    covariances: jax.Array

    @property
    def dim(self) -> int:
        """The dimension ``d``."""
        return int(self.means.shape[1])

    def _check_x(self, x: Any) -> jax.Array:
        x = as_float_array(x, "x", ndim=2)
        if x.shape[1] != self.dim:
            raise ValueError(f"x must have shape (n, {self.dim}), got {tuple(x.shape)}")
        return x.astype(self.means.dtype)  # works on tracers too (jax.grad, jax.vmap)

    def sample(self, key: jax.Array, n: int) -> jax.Array:
        """``n`` independent samples, ``(n, d)``.

        >>> import jax
        >>> gm = gaussian_mixture([0.5, 0.5], [[-1.0, 0.0], [1.0, 0.0]], 0.1)
        >>> gm.sample(jax.random.key(0), 4).shape
        (4, 2)
        """
        key = check_key(key)
        n = check_positive_int(n, "n")
        return _sample(key, self.weights, self.means, self.covariances, n)

    def log_prob(self, x: Any) -> jax.Array:
        """Log density at ``x (n, d)``: ``(n,)``."""
        x = self._check_x(x)
        return _mixture_log_prob(x, self.means, self.covariances, jnp.log(self.weights))

    def score(self, x: Any) -> jax.Array:
        """Score ``∇_x log p(x)`` at ``x (n, d)``: ``(n, d)``."""
        x = self._check_x(x)
        return _mixture_score(x, self.means, self.covariances, jnp.log(self.weights))

    def mean(self) -> jax.Array:
        """Mean ``Σ_k w_k μ_k``: ``(d,)``."""
        return self.weights @ self.means

    def covariance(self) -> jax.Array:
        """Covariance ``Σ_k w_k (Σ_k + μ_k μ_kᵀ) − m mᵀ``: ``(d, d)``."""
        m = self.mean()
        second = jnp.einsum("k,kij->ij", self.weights, self.covariances + self.means[:, :, None] * self.means[:, None, :])
        return second - jnp.outer(m, m)


def _cholesky(covs: jax.Array) -> jax.Array:
    """Cholesky factors computed on the host (compiling a batched Cholesky costs more than it saves)."""
    return jnp.asarray(np.linalg.cholesky(np.asarray(covs, np.float64)), covs.dtype)


def _draw(u, g, weights, means, chol):
    """Mixture samples from uniforms ``u (n,)`` (component) and standard normals ``g (n, d)``."""
    cdf = jnp.cumsum(weights)
    comp = jnp.sum(u[:, None] * cdf[-1] >= cdf[None, :-1], axis=1)  # inverse CDF of the component index
    return means[comp] + jnp.einsum("nij,nj->ni", chol[comp], g)


@jax.jit
def _sample_core(key, weights, means, chol, n_template):
    # one uniform and one normal draw (compiling random draws dominates on CPU)
    n, d = n_template.shape
    ku, kg = jax.random.split(key)
    u = jax.random.uniform(ku, (n,), means.dtype)
    g = jax.random.normal(kg, (n, d), means.dtype)
    return _draw(u, g, weights, means, chol)


def _sample(key, weights, means, covs, n):
    return _sample_core(key, weights, means, _cholesky(covs), jnp.zeros((n, means.shape[1]), means.dtype))


def gaussian_mixture(weights: Any, means: Any, covariances: Any) -> GaussianMixture:
    """A Gaussian mixture from weights, means and covariances.

    Args:
        weights: ``(K,)`` non-negative weights (normalised to sum to 1).
        means: ``(K, d)`` means.
        covariances: ``(K, d, d)`` SPD matrices, ``(K,)`` or a scalar (isotropic variances).

    Returns:
        A :class:`GaussianMixture` in the dtype of ``means``.

    Raises:
        ValueError: mismatched shapes, weights that are negative or sum to 0, non-positive
            variances or covariances that are not symmetric positive definite.

    >>> gm = gaussian_mixture([1.0, 3.0], [[0.0, 0.0], [2.0, 0.0]], 0.5)
    >>> [round(float(v), 4) for v in gm.mean()]
    [1.5, 0.0]
    """
    means = as_float_array(means, "means", ndim=2)
    K, d = means.shape
    dtype = means.dtype
    # checks on the host (NumPy): many tiny eager JAX ops would each compile
    w = np.asarray(as_float_array(weights, "weights", ndim=1), np.float64)
    if w.shape[0] != K:
        raise ValueError(f"weights has {w.shape[0]} entries but means has {K} rows")
    if np.any(w < 0) or w.sum() <= 0:
        raise ValueError("weights must be non-negative with a positive sum")
    c = np.asarray(as_float_array(covariances, "covariances", ndim=(0, 1, 3)), np.float64)
    if c.ndim < 3:
        var = np.broadcast_to(c, (K,))
        if np.any(var <= 0):
            raise ValueError("isotropic variances must be positive")
        c = var[:, None, None] * np.eye(d)
    if c.shape != (K, d, d):
        raise ValueError(f"covariances must have shape ({K}, {d}, {d}), got {tuple(c.shape)}")
    if not np.allclose(c, np.swapaxes(c, -1, -2)):
        raise ValueError("covariances must be symmetric")
    if np.any(np.linalg.eigvalsh(c) <= 0):
        raise ValueError("covariances must be positive definite")
    weights, covs = jnp.asarray(w / w.sum(), dtype), jnp.asarray(c, dtype)
    return GaussianMixture(weights, means, covs)


def _check_mixture(mixture: Any) -> GaussianMixture:
    if not isinstance(mixture, GaussianMixture):
        raise ValueError(f"mixture must be a GaussianMixture (see gaussian_mixture), got {type(mixture).__name__}")
    return mixture


def _marginal_params(mixture: GaussianMixture, t: jax.Array):
    """Means and covariances of ``p_t`` for times ``t (n,)``: ``(n, K, d)``, ``(n, K, d, d)``."""
    a = jnp.exp(-t)[:, None, None]
    eye = jnp.eye(mixture.dim, dtype=mixture.means.dtype)
    means = a * mixture.means[None]
    covs = (a * a)[..., None] * mixture.covariances[None] + (1 - a * a)[..., None] * eye
    return means, covs


def diffusion_marginal(mixture: GaussianMixture, t: float) -> GaussianMixture:
    """The law ``p_t`` of ``x_t = e^{−t} x_0 + sqrt(1 − e^{−2t}) ε`` for ``x_0 ~ mixture``.

    >>> gm = gaussian_mixture([1.0], [[2.0, 0.0]], 1.0)
    >>> pt = diffusion_marginal(gm, math.log(2.0))
    >>> [round(float(v), 4) for v in pt.means[0]], round(float(pt.covariances[0, 0, 0]), 4)
    ([1.0, 0.0], 1.0)
    """
    mixture = _check_mixture(mixture)
    t = check_nonneg_float(t, "t")
    means, covs = _marginal_params(mixture, jnp.full((1,), t, mixture.means.dtype))
    return GaussianMixture(mixture.weights, means[0], covs[0])


def _check_times(mixture: GaussianMixture, x: Any, t: Any) -> tuple[jax.Array, jax.Array]:
    x = mixture._check_x(x)
    t = as_float_array(t, "t", ndim=(0, 1)).astype(x.dtype)
    t = jnp.broadcast_to(t, (x.shape[0],))
    if is_concrete(t) and bool(jnp.any(t < 0)):
        raise ValueError("times t must be >= 0")
    return x, t


def diffusion_score(mixture: GaussianMixture, x: Any, t: Any) -> jax.Array:
    """The exact score ``∇_x log p_t(x)`` of the noised mixture, one time per sample.

    Args:
        mixture: the data distribution ``p_0``.
        x: ``(n, d)`` points.
        t: ``(n,)`` times ``≥ 0`` (or a scalar for all).

    Returns:
        ``(n, d)``.

    >>> gm = gaussian_mixture([1.0], [[0.0, 0.0]], 1.0)      # N(0, I) is stationary: score −x
    >>> diffusion_score(gm, [[1.0, -2.0]], 0.7).tolist()
    [[-1.0, 2.0]]
    """
    mixture = _check_mixture(mixture)
    x, t = _check_times(mixture, x, t)
    return _score_jit(x, t, mixture.weights, mixture.means, mixture.covariances)


def diffusion_log_prob(mixture: GaussianMixture, x: Any, t: Any) -> jax.Array:
    """``log p_t(x)`` of the noised mixture, one time per sample: ``(n,)``.

    Differentiable in ``x`` and ``t`` (the checks on values are skipped under tracing).

    >>> gm = gaussian_mixture([1.0], [[0.0]], 1.0)
    >>> round(float(diffusion_log_prob(gm, [[0.0]], 3.0)[0]), 4)   # log of 1/sqrt(2 pi)
    -0.9189
    """
    mixture = _check_mixture(mixture)
    x, t = _check_times(mixture, x, t)
    return _log_prob_jit(x, t, mixture.weights, mixture.means, mixture.covariances)


@jax.jit
def _score_jit(x, t, weights, means, covs):
    m, c = _marginal_params(GaussianMixture(weights, means, covs), t)
    return _mixture_score(x, m, c, jnp.log(weights))


@jax.jit
def _log_prob_jit(x, t, weights, means, covs):
    m, c = _marginal_params(GaussianMixture(weights, means, covs), t)
    return _mixture_log_prob(x, m, c, jnp.log(weights))


@jax.jit
def _pairs_core(key, weights, means, chol, t_min, t_max, template):
    ku, kg = jax.random.split(key)
    n, d = template.shape
    u = jax.random.uniform(ku, (n, 2), means.dtype)
    g = jax.random.normal(kg, (n, 2 * d), means.dtype)
    x0 = _draw(u[:, 0], g[:, :d], weights, means, chol)
    t = t_min + (t_max - t_min) * u[:, 1]
    eps = g[:, d:]
    sigma = jnp.sqrt(-jnp.expm1(-2 * t))[:, None]
    x_t = jnp.exp(-t)[:, None] * x0 + sigma * eps
    return x_t, t, -eps / sigma


def denoising_pairs(key: jax.Array, mixture: GaussianMixture, n: int, *, t_min: float,
                    t_max: float) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Training triples for denoising score matching.

    Draws ``x_0 ~ mixture``, ``t ~ U[t_min, t_max]``, ``ε ~ N(0, I)`` and returns
    ``(x_t, t, −ε/σ_t)`` with ``x_t = e^{−t} x_0 + σ_t ε``: a regression of the noisy label
    ``−ε/σ_t`` on ``(x_t, t)`` whose regression function is :func:`diffusion_score`.

    Args:
        key: PRNG key.
        mixture: the data distribution.
        n: number of triples.
        t_min, t_max: ``0 < t_min ≤ t_max``.

    Returns:
        ``x_t (n, d)``, ``t (n,)``, ``target (n, d)``.

    >>> import jax
    >>> gm = gaussian_mixture([1.0], [[0.0, 0.0]], 1.0)
    >>> x, t, y = denoising_pairs(jax.random.key(0), gm, 5, t_min=0.2, t_max=1.0)
    >>> x.shape, t.shape, y.shape
    ((5, 2), (5,), (5, 2))
    """
    key = check_key(key)
    mixture = _check_mixture(mixture)
    n = check_positive_int(n, "n")
    t_min, t_max = check_nonneg_float(t_min, "t_min"), check_nonneg_float(t_max, "t_max")
    if not 0 < t_min <= t_max:
        raise ValueError(f"need 0 < t_min <= t_max, got t_min={t_min}, t_max={t_max}")
    template = jnp.zeros((n, mixture.dim), mixture.means.dtype)
    return _pairs_core(key, mixture.weights, mixture.means, _cholesky(mixture.covariances), t_min, t_max, template)
