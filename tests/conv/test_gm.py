"""Gaussian-mixture networks (P165): rasters, NNLS, ReLU fitting, weighted EM and the GM conv layer."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.optimize
from flax import nnx

from ntkbook import conv


def _random_gm(rng, c, m, d=2, spread=1.0, scale=(0.2, 0.5)):
    w = rng.uniform(0.5, 1.5, (c, m))
    mu = rng.uniform(-spread, spread, (c, m, d))
    a = rng.uniform(*scale, (c, m, d, d))
    cov = a @ np.swapaxes(a, -1, -2) + scale[0] ** 2 * np.eye(d)
    return w, mu, cov


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_raster_mass_and_convolution_of_gaussians(x64, dtype):
    """∫f = Σ weights, and the conv of two Gaussians is the Gaussian with summed means and covariances."""
    rng = np.random.default_rng(0)
    w, mu, cov = (a.astype(dtype) for a in _random_gm(rng, 2, 3))
    h = 10.0 / 96
    img = conv.gaussian_mixture_raster(w, mu, cov, 96, extent=(-5, 5))
    assert img.shape == (2, 96, 96) and img.dtype == dtype
    tol = 1e-4 if dtype == np.float32 else 1e-9
    assert np.allclose(np.asarray(img).sum((1, 2)) * h * h, w.sum(1), rtol=tol)
    # single Gaussians: N(a, A) * N(b, B) = N(a + b, A + B), weights multiply
    f = (w[:1, :1], mu[:1, :1], cov[:1, :1])
    g = (w[1:, :1], mu[1:, :1], cov[1:, :1])
    cw, cm, cc = conv.gaussian_mixture_conv(f, g)
    assert np.allclose(cw, w[0, 0] * w[1, 0], rtol=tol)
    assert np.allclose(cm, mu[0, 0] + mu[1, 0], rtol=tol)
    assert np.allclose(cc, cov[0, 0] + cov[1, 0], rtol=tol)


def test_pixel_centres():
    c = np.asarray(conv.pixel_centres(4, (-1.0, 1.0)))
    assert c.shape == (4, 4, 2)
    assert np.allclose(c[:, 0, 0], [-0.75, -0.25, 0.25, 0.75]) and np.allclose(c[0, :, 1], c[:, 0, 0])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_nnls_matches_scipy_and_is_exact_when_representable(x64, dtype):
    rng = np.random.default_rng(1)
    A = rng.standard_normal((30, 6))
    b = rng.standard_normal(30)
    ref, _ = scipy.optimize.nnls(A, b)
    w = np.asarray(conv.nonnegative_lstsq(A.astype(dtype), b.astype(dtype), iterations=300))
    tol = 1e-4 if dtype == np.float32 else 1e-10
    assert np.all(w >= 0) and np.allclose(w, ref, atol=tol)
    w_true = np.array([0.0, 1.5, 0.0, 2.0, 0.3, 0.0])
    w = np.asarray(conv.nonnegative_lstsq(A.astype(dtype), (A @ w_true).astype(dtype), iterations=300))
    assert np.allclose(w, w_true, atol=tol)
    # batched, and differentiable
    wb = conv.nonnegative_lstsq(np.stack([A, 2 * A]).astype(dtype), np.stack([b, b]).astype(dtype))
    assert wb.shape == (2, 6) and np.allclose(wb[1], np.asarray(wb[0]) / 2, atol=10 * tol)
    grad = jax.grad(lambda bb: conv.nonnegative_lstsq(A.astype(dtype), bb).sum())(b.astype(dtype))
    assert np.all(np.isfinite(np.asarray(grad)))


def test_relu_fit_exact_when_representable(x64):
    """A non-negative mixture whose K heaviest components carry everything is recovered exactly."""
    rng = np.random.default_rng(2)
    w, mu, cov = _random_gm(rng, 2, 4, spread=2.0)
    w = np.concatenate([w, np.zeros((2, 3))], axis=1)                     # 3 components of weight 0
    mu = np.concatenate([mu, rng.uniform(-2, 2, (2, 3, 2))], axis=1)
    cov = np.concatenate([cov, np.broadcast_to(0.1 * np.eye(2), (2, 3, 2, 2))], axis=1)
    fw, fm, fc = conv.gaussian_mixture_relu_fit(w, mu, cov, jax.random.key(0), num_components=4,
                                                num_random=32, iterations=500)
    assert fw.shape == (2, 4) and fm.shape == (2, 4, 2) and fc.shape == (2, 4, 2, 2)
    order = np.argsort(-w, axis=1)[:, :4]
    assert np.allclose(fm, np.take_along_axis(mu, order[..., None], 1))
    assert np.allclose(fw, np.take_along_axis(w, order, 1), rtol=1e-8)


def test_relu_fit_approximates_relu_on_a_grid(x64):
    rng = np.random.default_rng(3)
    w, mu, cov = _random_gm(rng, 1, 12, spread=1.5)
    w = w * np.where(rng.random((1, 12)) < 0.35, -0.6, 1.0)              # some negative components
    fit = conv.gaussian_mixture_relu_fit(w, mu, cov, jax.random.key(1), num_components=8, num_random=64)
    assert np.all(np.asarray(fit[0]) >= 0)
    target = np.maximum(np.asarray(conv.gaussian_mixture_raster(w, mu, cov, 64, extent=(-4, 4))), 0)
    approx = np.asarray(conv.gaussian_mixture_raster(*fit, 64, extent=(-4, 4)))
    assert np.linalg.norm(approx - target) / np.linalg.norm(target) < 0.3


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_em_recovers_a_known_mixture(x64, dtype):
    rng = np.random.default_rng(4)
    true_mu = np.array([[-3.0, 0.0], [0.0, 4.0], [3.0, 0.5]])                 # sorted by x
    true_sd = np.array([0.5, 0.6, 0.8])
    n = 600
    x = np.concatenate([m + s * rng.standard_normal((n, 2)) for m, s in zip(true_mu, true_sd)])
    w, mu, cov = conv.gaussian_mixture_em(x.astype(dtype), np.full(3 * n, 2.0, dtype), 3, jax.random.key(0),
                                          iterations=60)
    assert w.dtype == dtype and np.isclose(float(w.sum()), 2.0 * 3 * n, rtol=1e-4)
    order = np.argsort(np.asarray(mu)[:, 0])
    assert np.allclose(np.asarray(mu)[order], true_mu, atol=0.12)
    assert np.allclose(np.asarray(w)[order] / w.sum(), 1 / 3, atol=0.01)
    sd = np.sqrt(np.asarray(cov)[order][:, [0, 1], [0, 1]])
    assert np.allclose(sd, true_sd[:, None], rtol=0.1)
    # intensities as weights: duplicating a point = doubling its value
    wb, mub, _ = conv.gaussian_mixture_em(x[:, :].astype(dtype), np.stack([np.ones(3 * n), 3 * np.ones(3 * n)]),
                                          3, jax.random.key(0), iterations=30)
    m0, m1 = (np.asarray(m)[np.argsort(np.asarray(m)[:, 0])] for m in mub)     # each image has its own key
    assert wb.shape == (2, 3) and np.allclose(m0, m1, atol=1e-3)


def test_em_image_fit_reproduces_the_image(x64):
    size = 12
    pts = conv.pixel_centres(size).reshape(-1, 2)
    truth = (np.array([[0.6, 0.4]]), np.array([[[0.3, 0.3], [0.7, 0.6]]]),
             np.broadcast_to(np.array([[0.01, 0.003], [0.003, 0.006]]), (1, 2, 2, 2)))
    img = np.asarray(conv.gaussian_mixture_raster(*truth, size))[0]
    h = 1 / size
    w, mu, cov = conv.gaussian_mixture_em(pts, img.reshape(-1), 2, jax.random.key(0), iterations=100,
                                          min_variance=h * h / 12)
    back = np.asarray(conv.gaussian_mixture_raster(w[None] * h * h, mu[None], cov[None], size))[0]
    # the pixel-variance floor h²/12 widens each fitted Gaussian slightly: a few per cent of error
    assert np.linalg.norm(back - img) / np.linalg.norm(img) < 0.1


def test_gm_conv_layer_matches_analytic_convolution_and_trains():
    layer = conv.GaussianMixtureConv(2, 3, 2, output_components=4, relu=False, rngs=nnx.Rngs(0))
    rng = np.random.default_rng(5)
    w, mu, cov = (jnp.asarray(a, jnp.float32) for a in _random_gm(rng, 2, 5))
    x = (w[None], mu[None], cov[None])                                    # batch of 1, 2 channels, K = 5
    cw, cm, cc = layer(x)
    assert cw.shape == (1, 3, 2 * 5 * 2) and cc.shape == (1, 3, 20, 2, 2)
    kw, km, kc = layer.kernel()
    ref = conv.gaussian_mixture_conv((w, mu, cov), (kw[1], km[1], kc[1]))
    assert np.allclose(cw[0, 1], ref[0].reshape(-1), atol=1e-6)
    assert np.allclose(cm[0, 1], ref[1].reshape(-1, 2), atol=1e-6)
    assert np.all(np.linalg.eigvalsh(np.asarray(kc)) > 0)                # Cholesky parameterisation: SPD
    # with the ReLU fit: gradients reach every kernel parameter
    layer = conv.GaussianMixtureConv(2, 3, 2, output_components=4, num_random=8, rngs=nnx.Rngs(0))

    def loss(m):
        return jnp.sum(m(x)[0])

    grads = nnx.grad(loss)(layer)
    for name in ("weights", "means", "log_diag"):
        g = np.asarray(getattr(grads, name)[...])
        assert np.all(np.isfinite(g)) and np.abs(g).max() > 0


def test_errors():
    with pytest.raises(ValueError, match="extent"):
        conv.pixel_centres(4, (1.0, 0.0))
    with pytest.raises(ValueError, match="2-D"):
        conv.gaussian_mixture_raster(jnp.ones((1, 1)), jnp.zeros((1, 1, 3)), jnp.ones((1, 1, 3, 3)), 8)
    with pytest.raises(ValueError, match="need A"):
        conv.nonnegative_lstsq(jnp.ones((4, 2)), jnp.ones(3))
    with pytest.raises(ValueError, match="exceeds"):
        conv.gaussian_mixture_relu_fit(jnp.ones((1, 2)), jnp.zeros((1, 2, 2)), jnp.ones((1, 2, 2, 2)),
                                       jax.random.key(0), num_components=3)
    with pytest.raises(ValueError, match="non-negative"):
        conv.gaussian_mixture_em(jnp.zeros((4, 2)), -jnp.ones(4), 2, jax.random.key(0))
    with pytest.raises(ValueError, match="exceeds"):
        conv.gaussian_mixture_em(jnp.zeros((4, 2)), jnp.ones(4), 5, jax.random.key(0))
    with pytest.raises(ValueError, match="input channels"):
        layer = conv.GaussianMixtureConv(2, 1, 1, output_components=1, rngs=nnx.Rngs(0))
        layer((jnp.ones((1, 3, 2)), jnp.zeros((1, 3, 2, 2)), jnp.ones((1, 3, 2, 2, 2))))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_raster_matches_gaussian_mixture_kernel(x64, dtype):
    rng = np.random.default_rng(3)
    w = rng.normal(size=(2, 3)).astype(dtype)
    mu = rng.uniform(0.2, 0.8, size=(2, 3, 2)).astype(dtype)
    A = 0.1 * rng.normal(size=(2, 3, 2, 2))
    cov = (A @ np.swapaxes(A, -1, -2) + 0.01 * np.eye(2)).astype(dtype)
    img = np.asarray(conv.gaussian_mixture_raster(w, mu, cov, 16))
    ref = np.asarray(conv.gaussian_mixture_kernel(w, mu, cov, conv.pixel_centres(16).astype(dtype)))
    tol = 1e-4 if dtype == np.float32 else 1e-10
    np.testing.assert_allclose(img, ref, rtol=tol, atol=tol * np.abs(ref).max())
    with pytest.raises(ValueError):
        conv.gaussian_mixture_raster(w, mu, cov[:, :2], 16)


def test_nnls_without_polish_is_the_projected_gradient_iterate():
    rng = np.random.default_rng(1)
    A = rng.standard_normal((30, 6))
    b = rng.standard_normal(30)
    ref, _ = scipy.optimize.nnls(A, b)
    w = np.asarray(conv.nonnegative_lstsq(A, b, iterations=3000, polish=False))
    assert np.all(w >= 0) and np.allclose(w, ref, atol=1e-3)
    few = np.asarray(conv.nonnegative_lstsq(A, b, iterations=3, polish=False))
    polished = np.asarray(conv.nonnegative_lstsq(A, b, iterations=3))
    assert np.linalg.norm(A @ few - b) >= np.linalg.norm(A @ polished - b) - 1e-6   # the polish only helps
    grad = jax.grad(lambda bb: conv.nonnegative_lstsq(A, bb, iterations=10, polish=False).sum())(b)
    assert np.all(np.isfinite(np.asarray(grad)))


def test_gm_conv_layer_trains_with_one_compile():
    """Parameters are not weakly typed, so an optimizer step keeps their types and a jitted step compiles once."""
    import optax

    rng = np.random.default_rng(5)
    w, mu, cov = (jnp.asarray(a, jnp.float32) for a in _random_gm(rng, 1, 5))
    x = (w[None], mu[None], cov[None])
    layer = conv.GaussianMixtureConv(1, 2, 2, output_components=3, num_random=0, nnls_iterations=5,
                                     rngs=nnx.Rngs(0))
    assert not any(getattr(p[...], "weak_type", False) for p in jax.tree.leaves(nnx.state(layer, nnx.Param)))
    opt = nnx.Optimizer(layer, optax.adam(1e-2), wrt=nnx.Param)
    traces = []

    @nnx.jit
    def step(model, opt):
        traces.append(1)
        loss, grads = nnx.value_and_grad(lambda m: jnp.sum(m(x)[0] ** 2))(model)
        opt.update(model, grads)
        return loss

    losses = [float(step(layer, opt)) for _ in range(3)]
    assert len(traces) == 1 and all(np.isfinite(losses))
