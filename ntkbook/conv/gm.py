"""Gaussian-mixture convolution networks (P165): rasters, ReLU fitting, EM fitting of images, a GM conv layer.

A Gaussian mixture (GM) here is a triple ``(weights (..., M), means (..., M, d), covariances (..., M, d, d))``
of *normalised* Gaussian densities, ``f(x) = Σ_m a_m N(x; μ_m, Σ_m)``, so its integral is ``Σ_m a_m``.
Convolution of mixtures is analytic (:func:`ntkbook.conv.gaussian_mixture_conv`); ReLU is not, and
:func:`gaussian_mixture_relu_fit` replaces ``max(f, 0)`` by a smaller mixture whose weights are refitted by
non-negative least squares (:func:`nonnegative_lstsq`). :func:`gaussian_mixture_em` turns an image into a
mixture, and :class:`GaussianMixtureConv` is one learnable layer (convolution, then ReLU fit).
"""

from __future__ import annotations

from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from jax.scipy.stats import multivariate_normal

from .._validate import as_float_array, check_positive_int, is_concrete
from .generators import gaussian_mixture_conv

__all__ = [
    "pixel_centres", "gaussian_mixture_raster", "nonnegative_lstsq", "gaussian_mixture_relu_fit",
    "gaussian_mixture_em", "GaussianMixtureConv",
]


def _extent(extent: Any) -> tuple[float, float]:
    low, high = (float(v) for v in extent)
    if not (np.isfinite(low) and np.isfinite(high) and high > low):
        raise ValueError(f"extent must be (low, high) with low < high, got {extent!r}")
    return low, high


def pixel_centres(size: int, extent: tuple[float, float] = (0.0, 1.0)) -> jnp.ndarray:
    """Centres of a ``size × size`` pixel grid covering ``[low, high]²``: array ``(size, size, 2)``.

    Pixel ``(i, j)`` sits at ``(low + (i + ½)h, low + (j + ½)h)`` with ``h = (high − low) / size``: the first
    coordinate is the row.

    >>> pixel_centres(2).reshape(-1, 2).tolist()
    [[0.25, 0.25], [0.25, 0.75], [0.75, 0.25], [0.75, 0.75]]
    """
    size = check_positive_int(size, "size")
    low, high = _extent(extent)
    axis = low + (high - low) * (np.arange(size) + 0.5) / size
    real = jnp.float64 if jax.config.jax_enable_x64 else jnp.float32
    return jnp.asarray(np.stack(np.meshgrid(axis, axis, indexing="ij"), -1), real)


def gaussian_mixture_raster(weights: Any, means: Any, covariances: Any, size: int,
                            extent: tuple[float, float] = (0.0, 1.0)) -> jnp.ndarray:
    """Values of 2-D mixtures (one per channel) at the :func:`pixel_centres` of a ``size × size`` grid.

    Parameters
    ----------
    weights (C, M), means (C, M, 2), covariances (C, M, 2, 2) : the mixtures
    size : int, pixels per side;  extent : (low, high), the square ``[low, high]²``

    Returns
    -------
    array (C, size, size); times the pixel area ``h²`` it sums to about ``Σ weights`` when the square holds
    the mass.

    >>> import jax.numpy as jnp
    >>> img = gaussian_mixture_raster(jnp.ones((1, 1)), jnp.zeros((1, 1, 2)), 0.25 * jnp.eye(2)[None, None],
    ...                               64, extent=(-4, 4))
    >>> round(float(img.sum()) * (8 / 64) ** 2, 4)
    1.0
    """
    means = as_float_array(means, "means", ndim=3)
    if means.shape[-1] != 2:
        raise ValueError(f"gaussian_mixture_raster needs 2-D mixtures, got means of shape {tuple(means.shape)}")
    weights = as_float_array(weights, "weights", ndim=2)
    covs = as_float_array(covariances, "covariances", ndim=4)
    if weights.shape != means.shape[:2] or covs.shape != (*means.shape, 2):
        raise ValueError(f"expected weights (C, M), means (C, M, 2), covariances (C, M, 2, 2); got "
                         f"{tuple(weights.shape)}, {tuple(means.shape)}, {tuple(covs.shape)}")
    dtype = jnp.result_type(weights.dtype, means.dtype, covs.dtype)
    points = pixel_centres(size, extent).astype(dtype).reshape(-1, 2)
    # closed-form 2-D densities (no batched triangular solves, which are slow to compile and run on CPU)
    dens = jax.vmap(lambda m, s: jnp.exp(_log_densities(m, s, points)))(means.astype(dtype), covs.astype(dtype))
    values = jnp.einsum("cpm,cm->cp", dens, weights.astype(dtype))
    return values.reshape(weights.shape[0], size, size).astype(jnp.result_type(weights.dtype, means.dtype))


