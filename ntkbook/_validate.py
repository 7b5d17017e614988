"""Input checks shared by the whole package (private).

Every public function validates its inputs with these helpers so that a bad call fails early with a
``ValueError`` that names the argument, instead of broadcasting into a silent wrong answer.
"""

from __future__ import annotations

from typing import Any, Sequence

import jax.numpy as jnp
import numpy as np

FLOAT_DTYPES: tuple[jnp.dtype, ...] = (jnp.dtype(jnp.float16), jnp.dtype(jnp.bfloat16), jnp.dtype(jnp.float32),
                                      jnp.dtype(jnp.float64))


def as_float_array(x: Any, name: str, *, ndim: int | Sequence[int] | None = None,
                   allow_nan: bool = False, dtypes: Sequence[Any] | None = None) -> jnp.ndarray:
    """Convert to a real floating JAX array and check its rank (and, if concrete, that it is finite).

    Integer and boolean inputs are promoted to the default float; complex and other dtypes are rejected,
    and so is any floating dtype outside ``dtypes`` when that is given.
    """
    arr = jnp.asarray(x)
    if jnp.issubdtype(arr.dtype, jnp.complexfloating):
        raise ValueError(f"{name} must be a real floating array, got dtype {arr.dtype}")
    if not jnp.issubdtype(arr.dtype, jnp.floating):
        if jnp.issubdtype(arr.dtype, jnp.integer) or arr.dtype == jnp.bool_:
            arr = arr.astype(jnp.result_type(float))
        else:
            raise ValueError(f"{name} has unsupported dtype {arr.dtype}; it must be a real floating array")
    if dtypes is not None and arr.dtype not in tuple(jnp.dtype(d) for d in dtypes):
        raise ValueError(f"{name} has unsupported dtype {arr.dtype}; use one of {[str(jnp.dtype(d)) for d in dtypes]}")
    check_ndim(arr, name, ndim)
    if not allow_nan:
        check_finite(arr, name)
    return arr


def check_ndim(arr: Any, name: str, ndim: int | Sequence[int] | None) -> None:
    if ndim is None:
        return
    allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
    if arr.ndim not in allowed:
        want = " or ".join(str(a) for a in allowed)
        raise ValueError(f"{name} must have rank {want}, got shape {tuple(arr.shape)}")


def is_concrete(x: Any) -> bool:
    """True if ``x`` holds values (not a tracer inside jit/vmap/grad)."""
    try:
        np.asarray(x)
        return True
    except Exception:  # jax.errors.TracerArrayConversionError and friends
        return False


def check_finite(arr: Any, name: str) -> None:
    """Raise if a concrete array holds NaN or inf; tracers are let through."""
    if is_concrete(arr) and not bool(np.all(np.isfinite(np.asarray(arr, dtype=np.float64)))):
        raise ValueError(f"{name} contains NaN or inf")


def check_positive(value: Any, name: str, *, allow_zero: bool = False) -> None:
    """Raise unless every entry of a concrete scalar/array is > 0 (or ≥ 0)."""
    if not is_concrete(value):
        return
    v = np.asarray(value, dtype=np.float64)
    bad = (v < 0) if allow_zero else (v <= 0)
    if np.any(bad) or not np.all(np.isfinite(v)):
        rel = "non-negative" if allow_zero else "positive"
        raise ValueError(f"{name} must be {rel} and finite, got {value!r}")


def check_positive_float(value: Any, name: str, *, none_allowed: bool = False) -> float:
    """A finite positive Python float from ``value`` (a number or a 0-d array), or a ``ValueError``
    naming ``name``; ``none_allowed`` only changes the message (the caller handles ``None``).

    >>> check_positive_float(0.5, "beta")
    0.5
    """
    what = "a positive finite float" + (" or None" if none_allowed else "")
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be {what}, got {value!r}") from None
    if not np.isfinite(v) or v <= 0:
        raise ValueError(f"{name} must be {what}, got {value!r}")
    return v


def check_positive_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def check_same_features(x1: jnp.ndarray, x2: jnp.ndarray, name1: str = "x1", name2: str = "x2") -> None:
    if x1.shape[1:] != x2.shape[1:]:
        raise ValueError(
            f"{name1} and {name2} must have the same feature shape, got {tuple(x1.shape)} and {tuple(x2.shape)}")


def int_tuple(value: int | Sequence[int], n: int, name: str, *, minimum: int = 1) -> tuple[int, ...]:
    """Broadcast an int (or check a length-``n`` sequence of ints); every entry ≥ ``minimum``."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_)):
        vals = (int(value),) * n
    else:
        try:
            vals = tuple(value)  # type: ignore[arg-type]
        except TypeError:
            raise ValueError(f"{name} must be an int or a sequence of {n} ints, got {value!r}") from None
        if len(vals) != n or any(isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer))
                                 for v in vals):
            raise ValueError(f"{name} must be an int or a sequence of {n} ints, got {value!r}")
        vals = tuple(int(v) for v in vals)
    if any(v < minimum for v in vals):
        rel = "positive" if minimum == 1 else f">= {minimum}"
        raise ValueError(f"{name} must be {rel}, got {value!r}")
    return vals
