"""State-space convolution kernels: diagonal SSMs (S4D), HiPPO-LegS, and robust diagonalization (PTD).

A linear time-invariant SSM ``x' = A x + B u, y = C x`` sampled with step ``Δ`` is, on sequences, a
convolution ``y = K * u`` with kernel ``K[l] = C Ā^l B̄`` (``Ā, B̄`` the discretised matrices).

* :func:`s4d_kernel` computes ``K`` for a *diagonal* ``A`` in O(N·L) with a Vandermonde product.
* :func:`dense_ssm_kernel` computes it for any dense ``A`` by repeated multiplication — the reference.
* :func:`hippo_legs`, :func:`hippo_legs_normal`, :func:`normal_diagonalize` and
  :func:`ptd_diagonalize` build the HiPPO-LegS system and its two diagonal approximations
  (S4D-LegS: eigenvalues of the normal part; PTD: eigenvalues of a slightly perturbed ``A``).
"""

from __future__ import annotations

from functools import partial
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from .._validate import check_positive, check_positive_int, is_concrete
from ._common import numpy_rng

__all__ = [
    "s4d_init", "s4d_kernel", "dense_ssm_kernel", "discretize", "ssm_transfer_function",
    "hippo_legs", "hippo_legs_normal", "DiagonalSSM", "normal_diagonalize", "ptd_diagonalize",
]

_DISCRETIZATIONS = ("zoh", "bilinear")


def _complex_dtype() -> Any:
    return jnp.complex128 if jax.config.jax_enable_x64 else jnp.complex64


def _check_disc(discretization: str) -> str:
    if discretization not in _DISCRETIZATIONS:
        raise ValueError(f"discretization must be one of {_DISCRETIZATIONS}, got {discretization!r}")
    return discretization


def s4d_init(key: jax.Array, channels: int, state_size: int, *, init: str = "lin",
             dt_min: float = 1e-3, dt_max: float = 1e-1) -> dict[str, jnp.ndarray]:
    """Initial parameters of a diagonal SSM (S4D) with conjugate-pair modes.

    Parameters
    ----------
    key : jax.random key
    channels : int
        ``H``, one independent SSM per channel.
    state_size : int
        ``N`` complex modes per channel (the real state has ``2N`` dimensions, the conjugates being
        implicit; :func:`s4d_kernel` with ``conj_pairs=True`` accounts for them).
    init : {"lin", "inv", "legs"}
        Eigenvalues ``A_n``: ``"lin"`` (S4D-Lin) ``−½ + iπn``; ``"inv"`` (S4D-Inv)
        ``−½ + i (2N/π)(2N/(2n+1) − 1)``; ``"legs"`` (S4D-LegS) the eigenvalues of the normal part of
        HiPPO-LegS of size ``2N`` with positive imaginary part, with ``B`` projected on its
        eigenvectors. ``B = 1`` for "lin"/"inv".
    dt_min, dt_max : float
        Step sizes ``Δ_h`` are log-uniform in ``[dt_min, dt_max]``.

    Returns
    -------
    dict with ``dt (H,)`` real, and complex ``A (H, N)``, ``B (H, N)``, ``C (H, N)`` with
    ``C ~ CN(0, 1)`` (real and imaginary parts N(0, ½)).

    Examples
    --------
    >>> import jax
    >>> p = s4d_init(jax.random.key(0), 4, 8)
    >>> p["A"].shape, p["dt"].shape
    ((4, 8), (4,))
    """
    channels = check_positive_int(channels, "channels")
    n = check_positive_int(state_size, "state_size")
    check_positive(dt_min, "dt_min")
    check_positive(dt_max, "dt_max")
    if dt_min > dt_max:
        raise ValueError(f"dt_min={dt_min} must not exceed dt_max={dt_max}")
    cdt = _complex_dtype()
    idx = np.arange(n)
    if init == "lin":
        lam = -0.5 + 1j * np.pi * idx
        b = np.ones(n, complex)
    elif init == "inv":
        full = 2 * n
        lam = -0.5 + 1j * (full / np.pi) * (full / (2 * idx + 1) - 1)
        b = np.ones(n, complex)
    elif init == "legs":
        a_norm, _ = hippo_legs_normal(2 * n)
        _, b_full = hippo_legs(2 * n)
        lam_all, v = _normal_eig(np.asarray(a_norm, np.float64))
        keep = np.argsort(-lam_all.imag)[:n]
        lam = lam_all[keep]
        b = (v.conj().T @ np.asarray(b_full, np.float64))[keep]
    else:
        raise ValueError(f"init must be 'lin', 'inv' or 'legs', got {init!r}")
    gen = numpy_rng(key)
    dt = np.exp(gen.uniform(np.log(dt_min), np.log(dt_max), channels))
    c = (gen.standard_normal((channels, n)) + 1j * gen.standard_normal((channels, n))) * np.sqrt(0.5)
    real = jnp.float64 if jax.config.jax_enable_x64 else jnp.float32
    return {"dt": jnp.asarray(dt, real),
            "A": jnp.asarray(np.broadcast_to(lam, (channels, n)), cdt),
            "B": jnp.asarray(np.broadcast_to(b, (channels, n)), cdt),
            "C": jnp.asarray(c, cdt)}


