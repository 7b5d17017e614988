"""ntkbook — kernels in deep learning, as a library.

Submodules (imported on first use)::

    config   run scale (NTKBOOK_SCALE) and size picking
    data     procedural and shipped datasets (no downloads)
    plot     the house style and recurring figures
    kernels  classic kernels, random features, empirical NTK, graph kernels, tiled Gram computation
    nn       one definition, two networks: finite flax.nnx modules and their NNGP/NTK kernels
    learn    kernel machines: ridge paths, GP posteriors, spectral risk theory
    attention, conv   attention and convolution primitives (reference / XLA / Pallas)
    train    a small optax + flax.nnx training loop
    bench    benchmark suites: ``python -m ntkbook.bench SUITE``

>>> import ntkbook
>>> ntkbook.config.pick(fast=1, book=2) in (1, 2)
True
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_SUBMODULES = ("config", "data", "plot", "kernels", "nn", "learn", "attention", "conv", "train", "bench")
__all__ = list(_SUBMODULES) + ["__version__"]


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        module = importlib.import_module(f"{__name__}.{name}")
        globals()[name] = module
        return module
    raise AttributeError(f"module 'ntkbook' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
