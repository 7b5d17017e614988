"""A long-convolution sequence block (flax.nnx) with interchangeable kernel parameterisations."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from .._validate import check_positive, check_positive_int
from ._common import numpy_rng
from .continuous import FlexConvKernel, HyperKernel
from .fft import fft_conv
from .generators import sgconv_init, sgconv_kernel, smooth, squash
from .ssm import s4d_init, s4d_kernel

__all__ = ["LongConvBlock", "KERNEL_KINDS"]

KERNEL_KINDS: tuple[str, ...] = ("free", "s4d", "sgconv", "flexconv", "hyper")


class LongConvBlock(nnx.Module):
    """Sequence block: ``y = x + W_out · GELU(K * LN(x) + D ⊙ LN(x))`` on channels-last sequences.

    The depthwise long convolution ``K * ·`` (kernel length = sequence length ``L``) is applied by
    :func:`~ntkbook.conv.fft_conv`; the kernel ``K (C, L)`` comes from one of

    * ``"free"`` — ``C × L`` free parameters, optionally regularised by :func:`squash` (``squash_lambda``)
      and :func:`smooth` (``smooth_width``) as in "Simple hardware-efficient long convolutions";
    * ``"s4d"`` — a diagonal SSM (S4D-Lin init, ZOH) with ``state_size`` complex modes per channel;
    * ``"sgconv"`` — SGConv multiscale sub-kernels of size ``d_s`` (decay ``alpha``);
    * ``"flexconv"`` — a MAGNet kernel with a learnable Gaussian mask;
    * ``"hyper"`` — a sinusoidal coordinate MLP (hyper-kernel).

    Parameters
    ----------
    channels : int
        ``C``.
    length : int
        Maximum sequence length ``L`` (the kernel length); shorter inputs use the first taps.
    kernel : str, one of :data:`KERNEL_KINDS`
    causal : bool
        Causal (zero-padded) or circular convolution.
    residual, norm : bool
        Residual connection and pre-LayerNorm.
    state_size, d_s, alpha, squash_lambda, smooth_width, hidden : kernel options (see above).
    rngs : nnx.Rngs

    Call
    ----
    ``block(x)`` with ``x (B, L', C)``, ``L' ≤ L`` → ``(B, L', C)``.

    Examples
    --------
    >>> blk = LongConvBlock(8, 32, kernel="s4d", rngs=nnx.Rngs(0))
    >>> blk(jnp.ones((2, 32, 8))).shape, blk.kernel().shape
    ((2, 32, 8), (8, 32))
    """

    def __init__(self, channels: int, length: int, *, kernel: str = "free", causal: bool = True,
                 residual: bool = True, norm: bool = True, state_size: int = 32, d_s: int = 16,
                 alpha: float = 0.5, squash_lambda: float = 0.0, smooth_width: int = 1,
                 hidden: int = 32, rngs: nnx.Rngs):
        self.channels = check_positive_int(channels, "channels")
        self.length = check_positive_int(length, "length")
        if kernel not in KERNEL_KINDS:
            raise ValueError(f"kernel must be one of {KERNEL_KINDS}, got {kernel!r}")
        check_positive(squash_lambda, "squash_lambda", allow_zero=True)
        smooth_width = check_positive_int(smooth_width, "smooth_width")
        if smooth_width % 2 == 0:
            raise ValueError(f"smooth_width must be odd, got {smooth_width}")
        self.kind = kernel
        self.causal = bool(causal)
        self.residual = bool(residual)
        self.squash_lambda = float(squash_lambda)
        self.smooth_width = smooth_width
        self.alpha = float(alpha)
        c, el = self.channels, self.length
        gen = numpy_rng(rngs.params())
        f32 = lambda a: jnp.asarray(a, jnp.float32)  # noqa: E731
        if kernel == "free":
            decay = np.exp(-np.arange(el) / max(el / 8.0, 1.0))               # mild decay at init
            self.k = nnx.Param(f32(gen.standard_normal((c, el)) * decay / math.sqrt(el / 8.0 + 1)))
        elif kernel == "s4d":
            p = s4d_init(rngs.params(), c, check_positive_int(state_size, "state_size"),
                         dt_min=1e-3, dt_max=1e-1)
            dt, a, cc = (np.asarray(p[name]) for name in ("dt", "A", "C"))
            self.log_dt = nnx.Param(f32(np.log(dt)))
            self.log_neg_a_re = nnx.Param(f32(np.log(-a.real)))
            self.a_im = nnx.Param(f32(a.imag))
            self.c_re = nnx.Param(f32(cc.real))
            self.c_im = nnx.Param(f32(cc.imag))
        elif kernel == "sgconv":
            self.w = nnx.Param(f32(sgconv_init(rngs.params(), c, el, d_s=check_positive_int(d_s, "d_s"))))
        elif kernel == "flexconv":
            self.gen = FlexConvKernel(c, hidden=hidden, causal=causal, rngs=rngs)
        else:
            self.gen = HyperKernel(c, hidden=hidden, causal=causal, rngs=rngs)
        self.d = nnx.Param(f32(gen.standard_normal(c)))
        self.norm = nnx.LayerNorm(c, rngs=rngs) if norm else None
        self.out = nnx.Linear(c, c, rngs=rngs)

    def kernel(self, length: int | None = None) -> jnp.ndarray:
        """The current kernel, shape ``(C, length)`` (default the block's ``L``)."""
        el = self.length if length is None else check_positive_int(length, "length")
        if self.kind == "free":
            k = self.k[...]
            if self.squash_lambda > 0:
                k = squash(k, self.squash_lambda)
            if self.smooth_width > 1:
                k = smooth(k, self.smooth_width)
            if el > self.length:
                raise ValueError(f"a free kernel has {self.length} taps; cannot give {el}")
            return k[:, :el]
        if self.kind == "s4d":
            a = -jnp.exp(self.log_neg_a_re[...]) + 1j * self.a_im[...]
            c = self.c_re[...] + 1j * self.c_im[...]
            return s4d_kernel(jnp.exp(self.log_dt[...]), a, jnp.ones_like(a), c, el)
        if self.kind == "sgconv":
            return sgconv_kernel(self.w[...], el, alpha=self.alpha)
        return self.gen(el)

    def __call__(self, x: jnp.ndarray) -> jnp.ndarray:
        x = jnp.asarray(x)
        if x.ndim != 3 or x.shape[-1] != self.channels:
            raise ValueError(f"x must have shape (B, L, {self.channels}), got {tuple(x.shape)}")
        el = x.shape[1]
        if el > self.length:
            raise ValueError(f"sequence length {el} exceeds the block's kernel length {self.length}")
        h = self.norm(x) if self.norm is not None else x
        k = self.kernel(el).astype(h.dtype)
        y = fft_conv(jnp.swapaxes(h, 1, 2), k, causal=self.causal)
        y = jnp.swapaxes(y, 1, 2) + self.d[...] * h
        y = self.out(jax.nn.gelu(y))
        return x + y if self.residual else y