def nonnegative_lstsq(A: Any, b: Any, *, iterations: int = 200, polish: bool = True) -> jnp.ndarray:
    """Non-negative least squares ``argmin_{w ≥ 0} ‖A w − b‖²``, differentiable and jit-friendly.

    Runs ``iterations`` steps of accelerated projected gradient (FISTA, step ``1/λ_max(AᵀA)``), then
    (``polish=True``) re-solves the normal equations exactly on the components it found positive; that
    polished solution is kept when it is non-negative and fits at least as well, so a target that is
    exactly representable (``b = A w*``, ``w* ≥ 0``, ``A`` of full column rank) is recovered to rounding.
    Inside a training loop use ``polish=False``: the polish solves a possibly ill-conditioned system, and
    its gradient can be NaN even where the polished solution is not selected. Leading axes batch.

    Parameters
    ----------
    A : array (..., P, K);  b : array (..., P)
    iterations : int, projected-gradient steps before the polish.
    polish : bool, re-solve exactly on the support found (default).

    Returns
    -------
    array (..., K), non-negative.

    >>> import jax.numpy as jnp
    >>> w = nonnegative_lstsq(jnp.eye(3), jnp.array([1.0, -2.0, 3.0]))
    >>> [round(v, 6) for v in w.tolist()]
    [1.0, 0.0, 3.0]
    """
    iterations = check_positive_int(iterations, "iterations")
    A = as_float_array(A, "A")
    b = as_float_array(b, "b")
    if A.ndim < 2 or b.shape != A.shape[:-1]:
        raise ValueError(f"need A (..., P, K) and b (..., P); got {tuple(A.shape)} and {tuple(b.shape)}")
    dtype = jnp.result_type(A.dtype, b.dtype)
    return _nnls_core(A.astype(dtype), b.astype(dtype), iterations, bool(polish))


def _nnls_core(A, b, iterations, polish=True, init=None):
    if A.ndim > 2:  # batch every argument, the warm start too (None is an empty pytree)
        return jax.vmap(lambda a, c, w0: _nnls_core(a, c, iterations, polish, w0))(A, b, init)
    gram = A.T @ A
    rhs = A.T @ b
    k = gram.shape[0]
    step = 1.0 / jnp.maximum(jax.lax.stop_gradient(jnp.linalg.eigvalsh(gram)[-1]), jnp.finfo(A.dtype).tiny)

    def body(_, state):
        w, z, t = state
        w_next = jnp.maximum(z - step * (gram @ z - rhs), 0.0)
        t_next = 0.5 * (1.0 + jnp.sqrt(1.0 + 4.0 * t * t))
        return w_next, w_next + ((t - 1.0) / t_next) * (w_next - w), t_next

    start = jnp.zeros(k, A.dtype) if init is None else jnp.maximum(init.astype(A.dtype), 0.0)
    w, _, _ = jax.lax.fori_loop(0, iterations, body, (start, start, jnp.ones((), A.dtype)))
    if not polish:
        return w
    free = jax.lax.stop_gradient(w > 0)
    both = free[:, None] & free[None, :]
    ridge = jnp.finfo(A.dtype).eps * jnp.maximum(jnp.trace(gram) / k, jnp.finfo(A.dtype).tiny)
    reduced = jnp.where(both, gram, jnp.eye(k, dtype=A.dtype)) + ridge * jnp.eye(k, dtype=A.dtype)
    polished = jnp.linalg.solve(reduced, jnp.where(free, rhs, 0.0))

    def loss(v):
        r = A @ v - b
        return r @ r

    better = jnp.all(polished >= 0) & jnp.all(jnp.isfinite(polished)) & (loss(polished) <= loss(w))
    return jnp.where(better, polished, w)


