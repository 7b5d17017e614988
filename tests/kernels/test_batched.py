"""Tests for ntkbook.kernels.batched: tiled Gram matrices equal the direct kernel, on 1 and 4 devices."""

from __future__ import annotations

import functools
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ntkbook.kernels.batched import TILE_AXIS, BatchedKernel, GramTiles, batched
from ntkbook.kernels.empirical import empirical_ntk

REPO = Path(__file__).resolve().parents[2]


def gauss(x1, x2=None, *, lengthscale=1.0):
    """A local RBF kernel (independent of ntkbook.kernels.classic)."""
    x2 = x1 if x2 is None else x2
    sq = jnp.sum((x1[:, None, :] - x2[None, :, :]) ** 2, axis=-1)
    return jnp.exp(-0.5 * sq / lengthscale**2)


def cross(x1, x2=None):
    """Not symmetric in its arguments' roles: k(a, b) = a·(b + 1)."""
    x2 = x1 if x2 is None else x2
    return x1 @ (x2 + 1.0).T


@pytest.fixture(scope="module")
def data():
    k1, k2 = jax.random.split(jax.random.key(0))
    return jax.random.normal(k1, (37, 3)), jax.random.normal(k2, (23, 3))


def test_ragged_sizes_match_direct_kernel(data):
    x1, x2 = data
    bk = batched(gauss, 8)
    assert isinstance(bk, BatchedKernel)
    got = bk(x1, x2, lengthscale=jnp.asarray(1.5))  # array keyword: passed through as an argument
    assert got.shape == (37, 23) and got.dtype == jnp.float32
    np.testing.assert_allclose(got, gauss(x1, x2, lengthscale=1.5), rtol=1e-6, atol=1e-6)


