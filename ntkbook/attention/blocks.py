"""Small ``flax.nnx`` blocks built from the attention ops: a transformer block and a 2-D NA block."""

from __future__ import annotations

import functools
from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp
from flax import nnx

from .._validate import check_positive_int
from .dot_product import dot_product_attention
from .neighborhood import na2d

__all__ = ["MultiHeadSelfAttention", "TransformerBlock", "NeighborhoodAttention2DBlock"]


def _check_dims(dim: int, num_heads: int) -> tuple[int, int]:
    dim = check_positive_int(dim, "dim")
    num_heads = check_positive_int(num_heads, "num_heads")
    if dim % num_heads:
        raise ValueError(f"dim ({dim}) must be divisible by num_heads ({num_heads})")
    return dim, num_heads


class _MLP(nnx.Module):
    def __init__(self, dim: int, hidden: int, *, rngs: nnx.Rngs) -> None:
        self.fc1 = nnx.Linear(dim, hidden, rngs=rngs)
        self.fc2 = nnx.Linear(hidden, dim, rngs=rngs)

    def __call__(self, x: jnp.ndarray) -> jnp.ndarray:
        return self.fc2(jax.nn.gelu(self.fc1(x)))


class MultiHeadSelfAttention(nnx.Module):
    """Multi-head self attention over ``[B, *S, C]`` tokens with a pluggable attention op.

    ``attention_fn(q, k, v)`` receives heads-last arrays ``[B, *S, H, C/H]`` (default:
    :func:`~ntkbook.attention.dot_product_attention` with ``is_causal`` and ``implementation``).

    >>> from flax import nnx
    >>> import jax.numpy as jnp
    >>> mha = MultiHeadSelfAttention(16, 4, rngs=nnx.Rngs(0))
    >>> mha(jnp.ones((2, 5, 16))).shape
    (2, 5, 16)
    """

    def __init__(self, dim: int, num_heads: int, *, is_causal: bool = False,
                 implementation: str | None = None,
                 attention_fn: Callable[..., jnp.ndarray] | None = None, rngs: nnx.Rngs) -> None:
        self.dim, self.num_heads = _check_dims(dim, num_heads)
        self.is_causal, self.implementation = bool(is_causal), implementation
        self.attention_fn = attention_fn
        self.qkv = nnx.Linear(dim, 3 * dim, rngs=rngs)
        self.out = nnx.Linear(dim, dim, rngs=rngs)

    def __call__(self, x: jnp.ndarray, *, mask: Any = None) -> jnp.ndarray:
        if x.ndim < 3 or x.shape[-1] != self.dim:
            raise ValueError(f"expected tokens [B, *S, {self.dim}], got shape {tuple(x.shape)}")
        hd = self.dim // self.num_heads
        qkv = self.qkv(x).reshape(*x.shape[:-1], 3, self.num_heads, hd)
        q, k, v = (qkv[..., i, :, :] for i in range(3))
        if self.attention_fn is not None:
            o = self.attention_fn(q, k, v)
        else:
            o = dot_product_attention(q, k, v, mask=mask, is_causal=self.is_causal,
                                      implementation=self.implementation)
        return self.out(o.reshape(*x.shape[:-1], self.dim))


class TransformerBlock(nnx.Module):
    """Pre-LayerNorm transformer block: ``x + MHSA(LN(x))``, then ``x + MLP(LN(x))``.

    Parameters
    ----------
    dim, num_heads : model width and number of heads (``dim % num_heads == 0``)
    mlp_ratio : hidden width of the MLP as a multiple of ``dim``
    is_causal, implementation : passed to :func:`~ntkbook.attention.dot_product_attention`
    attention_fn : optional replacement attention op ``(q, k, v) → out`` on heads-last arrays,
        e.g. ``functools.partial(linear_attention, feature_map=elu_feature_map)``.

    >>> from flax import nnx
    >>> import jax.numpy as jnp
    >>> block = TransformerBlock(32, 4, is_causal=True, rngs=nnx.Rngs(0))
    >>> block(jnp.ones((2, 10, 32))).shape
    (2, 10, 32)
    """

    def __init__(self, dim: int, num_heads: int, *, mlp_ratio: float = 4.0, is_causal: bool = False,
                 implementation: str | None = None,
                 attention_fn: Callable[..., jnp.ndarray] | None = None, rngs: nnx.Rngs) -> None:
        dim, num_heads = _check_dims(dim, num_heads)
        if not mlp_ratio > 0:
            raise ValueError(f"mlp_ratio must be positive, got {mlp_ratio!r}")
        self.norm1 = nnx.LayerNorm(dim, rngs=rngs)
        self.attn = MultiHeadSelfAttention(dim, num_heads, is_causal=is_causal,
                                           implementation=implementation,
                                           attention_fn=attention_fn, rngs=rngs)
        self.norm2 = nnx.LayerNorm(dim, rngs=rngs)
        self.mlp = _MLP(dim, max(1, int(round(mlp_ratio * dim))), rngs=rngs)

    def __call__(self, x: jnp.ndarray, *, mask: Any = None) -> jnp.ndarray:
        x = x + self.attn(self.norm1(x), mask=mask)
        return x + self.mlp(self.norm2(x))


class NeighborhoodAttention2DBlock(nnx.Module):
    """Pre-LN block with 2-D neighborhood attention (a NAT/DiNAT layer) on ``[B, X, Y, C]`` maps.

    Parameters
    ----------
    dim, num_heads : channels and heads
    kernel_size, stride, dilation, is_causal, implementation : passed to
        :func:`~ntkbook.attention.na2d`
    mlp_ratio : MLP hidden width as a multiple of ``dim``

    >>> from flax import nnx
    >>> import jax.numpy as jnp
    >>> block = NeighborhoodAttention2DBlock(16, 2, kernel_size=3, dilation=2, rngs=nnx.Rngs(0))
    >>> block(jnp.ones((1, 8, 8, 16))).shape
    (1, 8, 8, 16)
    """

    def __init__(self, dim: int, num_heads: int, *, kernel_size: int | Sequence[int] = 7,
                 stride: int | Sequence[int] = 1, dilation: int | Sequence[int] = 1,
                 is_causal: bool | Sequence[bool] = False, mlp_ratio: float = 4.0,
                 implementation: str | None = None, rngs: nnx.Rngs) -> None:
        dim, num_heads = _check_dims(dim, num_heads)
        if not mlp_ratio > 0:
            raise ValueError(f"mlp_ratio must be positive, got {mlp_ratio!r}")
        self.kernel_size, self.stride, self.dilation = kernel_size, stride, dilation
        self.is_causal, self.implementation = is_causal, implementation
        self.norm1 = nnx.LayerNorm(dim, rngs=rngs)
        na = functools.partial(na2d, kernel_size=kernel_size, stride=stride, dilation=dilation,
                               is_causal=is_causal, implementation=implementation)
        self.attn = MultiHeadSelfAttention(dim, num_heads, attention_fn=na, rngs=rngs)
        self.norm2 = nnx.LayerNorm(dim, rngs=rngs)
        self.mlp = _MLP(dim, max(1, int(round(mlp_ratio * dim))), rngs=rngs)

    def __call__(self, x: jnp.ndarray) -> jnp.ndarray:
        if x.ndim != 4:
            raise ValueError(f"expected feature maps [B, X, Y, C], got shape {tuple(x.shape)}")
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))