def _as_complex(x: Any, name: str) -> jnp.ndarray:
    arr = jnp.asarray(x)
    if not (jnp.issubdtype(arr.dtype, jnp.complexfloating) or jnp.issubdtype(arr.dtype, jnp.floating)
            or jnp.issubdtype(arr.dtype, jnp.integer)):
        raise ValueError(f"{name} must be numeric, got dtype {arr.dtype}")
    arr = arr.astype(jnp.result_type(arr.dtype, jnp.complex64))
    if is_concrete(arr) and not np.all(np.isfinite(np.asarray(arr))):
        raise ValueError(f"{name} contains NaN or inf")
    return arr


def s4d_kernel(dt: Any, A: Any, B: Any, C: Any, length: int, *, discretization: str = "zoh",
               conj_pairs: bool = True) -> jnp.ndarray:
    """Convolution kernel of a diagonal SSM, one per channel.

    ``K[h, l] = f · Re Σ_n C[h,n] · B̄[h,n] · Ā[h,n]^l`` for ``l = 0 … L−1``, with ``f = 2`` when the
    modes stand for conjugate pairs (``conj_pairs=True``, S4D convention) and ``f = 1`` otherwise
    (e.g. all eigenvalues of a real matrix, see :func:`ptd_diagonalize`).

    * ZOH: ``Ā = exp(ΔA)``, ``B̄ = (exp(ΔA) − 1) / A · B``.
    * bilinear: ``Ā = (1 + ΔA/2)/(1 − ΔA/2)``, ``B̄ = Δ B / (1 − ΔA/2)``.

    Parameters
    ----------
    dt : array (H,) or scalar, positive
    A : complex array (H, N) or (N,), ``Re A < 0`` for a stable (decaying) kernel
    B : complex array (H, N) or (N,)
    C : complex array (H, N)
    length : int
        ``L`` kernel taps.

    Returns
    -------
    real array, shape (H, L) (float32, or float64 under x64 with complex128 inputs).

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> K = s4d_kernel(jnp.array([1.0]), jnp.array([[-1.0 + 0j]]), jnp.array([[1.0 + 0j]]),
    ...                jnp.array([[1.0 + 0j]]), 3, conj_pairs=False)
    >>> [round(v, 4) for v in K[0].tolist()]
    [0.6321, 0.2325, 0.0855]
    """
    length = check_positive_int(length, "length")
    disc = _check_disc(discretization)
    C = _as_complex(C, "C")
    if C.ndim != 2:
        raise ValueError(f"C must have shape (H, N), got {tuple(C.shape)}")
    h, n = C.shape
    A = _as_complex(A, "A")
    B = _as_complex(B, "B")
    for name, arr in (("A", A), ("B", B)):
        if arr.shape not in ((n,), (h, n)):
            raise ValueError(f"{name} must have shape ({n},) or ({h}, {n}), got {tuple(arr.shape)}")
    dt = jnp.asarray(dt)
    if dt.ndim == 0:
        dt = jnp.broadcast_to(dt, (h,))
    if dt.shape != (h,):
        raise ValueError(f"dt must be a scalar or have shape ({h},), got {tuple(dt.shape)}")
    check_positive(dt, "dt")
    return _s4d_core(dt, A, B, C, length, disc, bool(conj_pairs))


@partial(jax.jit, static_argnums=(4, 5, 6))
def _s4d_core(dt, A, B, C, length, disc, conj_pairs):
    cdt = jnp.result_type(A.dtype, B.dtype, C.dtype)
    dta = dt.astype(cdt)[:, None] * A.astype(cdt)                           # (H, N)
    if disc == "zoh":
        log_abar = dta
        bbar = jnp.expm1(dta) / A * B
    else:
        denom = 1.0 - dta / 2
        log_abar = jnp.log((1.0 + dta / 2) / denom)
        bbar = dt.astype(cdt)[:, None] * B / denom
    coeff = C * bbar                                                          # (H, N)
    steps = jnp.arange(length, dtype=jnp.finfo(cdt).dtype)
    vander = jnp.exp(log_abar[..., None] * steps)                             # (H, N, L)
    k = jnp.einsum("hn,hnl->hl", coeff, vander).real
    return 2.0 * k if conj_pairs else k


