"""Helpers shared by the data generators (private)."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np


def float_dtype() -> jnp.dtype:
    """The default JAX float: float64 when ``jax_enable_x64`` is on, float32 otherwise."""
    return jnp.dtype(jax.dtypes.canonicalize_dtype(jnp.float64))


def check_key(key: Any, name: str = "key") -> jax.Array:
    """Accept a new-style typed key (``jax.random.key``) or a legacy ``uint32[2]`` key."""
    if isinstance(key, (bool, int, float, np.integer, np.floating)) or key is None:
        raise ValueError(
            f"{name} must be a jax.random key (e.g. jax.random.key(0)), got {key!r}")
    try:
        dtype = key.dtype
        shape = tuple(key.shape)
    except AttributeError as err:
        raise ValueError(f"{name} must be a jax.random key, got {type(key).__name__}") from err
    if jax.dtypes.issubdtype(dtype, jax.dtypes.prng_key):
        if shape != ():
            raise ValueError(f"{name} must be a single key, got a key array of shape {shape}")
        return key
    if dtype == jnp.uint32 and shape == (2,):
        return key
    raise ValueError(
        f"{name} must be a jax.random key (jax.random.key(seed) or PRNGKey(seed)), "
        f"got an array of dtype {dtype} and shape {shape}")


def numpy_rng(key: Any, name: str = "key") -> np.random.Generator:
    """A NumPy generator seeded deterministically from a JAX key or a non-negative int seed.

    Drawing many small arrays (parameter initialisation, random problems of several sizes) with
    NumPy avoids compiling one tiny XLA program per shape, which dominates start-up time on a CPU.
    The seed is the key's data words, so ``numpy_rng(k)`` equals
    ``np.random.default_rng(np.asarray(jax.random.key_data(k)))``.

    >>> import jax
    >>> numpy_rng(jax.random.key(0)).standard_normal(2).shape
    (2,)
    """
    if isinstance(key, (int, np.integer)) and not isinstance(key, bool):
        if key < 0:
            raise ValueError(f"{name} as an integer seed must be non-negative, got {key}")
        return np.random.default_rng(int(key))
    key = check_key(key, name)
    if jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key):
        raw = jax.random.key_data(key)
    else:
        raw = key
    words = [int(w) for w in np.asarray(raw, dtype=np.uint32).ravel()]
    return np.random.default_rng(words)


def check_choice(value: Any, name: str, choices: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}")
    return value


def check_nonneg_float(value: Any, name: str) -> float:
    """A concrete, finite, non-negative Python float."""
    if isinstance(value, bool):
        raise ValueError(f"{name} must be a non-negative number, got {value!r}")
    try:
        v = float(value)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{name} must be a non-negative number, got {value!r}") from err
    if not np.isfinite(v) or v < 0:
        raise ValueError(f"{name} must be non-negative and finite, got {value!r}")
    return v


def check_finite_float(value: Any, name: str) -> float:
    if isinstance(value, bool):
        raise ValueError(f"{name} must be a real number, got {value!r}")
    try:
        v = float(value)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{name} must be a real number, got {value!r}") from err
    if not np.isfinite(v):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return v
