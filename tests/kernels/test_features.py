"""Tests for ntkbook.kernels.features: Monte-Carlo agreement with the exact kernels, the orthogonal
variance reduction, exact identities, gradients, dtypes, bad input, jit/vmap and pytree behaviour."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ntkbook.kernels import (
    ArcCosFeatures,
    LinearGaussianFeatures,
    RandomFourierFeatures,
    arccos,
    arccos_features,
    linear,
    linear_gaussian_features,
    orthogonal_random_features,
    random_fourier_features,
    rbf,
)

D_IN = 8
ARD = np.linspace(0.6, 1.6, D_IN)

# name -> (factory(key, num_features), whether inputs are scaled to unit typical distance, threshold)
# Thresholds on the relative Frobenius error at D = 4096 (mean over 3 keys): about twice the mean
# measured over 10 keys on the 24 test points, and above the largest single-key error seen
# (mean / max: rff 0.025/0.028, rff_cos 0.027/0.030, rff_ard 0.025/0.033, orf 0.008/0.010,
# orf_cos 0.024/0.028, linear 0.039/0.050, arccos0 0.024/0.034, arccos1 0.041/0.071,
# arccos2 0.077/0.109). At D = 256 the mean errors were 3.8-4.5x larger (sqrt(4096/256) = 4).
MAPS = {
    "rff": (lambda k, n: random_fourier_features(k, D_IN, n), 0.05),
    "rff_cos": (lambda k, n: random_fourier_features(k, D_IN, n, kind="cos", variance=2.0), 0.06),
    "rff_ard": (lambda k, n: random_fourier_features(k, D_IN, n, lengthscale=ARD), 0.05),
    "orf": (lambda k, n: orthogonal_random_features(k, D_IN, n, lengthscale=1.3), 0.02),
    "orf_cos": (lambda k, n: orthogonal_random_features(k, D_IN, n, kind="cos"), 0.05),
    "linear": (lambda k, n: linear_gaussian_features(k, D_IN, n), 0.09),
    "arccos0": (lambda k, n: arccos_features(k, D_IN, n, order=0), 0.05),
    "arccos1": (lambda k, n: arccos_features(k, D_IN, n, order=1), 0.09),
    "arccos2": (lambda k, n: arccos_features(k, D_IN, n, order=2), 0.18),
}

# Subsets that cover every distinct code path (kind, order, class) for the costlier generic tests.
PATHS = ("rff", "rff_cos", "linear", "arccos0", "arccos1", "arccos2")
CLASSES = ("rff", "rff_cos", "linear", "arccos0")


def _points(seed: int, n: int, d: int = D_IN, dtype=np.float32) -> np.ndarray:
    # Scaled so that typical pairwise distances are ~sqrt(2): the RBF Gram matrix is far from both
    # the identity and the all-ones matrix.
    return (np.random.default_rng(seed).normal(size=(n, d)) / math.sqrt(d)).astype(dtype)


def _rel_error(phi, x) -> float:
    k = np.asarray(phi.kernel(x), dtype=np.float64)
    return float(np.linalg.norm(np.asarray(phi.gram(x), dtype=np.float64) - k) / np.linalg.norm(k))


# --------------------------------------------------------------------------------------------------
# Monte-Carlo agreement
# --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(MAPS))
def test_monte_carlo_error_decays_like_inverse_sqrt_d(name):
    make, threshold = MAPS[name]
    x = jnp.asarray(_points(0, 24))
    errors = {n: np.mean([_rel_error(make(jax.random.key(s), n), x) for s in range(3)]) for n in (256, 4096)}
    assert errors[4096] < threshold, errors
    assert errors[4096] < errors[256], errors
    # 1/sqrt(D) scaling: the error ratio between D = 256 and D = 4096 is about sqrt(16) = 4.
    assert 2.5 < errors[256] / errors[4096] < 6.5, errors


def test_monte_carlo_float64(x64):
    x = jnp.asarray(_points(1, 16, dtype=np.float64))
    for phi in (random_fourier_features(jax.random.key(3), D_IN, 4096, dtype=jnp.float64),
                arccos_features(jax.random.key(4), D_IN, 4096, order=1, dtype=jnp.float64)):
        assert phi(x).dtype == jnp.float64 and phi.gram(x).dtype == jnp.float64
        assert _rel_error(phi, x) < 0.09


def test_estimates_are_unbiased_on_average():
    """Averaging the estimate over independent maps approaches the kernel (error ~ 1/sqrt(#maps))."""
    x = jnp.asarray(_points(2, 12))
    keys = jax.random.split(jax.random.key(5), 64)
    for make, kernel in ((lambda k: random_fourier_features(k, D_IN, 64), rbf),
                         (lambda k: arccos_features(k, D_IN, 64, order=1), arccos)):
        mean_gram = jnp.mean(jax.vmap(lambda k: make(k).gram(x))(keys), axis=0)
        err = np.linalg.norm(mean_gram - kernel(x)) / np.linalg.norm(kernel(x))
        # One map with 64 features errs by ~0.16 (rff) / ~0.28 (arccos1) here; the mean of 64 maps
        # by ~1/8 of that.
        assert err < 0.08


def test_orthogonal_features_beat_iid_fourier_features():
    """Yu et al. (2016): block-orthogonal frequencies lower the error of the RBF estimate.

    Measured with d = 16, lengthscale 1, D = 64 (two orthogonal blocks of frequencies), 24 points at
    typical distance ~sqrt(2): mean relative error iid 0.23, orthogonal 0.13 (ratio ~0.59, over 40
    draws; orthogonal won in 40/40 paired draws). The gain is smaller for short lengthscales
    (ratio ~0.97 at lengthscale 0.5), larger for long ones (~0.4 at 2)."""
    d = 16
    x = jnp.asarray(_points(6, 24, d))
    iid = [_rel_error(random_fourier_features(jax.random.key(s), d, 64), x) for s in range(8)]
    orth = [_rel_error(orthogonal_random_features(jax.random.key(100 + s), d, 64), x) for s in range(8)]
    assert np.mean(orth) < 0.8 * np.mean(iid), (np.mean(orth), np.mean(iid))


# --------------------------------------------------------------------------------------------------
# Structure and exact identities
# --------------------------------------------------------------------------------------------------

def test_fourier_structure_and_kernel_attribute():
    phi = random_fourier_features(jax.random.key(0), 3, 10, lengthscale=[1.0, 2.0, 0.5], variance=1.7)
    assert isinstance(phi, RandomFourierFeatures)
    assert phi.weights.shape == (5, 3) and phi.offsets is None
    assert phi.num_features == 10 and phi.input_dim == 3
    np.testing.assert_allclose(np.asarray(phi.frequencies), np.asarray(phi.weights) / [1.0, 2.0, 0.5])
    x = jnp.asarray(_points(1, 4, 3))
    np.testing.assert_allclose(np.asarray(phi.kernel(x)),
                               np.asarray(rbf(x, lengthscale=jnp.array([1.0, 2.0, 0.5]), variance=1.7)))
    f = np.asarray(phi(x))
    assert f.shape == (4, 10)
    # cos^2 + sin^2 = 1: each row has squared norm equal to the variance, exactly as k(x, x).
    np.testing.assert_allclose((f ** 2).sum(1), 1.7, rtol=1e-5)
    # Reusing the weights by hand reproduces the features.
    z = np.asarray(x) @ np.asarray(phi.frequencies).T
    np.testing.assert_allclose(f, math.sqrt(1.7 / 5) * np.concatenate([np.cos(z), np.sin(z)], 1), rtol=1e-5,
                               atol=1e-6)

    phi_cos = random_fourier_features(jax.random.key(0), 3, 7, kind="cos")
    assert phi_cos.weights.shape == (7, 3) and phi_cos.offsets.shape == (7,)
    offsets = np.asarray(phi_cos.offsets)
    assert np.all((offsets >= 0) & (offsets < 2 * math.pi))
    assert phi_cos(x).shape == (4, 7)


def test_orthogonal_weights_structure():
    d, m = 4, 13  # three full blocks and a truncated one
    phi = orthogonal_random_features(jax.random.key(1), d, 2 * m)
    w = np.asarray(phi.weights, dtype=np.float64)
    assert w.shape == (m, d)
    for start in range(0, m, d):
        block = w[start:start + d]
        unit = block / np.linalg.norm(block, axis=1, keepdims=True)
        np.testing.assert_allclose(unit @ unit.T, np.eye(len(block)), atol=1e-5)


def test_orthogonal_row_norms_are_chi_distributed():
    # Row norms^2 ~ chi^2_d: mean d, variance 2d. 2048 rows -> standard error of the mean ~0.1.
    d = 16
    w = np.asarray(orthogonal_random_features(jax.random.key(2), d, 4096).weights, dtype=np.float64)
    sq = (w ** 2).sum(1)
    assert abs(sq.mean() - d) < 0.6
    assert abs(sq.var() - 2 * d) < 0.25 * 2 * d


def test_linear_gaussian_features_exact_identity():
    phi = linear_gaussian_features(jax.random.key(3), 5, 40)
    assert isinstance(phi, LinearGaussianFeatures) and phi.weights.shape == (40, 5)
    assert phi.kernel is linear
    x, y = _points(4, 3, 5, np.float64), _points(5, 6, 5, np.float64)
    w = np.asarray(phi.weights, dtype=np.float64)
    np.testing.assert_allclose(np.asarray(phi(x)), x @ w.T / math.sqrt(40), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.asarray(phi.gram(x, y)), x @ (w.T @ w / 40) @ y.T, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("order", [0, 1, 2])
def test_arccos_features_exact_forms(order):
    phi = arccos_features(jax.random.key(6), 3, 50, order=order)
    assert isinstance(phi, ArcCosFeatures) and phi.order == order and phi.weights.shape == (50, 3)
    x = _points(7, 4, 3)
    z = x.astype(np.float64) @ np.asarray(phi.weights, dtype=np.float64).T
    expected = math.sqrt(2 / 50) * np.where(z > 0, z ** order, 0.0)
    np.testing.assert_allclose(np.asarray(phi(x)), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.asarray(phi.kernel(x)), np.asarray(arccos(x, order=order)))
    # Zero input: Θ(0) = 1/2 makes the estimate equal the kernel's k0(0, 0) = 1/2 exactly.
    zero = jnp.zeros((1, 3))
    k_zero = 0.5 if order == 0 else 0.0
    assert float(phi.gram(zero)[0, 0]) == pytest.approx(k_zero, abs=1e-6)
    assert float(phi.kernel(zero)[0, 0]) == pytest.approx(k_zero, abs=1e-6)


# --------------------------------------------------------------------------------------------------
# Gradients
# --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", PATHS)
def test_gradients_finite(name):
    make, _ = MAPS[name]
    phi = make(jax.random.key(7), 32)
    x = jnp.asarray(np.concatenate([_points(8, 3), np.zeros((1, D_IN), np.float32)]))
    g = jax.jit(jax.grad(lambda z: jnp.sum(phi.gram(z) ** 2) + jnp.sum(phi(z))))(x)
    assert np.all(np.isfinite(np.asarray(g)))


def test_gradient_wrt_hyperparameters():
    x = jnp.asarray(_points(9, 5))

    def loss(ls, var):
        phi = random_fourier_features(jax.random.key(0), D_IN, 32, lengthscale=ls, variance=var)
        return jnp.sum(phi(x) ** 2)
    g_ls, g_var = jax.grad(loss, argnums=(0, 1))(1.2, 0.8)
    # sum of squared cos/sin features = N * variance, independent of the lengthscale.
    assert float(g_ls) == pytest.approx(0.0, abs=1e-4)
    assert float(g_var) == pytest.approx(5.0, rel=1e-5)


# --------------------------------------------------------------------------------------------------
# dtypes, jit, vmap, pytrees
# --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", CLASSES)
def test_dtypes(name, x64):
    make, _ = MAPS[name]
    phi = make(jax.random.key(10), 16)  # weights are float64 under x64
    x = _points(11, 3, dtype=np.float64)
    assert phi(x).dtype == jnp.float64
    assert phi(x.astype(np.float32)).dtype == jnp.float32  # features keep the input dtype
    assert phi.gram(x.astype(np.float32)).dtype == jnp.float32
    np.testing.assert_allclose(np.asarray(phi(x.astype(np.float32)), dtype=np.float64), np.asarray(phi(x)),
                               rtol=1e-4, atol=1e-5)


def test_dtypes_float32_default():
    phi = random_fourier_features(jax.random.key(0), 2, 8)
    assert phi.weights.dtype == jnp.float32
    assert phi(np.ones((3, 2), np.float32)).dtype == jnp.float32
    assert phi(np.ones((3, 2), np.int32)).dtype == jnp.float32
    phi16 = arccos_features(jax.random.key(0), 2, 8, dtype=jnp.bfloat16)
    assert phi16.weights.dtype == jnp.bfloat16
    assert phi16(np.ones((3, 2), np.float32)).dtype == jnp.float32


@pytest.mark.parametrize("name", CLASSES)
def test_jit_and_pytree(name):
    make, _ = MAPS[name]
    phi = make(jax.random.key(12), 16)
    x = jnp.asarray(_points(13, 4))
    np.testing.assert_allclose(np.asarray(jax.jit(lambda p, z: p.gram(z))(phi, x)), np.asarray(phi.gram(x)),
                               rtol=1e-5, atol=1e-6)
    leaves, treedef = jax.tree_util.tree_flatten(phi)
    assert all(isinstance(leaf, jax.Array) for leaf in leaves)
    rebuilt = jax.tree_util.tree_unflatten(treedef, leaves)
    assert type(rebuilt) is type(phi)
    np.testing.assert_allclose(np.asarray(rebuilt(x)), np.asarray(phi(x)))


def test_vmap_over_keys():
    x = jnp.asarray(_points(14, 5))
    keys = jax.random.split(jax.random.key(15), 3)
    for make in (lambda k: random_fourier_features(k, D_IN, 16),
                 lambda k: orthogonal_random_features(k, D_IN, 16, kind="cos"),
                 lambda k: linear_gaussian_features(k, D_IN, 16),
                 lambda k: arccos_features(k, D_IN, 16, order=2)):
        batched = jax.vmap(lambda k: make(k)(x))(keys)
        assert batched.shape == (3, 5, 16)
        for i in range(3):
            np.testing.assert_allclose(np.asarray(batched[i]), np.asarray(make(keys[i])(x)),
                                       rtol=1e-5, atol=1e-6)
        maps = jax.vmap(make)(keys)  # a batch of feature maps (leading axis on every array leaf)
        assert maps.weights.shape[0] == 3


def test_vmap_over_inputs():
    phi = arccos_features(jax.random.key(16), D_IN, 16)
    xb = jnp.asarray(_points(17, 12).reshape(3, 4, D_IN))
    out = jax.vmap(phi.gram)(xb)
    assert out.shape == (3, 4, 4)
    np.testing.assert_allclose(np.asarray(out[1]), np.asarray(phi.gram(xb[1])), rtol=1e-5, atol=1e-6)


def test_legacy_uint32_keys():
    phi = random_fourier_features(jax.random.PRNGKey(0), 3, 4)
    assert phi(np.ones((2, 3))).shape == (2, 4)


# --------------------------------------------------------------------------------------------------
# Bad input
# --------------------------------------------------------------------------------------------------

FACTORIES = [random_fourier_features, orthogonal_random_features, linear_gaussian_features, arccos_features]


@pytest.mark.parametrize("factory", FACTORIES)
def test_size_errors(factory):
    key = jax.random.key(0)
    for bad in (0, -3, 2.0, True):
        with pytest.raises(ValueError, match="d must be a positive integer"):
            factory(key, bad, 4)
        with pytest.raises(ValueError, match="num_features must be a positive integer"):
            factory(key, 3, bad)
    with pytest.raises(ValueError, match="dtype must be a floating dtype"):
        factory(key, 3, 4, dtype=jnp.int32)
    phi = factory(key, 3, 4)
    with pytest.raises(ValueError, match=r"x must have 3 features"):
        phi(np.ones((2, 4)))
    with pytest.raises(ValueError, match="x must have rank 2"):
        phi(np.ones(3))
    with pytest.raises(ValueError, match="x contains NaN or inf"):
        phi(np.array([[0.0, np.nan, 1.0]]))


@pytest.mark.parametrize("factory", [random_fourier_features, orthogonal_random_features])
def test_fourier_hyperparameter_errors(factory):
    key = jax.random.key(0)
    with pytest.raises(ValueError, match="num_features must be even"):
        factory(key, 3, 5)
    with pytest.raises(ValueError, match="kind must be one of"):
        factory(key, 3, 4, kind="sin")
    for bad in (0.0, -1.0, np.nan):
        with pytest.raises(ValueError, match="lengthscale must be positive"):
            factory(key, 3, 4, lengthscale=bad)
        with pytest.raises(ValueError, match="variance must be positive"):
            factory(key, 3, 4, variance=bad)
    with pytest.raises(ValueError, match=r"lengthscale must be a scalar or have shape \(3,\)"):
        factory(key, 3, 4, lengthscale=np.ones(2))
    with pytest.raises(ValueError, match="variance must be a scalar"):
        factory(key, 3, 4, variance=np.ones(3))
    assert factory(key, 3, 5, kind="cos").num_features == 5  # odd sizes are fine with random phases


def test_arccos_order_errors():
    for order in (3, -1, 1.0, True, None):
        with pytest.raises(ValueError, match="order must be one of"):
            arccos_features(jax.random.key(0), 3, 4, order=order)


def test_public_api():
    import ntkbook.kernels as K
    for name in ("random_fourier_features", "orthogonal_random_features", "linear_gaussian_features",
                 "arccos_features", "RandomFourierFeatures", "LinearGaussianFeatures", "ArcCosFeatures"):
        assert name in K.__all__
    for name in ("random_fourier_features", "orthogonal_random_features", "linear_gaussian_features",
                 "arccos_features"):
        assert ">>>" in getattr(K, name).__doc__
