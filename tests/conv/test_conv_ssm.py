"""State-space kernels: S4D vs explicit recurrence, dense reference, HiPPO, robust diagonalization."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.linalg
from conv_numpy_ref import rel_err

from ntkbook import conv


def _recurrence_kernel(dt, a, b, c, length, disc):
    """Impulse response of x_{l} = Ā x_{l−1} + B̄ u_l, y_l = C x_l, per mode, in complex128."""
    dta = dt * a
    if disc == "zoh":
        abar = np.exp(dta)
        bbar = (abar - 1) / a * b
    else:
        abar = (1 + dta / 2) / (1 - dta / 2)
        bbar = dt * b / (1 - dta / 2)
    x = np.zeros_like(a)
    out = []
    for step in range(length):
        x = abar * x + (bbar if step == 0 else 0.0)
        out.append(np.sum(c * x))
    return np.asarray(out)


@pytest.mark.parametrize("init", ["lin", "inv", "legs"])
@pytest.mark.parametrize("disc", ["zoh", "bilinear"])
def test_s4d_kernel_matches_recurrence(x64, init, disc):
    p = conv.s4d_init(jax.random.key(0), 3, 6, init=init)
    K = conv.s4d_kernel(p["dt"], p["A"], p["B"], p["C"], 40, discretization=disc)
    assert K.shape == (3, 40) and K.dtype == jnp.float64
    for h in range(3):
        ref = 2 * _recurrence_kernel(float(p["dt"][h]), np.asarray(p["A"][h]), np.asarray(p["B"][h]),
                                     np.asarray(p["C"][h]), 40, disc).real
        assert rel_err(K[h], ref) < 1e-10


def test_s4d_init_values():
    p = conv.s4d_init(jax.random.key(1), 2, 4, init="lin", dt_min=0.01, dt_max=0.1)
    assert np.allclose(np.asarray(p["A"][0]), -0.5 + 1j * np.pi * np.arange(4), atol=1e-5)
    assert np.all((np.asarray(p["dt"]) >= 0.01 - 1e-7) & (np.asarray(p["dt"]) <= 0.1 + 1e-7))
    inv = conv.s4d_init(jax.random.key(1), 1, 4, init="inv")
    assert np.allclose(np.asarray(inv["A"][0]).imag, (8 / np.pi) * (8 / (2 * np.arange(4) + 1) - 1), rtol=1e-5)
    legs = conv.s4d_init(jax.random.key(1), 1, 4, init="legs")
    assert np.allclose(np.asarray(legs["A"]).real, -0.5, atol=1e-5)
    assert np.all(np.asarray(legs["A"]).imag > 0)


def test_s4d_kernel_float32_and_jit():
    p = conv.s4d_init(jax.random.key(2), 4, 8)
    K = jax.jit(lambda dt: conv.s4d_kernel(dt, p["A"], p["B"], p["C"], 64))(p["dt"])
    assert K.shape == (4, 64) and K.dtype == jnp.float32
    assert np.all(np.isfinite(np.asarray(K)))


@pytest.mark.parametrize("disc", ["zoh", "bilinear"])
def test_dense_kernel_matches_scipy_powers(x64, disc):
    rng = np.random.default_rng(0)
    n, dt, length = 5, 0.1, 30
    a = rng.standard_normal((n, n)) - 3 * np.eye(n)
    b = rng.standard_normal(n)
    c = rng.standard_normal((2, n))
    if disc == "zoh":
        abar = scipy.linalg.expm(dt * a)
        bbar = np.linalg.solve(a, (abar - np.eye(n)) @ b)
    else:
        left = np.eye(n) - dt / 2 * a
        abar = np.linalg.solve(left, np.eye(n) + dt / 2 * a)
        bbar = np.linalg.solve(left, dt * b)
    ref = np.stack([c @ np.linalg.matrix_power(abar, l) @ bbar for l in range(length)], axis=-1)
    K = conv.dense_ssm_kernel(a, b, c, dt, length, discretization=disc)
    assert K.shape == (2, length)
    assert rel_err(K, ref) < 1e-10


def test_diagonal_and_dense_agree(x64):
    """s4d_kernel on the eigen-decomposition of a diagonalisable A equals the dense kernel."""
    p = conv.s4d_init(jax.random.key(3), 1, 3)
    lam = np.concatenate([np.asarray(p["A"][0]), np.conj(np.asarray(p["A"][0]))])
    b = np.concatenate([np.asarray(p["B"][0]), np.conj(np.asarray(p["B"][0]))])
    c = np.concatenate([np.asarray(p["C"][0]), np.conj(np.asarray(p["C"][0]))])
    dense = conv.dense_ssm_kernel(np.diag(lam), b, c, float(p["dt"][0]), 25, discretization="zoh")
    diag = conv.s4d_kernel(p["dt"], p["A"], p["B"], p["C"], 25)
    assert rel_err(diag[0], dense) < 1e-10


def test_transfer_function(x64):
    a = np.array([[-1.0, 2.0], [0.0, -3.0]])
    b = np.array([1.0, 1.0])
    c = np.array([1.0, -2.0])
    s = 1j * np.linspace(0, 5, 7)
    ref = np.array([c @ np.linalg.solve(si * np.eye(2) - a, b) for si in s])
    assert rel_err(conv.ssm_transfer_function(a, b, c, s), ref) < 1e-12
    lam, v = np.linalg.eig(a)
    g_diag = conv.ssm_transfer_function(lam, np.linalg.solve(v, b), c @ v, s)
    assert rel_err(g_diag, ref) < 1e-12


def test_hippo_legs_structure(x64):
    A, B = conv.hippo_legs(4)
    assert np.allclose(np.asarray(A)[2, 1], -np.sqrt(5 * 3))
    assert np.allclose(np.diag(np.asarray(A)), -np.arange(1, 5))
    assert np.allclose(np.triu(np.asarray(A), 1), 0)
    An, P = conv.hippo_legs_normal(6)
    An = np.asarray(An)
    assert np.allclose(An + An.T, -np.eye(6))           # −½I + skew
    assert np.allclose(An @ An.T, An.T @ An)            # normal


def test_ptd_is_well_conditioned_and_accurate(x64):
    """P106: exact eigenvectors of HiPPO-LegS are numerically singular; PTD's are not, and its
    transfer function stays uniformly close to HiPPO's while S4D-LegS's does not."""
    n = 32
    A, B = conv.hippo_legs(n)
    C = jnp.asarray(np.random.default_rng(0).standard_normal(n))
    exact = conv.ptd_diagonalize(jax.random.key(0), A, B, C, eps=0.0)
    ptd = conv.ptd_diagonalize(jax.random.key(0), A, B, C, eps=1e-5)
    assert exact.cond > 1e12
    assert ptd.cond < 1e7 and ptd.cond < 1e-6 * exact.cond
    assert abs(ptd.backward_error - 1e-5) < 1e-12
    omega = np.linspace(0.0, 2 * n, 400)
    g = conv.ssm_transfer_function(A, B, C, 1j * omega)
    g_ptd = conv.ssm_transfer_function(ptd.Lambda, ptd.B, ptd.C, 1j * omega)
    An, _ = conv.hippo_legs_normal(n)
    legs = conv.normal_diagonalize(An, B, C)
    g_legs = conv.ssm_transfer_function(legs.Lambda, legs.B, legs.C, 1j * omega)
    sup = float(jnp.max(jnp.abs(g)))
    assert float(jnp.max(jnp.abs(g_ptd - g))) / sup < 0.05
    assert float(jnp.max(jnp.abs(g_legs - g))) / sup > 1.0
    assert abs(legs.cond - 1.0) < 1e-8
    # the PTD diagonal kernel stays close to the dense kernel (bilinear, Δ = 1/L)
    K_dense = conv.dense_ssm_kernel(A, B, C, 1 / 256, 256)
    K_ptd = conv.s4d_kernel(1 / 256, ptd.Lambda, ptd.B, ptd.C[None], 256, discretization="bilinear",
                            conj_pairs=False)
    assert rel_err(K_ptd[0], K_dense) < 1e-2


def test_errors():
    p = conv.s4d_init(jax.random.key(0), 2, 3)
    with pytest.raises(ValueError, match="C must"):
        conv.s4d_kernel(p["dt"], p["A"], p["B"], p["C"][0], 8)
    with pytest.raises(ValueError, match="A must"):
        conv.s4d_kernel(p["dt"], p["A"][:, :2], p["B"], p["C"], 8)
    with pytest.raises(ValueError, match="dt"):
        conv.s4d_kernel(-p["dt"], p["A"], p["B"], p["C"], 8)
    with pytest.raises(ValueError, match="dt must"):
        conv.s4d_kernel(jnp.ones(3), p["A"], p["B"], p["C"], 8)
    with pytest.raises(ValueError, match="length"):
        conv.s4d_kernel(p["dt"], p["A"], p["B"], p["C"], 0)
    with pytest.raises(ValueError, match="discretization"):
        conv.s4d_kernel(p["dt"], p["A"], p["B"], p["C"], 8, discretization="euler")
    with pytest.raises(ValueError, match="NaN"):
        conv.s4d_kernel(p["dt"], p["A"].at[0, 0].set(jnp.nan), p["B"], p["C"], 8)
    with pytest.raises(ValueError, match="init"):
        conv.s4d_init(jax.random.key(0), 2, 3, init="fourier")
    with pytest.raises(ValueError, match="dt_min"):
        conv.s4d_init(jax.random.key(0), 2, 3, dt_min=0.1, dt_max=0.01)
    with pytest.raises(ValueError, match="square"):
        conv.ptd_diagonalize(jax.random.key(0), jnp.ones((2, 3)), jnp.ones(2), jnp.ones(2))
    with pytest.raises(ValueError, match="eps"):
        conv.ptd_diagonalize(jax.random.key(0), jnp.eye(2), jnp.ones(2), jnp.ones(2), eps=-1.0)
    with pytest.raises(ValueError, match="square"):
        conv.dense_ssm_kernel(jnp.ones((2, 3)), jnp.ones(2), jnp.ones(2), 0.1, 4)
    with pytest.raises(ValueError, match="need A"):
        conv.ssm_transfer_function(jnp.ones(3), jnp.ones(2), jnp.ones(2), jnp.array([1j]))
