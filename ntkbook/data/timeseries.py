"""Synthetic multivariate time series and sliding forecasting windows.

* :func:`synthetic_multivariate_series` — seasonal sinusoids plus AR(1) noise, mixed across variates and
  standardised: a small, fully controlled stand-in for forecasting benchmarks such as ETT or Weather.
* :func:`sliding_windows` — every (lookback, horizon) pair of a series, for direct multi-step forecasting.

Series are ``(T, C)`` arrays: time first, variates (channels) last.
"""

from __future__ import annotations

import functools
import math
from typing import Any, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from .._validate import as_float_array, check_positive_int
from ._common import check_key, float_dtype

__all__ = ["ForecastWindows", "synthetic_multivariate_series", "sliding_windows"]


@functools.partial(jax.jit, static_argnames=("length", "num_variates", "dtype"))
def _series_core(key, length, num_variates, periods, ar_coef, noise_std, mixing, amplitude_range,
                 standardize_with, dtype):
    k_amp, k_phase, k_noise, k_mix = jax.random.split(key, 4)
    p = periods.shape[0]
    lo, hi = amplitude_range
    amplitude = jax.random.uniform(k_amp, (p, num_variates), dtype, lo, hi)
    phase = jax.random.uniform(k_phase, (p, num_variates), dtype, 0.0, 2.0 * math.pi)
    t = jnp.arange(length, dtype=dtype)[:, None, None]
    omega = (2.0 * math.pi / periods.astype(dtype))[None, :, None]
    seasonal = jnp.sum(amplitude * jnp.sin(omega * t + phase), axis=1)  # (T, C)

    # AR(1) noise with stationary standard deviation noise_std, started from its stationary law
    innovations = jax.random.normal(k_noise, (length, num_variates), dtype)
    scale = noise_std * jnp.sqrt(1.0 - ar_coef**2)

    def step(prev, eps):
        cur = ar_coef * prev + scale * eps
        return cur, cur

    first = noise_std * innovations[0]
    _, rest = jax.lax.scan(step, first, innovations[1:])
    noise = jnp.concatenate([first[None], rest], axis=0)

    mix = jnp.eye(num_variates, dtype=dtype) + mixing * jax.random.normal(k_mix, (num_variates, num_variates), dtype)
    series = (seasonal + noise) @ mix.T
    weight = (jnp.arange(length) < standardize_with).astype(dtype)[:, None] / standardize_with
    mean = jnp.sum(weight * series, axis=0)
    std = jnp.sqrt(jnp.sum(weight * (series - mean) ** 2, axis=0))
    return (series - mean) / std


