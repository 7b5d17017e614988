"""Every Pallas kernel of the package lowers for CUDA through Triton — checked on a CPU machine.

No GPU is available in CI, and interpret mode (what the numerical tests run) accepts programs that
Triton rejects: blocks whose sizes are not powers of two, integer ops its lowering lacks, or a
``pallas_call`` without Triton compiler parameters, which recent JAX sends to Mosaic GPU instead.
JAX can lower a jitted function for a platform other than the one it runs on
(``.trace(...).lower(lowering_platforms=("cuda",))``), and the Pallas→Triton translation happens
at that step, so these tests catch such errors without hardware. They do not run the kernels:
compiling the Triton IR to GPU code, speed and numerics on the device still need a GPU.

``jax.default_backend`` is patched to ``"gpu"`` so that the ops take their GPU branches
(``interpret=False``, power-of-two padding, ``implementation=None`` → the GPU default).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import ntkbook.attention as A
from ntkbook import conv

S = jax.ShapeDtypeStruct
F32, BF16 = jnp.float32, jnp.bfloat16
TRITON_CALL = "__gpu$xla.gpu.triton"


def _x(shape, dtype=F32):
    return S(shape, dtype)


_Q = _x((2, 100, 3, 40))                 # ragged lengths (not multiples of any tile), odd head dims
_K = _x((2, 77, 3, 40))
_V = _x((2, 77, 3, 24))
_L = _x((1, 70, 2, 20))
_CAUSAL_MASK = np.tril(np.ones((100, 77), bool))[None, None]

CASES = {
    "dense": (lambda q, k, v: A.dot_product_attention(q, k, v, implementation="pallas"), (_Q, _K, _V)),
    "dense-default-impl": (lambda q, k, v: A.dot_product_attention(q, k, v), (_Q, _K, _V)),
    "dense-causal-bf16": (lambda q, k, v: A.dot_product_attention(q, k, v, is_causal=True, implementation="pallas"),
                          (_x((2, 100, 3, 40), BF16), _x((2, 77, 3, 40), BF16), _x((2, 77, 3, 24), BF16))),
    "dense-mask": (lambda q, k, v: A.dot_product_attention(q, k, v, mask=_CAUSAL_MASK, implementation="pallas"),
                   (_Q, _K, _V)),
    "block-sparse": (lambda q, k, v: A.block_sparse_attention(q, k, v, _CAUSAL_MASK, implementation="pallas"),
                     (_Q, _K, _V)),
    "na1d-dilated-causal": (lambda q, k, v: A.na1d(q, k, v, 7, dilation=2, is_causal=True, implementation="pallas"),
                            (_x((1, 50, 2, 24)),) * 3),
    "na1d-stride-gna": (lambda q, k, v: A.na1d(q, k, v, 7, stride=2, implementation="pallas"),
                        (_x((1, 50, 2, 24)),) * 3),
    "na2d-dilated": (lambda q, k, v: A.na2d(q, k, v, 5, dilation=(1, 2), implementation="pallas"),
                     (_x((1, 20, 18, 2, 24)),) * 3),
    "na3d": (lambda q, k, v: A.na3d(q, k, v, 3, implementation="pallas"), (_x((1, 6, 7, 8, 2, 16)),) * 3),
    "linear-causal": (lambda q, k, v: A.linear_attention(q, k, v, A.elu_feature_map, is_causal=True,
                                                         implementation="pallas"), (_L, _L, _L)),
    "soft-exact": (lambda q, v: A.softmax_free_attention(q, v, implementation="pallas"), (_L, _L)),
    "soft-nystrom": (lambda q, v: A.softmax_free_attention(q, v, num_landmarks=10, implementation="pallas"),
                     (_L, _L)),
    "rpe": (lambda q, k, v, b: A.kernelized_rpe_attention(q, k, v, A.elu_feature_map, b, implementation="pallas"),
            (_L, _L, _L, _x((139,)))),
    "rpe-causal": (lambda q, k, v, b: A.kernelized_rpe_attention(q, k, v, A.elu_feature_map, b, is_causal=True,
                                                                 implementation="pallas"),
                   (_L, _L, _L, _x((139,)))),
    "fft-conv-causal": (lambda u, k: conv.fft_conv(u, k, implementation="pallas"), (_x((2, 12, 300)), _x((12, 33)))),
    "fft-conv-circular-bf16": (lambda u, k: conv.fft_conv(u, k, causal=False, implementation="pallas"),
                               (_x((2, 12, 300), BF16), _x((12, 33), BF16))),
    "depthwise-1d-dilated": (lambda x, w: conv.depthwise_conv(x, w, dilation=2, implementation="pallas"),
                             (_x((2, 50, 12)), _x((9, 12)))),
    "depthwise-2d-strided": (lambda x, w: conv.depthwise_conv(x, w, strides=2, implementation="pallas"),
                             (_x((2, 20, 19, 12)), _x((7, 7, 12)))),
    "depthwise-3d": (lambda x, w: conv.depthwise_conv(x, w, implementation="pallas"),
                     (_x((1, 6, 7, 5, 4)), _x((3, 3, 3, 4)))),
}


@pytest.fixture
def gpu_branches(monkeypatch):
    monkeypatch.setattr(jax, "default_backend", lambda: "gpu")


def _lower_for_cuda(fn, specs) -> str:
    return jax.jit(fn).trace(*specs).lower(lowering_platforms=("cuda",)).as_text()


@pytest.mark.parametrize("name", sorted(CASES))
def test_pallas_kernels_lower_for_cuda_through_triton(name, gpu_branches):
    fn, specs = CASES[name]
    fwd = _lower_for_cuda(fn, specs)
    assert TRITON_CALL in fwd, "the GPU path must launch a Triton kernel"
    assert "mosaic" not in fwd.lower()

    def loss(*args):
        return jnp.sum(fn(*args).astype(jnp.float32) ** 2)

    bwd = _lower_for_cuda(jax.grad(loss, argnums=tuple(range(len(specs)))), specs)
    assert bwd.count(TRITON_CALL) >= fwd.count(TRITON_CALL)
    assert "mosaic" not in bwd.lower()


def test_lowering_check_catches_a_kernel_triton_rejects(gpu_branches):
    # a tile that is not a power of two passes interpret mode but not the Triton lowering
    from ntkbook.attention.kernel_pallas import _gauss_impl

    x, w = _x((1, 100, 2, 20)), _x((1, 100, 2, 3))
    bad = lambda x, y, w: _gauss_impl(x, y, w, gamma=0.1, block_n=24, block_m=24, interpret=False,  # noqa: E731
                                      gpu_layout=False)
    with pytest.raises(ValueError, match="power of 2"):
        _lower_for_cuda(bad, (x, x, w))
