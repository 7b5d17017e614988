"""Shared helpers of :mod:`ntkbook.conv` (private): implementation switch, dtype policy, int tuples."""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp

from .._validate import FLOAT_DTYPES, as_float_array, int_tuple  # noqa: F401 (int_tuple re-exported)
from ..data._common import numpy_rng  # noqa: F401 (re-exported: the package's one key -> NumPy generator)

IMPLEMENTATIONS: tuple[str, ...] = ("reference", "xla", "pallas")

# dtypes the convolution ops accept; integer/bool inputs are promoted to the default float.
SUPPORTED_DTYPES = FLOAT_DTYPES


def check_implementation(implementation: str | None, op: str) -> str | None:
    """Validate the ``implementation=`` switch (``None`` is resolved by the caller)."""
    if implementation is None:
        return None
    if not isinstance(implementation, str) or implementation not in IMPLEMENTATIONS:
        raise ValueError(
            f"{op}: implementation must be one of {IMPLEMENTATIONS} or None, got {implementation!r}")
    return implementation


def as_conv_array(x: Any, name: str) -> jnp.ndarray:
    """A floating array in one of the supported dtypes (ints/bools promoted); complex rejected."""
    return as_float_array(x, name, dtypes=SUPPORTED_DTYPES, allow_nan=True)


def compute_dtype(*dtypes: Any) -> jnp.dtype:
    """Accumulation dtype: float32 for half precision inputs, else the promoted input dtype."""
    out = jnp.result_type(*dtypes)
    if out in (jnp.dtype(jnp.float16), jnp.dtype(jnp.bfloat16)):
        return jnp.dtype(jnp.float32)
    return jnp.dtype(out)