def _log_densities(means: jnp.ndarray, covs: jnp.ndarray, points: jnp.ndarray) -> jnp.ndarray:
    """``log N(x_p; μ_k, Σ_k)``: means (K, d), covs (K, d, d), points (P, d) -> (P, K).

    In 2-D the inverse and determinant are written out (XLA's batched triangular solves are slow on CPU).
    """
    if means.shape[-1] != 2:
        return jax.vmap(lambda m, s: multivariate_normal.logpdf(points, m, s))(means, covs).T
    a, b, c = covs[:, 0, 0], covs[:, 0, 1], covs[:, 1, 1]
    det = a * c - b * b
    dx = points[:, None, 0] - means[None, :, 0]
    dy = points[:, None, 1] - means[None, :, 1]
    maha = (c * dx * dx - 2.0 * b * dx * dy + a * dy * dy) / det
    return -0.5 * maha - float(np.log(2 * np.pi)) - 0.5 * jnp.log(det)


def _cholesky(covs: jnp.ndarray) -> jnp.ndarray:
    """Lower Cholesky factors of (..., d, d) covariances, written out in 2-D."""
    if covs.shape[-1] != 2:
        return jnp.linalg.cholesky(covs)
    l11 = jnp.sqrt(covs[..., 0, 0])
    l21 = covs[..., 1, 0] / l11
    l22 = jnp.sqrt(covs[..., 1, 1] - l21 * l21)
    zero = jnp.zeros_like(l11)
    return jnp.stack([jnp.stack([l11, zero], -1), jnp.stack([l21, l22], -1)], -2)


def gaussian_mixture_relu_fit(weights: Any, means: Any, covariances: Any, key: jax.Array, *,
                              num_components: int, num_random: int = 64, iterations: int = 100,
                              all_centres: bool = True, polish: bool = True
                              ) -> tuple[jnp.ndarray, jnp.ndarray, jnp.ndarray]:
    """Fit a smaller mixture to ``max(f, 0)`` of a mixture ``f`` with signed weights (the GMCN ReLU + pooling).

    Per channel: keep the ``num_components`` components with the largest weights (their means and
    covariances); evaluate ``f`` at component centres (all ``M`` of them, or with ``all_centres=False``
    only the kept ones, which is much cheaper when ``M`` is large) and at ``num_random`` points drawn from
    its components (chosen with probability ``∝ |a_m|``); clamp the values at 0; and refit the kept weights by
    :func:`nonnegative_lstsq` (started from the kept weights clamped at 0) so that the new mixture matches
    the clamped values at those points.
    The sample points carry no gradient; everything else is differentiable.

    Parameters
    ----------
    weights (C, M), means (C, M, d), covariances (C, M, d, d) : the mixtures, ``M ≥ num_components``
    key : jax.random key for the random points
    num_components : int, ``K`` components kept;  num_random : int ≥ 0;  iterations : int, NNLS steps
    all_centres : bool, evaluate at every input centre (default) or only at the kept ones
    polish : bool, the exact re-solve of :func:`nonnegative_lstsq`; ``False`` inside training loops

    Returns
    -------
    (weights (C, K) ≥ 0, means (C, K, d), covariances (C, K, d, d))

    >>> import jax, jax.numpy as jnp
    >>> w = jnp.array([[1.0, -0.5, 0.2]]); mu = jnp.array([[[0.0], [0.0], [3.0]]])
    >>> S = jnp.ones((1, 3, 1, 1))
    >>> fw, fm, fS = gaussian_mixture_relu_fit(w, mu, S, jax.random.key(0), num_components=2)
    >>> fw.shape, fm[0, :, 0].tolist()
    ((1, 2), [0.0, 3.0])
    """
    weights = as_float_array(weights, "weights", ndim=2)
    means = as_float_array(means, "means", ndim=3)
    covs = as_float_array(covariances, "covariances", ndim=4)
    c, m = weights.shape
    d = means.shape[-1]
    if means.shape[:2] != (c, m) or covs.shape != (c, m, d, d):
        raise ValueError(f"expected weights (C, M), means (C, M, d), covariances (C, M, d, d); got "
                         f"{tuple(weights.shape)}, {tuple(means.shape)}, {tuple(covs.shape)}")
    k = check_positive_int(num_components, "num_components")
    if k > m:
        raise ValueError(f"num_components={k} exceeds the {m} components of the input")
    if not isinstance(num_random, (int, np.integer)) or num_random < 0:
        raise ValueError(f"num_random must be a non-negative integer, got {num_random!r}")
    iterations = check_positive_int(iterations, "iterations")
    keys = jax.random.split(key, c)
    fit = jax.vmap(lambda w, mu, s, kk: _relu_fit_one(w, mu, s, kk, k, int(num_random), iterations,
                                                      bool(all_centres), bool(polish)))
    return fit(weights, means, covs, keys)


