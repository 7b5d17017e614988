"""Convolution kernels and primitives: long FFT convolutions, large depthwise convolutions, kernel generators.

Operations with an ``implementation="reference" | "xla" | "pallas" | None`` switch (``None`` picks the
fastest available on the backend):

* :func:`fft_conv` — depthwise long convolution ``u (B, C, L)`` ⊛ ``k (C, Lk)``, causal or circular, by FFT.
* :func:`depthwise_conv` — channels-last 1-D/2-D/3-D depthwise convolution with strides, dilation, large kernels.

Helpers: :func:`next_fast_len`, :func:`fft_conv2d`, the four-step FFT (:func:`monarch_fft`,
:func:`monarch_ifft`, :func:`monarch_conv`), :func:`conv_output_shape`.

Structural re-parameterization: :func:`dilate_kernel`, :func:`merge_branches`, :func:`fuse_batchnorm`.

Kernel generators (return ``(C, L)``):

* state spaces — :func:`s4d_init`, :func:`s4d_kernel`, :func:`dense_ssm_kernel`, :func:`discretize`,
  :func:`ssm_transfer_function`, :func:`hippo_legs`, :func:`hippo_legs_normal`,
  :func:`normal_diagonalize`, :func:`ptd_diagonalize` (perturb-then-diagonalise);
* SGConv — :func:`sgconv_num_scales`, :func:`sgconv_init`, :func:`sgconv_kernel`;
* long-conv regularisers — :func:`squash`, :func:`smooth`;
* Gaussian mixtures — :func:`gaussian_mixture_kernel`, :func:`gaussian_mixture_conv`, and for GM networks
  :func:`gaussian_mixture_raster`, :func:`gaussian_mixture_relu_fit`, :func:`gaussian_mixture_em`,
  :func:`nonnegative_lstsq`, :class:`GaussianMixtureConv`;
* continuous kernels (flax.nnx) — :class:`MultiplicativeFilterNet`, :class:`FlexConvKernel`,
  :func:`gaussian_mask`, :func:`kernel_positions`, :class:`HyperKernel`, :func:`hyper_zzw`.

Blocks: :class:`LongConvBlock` (flax.nnx).

Bases for the time axis of forecasting windows: :func:`real_dft_basis`, :func:`lag_correlation`,
:func:`orthotrans_basis` (OLinear's OrthoTrans), and the row-normalised mixing layer :class:`NormLin`.

>>> import jax.numpy as jnp
>>> from ntkbook import conv
>>> conv.fft_conv(jnp.ones((1, 2, 6)), jnp.ones((2, 3))).shape
(1, 2, 6)
"""

from .block import *  # noqa: F401,F403
from .block import __all__ as _block_all
from .continuous import *  # noqa: F401,F403
from .continuous import __all__ as _continuous_all
from .depthwise import *  # noqa: F401,F403
from .depthwise import __all__ as _depthwise_all
from .fft import *  # noqa: F401,F403
from .fft import __all__ as _fft_all
from .generators import *  # noqa: F401,F403
from .generators import __all__ as _generators_all
from .gm import *  # noqa: F401,F403
from .gm import __all__ as _gm_all
from .ssm import *  # noqa: F401,F403
from .ssm import __all__ as _ssm_all
from .orthobasis import *  # noqa: F401,F403
from .orthobasis import __all__ as _orthobasis_all

__all__ = [*_fft_all, *_depthwise_all, *_ssm_all, *_generators_all, *_gm_all, *_continuous_all, *_block_all,
           *_orthobasis_all]
