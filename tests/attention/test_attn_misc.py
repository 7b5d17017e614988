"""S2-attention masks, tile statistics, modern Hopfield retrieval, flax.nnx blocks."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from attn_helpers import assert_matches_reference, random_qkv
from ntkbook.attention import (MultiHeadSelfAttention, block_sparse_attention, NeighborhoodAttention2DBlock,
                               TransformerBlock, dot_product_attention, elu_feature_map,
                               hopfield_energy, hopfield_retrieval, linear_attention,
                               neighborhood_mask, strided_shard_mask, tile_occupancy, tile_permutation,
                               tile_stats)


# ------------------------------------------------------------------------------- S2 masks

def test_s2_union_is_causal_and_heads_are_sparse():
    L, H, bs, s, w = 64, 8, 4, 8, 8
    m = strided_shard_mask(L, H, block_size=bs, stride=s, local_window=w)
    np.testing.assert_array_equal(m.any(0), np.tril(np.ones((L, L), bool)))
    for h in range(H):
        assert m[h].mean() <= 1 / s + w / L                    # density over all L² pairs
        i, j = np.nonzero(m[h])
        assert np.all(j <= i)
        assert np.all(((j // bs) % s == h % s) | (i - j < w))


def test_s2_homogeneous_heads_share_one_shard_and_miss_context():
    m = strided_shard_mask(32, 4, block_size=4, stride=4, local_window=2, heterogeneous=False)
    assert all(np.array_equal(m[0], m[h]) for h in range(4))
    assert not np.array_equal(m.any(0), np.tril(np.ones((32, 32), bool)))


def test_s2_mask_runs_through_dot_product_attention_per_head():
    L, H = 12, 3
    m = jnp.asarray(strided_shard_mask(L, H, block_size=2, stride=3, local_window=2))
    q, k, v = random_qkv(0, (1, L, H, 4))
    a = dot_product_attention(q, k, v, mask=m, implementation="xla")
    for h in range(H):
        b = dot_product_attention(q[:, :, h:h + 1], k[:, :, h:h + 1], v[:, :, h:h + 1],
                                  mask=m[h], implementation="reference")
        np.testing.assert_allclose(np.asarray(a[:, :, h:h + 1]), np.asarray(b), atol=2e-6)


def test_tile_occupancy_brute_force_and_gna_stats():
    rng = np.random.default_rng(0)
    m = rng.random((2, 11, 13)) < 0.05
    occ = tile_occupancy(m, 4, 5)
    assert occ.shape == (2, 3, 3)
    for b, i, j in np.ndindex(occ.shape):
        assert occ[b, i, j] == m[b, 4 * i:4 * i + 4, 5 * j:5 * j + 5].any()
    # GNA: stride = window on aligned tiles is perfectly block sparse; stride 1 is not
    # (2-D tokens are reordered so that every 64-token tile is an 8×8 patch)
    perm = tile_permutation((32, 32), (8, 8))
    blocked = tile_stats(neighborhood_mask((32, 32), 8, stride=8)[perm][:, perm], 64, 64)
    sliding = tile_stats(neighborhood_mask((32, 32), 8, stride=1)[perm][:, perm], 64, 64)
    assert blocked["efficiency"] == pytest.approx(1.0)
    assert blocked["tile_fraction"] == pytest.approx(blocked["density"])
    assert sliding["tile_fraction"] >= 1.5 * sliding["density"]
    assert blocked["speedup_bound"] > sliding["speedup_bound"]


def test_tile_permutation_groups_patches():
    perm = tile_permutation((4, 6), (2, 3))
    assert sorted(perm.tolist()) == list(range(24))
    assert perm[:6].tolist() == [0, 1, 2, 6, 7, 8]
    with pytest.raises(ValueError, match="divide"):
        tile_permutation((5, 6), (2, 3))


def test_mask_bad_inputs():
    with pytest.raises(ValueError, match="block_size"):
        strided_shard_mask(8, 2, block_size=0, stride=2)
    with pytest.raises(ValueError, match="local_window"):
        strided_shard_mask(8, 2, block_size=2, stride=2, local_window=-1)
    with pytest.raises(ValueError, match="boolean"):
        tile_occupancy(np.ones((4, 4)), 2, 2)


# -------------------------------------------------------------------------------- Hopfield

def test_hopfield_update_is_softmax_attention_and_retrieves():
    rng = np.random.default_rng(1)
    X = jnp.asarray(np.sign(rng.standard_normal((64, 32))))            # 64 ±1 patterns in d=32
    flips = rng.random((64, 32)) < 0.15
    probes = jnp.asarray(np.where(flips, -X, X))
    out = hopfield_retrieval(probes, X, beta=1.0)
    p = jax.nn.softmax(np.asarray(probes) @ np.asarray(X).T, axis=-1)
    np.testing.assert_allclose(np.asarray(out), p @ np.asarray(X), atol=1e-5)
    assert float(jnp.mean(jnp.all(jnp.sign(out) == X, axis=-1))) >= 0.95


def test_hopfield_energy_never_increases():
    rng = np.random.default_rng(2)
    X = jnp.asarray(rng.standard_normal((2, 16, 8)))                     # leading batch axis
    xi = jnp.asarray(rng.standard_normal((2, 5, 8)))
    energies = [hopfield_energy(xi, X, beta=0.7)]
    for _ in range(6):
        xi = hopfield_retrieval(xi, X, beta=0.7)
        energies.append(hopfield_energy(xi, X, beta=0.7))
    e = np.stack([np.asarray(x) for x in energies])
    assert np.all(np.diff(e, axis=0) <= 1e-5)


def test_hopfield_bad_inputs():
    with pytest.raises(ValueError, match="beta"):
        hopfield_retrieval(jnp.ones((2, 4)), jnp.ones((3, 4)), beta=0.0)
    with pytest.raises(ValueError, match="last axis"):
        hopfield_retrieval(jnp.ones((2, 4)), jnp.ones((3, 5)))
    with pytest.raises(ValueError, match="num_steps"):
        hopfield_retrieval(jnp.ones((2, 4)), jnp.ones((3, 4)), num_steps=0)


# ---------------------------------------------------------------------------------- blocks

def test_transformer_block_causality_and_gradients():
    block = TransformerBlock(16, 4, is_causal=True, rngs=nnx.Rngs(0))
    x = jax.random.normal(jax.random.key(1), (2, 9, 16))
    run = nnx.jit(lambda m, x: m(x))
    y = run(block, x)
    y2 = run(block, x.at[:, 6:].set(0.0))                                # change the future only
    np.testing.assert_allclose(np.asarray(y[:, :6]), np.asarray(y2[:, :6]), atol=1e-5)
    grads = nnx.jit(nnx.grad(lambda m, x: jnp.sum(m(x) ** 2)))(block, x)
    leaves = jax.tree_util.tree_leaves(nnx.state(grads))
    assert leaves and all(bool(jnp.all(jnp.isfinite(g))) for g in leaves)


def test_transformer_block_with_linear_attention():
    attn = functools.partial(linear_attention, feature_map=elu_feature_map, is_causal=True)
    block = TransformerBlock(8, 2, attention_fn=attn, rngs=nnx.Rngs(0))
    assert block(jnp.ones((1, 5, 8))).shape == (1, 5, 8)


def test_na2d_block_implementations_agree():
    x = jax.random.normal(jax.random.key(2), (1, 6, 7, 8))
    outs = []
    for impl in ("reference", "xla"):
        block = NeighborhoodAttention2DBlock(8, 2, kernel_size=3, dilation=(2, 1),
                                             implementation=impl, rngs=nnx.Rngs(3))
        outs.append(np.asarray(block(x)))
    np.testing.assert_allclose(outs[0], outs[1], atol=1e-5)


def test_block_bad_inputs():
    with pytest.raises(ValueError, match="divisible"):
        MultiHeadSelfAttention(10, 3, rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match="feature maps"):
        NeighborhoodAttention2DBlock(8, 2, kernel_size=3, rngs=nnx.Rngs(0))(jnp.ones((6, 6, 8)))


# ------------------------------------------------------------------- block-sparse attention

@pytest.mark.parametrize("impl", ["xla", "pallas"])
def test_block_sparse_matches_dense_masked(impl):
    """Per-head S2 mask with causal, ragged length and partial tiles; forward and gradient."""
    L, H = 27, 2
    mask = strided_shard_mask(L, H, block_size=3, stride=2, local_window=4)
    mask[0, 5, :] = False                                               # an empty row
    q, k, v = random_qkv(20, (2, L, H, 4), dv=3)
    f = lambda impl: functools.partial(block_sparse_attention, mask=mask, is_causal=True,  # noqa: E731
                                       block_q=8, block_k=5, implementation=impl)
    assert_matches_reference(f(impl), f("reference"), (q, k, v), "float32")


def test_block_sparse_work_is_linear_for_neighborhoods():
    perm = tile_permutation((16, 16), (4, 4))
    m = neighborhood_mask((16, 16), 4, stride=4)[perm][:, perm]
    st = tile_stats(m, 16, 16)
    assert st["efficiency"] == pytest.approx(1.0) and st["speedup_bound"] == pytest.approx(16.0)
    q, k, v = random_qkv(21, (1, 256, 1, 4))
    out = block_sparse_attention(q, k, v, m, block_q=16, block_k=16)
    ref = dot_product_attention(q, k, v, mask=jnp.asarray(m), implementation="xla")
    np.testing.assert_allclose(np.asarray(out), np.asarray(ref), atol=2e-6)


def test_block_sparse_bad_inputs():
    x = jnp.ones((1, 8, 1, 4))
    with pytest.raises(ValueError, match="concrete"):
        jax.jit(lambda m: block_sparse_attention(x, x, x, m, implementation="xla"))(
            jnp.ones((8, 8), bool))
    with pytest.raises(ValueError, match="block_q"):
        block_sparse_attention(x, x, x, np.ones((8, 8), bool), block_q=0)
    with pytest.raises(ValueError, match="broadcast"):
        block_sparse_attention(x, x, x, np.ones((7, 8), bool))


def test_public_api_is_typed_and_documented():
    import inspect

    import ntkbook.attention as attention
    assert len(attention.__all__) == len(set(attention.__all__))
    for name in attention.__all__:
        obj = getattr(attention, name)
        if inspect.isfunction(obj) or inspect.isclass(obj):
            assert obj.__doc__ and ">>>" in obj.__doc__, f"{name} needs a docstring with an example"
        if inspect.isfunction(obj):
            sig = inspect.signature(obj)
            assert sig.return_annotation is not inspect.Signature.empty, name
