"""Tests for the system-identification and sequential-digits generators."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from ntkbook.data import SysIdData, damped_cosines, seq_digits, sysid_sequences


def test_damped_cosines_closed_form():
    t = np.arange(50)
    k = damped_cosines(50, [5.0, 20.0], [0.3, 0.05], [1.0, -2.0], [0.0, 0.5], normalize=False)
    ref = np.exp(-t / 5.0) * np.cos(0.3 * t) - 2.0 * np.exp(-t / 20.0) * np.cos(0.05 * t + 0.5)
    np.testing.assert_allclose(k, ref, rtol=1e-12)
    kn = damped_cosines(50, [5.0, 20.0], [0.3, 0.05])
    assert abs(np.linalg.norm(kn) - 1.0) < 1e-12


@pytest.mark.parametrize("bad", [dict(length=0, time_constants=[1.0]), dict(length=4, time_constants=[-1.0]),
                                 dict(length=4, time_constants=[1.0, 2.0], frequencies=[1.0, 2.0, 3.0]),
                                 dict(length=4, time_constants=[np.nan]), dict(length=4, time_constants=[])])
def test_damped_cosines_bad_input(bad):
    with pytest.raises(ValueError):
        damped_cosines(**bad)


def _direct(x, k, history, length):
    # independent reference: np.convolve per row
    return np.stack([np.convolve(row, k)[history: history + length] for row in x])


@pytest.mark.parametrize("history", [0, 5, 40])
def test_sysid_matches_direct_convolution(history):
    k = np.random.default_rng(1).standard_normal(13)
    d = sysid_sequences(jax.random.key(2), k, 4, 40, noise=0.5, history=history)
    assert isinstance(d, SysIdData)
    x, y, clean = (np.asarray(a, np.float64) for a in d)
    assert x.shape == (4, 40 + history) and y.shape == clean.shape == (4, 40)
    np.testing.assert_allclose(clean, _direct(x, k, history, 40), atol=1e-5)
    assert 0.0 < np.std(y - clean) < 1.0


def test_sysid_float64_and_statistics(x64):
    k = damped_cosines(32, [4.0, 16.0], [0.4, 0.1])
    d = sysid_sequences(jax.random.key(0), k, 64, 512, noise=1.0, history=32)
    assert d.outputs.dtype == np.float64 and d.inputs.dtype == np.float64
    np.testing.assert_allclose(np.asarray(d.clean), _direct(np.asarray(d.inputs), k, 32, 512), atol=1e-10)
    # unit-norm kernel + unit white noise: clean outputs have unit variance; the noise has variance 1
    assert abs(np.var(np.asarray(d.clean)) - 1.0) < 0.05
    assert abs(np.var(np.asarray(d.outputs - d.clean)) - 1.0) < 0.05


def test_sysid_determinism_and_noise_free():
    a = sysid_sequences(jax.random.key(3), [1.0, 2.0], 2, 8)
    b = sysid_sequences(jax.random.key(3), [1.0, 2.0], 2, 8)
    c = sysid_sequences(jax.random.key(4), [1.0, 2.0], 2, 8)
    np.testing.assert_array_equal(np.asarray(a.outputs), np.asarray(b.outputs))
    assert not np.allclose(np.asarray(a.outputs), np.asarray(c.outputs))
    z = sysid_sequences(5, [1.0], 2, 8, noise=0.0)
    np.testing.assert_allclose(np.asarray(z.outputs), np.asarray(z.inputs), atol=1e-6)


@pytest.mark.parametrize("bad", [dict(n=0), dict(length=0), dict(noise=-1.0), dict(history=-1),
                                 dict(kernel=[[1.0]]), dict(kernel=[np.inf]), dict(key=1.5)])
def test_sysid_bad_input(bad):
    args = dict(key=jax.random.key(0), kernel=[1.0, 0.5], n=2, length=8) | bad
    with pytest.raises(ValueError):
        sysid_sequences(args.pop("key"), args.pop("kernel"), args.pop("n"), args.pop("length"), **args)


sklearn = pytest.importorskip("sklearn")


def test_seq_digits_identity_and_shapes():
    from ntkbook.data import digits

    base = digits(test_size=0.5, seed=1)
    same = seq_digits(8, test_size=0.5, seed=1)
    np.testing.assert_allclose(same.x_train, base.x_train, atol=1e-6)
    np.testing.assert_array_equal(same.y_test, base.y_test)
    d = seq_digits(32, test_size=100, seed=1, dtype=np.float64)
    assert d.x_train.shape == (1697, 1024) and d.x_test.shape == (100, 1024)
    assert d.x_train.dtype == np.float64 and d.y_train.dtype == np.int32


def test_seq_digits_matches_jax_resize():
    from ntkbook.data import digits

    base = digits(test_size=10, seed=0, flatten=False, dtype=np.float64)
    d = seq_digits(16, test_size=10, seed=0, dtype=np.float64)
    ref = jax.image.resize(base.x_test, (10, 16, 16), "linear")
    np.testing.assert_allclose(d.x_test, np.asarray(ref).reshape(10, 256), atol=1e-5)


def test_seq_digits_standardize_and_errors():
    d = seq_digits(12, standardize=True, classes=(0, 1))
    assert abs(float(d.x_train.mean())) < 1e-4 and abs(float(d.x_train.std()) - 1.0) < 1e-4
    assert set(np.unique(d.y_train)) == {0, 1}
    for bad in (dict(size=0), dict(size=2.5), dict(dtype=np.int32)):
        with pytest.raises(ValueError):
            seq_digits(**bad)
