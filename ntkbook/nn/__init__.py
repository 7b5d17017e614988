"""``ntkbook.nn`` — one definition, two networks.

A network is composed from layers whose names and arguments follow the ``stax`` vocabulary of
neural-tangents. Each composed layer gives

* ``net.kernel(x1, x2=None, get=("nngp", "ntk"))`` — its infinite-width NNGP and NTK
  (closed forms; Gauss–Hermite quadrature for :func:`ElementwiseNumerical`), and
* ``net.module(rngs=nnx.Rngs(0))`` — the finite network as a :class:`flax.nnx.Module` with the
  same parameterization, whose Monte-Carlo average :func:`monte_carlo_kernel` estimates the kernels.

Conventions: default parameterization ``"ntk"``, ``y = W_std / sqrt(fan_in) · x W + b_std · b``
with standard normal ``W`` and ``b`` (``fan_in`` = in-channels × filter size); ``"standard"`` and
``"mup"`` are described in :mod:`ntkbook.nn.layers`. Input kernel ``x1 · x2ᵀ / d``. Channels last:
``(N, d)``, ``(N, W, C)``, ``(N, H, W, C)``.

>>> import jax.numpy as jnp
>>> from flax import nnx
>>> from ntkbook import nn
>>> net = nn.serial(nn.Dense(512, W_std=2**0.5, b_std=0.1), nn.Relu(), nn.Dense(1, W_std=1.0, b_std=0.1))
>>> x = jnp.array([[1.0, 0.0], [0.6, 0.8]])
>>> k = net.kernel(x)
>>> k.nngp.shape, k.ntk.shape
((2, 2), (2, 2))
>>> net.module(rngs=nnx.Rngs(0))(x).shape
(2, 1)
"""

from ._core import FanInConcat, FanInSum, FanOut, Identity, Layer, NetworkModule, parallel, serial
from ._state import Kernel
from .activations import (ABRelu, Abs, Cos, ElementwiseNumerical, Erf, Exp, Gaussian, Gelu, LeakyRelu,
                          Monomial, Polynomial, Rbf, Relu, Sigmoid_like, Sign, Sin)
from .attention import GlobalSelfAttention
from .ensembles import mlp_preactivations
from .layers import AvgPool, Conv, Dense, Flatten, GlobalAvgPool, LayerNorm
from .monte_carlo import monte_carlo_kernel

__all__ = [
    # structure
    "Layer", "Kernel", "NetworkModule",
    "serial", "parallel", "FanOut", "FanInSum", "FanInConcat", "Identity",
    # layers
    "Dense", "Conv", "AvgPool", "GlobalAvgPool", "Flatten", "LayerNorm", "GlobalSelfAttention",
    # activations
    "Relu", "LeakyRelu", "ABRelu", "Abs", "Sign", "Erf", "Gelu", "Sin", "Cos", "Rbf", "Exp",
    "Gaussian", "Sigmoid_like", "Monomial", "Polynomial", "ElementwiseNumerical",
    # estimates
    "monte_carlo_kernel", "mlp_preactivations",
]
