"""Kernel ridge regression beyond what one Cholesky holds: one interface, four solvers.

:func:`fit_kernel_ridge` fits ``f(x) = Σ_j α_j k(x, c_j)`` for the book's ridge convention
(minimise ``‖y − f(X)‖² + δ ‖f‖²_H``) and returns a :class:`KernelRidgeFit` that predicts block by
block. Gram blocks are computed by :func:`ntkbook.kernels.batched` (tiled, sharded over all JAX
devices, streamed to host memory), so no solver builds more than it states below.

=========== ======================================================= ===================================
solver      what it solves                                          memory, time
=========== ======================================================= ===================================
cholesky    exact: ``(K + δI) α = y``, centres = all ``n`` points     ``n²`` float64, ``n³/3`` flops
cg          exact, conjugate gradients on ``K + δI`` (``K`` stored)   ``n²``, ``n²`` flops per step
pcg         exact, CG preconditioned by a rank-``m`` Nyström           ``n² + n·m``, few steps
            approximation ``K ≈ K_nm K_mm⁻¹ K_mn`` (Woodbury)
eigenpro    exact, CG preconditioned as in EigenPro: the top ``k`` of  ``n² + n·m``, few steps
            the Nyström eigenpairs are damped to the level ``λ_{k+1}``
falkon      Nyström KRR with ``m`` centres:                         ``n·m`` (``K_nm``) + ``m²``;
            ``(K_nmᵀK_nm + δ K_mm) α = K_nmᵀ y``, CG preconditioned    ``n·m`` flops per step
            as in Falkon (Rudi, Carratino, Rosasco 2017)
=========== ======================================================= ===================================

``solver="auto"`` takes ``cholesky`` up to ``n = 8192``, ``pcg`` up to ``n = 20000`` and ``falkon``
beyond (with ``m = min(n, 10000)`` centres unless given). The conjugate-gradient loops run on the host
in float64 around matrix products in the dtype of ``x`` (float32 halves the memory of the stored
Gram blocks; float64 inputs give float64 throughout); each fit records its relative residual per
iteration.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np
import scipy.linalg

from .._validate import as_float_array, check_positive, check_positive_int

__all__ = ["KernelRidgeFit", "fit_kernel_ridge", "SOLVERS"]

#: the solvers of :func:`fit_kernel_ridge`
SOLVERS = ("cholesky", "cg", "pcg", "eigenpro", "falkon")

_AUTO_CHOLESKY = 8192
_AUTO_PCG = 20000
_AUTO_CENTERS = 10000
_STALL = 25  # CG steps without a new best residual before giving up (residuals are not monotone)


@dataclass(frozen=True)
class KernelRidgeFit:
    """A fitted kernel ridge model ``f(x) = k(x, centers) @ coef``.

    Attributes: ``kernel`` (the kernel function), ``centers (m, d)``, ``coef (m,)`` or ``(m, O)``,
    ``solver``, ``ridge``, ``iterations`` (CG steps; 0 for Cholesky), ``residuals`` (relative residual
    ``‖r_t‖/‖b‖`` after each CG step) and ``block`` (tile size for kernel blocks).
    """

    kernel: Callable[..., Any]
    centers: jax.Array
    coef: jax.Array
    solver: str
    ridge: float
    iterations: int = 0
    residuals: np.ndarray = field(default_factory=lambda: np.zeros(0))
    block: int = 1024

    def predict(self, x: Any) -> jax.Array:
        """Predictions ``(N,)`` or ``(N, O)`` at ``x (N, d)``, computed ``block`` rows at a time.

        With several JAX devices the kernel tiles are spread over all of them (as in the fit).

        >>> import jax.numpy as jnp
        >>> from ntkbook import kernels
        >>> x = jnp.linspace(-1, 1, 20)[:, None]
        >>> fit = fit_kernel_ridge(kernels.rbf, x, jnp.sin(3 * x[:, 0]), 1e-3)
        >>> fit.predict(x[:3]).shape
        (3,)
        """
        x = as_float_array(x, "x", ndim=2)
        if x.shape[1] != self.centers.shape[1]:
            raise ValueError(f"x has {x.shape[1]} features, the model was fitted on {self.centers.shape[1]}")
        coef = self.coef.astype(self.centers.dtype)
        rows = max(1, min(x.shape[0], 2**24 // max(1, self.centers.shape[0])))
        if jax.device_count() > 1:  # kernel tiles on every device, as in the fit; the product on the host
            c = np.asarray(coef)
            out = [_gram(self.kernel, x[i:i + rows], self.centers, self.block) @ c
                   for i in range(0, x.shape[0], rows)]
            return jnp.asarray(np.concatenate(out), x.dtype)
        apply = _row_apply(self.kernel)
        n, pad = x.shape[0], -x.shape[0] % rows
        xp = jnp.concatenate([x, jnp.broadcast_to(x[:1], (pad, x.shape[1]))]) if pad else x
        out = [apply(xp[i:i + rows], self.centers, coef) for i in range(0, n + pad, rows)]
        return jnp.concatenate(out)[:n]


@functools.lru_cache(maxsize=32)
def _row_apply(kernel: Callable[..., Any]) -> Callable[..., Any]:
    """One jitted ``k(x_block, centres) @ coef`` per kernel, so repeated ``predict`` calls reuse it."""
    return jax.jit(lambda xb, c, coef: kernel(xb, c) @ coef)


def _gram(kernel: Callable[..., Any], x1: jax.Array, x2: jax.Array | None, block: int) -> np.ndarray:
    """``k(x1, x2)`` as a NumPy array in the dtype of ``x1``, computed tile by tile on all devices."""
    from ..kernels import batched

    return np.asarray(batched(kernel, block, to_host=True)(x1, x2), dtype=np.dtype(x1.dtype))


def _cg(matvec: Callable[[np.ndarray], np.ndarray], b: np.ndarray, precond: Callable | None,
        tol: float, maxiter: int, stall: bool) -> tuple[np.ndarray, int, np.ndarray]:
    """(Preconditioned) conjugate gradients for every column of ``b`` at once, in float64.

    Stops when every column's relative residual is below ``tol``, or, with ``stall`` (float32
    products), when it has not improved for ``_STALL`` steps: the round-off floor of the products,
    where the best iterate is returned. Returns
    ``x``, steps, and the worst column's relative residual after each step.
    """
    b = b.astype(np.float64)
    bnorm = np.maximum(np.linalg.norm(b, axis=0), np.finfo(np.float64).tiny)
    x = np.zeros_like(b)
    r = b.copy()
    z = precond(r) if precond is not None else r
    p = z.copy()
    rz = np.sum(r * z, axis=0)
    history = []
    steps = 0
    best, best_rel, stalled = x.copy(), np.inf, 0
    for steps in range(1, maxiter + 1):
        ap = matvec(p)
        pap = np.sum(p * ap, axis=0)
        alpha = np.where(pap > 0, rz / np.where(pap > 0, pap, 1.0), 0.0)
        x += alpha * p
        r -= alpha * ap
        rel = np.linalg.norm(r, axis=0) / bnorm
        history.append(float(rel.max()))
        if rel.max() < tol:
            return x, steps, np.asarray(history)
        if rel.max() < best_rel:
            best, best_rel, stalled = x.copy(), float(rel.max()), 0
        elif stall:
            stalled += 1
            if stalled >= _STALL:  # round-off floor of the products: keep the best iterate
                break
        z = precond(r) if precond is not None else r
        rz_new = np.sum(r * z, axis=0)
        beta = np.where(rz > 0, rz_new / np.where(rz > 0, rz, 1.0), 0.0)
        p = z + beta * p
        rz = rz_new
    return best, steps, np.asarray(history)




_CHOL_BLOCK = 4096


def _cholesky_lower(a: np.ndarray, *, overwrite: bool = False, block: int = _CHOL_BLOCK) -> np.ndarray:
    """Lower Cholesky factor of the symmetric positive-definite ``a`` (float64), computed by blocks.

    LAPACK's ``potrf`` runs only on diagonal blocks of at most ``block`` rows; the panels are
    triangular solves and the trailing updates matrix products, one block column at a time (no
    temporary larger than ``n × block``). Multi-threaded OpenBLAS ``potrf`` on one whole matrix of
    order ≳ 16 000 crashed the process on the 2-core development machine; by blocks it does not.
    Raises :class:`numpy.linalg.LinAlgError` when ``a`` is not positive definite.
    """
    a = np.ascontiguousarray(a, dtype=np.float64) if overwrite else np.array(a, dtype=np.float64, order="C")
    n = len(a)
    for k in range(0, n, block):
        e = min(k + block, n)
        a[k:e, k:e] = scipy.linalg.cholesky(a[k:e, k:e], lower=True, check_finite=False)
        if e < n:
            a[k:e, e:] = 0.0                                          # the factor is lower triangular
            a[e:, k:e] = scipy.linalg.solve_triangular(a[k:e, k:e], a[e:, k:e].T, lower=True,
                                                       check_finite=False).T
            for j in range(e, n, block):                              # trailing update, lower part only
                f = min(j + block, n)
                a[j:, j:f] -= a[j:, k:e] @ a[j:f, k:e].T
    return a


def _chol_solve(L: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``(L Lᵀ)⁻¹ b`` by two triangular solves (much faster than ``cho_solve`` with OpenBLAS here)."""
    z = scipy.linalg.solve_triangular(L, b, lower=True, check_finite=False)
    return scipy.linalg.solve_triangular(L, z, lower=True, trans="T", check_finite=False)


