"""The ``learn`` suite: kernel ridge regression at scale (RBF kernel, inputs of dimension 784).

Data: ``x = z Q + 0.05 ε`` with ``z ~ N(0, I_8)`` and ``Q`` an 8 × 784 matrix with orthonormal rows
(so the RBF kernel sees an 8-dimensional signal in 784 dimensions), targets
``y = sin(z₁) + z₂ z₃ / 2 + 0.1 ε``, 5,000 test points, ridge ``δ = 10⁻⁴ n`` in ``K + δI``.

Every (solver, n) runs in a fresh Python process that reports its own peak resident memory
(``ru_maxrss``, data generation and JAX included): ``cholesky`` and ``pcg`` (exact KRR) while ``n ≤ 20000``, ``falkon`` (Nyström KRR,
``m = min(n, 15000)`` centres: with 10,000 centres its test MSE at ``n = 20000`` was 2.7% above exact KRR's,
with 15,000 it is 0.7% above) at every ``n`` up to 100,000. Rows report wall time, peak memory, test
MSE and its ratio to exact KRR's at the same ``n`` (the baseline, where it can be computed). The
largest ``n`` each solver reaches within 10 minutes and 16 GiB is extrapolated from the measured
runs with each solver's scaling (``n³`` time / ``n²`` memory for exact solvers, ``n·m`` for Falkon)
and reported as an estimate.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

from . import Row

SUITE = "learn"
D, LATENT, LENGTHSCALE, N_TEST = 784, 8, 3.0, 5000


def _data(n: int, seed: int):
    import jax
    import jax.numpy as jnp

    kz, kx, ky = jax.random.split(jax.random.key(seed), 3)
    q, _ = jnp.linalg.qr(jax.random.normal(jax.random.key(12345), (D, LATENT)))   # fixed embedding
    z = jax.random.normal(kz, (n, LATENT))
    x = z @ q.T + 0.05 * jax.random.normal(kx, (n, D))
    y = jnp.sin(z[:, 0]) + z[:, 1] * z[:, 2] / 2 + 0.1 * jax.random.normal(ky, (n,))
    return x, y


def _one(solver: str, n: int, m: int, block: int) -> dict:
    """Fit and score one configuration (runs inside the child process)."""
    import functools

    import jax
    import jax.numpy as jnp

    from ntkbook import kernels
    from ntkbook.learn import fit_kernel_ridge

    x, y = _data(n, 0)
    xt, yt = _data(N_TEST, 1)
    kernel = functools.partial(kernels.rbf, lengthscale=LENGTHSCALE)
    t0 = time.perf_counter()
    fit = fit_kernel_ridge(kernel, x, y, 1e-4 * n, solver=solver, num_centers=m, key=jax.random.key(7),
                           tol=1e-6, block=block)
    pred = jax.block_until_ready(fit.predict(xt))
    seconds = time.perf_counter() - t0
    import resource

    return {"seconds": seconds, "test_mse": float(jnp.mean((pred - yt) ** 2)),
            "iterations": fit.iterations, "residual": float(fit.residuals[-1]) if fit.iterations else 0.0,
            "peak_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}  # this process's peak


def _run_child(solver: str, n: int, m: int, block: int, timeout: float) -> tuple[dict | None, int, str]:
    """Run :func:`_one` in a fresh interpreter; returns (result, its peak RSS in bytes, error text)."""
    code = ("import json, sys; from ntkbook.bench.learn import _one; "
            f"print('RESULT' + json.dumps(_one({solver!r}, {n}, {m}, {block})))")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=os.environ.copy())
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        return None, 0, f"exceeded {timeout:.0f} s"
    for line in out.splitlines():
        if line.startswith("RESULT"):
            res = json.loads(line[len("RESULT"):])
            return res, res.pop("peak_bytes"), ""
    return None, 0, (err.strip().splitlines() or ["no output"])[-1][:200]


def _extrapolate(rows: list[Row], solver: str, time_power: float, mem_power: float) -> str:
    done = [r for r in rows if r.implementation.startswith(solver) and r.seconds is not None]
    if not done:
        return ""
    last = max(done, key=lambda r: int(r.shape.split("n=")[1].split(",")[0]))
    n = int(last.shape.split("n=")[1].split(",")[0])
    by_time = n * (600 / last.seconds) ** (1 / time_power)
    by_mem = n * ((16 * 2**30) / max(last.peak_bytes or 1, 1)) ** (1 / mem_power)
    return f"largest n in 10 min / 16 GiB ≈ {min(by_time, by_mem):,.0f} (extrapolated from n={n})"


def run(quick: bool = False) -> list[Row]:
    """All rows of the suite; ``quick`` uses small sizes (a smoke test, not for reporting)."""
    sizes = [1000, 3000] if quick else [5000, 20000, 100000]
    exact_max = 3000 if quick else 20000
    centres = 500 if quick else 15000
    block = 512 if quick else 2048
    timeout = 600.0
    rows: list[Row] = []
    for n in sizes:
        exact_mse = None
        plan = ([("cholesky", n), ("pcg", min(n, 1000))] if n <= exact_max else []) + [("falkon", min(n, centres))]
        for solver, m in plan:
            res, peak, err = _run_child(solver, n, m, block, timeout)
            shape = f"n={n}, m={m}, d={D}" if solver != "cholesky" else f"n={n}, d={D}"
            if res is None:
                rows.append(Row(SUITE, "kernel ridge (RBF)", solver, shape, None, peak_bytes=peak or None,
                                note=f"failed: {err}"))
                continue
            if solver == "cholesky":
                exact_mse = res["test_mse"]
            ratio = None if exact_mse is None else res["test_mse"] / exact_mse
            note = f"test MSE {res['test_mse']:.4g}"
            if res["iterations"]:
                note += f", {res['iterations']} CG steps, residual {res['residual']:.1e}"
            rows.append(Row(SUITE, "kernel ridge (RBF)", solver + (" (baseline)" if solver == "cholesky" else ""),
                            shape, res["seconds"], n / res["seconds"], "points/s", peak, ratio, note))
    for solver, tp, mp in (("cholesky", 3, 2), ("falkon", 1, 1)):
        note = _extrapolate(rows, solver, tp, mp)
        if note:
            rows.append(Row(SUITE, "largest n (estimate)", solver, "", None, note=note))
    return rows