def _relu_fit_one(w, mu, cov, key, k, num_random, iterations, all_centres, polish):
    m, d = mu.shape
    _, keep = jax.lax.top_k(w, k)
    mu_k, cov_k = mu[keep], cov[keep]
    points = mu if all_centres else mu_k
    if num_random:
        k_idx, k_z = jax.random.split(key)
        idx = jax.random.categorical(k_idx, jnp.log(jnp.abs(w) + jnp.finfo(w.dtype).tiny), shape=(num_random,))
        z = jax.random.normal(k_z, (num_random, d), w.dtype)
        chol = _cholesky(cov[idx])
        points = jnp.concatenate([points, mu[idx] + jnp.einsum("rij,rj->ri", chol, z)], axis=0)
    points = jax.lax.stop_gradient(points)
    target = jnp.maximum(jnp.exp(_log_densities(mu, cov, points)) @ w, 0.0)
    w_new = _nnls_core(jnp.exp(_log_densities(mu_k, cov_k, points)), target, iterations, polish,
                       init=jax.lax.stop_gradient(w[keep]))
    return w_new, mu_k, cov_k


def gaussian_mixture_em(points: Any, values: Any, num_components: int, key: jax.Array, *,
                        iterations: int = 50, min_variance: float = 0.0
                        ) -> tuple[jnp.ndarray, jnp.ndarray, jnp.ndarray]:
    """Weighted EM: fit a ``K``-component mixture to the measure ``Σ_p v_p δ(x − x_p)``.

    With ``points`` the pixel centres and ``values`` the intensities this turns an image into a mixture
    (multiply the weights by the pixel area to approximate the image as a density). Means start at ``K``
    points chosen by weighted k-means++ seeding (probability ``∝ v_p`` times the squared distance to the
    centres already chosen); each M-step adds ``min_variance·I`` to the
    covariances (e.g. ``h²/12``, the variance of a pixel of width ``h``), which keeps them positive definite.

    Parameters
    ----------
    points : array (P, d);  values : array (P,) or (B, P), non-negative (a batch of images is vmapped)
    num_components : int, ``K ≤ P``;  key : jax.random key;  iterations : int;  min_variance : float ≥ 0

    Returns
    -------
    (weights (…, K) summing to ``Σ_p v_p``, means (…, K, d), covariances (…, K, d, d))

    >>> import jax, jax.numpy as jnp
    >>> x = jnp.array([[0.0], [0.1], [5.0], [5.1]])
    >>> w, mu, S = gaussian_mixture_em(x, jnp.ones(4), 2, jax.random.key(0), min_variance=1e-3)
    >>> sorted(round(v, 3) for v in mu[:, 0].tolist()), round(float(w.sum()), 3)
    ([0.05, 5.05], 4.0)
    """
    points = as_float_array(points, "points", ndim=2)
    values = as_float_array(values, "values", ndim=(1, 2))
    p = points.shape[0]
    if values.shape[-1] != p:
        raise ValueError(f"values must have shape ({p},) or (B, {p}), got {tuple(values.shape)}")
    if is_concrete(values) and bool(jnp.any(values < 0)):
        raise ValueError("values must be non-negative")
    k = check_positive_int(num_components, "num_components")
    if k > p:
        raise ValueError(f"num_components={k} exceeds the number of points {p}")
    iterations = check_positive_int(iterations, "iterations")
    if not (np.isfinite(min_variance) and min_variance >= 0):
        raise ValueError(f"min_variance must be a non-negative float, got {min_variance!r}")
    dtype = jnp.result_type(points.dtype, values.dtype)
    points, values = points.astype(dtype), values.astype(dtype)
    if values.ndim == 2:
        keys = jax.random.split(key, values.shape[0])
        return _em_batch(points, values, keys, k, iterations, float(min_variance))
    return _em_one(points, values, key, k, iterations, float(min_variance))


