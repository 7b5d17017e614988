"""Long-range sign-pulse tasks: ±1 pulses in noise, label = product of the signs.

One generator, :func:`sign_pulses`, covers the long-range classification tasks of the convolution chapter:

* long-range XOR — a pulse near the start and one near the end at random positions
  (``starts=[(0, 16), (112, 128)]``);
* fixed markers — the label is ``sign(x_a · x_b)`` for two fixed positions (``starts=[a, b]``,
  ``width=1``, ``amplitude=noise``: the markers look like noise, only their place is special);
* delayed XOR — two pulses a fixed delay apart at a random place (``starts=[0, delay]`` plus a common
  random ``shift``).

A model must combine information from positions that are far apart: a convolution whose receptive field
is shorter than the pulse distance sees at most one sign and is at chance.
"""

from __future__ import annotations

from typing import Any, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from .._validate import check_positive_int
from ._common import check_key, check_nonneg_float, float_dtype, numpy_rng

__all__ = ["PulseTask", "sign_pulses"]


class PulseTask(NamedTuple):
    """A batch of a sign-pulse task.

    Attributes:
        inputs: ``(n, L)`` float sequences (noise with the pulses written in).
        labels: ``(n,)`` int32 class index, 1 where the product of the pulse signs is +1, else 0.
        starts: ``(n, P)`` int32 first sample of each pulse.
        signs: ``(n, P)`` float ±1 sign of each pulse.
    """

    inputs: jax.Array
    labels: jax.Array
    starts: jax.Array
    signs: jax.Array


def _range(spec: Any, j: int) -> tuple[int, int]:
    """A start spec (an int or a half-open ``(lo, hi)`` pair) as ``(lo, hi)``."""
    if isinstance(spec, (int, np.integer)) and not isinstance(spec, bool):
        lo, hi = int(spec), int(spec) + 1
    else:
        try:
            lo, hi = spec
        except (TypeError, ValueError) as err:
            raise ValueError(f"starts[{j}] must be an int or a (lo, hi) pair, got {spec!r}") from err
        if any(isinstance(v, bool) or not isinstance(v, (int, np.integer)) for v in (lo, hi)):
            raise ValueError(f"starts[{j}] must hold integers, got {spec!r}")
        lo, hi = int(lo), int(hi)
    if lo < 0 or hi <= lo:
        raise ValueError(f"starts[{j}] = {spec!r} must be a non-negative start or a range lo < hi")
    return lo, hi


def _pulses_numpy(gen, n, length, ranges, shift, width, noise, amplitude):
    # NumPy on purpose: a jitted generator would compile once per (n, length), which costs more than
    # generating the data.
    p = len(ranges)
    lo = np.array([r[0] for r in ranges])
    hi = np.array([r[1] for r in ranges])
    starts = gen.integers(lo, hi, size=(n, p)) + gen.integers(shift[0], shift[1], size=(n, 1))
    signs = np.where(gen.random((n, p)) < 0.5, -1.0, 1.0)
    x = noise * gen.standard_normal((n, length))
    t = np.arange(length)[None, :]
    for j in range(p):
        inside = (t >= starts[:, j:j + 1]) & (t < starts[:, j:j + 1] + width)
        x = np.where(inside, amplitude * signs[:, j:j + 1], x)
    labels = (np.prod(signs, axis=1) > 0).astype(np.int32)
    return x, labels, starts.astype(np.int32), signs


