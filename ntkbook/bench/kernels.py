"""The ``kernels`` suite: analytic NNGP/NTK Gram throughput and empirical-NTK time and memory.

* Analytic depth-5 ReLU NTK Gram (``ntkbook.nn``) at several N, input dimension 784: entries per second.
  Baseline: the same Gram by the arc-cosine recursion written directly in ``jnp`` (one fused expression).
* Empirical NTK of an MLP 784-1024-1024-10 (1.86 M parameters), each implementation of
  ``ntkbook.kernels.empirical_ntk`` (full 10×10 output blocks, ``trace_axes=()``), against plain full
  Jacobian contraction in the same run: time and XLA-planned peak memory. Cases whose plan exceeds the
  device memory are reported as such instead of being run.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from . import Row, peak_memory_bytes, time_fn

SUITE = "kernels"


def _relu_ntk_reference(x, depth: int, w_std: float = 2**0.5, b_std: float = 0.0):
    """Depth-``depth`` ReLU NTK in NTK parameterisation by the arc-cosine recursion (baseline)."""
    d = x.shape[1]
    sigma = w_std**2 * (x @ x.T) / d + b_std**2
    theta = sigma
    for _ in range(depth - 1):
        diag = jnp.sqrt(jnp.diag(sigma))
        norm = diag[:, None] * diag[None, :]
        cos = jnp.clip(sigma / norm, -1.0, 1.0)
        angle = jnp.arccos(cos)
        k1 = norm * (jnp.sin(angle) + (math.pi - angle) * cos) / (2 * math.pi)
        k0 = (math.pi - angle) / (2 * math.pi)
        sigma_dot = w_std**2 * k0
        sigma = w_std**2 * k1 + b_std**2
        theta = sigma + theta * sigma_dot
    return theta


def _analytic_rows(quick: bool) -> list[Row]:
    from ntkbook import nn

    depth, d = 5, 784
    layers = []
    for _ in range(depth - 1):
        layers += [nn.Dense(1024, W_std=2**0.5, b_std=0.0), nn.Relu()]
    net = nn.serial(*layers, nn.Dense(1, W_std=2**0.5, b_std=0.0))
    sizes = [256, 1024] if quick else [1024, 4096, 16384, 32768]
    rows = []
    platform = jax.devices()[0].platform
    for n in sizes:
        if platform == "cpu" and n > 8192:
            rows.append(Row(SUITE, "analytic NTK depth 5", "ntkbook.nn", f"N={n}, d={d}", None,
                            note="skipped on CPU (N² Gram too slow for a routine run)"))
            continue
        x = jax.random.normal(jax.random.key(0), (n, d), jnp.float32)
        base = jax.jit(lambda x: _relu_ntk_reference(x, depth))
        ours = jax.jit(lambda x: net.kernel(x, get="ntk"))
        t_base = time_fn(lambda: base(x), repeats=3)
        t_ours = time_fn(lambda: ours(x), repeats=3)
        entries = n * n
        rows.append(Row(SUITE, "analytic NTK depth 5", "jnp recursion (baseline)", f"N={n}, d={d}", t_base.median,
                        entries / t_base.median / 1e9, "G entries/s", peak_memory_bytes(base, x), 1.0))
        rows.append(Row(SUITE, "analytic NTK depth 5", "ntkbook.nn", f"N={n}, d={d}", t_ours.median,
                        entries / t_ours.median / 1e9, "G entries/s", peak_memory_bytes(ours, x),
                        t_base.median / t_ours.median))
    return rows


def _mlp(widths, key):
    sizes = list(zip(widths[:-1], widths[1:]))
    keys = jax.random.split(key, len(sizes))
    return [(jax.random.normal(k, (a, b)) / math.sqrt(a), jnp.zeros(b)) for k, (a, b) in zip(keys, sizes)]


def _apply(params, x):
    for i, (w, b) in enumerate(params):
        x = x @ w + b
        if i < len(params) - 1:
            x = jax.nn.relu(x)
    return x


def _full_jacobian_ntk(params, x):
    """Baseline: materialise the (N, O, P) Jacobian and contract it."""
    jac = jax.jacrev(_apply)(params, x)  # leaves (N, O, *shape)
    flat = jnp.concatenate([j.reshape(j.shape[0], j.shape[1], -1) for j in jax.tree.leaves(jac)], axis=-1)
    return jnp.einsum("aip,bjp->abij", flat, flat)


def _empirical_rows(quick: bool) -> list[Row]:
    from ntkbook.kernels import empirical_ntk

    widths = [784, 256, 256, 10] if quick else [784, 1024, 1024, 10]
    params = _mlp(widths, jax.random.key(1))
    n_params = sum(w.size + b.size for w, b in params)
    sizes = [16, 64] if quick else [256, 1024, 4096]
    dev = jax.devices()[0]
    limit = None
    try:
        limit = dev.memory_stats().get("bytes_limit")
    except Exception:
        pass
    rows = []
    for n in sizes:
        x = jax.random.normal(jax.random.key(2), (n, widths[0]))
        base = jax.jit(_full_jacobian_ntk)
        base_peak = peak_memory_bytes(base, params, x)
        shape = f"N={n}, P={n_params / 1e6:.2f}M, O={widths[-1]}"
        t_base = None
        if limit is not None and base_peak is not None and base_peak > limit:
            rows.append(Row(SUITE, "empirical NTK", "full Jacobian (baseline)", shape, None, peak_bytes=base_peak,
                            note="plan exceeds device memory"))
        elif dev.platform == "cpu" and n > 1024:
            rows.append(Row(SUITE, "empirical NTK", "full Jacobian (baseline)", shape, None, peak_bytes=base_peak,
                            note="skipped on CPU"))
        else:
            t_base = time_fn(lambda: base(params, x), repeats=3).median
            rows.append(Row(SUITE, "empirical NTK", "full Jacobian (baseline)", shape, t_base,
                            n * n / t_base, "pairs/s", base_peak, 1.0))
        chunk = max(8, min(n, 256))
        for impl in ("jacobian", "ntvp", "sum_of_logits"):
            fn = jax.jit(lambda p, x, impl=impl: empirical_ntk(_apply, x, params=p, trace_axes=() if impl != "sum_of_logits" else (-1,),
                                                               implementation=impl, chunk=chunk))
            peak = peak_memory_bytes(fn, params, x)
            if dev.platform == "cpu" and n > 1024:
                rows.append(Row(SUITE, "empirical NTK", f"{impl} (chunk {chunk})", shape, None, peak_bytes=peak,
                                note="skipped on CPU"))
                continue
            t = time_fn(lambda: fn(params, x), repeats=3).median
            rows.append(Row(SUITE, "empirical NTK", f"{impl} (chunk {chunk})", shape, t, n * n / t, "pairs/s", peak,
                            None if t_base is None else t_base / t))
    return rows


def run(quick: bool = False) -> list[Row]:
    """All rows of the suite; ``quick`` uses small sizes (a smoke test, not for reporting)."""
    return _analytic_rows(quick) + _empirical_rows(quick)
