"""Kernel density estimation, bandwidth selection, mean-shift mode finding and maximum mean discrepancy.

The kernel is the generalized Gaussian :math:`K(u) = \\exp(-\\lVert u\\rVert^\\alpha/\\alpha)`,
:math:`0 < \\alpha \\le 2`, scaled by a bandwidth :math:`h`. For :math:`\\alpha = 2` it is the standard
Gaussian kernel with standard deviation :math:`h` in every direction (the convention of
:func:`scipy.stats.gaussian_kde`); :math:`\\alpha = 1` gives a Laplace-like kernel. The estimate is

.. math:: \\hat\\rho_h(x) = \\frac{1}{n h^d C_{d,\\alpha}} \\sum_{i=1}^n
          \\exp\\!\\Big(-\\frac{1}{\\alpha}\\Big(\\frac{\\lVert x - y_i\\rVert}{h}\\Big)^{\\alpha}\\Big),
   \\qquad C_{d,\\alpha} = \\frac{2\\pi^{d/2}\\,\\alpha^{d/\\alpha - 1}\\,\\Gamma(d/\\alpha)}{\\Gamma(d/2)},

and is evaluated in the log domain by a streaming log-sum-exp over blocks of queries and data points, so
no query-by-data matrix larger than one ``block × block`` tile is formed and high-dimensional densities
far below the float range stay exact.

* :func:`kde_log_density` / :func:`kde_density` — the estimate at query points, for one bandwidth or a
  whole grid of bandwidths at once;
* :func:`scott_bandwidth` / :func:`silverman_bandwidth` — rule-of-thumb bandwidths (scipy's factors);
* :func:`loo_bandwidth` — leave-one-out likelihood cross-validation over a bandwidth grid;
* :func:`mean_shift` / :func:`mean_shift_weights` — fixed-point mode finding with weights from the
  kernel profile (valid for every :math:`\\alpha \\le 2`);
* :func:`mmd_from_gram` / :func:`mmd` / :func:`mmd_permutation_test` — squared maximum mean
  discrepancy (biased V- and unbiased U-statistic) and a permutation test.
"""

from __future__ import annotations

import functools
import math
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .._validate import as_float_array, check_positive, check_positive_int, check_same_features
from ..kernels import rbf, sq_distances

__all__ = ["kde_log_density", "kde_density", "scott_bandwidth", "silverman_bandwidth", "BandwidthSelection",
           "loo_bandwidth", "MeanShiftResult", "mean_shift", "mean_shift_weights", "mmd_from_gram", "mmd",
           "MMDTest", "mmd_permutation_test"]


# --------------------------------------------------------------------------------------------------
# Input checks and the kernel profile (private)
# --------------------------------------------------------------------------------------------------

def _check_alpha(alpha: Any) -> float:
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float, np.integer, np.floating)):
        raise ValueError(f"alpha must be a number in (0, 2], got {alpha!r}")
    alpha = float(alpha)
    if not 0.0 < alpha <= 2.0:
        raise ValueError(f"alpha must be in (0, 2] (the generalized Gaussian is then a Gaussian mixture), got {alpha}")
    return alpha


def _points(x: Any, name: str) -> jnp.ndarray:
    arr = as_float_array(x, name, ndim=(1, 2))
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"{name} must hold at least one point of dimension >= 1, got shape {tuple(arr.shape)}")
    return arr


def _pair(x: Any, data: Any, xname: str = "x", dname: str = "data") -> tuple[jnp.ndarray, jnp.ndarray]:
    q, y = _points(x, xname), _points(data, dname)
    check_same_features(q, y, xname, dname)
    dtype = jnp.result_type(q.dtype, y.dtype)
    return q.astype(dtype), y.astype(dtype)


def _bandwidths(bandwidth: Any, dtype: Any) -> tuple[jnp.ndarray, bool]:
    """A positive scalar or 1-D grid of bandwidths -> (1-D array, was_scalar)."""
    h = jnp.asarray(bandwidth)
    if h.ndim > 1 or (h.ndim == 1 and h.shape[0] == 0):
        raise ValueError(f"bandwidth must be a scalar or a non-empty 1-D grid, got shape {tuple(h.shape)}")
    check_positive(h, "bandwidth")
    return jnp.atleast_1d(h).astype(dtype), h.ndim == 0


