"""Datasets shipped inside installed packages (no download).

* :func:`digits` — scikit-learn's bundled 8×8 handwritten digits (1,797 images, 10 classes).

scikit-learn is not a dependency of the bare package; it comes with ``pip install ntkbook[book]``
(or ``ntkbook[test]``).
"""

from __future__ import annotations

import importlib.util
import os
from typing import Any, NamedTuple, Sequence

import numpy as np

__all__ = ["Digits", "digits"]


class Digits(NamedTuple):
    """Train/test splits of the 8×8 digits.

    Attributes:
        x_train: ``(n_train, 64)`` (or ``(n_train, 8, 8)`` with ``flatten=False``) float images.
        y_train: ``(n_train,)`` int32 labels.
        x_test: ``(n_test, 64)`` (or ``(n_test, 8, 8)``) float images.
        y_test: ``(n_test,)`` int32 labels.
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


def _sklearn_digits_file() -> str | None:
    """Path of the CSV that scikit-learn ships for ``load_digits``, found without importing sklearn."""
    try:
        spec = importlib.util.find_spec("sklearn")
    except (ImportError, ValueError):
        return None
    for location in (spec.submodule_search_locations or []) if spec is not None else []:
        path = os.path.join(location, "datasets", "data", "digits.csv.gz")
        if os.path.isfile(path):
            return path
    return None


def _load_sklearn_digits() -> tuple[np.ndarray, np.ndarray]:
    # Parse the bundled CSV directly when it is where scikit-learn keeps it (64 pixels then the label
    # per row, what load_digits reads): importing scikit-learn takes most of a second.
    path = _sklearn_digits_file()
    if path is not None:
        table = np.loadtxt(path, delimiter=",")
        return table[:, :-1].reshape(-1, 8, 8), table[:, -1].astype(int)
    try:
        from sklearn.datasets import load_digits
    except ImportError as err:  # pragma: no cover - exercised by monkeypatching in the tests
        raise ImportError(
            "ntkbook.data.digits needs scikit-learn, which ships the 8x8 digits dataset; install it "
            "with `pip install ntkbook[book]` (or `pip install scikit-learn`).") from err
    bunch = load_digits()
    return np.asarray(bunch.images, dtype=np.float64), np.asarray(bunch.target)


def digits(*, normalize: bool = True, test_size: int | float = 0.25, seed: int = 0,
           flatten: bool = True, classes: Sequence[int] | None = None,
           dtype: Any = np.float32) -> Digits:
    """scikit-learn's bundled 8×8 digits, split into train and test sets (no download).

    Pixels are integers 0–16 in the raw data; with ``normalize=True`` they are divided by 16 so that
    they lie in ``[0, 1]``. The split is a uniformly random permutation drawn from ``seed`` (not
    stratified); the same arguments always give the same split.

    Args:
        normalize: scale pixels to ``[0, 1]`` (default) instead of keeping 0–16.
        test_size: a fraction in ``[0, 1)`` of the examples (rounded up, as in scikit-learn), or a
            number of test examples in ``[0, n)``.
        seed: non-negative integer seed of the split.
        flatten: return images as ``(n, 64)`` vectors (default) or as ``(n, 8, 8)`` arrays.
        classes: keep only these digit classes (labels keep their original values), e.g. ``(0, 1)``.
        dtype: float dtype of the images (default float32).

    Returns:
        :class:`Digits` ``(x_train, y_train, x_test, y_test)`` of NumPy arrays.

    Raises:
        ImportError: if scikit-learn is not installed.
        ValueError: on a bad ``test_size``, ``seed``, ``classes`` or ``dtype``.

    Example:
        >>> data = digits(test_size=797)
        >>> data.x_train.shape, data.x_test.shape, float(data.x_train.max()) <= 1.0
        ((1000, 64), (797, 64), True)
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    dtype = np.dtype(dtype)
    if not np.issubdtype(dtype, np.floating):
        raise ValueError(f"dtype must be a floating dtype, got {dtype}")
    if classes is not None:
        try:
            wanted = sorted({int(c) for c in classes})
        except (TypeError, ValueError) as err:
            raise ValueError(f"classes must be a sequence of digits 0..9, got {classes!r}") from err
        if not wanted or any(c < 0 or c > 9 for c in wanted):
            raise ValueError(f"classes must be a non-empty sequence of digits 0..9, got {classes!r}")

    images, labels = _load_sklearn_digits()
    if classes is not None:
        keep = np.isin(labels, wanted)
        images, labels = images[keep], labels[keep]
    n = labels.shape[0]

    if isinstance(test_size, bool):
        raise ValueError(f"test_size must be a fraction in [0, 1) or an integer count, got {test_size!r}")
    if isinstance(test_size, (int, np.integer)):
        if not 0 <= test_size < n:
            raise ValueError(f"test_size as a count must be in [0, {n}), got {test_size}")
        n_test = int(test_size)
    elif isinstance(test_size, (float, np.floating)):
        if not 0.0 <= test_size < 1.0:
            raise ValueError(f"test_size as a fraction must be in [0, 1), got {test_size}")
        n_test = int(np.ceil(test_size * n))
        if n_test >= n:
            raise ValueError(f"test_size={test_size} leaves no training examples out of {n}")
    else:
        raise ValueError(f"test_size must be a fraction in [0, 1) or an integer count, got {test_size!r}")

    if normalize:
        images = images / 16.0
    x = images.reshape(n, 64) if flatten else images
    order = np.random.default_rng(int(seed)).permutation(n)
    test_idx, train_idx = order[:n_test], order[n_test:]
    x = x.astype(dtype)
    y = labels.astype(np.int32)
    return Digits(x[train_idx], y[train_idx], x[test_idx], y[test_idx])