@partial(jax.jit, static_argnums=(3, 4, 5))
def _em_batch(points, values, keys, k, iterations, min_variance):
    return jax.vmap(lambda v, kk: _em_one(points, v, kk, k, iterations, min_variance))(values, keys)


def _em_one(points, values, key, k, iterations, min_variance):
    p, d = points.shape
    tiny = jnp.finfo(points.dtype).tiny
    total = jnp.sum(values)
    gumbel = jax.random.gumbel(key, (k, p), points.dtype)

    def seed(j, state):              # k-means++ seeding: the next centre is drawn with probability ∝ v·D²
        chosen, dist2 = state
        idx = jnp.argmax(jnp.log(jnp.where(j == 0, values, values * dist2) + tiny) + gumbel[j])
        new = jnp.sum((points - points[idx]) ** 2, axis=-1)
        return chosen.at[j].set(idx.astype(chosen.dtype)), jnp.minimum(dist2, new)

    start, _ = jax.lax.fori_loop(0, k, seed, (jnp.zeros(k, jnp.int32), jnp.full((p,), jnp.inf, points.dtype)))
    spread = jnp.cov(points.T, aweights=values + tiny).reshape(d, d)
    eye = jnp.eye(d, dtype=points.dtype)
    init = (jnp.full((k,), 1.0 / k, points.dtype), points[start],
            jnp.broadcast_to(spread / k + min_variance * eye + 1e-6 * jnp.trace(spread) * eye, (k, d, d)))

    def step(_, state):
        pi, mu, cov = state
        logp = _log_densities(mu, cov, points) + jnp.log(pi + tiny)                       # (P, K)
        resp = jnp.exp(logp - jax.scipy.special.logsumexp(logp, axis=1, keepdims=True))
        r = resp * values[:, None]                                                       # (P, K)
        mass = jnp.sum(r, axis=0)                                                         # (K,)
        safe = jnp.maximum(mass, tiny)
        mu_new = jnp.where(mass[:, None] > 0, (r.T @ points) / safe[:, None], mu)
        diff = points[None] - mu_new[:, None]                                             # (K, P, d)
        scatter = jnp.einsum("pk,kpi,kpj->kij", r, diff, diff) / safe[:, None, None]
        cov_new = jnp.where(mass[:, None, None] > 0, scatter, cov) + min_variance * eye
        return mass / jnp.maximum(total, tiny), mu_new, cov_new

    pi, mu, cov = jax.lax.fori_loop(0, iterations, step, init)
    return pi * total, mu, cov


