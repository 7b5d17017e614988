"""Gradient-descent dynamics of infinitely wide networks on the squared loss, in closed form.

In the infinite-width limit (or for the linearisation of a finite network) gradient flow on
``L = ½ ‖f(X) − y‖²`` with learning rate ``η`` moves the outputs along the kernel gradient,
``ḟ_t(x) = −η Θ(x, X) (f_t(X) − y)``, whose solution is, with ``Θ = Θ(X, X) = U diag(λ) Uᵀ``,

    f_t(X) = y + e^{−ηΘt} (f_0(X) − y),
    f_t(x) = f_0(x) + Θ(x, X) Θ⁻¹ (I − e^{−ηΘt}) (y − f_0(X)).

Over the random initialisation, ``f_0`` is a centred Gaussian process with the NNGP kernel ``K``,
so the outputs at time ``t`` are Gaussian too (Lee et al. 2019). With
``A_t(x) = Θ(x, X) Θ⁻¹ (I − e^{−ηΘt})`` their mean is ``A_t(x) y`` and their covariance

    Σ_t(x, x') = K(x, x') + A_t(x) K(X, X) A_t(x')ᵀ − A_t(x) K(X, x') − K(x, X) A_t(x')ᵀ.

Training only the readout of an infinitely wide network ("NNGP training") is the same with ``Θ``
replaced by ``K``; then ``Σ_t = K(x, x') − K(x, X) K⁻¹ (I − e^{−2ηKt}) K(X, x')`` and ``t = ∞`` is the
noise-free GP posterior. At ``t = ∞`` the mean is kernel regression.

Everything is evaluated from one eigendecomposition of the training kernel: ``(I − e^{−ηΘt})Θ⁻¹``
becomes ``U diag(φ_t(λ)) Uᵀ`` with ``φ_t(λ) = (1 − e^{−ηλt})/λ``, computed as ``ηt · h(ηλt)``,
``h(z) = −expm1(−z)/z`` (``h(0) = 1``), so it stays finite and smooth as ``λ → 0`` (where
``φ_t → ηt``) and as ``t → ∞`` (where ``φ_∞ = 1/λ``, a pseudo-inverse on the null space).

Conventions. ``learning_rate`` is the ``η`` of the flow above (loss ``½ Σ_i (f(x_i) − y_i)²``) and
``t`` is continuous time; ``t`` steps of gradient descent with step ``η`` follow the flow closely
when ``η λ_max ≪ 1``. :func:`ntkbook.train.mse_loss` (``mean`` over ``n·O`` numbers, no ½) with
``optax.sgd(lr)`` corresponds to ``learning_rate = 2·lr/(n·O)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from .._validate import as_float_array, check_positive, is_concrete
from .ridge import _check_spectrum, _check_square_symmetric, _spectral_tol

__all__ = ["MSEDynamics", "gradient_descent_mse"]

_SERIES_BELOW = 1e-3  # below this z, h(z) = 1 − z/2 + z²/6 (exact to float64 round-off)


def _h(z: jnp.ndarray) -> jnp.ndarray:
    """``(1 − e^{−z}) / z`` for ``z ≥ 0``, with ``h(0) = 1`` and a finite derivative everywhere."""
    small = z < _SERIES_BELOW
    z_safe = jnp.where(small, 1.0, z)
    return jnp.where(small, 1.0 - z / 2 + z * z / 6, -jnp.expm1(-z_safe) / z_safe)


def _as_times(t: Any, dtype) -> jnp.ndarray:
    """``t`` as an array of ``dtype``; concrete values must be ``≥ 0`` (``inf`` allowed), not NaN."""
    if is_concrete(t):
        values = np.asarray(t, dtype=np.float64)
        if np.any(np.isnan(values)):
            raise ValueError("t contains NaN")
        if np.any(values < 0):
            raise ValueError(f"times must be >= 0 (t = inf is allowed), got min(t) = {values.min():.3g}")
    t = jnp.asarray(t)
    if not (jnp.issubdtype(t.dtype, jnp.floating) or jnp.issubdtype(t.dtype, jnp.integer)):
        raise ValueError(f"t must be real, got dtype {t.dtype}")
    return t.astype(dtype)


def _as_outputs(f: Any, name: str, shape: tuple[int, ...], dtype) -> jnp.ndarray:
    arr = as_float_array(f, name).astype(dtype)
    if arr.shape != shape:
        raise ValueError(f"{name} must have shape {shape}, got {tuple(arr.shape)}")
    return arr


def _filters_core(lam: jnp.ndarray, eta: jnp.ndarray, t: jnp.ndarray) -> tuple[jnp.ndarray, jnp.ndarray]:
    """``e^{−ηλt}`` and ``(1 − e^{−ηλt})/λ`` for flat ``t (T,)``: each ``(T, n)``."""
    tt = t[:, None]
    infinite = jnp.isinf(tt)
    t_fin = jnp.where(infinite, 0.0, tt)
    z = eta * lam * t_fin
    decay = jnp.exp(-z)
    phi = eta * t_fin * _h(z)
    positive = lam > 0
    lam_safe = jnp.where(positive, lam, 1.0)
    decay = jnp.where(infinite, jnp.where(positive, 0.0, 1.0), decay)
    phi = jnp.where(infinite, jnp.where(positive, 1.0 / lam_safe, 0.0), phi)
    return decay, phi


_filters_jit = jax.jit(_filters_core)


def _rotate(U: jnp.ndarray, weights: jnp.ndarray, coeffs: jnp.ndarray) -> jnp.ndarray:
    """``U diag(w_t) c`` for every row ``w_t`` of ``weights (T, n)``: ``(T, n[, O])``."""
    scaled = weights.reshape(weights.shape + (1,) * (coeffs.ndim - 1)) * coeffs[None]
    return jnp.einsum("ij,tj...->ti...", U, scaled)


@jax.jit
def _train_core(U, lam, eta, y, f0, t):
    decay, _ = _filters_core(lam, eta, t)
    return y[None] + _rotate(U, decay, jnp.tensordot(U.T, f0 - y, axes=1))


@jax.jit
def _test_core(U, lam, eta, y, f0, k, base, t):
    _, phi = _filters_core(lam, eta, t)
    coef = _rotate(U, phi, jnp.tensordot(U.T, y - f0, axes=1))  # (T, n[, O])
    return base[None] + jnp.einsum("mn,tn...->tm...", k, coef)


@jax.jit
def _train_cov_core(U, lam, eta, K, t):
    decay, _ = _filters_core(lam, eta, t)
    E = jnp.einsum("ij,tj,kj->tik", U, decay, U)
    return E @ K[None] @ E


@jax.jit
def _train_cov_gp(U, lam, eta, t):
    decay, _ = _filters_core(lam, eta, t)
    return jnp.einsum("ij,tj,kj->tik", U, lam[None] * decay ** 2, U)


def _symmetrize(c: jnp.ndarray) -> jnp.ndarray:
    return (c + jnp.swapaxes(c, -1, -2)) / 2


@jax.jit
def _test_cov_gp(U, lam, eta, k, Kss, t):
    decay, phi = _filters_core(lam, eta, t)
    B = k @ U  # (m, n): test-train kernel in the eigenbasis
    w = phi * (1.0 + decay)  # = φ(2 − λφ) = (1 − e^{−2ηλt})/λ, without dividing by λ
    return _symmetrize(Kss[None] - jnp.einsum("mj,tj,lj->tml", B, w, B))


@jax.jit
def _test_cov_ntk(U, lam, eta, k, Kss, K, Ksx, t):
    _, phi = _filters_core(lam, eta, t)
    A = (k @ U)[None] * phi[:, None, :]  # (T, m, n): A_t = (A) Uᵀ in the eigenbasis
    C = U.T @ K @ U
    D = U.T @ Ksx.T  # (n, m)
    cross = A @ D[None]
    cov = Kss[None] + A @ C[None] @ jnp.swapaxes(A, 1, 2) - cross - jnp.swapaxes(cross, 1, 2)
    return _symmetrize(cov)


@jax.tree_util.register_dataclass
@dataclass(frozen=True)
class MSEDynamics:
    """Closed-form gradient-flow predictions from one eigendecomposition of the training kernel.

    Build it with :func:`gradient_descent_mse`. It is a pytree, so it can be passed through
    :func:`jax.jit`, :func:`jax.vmap` and :func:`jax.grad`.

    Attributes:
        eigenvalues: ``(n,)`` eigenvalues of ``kernel + diag_reg·I``, ascending, with those below
            round-off (``≤ 10·n·eps·λ_max``) set to ``0``.
        eigenvectors: ``(n, n)`` orthonormal eigenvectors (columns).
        kernel: ``(n, n)`` the training kernel as given (without ``diag_reg``).
        y_train: ``(n,)`` or ``(n, O)`` targets.
        learning_rate: scalar ``η``.

    Every method takes times ``t`` of any shape (``t ≥ 0``, ``jnp.inf`` allowed) and returns arrays
    with ``t.shape`` prepended.
    """

    eigenvalues: jnp.ndarray
    eigenvectors: jnp.ndarray
    kernel: jnp.ndarray
    y_train: jnp.ndarray
    learning_rate: jnp.ndarray

    @property
    def num_train(self) -> int:
        """Number of training points ``n``."""
        return self.eigenvectors.shape[0]

    def _times(self, t: Any) -> jnp.ndarray:
        return _as_times(t, self.eigenvalues.dtype)

    def _eta(self) -> jnp.ndarray:
        return self.learning_rate.astype(self.eigenvalues.dtype)

    def filters(self, t: Any) -> tuple[jnp.ndarray, jnp.ndarray]:
        """Decay ``e^{−ηλt}`` and ``φ_t(λ) = (1 − e^{−ηλt})/λ`` per eigenvalue.

        Args:
            t: times, any shape.

        Returns:
            ``(decay, phi)``, each ``(*t.shape, n)``. At ``λ = 0``: ``decay = 1`` and ``phi = ηt``
            (``0`` at ``t = ∞``, the pseudo-inverse).

        >>> import jax.numpy as jnp
        >>> dyn = gradient_descent_mse(jnp.diag(jnp.array([0.0, 2.0])), jnp.zeros(2), learning_rate=0.5)
        >>> decay, phi = dyn.filters(jnp.array([0.0, 1.0, jnp.inf]))
        >>> [[round(float(v), 4) for v in row] for row in phi]
        [[0.0, 0.0], [0.5, 0.3161], [0.0, 0.5]]
        """
        t = self._times(t)
        decay, phi = _filters_jit(self.eigenvalues, self._eta(), t.reshape(-1))
        n = self.num_train
        return decay.reshape(t.shape + (n,)), phi.reshape(t.shape + (n,))

    def _check_f0_train(self, f0_train: Any) -> jnp.ndarray:
        if f0_train is None:
            return jnp.zeros_like(self.y_train)
        return _as_outputs(f0_train, "f0_train", tuple(self.y_train.shape), self.y_train.dtype)

    def _check_cross(self, k: Any, name: str) -> jnp.ndarray:
        k = as_float_array(k, name, ndim=2).astype(self.eigenvalues.dtype)
        if k.shape[1] != self.num_train:
            raise ValueError(f"{name} must have shape (m, {self.num_train}), got {tuple(k.shape)}")
        return k

    def _check_nngp_train(self, K: Any) -> jnp.ndarray:
        K = _check_square_symmetric(K, "nngp_train").astype(self.eigenvalues.dtype)
        n = self.num_train
        if K.shape != (n, n):
            raise ValueError(f"nngp_train must have shape ({n}, {n}), got {tuple(K.shape)}")
        return K

    # ------------------------------------------------------------------ means
    def train(self, t: Any, f0_train: Any = None) -> jnp.ndarray:
        """Outputs on the training inputs, ``y + e^{−ηΘt}(f_0(X) − y)``.

        Args:
            t: times, any shape.
            f0_train: outputs at ``t = 0``, shape of ``y_train`` (default ``0``: the ensemble mean).

        Returns:
            ``(*t.shape, n[, O])``.

        >>> import jax.numpy as jnp
        >>> dyn = gradient_descent_mse(jnp.eye(2), jnp.array([1.0, -1.0]))
        >>> [round(float(v), 4) for v in dyn.train(1.0)]   # (1 − e^{−1}) y
        [0.6321, -0.6321]
        """
        t = self._times(t)
        f0 = self._check_f0_train(f0_train)
        out = _train_core(self.eigenvectors, self.eigenvalues, self._eta(), self.y_train, f0, t.reshape(-1))
        return out.reshape(t.shape + self.y_train.shape)

    def test(self, t: Any, k_test_train: Any, f0_train: Any = None, f0_test: Any = None) -> jnp.ndarray:
        """Outputs on test inputs, ``f_0(x) + Θ(x, X) Θ⁻¹(I − e^{−ηΘt})(y − f_0(X))``.

        Args:
            t: times, any shape.
            k_test_train: ``(m, n)`` kernel between test and training inputs (the kernel the
                dynamics was built from: NTK, or NNGP for NNGP training).
            f0_train: outputs on the training inputs at ``t = 0`` (default ``0``).
            f0_test: ``(m[, O])`` outputs on the test inputs at ``t = 0`` (default ``0``).

        Returns:
            ``(*t.shape, m[, O])``; at ``t = ∞`` kernel regression (ridgeless, or with ``diag_reg``).

        >>> import jax.numpy as jnp
        >>> dyn = gradient_descent_mse(jnp.array([[2.0, 1.0], [1.0, 2.0]]), jnp.array([1.0, 0.0]))
        >>> [round(float(v), 4) for v in dyn.test(jnp.inf, jnp.array([[1.0, 1.0]]))]   # [1, 1] K⁻¹ y
        [0.3333]
        """
        t = self._times(t)
        k = self._check_cross(k_test_train, "k_test_train")
        f0 = self._check_f0_train(f0_train)
        out_shape = (k.shape[0],) + tuple(self.y_train.shape[1:])
        base = (jnp.zeros(out_shape, k.dtype) if f0_test is None
                else _as_outputs(f0_test, "f0_test", out_shape, k.dtype))
        out = _test_core(self.eigenvectors, self.eigenvalues, self._eta(), self.y_train, f0, k, base,
                         t.reshape(-1))
        return out.reshape(t.shape + out_shape)

    # ------------------------------------------------------------------ covariances
    def train_cov(self, t: Any, nngp_train: Any = None) -> jnp.ndarray:
        """Covariance over initialisations of the outputs on the training inputs.

        Args:
            t: times, any shape.
            nngp_train: ``(n, n)`` NNGP kernel of the training inputs, for NTK training
                (``Σ_t = e^{−ηΘt} K e^{−ηΘt}``). ``None``: the dynamics' own kernel is the NNGP
                (NNGP training, ``Σ_t = U diag(λ e^{−2ηλt}) Uᵀ``; with ``diag_reg = σ²`` this is
                the covariance of the noisy observations ``f(X) + ε``).

        Returns:
            ``(*t.shape, n, n)``.

        >>> import jax.numpy as jnp
        >>> dyn = gradient_descent_mse(jnp.eye(2), jnp.zeros(2))
        >>> round(float(dyn.train_cov(0.5)[0, 0]), 4)   # e^{-1}
        0.3679
        """
        t = self._times(t)
        n = self.num_train
        if nngp_train is None:
            cov = _train_cov_gp(self.eigenvectors, self.eigenvalues, self._eta(), t.reshape(-1))
        else:
            K = self._check_nngp_train(nngp_train)
            cov = _train_cov_core(self.eigenvectors, self.eigenvalues, self._eta(), K, t.reshape(-1))
        return cov.reshape(t.shape + (n, n))

    def test_cov(self, t: Any, k_test_train: Any, nngp_test: Any, *, nngp_train: Any = None,
                 nngp_test_train: Any = None) -> jnp.ndarray:
        """Covariance over initialisations of the outputs on test inputs (Lee et al. 2019).

        Args:
            t: times, any shape.
            k_test_train: ``(m, n)`` kernel of the dynamics between test and training inputs.
            nngp_test: ``(m, m)`` NNGP kernel of the test inputs (the prior covariance at ``t = 0``).
            nngp_train, nngp_test_train: ``(n, n)`` and ``(m, n)`` NNGP kernels, for NTK training
                (give both). Leave both ``None`` when the dynamics' own kernel *is* the NNGP (NNGP
                training); then ``Σ_t = K** − K*X U diag((1 − e^{−2ηλt})/λ) Uᵀ KX*`` and ``t = ∞``
                is the GP posterior covariance with observation noise ``σ² = diag_reg``.

        Returns:
            ``(*t.shape, m, m)``, symmetrised.

        >>> import jax.numpy as jnp
        >>> K = jnp.array([[1.0, 0.5], [0.5, 1.0]])
        >>> dyn = gradient_descent_mse(K, jnp.zeros(2))
        >>> cov = dyn.test_cov(jnp.array([0.0, jnp.inf]), K[:1], K[:1, :1])
        >>> [round(float(c[0, 0]), 4) for c in cov]   # prior variance, then 0 at a training point
        [1.0, 0.0]
        """
        t = self._times(t)
        k = self._check_cross(k_test_train, "k_test_train")
        m = k.shape[0]
        Kss = as_float_array(nngp_test, "nngp_test", ndim=2).astype(k.dtype)
        if Kss.shape != (m, m):
            raise ValueError(f"nngp_test must have shape ({m}, {m}), got {tuple(Kss.shape)}")
        if (nngp_train is None) != (nngp_test_train is None):
            raise ValueError("give both nngp_train and nngp_test_train (NTK training) or neither (NNGP training)")
        args = (self.eigenvectors, self.eigenvalues, self._eta(), k, Kss)
        if nngp_train is None:
            cov = _test_cov_gp(*args, t.reshape(-1))
        else:
            K = self._check_nngp_train(nngp_train)
            Ksx = self._check_cross(nngp_test_train, "nngp_test_train")
            if Ksx.shape[0] != m:
                raise ValueError(f"nngp_test_train must have shape ({m}, {self.num_train}), "
                                 f"got {tuple(Ksx.shape)}")
            cov = _test_cov_ntk(*args, K, Ksx, t.reshape(-1))
        return cov.reshape(t.shape + (m, m))


@jax.jit
def _eigh(K: jnp.ndarray, diag_reg: jnp.ndarray) -> tuple[jnp.ndarray, jnp.ndarray, jnp.ndarray]:
    Kr = (K + K.T) / 2 + diag_reg * jnp.eye(K.shape[0], dtype=K.dtype)
    s, U = jnp.linalg.eigh(Kr)
    clipped = jnp.where(s > _spectral_tol(s, K.shape[0]), s, 0.0)
    return s, clipped, U


def gradient_descent_mse(ntk_train: Any, y_train: Any, *, learning_rate: float = 1.0,
                         diag_reg: float = 0.0) -> MSEDynamics:
    """Gradient flow of an infinitely wide network on the squared loss, from its training kernel.

    Args:
        ntk_train: ``(n, n)`` symmetric PSD kernel of the training inputs — the NTK for ordinary
            training (or an empirical NTK for a linearised finite network), the NNGP kernel for
            training only the last layer.
        y_train: ``(n,)`` or ``(n, O)`` targets (each output column evolves with the same kernel).
        learning_rate: ``η > 0`` of ``ḟ = −η Θ (f − y)``, the flow of ``½ ‖f(X) − y‖²``. For the
            loss ``mean((f − y)²)`` over ``n·O`` numbers use ``2·lr/(n·O)``.
        diag_reg: ``≥ 0`` added to the diagonal of ``ntk_train`` (ridge: at ``t = ∞`` the test mean
            is kernel ridge regression with ridge ``diag_reg``).

    Returns:
        An :class:`MSEDynamics`: ``.train(t)``, ``.test(t, k_test_train)``, ``.train_cov(t)``,
        ``.test_cov(t, k_test_train, nngp_test, ...)``.

    Raises:
        ValueError: non-square, non-symmetric or non-PSD ``ntk_train`` (naming its most negative
            eigenvalue), mismatched ``y_train``, NaNs, non-positive ``learning_rate`` or negative
            ``diag_reg``.

    Works under :func:`jax.jit` (validation that needs values is then skipped).

    >>> import jax.numpy as jnp
    >>> ntk = jnp.array([[2.0, 1.0], [1.0, 2.0]])
    >>> dyn = gradient_descent_mse(ntk, jnp.array([1.0, -1.0]), learning_rate=0.5)
    >>> dyn.train(jnp.array([0.0, 1.0, jnp.inf])).shape
    (3, 2)
    >>> [round(float(v), 4) for v in dyn.train(jnp.inf)]
    [1.0, -1.0]
    """
    K = _check_square_symmetric(ntk_train, "ntk_train")
    if K.shape[0] == 0:
        raise ValueError("ntk_train is empty")
    n = K.shape[0]
    y = as_float_array(y_train, "y_train", ndim=(1, 2)).astype(K.dtype)
    if y.shape[0] != n:
        raise ValueError(f"y_train has {y.shape[0]} rows but ntk_train is {n}×{n}")
    check_positive(learning_rate, "learning_rate")
    check_positive(diag_reg, "diag_reg", allow_zero=True)
    s, clipped, U = _eigh(K, jnp.asarray(diag_reg, K.dtype))
    _check_spectrum(s, "ntk_train" if not (is_concrete(diag_reg) and float(diag_reg) > 0)
                    else "ntk_train + diag_reg·I")
    return MSEDynamics(eigenvalues=clipped, eigenvectors=U, kernel=K, y_train=y,
                       learning_rate=jnp.asarray(learning_rate, K.dtype))
