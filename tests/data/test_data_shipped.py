"""Tests for the shipped datasets (scikit-learn's bundled 8x8 digits)."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from ntkbook.data import Digits, digits

sklearn = pytest.importorskip("sklearn")


def test_default_split():
    d = digits()
    assert isinstance(d, Digits)
    n_test = int(np.ceil(0.25 * 1797))
    assert d.x_train.shape == (1797 - n_test, 64) and d.x_test.shape == (n_test, 64)
    assert d.y_train.shape == (1797 - n_test,) and d.y_test.shape == (n_test,)
    assert d.x_train.dtype == np.float32 and d.y_train.dtype == np.int32
    assert 0.0 <= d.x_train.min() and d.x_train.max() <= 1.0 and d.x_train.max() == 1.0
    assert set(np.unique(d.y_train)) == set(range(10))


def test_matches_sklearn_data():
    from sklearn.datasets import load_digits

    raw = load_digits()
    d = digits(normalize=False, test_size=0, dtype=np.float64)
    assert d.x_test.shape == (0, 64) and d.x_train.shape == (1797, 64)
    # The same multiset of (image, label) pairs, in a permuted order.
    key = lambda x, y: np.lexsort(np.c_[x, y].T)  # noqa: E731
    a = np.c_[d.x_train, d.y_train][key(d.x_train, d.y_train)]
    b = np.c_[raw.data, raw.target][key(raw.data, raw.target)]
    np.testing.assert_array_equal(a, b)


def test_options():
    d = digits(test_size=797, seed=3, flatten=False)
    assert d.x_train.shape == (1000, 8, 8) and d.x_test.shape == (797, 8, 8)
    two = digits(classes=(0, 1), test_size=0.5)
    assert set(np.unique(two.y_train)) | set(np.unique(two.y_test)) == {0, 1}
    assert len(two.y_train) + len(two.y_test) == 360
    half = digits(test_size=0.5, dtype=np.float64)
    assert half.x_train.dtype == np.float64


def test_determinism():
    a, b, c = digits(seed=1), digits(seed=1), digits(seed=2)
    for u, v in zip(a, b):
        np.testing.assert_array_equal(u, v)
    assert not np.array_equal(a.y_test, c.y_test)
    # Train and test together are the whole dataset, without overlap.
    assert len(a.y_train) + len(a.y_test) == 1797


@pytest.mark.parametrize("kwargs,match", [
    (dict(test_size=1.0), "test_size"),
    (dict(test_size=-0.1), "test_size"),
    (dict(test_size=1797), "test_size"),
    (dict(test_size="half"), "test_size"),
    (dict(test_size=True), "test_size"),
    (dict(seed=-1), "seed"),
    (dict(seed=1.5), "seed"),
    (dict(classes=()), "classes"),
    (dict(classes=(3, 12)), "classes"),
    (dict(classes="ab"), "classes"),
    (dict(dtype=np.int64), "dtype"),
])
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        digits(**kwargs)


def test_bundled_csv_read_without_sklearn_equals_load_digits():
    from sklearn.datasets import load_digits

    from ntkbook.data import shipped

    assert shipped._sklearn_digits_file() is not None
    images, labels = shipped._load_sklearn_digits()
    raw = load_digits()
    np.testing.assert_array_equal(images, raw.images)
    np.testing.assert_array_equal(labels, raw.target)


def test_missing_sklearn_gives_clear_import_error(monkeypatch):
    from ntkbook.data import shipped

    # No bundled CSV found, and setting a module to None in sys.modules makes importing it raise.
    monkeypatch.setattr(shipped, "_sklearn_digits_file", lambda: None)
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    with pytest.raises(ImportError, match=r"ntkbook\[book\]"):
        digits()