def synthetic_multivariate_series(key: Any, length: int, num_variates: int = 8, *,
                                  periods: Sequence[float] = (24.0, 42.0, 48.0), ar_coef: float = 0.9,
                                  noise_std: float = 1.0, mixing: float = 0.3,
                                  amplitude_range: tuple[float, float] = (0.5, 1.5),
                                  standardize_with: int | None = None) -> jax.Array:
    r"""A synthetic multivariate series: sinusoids + AR(1) noise, mixed across variates, standardised.

    Each variate ``c`` is :math:`s_c(t) = \sum_p a_{pc}\sin(2\pi t/T_p + \varphi_{pc}) + \epsilon_c(t)` with
    amplitudes :math:`a_{pc}\sim U[\text{amplitude\_range}]`, phases :math:`\varphi_{pc}\sim U[0, 2\pi)` and
    AR(1) noise :math:`\epsilon_c(t) = \phi\,\epsilon_c(t-1) + \sigma\sqrt{1-\phi^2}\,\eta_t` (stationary, standard
    deviation :math:`\sigma` = ``noise_std``). The variates are then mixed, :math:`x(t) = M s(t)` with
    :math:`M = I + \text{mixing}\cdot G`, :math:`G_{ij}\sim N(0, 1)`, and each column is standardised to zero
    mean and unit variance using the first ``standardize_with`` steps (all steps by default; pass the length of
    the training split to keep test statistics out of the normalisation).

    Args:
        key: ``jax.random`` key.
        length: number of time steps ``T``.
        num_variates: number of variates ``C``.
        periods: the seasonal periods :math:`T_p` (in steps), each > 0.
        ar_coef: AR(1) coefficient :math:`\phi`, in ``(-1, 1)``.
        noise_std: stationary standard deviation of the AR(1) noise (≥ 0).
        mixing: strength of the random mixing across variates (≥ 0; 0 keeps the variates independent).
        amplitude_range: ``(low, high)`` for the sinusoid amplitudes, ``0 ≤ low ≤ high``.
        standardize_with: number of leading steps whose mean and standard deviation standardise the series
            (≥ 2; ``None`` = all).

    Returns:
        ``(T, C)`` array in the default float dtype.

    Raises:
        ValueError: on non-positive sizes, an empty or non-positive ``periods``, ``|ar_coef| ≥ 1``, negative
        scales or a bad ``standardize_with``.

    Example:
        >>> import jax
        >>> x = synthetic_multivariate_series(jax.random.key(0), 480, 4)
        >>> x.shape, bool(abs(x.mean(0)).max() < 1e-4), bool(abs(x.std(0) - 1).max() < 1e-4)
        ((480, 4), True, True)
    """
    key = check_key(key)
    length = check_positive_int(length, "length")
    num_variates = check_positive_int(num_variates, "num_variates")
    periods = tuple(float(p) for p in np.atleast_1d(np.asarray(periods, dtype=np.float64)))
    if not periods or not all(np.isfinite(p) and p > 0 for p in periods):
        raise ValueError(f"periods must be a non-empty sequence of positive numbers, got {periods!r}")
    if not np.isfinite(ar_coef) or abs(float(ar_coef)) >= 1:
        raise ValueError(f"ar_coef must be in (-1, 1) for a stationary AR(1), got {ar_coef!r}")
    for value, name in ((noise_std, "noise_std"), (mixing, "mixing")):
        if not np.isfinite(value) or value < 0:
            raise ValueError(f"{name} must be a non-negative number, got {value!r}")
    lo, hi = (float(v) for v in amplitude_range)
    if not (0 <= lo <= hi) or not np.isfinite(hi):
        raise ValueError(f"amplitude_range must be (low, high) with 0 <= low <= high, got {amplitude_range!r}")
    if length < 2:
        raise ValueError(f"length must be at least 2, got {length}")
    if standardize_with is None:
        standardize_with = length
    standardize_with = check_positive_int(standardize_with, "standardize_with")
    if not 2 <= standardize_with <= length:
        raise ValueError(f"standardize_with must be in [2, length={length}], got {standardize_with}")
    return _series_core(key, length, num_variates, np.asarray(periods), float(ar_coef), float(noise_std),
                        float(mixing), (lo, hi), standardize_with, float_dtype())


class ForecastWindows(NamedTuple):
    """Sliding windows of a ``(T, C)`` series (see :func:`sliding_windows`).

    Attributes:
        inputs: ``(W, lookback, C)`` — the lookback windows.
        targets: ``(W, horizon, C)`` — the values that follow each lookback window.
        starts: ``(W,)`` int — the time index of the first lookback step of each window.
    """

    inputs: jax.Array
    targets: jax.Array
    starts: jax.Array


def sliding_windows(series: Any, lookback: int, horizon: int, *, stride: int = 1) -> ForecastWindows:
    """All (lookback, horizon) windows of a series, for direct multi-step forecasting.

    Window ``w`` starts at ``s = w·stride``: ``inputs[w] = series[s : s+lookback]`` and
    ``targets[w] = series[s+lookback : s+lookback+horizon]``. There are
    ``W = (T − lookback − horizon) // stride + 1`` windows.

    Args:
        series: ``(T, C)`` array (a 1-D series is treated as ``C = 1``).
        lookback: input length ``L`` (> 0).
        horizon: forecast length ``H`` (> 0).
        stride: step between consecutive windows (> 0).

    Returns:
        :class:`ForecastWindows` ``(inputs (W, L, C), targets (W, H, C), starts (W,))``.

    Raises:
        ValueError: on non-positive sizes or when the series is shorter than ``lookback + horizon``.

    Example:
        >>> import jax.numpy as jnp
        >>> w = sliding_windows(jnp.arange(10.0), 4, 2, stride=2)
        >>> w.inputs.shape, w.targets.shape, w.starts.tolist()
        ((3, 4, 1), (3, 2, 1), [0, 2, 4])
        >>> w.targets[1, :, 0].tolist()
        [6.0, 7.0]
    """
    x = as_float_array(series, "series", ndim=(1, 2))
    if x.ndim == 1:
        x = x[:, None]
    lookback = check_positive_int(lookback, "lookback")
    horizon = check_positive_int(horizon, "horizon")
    stride = check_positive_int(stride, "stride")
    T = x.shape[0]
    if T < lookback + horizon:
        raise ValueError(f"series of length {T} is shorter than lookback + horizon = {lookback + horizon}")
    starts = np.arange(0, T - lookback - horizon + 1, stride)
    idx = starts[:, None] + np.arange(lookback + horizon)[None]
    windows = x[idx]  # (W, L + H, C)
    return ForecastWindows(windows[:, :lookback], windows[:, lookback:], jnp.asarray(starts))