def _log_norm(d: int, alpha: float) -> float:
    """log C_{d,alpha}: the integral of exp(-|u|^alpha / alpha) over R^d."""
    return (math.log(2.0) + 0.5 * d * math.log(math.pi) + (d / alpha - 1.0) * math.log(alpha)
            + math.lgamma(d / alpha) - math.lgamma(d / 2.0))


def _log_profile(t: jnp.ndarray, alpha: float) -> jnp.ndarray:
    """log k(t) with t = |u|^2 / h^2 and k(t) = exp(-t^(alpha/2) / alpha)."""
    if alpha == 2.0:
        return -0.5 * t
    return -jnp.power(t, 0.5 * alpha) / alpha


def _log_shift_weight(t: jnp.ndarray, alpha: float) -> jnp.ndarray:
    """log g(t) with g = -k'(t) = 0.5 t^(alpha/2 - 1) k(t), up to the constant log 0.5 (t clamped above 0)."""
    if alpha == 2.0:
        return -0.5 * t
    tiny = jnp.asarray(jnp.finfo(t.dtype).tiny, t.dtype) ** 0.5
    t = jnp.maximum(t, tiny)
    return (0.5 * alpha - 1.0) * jnp.log(t) - jnp.power(t, 0.5 * alpha) / alpha


def _block_sizes(m: int, n: int, block: int) -> tuple[int, int]:
    return min(block, m), min(block, n)


# --------------------------------------------------------------------------------------------------
# Streaming log-sum-exp over (query block, data block) tiles
# --------------------------------------------------------------------------------------------------