def discretize(A: Any, B: Any, dt: float, *, discretization: str = "bilinear"
               ) -> tuple[jnp.ndarray, jnp.ndarray]:
    """Discretise a dense continuous-time SSM: returns ``(Ā (N, N), B̄ (N,))``.

    ZOH uses the exponential of the augmented matrix ``[[A, B], [0, 0]]·Δ`` (valid for singular A);
    bilinear ``Ā = (I − ΔA/2)⁻¹(I + ΔA/2)``, ``B̄ = (I − ΔA/2)⁻¹ Δ B``.

    >>> import jax.numpy as jnp
    >>> Ab, Bb = discretize(jnp.array([[-1.0]]), jnp.array([1.0]), 1.0, discretization="zoh")
    >>> round(float(Ab[0, 0]), 4), round(float(Bb[0]), 4)
    (0.3679, 0.6321)
    """
    disc = _check_disc(discretization)
    A = jnp.asarray(A)
    B = jnp.asarray(B)
    if A.ndim != 2 or A.shape[0] != A.shape[1]:
        raise ValueError(f"A must be square (N, N), got {tuple(A.shape)}")
    n = A.shape[0]
    if B.shape != (n,):
        raise ValueError(f"B must have shape ({n},), got {tuple(B.shape)}")
    check_positive(dt, "dt")
    dtype = jnp.result_type(A.dtype, B.dtype, float)
    A = A.astype(dtype)
    B = B.astype(dtype)
    if disc == "zoh":
        aug = jnp.zeros((n + 1, n + 1), dtype).at[:n, :n].set(A * dt).at[:n, n].set(B * dt)
        e = jax.scipy.linalg.expm(aug)
        return e[:n, :n], e[:n, n]
    eye = jnp.eye(n, dtype=dtype)
    left = eye - (dt / 2) * A
    return jnp.linalg.solve(left, eye + (dt / 2) * A), jnp.linalg.solve(left, dt * B)


def dense_ssm_kernel(A: Any, B: Any, C: Any, dt: float, length: int, *,
                     discretization: str = "bilinear") -> jnp.ndarray:
    """Kernel ``K[l] = C Ā^l B̄`` of a dense SSM by repeated multiplication (the reference).

    Parameters
    ----------
    A : array (N, N); B : array (N,); C : array (N,) or (H, N) (real or complex)
    dt : float, positive
    length : int

    Returns
    -------
    array (L,) or (H, L): the real part of ``C Ā^l B̄``.

    >>> import jax.numpy as jnp
    >>> K = dense_ssm_kernel(jnp.array([[-1.0]]), jnp.array([1.0]), jnp.array([1.0]), 1.0, 3,
    ...                      discretization="zoh")
    >>> [round(v, 4) for v in K.tolist()]
    [0.6321, 0.2325, 0.0855]
    """
    length = check_positive_int(length, "length")
    disc = _check_disc(discretization)
    check_positive(dt, "dt")
    A = jnp.asarray(A)
    B = jnp.asarray(B)
    C = jnp.asarray(C)
    if A.ndim != 2 or A.shape[0] != A.shape[1]:
        raise ValueError(f"A must be square (N, N), got {tuple(A.shape)}")
    n = A.shape[0]
    if B.shape != (n,):
        raise ValueError(f"B must have shape ({n},), got {tuple(B.shape)}")
    if C.shape[-1] != n or C.ndim not in (1, 2):
        raise ValueError(f"C must have shape ({n},) or (H, {n}), got {tuple(C.shape)}")
    return _dense_core(A, B, C, dt, length, disc)


@partial(jax.jit, static_argnums=(4, 5))
def _dense_core(A, B, C, dt, length, disc):
    abar, bbar = discretize(A, B, dt, discretization=disc)

    def step(x, _):
        return abar @ x, x

    _, states = lax.scan(step, bbar, None, length=length)        # (L, N): Ā^l B̄
    k = jnp.einsum("...n,ln->...l", C, states.astype(jnp.result_type(states.dtype, C.dtype)),
                   precision=lax.Precision.HIGHEST)
    return k.real if jnp.iscomplexobj(k) else k


