"""Shared helpers of :mod:`ntkbook.attention` (private).

The implementation switch, the dtype policy, per-axis int/bool tuples and the query/key/value
checks used by every attention op.
"""

from __future__ import annotations

from typing import Any, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from .._validate import (FLOAT_DTYPES, as_float_array, check_finite, check_positive_float,  # noqa: F401
                         int_tuple)  # int_tuple is re-exported

IMPLEMENTATIONS: tuple[str, ...] = ("reference", "xla", "pallas")

SUPPORTED_DTYPES: tuple[jnp.dtype, ...] = FLOAT_DTYPES


def backend() -> str:
    """The default JAX backend (``"cpu"``, ``"gpu"`` or ``"tpu"``)."""
    return jax.default_backend()


def pallas_interpret() -> bool:
    """Whether Pallas kernels run in interpret mode: everywhere but on a GPU (Triton lowering)."""
    return backend() != "gpu"


def resolve_implementation(implementation: str | None, op: str, *,
                           available: Sequence[str] = IMPLEMENTATIONS,
                           gpu_default: str = "pallas") -> str:
    """Validate ``implementation=`` and resolve ``None`` to the fastest one for the backend.

    ``None`` means ``gpu_default`` on a GPU (when available) and ``"xla"`` elsewhere: Pallas in
    interpret mode is a correctness tool, never the fast path on a CPU.
    """
    if implementation is None:
        if backend() == "gpu" and gpu_default in available:
            return gpu_default
        return "xla" if "xla" in available else available[0]
    if not isinstance(implementation, str) or implementation not in IMPLEMENTATIONS:
        raise ValueError(
            f"{op}: implementation must be one of {IMPLEMENTATIONS} or None, got {implementation!r}")
    if implementation not in available:
        raise NotImplementedError(
            f"{op}: implementation={implementation!r} is not available yet; use one of "
            f"{tuple(available)} (or None)")
    return implementation


def as_attention_array(x: Any, name: str, *, ndim: int | None = None,
                       min_ndim: int | None = None) -> jnp.ndarray:
    """A floating array in a supported dtype (ints/bools promoted), rank-checked and finite."""
    arr = as_float_array(x, name, dtypes=SUPPORTED_DTYPES, allow_nan=True)
    if ndim is not None and arr.ndim != ndim:
        raise ValueError(f"{name} must have rank {ndim}, got shape {tuple(arr.shape)}")
    if min_ndim is not None and arr.ndim < min_ndim:
        raise ValueError(f"{name} must have rank >= {min_ndim}, got shape {tuple(arr.shape)}")
    if any(s == 0 for s in arr.shape):
        raise ValueError(f"{name} must not have an empty axis, got shape {tuple(arr.shape)}")
    check_finite(arr, name)
    return arr


def compute_dtype(*dtypes: Any) -> jnp.dtype:
    """Accumulation dtype: float32 for half-precision inputs, else the promoted input dtype."""
    out = jnp.result_type(*dtypes)
    if out in (jnp.dtype(jnp.float16), jnp.dtype(jnp.bfloat16)):
        return jnp.dtype(jnp.float32)
    return jnp.dtype(out)


def resolve_scale(scale: Any, head_dim: int, name: str = "scale") -> float:
    """``scale`` or ``head_dim ** -0.5``; a given scale must be a finite positive number."""
    if scale is None:
        return float(head_dim) ** -0.5
    return check_positive_float(scale, name, none_allowed=True)


def bool_tuple(value: bool | Sequence[bool], n: int, name: str) -> tuple[bool, ...]:
    """Broadcast a bool (or check a length-``n`` sequence of bools)."""
    if isinstance(value, (bool, np.bool_)):
        return (bool(value),) * n
    try:
        vals = tuple(value)  # type: ignore[arg-type]
    except TypeError:
        raise ValueError(f"{name} must be a bool or a sequence of {n} bools, got {value!r}") from None
    if len(vals) != n or any(not isinstance(v, (bool, np.bool_)) for v in vals):
        raise ValueError(f"{name} must be a bool or a sequence of {n} bools, got {value!r}")
    return tuple(bool(v) for v in vals)


def check_qkv(q: Any, k: Any, v: Any, op: str, *, n_spatial: int | None = None,
              same_length: bool = False) -> tuple[jnp.ndarray, jnp.ndarray, jnp.ndarray]:
    """Check a heads-last triple ``q: [B, *Sq, H, D]``, ``k: [B, *Sk, H, D]``, ``v: [B, *Sk, H, Dv]``.

    ``n_spatial`` fixes the number of spatial axes (``None``: any ≥ 1, the same for all three);
    ``same_length`` requires the query and key spatial shapes to agree (self attention).
    """
    rank = None if n_spatial is None else n_spatial + 3
    q = as_attention_array(q, f"{op}: q", ndim=rank, min_ndim=4)
    k = as_attention_array(k, f"{op}: k", ndim=rank, min_ndim=4)
    v = as_attention_array(v, f"{op}: v", ndim=rank, min_ndim=4)
    if not (q.ndim == k.ndim == v.ndim):
        raise ValueError(f"{op}: q, k, v must have the same rank, got shapes "
                         f"{tuple(q.shape)}, {tuple(k.shape)}, {tuple(v.shape)}")
    if k.shape[:-1] != v.shape[:-1]:
        raise ValueError(f"{op}: k and v must agree on [B, *spatial, H], got {tuple(k.shape)} and "
                         f"{tuple(v.shape)}")
    if q.shape[0] != k.shape[0]:
        raise ValueError(f"{op}: q and k must have the same batch size, got {q.shape[0]} and {k.shape[0]}")
    if q.shape[-2] != k.shape[-2]:
        raise ValueError(f"{op}: q and k must have the same number of heads, got {q.shape[-2]} and "
                         f"{k.shape[-2]}")
    if q.shape[-1] != k.shape[-1]:
        raise ValueError(f"{op}: q and k must have the same head dim, got {q.shape[-1]} and {k.shape[-1]}")
    if same_length and q.shape[1:-2] != k.shape[1:-2]:
        raise ValueError(f"{op}: q and k must have the same spatial shape, got {tuple(q.shape[1:-2])} "
                         f"and {tuple(k.shape[1:-2])}")
    return q, k, v