@functools.partial(jax.jit, static_argnames=("alpha", "qb", "db", "exclude_self"))
def _log_kernel_sums(q, data, inv_h2, alpha, qb, db, exclude_self):
    """(H, m): log sum_i k(|q - y_i|^2 / h^2) for every bandwidth; optionally without the i = query term."""
    m, d = q.shape
    n = data.shape[0]
    dtype = q.dtype
    num_q, num_d = -(-m // qb), -(-n // db)
    q_blocks = jnp.pad(q, ((0, num_q * qb - m), (0, 0))).reshape(num_q, qb, d)
    q_index = jnp.arange(num_q * qb).reshape(num_q, qb)
    d_blocks = jnp.pad(data, ((0, num_d * db - n), (0, 0))).reshape(num_d, db, d)
    d_index = jnp.arange(num_d * db).reshape(num_d, db)

    def per_query_block(args):
        qblk, qi = args

        def body(carry, tile):
            dblk, di = tile
            d2 = sq_distances(qblk, dblk)  # (qb, db)
            valid = jnp.broadcast_to((di < n)[None, :], d2.shape)
            if exclude_self:
                valid = valid & (qi[:, None] != di[None, :])

            def per_bandwidth(args):
                c, mx, s = args
                logk = jnp.where(valid, _log_profile(d2 * c, alpha), -jnp.inf)
                new = jnp.maximum(mx, jnp.max(logk, axis=-1))
                ref = jnp.where(jnp.isfinite(new), new, jnp.zeros((), dtype))
                s = s * jnp.exp(mx - ref) + jnp.sum(jnp.exp(logk - ref[:, None]), axis=-1)
                return new, s

            mx, s = jax.lax.map(per_bandwidth, (inv_h2, *carry))
            return (mx, s), None

        init = (jnp.full((inv_h2.shape[0], qb), -jnp.inf, dtype), jnp.zeros((inv_h2.shape[0], qb), dtype))
        (mx, s), _ = jax.lax.scan(body, init, (d_blocks, d_index))
        return mx + jnp.log(s)

    out = jax.lax.map(per_query_block, (q_blocks, q_index))  # (num_q, H, qb)
    return jnp.moveaxis(out, 1, 0).reshape(inv_h2.shape[0], num_q * qb)[:, :m]


def _log_density(q, data, h, alpha, block, exclude_self=False):
    qb, db = _block_sizes(q.shape[0], data.shape[0], block)
    sums = _log_kernel_sums(q, data, 1.0 / h ** 2, alpha, qb, db, exclude_self)
    n_eff = data.shape[0] - (1 if exclude_self else 0)
    d = q.shape[1]
    return sums - (math.log(n_eff) + _log_norm(d, alpha)) - d * jnp.log(h)[:, None]


# --------------------------------------------------------------------------------------------------
# Kernel density estimate
# --------------------------------------------------------------------------------------------------

def kde_log_density(x: Any, data: Any, bandwidth: Any, *, alpha: float = 2.0, block: int = 512,
                    normalize: bool = True) -> jnp.ndarray:
    r"""Log of the kernel density estimate :math:`\log\hat\rho_h(x)` (see the module docstring).

    Parameters
    ----------
    x : array, shape (m, d) or (m,)
        Query points (a 1-D array means ``d = 1``).
    data : array, shape (n, d) or (n,)
        The sample :math:`y_1, \dots, y_n`.
    bandwidth : float or array of shape (H,)
        :math:`h > 0`; a 1-D grid evaluates every bandwidth from the same distance tiles.
    alpha : float, keyword-only
        Exponent of the generalized Gaussian kernel, :math:`0 < \alpha \le 2` (2: Gaussian).
    block : int, keyword-only
        Tile size: queries and data are processed ``block`` at a time.
    normalize : bool, keyword-only
        If ``False``, return the raw :math:`\log\sum_i \exp(-(\lVert x - y_i\rVert/h)^\alpha/\alpha)`
        without the :math:`n h^d C_{d,\alpha}` normalisation.

    Returns
    -------
    array, shape (m,) for a scalar bandwidth, (H, m) for a grid

    Raises
    ------
    ValueError
        On NaN/inf inputs, mismatched dimensions, a non-positive bandwidth, ``alpha`` outside (0, 2] or a
        non-positive ``block``.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> float(kde_log_density(jnp.zeros((1, 1)), jnp.zeros((1, 1)), 1.0)[0])  # log N(0; 0, 1)
    -0.918938...
    >>> kde_log_density(jnp.zeros((3, 2)), jnp.ones((5, 2)), jnp.array([0.5, 1.0])).shape
    (2, 3)
    """
    q, y = _pair(x, data)
    alpha = _check_alpha(alpha)
    block = check_positive_int(block, "block")
    h, scalar = _bandwidths(bandwidth, q.dtype)
    if normalize:
        out = _log_density(q, y, h, alpha, block)
    else:
        qb, db = _block_sizes(q.shape[0], y.shape[0], block)
        out = _log_kernel_sums(q, y, 1.0 / h ** 2, alpha, qb, db, False)
    return out[0] if scalar else out


def kde_density(x: Any, data: Any, bandwidth: Any, *, alpha: float = 2.0, block: int = 512) -> jnp.ndarray:
    r"""The kernel density estimate :math:`\hat\rho_h(x)`: ``exp`` of :func:`kde_log_density`.

    Parameters and errors as in :func:`kde_log_density`. In high dimension the density underflows; use
    the log version there.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> round(float(kde_density(jnp.zeros(1), jnp.array([-1.0, 1.0]), 1.0)[0]), 6)  # N(1; 0, 1)
    0.241971
    """
    return jnp.exp(kde_log_density(x, data, bandwidth, alpha=alpha, block=block))


def _spread(data: Any) -> tuple[jnp.ndarray, int, int]:
    y = _points(data, "data")
    n, d = y.shape
    if n < 2:
        raise ValueError(f"a bandwidth rule needs at least 2 data points, got {n}")
    sigma = jnp.sqrt(jnp.mean(jnp.var(y, axis=0, ddof=1)))
    return sigma, n, d


def scott_bandwidth(data: Any) -> jnp.ndarray:
    r"""Scott's rule :math:`h = \hat\sigma\, n^{-1/(d+4)}` for an isotropic KDE.

    :math:`\hat\sigma^2` is the mean over coordinates of the unbiased sample variance. In one dimension
    this is the bandwidth :func:`scipy.stats.gaussian_kde` uses with ``bw_method="scott"``.

    Parameters
    ----------
    data : array, shape (n, d) or (n,), n ≥ 2

    Returns
    -------
    array, scalar

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> round(float(scott_bandwidth(jnp.array([-1.0, 1.0]))), 4)  # sqrt(2) * 2^(-1/5)
    1.2311
    """
    sigma, n, d = _spread(data)
    return sigma * n ** (-1.0 / (d + 4))


def silverman_bandwidth(data: Any) -> jnp.ndarray:
    r"""Silverman's rule :math:`h = \hat\sigma\,\big(n(d+2)/4\big)^{-1/(d+4)}` for an isotropic KDE.

    :math:`\hat\sigma^2` is the mean over coordinates of the unbiased sample variance; in one dimension
    this is scipy's ``bw_method="silverman"`` (the normal-reference rule, without the robust IQR variant).

    Parameters
    ----------
    data : array, shape (n, d) or (n,), n ≥ 2

    Returns
    -------
    array, scalar

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> round(float(silverman_bandwidth(jnp.array([-1.0, 1.0]))), 4)  # sqrt(2) * 1.5^(-1/5)
    1.3041
    """
    sigma, n, d = _spread(data)
    return sigma * (n * (d + 2) / 4.0) ** (-1.0 / (d + 4))


class BandwidthSelection(NamedTuple):
    """Result of :func:`loo_bandwidth`: the chosen bandwidth, the grid and the score at every grid point."""

    bandwidth: jnp.ndarray
    bandwidths: jnp.ndarray
    scores: jnp.ndarray


def loo_bandwidth(data: Any, bandwidths: Any, *, alpha: float = 2.0, block: int = 512) -> BandwidthSelection:
    r"""Leave-one-out likelihood cross-validation of the KDE bandwidth over a grid.

    The score of :math:`h` is :math:`\frac1n\sum_i \log\hat\rho_h^{(-i)}(y_i)`, where
    :math:`\hat\rho_h^{(-i)}` is the KDE of the other :math:`n-1` points; the grid point with the largest
    score is returned.

    Parameters
    ----------
    data : array, shape (n, d) or (n,), n ≥ 2
    bandwidths : array, shape (H,)
        Positive candidate bandwidths.
    alpha, block : keyword-only
        As in :func:`kde_log_density`.

    Returns
    -------
    BandwidthSelection
        ``bandwidth`` (scalar), ``bandwidths`` (H,) and ``scores`` (H,).

    Examples
    --------
    >>> import jax, jax.numpy as jnp
    >>> y = jax.random.normal(jax.random.key(0), (200, 1))
    >>> sel = loo_bandwidth(y, jnp.array([0.01, 0.3, 10.0]))
    >>> float(sel.bandwidth)
    0.3...
    """
    y = _points(data, "data")
    if y.shape[0] < 2:
        raise ValueError(f"leave-one-out needs at least 2 data points, got {y.shape[0]}")
    alpha = _check_alpha(alpha)
    block = check_positive_int(block, "block")
    h = jnp.asarray(bandwidths)
    if h.ndim != 1:
        raise ValueError(f"bandwidths must be a 1-D grid, got shape {tuple(h.shape)}")
    h, _ = _bandwidths(h, y.dtype)
    scores = jnp.mean(_log_density(y, y, h, alpha, block, exclude_self=True), axis=1)
    return BandwidthSelection(h[jnp.argmax(scores)], h, scores)


# --------------------------------------------------------------------------------------------------
# Mean shift
# --------------------------------------------------------------------------------------------------

@functools.partial(jax.jit, static_argnames=("alpha",))
def _shift_weights(x, data, inv_h2, alpha):
    return jax.nn.softmax(_log_shift_weight(sq_distances(x, data) * inv_h2, alpha), axis=-1)


def mean_shift_weights(x: Any, data: Any, bandwidth: Any, *, alpha: float = 2.0) -> jnp.ndarray:
    r"""Normalised mean-shift weights :math:`w_{ji} \propto g(\lVert x_j - y_i\rVert^2/h^2)`, :math:`g = -k'`.

    For the profile :math:`k(t) = \exp(-t^{\alpha/2}/\alpha)`, :math:`g(t) \propto t^{\alpha/2 - 1} k(t)`
    (for :math:`\alpha < 2` the distance is clamped away from 0). One mean-shift step is ``weights @ data``;
    with weights computed in a projected space and applied to the original points, the same call gives
    the "lift" step of projected mode finding.

    Parameters
    ----------
    x : array, shape (s, d) or (s,)
        Current points.
    data : array, shape (n, d) or (n,)
    bandwidth : float
        :math:`h > 0`.
    alpha : float, keyword-only
        Kernel exponent in (0, 2].

    Returns
    -------
    array, shape (s, n)
        Rows sum to 1 (computed by a softmax in the log domain).

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> mean_shift_weights(jnp.zeros((1, 1)), jnp.array([[-1.0], [1.0]]), 1.0).tolist()
    [[0.5, 0.5]]
    """
    q, y = _pair(x, data)
    alpha = _check_alpha(alpha)
    h, scalar = _bandwidths(bandwidth, q.dtype)
    if not scalar:
        raise ValueError("mean_shift_weights takes a scalar bandwidth")
    return _shift_weights(q, y, 1.0 / h[0] ** 2, alpha)


class MeanShiftResult(NamedTuple):
    """Result of :func:`mean_shift`: final points (s, d), iterations run, and per-start convergence flags."""

    modes: jnp.ndarray
    iterations: jnp.ndarray
    converged: jnp.ndarray


@functools.partial(jax.jit, static_argnames=("alpha", "max_iter"))
def _mean_shift(starts, data, inv_h2, tol, alpha, max_iter):
    def step(x):
        return _shift_weights(x, data, inv_h2, alpha) @ data

    def cond(state):
        _, it, moved = state
        return (it < max_iter) & jnp.any(moved > tol)

    def body(state):
        x, it, _ = state
        new = step(x)
        return new, it + 1, jnp.sqrt(jnp.sum((new - x) ** 2, axis=-1))

    init = (starts, jnp.asarray(0), jnp.full((starts.shape[0],), jnp.inf, starts.dtype))
    x, it, moved = jax.lax.while_loop(cond, body, init)
    return x, it, moved <= tol


def mean_shift(data: Any, starts: Any, bandwidth: Any, *, alpha: float = 2.0, max_iter: int = 500,
               tol: float = 1e-6) -> MeanShiftResult:
    r"""Mean-shift mode finding: iterate :math:`x \leftarrow \sum_i w_i(x) y_i` from every start.

    The weights are :func:`mean_shift_weights`. For a convex, decreasing profile (every generalized
    Gaussian with :math:`\alpha \le 2`) each step does not decrease the KDE, and the iterates converge to a
    stationary point (Comaniciu & Meer, 2002). All starts are iterated together until every one moves
    less than ``tol * bandwidth`` in a step, or ``max_iter`` steps.

    Parameters
    ----------
    data : array, shape (n, d) or (n,)
    starts : array, shape (s, d) or (s,)
        Initial points.
    bandwidth : float
        :math:`h > 0`.
    alpha : float, keyword-only
        Kernel exponent in (0, 2].
    max_iter : int, keyword-only
    tol : float, keyword-only
        Relative step tolerance (in units of the bandwidth).

    Returns
    -------
    MeanShiftResult
        ``modes`` (s, d), ``iterations`` (scalar), ``converged`` (s,) booleans.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> y = jnp.array([[-0.1], [0.0], [0.1], [5.0]])
    >>> res = mean_shift(y, jnp.array([[0.5]]), 0.5)
    >>> round(float(res.modes[0, 0]), 3), bool(res.converged[0])
    (0.0, True)
    """
    y, q = _pair(data, starts, "data", "starts")
    alpha = _check_alpha(alpha)
    max_iter = check_positive_int(max_iter, "max_iter")
    check_positive(tol, "tol")
    h, scalar = _bandwidths(bandwidth, q.dtype)
    if not scalar:
        raise ValueError("mean_shift takes a scalar bandwidth")
    modes, it, conv = _mean_shift(q, y, 1.0 / h[0] ** 2, tol * h[0], alpha, max_iter)
    return MeanShiftResult(modes, it, conv)


# --------------------------------------------------------------------------------------------------
# Maximum mean discrepancy
# --------------------------------------------------------------------------------------------------

def _check_gram(K: Any, name: str, shape: tuple[int | None, int | None]) -> jnp.ndarray:
    arr = as_float_array(K, name, ndim=2)
    for got, want in zip(arr.shape, shape):
        if want is not None and got != want:
            raise ValueError(f"{name} has shape {tuple(arr.shape)}, expected {shape}")
    return arr


@functools.partial(jax.jit, static_argnames=("unbiased",))
def _mmd_gram(kxx, kyy, kxy, unbiased):
    n, m = kxx.shape[0], kyy.shape[0]
    if unbiased:
        sxx = (jnp.sum(kxx) - jnp.trace(kxx)) / (n * (n - 1))
        syy = (jnp.sum(kyy) - jnp.trace(kyy)) / (m * (m - 1))
    else:
        sxx, syy = jnp.mean(kxx), jnp.mean(kyy)
    return sxx + syy - 2.0 * jnp.mean(kxy)


def mmd_from_gram(k_xx: Any, k_yy: Any, k_xy: Any, *, unbiased: bool = False) -> jnp.ndarray:
    r"""Squared maximum mean discrepancy from the three Gram matrices.

    Biased (V-statistic): :math:`\overline{K_{xx}} + \overline{K_{yy}} - 2\overline{K_{xy}}` with all
    entries averaged (≥ 0 for a PSD kernel). Unbiased (U-statistic): the diagonals of :math:`K_{xx}` and
    :math:`K_{yy}` are dropped and their sums divided by :math:`n(n-1)` and :math:`m(m-1)`; its
    expectation is exactly :math:`\mathrm{MMD}^2`, so it can be negative when the distributions agree.

    Parameters
    ----------
    k_xx : array, shape (n, n)
    k_yy : array, shape (m, m)
    k_xy : array, shape (n, m)
    unbiased : bool, keyword-only
        U-statistic (needs n, m ≥ 2) instead of the V-statistic.

    Returns
    -------
    array, scalar

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> float(mmd_from_gram(jnp.ones((2, 2)), jnp.ones((3, 3)), jnp.zeros((2, 3))))
    2.0
    """
    kxx = _check_gram(k_xx, "k_xx", (None, None))
    n = kxx.shape[0]
    kxx = _check_gram(kxx, "k_xx", (n, n))
    kyy = _check_gram(k_yy, "k_yy", (None, None))
    m = kyy.shape[0]
    kyy = _check_gram(kyy, "k_yy", (m, m))
    kxy = _check_gram(k_xy, "k_xy", (n, m))
    if unbiased and min(n, m) < 2:
        raise ValueError(f"the unbiased MMD needs at least 2 points per sample, got {n} and {m}")
    dtype = jnp.result_type(kxx.dtype, kyy.dtype, kxy.dtype)
    return _mmd_gram(kxx.astype(dtype), kyy.astype(dtype), kxy.astype(dtype), bool(unbiased))


def mmd(x: Any, y: Any, kernel: Callable[..., Any] = rbf, *, unbiased: bool = False, **hyper: Any) -> jnp.ndarray:
    r"""Squared MMD between the samples ``x`` and ``y`` under a kernel from :mod:`ntkbook.kernels`.

    Parameters
    ----------
    x : array, shape (n, d) or (n,)
    y : array, shape (m, d) or (m,)
    kernel : callable, default :func:`ntkbook.kernels.rbf`
        ``kernel(x1, x2=None, **hyper) -> Gram``.
    unbiased : bool, keyword-only
        U-statistic instead of the V-statistic (see :func:`mmd_from_gram`).
    **hyper
        Keyword hyperparameters passed to ``kernel`` (e.g. ``lengthscale=0.5``).

    Returns
    -------
    array, scalar

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> float(mmd(jnp.zeros((3, 2)), jnp.zeros((4, 2))))
    0.0
    """
    a, b = _pair(x, y, "x", "y")
    return mmd_from_gram(kernel(a, **hyper), kernel(b, **hyper), kernel(a, b, **hyper), unbiased=unbiased)


class MMDTest(NamedTuple):
    """Result of :func:`mmd_permutation_test`: the statistic, its permutation p-value and the null draws."""

    statistic: jnp.ndarray
    p_value: jnp.ndarray
    null: jnp.ndarray


@functools.partial(jax.jit, static_argnames=("n", "num_permutations", "unbiased"))
def _permutation_mmd(key, K, n, num_permutations, unbiased):
    total = K.shape[0]
    m = total - n
    base = jnp.arange(total) < n
    order = jnp.argsort(jax.random.uniform(key, (num_permutations, total)), axis=1)
    perms = base[order]  # each row: a uniformly random relabelling with n entries "x"
    labels = jnp.concatenate([base[None], perms], axis=0).astype(K.dtype)  # (P+1, N): 1 for "x"
    other = 1.0 - labels
    diag = jnp.diagonal(K)
    kx = labels @ K
    sxx = jnp.sum(kx * labels, axis=1)
    sxy = jnp.sum(kx * other, axis=1)
    syy = jnp.sum((other @ K) * other, axis=1)
    if unbiased:
        vals = ((sxx - labels @ diag) / (n * (n - 1)) + (syy - other @ diag) / (m * (m - 1))
                - 2.0 * sxy / (n * m))
    else:
        vals = sxx / n ** 2 + syy / m ** 2 - 2.0 * sxy / (n * m)
    stat, null = vals[0], vals[1:]
    p = (1.0 + jnp.sum(null >= stat)) / (1.0 + num_permutations)
    return stat, p.astype(K.dtype), null


def mmd_permutation_test(key: jax.Array, x: Any, y: Any, kernel: Callable[..., Any] = rbf, *,
                         num_permutations: int = 500, unbiased: bool = False, **hyper: Any) -> MMDTest:
    r"""Two-sample test of :math:`P = Q` by the squared MMD and random relabellings of the pooled sample.

    The pooled Gram matrix is formed once; every permutation reuses it. The p-value is
    :math:`(1 + \#\{\text{null} \ge \text{statistic}\})/(1 + P)`, valid at every sample size.

    Parameters
    ----------
    key : jax.random key
    x : array, shape (n, d) or (n,)
    y : array, shape (m, d) or (m,)
    kernel : callable, default :func:`ntkbook.kernels.rbf`
    num_permutations : int, keyword-only
    unbiased : bool, keyword-only
        Use the U-statistic (needs n, m ≥ 2).
    **hyper
        Keyword hyperparameters passed to ``kernel``.

    Returns
    -------
    MMDTest
        ``statistic`` (scalar), ``p_value`` (scalar) and ``null`` (num_permutations,).

    Examples
    --------
    >>> import jax
    >>> kx, ky, kt = jax.random.split(jax.random.key(0), 3)
    >>> x, y = jax.random.normal(kx, (50, 2)), 1.0 + jax.random.normal(ky, (50, 2))
    >>> float(mmd_permutation_test(kt, x, y, num_permutations=99).p_value)
    0.01
    """
    a, b = _pair(x, y, "x", "y")
    num_permutations = check_positive_int(num_permutations, "num_permutations")
    n, m = a.shape[0], b.shape[0]
    if unbiased and min(n, m) < 2:
        raise ValueError(f"the unbiased MMD needs at least 2 points per sample, got {n} and {m}")
    K = as_float_array(kernel(jnp.concatenate([a, b]), **hyper), "kernel Gram matrix", ndim=2)
    stat, p, null = _permutation_mmd(key, K, n, num_permutations, bool(unbiased))
    return MMDTest(stat, p, null)
