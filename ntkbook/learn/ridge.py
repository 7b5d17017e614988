"""Ridge regression in kernel and feature form, for a whole path of ridges at once.

Convention (used throughout the book): for a Gram matrix ``K = k(X, X)`` and targets ``y`` the ridge
predictor with ridge ``δ ≥ 0`` minimises ``‖y − f(X)‖² + δ ‖f‖²_H`` and is

    f(x) = k(x, X) (K + δ I)⁻¹ y.

This is scikit-learn's ``KernelRidge(alpha=δ)``. ``δ = 0`` gives the minimum-norm interpolant
(a pseudo-inverse over the non-zero spectrum). One eigendecomposition of ``K`` (or one SVD of the
feature matrix) serves every ridge of the path.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from jax.typing import ArrayLike

import jax
import jax.numpy as jnp
import numpy as np

from .._validate import as_float_array, check_finite, is_concrete

__all__ = ["KernelRidgePath", "FeatureRidgePath", "kernel_ridge", "check_psd"]


def _as_ridges(ridges, dtype) -> jnp.ndarray:
    if is_concrete(ridges):
        values = np.atleast_1d(np.asarray(ridges, dtype=np.float64))
        if values.ndim != 1:
            raise ValueError(f"ridges must be a scalar or a 1-D array, got shape {values.shape}")
        if not np.all(np.isfinite(values)) or np.any(values < 0):
            raise ValueError(f"ridges must be finite and >= 0, got {values}")
    r = jnp.atleast_1d(jnp.asarray(ridges, dtype=dtype))
    if r.ndim != 1:
        raise ValueError(f"ridges must be a scalar or a 1-D array, got shape {tuple(r.shape)}")
    return r


def _as_targets(y, n: int, dtype) -> jnp.ndarray:
    y = as_float_array(y, "y", ndim=(1, 2)).astype(dtype)
    if y.shape[0] != n:
        raise ValueError(f"y has {y.shape[0]} rows but the Gram/feature matrix has {n}")
    return y


def _spectral_tol(eigenvalues: jnp.ndarray, n: int) -> jnp.ndarray:
    eps = jnp.finfo(eigenvalues.dtype).eps
    return jnp.max(jnp.abs(eigenvalues)) * n * eps * 10


def _check_square_symmetric(K, name: str) -> jnp.ndarray:
    K = as_float_array(K, name, ndim=2)
    n = K.shape[0]
    if K.shape != (n, n):
        raise ValueError(f"{name} must be square, got shape {tuple(K.shape)}")
    if is_concrete(K):
        Kn = np.asarray(K, dtype=np.float64)
        scale = float(np.max(np.abs(Kn))) if Kn.size else 1.0
        asym = float(np.max(np.abs(Kn - Kn.T))) if Kn.size else 0.0
        if asym > 1e3 * float(jnp.finfo(K.dtype).eps) * (scale or 1.0) * max(n, 1):
            raise ValueError(f"{name} is not symmetric (max |K − Kᵀ| = {asym:.3g})")
    return K


def _check_spectrum(eigenvalues, name: str) -> None:
    """Raise if concrete ascending ``eigenvalues`` show a negative direction beyond round-off."""
    if not is_concrete(eigenvalues):
        return
    lam = np.asarray(eigenvalues, dtype=np.float64)
    tol = float(np.max(np.abs(lam))) * lam.size * float(jnp.finfo(eigenvalues.dtype).eps) * 10
    if lam[0] < -tol:
        raise ValueError(f"{name} is not positive semi-definite: most negative eigenvalue {lam[0]:.3g} "
                         f"(largest {lam[-1]:.3g})")


@jax.jit
def _sym_eigh(K):
    return jnp.linalg.eigh((K + K.T) / 2)


def check_psd(K: ArrayLike, name: str = "K") -> jnp.ndarray:
    """Check that ``K`` is a symmetric positive semi-definite matrix and return it as an array.

    Raises ``ValueError`` naming the most negative eigenvalue when ``K`` is not PSD (beyond
    round-off: ``λ_min < −10·n·eps·λ_max``), and when it is not square or not symmetric.

    >>> import jax.numpy as jnp
    >>> check_psd(jnp.eye(3)).shape
    (3, 3)
    """
    K = _check_square_symmetric(K, name)
    if is_concrete(K):
        _check_spectrum(jnp.linalg.eigvalsh((K + K.T) / 2), name)
    return K


@jax.jit
def _kernel_fit(K, y):
    s, U = _sym_eigh(K)
    clipped = jnp.where(s > _spectral_tol(s, K.shape[0]), s, 0.0)
    return s, clipped, U, jnp.tensordot(U.T, y, axes=1)


@jax.jit
def _inverse_filter(s, ridges):
    """1/(s + δ) (pseudo-inverse where s + δ = 0): shape (R, n)."""
    denom = s[None, :] + ridges[:, None]
    return jnp.where(denom > 0, 1.0 / jnp.where(denom > 0, denom, 1.0), 0.0)


@jax.jit
def _rotate(U, projections, weights):
    """U diag(w_r) Uᵀ y for each row w_r of ``weights (R, n)``: (R, n[, O])."""
    scaled = weights.reshape(weights.shape + (1,) * (projections.ndim - 1)) * projections[None]
    return jnp.einsum("ij,rj...->ri...", U, scaled)


@jax.jit
def _mse_per_row(y, predictions):
    resid = y[None] - predictions
    return jnp.mean(resid.reshape(resid.shape[0], -1) ** 2, axis=1)


@dataclass(frozen=True)
class KernelRidgePath:
    """Kernel ridge regression for many ridges from one eigendecomposition ``K = U diag(s) Uᵀ``.

    Build it with :meth:`fit`. Shapes: ``n`` training points, ``R`` ridges, ``m`` test points,
    targets ``(n,)`` or ``(n, O)`` (predictions follow the same trailing shape).

    >>> import jax.numpy as jnp
    >>> from ntkbook.learn import KernelRidgePath
    >>> x = jnp.linspace(-1, 1, 20)[:, None]
    >>> K = jnp.exp(-(x - x.T) ** 2)
    >>> path = KernelRidgePath.fit(K, jnp.sin(3 * x[:, 0]))
    >>> path.train_predictions([1e-3, 1.0]).shape
    (2, 20)
    """

    eigenvalues: jnp.ndarray  # (n,) clipped at 0
    eigenvectors: jnp.ndarray  # (n, n)
    projections: jnp.ndarray  # Uᵀ y: (n,) or (n, O)
    y: jnp.ndarray

    @classmethod
    def fit(cls, K, y, *, check: bool = True) -> "KernelRidgePath":
        """Eigendecompose the training Gram matrix ``K (n, n)`` once; ``y (n,)`` or ``(n, O)``.

        With ``check=True`` (default) ``K`` must be symmetric PSD up to round-off (checked on the same
        eigendecomposition, so it costs nothing extra); tiny negative eigenvalues are clipped to zero.
        """
        K = _check_square_symmetric(K, "K") if check else as_float_array(K, "K", ndim=2)
        y = _as_targets(y, K.shape[0], K.dtype)
        raw, s, U, proj = _kernel_fit(K, y)
        if check:
            _check_spectrum(raw, "K")
        return cls(s, U, proj, y)

    @property
    def n(self) -> int:
        return self.eigenvalues.shape[0]

    def _filter(self, ridges) -> jnp.ndarray:
        return _inverse_filter(self.eigenvalues, _as_ridges(ridges, self.eigenvalues.dtype))

    def dual_coef(self, ridges) -> jnp.ndarray:
        """``(K + δ I)⁻¹ y`` for every ridge: ``(R, n[, O])``."""
        return _rotate(self.eigenvectors, self.projections, self._filter(ridges))

    def predict(self, K_test, ridges) -> jnp.ndarray:
        """Predictions ``k(X_test, X) (K + δI)⁻¹ y`` from ``K_test (m, n)``: ``(R, m[, O])``."""
        K_test = as_float_array(K_test, "K_test", ndim=2)
        if K_test.shape[1] != self.n:
            raise ValueError(f"K_test must have {self.n} columns (training points), got {tuple(K_test.shape)}")
        return jnp.einsum("mi,ri...->rm...", K_test.astype(self.eigenvalues.dtype), self.dual_coef(ridges))

    def train_predictions(self, ridges) -> jnp.ndarray:
        """In-sample predictions ``K (K + δI)⁻¹ y``: ``(R, n[, O])``."""
        return _rotate(self.eigenvectors, self.projections, self.eigenvalues[None, :] * self._filter(ridges))

    def train_mse(self, ridges) -> jnp.ndarray:
        """Mean squared training error per ridge (averaged over points and outputs): ``(R,)``."""
        return _mse_per_row(self.y, self.train_predictions(ridges))


@dataclass(frozen=True)
class FeatureRidgePath:
    """Ridge regression on explicit features ``Φ (n, N)`` for many ridges from one thin SVD.

    Minimises ``‖y − Φ a‖² + δ ‖a‖²``; ``a(δ) = V diag(σ/(σ² + δ)) Uᵀ y``, which equals the kernel
    ridge predictor with the linear kernel ``K = Φ Φᵀ``. The decomposition costs ``O(n N min(n, N))``, so it is
    cheap on both sides of the interpolation threshold. Directions with ``σ² ≤ 10·max(n, N)·eps·σ²_max``
    are treated as exact zeros.

    >>> import jax, jax.numpy as jnp
    >>> phi = jax.random.normal(jax.random.key(0), (30, 10))
    >>> FeatureRidgePath.fit(phi, phi[:, 0]).coef([0.1, 1.0]).shape
    (2, 10)
    """

    singular_values: jnp.ndarray  # (r,)
    left: jnp.ndarray  # U (n, r)
    right: jnp.ndarray  # V (N, r)
    projections: jnp.ndarray  # Uᵀ y (r[, O])
    y: jnp.ndarray

    @classmethod
    def fit(cls, features, y) -> "FeatureRidgePath":
        """Thin SVD of ``features (n, N)`` via the eigendecomposition of the smaller Gram matrix
        (``Φ Φᵀ`` or ``Φᵀ Φ``, ``O(n N min(n, N))``); ``y (n,)`` or ``(n, O)``."""
        phi = as_float_array(features, "features", ndim=2)
        y = _as_targets(y, phi.shape[0], phi.dtype)
        return cls(*_feature_fit(phi, y), y)

    def _weights(self, ridges, power: int) -> jnp.ndarray:
        return _feature_weights(self.singular_values, _as_ridges(ridges, self.singular_values.dtype), power)

    def coef(self, ridges) -> jnp.ndarray:
        """Primal coefficients ``a(δ)``: ``(R, N[, O])``."""
        return _rotate(self.right, self.projections, self._weights(ridges, 1))

    def predict(self, features_test, ridges) -> jnp.ndarray:
        """Predictions ``Φ_test a(δ)`` for ``features_test (m, N)``: ``(R, m[, O])``."""
        phi = as_float_array(features_test, "features_test", ndim=2)
        if phi.shape[1] != self.right.shape[0]:
            raise ValueError(f"features_test must have {self.right.shape[0]} columns, got {tuple(phi.shape)}")
        return jnp.einsum("mN,rN...->rm...", phi.astype(self.right.dtype), self.coef(ridges))

    def train_predictions(self, ridges) -> jnp.ndarray:
        """In-sample predictions ``Φ a(δ)``: ``(R, n[, O])``."""
        return _rotate(self.left, self.projections, self._weights(ridges, 2))

    def train_mse(self, ridges) -> jnp.ndarray:
        """Mean squared training error per ridge: ``(R,)``."""
        return _mse_per_row(self.y, self.train_predictions(ridges))


@jax.jit
def _feature_fit(phi, y):
    n, N = phi.shape
    small = phi @ phi.T if n <= N else phi.T @ phi
    s2, Q = _sym_eigh(small)
    s2, Q = s2[::-1], Q[:, ::-1]  # descending
    keep = s2 > _spectral_tol(s2, max(n, N))
    s = jnp.where(keep, jnp.sqrt(jnp.where(keep, s2, 1.0)), 0.0)
    inv = jnp.where(keep, 1.0 / jnp.where(keep, s, 1.0), 0.0)
    if n <= N:  # Q = U; V = Φᵀ U / s
        U, V = Q, (phi.T @ Q) * inv[None, :]
    else:  # Q = V; U = Φ V / s
        U, V = (phi @ Q) * inv[None, :], Q
    return s, U, V, jnp.tensordot(U.T, y, axes=1)


@functools.partial(jax.jit, static_argnums=2)
def _feature_weights(s, ridges, power: int):
    denom = s[None, :] ** 2 + ridges[:, None]
    safe = jnp.where(denom > 0, denom, 1.0)
    return jnp.where(denom > 0, s[None, :] ** power / safe, 0.0)


def kernel_ridge(K_train: ArrayLike, y: ArrayLike, K_test: ArrayLike, ridge: float) -> jnp.ndarray:
    """Kernel ridge predictions for a single ridge ``δ > 0`` by a Cholesky solve.

    ``K_train (n, n)``, ``y (n,)|(n, O)``, ``K_test (m, n)`` → ``(m,)|(m, O)``.

    >>> import jax.numpy as jnp
    >>> kernel_ridge(jnp.eye(2), jnp.ones(2), jnp.eye(2), 1.0)
    Array([0.5, 0.5], dtype=float32)
    """
    K = check_psd(K_train, "K_train")
    y = _as_targets(y, K.shape[0], K.dtype)
    K_test = as_float_array(K_test, "K_test", ndim=2)
    if K_test.shape[1] != K.shape[0]:
        raise ValueError(f"K_test must have {K.shape[0]} columns, got {tuple(K_test.shape)}")
    r = _as_ridges(ridge, K.dtype)
    if r.shape != (1,) or (is_concrete(r) and float(r[0]) <= 0):
        raise ValueError(f"ridge must be a positive scalar, got {ridge!r}; use KernelRidgePath for δ = 0")
    L = jnp.linalg.cholesky(K + r[0] * jnp.eye(K.shape[0], dtype=K.dtype))
    alpha = jax.scipy.linalg.cho_solve((L, True), y)
    out = K_test.astype(K.dtype) @ alpha
    check_finite(out, "kernel_ridge output (the solve failed; try a larger ridge)")
    return out
