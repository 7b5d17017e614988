import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.linalg

from ntkbook.learn import (SPECTRAL_METHODS, KernelRidgePath, SpectralAlgorithmPath, circle_model_loss, kernel_ridge,
                           spectral_filter)


@pytest.fixture
def problem():
    """A small Laplace-kernel regression problem: K (25, 25), K_test (9, 25), y (25,)."""
    rng = np.random.default_rng(1)
    x, xt = rng.uniform(-1, 1, (25, 2)), rng.uniform(-1, 1, (9, 2))
    laplace = lambda a, b: np.exp(-np.linalg.norm(a[:, None] - b[None], axis=-1) / 0.8)  # noqa: E731
    y = np.sin(2 * x[:, 0]) + 0.3 * x[:, 1] + 0.05 * rng.standard_normal(25)
    return laplace(x, x), laplace(xt, x), y


def test_ridge_filter_equals_kernel_ridge(x64, problem):
    K, Kt, y = problem
    ridges = [1e-4, 0.1, 3.0]
    path = SpectralAlgorithmPath.fit(K, y, method="ridge")
    ref = KernelRidgePath.fit(K, y)
    np.testing.assert_allclose(path.predict(Kt, ridges), ref.predict(Kt, ridges), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(path.train_mse(ridges), ref.train_mse(ridges), rtol=1e-10)
    for r, p in zip(ridges, path.predict(Kt, ridges)):
        np.testing.assert_allclose(p, kernel_ridge(K, y, Kt, r), rtol=1e-7, atol=1e-9)
    tik1 = SpectralAlgorithmPath.fit(K, y, method="iterated_tikhonov", order=1)
    np.testing.assert_allclose(tik1.predict(Kt, ridges), ref.predict(Kt, ridges), rtol=1e-9, atol=1e-12)


def test_gradient_flow_equals_expm_ode(x64, problem):
    K, Kt, y = problem
    n = len(y)
    path = SpectralAlgorithmPath.fit(K, y, method="gradient_flow")
    times = [0.3, 5.0, 200.0]
    pred, train = path.predict(Kt, times), path.train_predictions(times)
    # dα/dt = y − Kα from α = 0 (function-space flow ḟ = −K(f − y)), solved by the augmented matrix exponential
    A = np.zeros((n + 1, n + 1))
    A[:n, :n], A[:n, n] = -K, y
    for t, p, f in zip(times, pred, train):
        alpha = scipy.linalg.expm(t * A)[:n, n]
        np.testing.assert_allclose(p, Kt @ alpha, rtol=1e-8, atol=1e-10)
        np.testing.assert_allclose(f, K @ alpha, rtol=1e-8, atol=1e-10)
        np.testing.assert_allclose(f, (np.eye(n) - scipy.linalg.expm(-t * K)) @ y, rtol=1e-8, atol=1e-10)


def test_gradient_descent_equals_iterations(x64, problem):
    K, Kt, y = problem
    eps = 1.5 / np.linalg.eigvalsh(K)[-1]
    path = SpectralAlgorithmPath.fit(K, y, method="gradient_descent", step_size=eps)
    steps = [1, 7, 60]
    pred = np.asarray(path.predict(Kt, steps))
    alpha = np.zeros_like(y)
    for t in range(1, max(steps) + 1):
        alpha = alpha + eps * (y - K @ alpha)
        if t in steps:
            np.testing.assert_allclose(pred[steps.index(t)], Kt @ alpha, rtol=1e-8, atol=1e-10)
    # an unstable step (ελ_max > 2) is still computed exactly
    big = 2.5 / np.linalg.eigvalsh(K)[-1]
    alpha = np.zeros_like(y)
    for _ in range(3):
        alpha = alpha + big * (y - K @ alpha)
    gd = SpectralAlgorithmPath.fit(K, y, method="gradient_descent", step_size=big)
    np.testing.assert_allclose(gd.train_predictions(3)[0], K @ alpha, rtol=1e-8, atol=1e-10)


def test_iterated_tikhonov_equals_repeated_solves(x64, problem):
    K, Kt, y = problem
    eta, n = 0.05, len(y)
    for r in (2, 5):
        path = SpectralAlgorithmPath.fit(K, y, method="iterated_tikhonov", order=r)
        alpha = np.zeros_like(y)
        for _ in range(r):
            alpha = np.linalg.solve(K + eta * np.eye(n), y + eta * alpha)
        np.testing.assert_allclose(path.predict(Kt, eta)[0], Kt @ alpha, rtol=1e-8, atol=1e-10)
        np.testing.assert_allclose(path.dual_coef(eta)[0], alpha, rtol=1e-8, atol=1e-10)


def test_cutoff_equals_projection(x64, problem):
    K, Kt, y = problem
    s, U = np.linalg.eigh(K)
    eta = np.sqrt(s[-4] * s[-5])  # keeps exactly the top 4 directions
    top = U[:, -4:]
    path = SpectralAlgorithmPath.fit(K, y, method="cutoff")
    np.testing.assert_allclose(path.train_predictions(eta)[0], top @ (top.T @ y), rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(path.predict(Kt, eta)[0], Kt @ top @ ((top.T @ y) / s[-4:]), rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(np.asarray(path.profile(eta))[0], (s >= eta).astype(float), atol=1e-15)


def np_profile(s, p, method, step_size=0.1, order=3):
    """Independent float64 NumPy profiles h(λ)."""
    s = s[None, :]
    p = np.asarray(p, dtype=float)[:, None]
    return {"ridge": lambda: s / (s + p), "gradient_flow": lambda: -np.expm1(-p * s),
            "gradient_descent": lambda: 1 - (1 - step_size * s) ** p, "cutoff": lambda: (s >= p) * 1.0,
            "iterated_tikhonov": lambda: 1 - (p / (s + p)) ** order}[method]()


@pytest.mark.parametrize("method", SPECTRAL_METHODS)
def test_float32_matches_float64(method, problem):
    K, Kt, y = problem
    kw = {"step_size": 0.1, "order": 3}
    params = [2.0, 30.0] if method in ("gradient_flow", "gradient_descent") else [0.5, 0.05]
    p32 = SpectralAlgorithmPath.fit(K.astype(np.float32), y.astype(np.float32), method=method, **kw)
    out = p32.predict(Kt.astype(np.float32), params)
    assert out.dtype == jnp.float32 and out.shape == (2, 9)
    s, U = np.linalg.eigh(K)
    ref = np.stack([Kt @ U @ (h / s * (U.T @ y)) for h in np_profile(s, params, method)])
    np.testing.assert_allclose(out, ref, rtol=2e-3, atol=2e-4)


def test_filter_closed_forms_and_limits(x64):
    lam = np.array([0.0, 1e-12, 0.2, 1.0, 4.0])
    t = np.array([0.5, 3.0])
    np.testing.assert_allclose(spectral_filter(lam, t, "ridge"), lam / (lam + t[:, None]), rtol=1e-12)
    np.testing.assert_allclose(spectral_filter(lam, t, "gradient_flow"), -np.expm1(-t[:, None] * lam), rtol=1e-12)
    np.testing.assert_allclose(spectral_filter(lam, [1, 3], "gradient_descent", step_size=0.3),
                               1 - (1 - 0.3 * lam) ** np.array([[1], [3]]), rtol=1e-10, atol=1e-15)
    np.testing.assert_allclose(spectral_filter(lam, t, "iterated_tikhonov", order=4),
                               1 - (t[:, None] / (lam + t[:, None])) ** 4, rtol=1e-9, atol=1e-15)
    np.testing.assert_allclose(spectral_filter(lam, t, "cutoff"), (lam >= t[:, None]).astype(float), atol=1e-15)
    # the gain h(λ)/λ has the right finite limit at λ = 0 (used for zero eigenvalues of K)
    K = np.zeros((3, 3))
    for method, kw, limit in [("ridge", {}, 1 / 2.0), ("gradient_flow", {}, 2.0),
                              ("gradient_descent", {"step_size": 0.25}, 0.5),
                              ("iterated_tikhonov", {"order": 3}, 3 / 2.0), ("cutoff", {}, 0.0)]:
        path = SpectralAlgorithmPath.fit(K, np.ones(3), method=method, **kw)
        np.testing.assert_allclose(path.dual_coef(2.0)[0], limit * np.ones(3), rtol=1e-10)


def test_paths_inside_jit_and_multi_output(x64, problem):
    K, Kt, y = problem
    Y = np.stack([y, -y], axis=1)

    @jax.jit
    def run(K, Y, Kt):
        return SpectralAlgorithmPath.fit(K, Y, method="gradient_flow", check=False).predict(Kt, jnp.array([1.0, 9.0]))

    out = run(K, Y, Kt)
    assert out.shape == (2, 9, 2)
    np.testing.assert_allclose(out[..., 1], -out[..., 0], rtol=1e-12)


def _circle_problem():
    l = np.arange(-24, 25)
    lam = (1.0 + np.abs(l)) ** -1.5
    c2 = (1.0 + np.abs(l)) ** -3.0
    return l, lam, c2


@pytest.mark.parametrize("method,param", [("ridge", 0.02), ("gradient_flow", 30.0), ("cutoff", 0.05)])
def test_circle_model_loss_matches_monte_carlo(x64, method, param):
    l, lam, c2 = _circle_problem()
    n, sigma2, draws, m = 8, 0.05, 2000, 64
    rng = np.random.default_rng(0)
    exact = float(circle_model_loss(lam, c2, n, param, method, frequencies=l, noise=sigma2)[0])
    c = np.sqrt(c2)  # real, symmetric in l: f*(x) = Σ c_l cos(lx)
    xt = 2 * np.pi * np.arange(m) / m  # m > 2·max|l|: the grid mean is the exact L2 norm of a trig polynomial
    x = rng.uniform(0, 2 * np.pi, (draws, 1)) + 2 * np.pi * np.arange(n) / n  # (draws, n)
    K = np.einsum("l,bijl->bij", lam, np.cos(l * (x[:, :, None, None] - x[:, None, :, None]))) / n
    Kt = np.einsum("l,bijl->bij", lam, np.cos(l * (xt[None, :, None, None] - x[:, None, :, None]))) / n
    y = np.cos(l * x[..., None]) @ c + np.sqrt(sigma2) * rng.standard_normal((draws, n))
    s, U = np.linalg.eigh(K)
    s = np.maximum(s, 1e-300)
    g = np_profile(s.ravel(), [param], method)[0].reshape(s.shape) / s
    pred = np.einsum("bmi,bij,bj->bm", Kt, U, g * np.einsum("bij,bi->bj", U, y))
    losses = np.mean((pred - np.cos(l * xt[:, None]) @ c) ** 2, axis=1)
    mc, se = np.mean(losses), np.std(losses) / np.sqrt(draws)
    assert abs(mc - exact) < 4 * se + 1e-3 * exact, (mc, se, exact)


def test_circle_model_loss_consistency(x64):
    l, lam, c2 = _circle_problem()
    etas = np.array([1e-3, 0.1])
    total = circle_model_loss(lam, c2, 16, etas, frequencies=l, noise=0.2)
    parts = circle_model_loss(lam, c2, 16, etas, frequencies=l, noise=0.2, per_frequency=True)
    assert parts.shape == (2, l.size)
    np.testing.assert_allclose(parts.sum(1), total, rtol=1e-10)
    tik = circle_model_loss(lam, c2, 16, etas, "iterated_tikhonov", frequencies=l, noise=0.2)
    np.testing.assert_allclose(tik, total, rtol=1e-10)
    # default frequencies are symmetric for odd M; a permutation of the frequencies changes nothing
    np.testing.assert_allclose(circle_model_loss(lam, c2, 16, etas, noise=0.2), total, rtol=1e-12)
    perm = np.random.default_rng(0).permutation(l.size)
    np.testing.assert_allclose(circle_model_loss(lam[perm], c2[perm], 16, etas, frequencies=l[perm], noise=0.2),
                               total, rtol=1e-10)
    # traced spectra (inside jit) take the scatter-add path and agree
    jitted = jax.jit(lambda a, b: circle_model_loss(a, b, 16, etas, frequencies=l, noise=0.2))(lam, c2)
    np.testing.assert_allclose(jitted, total, rtol=1e-12)
    # a huge ridge learns nothing: the loss is the target power
    np.testing.assert_allclose(circle_model_loss(lam, c2, 16, 1e12, frequencies=l)[0], c2.sum(), rtol=1e-9)
    # float32 follows float64
    f32 = circle_model_loss(lam.astype(np.float32), c2.astype(np.float32), 16, etas, frequencies=l, noise=0.2)
    assert f32.dtype == jnp.float32
    np.testing.assert_allclose(f32, total, rtol=1e-4)


def test_bad_inputs(problem):
    K, Kt, y = problem
    with pytest.raises(ValueError, match="unknown spectral method"):
        SpectralAlgorithmPath.fit(K, y, method="lasso")
    with pytest.raises(ValueError, match="step_size"):
        SpectralAlgorithmPath.fit(K, y, method="gradient_descent")
    with pytest.raises(ValueError, match="order"):
        SpectralAlgorithmPath.fit(K, y, method="iterated_tikhonov", order=0)
    with pytest.raises(ValueError, match="rows"):
        SpectralAlgorithmPath.fit(K, y[:-1])
    with pytest.raises(ValueError, match="not positive semi-definite"):
        SpectralAlgorithmPath.fit(K - 2 * np.eye(len(y)), y)
    gf = SpectralAlgorithmPath.fit(K, y, method="gradient_flow")
    with pytest.raises(ValueError, match="times .* > 0"):
        gf.predict(Kt, [1.0, 0.0])
    with pytest.raises(ValueError, match="columns"):
        gf.predict(Kt[:, :-1], 1.0)
    with pytest.raises(ValueError, match="> 0"):
        SpectralAlgorithmPath.fit(K, y).train_predictions(-1.0)
    with pytest.raises(ValueError, match="whole numbers"):
        SpectralAlgorithmPath.fit(K, y, method="gradient_descent", step_size=0.1).train_predictions(2.5)
    with pytest.raises(ValueError, match="non-negative"):
        spectral_filter([-1.0, 1.0], 1.0)
    with pytest.raises(ValueError, match="unknown spectral method"):
        spectral_filter([1.0], 1.0, "gradient")
    l, lam, c2 = _circle_problem()
    with pytest.raises(ValueError, match="must match"):
        circle_model_loss(lam, c2[:-1], 8, 1.0)
    with pytest.raises(ValueError, match="positive integer"):
        circle_model_loss(lam, c2, 0, 1.0)
    with pytest.raises(ValueError, match="distinct"):
        circle_model_loss(lam, c2, 8, 1.0, frequencies=np.zeros(l.size, dtype=int))
    with pytest.raises(ValueError, match="integers"):
        circle_model_loss(lam, c2, 8, 1.0, frequencies=l.astype(float))
    with pytest.raises(ValueError, match="> 0"):
        circle_model_loss(lam, c2, 8, [0.0], "gradient_flow", frequencies=l)
