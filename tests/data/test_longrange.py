"""Tests for the long-range sign-pulse tasks."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from ntkbook.data import PulseTask, sign_pulses


def _rebuild(task: PulseTask, width: int, amplitude: float) -> np.ndarray:
    """Where each pulse should sit, written into the generated noise by plain NumPy."""
    x = np.array(task.inputs)
    starts, signs = np.asarray(task.starts), np.asarray(task.signs)
    expected = x.copy()
    for i in range(x.shape[0]):
        for s, sg in zip(starts[i], signs[i]):
            expected[i, s:s + width] = amplitude * sg
    return expected


def test_long_range_xor(key):
    task = sign_pulses(key, 400, 128, starts=[(0, 16), (112, 128)], noise=0.1)
    assert isinstance(task, PulseTask)
    x, y = np.asarray(task.inputs), np.asarray(task.labels)
    s, sg = np.asarray(task.starts), np.asarray(task.signs)
    assert x.shape == (400, 128) and y.shape == (400,) and s.shape == sg.shape == (400, 2)
    assert task.labels.dtype == np.int32 and task.starts.dtype == np.int32
    assert np.all((s[:, 0] >= 0) & (s[:, 0] < 16) & (s[:, 1] >= 112) & (s[:, 1] < 128))
    assert len(set(s[:, 0])) == 16 and len(set(s[:, 1])) == 16       # the whole ranges are used
    np.testing.assert_array_equal(x, _rebuild(task, 1, 1.0))
    np.testing.assert_array_equal(x[np.arange(400), s[:, 0]], sg[:, 0])
    np.testing.assert_array_equal(y, (sg[:, 0] * sg[:, 1] > 0).astype(np.int32))
    assert set(np.unique(sg)) == {-1.0, 1.0}
    # balanced labels and signs; each sign alone says nothing about the label
    assert abs(y.mean() - 0.5) < 0.08
    for j in range(2):
        agree = np.mean(y == (sg[:, j] > 0))
        assert abs(agree - 0.5) < 0.08
    # background noise has the requested scale
    bg = np.ones_like(x, bool)
    bg[np.arange(400)[:, None], s] = False
    assert abs(x[bg].std() - 0.1) < 0.005


def test_markers_label_is_sign_of_product(key):
    task = sign_pulses(key, 256, 256, starts=[10, 240])
    x, y = np.asarray(task.inputs), np.asarray(task.labels)
    assert np.all(np.asarray(task.starts) == [10, 240])
    np.testing.assert_array_equal(y, (x[:, 10] * x[:, 240] > 0).astype(np.int32))
    assert np.all(np.abs(x[:, [10, 240]]) == 1.0)


def test_delayed_xor_with_common_shift(key):
    delay, width, length = 180, 8, 256
    task = sign_pulses(key, 300, length, starts=[0, delay], width=width,
                       shift=(0, length - delay - width + 1), noise=0.05, amplitude=2.0)
    s = np.asarray(task.starts)
    assert np.all(s[:, 1] - s[:, 0] == delay)
    assert s[:, 0].min() == 0 and s[:, 1].max() == length - width       # both ends of the shift range
    np.testing.assert_array_equal(np.asarray(task.inputs), _rebuild(task, width, 2.0))


def test_deterministic_and_x64(key, x64):
    a = sign_pulses(key, 5, 32, starts=[(0, 4), (20, 30)], width=2)
    b = sign_pulses(key, 5, 32, starts=[(0, 4), (20, 30)], width=2)
    assert a.inputs.dtype == np.float64
    np.testing.assert_array_equal(np.asarray(a.inputs), np.asarray(b.inputs))
    c = sign_pulses(jax.random.key(1), 5, 32, starts=[(0, 4), (20, 30)], width=2)
    assert not np.array_equal(np.asarray(a.inputs), np.asarray(c.inputs))


def test_float32_default(key):
    assert sign_pulses(key, 2, 16, starts=[0, 8]).inputs.dtype == np.float32


def test_bad_input(key):
    with pytest.raises(ValueError, match="overlap"):
        sign_pulses(key, 2, 64, starts=[(0, 10), (8, 20)])
    with pytest.raises(ValueError, match="overlap"):
        sign_pulses(key, 2, 64, starts=[0, 4], width=5)
    with pytest.raises(ValueError, match="beyond"):
        sign_pulses(key, 2, 64, starts=[0, 60], width=8)
    with pytest.raises(ValueError, match="beyond"):
        sign_pulses(key, 2, 64, starts=[0, 30], shift=(0, 40))
    with pytest.raises(ValueError, match="starts"):
        sign_pulses(key, 2, 64, starts=[])
    with pytest.raises(ValueError, match="starts"):
        sign_pulses(key, 2, 64, starts=[(5, 3)])
    with pytest.raises(ValueError, match="starts"):
        sign_pulses(key, 2, 64, starts=[1.5])
    with pytest.raises(ValueError):
        sign_pulses(key, 0, 64, starts=[0])
    with pytest.raises(ValueError):
        sign_pulses(key, 2, 64, starts=[0], noise=-1.0)
    with pytest.raises(ValueError, match="amplitude"):
        sign_pulses(key, 2, 64, starts=[0], amplitude=0.0)
    with pytest.raises(ValueError, match="key"):
        sign_pulses(0, 2, 64, starts=[0])
