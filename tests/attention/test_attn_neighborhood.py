"""Neighborhood attention: window rules vs a brute-force oracle; implementations vs the reference."""

from __future__ import annotations

import functools
import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from attn_helpers import assert_matches_reference, numpy_attention, random_qkv
from ntkbook.attention import (dot_product_attention, na1d, na2d, na3d, neighborhood_attention,
                               neighborhood_indices, neighborhood_mask, tile_occupancy)
from ntkbook.attention.flash import _window_tile_lists, window_flash_attention
from ntkbook.attention.neighborhood import _canonical_args, _tile_shape, _window_bounds


# ------------------------------------------------------------------ the oracle of the oracle

def oracle_axis_keys(L, k, s, d, causal, i):
    """Key positions of query ``i`` along one axis, by brute force over the dilation group."""
    members = list(range(i % d, L, d))          # the query's interleaved sub-sequence
    n, j = len(members), members.index(i)
    if causal:
        leader = min((j // s) * s + s - 1, n - 1)
        return [members[t] for t in range(n) if t <= j and leader - t < k]
    leader = min((j // s) * s + s // 2, n - 1)
    # of all windows of k consecutive members, the one whose centre slot is nearest the leader
    start = min(range(n - k + 1), key=lambda a: abs(a + k // 2 - leader))
    return [members[t] for t in range(start, start + k)]


def oracle_mask(shape, kernel, stride, dilation, causal):
    n = len(shape)
    tup = lambda x: (x,) * n if isinstance(x, (int, bool)) else tuple(x)  # noqa: E731
    kernel, stride, dilation, causal = map(tup, (kernel, stride, dilation, causal))
    N = int(np.prod(shape))
    mask = np.zeros((N, N), bool)
    for qi, qpos in enumerate(itertools.product(*(range(L) for L in shape))):
        per_axis = [oracle_axis_keys(shape[a], kernel[a], stride[a], dilation[a], causal[a], qpos[a])
                    for a in range(n)]
        for kpos in itertools.product(*per_axis):
            mask[qi, np.ravel_multi_index(kpos, shape)] = True
    return mask


CONFIGS = [  # (shape, kernel, stride, dilation, causal)
    ((11,), 3, 1, 1, False),
    ((11,), 4, 1, 2, False),          # even kernel, groups of length 6 and 5
    ((10,), 3, 1, 3, False),          # groups of length 4, 3, 3
    ((11,), 3, 1, 2, True),
    ((13,), 5, 3, 1, False),          # GNA stride, ragged last stride group
    ((13,), 4, 2, 2, True),           # causal stride with dilation
    ((12,), 4, 4, 1, False),          # blocked attention
    ((7, 6), (3, 2), (1, 2), (2, 1), (True, False)),
    ((5, 6), 3, (3, 1), (1, 2), (False, True)),
    ((4, 5, 3), (2, 3, 3), 1, (2, 1, 1), (True, False, False)),
]


@pytest.mark.parametrize("shape,kernel,stride,dilation,causal", CONFIGS)
def test_mask_matches_brute_force(shape, kernel, stride, dilation, causal):
    got = neighborhood_mask(shape, kernel, stride=stride, dilation=dilation, is_causal=causal)
    np.testing.assert_array_equal(got, oracle_mask(shape, kernel, stride, dilation, causal))


@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_property_1d_windows(data):
    L = data.draw(st.integers(1, 24), label="L")
    d = data.draw(st.integers(1, L), label="dilation")
    k = data.draw(st.integers(1, L // d), label="kernel")
    s = data.draw(st.integers(1, k), label="stride")
    causal = data.draw(st.booleans(), label="causal")
    idx, valid = neighborhood_indices((L,), k, stride=s, dilation=d, is_causal=causal)
    assert idx.shape == (L, k)
    for i in range(L):
        keys = sorted(idx[i][valid[i]].tolist())
        assert keys == oracle_axis_keys(L, k, s, d, causal, i)
        assert all(j % d == i % d for j in keys)          # own dilation group only
        if not causal:
            assert len(set(keys)) == k                     # shifted, never shrunk
        if causal:
            assert all(j <= i for j in keys)
        if s == 1:
            assert i in keys
            if causal:
                assert len(keys) == min(i // d + 1, k)     # k keys ending at i


def test_stride_equal_kernel_is_blocked_attention():
    mask = neighborhood_mask((12,), 4, stride=4)
    block = np.arange(12) // 4
    np.testing.assert_array_equal(mask, block[:, None] == block[None, :])
    mask2 = neighborhood_mask((6, 4), (3, 2), stride=(3, 2))
    bx, by = np.meshgrid(np.arange(6) // 3, np.arange(4) // 2, indexing="ij")
    b = (bx * 2 + by).ravel()
    np.testing.assert_array_equal(mask2, b[:, None] == b[None, :])


def test_full_kernel_is_full_attention_and_causal_full_kernel_is_causal():
    np.testing.assert_array_equal(neighborhood_mask((5, 3), (5, 3)), np.ones((15, 15), bool))
    np.testing.assert_array_equal(neighborhood_mask((7,), 7, is_causal=True),
                                  np.tril(np.ones((7, 7), bool)))


# -------------------------------------------------------------- attention outputs

OUTPUT_CASES = [  # (spatial, kernel, stride, dilation, causal)
    ((11,), 3, 1, 2, True),
    ((13,), 5, 2, 1, False),
    ((7, 6), (3, 2), (1, 2), (2, 1), (True, False)),
    ((4, 5, 3), (2, 3, 3), 1, (2, 1, 1), (True, False, False)),
]


@pytest.mark.parametrize("spatial,kernel,stride,dilation,causal", OUTPUT_CASES)
def test_reference_matches_numpy(spatial, kernel, stride, dilation, causal):
    B, H, D = 2, 2, 4
    q, k, v = random_qkv(1, (B, *spatial, H, D), dv=3)
    out = neighborhood_attention(q, k, v, kernel, stride=stride, dilation=dilation,
                                 is_causal=causal, implementation="reference")
    N = int(np.prod(spatial))
    vis = oracle_mask(spatial, kernel, stride, dilation, causal)[None, None]
    want = numpy_attention(q.reshape(B, N, H, D), k.reshape(B, N, H, D), v.reshape(B, N, H, 3),
                           vis, D ** -0.5)
    np.testing.assert_allclose(np.asarray(out).reshape(want.shape), want, atol=2e-6, rtol=2e-6)


@pytest.mark.parametrize("case,dtype", [(0, "float32"), (2, "float32"), (3, "float32"),
                                        (2, "bfloat16")])
def test_xla_matches_reference(case, dtype):
    spatial, kernel, stride, dilation, causal = OUTPUT_CASES[case]
    q, k, v = random_qkv(2, (2, *spatial, 2, 8), dtype=jnp.dtype(dtype))
    f = lambda impl: functools.partial(neighborhood_attention, kernel_size=kernel, stride=stride,  # noqa: E731
                                       dilation=dilation, is_causal=causal, implementation=impl)
    assert_matches_reference(f("xla"), f("reference"), (q, k, v), dtype)


@pytest.mark.parametrize("case", [2, 3])
def test_pallas_matches_reference(case):
    spatial, kernel, stride, dilation, causal = OUTPUT_CASES[case]
    q, k, v = random_qkv(3, (1, *spatial, 2, 8))
    f = lambda impl: functools.partial(neighborhood_attention, kernel_size=kernel, stride=stride,  # noqa: E731
                                       dilation=dilation, is_causal=causal, implementation=impl)
    assert_matches_reference(f("pallas"), f("reference"), (q, k, v), "float32")


@pytest.mark.parametrize("shape,kernel,stride,dilation,causal", CONFIGS)
def test_fused_window_kernel_matches_oracle_with_small_tiles(shape, kernel, stride, dilation, causal):
    """The fused kernel (window bounds, tile-major order, 4-token tiles: many partial and border
    tiles) against the brute-force oracle mask."""
    ks, st, dl, ca = _canonical_args(tuple(shape), kernel, stride, dilation, causal, "test")
    N = int(np.prod(shape))
    lo, hi, kc, perm = _window_bounds(tuple(shape), ks, st, dl, ca, 4)
    p = np.arange(N) if perm is None else perm
    q, k, v = random_qkv(11, (2, N, 2, 4), dv=3)
    out = window_flash_attention(q[:, p], k[:, p], v[:, p], (lo, hi, kc), dl, block_q=4, block_k=4)
    vis = oracle_mask(shape, kernel, stride, dilation, causal)[None, None]
    want = numpy_attention(q, k, v, vis, 0.5)
    np.testing.assert_allclose(np.asarray(out)[:, np.argsort(p)], want, atol=2e-6, rtol=2e-6)


@pytest.mark.parametrize("case", [0, 2])
def test_fused_window_kernel_gradients_with_small_tiles(case):
    spatial, kernel, stride, dilation, causal = OUTPUT_CASES[case]
    ks, st, dl, ca = _canonical_args(tuple(spatial), kernel, stride, dilation, causal, "test")
    lo, hi, kc, perm = _window_bounds(tuple(spatial), ks, st, dl, ca, 4)
    N = int(np.prod(spatial))
    p = np.arange(N) if perm is None else perm
    inv = np.argsort(p)
    q, k, v = random_qkv(12, (1, *spatial, 2, 4))

    def fused(q, k, v):
        flat = [x.reshape(1, N, 2, 4)[:, p] for x in (q, k, v)]
        out = window_flash_attention(*flat, (lo, hi, kc), dl, block_q=4, block_k=4)[:, inv]
        return out.reshape(q.shape)
    ref = functools.partial(neighborhood_attention, kernel_size=kernel, stride=stride,
                            dilation=dilation, is_causal=causal, implementation="reference")
    assert_matches_reference(fused, ref, (q, k, v), "float32")


def test_fused_path_tiles_are_a_superset_of_the_mask_and_2d_tiles_visit_fewer():
    spatial, kernel, block = (32, 32), (5, 5), 16
    ks, st, dl, ca = _canonical_args(spatial, kernel, 1, 1, False, "test")
    lo, hi, kc, perm = _window_bounds(spatial, ks, st, dl, ca, block)
    assert perm is not None and _tile_shape(spatial, block) == (4, 4)
    mask = neighborhood_mask(spatial, kernel)[np.ix_(perm, perm)]
    kv_list, _ = _window_tile_lists(jnp.asarray(lo), jnp.asarray(hi), jnp.asarray(kc), block, block)
    visited = np.zeros((64, 64), bool)
    for t, row in enumerate(np.asarray(kv_list)):
        visited[t, row[row >= 0]] = True
    occ = tile_occupancy(mask, block, block)
    assert np.all(visited >= occ)                      # every tile with a visible entry is visited
    assert visited.sum() == occ.sum()                  # and, without dilation, nothing more
    row_major = tile_occupancy(neighborhood_mask(spatial, kernel), block, block)
    assert occ.sum() < 0.8 * row_major.sum()           # 4×4 tiles: fewer tiles than 1×16 runs (484 vs 640)
    # with rows of 64 tokens and 64-token tiles, whole rows are the better tiles: order kept
    ks, st, dl, ca = _canonical_args((64, 64), (7, 7), 1, 1, False, "test")
    assert _window_bounds((64, 64), ks, st, dl, ca, 64)[3] is None


def test_fused_path_builds_no_n_by_n_array():
    spatial = (32, 32)
    N = 32 * 32
    q = jnp.ones((1, *spatial, 1, 8))
    jaxpr = jax.make_jaxpr(lambda q: na2d(q, q, q, 5, implementation="pallas"))(q)
    sizes = [int(np.prod(v.aval.shape)) for eqn in jaxpr.jaxpr.eqns for v in eqn.outvars]
    sizes += [int(np.prod(np.shape(c))) for c in jaxpr.consts]
    assert max(sizes) < N * N // 16


def test_mask_path_equals_neighborhood_attention():
    spatial, kernel, dilation, causal = (6, 7), (3, 3), (2, 1), (False, True)
    q, k, v = random_qkv(4, (2, *spatial, 2, 4))
    na = na2d(q, k, v, kernel, dilation=dilation, is_causal=causal, implementation="xla")
    mask = neighborhood_mask(spatial, kernel, dilation=dilation, is_causal=causal)
    dense = dot_product_attention(q, k, v, mask=jnp.asarray(mask), implementation="xla")
    np.testing.assert_allclose(np.asarray(na), np.asarray(dense), atol=2e-6)


def test_wrappers_agree_with_generic_and_full_window_is_full_attention():
    q, k, v = random_qkv(5, (1, 4, 5, 3, 2, 4))
    a = na3d(q, k, v, (4, 5, 3), implementation="xla")
    b = dot_product_attention(q, k, v, implementation="xla")
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=2e-6)
    q1, k1, v1 = random_qkv(6, (2, 9, 2, 4))
    np.testing.assert_allclose(
        np.asarray(na1d(q1, k1, v1, 3, dilation=2)),
        np.asarray(neighborhood_attention(q1, k1, v1, (3,), dilation=(2,))), atol=1e-7)


def test_jit_and_vmap():
    q, k, v = random_qkv(7, (2, 6, 6, 1, 4))
    f = jax.jit(functools.partial(na2d, kernel_size=3, dilation=2))
    np.testing.assert_allclose(np.asarray(f(q, k, v)), np.asarray(na2d(q, k, v, 3, dilation=2)),
                               atol=1e-6)


@pytest.mark.parametrize("call,match", [
    (lambda x: na1d(x, x, x, 6, dilation=2), "exceeds"),
    (lambda x: na1d(x, x, x, 12), "exceeds"),
    (lambda x: na1d(x, x, x, 3, stride=4), "stride"),
    (lambda x: na1d(x, x, x, 0), "positive"),
    (lambda x: na1d(x, x, x, 3, dilation=0), "positive"),
    (lambda x: na1d(x, x, x, True), "int"),
    (lambda x: na1d(x, x, x, (3, 3)), "sequence of 1"),
    (lambda x: na1d(x, x, x, 3, is_causal=(True, False)), "bool"),
    (lambda x: na2d(x, x, x, 3), "rank 5"),
    (lambda x: na1d(x, x[:, :5], x[:, :5], 3), "spatial shape"),
    (lambda x: na1d(x, x, x, 3, implementation="natten"), "implementation"),
    (lambda x: na1d(x, x, x, 3, scale=0.0), "scale"),
])
def test_bad_inputs(call, match):
    x = jnp.ones((1, 11, 2, 4))
    with pytest.raises(ValueError, match=match):
        call(x)


def test_bad_mask_arguments():
    with pytest.raises(ValueError, match="1, 2 or 3"):
        neighborhood_mask((3, 3, 3, 3), 2)
    with pytest.raises(ValueError, match="exceeds"):
        neighborhood_indices((4, 9), (5, 3))
