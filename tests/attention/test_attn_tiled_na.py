"""Tiled 1-D neighborhood attention (unfused GEMM and fused online softmax) vs the NA reference."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest

from attn_helpers import numpy_attention, random_qkv
from ntkbook.attention import na1d, neighborhood_mask, tiled_na1d, tiled_na1d_cost


@pytest.mark.parametrize("fused", [False, True])
@pytest.mark.parametrize("L,k,d,T,Tk", [(40, 5, 1, 8, None), (45, 4, 3, 7, 4), (64, 13, 4, 16, 16),
                                        (30, 3, 2, 64, None), (24, 6, 1, 5, 3)])
def test_matches_numpy_oracle(fused, L, k, d, T, Tk):
    q, k_, v = random_qkv(0, (2, L, 3, 8), dv=5)
    out = tiled_na1d(q, k_, v, k, dilation=d, tile=T, kv_tile=Tk, fused=fused)
    want = numpy_attention(q, k_, v, neighborhood_mask((L,), k, dilation=d)[None, None], 8 ** -0.5)
    assert out.shape == (2, L, 3, 5) and out.dtype == jnp.float32
    np.testing.assert_allclose(np.asarray(out), want, atol=2e-5, rtol=2e-5)


@pytest.mark.parametrize("fused", [False, True])
def test_float64_matches_na1d(x64, fused):
    q, k, v = random_qkv(1, (1, 48, 2, 4), dtype=jnp.float64)
    out = tiled_na1d(q, k, v, 7, dilation=2, tile=8, fused=fused, scale=0.3)
    assert out.dtype == jnp.float64
    ref = na1d(q, k, v, 7, dilation=2, scale=0.3, implementation="reference")
    np.testing.assert_allclose(np.asarray(out), np.asarray(ref), atol=1e-10, rtol=1e-10)


def test_cost_counts():
    c = tiled_na1d_cost(256, 5, tile=16, kv_tile=8)
    assert c["useful"] == 5 and c["dense"] == 256 and c["unfused"] == 20 and c["kv_tiles"] == 32
    # tiles of 16 queries need keys [s, s + 20) with s = tile start - 2 (clamped): 3 or 4 tiles of 8
    starts = np.clip(np.arange(256) - 2, 0, 251).reshape(16, 16)
    want = np.mean((starts[:, -1] + 4) // 8 - starts[:, 0] // 8 + 1)
    assert c["fused_tiles"] == want and c["fused"] == want * 8
    assert tiled_na1d_cost(64, 3, dilation=4, tile=64)["unfused"] == 16   # capped at the group length


@pytest.mark.parametrize("kwargs, match", [
    (dict(kernel_size=5, dilation=3), "multiple of the dilation"),
    (dict(kernel_size=40), "exceeds the length"),
    (dict(kernel_size=3, tile=0), "tile"),
    (dict(kernel_size=3, fused=1), "fused must be a bool"),
])
def test_bad_inputs(kwargs, match):
    q, k, v = random_qkv(0, (1, 32, 1, 4))
    with pytest.raises(ValueError, match=match):
        tiled_na1d(q, k, v, **kwargs)


def test_bad_rank():
    q, k, v = random_qkv(0, (1, 4, 4, 1, 4))
    with pytest.raises(ValueError):
        tiled_na1d(q, k, v, 3)


@pytest.mark.parametrize("fused", [False, True])
def test_gradients_match_na1d_reference(fused):
    # partial tiles (L = 45 = 3 groups of 15, tiles of 7) and dilation: the tiled forms differentiate like NA
    import functools

    from attn_helpers import assert_matches_reference

    q, k, v = random_qkv(3, (1, 45, 2, 4), dv=3)
    fast = functools.partial(tiled_na1d, kernel_size=4, dilation=3, tile=7, kv_tile=4, fused=fused)
    ref = functools.partial(na1d, kernel_size=4, dilation=3, implementation="reference")
    assert_matches_reference(fast, ref, (q, k, v), "float32")
