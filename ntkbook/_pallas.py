"""Shared Pallas settings (private).

On a GPU every Pallas kernel of this package is written for the Triton backend (power-of-two
block shapes, pointer-style loads). Recent JAX versions lower a ``pallas_call`` *without*
compiler parameters through Mosaic GPU instead, whose constraints differ (bounded async copies,
shared-memory staging of whole blocks), so every call must pass :func:`triton_params`.
``tests/test_gpu_lowering.py`` lowers every kernel for CUDA on a CPU machine to keep this true.
"""

from __future__ import annotations

from typing import Any


def triton_params(interpret: bool, *, num_warps: int = 4, num_stages: int = 2) -> Any:
    """Triton compiler parameters for a GPU launch, ``None`` in interpret mode."""
    if interpret:
        return None
    from jax.experimental.pallas import triton as pltriton  # only needed when lowering for a GPU
    return pltriton.CompilerParams(num_warps=num_warps, num_stages=num_stages)
