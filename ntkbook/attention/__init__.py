"""Attention primitives: softmax, neighborhood, linear/kernelized attention and Hopfield retrieval.

Every op takes heads-last arrays ``[B, *spatial, H, D]`` and (where several exist) an
``implementation=`` switch: ``"reference"`` (plain jnp, float32 accumulation — the oracle),
``"xla"`` (fast jnp/lax), ``"pallas"`` (a Pallas kernel, ``interpret=True`` off GPU) or ``None``
(the fastest for the backend). ``scale`` defaults to ``D ** -0.5``.

* :mod:`~ntkbook.attention.dot_product` — :func:`dot_product_attention` (masks, causal, Lq ≠ Lk).
* :mod:`~ntkbook.attention.flash` — the Pallas flash-attention kernels behind ``"pallas"``.
* :mod:`~ntkbook.attention.neighborhood` — :func:`na1d`, :func:`na2d`, :func:`na3d` (NATTEN
  semantics: kernel_size, stride, dilation, is_causal) and their index/mask generators.
"""

from .dot_product import *  # noqa: F401,F403
from .dot_product import __all__ as _dot_all
from .neighborhood import *  # noqa: F401,F403
from .neighborhood import __all__ as _na_all

__all__ = [*_dot_all, *_na_all]
