"""Synthetic multivariate series and sliding windows."""

import jax.numpy as jnp
import numpy as np
import pytest

from ntkbook.data import ForecastWindows, sliding_windows, synthetic_multivariate_series


def test_series_shape_standardised_and_deterministic(key):
    x = synthetic_multivariate_series(key, 480, 4)
    assert x.shape == (480, 4) and x.dtype == jnp.float32
    np.testing.assert_allclose(np.asarray(x.mean(0)), 0.0, atol=1e-5)
    np.testing.assert_allclose(np.asarray(x.std(0)), 1.0, atol=1e-5)
    np.testing.assert_array_equal(np.asarray(x), np.asarray(synthetic_multivariate_series(key, 480, 4)))


def test_standardize_with_uses_leading_steps(key):
    x = synthetic_multivariate_series(key, 480, 4, standardize_with=200)
    np.testing.assert_allclose(np.asarray(x[:200].mean(0)), 0.0, atol=1e-5)
    np.testing.assert_allclose(np.asarray(x[:200].std(0)), 1.0, atol=1e-5)


def test_pure_sinusoid_has_its_period(key):
    # no noise, no mixing, one period: the series is periodic with that period
    x = synthetic_multivariate_series(key, 480, 4, periods=(24, 24, 24), noise_std=0.0, mixing=0.0)
    np.testing.assert_allclose(np.asarray(x[24:]), np.asarray(x[:-24]), atol=1e-4)
    spectrum = np.abs(np.fft.rfft(np.asarray(x[:, 0])))
    assert spectrum.argmax() == 480 // 24


def test_ar1_noise_autocorrelation(x64, key):
    # without sinusoids or mixing, the lag-1 autocorrelation of the AR(1) noise is about ar_coef
    x = np.asarray(synthetic_multivariate_series(key, 20000, 1, amplitude_range=(0.0, 0.0), mixing=0.0,
                                                 ar_coef=0.7))[:, 0]
    assert x.dtype == np.float64
    rho = np.corrcoef(x[1:], x[:-1])[0, 1]
    assert abs(rho - 0.7) < 0.03


@pytest.mark.parametrize("kwargs", [dict(length=0), dict(num_variates=0), dict(ar_coef=1.0), dict(periods=()),
                                    dict(periods=(0.0,)), dict(noise_std=-1.0), dict(mixing=-0.1),
                                    dict(amplitude_range=(2.0, 1.0)), dict(standardize_with=1),
                                    dict(standardize_with=1000)])
def test_series_bad_input(key, kwargs):
    args = dict(length=100, num_variates=2) | kwargs
    with pytest.raises(ValueError):
        synthetic_multivariate_series(key, **args)


def test_series_bad_key():
    with pytest.raises(ValueError):
        synthetic_multivariate_series(0, 100, 2)


def test_sliding_windows_match_loop():
    x = np.random.default_rng(0).normal(size=(30, 3)).astype(np.float32)
    w = sliding_windows(x, 5, 3, stride=2)
    assert isinstance(w, ForecastWindows)
    starts = list(range(0, 30 - 8 + 1, 2))
    assert w.starts.tolist() == starts
    for i, s in enumerate(starts):
        np.testing.assert_array_equal(np.asarray(w.inputs[i]), x[s:s + 5])
        np.testing.assert_array_equal(np.asarray(w.targets[i]), x[s + 5:s + 8])


def test_sliding_windows_1d_and_exact_fit():
    w = sliding_windows(jnp.arange(6.0), 4, 2)
    assert w.inputs.shape == (1, 4, 1) and w.targets.shape == (1, 2, 1)


@pytest.mark.parametrize("args", [(jnp.ones((5, 2)), 4, 2), (jnp.ones((10, 2)), 0, 2), (jnp.ones((10, 2)), 2, 0),
                                  (jnp.ones((2, 3, 4)), 1, 1), (jnp.full((10, 2), jnp.nan), 2, 2)])
def test_sliding_windows_bad_input(args):
    with pytest.raises(ValueError):
        sliding_windows(*args)


def test_sliding_windows_bad_stride():
    with pytest.raises(ValueError):
        sliding_windows(jnp.ones((10, 2)), 2, 2, stride=0)