def sign_pulses(key: jax.Array, n: int, length: int, *, starts: Sequence[Any], width: int = 1,
                shift: tuple[int, int] | None = None, noise: float = 1.0,
                amplitude: float = 1.0) -> PulseTask:
    """Sequences of Gaussian noise with ``P`` sign pulses; the label is the product of the signs.

    Each sequence is ``x_t = noise · ε_t`` (``ε_t ~ N(0, 1)``), after which pulse ``j`` overwrites the
    samples ``s_j, …, s_j + width − 1`` with ``amplitude · σ_j``, where ``σ_j = ±1`` is an independent
    fair sign. The label is ``1`` if ``∏_j σ_j = +1`` and ``0`` otherwise (XOR of the signs for
    ``P = 2``), so the classes are balanced and no single pulse carries information about the label.

    The start ``s_j`` is ``starts[j]`` if that is an int, or drawn uniformly from ``lo, …, hi − 1`` for a
    pair ``(lo, hi)``, independently per pulse and sequence; with ``shift=(lo, hi)`` one common offset
    drawn from ``lo, …, hi − 1`` is added to every pulse of a sequence (pulses at fixed distances from
    a random place). Pulses may not overlap for any draw and must fit in the sequence.

    Args:
        key: ``jax.random`` key.
        n: number of sequences.
        length: sequence length ``L``.
        starts: one entry per pulse: an int or a half-open ``(lo, hi)`` range of starts.
        width: samples per pulse.
        shift: optional common random offset range ``(lo, hi)`` (default: none).
        noise: standard deviation of the background noise (≥ 0).
        amplitude: pulse height (> 0).

    Returns:
        :class:`PulseTask` ``(inputs (n, L), labels (n,), starts (n, P), signs (n, P))``; ``inputs`` and
        ``signs`` have the default JAX float dtype.

    Examples:
        Long-range XOR, fixed markers (label ``sign(x₁₀ · x₂₄₀)``) and delayed XOR:

        >>> import jax
        >>> key = jax.random.key(0)
        >>> xor = sign_pulses(key, 8, 128, starts=[(0, 16), (112, 128)], noise=0.1)
        >>> xor.inputs.shape, xor.labels.shape, xor.starts.shape
        ((8, 128), (8,), (8, 2))
        >>> markers = sign_pulses(key, 8, 256, starts=[10, 240])
        >>> bool((markers.labels == (markers.inputs[:, 10] * markers.inputs[:, 240] > 0)).all())
        True
        >>> delayed = sign_pulses(key, 8, 256, starts=[0, 180], width=8, shift=(0, 68), noise=0.05)
        >>> bool((delayed.starts[:, 1] - delayed.starts[:, 0] == 180).all())
        True
    """
    key = check_key(key)
    n = check_positive_int(n, "n")
    length = check_positive_int(length, "length")
    width = check_positive_int(width, "width")
    noise = check_nonneg_float(noise, "noise")
    amplitude = check_nonneg_float(amplitude, "amplitude")
    if amplitude == 0:
        raise ValueError("amplitude must be positive")
    if isinstance(starts, (str, bytes)) or not isinstance(starts, Sequence) or len(starts) == 0:
        raise ValueError(f"starts must be a non-empty sequence of ints or (lo, hi) pairs, got {starts!r}")
    ranges = tuple(_range(s, j) for j, s in enumerate(starts))
    shift_range = (0, 1) if shift is None else _range(shift, -1)
    # every pulse must fit for every draw: last possible start + width ≤ L
    last = max(hi for _, hi in ranges) - 1 + shift_range[1] - 1
    if last + width > length:
        raise ValueError(f"pulses can reach sample {last + width - 1}, beyond the sequence (length {length})")
    order = sorted(range(len(ranges)), key=lambda j: ranges[j][0])
    for a, b in zip(order, order[1:]):
        if ranges[a][1] - 1 + width > ranges[b][0]:
            raise ValueError(f"pulses {a} and {b} can overlap: starts {starts[a]!r} and {starts[b]!r} "
                             f"with width {width}")
    dtype = float_dtype()
    x, labels, s, signs = _pulses_numpy(numpy_rng(key), n, length, ranges, shift_range, width, noise,
                                        amplitude)
    return PulseTask(jnp.asarray(x, dtype), jnp.asarray(labels), jnp.asarray(s), jnp.asarray(signs, dtype))
