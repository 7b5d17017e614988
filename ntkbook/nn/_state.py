"""The kernel state that flows through the layers of an infinite-width network (private).

A :class:`Kernel` holds, for two batches of inputs ``x1: (N1, *S, C)`` and ``x2: (N2, *S, C)``,

* ``nngp`` — the covariance of the pre- or post-activations of the two batches,
* ``ntk`` — the neural tangent kernel (``None`` when it is not asked for),
* ``cov1`` / ``cov2`` — the covariance of each batch with itself, one sample at a time
  (the "batch-diagonal" blocks the activations need for their variances).

Spatial layout. For a representation with spatial shape ``S = (S_1, ..., S_d)`` two storage modes
exist, chosen per layer by what the layers downstream need:

* **full** (``diagonal_spatial=False``): every pair of positions is kept, with the two position
  axes of each spatial dimension interleaved: ``nngp: (N1, N2, S_1, S_1, ..., S_d, S_d)`` and
  ``cov1: (N1, S_1, S_1, ..., S_d, S_d)``. Memory ``O(N1 N2 P^2)`` with ``P = prod(S)``.
* **diagonal** (``diagonal_spatial=True``): only equal positions, ``nngp: (N1, N2, *S)``,
  ``cov1: (N1, *S)``. Memory ``O(N1 N2 P)``. Enough for networks whose spatial information
  reaches the readout only through :func:`~ntkbook.nn.Flatten` (and per-position layers).

Non-spatial representations have ``nngp: (N1, N2)``, ``cov1: (N1,)``.
"""

from __future__ import annotations

import dataclasses
import string
from typing import Any, Sequence

import jax
import jax.numpy as jnp

Array = jax.Array


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class Kernel:
    """Infinite-width kernels of a pair of input batches at one point of a network.

    Attributes:
        nngp: ``(N1, N2)`` for non-spatial outputs; ``(N1, N2, S_1, S_1, ..., S_d, S_d)`` (full) or
            ``(N1, N2, *S)`` (diagonal spatial) for spatial ones.
        ntk: same shape as ``nngp``, or ``None`` when only the NNGP was requested.
        cov1: ``(N1,)`` / ``(N1, S_1, S_1, ...)`` / ``(N1, *S)`` — covariance of ``x1`` with itself.
        cov2: the same for ``x2``.
        shape: the per-sample shape of the finite representation, ``(*S, C)`` (static).
        diagonal_spatial: whether only equal-position covariances are stored (static).
    """

    nngp: Array
    ntk: Array | None
    cov1: Array
    cov2: Array
    shape: tuple[int, ...] = dataclasses.field(metadata=dict(static=True))
    diagonal_spatial: bool = dataclasses.field(metadata=dict(static=True), default=False)

    # ------------------------------------------------------------------ structure
    @property
    def spatial(self) -> tuple[int, ...]:
        """Spatial shape ``S`` (``()`` for a vector representation)."""
        return tuple(self.shape[:-1])

    @property
    def channels(self) -> int:
        """Number of channels of the finite representation (the width that goes to infinity)."""
        return int(self.shape[-1])

    @property
    def is_spatial(self) -> bool:
        return len(self.shape) > 1

    @property
    def full(self) -> bool:
        """True when every pair of positions is stored."""
        return self.is_spatial and not self.diagonal_spatial

    def replace(self, **kw: Any) -> "Kernel":
        return dataclasses.replace(self, **kw)

    def map(self, fn, *, ntk: bool = True) -> "Kernel":
        """Apply ``fn(array, lead)`` to ``nngp`` (lead 2), ``cov1``/``cov2`` (lead 1) and optionally ``ntk``."""
        return self.replace(
            nngp=fn(self.nngp, 2),
            ntk=(fn(self.ntk, 2) if (ntk and self.ntk is not None) else self.ntk),
            cov1=fn(self.cov1, 1),
            cov2=fn(self.cov2, 1),
        )

    def to_diagonal(self) -> "Kernel":
        """Drop the off-diagonal spatial covariances (no-op for vector or already diagonal states)."""
        if not self.full:
            return self
        d = len(self.spatial)
        return self.map(lambda a, lead: spatial_diagonal(a, lead, d)).replace(diagonal_spatial=True)


# ---------------------------------------------------------------------- helpers on arrays
def spatial_diagonal(a: Array, lead: int, d: int) -> Array:
    """``(*lead, S_1, S_1, ..., S_d, S_d) -> (*lead, S_1, ..., S_d)``: equal-position entries."""
    for _ in range(d):
        a = jnp.diagonal(a, axis1=lead, axis2=lead + 1)  # moves the diagonal axis to the end
    return a


def variances(k: Kernel, which: int) -> Array:
    """Per-position variances of batch 1 or 2: ``(N,)`` or ``(N, *S)``."""
    c = k.cov1 if which == 1 else k.cov2
    if k.full:
        return spatial_diagonal(c, 1, len(k.spatial))
    return c


