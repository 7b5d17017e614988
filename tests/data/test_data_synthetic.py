"""Tests for ntkbook.data.synthetic: power-law tasks, teachers, spheres, cubes, regression targets."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ntkbook import data
from ntkbook.data import (PowerLawTask, Teacher, boolean_cube, boolean_cube_all, powerlaw_gaussian,
                          random_teacher, regression_function, sphere, synthetic_regression,
                          teacher_student)


# -------------------------------------------------------------------------------- power-law task

def test_powerlaw_spectrum_and_normalisation():
    task = powerlaw_gaussian(num_modes=500, alpha=1.5, beta=1.75, noise=1e-3)
    lam = np.asarray(task.eigenvalues, np.float64)
    v = np.asarray(task.coefficients, np.float64)
    i = np.arange(1, 501)
    assert task.num_modes == 500 and lam.shape == v.shape == (500,)
    np.testing.assert_allclose(lam, i ** -1.5, rtol=1e-6)
    # c_i^2 = λ_i v_i^2 ∝ i^-beta (orthonormal eigenbasis): the ratio to i^-beta is one constant,
    # the eigencoefficients are unit-norm, and the signal power is exactly 1.
    c = np.asarray(task.eigencoefficients, np.float64)
    np.testing.assert_allclose(c, np.sqrt(lam) * v, rtol=1e-6)
    ratio = c ** 2 / i ** -1.75
    np.testing.assert_allclose(ratio, ratio[0], rtol=1e-5)
    np.testing.assert_allclose(np.sum(c ** 2), 1.0, rtol=1e-6)
    assert np.all(v > 0)
    np.testing.assert_allclose(np.sum(lam * v ** 2), 1.0, rtol=1e-6)
    np.testing.assert_allclose(float(task.signal_power), 1.0, rtol=1e-6)
    assert task.noise == pytest.approx(1e-3)


def test_powerlaw_random_signs_keep_magnitudes():
    plain = powerlaw_gaussian(num_modes=64)
    signed = powerlaw_gaussian(jax.random.key(3), num_modes=64)
    np.testing.assert_allclose(np.abs(signed.coefficients), plain.coefficients, rtol=1e-6)
    assert np.any(np.asarray(signed.coefficients) < 0)
    again = powerlaw_gaussian(jax.random.key(3), num_modes=64)
    np.testing.assert_array_equal(signed.coefficients, again.coefficients)


# One large sample shared by the statistical tests (drawing and compiling it once keeps the file fast).
N_BIG, M_BIG, NOISE_BIG = 20000, 64, 0.05


@pytest.fixture(scope="module")
def big_sample():
    task = powerlaw_gaussian(num_modes=M_BIG, noise=NOISE_BIG)
    z, y = task.sample(jax.random.key(11), N_BIG)
    return task, z, y


def test_powerlaw_sample_shapes_dtype_determinism(big_sample):
    task, z, y = big_sample
    assert z.shape == (N_BIG, M_BIG) and y.shape == (N_BIG,)
    assert z.dtype == jnp.float32 and y.dtype == jnp.float32
    z2, y2 = task.sample(jax.random.key(11), N_BIG)
    np.testing.assert_array_equal(z, z2)
    np.testing.assert_array_equal(y, y2)
    z3, _ = task.sample(jax.random.key(12), N_BIG)
    assert not np.allclose(z, z3)
    # Labels are the noiseless target plus noise of the stated variance.
    resid = np.asarray(y, np.float64) - np.asarray(task.target(z), np.float64)
    np.testing.assert_allclose(resid.var(), NOISE_BIG, rtol=0.05)


def test_powerlaw_empirical_covariance_matches_spectrum(big_sample):
    task, z, y = big_sample
    z = np.asarray(z, np.float64)
    cov = z[:, :8].T @ z[:, :8] / N_BIG
    lam = np.asarray(task.eigenvalues, np.float64)[:8]
    # Standard error of a variance estimate is sqrt(2/n) ≈ 1 %: allow 5 %.
    np.testing.assert_allclose(np.diag(cov), lam, rtol=0.05)
    corr = cov / np.sqrt(np.outer(lam, lam))
    off = corr[~np.eye(8, dtype=bool)]
    assert np.max(np.abs(off)) < 0.05
    # Label variance = signal power (1) + noise variance.
    np.testing.assert_allclose(np.var(np.asarray(y, np.float64)), 1.0 + NOISE_BIG, rtol=0.05)


def test_powerlaw_risk_matches_monte_carlo(big_sample):
    task, z, y = big_sample
    # Predictors: zero, the target shrunk by half, and two random perturbations of the target.
    v = np.asarray(task.coefficients, np.float64)
    rng = np.random.default_rng(0)
    a = np.stack([np.zeros_like(v), 0.5 * v, v + 0.3 * rng.standard_normal(M_BIG),
                  v + 0.1 * rng.standard_normal(M_BIG)], axis=1)                      # (M, 4)
    exact = np.asarray(task.risk(jnp.asarray(a, jnp.float32)), np.float64)
    mc = np.mean((np.asarray(y, np.float64)[:, None] - np.asarray(z, np.float64) @ a) ** 2, axis=0)
    # Monte-Carlo relative standard error is sqrt(2/n) ≈ 1 %: allow 4 %.
    np.testing.assert_allclose(mc, exact, rtol=0.04)
    np.testing.assert_allclose(exact[0], 1.0 + NOISE_BIG, rtol=1e-5)
    np.testing.assert_allclose(exact[1], 0.25 + NOISE_BIG, rtol=1e-5)


def test_powerlaw_risk_shapes_and_options():
    task = powerlaw_gaussian(num_modes=16, noise=0.1)
    assert task.risk(jnp.zeros(16)).shape == ()
    assert task.risk(jnp.zeros((16, 5))).shape == (5,)
    np.testing.assert_allclose(float(task.risk(task.coefficients)), 0.1, rtol=1e-6)
    np.testing.assert_allclose(float(task.risk(task.coefficients, include_noise=False)), 0.0, atol=1e-7)
    np.testing.assert_allclose(float(task.risk(jnp.zeros(16), include_noise=False)), 1.0, rtol=1e-6)
    # The batch and the single-predictor forms agree, and the risk is jit-compatible.
    a = jax.random.normal(jax.random.key(0), (16, 4))
    batch = task.risk(a)
    singles = jnp.stack([task.risk(a[:, j]) for j in range(4)])
    np.testing.assert_allclose(batch, singles, rtol=1e-6)
    np.testing.assert_allclose(jax.jit(task.risk)(a), batch, rtol=1e-6)
    np.testing.assert_allclose(task.target(jnp.eye(16)), task.coefficients, rtol=1e-6)


def test_powerlaw_float64(x64, key):
    task = powerlaw_gaussian(num_modes=16)
    assert task.eigenvalues.dtype == jnp.float64 and task.coefficients.dtype == jnp.float64
    z, y = task.sample(key, 4)
    assert z.dtype == jnp.float64 and y.dtype == jnp.float64
    assert task.risk(jnp.zeros((16, 5))).dtype == jnp.float64
    np.testing.assert_allclose(float(task.signal_power), 1.0, rtol=1e-14)


def test_powerlaw_custom_task_and_errors(key):
    task = PowerLawTask(jnp.array([2.0, 1.0]), jnp.array([1.0, 1.0]), 0.0)
    assert float(task.signal_power) == pytest.approx(3.0)
    with pytest.raises(ValueError, match="same shape"):
        PowerLawTask(jnp.ones(3), jnp.ones(2), 0.0)
    with pytest.raises(ValueError, match="positive"):
        PowerLawTask(jnp.array([1.0, 0.0]), jnp.ones(2), 0.0)
    with pytest.raises(ValueError, match="noise"):
        PowerLawTask(jnp.ones(2), jnp.ones(2), -1.0)
    with pytest.raises(ValueError, match="NaN"):
        PowerLawTask(jnp.array([1.0, jnp.nan]), jnp.ones(2), 0.0)
    with pytest.raises(ValueError, match="num_modes"):
        powerlaw_gaussian(num_modes=0)
    with pytest.raises(ValueError, match="alpha"):
        powerlaw_gaussian(alpha=-1.0)
    with pytest.raises(ValueError, match="beta"):
        powerlaw_gaussian(beta=float("nan"))
    with pytest.raises(ValueError, match="noise"):
        powerlaw_gaussian(noise=-1e-3)
    with pytest.raises(ValueError, match="key"):
        powerlaw_gaussian(0)
    small = powerlaw_gaussian(num_modes=4)
    with pytest.raises(ValueError, match="n must be a positive integer"):
        small.sample(key, 0)
    with pytest.raises(ValueError, match="key"):
        small.sample(123, 5)
    with pytest.raises(ValueError, match="4 rows"):
        small.risk(jnp.zeros(5))
    with pytest.raises(ValueError, match="rank"):
        small.risk(jnp.zeros((4, 2, 2)))
    with pytest.raises(ValueError, match="columns"):
        small.target(jnp.zeros((3, 5)))


# -------------------------------------------------------------------------------- teachers
# All teacher tests use d = 6, width 16 and n = 64 (or 4000) so the jitted generators compile few times.
D, WIDTH, N = 6, 16, 64
CONFIGS = [("linear", None, (N,)), ("mlp", 2, (N, 2)), ("single_index", None, (N,))]


@pytest.mark.parametrize("kind,out_dim,shape", CONFIGS)
def test_teacher_student_shapes_and_determinism(key, kind, out_dim, shape):
    x, y = teacher_student(key, N, D, teacher=kind, out_dim=out_dim, noise=0.1, width=WIDTH)
    assert x.shape == (N, D) and y.shape == shape
    assert x.dtype == jnp.float32 and y.dtype == jnp.float32
    x2, y2 = teacher_student(key, N, D, teacher=kind, out_dim=out_dim, noise=0.1, width=WIDTH)
    np.testing.assert_array_equal(x, x2)
    np.testing.assert_array_equal(y, y2)
    x3, _ = teacher_student(jax.random.key(1), N, D, teacher=kind, out_dim=out_dim, noise=0.1,
                            width=WIDTH)
    assert not np.allclose(x, x3)


def test_teacher_formulas(key):
    x = np.random.default_rng(0).standard_normal((N, D)).astype(np.float32)
    lin = random_teacher(key, D, kind="linear")
    np.testing.assert_allclose(lin(x), x @ np.asarray(lin.weights[0]) / np.sqrt(D), rtol=1e-5, atol=1e-6)
    mlp = random_teacher(key, D, kind="mlp", width=WIDTH, out_dim=2, activation="tanh")
    w1, a = (np.asarray(w, np.float64) for w in mlp.weights)
    assert w1.shape == (D, WIDTH) and a.shape == (WIDTH, 2)
    m2 = np.mean(np.tanh(np.random.default_rng(0).standard_normal(400000)) ** 2)
    manual = np.tanh(x @ w1 / np.sqrt(D)) @ a / np.sqrt(WIDTH * m2)
    np.testing.assert_allclose(mlp(x), manual, rtol=5e-3, atol=1e-4)
    si = random_teacher(key, D, kind="single_index", link="he3")
    (u,) = si.weights
    np.testing.assert_allclose(float(np.linalg.norm(u)), 1.0, rtol=1e-6)
    t = x @ np.asarray(u)
    np.testing.assert_allclose(si(x), t ** 3 - 3 * t, rtol=1e-4, atol=1e-4)


def test_teacher_student_statistics(key):
    teacher = random_teacher(jax.random.key(7), D, kind="single_index", link="he2")
    x, y = teacher_student(key, 4000, D, teacher=teacher, noise=0.5)
    x, y, clean = (np.asarray(a, np.float64) for a in (x, y, teacher(x)))
    resid = y - clean
    assert abs(resid.std() - 0.5) < 0.03 and abs(resid.mean()) < 0.05
    # He2 of a standard Gaussian projection has mean 0 and variance 2.
    assert abs(clean.mean()) < 0.15 and abs(clean.var() - 2.0) < 0.3
    np.testing.assert_allclose(x.T @ x / 4000, np.eye(D), atol=0.08)
    # Noise-free labels are exactly the teacher's outputs.
    x0, y0 = teacher_student(key, 4000, D, teacher=teacher, noise=0.0)
    np.testing.assert_allclose(y0, teacher(x0), rtol=1e-6, atol=1e-6)


def test_teacher_student_sphere_inputs(key):
    x, _ = teacher_student(key, N, D, inputs="sphere")
    np.testing.assert_allclose(np.linalg.norm(np.asarray(x), axis=1), np.sqrt(D), rtol=1e-5)


def test_teacher_student_float64(x64, key):
    x, y = teacher_student(key, N, D, teacher="mlp", width=WIDTH, noise=0.1)
    assert x.dtype == jnp.float64 and y.dtype == jnp.float64


def test_teacher_errors(key):
    with pytest.raises(ValueError, match="kind"):
        random_teacher(key, 3, kind="cubic")
    with pytest.raises(ValueError, match="out_dim"):
        random_teacher(key, 3, kind="single_index", out_dim=2)
    with pytest.raises(ValueError, match="activation"):
        random_teacher(key, 3, kind="mlp", activation="swish")
    with pytest.raises(ValueError, match="link"):
        random_teacher(key, 3, kind="single_index", link="he7")
    with pytest.raises(ValueError, match="width"):
        random_teacher(key, 3, kind="mlp", width=0)
    with pytest.raises(ValueError, match="d must be a positive integer"):
        random_teacher(key, 0)
    teacher = random_teacher(key, D)
    assert isinstance(teacher, Teacher)
    with pytest.raises(ValueError, match=f"dimension {D}"):
        teacher_student(key, 5, D + 1, teacher=teacher)
    with pytest.raises(ValueError, match=f"{D} features"):
        teacher(jnp.zeros((2, D + 1)))
    with pytest.raises(ValueError, match="teacher must be"):
        teacher_student(key, 5, 3, teacher=42)
    with pytest.raises(ValueError, match="noise"):
        teacher_student(key, 5, 3, noise=-0.1)
    with pytest.raises(ValueError, match="inputs"):
        teacher_student(key, 5, 3, inputs="cube")
    with pytest.raises(ValueError, match="n must be a positive integer"):
        teacher_student(key, 0, 3)


# -------------------------------------------------------------------------------- sphere and cube

def test_sphere_statistics(key):
    x = sphere(key, 20000, 5)
    assert x.shape == (20000, 5) and x.dtype == jnp.float32
    x = np.asarray(x, np.float64)
    np.testing.assert_allclose(np.linalg.norm(x, axis=1), 1.0, rtol=1e-5)
    assert np.max(np.abs(x.mean(0))) < 0.02
    np.testing.assert_allclose(x.T @ x / len(x), np.eye(5) / 5, atol=0.01)
    np.testing.assert_array_equal(sphere(key, 3, 2), sphere(key, 3, 2))
    assert set(np.unique(np.asarray(sphere(key, 50, 1)))) == {-1.0, 1.0}


def test_boolean_cube(key):
    x = boolean_cube(key, 5000, 6)
    assert x.shape == (5000, 6) and x.dtype == jnp.float32
    assert set(np.unique(np.asarray(x))) == {-1.0, 1.0}
    assert np.max(np.abs(np.asarray(x).mean(0))) < 0.06
    np.testing.assert_array_equal(x, boolean_cube(key, 5000, 6))


def test_boolean_cube_all():
    x = np.asarray(boolean_cube_all(4))
    assert x.shape == (16, 4)
    assert len({tuple(r) for r in x}) == 16
    np.testing.assert_array_equal(x[0], np.ones(4))
    np.testing.assert_array_equal(x[-1], -np.ones(4))
    np.testing.assert_array_equal(x[1], [1, 1, 1, -1])
    # Every coordinate is balanced and distinct coordinates are uncorrelated (parities orthogonal).
    np.testing.assert_array_equal(x.T @ x, 16 * np.eye(4))
    assert boolean_cube_all(1).tolist() == [[1.0], [-1.0]]


def test_sphere_cube_float64(x64, key):
    assert sphere(key, 3, 3).dtype == jnp.float64
    assert boolean_cube(key, 3, 3).dtype == jnp.float64
    assert boolean_cube_all(3).dtype == jnp.float64


def test_sphere_cube_errors(key):
    with pytest.raises(ValueError, match="n must be a positive integer"):
        sphere(key, 0, 3)
    with pytest.raises(ValueError, match="d must be a positive integer"):
        sphere(key, 3, -1)
    with pytest.raises(ValueError, match="d must be a positive integer"):
        boolean_cube(key, 3, 2.5)
    with pytest.raises(ValueError, match="key"):
        boolean_cube(jnp.zeros(3), 3, 2)
    with pytest.raises(ValueError, match="at most 20"):
        boolean_cube_all(21)
    with pytest.raises(ValueError, match="d must be a positive integer"):
        boolean_cube_all(0)


# -------------------------------------------------------------------------------- regression
NR, DR = 5000, 4


@pytest.mark.parametrize("fn", ["sinusoid", "bump", "legendre"])
def test_synthetic_regression_noiseless(key, fn):
    x, y = synthetic_regression(key, NR, DR, fn=fn)
    assert x.shape == (NR, DR) and y.shape == (NR,) and y.dtype == jnp.float32
    x_np = np.asarray(x, np.float64)
    assert x_np.min() >= -1.0 and x_np.max() <= 1.0
    # Uniform on [-1, 1]: mean 0, variance 1/3 per coordinate.
    assert np.max(np.abs(x_np.mean(0))) < 0.04 and np.max(np.abs(x_np.var(0) - 1 / 3)) < 0.02
    np.testing.assert_allclose(y, regression_function(fn)(x), rtol=1e-6)
    if fn != "bump":  # sinusoid and legendre have mean 0 and variance 1
        y_np = np.asarray(y, np.float64)
        assert abs(y_np.mean()) < 0.06 and abs(y_np.var() - 1.0) < 0.1


def test_synthetic_regression_noise_and_callable(key):
    def f(x):
        return x[:, 0] * x[:, 1]

    x, y = synthetic_regression(key, NR, DR, fn=f, noise=0.3)
    resid = np.asarray(y - f(x))
    assert abs(resid.std() - 0.3) < 0.02
    x2, y2 = synthetic_regression(key, NR, DR, fn=f, noise=0.3)
    np.testing.assert_array_equal(y, y2)


def test_synthetic_regression_float64_and_errors(key, x64):
    x, y = synthetic_regression(key, 5, 2)
    assert x.dtype == jnp.float64 and y.dtype == jnp.float64
    with pytest.raises(ValueError, match="fn must be one of"):
        synthetic_regression(key, 5, 2, fn="wiggle")
    with pytest.raises(ValueError, match=r"\(n,\) outputs"):
        synthetic_regression(key, 5, 2, fn=lambda x: x)
    with pytest.raises(ValueError, match="noise"):
        synthetic_regression(key, 5, 2, noise=float("inf"))
    with pytest.raises(ValueError, match="d must be a positive integer"):
        synthetic_regression(key, 5, 0)


def test_public_names_exported():
    for name in ["powerlaw_gaussian", "PowerLawTask", "teacher_student", "random_teacher", "sphere",
                 "boolean_cube", "boolean_cube_all", "synthetic_regression", "regression_function"]:
        assert name in data.__all__ and hasattr(data, name)
