import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx
from scipy.linalg import expm

from ntkbook import kernels, nn, train
from ntkbook.learn import KernelRidgePath, MSEDynamics, gp_posterior, gradient_descent_mse, kernel_ridge


def rbf_np(a, b, ell=0.8):
    return np.exp(-((a[:, None, :] - b[None, :, :]) ** 2).sum(-1) / (2 * ell**2))


@pytest.fixture
def problem():
    """An 'NTK' (RBF + linear), an 'NNGP' (RBF) and targets on 6 training and 4 test points."""
    rng = np.random.default_rng(0)
    x, xt = rng.uniform(-1, 1, (6, 2)), rng.uniform(-1, 1, (4, 2))
    ntk = lambda a, b: rbf_np(a, b) + 0.5 * a @ b.T + 0.3
    nngp = lambda a, b: 0.7 * rbf_np(a, b, 0.6) + 0.2
    y = np.stack([np.sin(3 * x[:, 0]), x[:, 1] ** 2], 1)
    return dict(x=x, xt=xt, y=y, ntk=ntk(x, x), ntk_tx=ntk(xt, x), nngp=nngp(x, x), nngp_tx=nngp(xt, x),
                nngp_tt=nngp(xt, xt))


def flow_reference(Th, y, f0, Th_tx, f0t, eta, t):
    """Explicit matrix-exponential solution of ḟ = −ηΘ(f − y) (float64 NumPy)."""
    E = expm(-eta * t * Th)
    ftrain = y + E @ (f0 - y)
    ftest = f0t + Th_tx @ np.linalg.solve(Th, (np.eye(len(y)) - E) @ (y - f0))
    return ftrain, ftest, E


# ------------------------------------------------------------------------------------------ values
def test_matches_matrix_exponential(x64, problem):
    p = problem
    rng = np.random.default_rng(1)
    f0, f0t = rng.normal(size=p["y"].shape), rng.normal(size=(4, 2))
    eta, times = 0.3, np.array([0.0, 0.1, 1.0, 7.5, 40.0])
    dyn = gradient_descent_mse(p["ntk"], p["y"], learning_rate=eta)
    tr = dyn.train(times, f0_train=f0)
    te = dyn.test(times, p["ntk_tx"], f0_train=f0, f0_test=f0t)
    cov = dyn.test_cov(times, p["ntk_tx"], p["nngp_tt"], nngp_train=p["nngp"], nngp_test_train=p["nngp_tx"])
    for i, t in enumerate(times):
        ftrain, ftest, E = flow_reference(p["ntk"], p["y"], f0, p["ntk_tx"], f0t, eta, t)
        np.testing.assert_allclose(tr[i], ftrain, rtol=1e-9, atol=1e-10)
        np.testing.assert_allclose(te[i], ftest, rtol=1e-8, atol=1e-9)
        A = p["ntk_tx"] @ np.linalg.solve(p["ntk"], np.eye(6) - E)  # Lee et al. (2019)
        ref = (p["nngp_tt"] + A @ p["nngp"] @ A.T - A @ p["nngp_tx"].T - p["nngp_tx"] @ A.T)
        np.testing.assert_allclose(cov[i], ref, rtol=1e-8, atol=1e-10)
        np.testing.assert_allclose(dyn.train_cov(t, p["nngp"]), E @ p["nngp"] @ E, rtol=1e-8, atol=1e-12)