def ssm_transfer_function(A: Any, B: Any, C: Any, s: Any) -> jnp.ndarray:
    """Transfer function ``G(s) = C (sI − A)⁻¹ B`` of a continuous-time SSM.

    Parameters
    ----------
    A : array (N, N) dense, or (N,) the diagonal of a diagonal SSM
    B : array (N,)
    C : array (N,) or (H, N)
    s : complex array (M,), e.g. ``1j * omega``

    Returns
    -------
    complex array (M,) or (H, M)

    >>> import jax.numpy as jnp
    >>> G = ssm_transfer_function(jnp.array([-1.0]), jnp.array([1.0]), jnp.array([1.0]), jnp.array([1j]))
    >>> complex(G[0]).real.__round__(3)
    0.5
    """
    A = jnp.asarray(A)
    B = jnp.asarray(B)
    C = jnp.asarray(C)
    s = jnp.atleast_1d(jnp.asarray(s))
    n = B.shape[-1] if B.ndim == 1 else -1
    if B.ndim != 1 or C.shape[-1] != n or C.ndim not in (1, 2) or A.shape not in ((n,), (n, n)):
        raise ValueError(f"need A (N,) or (N, N), B (N,), C (N,) or (H, N); got {tuple(A.shape)}, "
                         f"{tuple(B.shape)}, {tuple(C.shape)}")
    cdt = jnp.result_type(A.dtype, B.dtype, C.dtype, s.dtype, jnp.complex64)
    A, B, C, s = (t.astype(cdt) for t in (A, B, C, s))
    if A.ndim == 1:
        resolvent_b = B[None, :] / (s[:, None] - A[None, :])              # (M, N)
    else:
        eye = jnp.eye(n, dtype=cdt)
        mats = s[:, None, None] * eye - A[None]
        resolvent_b = jnp.linalg.solve(mats, jnp.broadcast_to(B, (s.shape[0], n))[..., None])[..., 0]
    return jnp.einsum("...n,mn->...m", C, resolvent_b, precision=lax.Precision.HIGHEST)


# ---------------------------------------------------------------------------------------------
# HiPPO-LegS and its diagonalizations
# ---------------------------------------------------------------------------------------------

def _real_dtype() -> Any:
    return jnp.float64 if jax.config.jax_enable_x64 else jnp.float32


def hippo_legs(n: int) -> tuple[jnp.ndarray, jnp.ndarray]:
    """The HiPPO-LegS matrices: ``A[i,j] = −√(2i+1)√(2j+1)`` (i > j), ``−(i+1)`` (i = j), 0 (i < j);
    ``B[i] = √(2i+1)``.

    Returns
    -------
    (A (n, n), B (n,)) real, float64 under x64.

    >>> A, B = hippo_legs(3)
    >>> [round(v, 3) for v in A[1, :2].tolist()], [round(v, 3) for v in B.tolist()]
    ([-1.732, -2.0], [1.0, 1.732, 2.236])
    """
    n = check_positive_int(n, "n")
    q = np.sqrt(2 * np.arange(n) + 1.0)
    a = -np.tril(np.outer(q, q), -1) - np.diag(np.arange(n) + 1.0)
    return jnp.asarray(a, _real_dtype()), jnp.asarray(q, _real_dtype())


def hippo_legs_normal(n: int) -> tuple[jnp.ndarray, jnp.ndarray]:
    """Normal part of HiPPO-LegS: ``A + P Pᵀ = −½ I + S`` (S skew-symmetric), with ``P[i] = √(i + ½)``.

    Returns
    -------
    (A_normal (n, n), P (n,))

    >>> An, P = hippo_legs_normal(4)
    >>> bool(abs(An + An.T + jnp.eye(4)).max() < 1e-5)
    True
    """
    a, _ = hippo_legs(n)
    p = np.sqrt(np.arange(n) + 0.5)
    an = np.asarray(a, np.float64) + np.outer(p, p)
    return jnp.asarray(an, _real_dtype()), jnp.asarray(p, _real_dtype())


class DiagonalSSM(NamedTuple):
    """A diagonal SSM ``(Λ, B̃, C̃)`` equivalent (approximately) to a dense one, with diagnostics.

    Attributes
    ----------
    Lambda : complex (N,) eigenvalues;  B : complex (N,) ``V⁻¹ B``;  C : complex (..., N) ``C V``.
    V : complex (N, N) eigenvectors.  cond : float, κ₂(V).
    backward_error : float, ``‖Ã − A‖₂ / ‖A‖₂`` of the matrix actually diagonalised.
    """

    Lambda: jnp.ndarray
    B: jnp.ndarray
    C: jnp.ndarray
    V: jnp.ndarray
    cond: float
    backward_error: float


