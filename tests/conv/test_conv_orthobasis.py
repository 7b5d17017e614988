"""Orthonormal time bases (real DFT, OrthoTrans), the lag correlation matrix, and NormLin."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from ntkbook.conv import NormLin, lag_correlation, orthotrans_basis, real_dft_basis


@pytest.mark.parametrize("L", [1, 2, 7, 8, 96])
def test_dft_basis_orthonormal(L):
    Q = np.asarray(real_dft_basis(L))
    np.testing.assert_allclose(Q.T @ Q, np.eye(L), atol=1e-5)


@pytest.mark.parametrize("L", [7, 8])
def test_dft_basis_matches_numpy_fft(x64, L):
    x = np.random.default_rng(L).normal(size=L)
    Q = real_dft_basis(L)
    assert Q.dtype == jnp.float64
    coef = np.asarray(Q.T @ x)
    X = np.fft.rfft(x)
    expected = [X[0].real / np.sqrt(L)]
    for k in range(1, (L + 1) // 2):
        expected += [np.sqrt(2 / L) * X[k].real, -np.sqrt(2 / L) * X[k].imag]
    if L % 2 == 0:
        expected.append(X[L // 2].real / np.sqrt(L))
    np.testing.assert_allclose(coef, expected, atol=1e-12)


def test_dft_basis_low_frequencies_first():
    Q = np.asarray(real_dft_basis(16))
    # column j holds the single frequency (j + 1) // 2
    freq = np.abs(np.fft.rfft(Q, axis=0)).argmax(0)
    np.testing.assert_array_equal(freq, (np.arange(16) + 1) // 2)


def test_dft_basis_bad_input():
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ValueError):
            real_dft_basis(bad)
    with pytest.raises(ValueError):
        real_dft_basis(4, dtype=jnp.int32)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_lag_correlation_matches_corrcoef(x64, dtype):
    rng = np.random.default_rng(0)
    w = np.cumsum(rng.normal(size=(300, 6, 3)), axis=1).astype(dtype)
    R = lag_correlation(w)
    assert R.shape == (6, 6) and R.dtype == dtype
    expected = np.mean([np.corrcoef(w[:, :, c].T) for c in range(3)], axis=0)
    np.testing.assert_allclose(np.asarray(R), expected, atol=1e-5 if dtype == np.float32 else 1e-12)
    np.testing.assert_allclose(np.asarray(lag_correlation(w[:, :, 0])), np.corrcoef(w[:, :, 0].T),
                               atol=1e-5 if dtype == np.float32 else 1e-12)


def test_lag_correlation_constant_position():
    w = np.random.default_rng(1).normal(size=(50, 3))
    w[:, 1] = 2.0
    R = np.asarray(lag_correlation(w))
    np.testing.assert_allclose(R[1], [0.0, 1.0, 0.0], atol=1e-6)


@pytest.mark.parametrize("bad", [np.ones(5), np.ones((1, 4)), np.ones((2, 3, 4, 5)), np.full((4, 3), np.nan)])
def test_lag_correlation_bad_input(bad):
    with pytest.raises(ValueError):
        lag_correlation(bad)


def test_orthotrans_diagonalises_and_orders(x64):
    w = np.cumsum(np.random.default_rng(2).normal(size=(400, 10, 2)), axis=1)
    Q, lam = orthotrans_basis(w)
    Q, lam = np.asarray(Q), np.asarray(lam)
    R = np.asarray(lag_correlation(w))
    np.testing.assert_allclose(Q.T @ Q, np.eye(10), atol=1e-12)
    np.testing.assert_allclose(Q.T @ R @ Q, np.diag(lam), atol=1e-10)
    assert np.all(np.diff(lam) <= 1e-12) and abs(lam.sum() - 10) < 1e-9
    np.testing.assert_allclose(lam, np.sort(np.linalg.eigvalsh(R))[::-1], atol=1e-10)
    assert np.all(Q[np.abs(Q).argmax(0), np.arange(10)] > 0)  # sign convention


def test_orthotrans_energy_compaction_beats_dft():
    # on smooth random-walk windows the top-k KLT coefficients hold at least as much energy as any
    # k DFT coefficients chosen by frequency
    w = np.cumsum(np.random.default_rng(3).normal(size=(500, 16)), axis=1)
    w = (w - w.mean(0)) / w.std(0)
    Q, _ = orthotrans_basis(w)
    F = real_dft_basis(16)
    e_klt = np.cumsum(np.sum(np.asarray(w @ Q) ** 2, 0)) / np.sum(w**2)
    e_dft = np.cumsum(np.sum(np.asarray(w @ F) ** 2, 0)) / np.sum(w**2)
    assert np.all(e_klt >= e_dft - 1e-6)


def test_normlin_matrix_and_apply(x64):
    layer = NormLin(4, rngs=nnx.Rngs(0), init_std=1.0)
    A = np.asarray(layer.matrix())
    assert np.all(A > 0)
    np.testing.assert_allclose(A.sum(1), 1.0, atol=1e-6)
    W = np.asarray(layer.weight[...], dtype=np.float64)
    sp = np.log1p(np.exp(W))
    np.testing.assert_allclose(A, sp / sp.sum(1, keepdims=True), atol=1e-6)
    x = np.random.default_rng(0).normal(size=(2, 4, 3))
    np.testing.assert_allclose(np.asarray(layer(x)), np.einsum("ij,bjd->bid", A, x), atol=1e-6)
    layer0 = NormLin(5, rngs=nnx.Rngs(0), axis=0)
    z = np.random.default_rng(1).normal(size=(5, 2))
    np.testing.assert_allclose(np.asarray(layer0(z)), np.asarray(layer0.matrix()) @ z, atol=1e-6)


def test_normlin_preserves_constants_and_has_gradients():
    layer = NormLin(3, rngs=nnx.Rngs(1), init_std=0.5)
    np.testing.assert_allclose(np.asarray(layer(jnp.ones((3, 2)))), 1.0, atol=1e-6)
    x = jax.random.normal(jax.random.key(0), (3, 2))
    grads = nnx.grad(lambda m: jnp.sum(m(x) ** 2))(layer)
    assert np.all(np.isfinite(np.asarray(grads.weight[...]))) and np.abs(np.asarray(grads.weight[...])).sum() > 0


def test_normlin_bad_input():
    with pytest.raises(ValueError):
        NormLin(0, rngs=nnx.Rngs(0))
    with pytest.raises(ValueError):
        NormLin(3, rngs=nnx.Rngs(0), init_std=-1.0)
    with pytest.raises(ValueError):
        NormLin(3, rngs=nnx.Rngs(0))(jnp.ones((2, 4, 5)))