def test_time_zero_is_the_initialisation(problem):
    p = problem
    f0 = np.ones_like(p["y"])
    dyn = gradient_descent_mse(p["ntk"], p["y"])
    np.testing.assert_allclose(dyn.train(0.0, f0_train=f0), f0, atol=1e-6)
    np.testing.assert_allclose(dyn.test(0.0, p["ntk_tx"], f0_train=f0, f0_test=-f0[:4]), -f0[:4], atol=1e-6)
    np.testing.assert_allclose(dyn.test(0.0, p["ntk_tx"]), 0.0, atol=1e-7)
    prior = dyn.test_cov(0.0, p["ntk_tx"], p["nngp_tt"], nngp_train=p["nngp"], nngp_test_train=p["nngp_tx"])
    np.testing.assert_allclose(prior, p["nngp_tt"], rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(dyn.train_cov(0.0, p["nngp"]), p["nngp"], rtol=1e-5, atol=1e-6)
    gp = gradient_descent_mse(p["nngp"], p["y"])
    np.testing.assert_allclose(gp.test_cov(0.0, p["nngp_tx"], p["nngp_tt"]), p["nngp_tt"], rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(gp.train_cov(0.0), p["nngp"], rtol=1e-5, atol=1e-6)


def test_infinite_time_is_kernel_regression(x64, problem):
    p = problem
    dyn = gradient_descent_mse(p["ntk"], p["y"], learning_rate=0.7)
    ref = KernelRidgePath.fit(p["ntk"], p["y"]).predict(p["ntk_tx"], [0.0])[0]
    np.testing.assert_allclose(dyn.test(np.inf, p["ntk_tx"]), ref, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(dyn.train(np.inf), p["y"], atol=1e-10)
    # the flow reaches the limit continuously
    far = dyn.test(1e5, p["ntk_tx"])
    np.testing.assert_allclose(far, ref, rtol=1e-6, atol=1e-8)
    # diag_reg: ridge regression at t = ∞
    reg = gradient_descent_mse(p["ntk"], p["y"], diag_reg=0.05)
    np.testing.assert_allclose(reg.test(np.inf, p["ntk_tx"]),
                               kernel_ridge(p["ntk"], p["y"], p["ntk_tx"], 0.05), rtol=1e-8, atol=1e-10)


def test_nngp_training_ends_at_the_gp_posterior(x64, problem):
    p = problem
    gp = gradient_descent_mse(p["nngp"], p["y"][:, 0])
    post = gp_posterior(p["nngp"], p["y"][:, 0], p["nngp_tx"], p["nngp_tt"], noise=0.0, jitter=0.0, full_cov=True)
    np.testing.assert_allclose(gp.test(np.inf, p["nngp_tx"]), post.mean, rtol=1e-8, atol=1e-9)
    np.testing.assert_allclose(gp.test_cov(np.inf, p["nngp_tx"], p["nngp_tt"]), post.cov, atol=1e-9)
    # the general (NTK-training) formula with Θ = K agrees with the NNGP shortcut at every time
    times = np.array([0.3, 3.0, np.inf])
    general = gp.test_cov(times, p["nngp_tx"], p["nngp_tt"], nngp_train=p["nngp"], nngp_test_train=p["nngp_tx"])
    np.testing.assert_allclose(general, gp.test_cov(times, p["nngp_tx"], p["nngp_tt"]), atol=1e-8)
    # with diag_reg = σ² the limit is the GP posterior with observation noise σ²
    noisy = gradient_descent_mse(p["nngp"], p["y"][:, 0], diag_reg=0.1)
    post = gp_posterior(p["nngp"], p["y"][:, 0], p["nngp_tx"], p["nngp_tt"], noise=0.1, jitter=0.0, full_cov=True)
    np.testing.assert_allclose(noisy.test(np.inf, p["nngp_tx"]), post.mean, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(noisy.test_cov(np.inf, p["nngp_tx"], p["nngp_tt"]), post.cov, atol=1e-10)


def test_train_cov_is_test_cov_on_training_points(x64, problem):
    p = problem
    dyn = gradient_descent_mse(p["ntk"], p["y"])
    times = np.array([0.0, 0.5, 5.0, np.inf])
    np.testing.assert_allclose(
        dyn.test_cov(times, p["ntk"], p["nngp"], nngp_train=p["nngp"], nngp_test_train=p["nngp"]),
        dyn.train_cov(times, p["nngp"]), atol=1e-10)
    gp = gradient_descent_mse(p["nngp"], p["y"])
    np.testing.assert_allclose(gp.test_cov(times, p["nngp"], p["nngp"]), gp.train_cov(times), atol=1e-10)
    assert np.allclose(gp.train_cov(np.inf), 0.0, atol=1e-10)


def test_solves_the_flow_ode(problem):
    """d/dt f_t = −η Θ(·, X)(f_t(X) − y), checked with forward-mode derivatives in t."""
    p = problem
    eta = 0.4
    dyn = gradient_descent_mse(p["ntk"], p["y"], learning_rate=eta)
    for t in [0.0, 0.5, 3.0]:
        ftrain = dyn.train(t)
        d_train = jax.jacfwd(lambda s: dyn.train(s))(jnp.float32(t))
        d_test = jax.jacfwd(lambda s: dyn.test(s, p["ntk_tx"]))(jnp.float32(t))
        np.testing.assert_allclose(d_train, -eta * p["ntk"] @ (ftrain - p["y"]), rtol=1e-3, atol=1e-4)
        np.testing.assert_allclose(d_test, -eta * p["ntk_tx"] @ (ftrain - p["y"]), rtol=1e-3, atol=1e-4)


# ------------------------------------------------------------------------------------------ stability
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_gradient_in_t_is_finite_and_correct(dtype, problem, request):
    if dtype == "float64":
        request.getfixturevalue("x64")
    p = problem
    x = np.concatenate([p["x"], p["x"][:2]])  # duplicated points: a singular kernel
    K = (rbf_np(x, x) + 0.3).astype(dtype)
    y = np.sin(3 * x[:, 0]).astype(dtype)
    Kt = (rbf_np(p["xt"], x) + 0.3).astype(dtype)
    dyn = gradient_descent_mse(K, y, learning_rate=0.5)
    assert float(dyn.eigenvalues[0]) == 0.0  # round-off eigenvalues are clipped
    loss = lambda t: jnp.sum(dyn.test(t, Kt) ** 2) + jnp.sum(dyn.train(t) ** 2) + jnp.sum(
        dyn.test_cov(t, Kt, Kt @ Kt.T) ** 2)
    grad = jax.jit(jax.grad(loss))
    for t in [0.0, 1e-9, 1e-3, 1.0, 1e4, 1e12, np.inf]:
        g = grad(jnp.asarray(t, dtype))
        assert g.dtype == jnp.dtype(dtype) and np.isfinite(float(g)), (t, g)
    # d/dt at t = 0 against a finite difference, and zero at t = ∞
    h = 1e-3 if dtype == "float32" else 1e-6
    fd = (loss(jnp.asarray(h, dtype)) - loss(jnp.asarray(0.0, dtype))) / h
    np.testing.assert_allclose(grad(jnp.asarray(0.0, dtype)), fd, rtol=2e-2 if dtype == "float32" else 1e-4)
    assert float(grad(jnp.asarray(np.inf, dtype))) == 0.0


def test_singular_kernel_small_eigenvalue_limit(problem):
    p = problem
    x = np.concatenate([p["x"], p["x"]]).astype(np.float32)  # every point twice: rank ≤ 6 of 12
    K = (rbf_np(x, x) + 0.3).astype(np.float32)
    y = np.tile(np.sin(3 * p["x"][:, 0]), 2).astype(np.float32)
    Kt = (rbf_np(p["xt"], x) + 0.3).astype(np.float32)
    dyn = gradient_descent_mse(K, y, learning_rate=0.5)
    decay, phi = dyn.filters(np.array([2.0, np.inf]))
    null = np.asarray(dyn.eigenvalues) == 0
    assert null.sum() >= 6
    np.testing.assert_allclose(phi[0][null], 0.5 * 2.0)  # φ_t(0) = η t
    np.testing.assert_allclose(decay[0][null], 1.0)
    assert np.all(np.asarray(phi[1][null]) == 0) and np.all(np.asarray(decay[1][null]) == 1)
    for t in [1.0, 1e3, 1e8, np.inf]:
        assert np.all(np.isfinite(np.asarray(dyn.test(t, Kt)))) and np.all(np.isfinite(np.asarray(dyn.train(t))))
    ref = KernelRidgePath.fit(K, y).predict(Kt, [0.0])[0]  # the pseudo-inverse solution
    np.testing.assert_allclose(dyn.test(np.inf, Kt), ref, rtol=1e-3, atol=1e-3)
    np.testing.assert_allclose(dyn.test(1e6, Kt), ref, rtol=1e-3, atol=1e-3)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_dtype_is_kept(dtype, problem, request):
    if dtype == "float64":
        request.getfixturevalue("x64")
    p = problem
    dyn = gradient_descent_mse(p["ntk"].astype(dtype), p["y"].astype(dtype))
    Kt = p["ntk_tx"].astype(dtype)
    outs = [dyn.train(1.0), dyn.test(1.0, Kt), dyn.train_cov(1.0, p["nngp"].astype(dtype)),
            dyn.test_cov(1.0, Kt, p["nngp_tt"].astype(dtype), nngp_train=p["nngp"].astype(dtype),
                         nngp_test_train=p["nngp_tx"].astype(dtype)), *dyn.filters(1.0)]
    assert all(o.dtype == jnp.dtype(dtype) for o in outs)


def test_shapes_for_time_arrays_and_outputs(problem):
    p = problem
    dyn = gradient_descent_mse(p["ntk"], p["y"])
    t = np.array([[0.0, 1.0, 2.0], [3.0, 4.0, np.inf]])
    assert dyn.train(t).shape == (2, 3, 6, 2)
    assert dyn.test(t, p["ntk_tx"]).shape == (2, 3, 4, 2)
    assert dyn.test(2.0, p["ntk_tx"]).shape == (4, 2)
    assert dyn.test_cov(t, p["ntk_tx"], p["nngp_tt"], nngp_train=p["nngp"],
                        nngp_test_train=p["nngp_tx"]).shape == (2, 3, 4, 4)
    assert dyn.train_cov(t, p["nngp"]).shape == (2, 3, 6, 6)
    assert [a.shape for a in dyn.filters(t)] == [(2, 3, 6)] * 2
    single = gradient_descent_mse(p["ntk"], p["y"][:, 0])
    np.testing.assert_allclose(single.test(t, p["ntk_tx"]), dyn.test(t, p["ntk_tx"])[..., 0], rtol=1e-5, atol=1e-6)


def test_jit_vmap_and_pytree(problem):
    p = problem

    @jax.jit
    def predict(K, y, Kt, t):
        return gradient_descent_mse(K, y, learning_rate=0.5).test(t, Kt)

    eager = gradient_descent_mse(p["ntk"], p["y"], learning_rate=0.5)
    np.testing.assert_allclose(predict(p["ntk"], p["y"], p["ntk_tx"], 2.0), eager.test(2.0, p["ntk_tx"]),
                               rtol=1e-5, atol=1e-6)
    through = jax.jit(lambda d, t: d.train(t))(eager, 1.5)
    np.testing.assert_allclose(through, eager.train(1.5), rtol=1e-6)
    vm = jax.vmap(lambda t: eager.test(t, p["ntk_tx"]))(jnp.array([0.5, 1.0]))
    np.testing.assert_allclose(vm, eager.test(np.array([0.5, 1.0]), p["ntk_tx"]), rtol=1e-5, atol=1e-6)
    assert isinstance(jax.tree.map(lambda a: a, eager), MSEDynamics)


# ------------------------------------------------------------------------------------------ errors
def test_bad_inputs(problem):
    p = problem
    K, y, Kt = p["ntk"], p["y"], p["ntk_tx"]
    with pytest.raises(ValueError, match="not positive semi-definite"):
        gradient_descent_mse(K - 3 * np.eye(6), y)
    with pytest.raises(ValueError, match="square"):
        gradient_descent_mse(K[:5], y)
    with pytest.raises(ValueError, match="symmetric"):
        gradient_descent_mse(K + np.triu(np.ones((6, 6)), 1), y)
    with pytest.raises(ValueError, match="rows"):
        gradient_descent_mse(K, y[:5])
    with pytest.raises(ValueError, match="NaN"):
        gradient_descent_mse(np.where(np.eye(6) > 0, np.nan, K), y)
    with pytest.raises(ValueError, match="learning_rate"):
        gradient_descent_mse(K, y, learning_rate=0.0)
    with pytest.raises(ValueError, match="diag_reg"):
        gradient_descent_mse(K, y, diag_reg=-1.0)
    dyn = gradient_descent_mse(K, y)
    with pytest.raises(ValueError, match=">= 0"):
        dyn.train(-1.0)
    with pytest.raises(ValueError, match=">= 0"):
        dyn.test(np.array([1.0, -0.5]), Kt)
    with pytest.raises(ValueError, match="NaN"):
        dyn.train(np.nan)
    with pytest.raises(ValueError, match="f0_train"):
        dyn.train(1.0, f0_train=np.zeros(6))
    with pytest.raises(ValueError, match="f0_test"):
        dyn.test(1.0, Kt, f0_test=np.zeros((3, 2)))
    with pytest.raises(ValueError, match="k_test_train"):
        dyn.test(1.0, Kt[:, :5])
    with pytest.raises(ValueError, match="nngp_test"):
        dyn.test_cov(1.0, Kt, np.eye(3))
    with pytest.raises(ValueError, match="both"):
        dyn.test_cov(1.0, Kt, p["nngp_tt"], nngp_train=p["nngp"])
    with pytest.raises(ValueError, match="nngp_train"):
        dyn.test_cov(1.0, Kt, p["nngp_tt"], nngp_train=p["nngp"][:5, :5], nngp_test_train=p["nngp_tx"])
    with pytest.raises(ValueError, match="nngp_test_train"):
        dyn.test_cov(1.0, Kt, p["nngp_tt"], nngp_train=p["nngp"], nngp_test_train=p["nngp_tx"][:3])
    with pytest.raises(ValueError, match="nngp_train"):
        dyn.train_cov(1.0, p["nngp"] - 5 * np.eye(6) + np.triu(np.ones((6, 6)), 1))


# ------------------------------------------------------------------------------------------ networks
def _wide_net(width):
    return nn.serial(nn.Dense(width, W_std=1.5, b_std=0.2), nn.Relu(), nn.Dense(1, W_std=1.5, b_std=0.2))


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["ntk", "nngp"])
def test_monte_carlo_over_wide_networks(mode):
    """Mean and covariance over 1500 gradient-descent-trained width-256 networks match the formulas.

    "ntk": all parameters trained; "nngp": only the readout layer (its NTK is the NNGP kernel)."""
    rng = np.random.default_rng(3)
    x = rng.normal(size=(5, 3)).astype(np.float32)
    xt = rng.normal(size=(3, 3)).astype(np.float32)
    y = np.array([1.0, -0.5, 0.3, 0.8, -1.0], np.float32)
    net = _wide_net(256)
    k_train, k_cross, k_test = net.kernel(x), net.kernel(xt, x), net.kernel(xt)
    Theta = k_train.ntk if mode == "ntk" else k_train.nngp
    lr = 0.04 / float(jnp.linalg.eigvalsh(Theta)[-1])  # small steps: GD ≈ gradient flow
    steps = 150
    dyn = gradient_descent_mse(Theta, y, learning_rate=lr)

    def train_one(key):
        params = net.init_params(key, (3,))

        def loss(p):
            return 0.5 * jnp.sum((net.apply(p, x)[:, 0] - y) ** 2)

        def step(p, _):
            g = jax.grad(loss)(p)
            if mode == "nngp":  # freeze the hidden layer
                g = [jax.tree.map(jnp.zeros_like, g[0]), g[1], g[2]]
            return jax.tree.map(lambda a, b: a - lr * b, p, g), None

        params = jax.lax.scan(step, params, None, length=steps)[0]
        return net.apply(params, xt)[:, 0]

    outs = np.asarray(jax.jit(jax.vmap(train_one))(jax.random.split(jax.random.key(0), 1500)), np.float64)
    if mode == "ntk":
        mean = dyn.test(steps, k_cross.ntk)
        cov = dyn.test_cov(steps, k_cross.ntk, k_test.nngp, nngp_train=k_train.nngp, nngp_test_train=k_cross.nngp)
    else:
        mean = dyn.test(steps, k_cross.nngp)
        cov = dyn.test_cov(steps, k_cross.nngp, k_test.nngp)
    mean, cov = np.asarray(mean, np.float64), np.asarray(cov, np.float64)
    scale = np.sqrt(np.max(np.diag(cov)))
    assert np.max(np.abs(outs.mean(0) - mean)) < 0.1 * scale, (outs.mean(0), mean)
    mc_cov = np.cov(outs.T)
    assert np.linalg.norm(mc_cov - cov) < 0.12 * np.linalg.norm(cov), (mc_cov, cov)
    # training really changed the distribution, so the test can tell the formula from the prior
    assert np.linalg.norm(cov - np.asarray(k_test.nngp)) > 0.5 * np.linalg.norm(np.asarray(k_test.nngp))


@pytest.mark.slow
def test_fit_follows_the_linearised_flow():
    """A wide network trained with ``ntkbook.train.fit`` (full-batch SGD on ``mse_loss``) follows the
    flow of its own empirical NTK with ``learning_rate = 2·lr/n``."""
    rng = np.random.default_rng(5)
    x = rng.normal(size=(4, 3)).astype(np.float32)
    xt = rng.normal(size=(6, 3)).astype(np.float32)
    y = np.array([[1.0], [-0.5], [0.3], [0.8]], np.float32)
    model = _wide_net(2048).module(rngs=nnx.Rngs(0), input_shape=(3,))
    f0, f0t = model(x), model(xt)
    ntk = kernels.empirical_ntk(model, np.concatenate([x, xt]), x)
    lr, steps = 0.05, 40
    dyn = gradient_descent_mse(ntk[:4], y, learning_rate=2 * lr / 4)
    train.fit(model, train.mse_loss, (x, y), optax.sgd(lr), steps=steps, log_every=steps, progress=False)
    pred = dyn.test(steps, ntk[4:], f0_train=f0, f0_test=f0t)
    moved = float(jnp.max(jnp.abs(model(xt) - f0t)))
    assert moved > 0.1
    assert float(jnp.max(jnp.abs(model(xt) - pred))) < 0.05 * moved
    np.testing.assert_allclose(model(x), dyn.train(steps, f0_train=f0), atol=0.05 * moved)