def _normal_eig(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Eigen-decomposition of ``−½I + S`` (S skew) through the Hermitian ``−i S``: unitary V."""
    n = a.shape[0]
    diag = np.mean(np.diag(a))
    skew = a - diag * np.eye(n)
    mu, v = np.linalg.eigh(-1j * skew)
    return diag + 1j * mu, v


def _diag_result(lam, v, b, c, backward) -> DiagonalSSM:
    cdt = _complex_dtype()
    b_t = np.linalg.solve(v, b)
    c_t = c @ v
    return DiagonalSSM(jnp.asarray(lam, cdt), jnp.asarray(b_t, cdt), jnp.asarray(c_t, cdt),
                       jnp.asarray(v, cdt), float(np.linalg.cond(v)), float(backward))


def _np64(x: Any, name: str) -> np.ndarray:
    arr = np.asarray(x)
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or inf")
    return arr.astype(np.complex128 if np.iscomplexobj(arr) else np.float64)


def normal_diagonalize(A_normal: Any, B: Any, C: Any) -> DiagonalSSM:
    """Diagonalise a matrix of the form ``−½I + S`` (S skew-symmetric) with unitary eigenvectors.

    This is the S4D-LegS / S5 initialisation when ``A_normal`` is :func:`hippo_legs_normal`:
    the diagonal SSM keeps the eigenvalues of the normal part only (κ(V) = 1).
    Runs in NumPy float64 (not traceable).

    >>> An, _ = hippo_legs_normal(8); _, B = hippo_legs(8)
    >>> d = normal_diagonalize(An, B, jnp.ones(8))
    >>> round(d.cond, 6)
    1.0
    """
    a = _np64(A_normal, "A_normal")
    if a.ndim != 2 or a.shape[0] != a.shape[1]:
        raise ValueError(f"A_normal must be square, got {a.shape}")
    lam, v = _normal_eig(a)
    return _diag_result(lam, v, _np64(B, "B"), _np64(C, "C"), 0.0)


def ptd_diagonalize(key: jax.Array, A: Any, B: Any, C: Any, *, eps: float = 1e-5) -> DiagonalSSM:
    """Perturb-then-diagonalise: eigen-decompose ``Ã = A + E`` with a random ``E``, ``‖E‖₂ = eps·‖A‖₂``.

    For a highly non-normal ``A`` (HiPPO-LegS) the exact eigenvectors are numerically singular
    (κ(V) ~ 1e20 for N = 64); a tiny Gaussian perturbation yields a well-conditioned ``Ṽ`` whose
    diagonal SSM ``(Λ̃, Ṽ⁻¹B, CṼ)`` has a transfer function uniformly close to the original one.
    ``eps = 0`` gives the exact (ill-conditioned) eigendecomposition. Runs in NumPy float64.

    Parameters
    ----------
    key : jax.random key (for E)
    A : array (N, N) real;  B : array (N,);  C : array (N,) or (H, N)
    eps : float ≥ 0, the relative backward error ``‖E‖₂/‖A‖₂``.

    Returns
    -------
    DiagonalSSM (use ``s4d_kernel(..., conj_pairs=False)`` on ``Lambda, B, C`` for its kernel).

    >>> import jax
    >>> A, B = hippo_legs(16)
    >>> d = ptd_diagonalize(jax.random.key(0), A, B, jnp.ones(16), eps=1e-4)
    >>> d.Lambda.shape, d.cond < 1e8, round(d.backward_error, 6)
    ((16,), True, 0.0001)
    """
    a = _np64(A, "A")
    if a.ndim != 2 or a.shape[0] != a.shape[1]:
        raise ValueError(f"A must be square, got {a.shape}")
    if not (isinstance(eps, (int, float, np.floating)) and np.isfinite(eps) and eps >= 0):
        raise ValueError(f"eps must be a non-negative float, got {eps!r}")
    n = a.shape[0]
    norm_a = np.linalg.norm(a, 2)
    if eps > 0:
        e = np.asarray(jax.random.normal(key, (n, n), jnp.float32), np.float64)
        e *= eps * norm_a / np.linalg.norm(e, 2)
    else:
        e = np.zeros_like(a)
    a_t = a + e
    lam, v = np.linalg.eig(a_t)
    backward = np.linalg.norm(a_t - a, 2) / norm_a
    return _diag_result(lam, v, _np64(B, "B"), _np64(C, "C"), backward)
