"""Spectral algorithms: kernel regressors defined by a filter profile ``h(λ)`` on the Gram spectrum.

With the training Gram matrix ``K = U diag(λ) Uᵀ`` and targets ``y``, a spectral algorithm with profile
``h`` predicts ``h(K) y`` on the training set and ``k(x, X) U diag(h(λ)/λ) Uᵀ y`` elsewhere. The profiles
implemented here, each with one scalar parameter per point of a path, are

=====================  ============================  =====================================================
``method``             parameter                     profile ``h(λ)``
=====================  ============================  =====================================================
``"ridge"``            ridge ``η > 0``               ``λ/(λ + η)`` (kernel ridge regression, ``(K + ηI)⁻¹``)
``"gradient_flow"``    time ``t > 0``                ``1 − e^{−tλ}`` (flow ``ḟ = −K(f − y)`` from ``f = 0``)
``"gradient_descent"`` steps ``t`` (positive int)    ``1 − (1 − ελ)^t`` with ``step_size = ε``
``"cutoff"``           threshold ``η > 0``           ``1[λ ≥ η]`` (projection on the top eigenvectors)
``"iterated_tikhonov"`` ridge ``η > 0``              ``1 − (η/(λ + η))^r`` with ``order = r``
=====================  ============================  =====================================================

Iterated Tikhonov of order ``r`` is ``r`` ridge solves, each refitting the residual:
``α_j = (K + ηI)⁻¹ (y + η α_{j−1})``, ``α_0 = 0``; order 1 is ridge. Gradient descent is on the loss
``½ ‖f(X) − y‖²`` in function space (kernel gradient descent / the NTK regime). The profile acts on the
eigenvalues of the matrix you pass: to follow the convention of the theory papers (the empirical kernel
operator ``K/n``) pass ``K/n`` and ``K_test/n``.

One eigendecomposition of ``K`` serves every method and every parameter (:class:`SpectralAlgorithmPath`).
:func:`circle_model_loss` gives the exact expected test loss of any of these algorithms in the
translation-invariant circle model (Velikanov & Yarotsky's aliasing formula).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from jax.typing import ArrayLike

import jax
import jax.numpy as jnp
import numpy as np

from .._validate import as_float_array, check_positive, is_concrete
from .dynamics import _h
from .ridge import KernelRidgePath, _check_spectrum, _check_square_symmetric, _as_targets, _kernel_fit

__all__ = ["SPECTRAL_METHODS", "spectral_filter", "SpectralAlgorithmPath", "circle_model_loss"]

SPECTRAL_METHODS: tuple[str, ...] = ("ridge", "gradient_flow", "gradient_descent", "cutoff", "iterated_tikhonov")


def _check_method(method: str, order: int, step_size) -> tuple[str, int, float | None]:
    if method not in SPECTRAL_METHODS:
        raise ValueError(f"unknown spectral method {method!r}; choose one of {SPECTRAL_METHODS}")
    if isinstance(order, bool) or not isinstance(order, (int, np.integer)) or order < 1:
        raise ValueError(f"order must be a positive integer, got {order!r}")
    if method == "gradient_descent":
        if step_size is None:
            raise ValueError("gradient_descent needs a step_size > 0")
        check_positive(step_size, "step_size")
        step_size = float(step_size)
    return method, int(order), step_size


def _as_params(params, method: str, dtype) -> jnp.ndarray:
    name = {"gradient_flow": "times", "gradient_descent": "steps"}.get(method, "ridges/thresholds")
    if is_concrete(params):
        values = np.atleast_1d(np.asarray(params, dtype=np.float64))
        if values.ndim != 1:
            raise ValueError(f"{name} must be a scalar or a 1-D array, got shape {values.shape}")
        if not np.all(np.isfinite(values)) or np.any(values <= 0):
            raise ValueError(f"{name} of method {method!r} must be finite and > 0, got {values}")
        if method == "gradient_descent" and np.any(values != np.round(values)):
            raise ValueError(f"steps of gradient_descent must be whole numbers, got {values}")
    p = jnp.atleast_1d(jnp.asarray(params, dtype=dtype))
    if p.ndim != 1:
        raise ValueError(f"{name} must be a scalar or a 1-D array, got shape {tuple(p.shape)}")
    return p


def _log1p_ratio(x):
    """``log(1 + x)/x`` for ``x > −1``, equal to 1 at ``x = 0``."""
    small = jnp.abs(x) < 1e-4
    x_safe = jnp.where(small, 1.0, x)
    return jnp.where(small, 1.0 - x / 2 + x * x / 3, jnp.log1p(x_safe) / x_safe)


def _gain(lam, p, method: str, order: int, step_size):
    """``g = h(λ)/λ`` (finite limit at ``λ = 0``) for eigenvalues ``lam (M,) ≥ 0`` and parameters ``p (R,)``: ``(R, M)``."""
    lam, p = lam[None, :], p[:, None]
    if method == "ridge":
        return 1.0 / (lam + p)
    if method == "gradient_flow":
        return p * _h(p * lam)
    if method == "cutoff":
        keep = lam >= p
        return jnp.where(keep, 1.0 / jnp.where(keep, lam, 1.0), 0.0)
    if method == "iterated_tikhonov":
        x = lam / p
        return order / p * _h(order * jnp.log1p(x)) * _log1p_ratio(x)
    # gradient descent: 1 − (1 − ελ)^t; for 0 ≤ ελ < 1 write (1 − ελ)^t = e^{−z}, z = −t log(1 − ελ)
    eps = jnp.asarray(step_size, lam.dtype)
    x = eps * lam
    stable = x < 1
    x_s = jnp.where(stable, x, 0.0)
    z = -p * jnp.log1p(-x_s)
    smooth = p * eps * _h(z) * _log1p_ratio(-x_s)
    lam_safe = jnp.where(stable, 1.0, lam)
    rough = (1.0 - jnp.power(1.0 - jnp.where(stable, 0.0, x), p)) / lam_safe
    return jnp.where(stable, smooth, rough)


def spectral_filter(eigenvalues: ArrayLike, params: ArrayLike, method: str = "ridge", *, order: int = 1,
                    step_size: float | None = None) -> jnp.ndarray:
    """The profile ``h(λ)`` of a spectral algorithm for each parameter of a path.

    Args:
        eigenvalues: ``(M,)`` eigenvalues ``λ ≥ 0`` (of ``K``, or of ``K/n`` in the theory's convention).
        params: scalar or ``(R,)`` positive parameters: ridge/threshold ``η`` or time/steps ``t``
            (see the module table).
        method: one of :data:`SPECTRAL_METHODS`.
        order: ``r`` of ``"iterated_tikhonov"``.
        step_size: ``ε`` of ``"gradient_descent"`` (required there).

    Returns:
        ``(R, M)`` values of ``h`` (in ``[0, 1]`` for every method except gradient descent with ``ελ > 2``).

    >>> import jax.numpy as jnp
    >>> spectral_filter(jnp.array([1.0, 3.0]), 1.0)           # λ/(λ + 1)
    Array([[0.5 , 0.75]], dtype=float32)
    >>> spectral_filter(jnp.array([0.5, 2.0]), 1.0, "cutoff")
    Array([[0., 1.]], dtype=float32)
    """
    lam = as_float_array(eigenvalues, "eigenvalues", ndim=1)
    check_positive(lam, "eigenvalues", allow_zero=True)
    method, order, step_size = _check_method(method, order, step_size)
    p = _as_params(params, method, lam.dtype)
    return lam[None, :] * _gain(lam, p, method, order, step_size)


@dataclass(frozen=True)
class SpectralAlgorithmPath(KernelRidgePath):
    """Any spectral algorithm (ridge, gradient flow/descent, cut-off, iterated Tikhonov) for a whole path
    of its parameter, from one eigendecomposition ``K = U diag(λ) Uᵀ``.

    A :class:`KernelRidgePath` whose inverse filter ``1/(λ + δ)`` is replaced by ``g(λ) = h(λ)/λ``: the
    methods ``dual_coef(params)`` (``U diag(g) Uᵀ y``), ``predict(K_test, params)``,
    ``train_predictions(params)`` (``h(K) y``) and ``train_mse(params)`` take the path's parameters
    (``(R,)``, all ``> 0``) and return ``(R, …)`` arrays. Build it with :meth:`fit`.

    >>> import jax.numpy as jnp
    >>> from ntkbook.learn import SpectralAlgorithmPath
    >>> x = jnp.linspace(-1, 1, 20)[:, None]
    >>> K = jnp.exp(-(x - x.T) ** 2)
    >>> gf = SpectralAlgorithmPath.fit(K, jnp.sin(3 * x[:, 0]), method="gradient_flow")
    >>> gf.train_predictions([1.0, 100.0]).shape
    (2, 20)
    """

    method: str = "ridge"
    order: int = 1
    step_size: float | None = None

    @classmethod
    def fit(cls, K, y, *, method: str = "ridge", order: int = 1, step_size: float | None = None,
            check: bool = True) -> "SpectralAlgorithmPath":
        """Eigendecompose ``K (n, n)`` once for targets ``y (n,)`` or ``(n, O)``; ``method``, ``order`` and
        ``step_size`` as in :func:`spectral_filter`. ``check=True`` verifies that ``K`` is symmetric PSD."""
        method, order, step_size = _check_method(method, order, step_size)
        K = _check_square_symmetric(K, "K") if check else as_float_array(K, "K", ndim=2)
        y = _as_targets(y, K.shape[0], K.dtype)
        raw, s, U, proj = _kernel_fit(K, y)
        if check:
            _check_spectrum(raw, "K")
        return cls(s, U, proj, y, method, order, step_size)

    def _filter(self, params) -> jnp.ndarray:
        p = _as_params(params, self.method, self.eigenvalues.dtype)
        return _gain(self.eigenvalues, p, self.method, self.order, self.step_size)

    def profile(self, params) -> jnp.ndarray:
        """``h(λ_i)`` on the training spectrum for each parameter: ``(R, n)``."""
        return self.eigenvalues[None, :] * self._filter(params)


def circle_model_loss(eigenvalues: ArrayLike, target_power: ArrayLike, n: int, params: ArrayLike,
                      method: str = "ridge", *, frequencies: ArrayLike | None = None, noise: float = 0.0,
                      order: int = 1, step_size: float | None = None,
                      per_frequency: bool = False) -> jnp.ndarray:
    """Exact expected test loss of a spectral algorithm in the translation-invariant circle model.

    The kernel is ``k(x, x') = Σ_l λ_l e^{il(x − x')}`` on the circle, the target ``f*(x) = Σ_l c_l e^{ilx}``,
    and the ``n`` inputs form a randomly shifted grid ``x_j = u + 2πj/n`` (``u`` uniform), with labels
    ``y_j = f*(x_j) + noise``. The algorithm applies ``h`` to the operator ``K/n`` (eigenvalues
    ``Λ_q = Σ_{l ≡ q mod n} λ_l``): train predictions ``h(K/n) y``, test predictions
    ``(1/n) k(x, X) g(K/n) y`` with ``g = h/λ`` — i.e. :class:`SpectralAlgorithmPath` fitted on ``K/n``.
    With ``C_q = Σ_{l ≡ q} c_l²`` and ``a_l = λ_l g(Λ_q)`` the loss ``E_u,ε ‖f̂ − f*‖²`` (mean over the circle,
    excluding the noise floor) is

        L = Σ_l [(1 − a_l)² c_l² + a_l² (C_q − c_l²) + a_l² σ²/n].

    Args:
        eigenvalues: ``(M,)`` kernel coefficients ``λ_l ≥ 0`` at the frequencies ``l``.
        target_power: ``(M,)`` target powers ``c_l² ≥ 0`` (``E|c_l|²`` for random coefficients).
        n: number of grid points (a positive int).
        params: scalar or ``(R,)`` parameters of ``method`` (see :func:`spectral_filter`).
        method, order, step_size: as in :func:`spectral_filter`.
        frequencies: ``(M,)`` distinct integer frequencies; default ``l = −⌊(M−1)/2⌋, …`` (symmetric when
            ``M`` is odd).
        noise: label-noise variance ``σ² ≥ 0``.
        per_frequency: return the ``(R, M)`` contributions of each frequency instead of their sum.

    Returns:
        ``(R,)`` expected test losses (or ``(R, M)`` contributions).

    >>> import jax.numpy as jnp
    >>> l = jnp.arange(-40, 41)
    >>> lam, c2 = (1.0 + jnp.abs(l)) ** -1.5, (1.0 + jnp.abs(l)) ** -3.0
    >>> loss = circle_model_loss(lam, c2, 16, [1e-3, 1e-1], frequencies=l, noise=0.1)
    >>> loss.shape
    (2,)
    """
    lam = as_float_array(eigenvalues, "eigenvalues", ndim=1)
    c2 = as_float_array(target_power, "target_power", ndim=1).astype(lam.dtype)
    if c2.shape != lam.shape:
        raise ValueError(f"target_power {tuple(c2.shape)} and eigenvalues {tuple(lam.shape)} must match")
    check_positive(lam, "eigenvalues", allow_zero=True)
    check_positive(c2, "target_power", allow_zero=True)
    check_positive(noise, "noise", allow_zero=True)
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    M = lam.shape[0]
    if frequencies is None:
        freq = np.arange(M) - (M - 1) // 2
    else:
        freq = np.asarray(frequencies)
        if freq.shape != (M,) or not np.issubdtype(freq.dtype, np.integer):
            raise ValueError(f"frequencies must be ({M},) integers, got shape {freq.shape} and dtype {freq.dtype}")
        span = int(freq.max() - freq.min()) + 1 if M else 0
        counts = np.bincount(freq - freq.min()) if span <= 8 * M + 1024 else np.unique(freq, return_counts=True)[1]
        if np.any(counts > 1):
            raise ValueError("frequencies must be distinct")
    method, order, step_size = _check_method(method, order, step_size)
    p = _as_params(params, method, lam.dtype)
    q = np.mod(freq, n)
    columns = (lam, c2, lam * c2, lam**2)
    if is_concrete(lam) and is_concrete(c2):  # NumPy's bincount is much faster than an XLA scatter-add on CPU
        sums = jnp.asarray(np.stack([np.bincount(q, weights=np.asarray(v, np.float64), minlength=n) for v in columns],
                                    axis=1), lam.dtype)
    else:
        sums = _class_sums(jnp.stack(columns, axis=1), jnp.asarray(q), int(n))
    return _circle_loss(lam, c2, jnp.asarray(q), sums, p, jnp.asarray(noise, lam.dtype), int(n), method, order,
                        step_size, bool(per_frequency))


@functools.partial(jax.jit, static_argnums=(6, 7, 8, 9, 10))
def _circle_loss(lam, c2, q, sums, p, noise, n: int, method: str, order: int, step_size, per_frequency: bool):
    big_lam, big_c, lam_c, lam2 = sums.T
    gain = _gain(big_lam, p, method, order, step_size)  # (R, n): g(Λ_q)
    if per_frequency:
        a = lam[None, :] * gain[:, q]
        return (1 - a) ** 2 * c2 + a**2 * (big_c[q] - c2) + a**2 * (noise / n)
    # Σ_{l ≡ q} of the terms: C_q − 2 g Σ λ_l c_l² + g² (C_q + σ²/n) Σ λ_l²
    return jnp.sum(big_c - 2 * gain * lam_c + gain**2 * (big_c + noise / n) * lam2, axis=1)


def _class_sums(values, q, n: int):
    """Sum the rows of ``values (M, k)`` over the aliasing classes ``q = l mod n``: ``(n, k)``."""
    return jax.ops.segment_sum(values, q, num_segments=n)