def pair_variances(k: Kernel) -> tuple[Array, Array, Array, Array, Array, Array]:
    """Variances broadcast against ``nngp``, ``cov1`` and ``cov2``.

    Returns ``(v1_for_nngp, v2_for_nngp, a_for_cov1, b_for_cov1, a_for_cov2, b_for_cov2)``: for a
    covariance entry between positions ``p`` (first argument) and ``p'`` (second), the variances
    at ``p`` and at ``p'`` respectively, shaped to broadcast.
    """
    v1, v2 = variances(k, 1), variances(k, 2)
    d = len(k.spatial)
    if not k.is_spatial:
        return v1[:, None], v2[None, :], v1, v1, v2, v2
    if k.diagonal_spatial:
        return v1[:, None], v2[None, :], v1, v1, v2, v2

    def first(v: Array) -> Array:  # (N, *S) -> (N, S1, 1, S2, 1, ...)
        return v.reshape(v.shape[:1] + tuple(x for s in v.shape[1:] for x in (s, 1)))

    def second(v: Array) -> Array:  # (N, *S) -> (N, 1, S1, 1, S2, ...)
        return v.reshape(v.shape[:1] + tuple(x for s in v.shape[1:] for x in (1, s)))

    del d
    return (first(v1)[:, None], second(v2)[None, :], first(v1), second(v1), first(v2), second(v2))


def input_kernel(x1: Array, x2: Array, *, full: bool, with_ntk: bool) -> Kernel:
    """Kernel of the raw inputs: ``x1 · x2ᵀ / C`` over the channel axis, per pair of positions.

    Memory: ``O(N1 N2 P^2)`` when ``full``, ``O(N1 N2 P)`` otherwise (``P`` positions).
    """
    d = x1.ndim - 2
    C = x1.shape[-1]
    letters = string.ascii_lowercase
    sp1 = letters[2:2 + d]
    sp2 = letters[2 + d:2 + 2 * d]
    ch = "z"
    if d == 0:
        nngp = x1 @ x2.T / C
        cov1 = jnp.sum(x1 * x1, axis=-1) / C
        cov2 = jnp.sum(x2 * x2, axis=-1) / C
    elif full:
        inter = "".join(a + b for a, b in zip(sp1, sp2))
        nngp = jnp.einsum(f"a{sp1}{ch},b{sp2}{ch}->ab{inter}", x1, x2) / C
        cov1 = jnp.einsum(f"a{sp1}{ch},a{sp2}{ch}->a{inter}", x1, x1) / C
        cov2 = jnp.einsum(f"a{sp1}{ch},a{sp2}{ch}->a{inter}", x2, x2) / C
    else:
        nngp = jnp.einsum(f"a{sp1}{ch},b{sp1}{ch}->ab{sp1}", x1, x2) / C
        cov1 = jnp.sum(x1 * x1, axis=-1) / C
        cov2 = jnp.sum(x2 * x2, axis=-1) / C
    ntk = jnp.zeros_like(nngp) if with_ntk else None
    return Kernel(nngp=nngp, ntk=ntk, cov1=cov1, cov2=cov2, shape=tuple(x1.shape[1:]),
                  diagonal_spatial=bool(d > 0 and not full))


# ---------------------------------------------------------------------- windows over positions
def same_padding(size: int, window: int, stride: int) -> tuple[int, int]:
    """Low/high zero padding of ``SAME`` (output ``ceil(size / stride)``), as in XLA."""
    out = -(-size // stride)
    total = max((out - 1) * stride + window - size, 0)
    return total // 2, total - total // 2


def output_size(size: int, window: int, stride: int, padding: str) -> int:
    if padding == "VALID":
        if size < window:
            raise ValueError(f"window {window} is larger than the spatial size {size} with VALID padding")
        return (size - window) // stride + 1
    return -(-size // stride)


def pads_for(size: int, window: int, stride: int, padding: str) -> tuple[int, int]:
    return (0, 0) if padding == "VALID" else same_padding(size, window, stride)


def _pad_axes(a: Array, axes: Sequence[int], lo: int, hi: int, circular: bool) -> Array:
    if lo == 0 and hi == 0:
        return a
    widths = [(0, 0)] * a.ndim
    for ax in axes:
        widths[ax] = (lo, hi)
    return jnp.pad(a, widths, mode="wrap" if circular else "constant")


def window_mean(a: Array, axes: Sequence[int], window: int, stride: int, padding: str) -> Array:
    """Mean over a sliding window applied *jointly* to ``axes`` (same offset on each of them).

    With one axis this is a 1-D average filter over positions; with an interleaved position pair
    ``(p, p')`` it is ``out[p, p'] = mean_q a[p s + q, p' s + q]`` — the covariance map of a
    convolution with i.i.d. filter taps. Padding ``SAME`` pads zeros, ``CIRCULAR`` wraps.
    """
    size = a.shape[axes[0]]
    lo, hi = pads_for(size, window, stride, padding)
    n_out = output_size(size, window, stride, padding)
    a = _pad_axes(a, axes, lo, hi, padding == "CIRCULAR")
    total = None
    for q in range(window):
        piece = a
        for ax in axes:
            piece = jax.lax.slice_in_dim(piece, q, q + stride * (n_out - 1) + 1, stride, axis=ax)
        total = piece if total is None else total + piece
    return total / window
