"""The ``attention`` suite: dense flash, 2-D neighborhood and causal linear attention.

Every case runs each ntkbook implementation next to a baseline measured in the same run:

* dense attention — ``dot_product_attention`` with ``"xla"`` and ``"pallas"`` against
  ``jax.nn.dot_product_attention(implementation="cudnn")`` on a GPU (``"xla"`` elsewhere); forward
  and forward+backward; L ∈ {4096, 16384}, D ∈ {64, 128}, causal and not; bfloat16 on a GPU.
* 2-D neighborhood attention — 128 × 128 tokens, 13 × 13 window, D = 64: ``na2d`` with ``"xla"``
  (gather) and ``"pallas"`` (fused) against the same baseline computing *full* attention over the
  same tokens. Besides the ratio to the baseline, ``note`` gives the fraction of the
  FLOP-proportional ideal reached: ideal time = baseline time × (window / tokens).
* S2-attention — causal, 8 heads each seeing every 8th block of 64 keys plus a local window of
  128, L = 4096, D = 64: ``block_sparse_attention`` (``"xla"`` tile gather, ``"pallas"`` tile
  lists) and masked dense flash against the baseline computing all causal pairs; ``note`` gives
  the fraction of the FLOP-proportional ideal (baseline × visible/causal pairs). The 2-D
  neighborhood case also times GNA with stride 4.
* causal linear attention — L ∈ {4096, 16384}, 64 features, D = 64: ``"xla"`` (prefix sums) vs
  ``"pallas"`` (fused chunk scan); baseline ``"xla"``; FLOPs of the chunked algorithm
  (``L·(2C(M + D) + 4MD)`` per head with chunk ``C = 64``).
* SOFT (``softmax_free_attention``) — exact at L = 4096 and Nyström with 64 landmarks at
  L ∈ {16384, 65536}, D = 64: ``"xla"`` (kernel matrices in memory, baseline) vs ``"pallas"``
  (fused Gaussian products); FLOPs ``(4D + 2)`` per kernel entry visited.
* RPE attention (``kernelized_rpe_attention``) — L ∈ {1024, 4096, 16384}, elu+1 features, D = 64,
  causal and not: ``"xla"`` (FFT, baseline) vs ``"pallas"`` (tiled, quadratic); FLOPs are those
  of the tiled algorithm, so the FFT path's throughput can exceed the hardware's at long L —
  the ratio column is the comparison to read.

Throughput counts useful FLOPs only: ``4·B·H·Lq·Lk·D`` for dense attention (half when causal),
``4·B·H·N·K·D`` for a window of ``K`` keys, and a backward pass counts 2.5 × its forward.
On a CPU the suite runs small shapes and skips the Pallas kernels (interpret mode measures
nothing useful) except in ``--quick`` runs, which smoke-test every path.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from . import Row, time_fn

SUITE = "attention"


def _qkv(shape: tuple[int, ...], dtype, seed: int = 0):
    keys = jax.random.split(jax.random.key(seed), 3)
    return [jax.random.normal(k, shape, jnp.float32).astype(dtype) for k in keys]


def _baseline(gpu: bool):
    impl = "cudnn" if gpu else "xla"

    def f(q, k, v, is_causal=False):
        return jax.nn.dot_product_attention(q, k, v, is_causal=is_causal, implementation=impl)
    return f, f"jax.nn.dot_product_attention({impl}) (baseline)"


def _fwd_bwd(f):
    """``(q, k, v) ↦ (out, grads)`` of ``sum(out · w)`` for a fixed random ``w``, in one jit."""
    def go(q, k, v, w):
        out, vjp = jax.vjp(f, q, k, v)
        return out, vjp(w.astype(out.dtype))
    return jax.jit(go)


_REPEATS = {True: 1, False: 5}  # quick runs only smoke-test


def _time(fn, args, quick: bool) -> float | None:
    try:
        return time_fn(lambda: fn(*args), repeats=_REPEATS[quick], max_seconds=20.0).median
    except Exception as err:  # pragma: no cover - e.g. cuDNN refusing a shape
        print(f"  failed: {type(err).__name__}: {str(err)[:200]}", flush=True)
        return None


def _rows_for(case: str, shape: str, flops: float, timings: list[tuple[str, float | None]],
              base_t: float | None, note=lambda name, t: "") -> list[Row]:
    rows = []
    for name, t in timings:
        rows.append(Row(SUITE, case, name, shape, t,
                        None if t is None else flops / t / 1e12, "TFLOP/s", None,
                        None if (t is None or base_t is None) else base_t / t, note(name, t)))
    return rows


def _ideal_note(ideal: float | None, baseline_note: str):
    """The ``note`` of a sparse case: for the baseline rows ``baseline_note``; for the others the
    fraction reached of the FLOP-proportional ideal time ``ideal`` (baseline × useful fraction)."""
    def note(name: str, t: float | None) -> str:
        if name.startswith("jax.nn") or t is None or ideal is None:
            return baseline_note
        return f"{ideal / t:.3f} of the FLOP-proportional ideal ({ideal * 1e3:.3g} ms)"
    return note


def _dense_rows(quick: bool, gpu: bool, with_pallas: bool) -> list[Row]:
    from ntkbook.attention import dot_product_attention

    dtype = jnp.bfloat16 if gpu else jnp.float32
    B, H = (1, 2) if quick else (1, 16)
    lengths = [256] if quick else ([4096, 16384] if gpu else [1024])
    dims = [64] if quick else [64, 128]
    base_f, base_name = _baseline(gpu)
    rows = []
    for L in lengths:
        for D in dims:
            for causal in (False, True):
                q, k, v = _qkv((B, L, H, D), dtype)
                w = jax.random.normal(jax.random.key(9), (B, L, H, D))
                flops = 4 * B * H * L * L * D * (0.5 if causal else 1.0)
                impls = [(base_name, functools.partial(base_f, is_causal=causal)),
                         ("ntkbook xla", functools.partial(dot_product_attention, is_causal=causal,
                                                           implementation="xla"))]
                if with_pallas:
                    impls.append(("ntkbook pallas", functools.partial(
                        dot_product_attention, is_causal=causal, implementation="pallas")))
                shape = f"B={B} H={H} L={L} D={D} {'causal' if causal else 'full'} {jnp.dtype(dtype).name}"
                fwd = [(n, _time(jax.jit(f), (q, k, v), quick)) for n, f in impls]
                rows += _rows_for("dense forward", shape, flops, fwd, fwd[0][1])
                bwd = [(n, _time(_fwd_bwd(f), (q, k, v, w), quick)) for n, f in impls]
                rows += _rows_for("dense forward+backward", shape, 3.5 * flops, bwd, bwd[0][1])
    return rows


def _neighborhood_rows(quick: bool, gpu: bool, with_pallas: bool) -> list[Row]:
    from ntkbook.attention import na2d

    dtype = jnp.bfloat16 if gpu else jnp.float32
    B, H, D = (1, 2, 32) if quick else (1, 8, 64)
    side, win = (16, 5) if quick else ((128, 13) if gpu else (48, 13))
    N, K = side * side, win * win
    q, k, v = _qkv((B, side, side, H, D), dtype)
    base_f, base_name = _baseline(gpu)
    flat = lambda x: x.reshape(B, N, H, D)  # noqa: E731
    base_t = _time(jax.jit(lambda q, k, v: base_f(flat(q), flat(k), flat(v))), (q, k, v), quick)
    useful = 4 * B * H * N * K * D
    timings = [(base_name + " over all tokens", base_t)]
    gna_stride = 2 if quick else 4
    impls = [("ntkbook na2d xla (gather)", "xla", 1)] + (
        [("ntkbook na2d pallas (fused)", "pallas", 1),
         (f"ntkbook na2d pallas (fused), GNA stride {gna_stride}", "pallas", gna_stride)] if with_pallas else [])
    for name, impl, stride in impls:
        f = jax.jit(functools.partial(na2d, kernel_size=win, stride=stride, implementation=impl))
        timings.append((name, _time(f, (q, k, v), quick)))
    ideal = None if base_t is None else base_t * K / N
    note = _ideal_note(ideal, "full attention: 4·N²·D FLOPs, throughput counts the window's useful FLOPs")
    shape = f"B={B} H={H} {side}x{side} window {win}x{win} D={D} {jnp.dtype(dtype).name}"
    return _rows_for("na2d forward", shape, useful, timings, base_t, note)


def _linear_rows(quick: bool, gpu: bool, with_pallas: bool) -> list[Row]:
    from ntkbook.attention import elu_feature_map, linear_attention

    B, H, D = (1, 2, 32) if quick else (1, 16, 64)
    lengths = [256] if quick else ([4096, 16384] if gpu else [4096])
    rows = []
    for L in lengths:
        q, k, v = _qkv((B, L, H, D), jnp.float32)
        impls = [("ntkbook xla (prefix sums, baseline)", "xla")] + (
            [("ntkbook pallas (fused scan)", "pallas")] if with_pallas else [])
        timings = [(n, _time(jax.jit(functools.partial(linear_attention, feature_map=elu_feature_map,
                                                       is_causal=True, implementation=i)), (q, k, v), quick))
                   for n, i in impls]
        C = 64  # chunk: the masked C×C blocks (a bᵀ, then · c) plus the state products a S and bᵀ c
        flops = B * H * L * (2 * C * (D + D) + 4 * D * D)
        rows += _rows_for("causal linear forward", f"B={B} H={H} L={L} M={D} D={D} float32", flops,
                          timings, timings[0][1])
    return rows


def _s2_rows(quick: bool, gpu: bool, with_pallas: bool) -> list[Row]:
    """S2-attention (P056): causal, head-sharded strided key blocks plus a local window."""
    from ntkbook.attention import block_sparse_attention, dot_product_attention, strided_shard_mask

    dtype = jnp.bfloat16 if gpu else jnp.float32
    B, H, D = (1, 4, 32) if quick else (1, 8, 64)
    L = 256 if quick else (4096 if gpu else 1024)
    block, stride = (16, 4) if quick else (64, 8)
    mask = strided_shard_mask(L, H, block_size=block, stride=stride, local_window=2 * block, is_causal=True)
    visible = int(mask.sum())
    q, k, v = _qkv((B, L, H, D), dtype)
    base_f, base_name = _baseline(gpu)
    base_t = _time(jax.jit(functools.partial(base_f, is_causal=True)), (q, k, v), quick)
    timings = [(base_name + " causal, all keys", base_t),
               ("ntkbook block_sparse xla (tile gather)",
                _time(jax.jit(lambda q, k, v: block_sparse_attention(q, k, v, mask, block_q=block, block_k=block,
                                                                     implementation="xla")), (q, k, v), quick))]
    if with_pallas:
        timings.append(("ntkbook block_sparse pallas (tile lists)",
                        _time(jax.jit(lambda q, k, v: block_sparse_attention(
                            q, k, v, mask, block_q=block, block_k=block, implementation="pallas")), (q, k, v), quick)))
        timings.append(("ntkbook dense pallas with the mask",
                        _time(jax.jit(lambda q, k, v: dot_product_attention(q, k, v, mask=mask, implementation="pallas")),
                              (q, k, v), quick)))
    causal_pairs = H * L * (L + 1) // 2
    ideal = None if base_t is None else base_t * visible / causal_pairs
    note = _ideal_note(ideal, f"the mask keeps {visible / causal_pairs:.3f} of the causal pairs")
    shape = f"B={B} H={H} L={L} D={D} block {block} stride {stride} {jnp.dtype(dtype).name}"
    return _rows_for("S2 block-sparse forward", shape, 4 * B * D * visible, timings, base_t, note)


def _soft_rows(quick: bool, gpu: bool, with_pallas: bool) -> list[Row]:
    from ntkbook.attention import softmax_free_attention

    B, H, D = (1, 2, 16) if quick else (1, 8, 64)
    cases = [(64, None), (64, 16)] if quick else (
        [(4096, None), (16384, 64), (65536, 64)] if gpu else [(1024, None), (4096, 64)])
    rows = []
    for L, m in cases:
        q, _, v = _qkv((B, L, H, D), jnp.float32)
        impls = [("ntkbook xla (kernel matrices in memory, baseline)", "xla")] + (
            [("ntkbook pallas (fused Gaussian products)", "pallas")] if with_pallas else [])
        timings = [(n, _time(jax.jit(functools.partial(softmax_free_attention, num_landmarks=m,
                                                       implementation=i)), (q, v), quick))
                   for n, i in impls]
        # a kernel entry costs 2D (distance) and a product row 2(D+1) (values ‖ row sums)
        pairs = L * L if m is None else 2 * L * m
        flops = B * H * pairs * (2 * D + 2 * (D + 1))
        what = "exact L×L" if m is None else f"Nyström m={m}"
        rows += _rows_for(f"SOFT forward ({what})", f"B={B} H={H} L={L} D={D} float32", flops, timings,
                          timings[0][1])
    return rows


def _rpe_rows(quick: bool, gpu: bool, with_pallas: bool) -> list[Row]:
    from ntkbook.attention import elu_feature_map, kernelized_rpe_attention

    B, H, D = (1, 2, 16) if quick else (1, 8, 64)
    lengths = [64] if quick else ([1024, 4096, 16384] if gpu else [1024])
    rows = []
    for L in lengths:
        q, k, v = _qkv((B, L, H, D), jnp.float32)
        bias = 0.1 * jax.random.normal(jax.random.key(1), (H, 2 * L - 1))
        impls = [("ntkbook xla (FFT, baseline)", "xla")] + (
            [("ntkbook pallas (fused Toeplitz tiles)", "pallas")] if with_pallas else [])
        for causal in (False, True):
            def f(q, k, v, b, impl=None, causal=causal):
                return kernelized_rpe_attention(q, k, v, elu_feature_map, b, is_causal=causal,
                                                implementation=impl)
            timings = [(n, _time(jax.jit(functools.partial(f, impl=i)), (q, k, v, bias), quick))
                       for n, i in impls]
            # the tiled algorithm's FLOPs: per visited pair a·b (2M), the weight, and the product (2(D+1))
            flops = B * H * L * L * (2 * D + 1 + 2 * (D + 1)) * (0.5 if causal else 1.0)
            rows += _rows_for("RPE attention forward" + (" causal" if causal else ""),
                              f"B={B} H={H} L={L} M={D} D={D} float32", flops, timings, timings[0][1])
    return rows


def run(quick: bool = False) -> list[Row]:
    """All rows of the suite; ``quick`` uses small sizes (a smoke test, not for reporting)."""
    gpu = jax.devices()[0].platform == "gpu"
    with_pallas = gpu or quick
    rows = _dense_rows(quick, gpu, with_pallas)
    rows += _neighborhood_rows(quick, gpu, with_pallas)
    rows += _s2_rows(quick, gpu, with_pallas)
    rows += _linear_rows(quick, gpu, with_pallas)
    rows += _soft_rows(quick, gpu, with_pallas)
    rows += _rpe_rows(quick, gpu, with_pallas)
    return rows