def _chol_upper(a: np.ndarray, name: str, min_jitter: float = 0.0) -> np.ndarray:
    """Upper Cholesky factor (float64) with a relative jitter (at least ``min_jitter``) that grows
    until it succeeds."""
    scale = float(np.mean(np.diag(a))) or 1.0
    for jitter in sorted({min_jitter, *(j for j in (1e-10, 1e-8, 1e-6, 1e-4) if j > min_jitter)}):
        try:
            return _cholesky_lower(a + jitter * scale * np.eye(len(a)), overwrite=True).T
        except np.linalg.LinAlgError:
            continue
    w = np.linalg.eigvalsh(a)
    raise ValueError(f"{name} is not positive semi-definite: most negative eigenvalue {w.min():.3e}")


def _select_centers(key: jax.Array | None, n: int, m: int) -> np.ndarray:
    if m == n:
        return np.arange(n)
    if key is None:
        raise ValueError(f"choosing {m} of {n} points as centres needs a key (jax.random.key)")
    return np.sort(np.asarray(jax.random.choice(key, n, (m,), replace=False)))


def fit_kernel_ridge(kernel: Callable[..., Any], x: Any, y: Any, ridge: float, *, solver: str = "auto",
                     num_centers: int | None = None, key: jax.Array | None = None, tol: float = 1e-6,
                     maxiter: int | None = None, block: int = 1024, rank: int | None = None) -> KernelRidgeFit:
    """Kernel ridge regression ``f(x) = k(x, X)(K + δI)⁻¹ y`` (or its Nyström version) at any scale.

    Parameters
    ----------
    kernel : callable
        ``kernel(x1, x2) -> (N1, N2)``, traceable — e.g. ``functools.partial(kernels.rbf, lengthscale=2.0)``.
    x : array ``(n, d)``
    y : array ``(n,)`` or ``(n, O)``
    ridge : float
        ``δ > 0`` in ``K + δI``.
    solver : {"auto", "cholesky", "cg", "pcg", "eigenpro", "falkon"}
        See the module docstring; ``"auto"`` chooses by ``n``.
    num_centers : int, optional
        ``m``: Nyström centres (``"falkon"``, default ``min(n, 10000)``) or preconditioner rank
        (``"pcg"``, default ``min(n, 500)``) or Nyström subsample (``"eigenpro"``, default
        ``min(n, 500)``), drawn uniformly without replacement with ``key``.
    key : jax.random key, optional
        Needed when centres are drawn (``m < n``).
    tol : float
        Relative residual at which conjugate gradients stop.
    maxiter : int, optional
        CG step limit (default ``n`` for ``"cg"``, 200 for ``"pcg"`` and ``"falkon"``).
    block : int
        Tile size of the Gram blocks (memory per device ``~ block × max(n, m)``).
    rank : int, optional
        ``"eigenpro"`` only: how many top eigendirections the preconditioner flattens (``k < m``,
        default ``m // 5``).

    Returns
    -------
    KernelRidgeFit

    Raises
    ------
    ValueError
        Bad shapes, NaN/inf inputs, ``ridge ≤ 0``, unknown solver, ``num_centers`` out of range,
        a missing key, or a Gram matrix that is not positive semi-definite.

    Examples
    --------
    >>> import jax, jax.numpy as jnp
    >>> from ntkbook import kernels
    >>> x = jax.random.normal(jax.random.key(0), (300, 3)); y = jnp.sin(x[:, 0])
    >>> exact = fit_kernel_ridge(kernels.rbf, x, y, 1e-2, solver="cholesky")
    >>> nys = fit_kernel_ridge(kernels.rbf, x, y, 1e-2, solver="falkon", num_centers=300)
    >>> bool(jnp.allclose(exact.predict(x), nys.predict(x), atol=1e-3))
    True
    """
    if not callable(kernel):
        raise ValueError(f"kernel must be callable k(x1, x2) -> (N1, N2), got {kernel!r}")
    x = as_float_array(x, "x", ndim=2)
    y = as_float_array(y, "y", ndim=(1, 2))
    if y.shape[0] != x.shape[0]:
        raise ValueError(f"x has {x.shape[0]} rows but y has {y.shape[0]}")
    if isinstance(ridge, bool) or not isinstance(ridge, (int, float, np.floating)) or not math.isfinite(ridge):
        raise ValueError(f"ridge must be a finite positive float, got {ridge!r}")
    check_positive(ridge, "ridge")
    check_positive(tol, "tol")
    block = check_positive_int(block, "block")
    n = x.shape[0]
    if solver == "auto":
        solver = "cholesky" if n <= _AUTO_CHOLESKY else ("pcg" if n <= _AUTO_PCG else "falkon")
    if solver not in SOLVERS:
        raise ValueError(f"solver must be 'auto' or one of {SOLVERS}, got {solver!r}")
    if rank is not None and solver != "eigenpro":
        raise ValueError(f"rank is a parameter of solver='eigenpro' only, got solver={solver!r}")
    if solver == "eigenpro":
        m_ep = min(n, 500) if num_centers is None else check_positive_int(num_centers, "num_centers")
        k = max(1, m_ep // 5) if rank is None else check_positive_int(rank, "rank")
        if k >= m_ep:
            raise ValueError(f"rank must be smaller than the Nyström subsample size {m_ep}, got {k}")
    if maxiter is not None:
        maxiter = check_positive_int(maxiter, "maxiter")
    y_np = np.asarray(y, np.float64)
    y2 = y_np[:, None] if y_np.ndim == 1 else y_np
    shape_out = (lambda a: a[:, 0]) if y_np.ndim == 1 else (lambda a: a)
    delta = float(ridge)

    if solver == "falkon":
        m = min(n, _AUTO_CENTERS) if num_centers is None else check_positive_int(num_centers, "num_centers")
        if m > n:
            raise ValueError(f"num_centers must be at most n = {n}, got {m}")
        idx = _select_centers(key, n, m)
        centers = x[idx]
        knm = _gram(kernel, x, centers, block)                        # (n, m) float32, host
        kmm = knm[idx].astype(np.float64)
        kmm = (kmm + kmm.T) / 2
        # K_mm + jitter = Tᵀ T; the jitter (m · machine epsilon of the Gram dtype, relative) bounds
        # how much the preconditioner amplifies round-off in the products with K_nm
        T = _chol_upper(kmm, "K_mm", min_jitter=m * float(np.finfo(knm.dtype).eps))
        A = _chol_upper(T @ T.T / m + (delta / n) * np.eye(m), "the Falkon preconditioner")

        def B(v: np.ndarray) -> np.ndarray:                           # B = T⁻¹ A⁻¹ / √n
            return scipy.linalg.solve_triangular(T, scipy.linalg.solve_triangular(A, v)) / math.sqrt(n)

        def Bt(v: np.ndarray) -> np.ndarray:                          # Bᵀ = A⁻ᵀ T⁻ᵀ / √n
            return scipy.linalg.solve_triangular(A, scipy.linalg.solve_triangular(T, v, trans="T"),
                                                 trans="T") / math.sqrt(n)

        def H(v: np.ndarray) -> np.ndarray:                           # (K_nmᵀ K_nm + δ K_mm) v
            return knm.T @ (knm @ v.astype(knm.dtype)) + delta * (kmm @ v)

        rhs = Bt(knm.T @ y2.astype(knm.dtype))
        beta, steps, hist = _cg(lambda v: Bt(H(B(v))), rhs, None, tol, maxiter or 200,
                                 knm.dtype == np.float32)
        coef = B(beta)
        return KernelRidgeFit(kernel, centers, jnp.asarray(shape_out(coef), x.dtype), solver, delta,
                              steps, hist, block)

    K = _gram(kernel, x, None, block)                                  # (n, n) float32, host
    if solver == "cholesky":
        Kd = K.astype(np.float64)
        Kd[np.diag_indices(n)] += delta
        try:
            factor = _cholesky_lower(Kd, overwrite=True)
        except np.linalg.LinAlgError:
            w = np.linalg.eigvalsh(K.astype(np.float64))
            raise ValueError(f"K + δI is not positive definite: most negative eigenvalue of K "
                             f"{w.min():.3e}; is the kernel PSD?") from None
        coef = _chol_solve(factor, y2)
        return KernelRidgeFit(kernel, x, jnp.asarray(shape_out(coef), x.dtype), solver, delta, 0,
                              np.zeros(0), block)

    def matvec(v: np.ndarray) -> np.ndarray:
        return K @ v.astype(K.dtype) + delta * v

    precond: Callable[[np.ndarray], np.ndarray] | None = None
    if solver in ("pcg", "eigenpro"):
        m = min(n, 500) if num_centers is None else check_positive_int(num_centers, "num_centers")
        if m > n:
            raise ValueError(f"num_centers must be at most n = {n}, got {m}")
        idx = _select_centers(key, n, m)
        L = _chol_upper(K[np.ix_(idx, idx)].astype(np.float64), "K_mm").T      # K_mm = L Lᵀ
        U = scipy.linalg.solve_triangular(L, K[:, idx].astype(np.float64).T, lower=True).T  # K_nys = U Uᵀ
        if solver == "pcg":
            C = _cholesky_lower(delta * np.eye(m) + U.T @ U, overwrite=True)

            def woodbury(r: np.ndarray) -> np.ndarray:                # (U Uᵀ + δI)⁻¹ by Woodbury
                return (r - U @ _chol_solve(C, U.T @ r)) / delta
            precond = woodbury
        else:
            V, sv, _ = np.linalg.svd(U, full_matrices=False)          # Nyström eigenpairs: K_nys = V S² Vᵀ
            lam = sv ** 2
            V, lam, tail = V[:, :k], lam[:k], lam[k]

            def eigenpro(r: np.ndarray) -> np.ndarray:
                # on span(V): 1/(λ_i + δ); elsewhere 1/(λ_{k+1} + δ) — the top k directions are flattened
                # to the level of the first one left out, the rest of the spectrum is only rescaled
                return (r + V @ (((tail + delta) / (lam + delta) - 1.0)[:, None] * (V.T @ r))) / (tail + delta)
            precond = eigenpro

    coef, steps, hist = _cg(matvec, y2, precond, tol, maxiter or (n if solver == "cg" else 200),
                            K.dtype == np.float32)
    return KernelRidgeFit(kernel, x, jnp.asarray(shape_out(coef), x.dtype), solver, delta, steps,
                          hist, block)
