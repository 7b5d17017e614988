"""Attention primitives: softmax, neighborhood, sparse, linear/kernelized attention, Hopfield.

Every op takes heads-last arrays ``[B, *spatial, H, D]`` and (where several exist) an
``implementation=`` switch: ``"reference"`` (plain jnp, float32 accumulation — the oracle),
``"xla"`` (fast jnp/lax), ``"pallas"`` (a Pallas kernel, ``interpret=True`` off GPU) or ``None``
(the fastest for the backend). ``scale`` defaults to ``D ** -0.5``.

* :mod:`~ntkbook.attention.dot_product` — :func:`dot_product_attention` (masks, causal, Lq ≠ Lk).
* :mod:`~ntkbook.attention.flash` — the Pallas flash-attention kernels behind ``"pallas"``.
* :mod:`~ntkbook.attention.neighborhood` — :func:`na1d`, :func:`na2d`, :func:`na3d` (NATTEN
  semantics: kernel_size, stride (GNA), dilation, is_causal) and their index/mask generators.
* :mod:`~ntkbook.attention.block_sparse` — :func:`block_sparse_attention`: only the tiles a
  static mask touches (tile gather in XLA, tile lists in Pallas).
* :mod:`~ntkbook.attention.masks` — S2-attention head-sharded masks, tile (block-sparsity) stats.
* :mod:`~ntkbook.attention.features` — feature maps: FAVOR+, orthogonal/trig random features,
  elu+1, Taylor, learnable spectral features.
* :mod:`~ntkbook.attention.poly_features` — compact Taylor features from symmetric monomials
  (``C(D+P, P)`` features for the degree-``P`` series of ``exp(s q·k)``).
* :mod:`~ntkbook.attention.linear` — :func:`linear_attention` (causal by chunked prefix sums),
  :func:`kernelized_rpe_attention` (FFT), :func:`softmax_free_attention` (SOFT, Nyström).
* :mod:`~ntkbook.attention.kernel_pallas` — :func:`gaussian_kernel_matmul` and the Toeplitz-weighted
  linear-attention kernel: the fused Pallas paths of SOFT and of RPE attention.
* :mod:`~ntkbook.attention.hopfield` — modern Hopfield retrieval and energy.
* :mod:`~ntkbook.attention.blocks` — ``flax.nnx`` transformer and 2-D neighborhood blocks.
* :mod:`~ntkbook.attention.rf_features` — random-feature attention: frozen random heads (P031).
* :mod:`~ntkbook.attention.normalizers` — power-softmax / pointwise attention and Newton
  reciprocal / inverse square root for polynomial-only inference (P095).
* :mod:`~ntkbook.attention.entropy` — softmax attention weights and per-head (normalised)
  attention entropy (P080).
* :mod:`~ntkbook.attention.tiled_na` — 1-D neighborhood attention by query tiles: unfused
  batched GEMM and fused online softmax (P015), with their per-query cost.

>>> import jax
>>> from ntkbook.attention import dot_product_attention, na2d
>>> x = jax.random.normal(jax.random.key(0), (1, 6, 6, 2, 8))     # [B, X, Y, H, D]
>>> na2d(x, x, x, kernel_size=3).shape
(1, 6, 6, 2, 8)
"""

from .block_sparse import *  # noqa: F401,F403
from .block_sparse import __all__ as _bs_all
from .blocks import *  # noqa: F401,F403
from .blocks import __all__ as _blocks_all
from .dot_product import *  # noqa: F401,F403
from .dot_product import __all__ as _dot_all
from .features import *  # noqa: F401,F403
from .features import __all__ as _features_all
from .hopfield import *  # noqa: F401,F403
from .hopfield import __all__ as _hopfield_all
from .kernel_pallas import *  # noqa: F401,F403
from .kernel_pallas import __all__ as _kp_all
from .linear import *  # noqa: F401,F403
from .linear import __all__ as _linear_all
from .masks import *  # noqa: F401,F403
from .masks import __all__ as _masks_all
from .neighborhood import *  # noqa: F401,F403
from .neighborhood import __all__ as _na_all
from .poly_features import *  # noqa: F401,F403
from .poly_features import __all__ as _poly_all
from .rf_features import *  # noqa: F401,F403
from .rf_features import __all__ as _rf_all
from .icl import *  # noqa: F401,F403
from .icl import __all__ as _icl_all
from .entropy import *  # noqa: F401,F403
from .entropy import __all__ as _entropy_all
from .normalizers import *  # noqa: F401,F403
from .normalizers import __all__ as _norm_all
from .tiled_na import *  # noqa: F401,F403
from .tiled_na import __all__ as _tiled_all

__all__ = [*_dot_all, *_bs_all, *_na_all, *_masks_all, *_features_all, *_linear_all, *_kp_all, *_hopfield_all,
           *_blocks_all, *_rf_all, *_tiled_all, *_icl_all,
           *_poly_all, *_norm_all, *_entropy_all]