def test_symmetric_mirrors_upper_triangle(data):
    x1, _ = data
    bk = batched(gauss, 8)
    tiles = bk.tiles(x1)
    assert isinstance(tiles, GramTiles)
    assert tiles.n_tiles == 5 * 6 // 2  # ⌈37/8⌉ = 5 tile-rows, tiles on and above the diagonal
    assert np.all(tiles.index[:tiles.n_tiles, 1] >= tiles.index[:tiles.n_tiles, 0])
    got = bk(x1, lengthscale=2.0)  # static keyword
    np.testing.assert_allclose(got, gauss(x1, lengthscale=2.0), rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(np.asarray(got), np.asarray(got).T)
    # a kernel that is not symmetric in its arguments: switch mirroring off, every tile is computed
    full = batched(cross, 8, exploit_symmetry=False)
    assert full.tiles(x1).n_tiles == 25
    np.testing.assert_allclose(full(x1), cross(x1), rtol=1e-5, atol=1e-5)


def test_to_host_streams_into_numpy(data):
    x1, x2 = data
    bk = batched(gauss, 8, to_host=True)
    got = bk(x1, x2)
    assert isinstance(got, np.ndarray) and got.shape == (37, 23) and got.dtype == np.float32
    np.testing.assert_allclose(got, gauss(x1, x2), rtol=1e-6, atol=1e-6)
    sym = bk(x1)
    np.testing.assert_allclose(sym, gauss(x1), rtol=1e-6, atol=1e-6)


def test_block_larger_than_inputs_and_exact_multiples(data):
    x1, x2 = data
    np.testing.assert_allclose(batched(gauss, 64)(x1, x2), gauss(x1, x2), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(batched(gauss, 8, to_host=True)(x1[:16], x2[:8]), gauss(x1[:16], x2[:8]),
                               rtol=1e-6, atol=1e-6)


def _mlp(params, x):
    return jnp.tanh(x @ params["w1"]) @ params["w2"] / jnp.sqrt(params["w1"].shape[1])


def test_extra_output_axes_empirical_ntk():
    """An empirical NTK with trace_axes=() returns (N1, N2, O, O); tiles keep the extra axes."""
    k1, k2, k3 = jax.random.split(jax.random.key(1), 3)
    params = {"w1": jax.random.normal(k1, (3, 8)), "w2": jax.random.normal(k2, (8, 2))}
    x = jax.random.normal(k3, (11, 3))
    ntk = functools.partial(empirical_ntk, _mlp, params=params, trace_axes=())
    want = ntk(x)
    got = batched(ntk, 4)(x)  # symmetric input, extra axes: all tiles are computed, none mirrored
    assert got.shape == (11, 11, 2, 2)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    host = batched(ntk, 4, to_host=True)(x, x[:6])
    assert host.shape == (11, 6, 2, 2)
    np.testing.assert_allclose(host, want[:, :6], rtol=1e-5, atol=1e-5)


def test_float64(x64, data):
    x1, x2 = (np.asarray(a, np.float64) for a in data)
    want = gauss(jnp.asarray(x1), jnp.asarray(x2))
    for to_host in (False, True):
        got = batched(gauss, 8, to_host=to_host)(x1, x2)
        assert got.dtype == np.float64
        np.testing.assert_allclose(got, want, rtol=1e-14, atol=1e-14)


def _wrong_rank(a, b):
    return gauss(a, b).sum(axis=1)


def _two_arrays(a, b):
    return gauss(a, b), gauss(a, b)


@pytest.mark.parametrize("make, args, match", [
    (lambda: batched(gauss, 0), None, "block"),
    (lambda: batched(gauss, -3), None, "block"),
    (lambda: batched(gauss, 2.5), None, "block"),
    (lambda: batched(gauss, True), None, "block"),
    (lambda: batched("gauss", 4), None, "callable"),
    (lambda: batched(gauss, 4, devices=[]), None, "devices"),
    (lambda: batched(gauss, 4, devices=["cpu"]), None, "devices"),
    (lambda: batched(gauss, 4, devices=jax.devices() * 2), None, "repeat"),
    (lambda: batched(gauss, 4, to_host="yes"), None, "to_host"),
    (lambda: batched(gauss, 4), (jnp.ones(()),), "batch axis"),
    (lambda: batched(gauss, 4), (jnp.ones((0, 3)),), "positive length"),
    (lambda: batched(gauss, 4), (jnp.ones((5, 3)), jnp.ones((4, 2))), "same feature shape"),
    (lambda: batched(_wrong_rank, 4), (jnp.ones((5, 3)),), r"shape \(len\(x1\), len\(x2\)"),
    (lambda: batched(_two_arrays, 4), (jnp.ones((5, 3)),), "one array"),
])
def test_bad_inputs_raise(make, args, match):
    with pytest.raises(ValueError, match=match):
        bk = make()
        bk(*args)


_FOUR_DEVICES = textwrap.dedent("""
    import collections
    import jax, jax.numpy as jnp, numpy as np
    from ntkbook.kernels.batched import TILE_AXIS, batched

    assert jax.device_count() == 4, jax.devices()
    calls = collections.Counter()

    def gauss(x1, x2):
        return jnp.exp(-0.5 * jnp.sum((x1[:, None] - x2[None]) ** 2, axis=-1))

    def counting_gauss(x1, x2):
        # runs inside shard_map: axis_index names the device shard evaluating this tile
        jax.debug.callback(lambda i: calls.update([int(i)]), jax.lax.axis_index(TILE_AXIS))
        return gauss(x1, x2)

    x1 = jax.random.normal(jax.random.key(0), (37, 3))
    x2 = jax.random.normal(jax.random.key(1), (23, 3))
    bk = batched(counting_gauss, 8)

    # 1. correct result, and the tiles were evaluated on all four shards: 5 x 3 = 15 tiles, padded to 16
    got = bk(x1, x2)
    jax.effects_barrier()
    np.testing.assert_allclose(got, gauss(x1, x2), rtol=1e-6, atol=1e-6)
    assert dict(calls) == {0: 4, 1: 4, 2: 4, 3: 4}, calls

    # 2. the raw tiles live on four different devices, each shard holding the tiles it was given
    t = bk.tiles(x1, x2)
    assert t.values.shape == (16, 8, 8) and t.n_tiles == 15
    shards = t.values.addressable_shards
    assert sorted(s.device.id for s in shards) == [0, 1, 2, 3]
    x1p = np.concatenate([np.asarray(x1), np.repeat(np.asarray(x1[:1]), 3, 0)])
    x2p = np.concatenate([np.asarray(x2), np.repeat(np.asarray(x2[:1]), 1, 0)])
    for s in shards:
        rows = range(*s.index[0].indices(16))
        assert len(rows) == 4
        for local, t_id in enumerate(rows):
            i, j = t.index[t_id]
            want = gauss(x1p[8 * i:8 * i + 8], x2p[8 * j:8 * j + 8])
            np.testing.assert_allclose(np.asarray(s.data[local]), want, rtol=1e-6, atol=1e-6)

    # 3. symmetric (15 upper tiles) and streamed to the host, also spread over the four shards
    calls.clear()
    host = batched(counting_gauss, 8, to_host=True)(x1)
    jax.effects_barrier()
    assert isinstance(host, np.ndarray)
    np.testing.assert_allclose(host, gauss(x1, x1), rtol=1e-6, atol=1e-6)
    assert set(calls) == {0, 1, 2, 3} and sum(calls.values()) == 16, calls
    print("OK")
""")


def test_four_devices_subprocess():
    env = dict(os.environ)
    env["XLA_FLAGS"] = (env.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=4").strip()
    env["JAX_PLATFORMS"] = "cpu"
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    proc = subprocess.run([sys.executable, "-c", _FOUR_DEVICES], env=env, cwd=REPO, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.strip().endswith("OK")


def test_tile_axis_is_visible_to_kernels(data):
    """On one device the mesh still exists: axis_index(TILE_AXIS) is 0 for every tile."""
    x1, _ = data
    seen = []

    def k(a, b):
        jax.debug.callback(lambda i: seen.append(int(i)), jax.lax.axis_index(TILE_AXIS))
        return gauss(a, b)

    if jax.device_count() != 1:
        pytest.skip("checks the single-device mesh")
    batched(k, 16)(x1[:20], x1[:20])
    jax.effects_barrier()
    assert seen == [0] * 4