class GaussianMixtureConv(nnx.Module):
    """One GMCN layer: analytic convolution of mixture channels with learnable GM kernels, then a ReLU fit.

    Input channel ``i`` (``K`` components) convolved with kernel ``(o, i)`` (``L`` Gaussians) gives ``K·L``
    components; output channel ``o`` collects them over all ``I`` inputs (``I·K·L`` components), and
    :func:`gaussian_mixture_relu_fit` reduces it to ``output_components`` non-negative components.
    Kernel weights, means and Cholesky factors (positive diagonal through ``exp``) are ``nnx.Param``.

    Parameters
    ----------
    in_channels, out_channels : int;  kernel_components : int, ``L``;  output_components : int
    dim : int, space dimension ``d`` (default 2);  kernel_scale : float, initial spread of kernel means and
    standard deviation of each kernel Gaussian;  num_random, nnls_iterations, all_centres, polish : passed to
    the ReLU fit (``all_centres=False`` by default here: the convolved mixtures have ``I·K·L`` components;
    ``polish=False``: the layer is meant to be trained, and the polish step's gradient can be NaN);
    relu : bool, ``False`` returns the raw ``I·K·L``-component convolution;  seed : int, random points of the fit
    rngs : nnx.Rngs

    Call with a batch of mixtures ``(weights (B, I, K), means (B, I, K, d), covs (B, I, K, d, d))``.

    >>> import jax.numpy as jnp
    >>> from flax import nnx
    >>> layer = GaussianMixtureConv(1, 3, 2, output_components=4, rngs=nnx.Rngs(0))
    >>> x = (jnp.ones((5, 1, 4)), jnp.zeros((5, 1, 4, 2)), jnp.broadcast_to(jnp.eye(2), (5, 1, 4, 2, 2)))
    >>> [a.shape for a in layer(x)]
    [(5, 3, 4), (5, 3, 4, 2), (5, 3, 4, 2, 2)]
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_components: int, *,
                 output_components: int, dim: int = 2, kernel_scale: float = 0.1, num_random: int = 64,
                 nnls_iterations: int = 100, all_centres: bool = False, polish: bool = False,
                 relu: bool = True, seed: int = 0, rngs: nnx.Rngs) -> None:
        i = check_positive_int(in_channels, "in_channels")
        o = check_positive_int(out_channels, "out_channels")
        el = check_positive_int(kernel_components, "kernel_components")
        d = check_positive_int(dim, "dim")
        if not (np.isfinite(kernel_scale) and kernel_scale > 0):
            raise ValueError(f"kernel_scale must be positive, got {kernel_scale!r}")
        self.output_components = check_positive_int(output_components, "output_components")
        self.num_random = int(num_random)
        self.nnls_iterations = check_positive_int(nnls_iterations, "nnls_iterations")
        self.all_centres = bool(all_centres)
        self.polish = bool(polish)
        self.relu = bool(relu)
        self.seed = int(seed)
        k_w, k_m = jax.random.split(rngs.params())
        self.weights = nnx.Param(jax.random.normal(k_w, (o, i, el)) / np.sqrt(i * el))
        means = kernel_scale * jax.random.normal(k_m, (o, i, el, d))
        self.means = nnx.Param(means)
        # explicit dtypes: weakly typed parameters would change type after the first optimizer step
        # and make a jitted training step compile twice more
        self.log_diag = nnx.Param(jnp.full((o, i, el, d), float(np.log(kernel_scale)), dtype=means.dtype))
        self.off_diag = nnx.Param(jnp.zeros((o, i, el, d, d), dtype=means.dtype))

    def kernel(self) -> tuple[jnp.ndarray, jnp.ndarray, jnp.ndarray]:
        """The kernel mixtures ``(weights (O, I, L), means (O, I, L, d), covariances (O, I, L, d, d))``."""
        d = self.log_diag.shape[-1]
        chol = jnp.tril(self.off_diag[...], -1) + jnp.exp(self.log_diag[...])[..., None] * jnp.eye(d)
        return self.weights[...], self.means[...], chol @ jnp.swapaxes(chol, -1, -2)

    def __call__(self, x: tuple[Any, Any, Any]) -> tuple[jnp.ndarray, jnp.ndarray, jnp.ndarray]:
        w, mu, cov = (jnp.asarray(a) for a in x)
        if w.ndim != 3 or mu.shape != (*w.shape, self.means.shape[-1]) or cov.shape != (*mu.shape, mu.shape[-1]):
            raise ValueError(f"expected weights (B, I, K), means (B, I, K, d), covariances (B, I, K, d, d); got "
                             f"{tuple(w.shape)}, {tuple(mu.shape)}, {tuple(cov.shape)}")
        if w.shape[1] != self.weights.shape[1]:
            raise ValueError(f"expected {self.weights.shape[1]} input channels, got {w.shape[1]}")
        kw, km, kc = self.kernel()

        def one_output(a, g):            # a: one sample's input mixtures, g: the kernels of one output channel
            cw, cm, cc = gaussian_mixture_conv(a, g)                     # (I, K·L), ...
            return cw.reshape(-1), cm.reshape(-1, cm.shape[-1]), cc.reshape(-1, *cc.shape[-2:])

        conv_all = jax.vmap(jax.vmap(one_output, in_axes=(None, 0)), in_axes=(0, None))
        out = conv_all((w, mu, cov), (kw, km, kc))                        # (B, O, I·K·L, ...)
        if not self.relu:
            return out
        b, o = out[0].shape[:2]
        flat = [t.reshape(b * o, *t.shape[2:]) for t in out]
        fw, fm, fc = gaussian_mixture_relu_fit(*flat, jax.random.key(self.seed),
                                               num_components=self.output_components,
                                               num_random=self.num_random, iterations=self.nnls_iterations,
                                               all_centres=self.all_centres, polish=self.polish)
        return fw.reshape(b, o, -1), fm.reshape(b, o, *fm.shape[1:]), fc.reshape(b, o, *fc.shape[1:])
