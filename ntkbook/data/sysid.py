"""System identification and sequential-image data for long-convolution experiments.

* :func:`damped_cosines` — a smooth, decaying target kernel ``Σ_m a_m e^{−t/τ_m} cos(ω_m t + φ_m)``
  (the shape of a diagonal state-space kernel);
* :func:`sysid_sequences` — white-noise inputs filtered by a known kernel plus observation noise,
  optionally observed only after a burn-in so that every output sees its full input history;
* :func:`seq_digits` — scikit-learn's 8×8 digits upsampled to ``s×s`` and flattened to sequences of
  length ``s²`` (pixel-by-pixel classification).
"""

from __future__ import annotations

from typing import Any, NamedTuple, Sequence

import jax
import numpy as np

from ._common import check_nonneg_float, float_dtype, numpy_rng
from .shipped import Digits, digits

__all__ = ["damped_cosines", "SysIdData", "sysid_sequences", "seq_digits"]


def _check_int(value: Any, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer ≥ {minimum}, got {value!r}")
    return int(value)


def _as_vector(value: Any, name: str, size: int | None = None) -> np.ndarray:
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{name} must be a sequence of real numbers, got {value!r}") from err
    arr = np.atleast_1d(arr)
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D sequence, got shape {arr.shape}")
    if size is not None and arr.size not in (1, size):
        raise ValueError(f"{name} must have 1 or {size} entries, got {arr.size}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or inf")
    return arr


def damped_cosines(length: int, time_constants: Sequence[float], frequencies: Sequence[float] | float = 0.0,
                   amplitudes: Sequence[float] | float = 1.0, phases: Sequence[float] | float = 0.0, *,
                   normalize: bool = True) -> np.ndarray:
    """A sum of exponentially damped cosines sampled at ``t = 0 … L−1``.

    ``k[t] = Σ_m a_m · exp(−t / τ_m) · cos(ω_m t + φ_m)``: the impulse response of a real diagonal
    state-space model (each conjugate pair of modes contributes one damped cosine), hence a smooth,
    decaying "SSM-like" target for system identification.

    Parameters
    ----------
    length : int
        ``L`` taps.
    time_constants : sequence of M positive floats
        ``τ_m`` in samples.
    frequencies, amplitudes, phases : float or sequence of M floats
        ``ω_m`` (radians per sample), ``a_m`` and ``φ_m``; scalars broadcast.
    normalize : bool
        Scale the result to unit Euclidean norm (default), so that filtering unit white noise gives
        outputs of unit variance.

    Returns
    -------
    float64 NumPy array (L,)

    Examples
    --------
    >>> k = damped_cosines(4, [1.0], normalize=False)
    >>> [round(v, 4) for v in k.tolist()]
    [1.0, 0.3679, 0.1353, 0.0498]
    """
    length = _check_int(length, "length", 1)
    tau = _as_vector(time_constants, "time_constants")
    if np.any(tau <= 0):
        raise ValueError(f"time_constants must be positive, got {tau.tolist()}")
    m = tau.size
    omega = _as_vector(frequencies, "frequencies", m)
    amp = _as_vector(amplitudes, "amplitudes", m)
    phase = _as_vector(phases, "phases", m)
    t = np.arange(length, dtype=np.float64)[:, None]
    k = np.sum(amp * np.exp(-t / tau) * np.cos(omega * t + phase), axis=1)
    if normalize:
        norm = np.linalg.norm(k)
        if norm == 0:
            raise ValueError("the kernel is identically zero and cannot be normalised")
        k = k / norm
    return k


class SysIdData(NamedTuple):
    """Inputs and outputs of a system-identification task.

    Attributes:
        inputs: ``(n, history + L)`` white-noise inputs.
        outputs: ``(n, L)`` noisy outputs, ``outputs[:, t] = clean[:, t] + noise``.
        clean: ``(n, L)`` noiseless outputs ``Σ_j k[j] · inputs[:, history + t − j]`` (inputs before
            index 0 are zero).
    """

    inputs: Any
    outputs: Any
    clean: Any


def sysid_sequences(key: jax.Array | int, kernel: Any, n: int, length: int, *, noise: float = 1.0,
                    history: int = 0) -> SysIdData:
    """White-noise inputs filtered by a known causal kernel, plus Gaussian observation noise.

    Each row draws ``x ∈ R^{history + L}`` i.i.d. N(0, 1) and observes
    ``y[t] = Σ_j k[j] x[history + t − j] + σ ε_t`` for ``t = 0 … L−1`` (zero input before the start).
    With ``history = 0`` the outputs are the usual zero-padded causal convolution of the whole
    input; with ``history ≥ len(kernel) − 1`` (e.g. inputs of length ``2L``, "observe the last ``L``
    samples") every output sees its full history, so least squares on the lags is an ordinary
    regression with white regressors and the excess test error of an estimate ``k̂`` is exactly
    ``‖k̂ − k‖²``.

    Parameters
    ----------
    key : jax.random key or non-negative int seed
    kernel : array-like (Lk,)
        The true kernel ``k``.
    n : int
        Number of sequences.
    length : int
        ``L`` observed outputs per sequence.
    noise : float
        ``σ ≥ 0``.
    history : int
        Extra leading input samples that are not observed as outputs.

    Returns
    -------
    :class:`SysIdData` of JAX arrays in the default float dtype.

    Examples
    --------
    >>> import jax
    >>> d = sysid_sequences(jax.random.key(0), [1.0, 0.5], 3, 8, noise=0.0, history=8)
    >>> d.inputs.shape, d.outputs.shape
    ((3, 16), (3, 8))
    >>> bool(abs(d.outputs[0, 0] - d.inputs[0, 8] - 0.5 * d.inputs[0, 7]) < 1e-6)
    True
    """
    k = _as_vector(kernel, "kernel")
    n = _check_int(n, "n", 1)
    length = _check_int(length, "length", 1)
    history = _check_int(history, "history", 0)
    sigma = check_nonneg_float(noise, "noise")
    gen = numpy_rng(key)
    total = history + length
    x = gen.standard_normal((n, total))
    eps = gen.standard_normal((n, length))
    size = 1 << int(np.ceil(np.log2(total + k.size)))
    full = np.fft.irfft(np.fft.rfft(x, size, axis=-1) * np.fft.rfft(k, size), size, axis=-1)
    clean = full[:, history: total]
    dtype = float_dtype()
    as_jax = lambda a: jax.numpy.asarray(a, dtype)  # noqa: E731
    return SysIdData(as_jax(x), as_jax(clean + sigma * eps), as_jax(clean))


def _interp_matrix(size_out: int, size_in: int) -> np.ndarray:
    """Linear-interpolation matrix with half-pixel centres and clamped edges, shape (out, in)."""
    pos = (np.arange(size_out) + 0.5) * size_in / size_out - 0.5
    pos = np.clip(pos, 0.0, size_in - 1)
    lo = np.floor(pos).astype(int)
    hi = np.minimum(lo + 1, size_in - 1)
    frac = pos - lo
    m = np.zeros((size_out, size_in))
    rows = np.arange(size_out)
    np.add.at(m, (rows, lo), 1.0 - frac)
    np.add.at(m, (rows, hi), frac)
    return m


def seq_digits(size: int = 16, *, test_size: int | float = 0.25, seed: int = 0,
               classes: Sequence[int] | None = None, standardize: bool = False,
               dtype: Any = np.float32) -> Digits:
    """Sequential digits: 8×8 digits upsampled to ``size × size`` and read pixel by pixel.

    Images are resized by bilinear interpolation (half-pixel centres, edges clamped — the same as
    ``jax.image.resize(..., "linear")`` when upsampling) and flattened row by row into sequences of
    length ``size²``; ``size = 32`` gives ``L = 1024``. The split is that of
    :func:`~ntkbook.data.digits` with the same ``test_size``, ``seed`` and ``classes``.

    Args:
        size: side of the resized image (≥ 1; 8 keeps the original pixels).
        test_size, seed, classes: as in :func:`~ntkbook.data.digits`.
        standardize: subtract the training-set pixel mean and divide by its standard deviation
            (one scalar each), otherwise pixels lie in ``[0, 1]``.
        dtype: float dtype of the sequences.

    Returns:
        :class:`~ntkbook.data.Digits` with ``x_train (n_train, size²)`` and ``x_test (n_test, size²)``.

    Example:
        >>> d = seq_digits(16, test_size=797)
        >>> d.x_train.shape, d.x_test.shape
        ((1000, 256), (797, 256))
    """
    size = _check_int(size, "size", 1)
    dtype = np.dtype(dtype)
    if not np.issubdtype(dtype, np.floating):
        raise ValueError(f"dtype must be a floating dtype, got {dtype}")
    base = digits(test_size=test_size, seed=seed, flatten=False, classes=classes, dtype=np.float64)
    m = _interp_matrix(size, 8)

    def resize(images: np.ndarray) -> np.ndarray:
        out = np.einsum("ia,nab,jb->nij", m, images, m)
        return out.reshape(images.shape[0], size * size)

    x_train, x_test = resize(base.x_train), resize(base.x_test)
    if standardize:
        mean, std = x_train.mean(), x_train.std()
        x_train, x_test = (x_train - mean) / std, (x_test - mean) / std
    return Digits(x_train.astype(dtype), base.y_train, x_test.astype(dtype), base.y_test)
