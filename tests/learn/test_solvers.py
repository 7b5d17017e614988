"""Kernel ridge solvers: every solver against the exact solution and scikit-learn; Falkon's Nyström KRR."""

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
from sklearn.kernel_ridge import KernelRidge

from ntkbook import kernels
from ntkbook.learn import SOLVERS, fit_kernel_ridge, kernel_ridge

REPO = Path(__file__).resolve().parents[2]
KERNEL = functools.partial(kernels.rbf, lengthscale=1.5)


def _data(n, d=4, seed=0, outputs=None):
    kx, ky = jax.random.split(jax.random.key(seed))
    x = jax.random.normal(kx, (n, d))
    f = jnp.sin(x[:, 0]) + 0.5 * x[:, 1] * x[:, 2]
    y = f + 0.1 * jax.random.normal(ky, (n,))
    if outputs:
        y = jnp.stack([y * (o + 1) for o in range(outputs)], axis=1)
    return x, y


def test_cholesky_matches_sklearn_and_kernel_ridge(x64):
    x, y = _data(120)
    x, y = x.astype(jnp.float64), y.astype(jnp.float64)
    xt, _ = _data(30, seed=1)
    xt = xt.astype(jnp.float64)
    fit = fit_kernel_ridge(KERNEL, x, y, 0.3, solver="cholesky")
    sk = KernelRidge(alpha=0.3, kernel="rbf", gamma=1 / (2 * 1.5**2)).fit(np.asarray(x), np.asarray(y))
    np.testing.assert_allclose(np.asarray(fit.predict(xt)), sk.predict(np.asarray(xt)), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.asarray(fit.predict(xt)),
                               np.asarray(kernel_ridge(KERNEL(x), y, KERNEL(xt, x), 0.3)), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("solver", ["cg", "pcg", "eigenpro"])
def test_iterative_solvers_reach_the_exact_solution(solver, x64):
    x, y = (a.astype(jnp.float64) for a in _data(400))
    xt = _data(50, seed=2)[0].astype(jnp.float64)
    exact = fit_kernel_ridge(KERNEL, x, y, 1e-2, solver="cholesky")
    fit = fit_kernel_ridge(KERNEL, x, y, 1e-2, solver=solver, num_centers=100, key=jax.random.key(3),
                           tol=1e-7, maxiter=400)
    assert fit.residuals[-1] < 1e-7 and fit.iterations == len(fit.residuals)
    np.testing.assert_allclose(np.asarray(fit.predict(xt)), np.asarray(exact.predict(xt)), atol=1e-6)


def test_float32_cg_stops_at_its_round_off_floor_with_a_good_answer():
    x, y = _data(400)
    exact = fit_kernel_ridge(KERNEL, x, y, 1e-2, solver="cholesky")
    fit = fit_kernel_ridge(KERNEL, x, y, 1e-2, solver="cg", tol=1e-12)
    assert fit.residuals.min() < 1e-4
    np.testing.assert_allclose(np.asarray(fit.predict(x)), np.asarray(exact.predict(x)), atol=2e-3)


def test_nystrom_preconditioner_cuts_iterations(x64):
    x, y = (a.astype(jnp.float64) for a in _data(600))
    cg = fit_kernel_ridge(KERNEL, x, y, 1e-2, solver="cg", tol=1e-6)
    pcg = fit_kernel_ridge(KERNEL, x, y, 1e-2, solver="pcg", num_centers=300, key=jax.random.key(0), tol=1e-6)
    assert cg.residuals[-1] < 1e-6 and pcg.residuals[-1] < 1e-6
    assert pcg.iterations < cg.iterations / 5, (pcg.iterations, cg.iterations)


def test_eigenpro_preconditioner_cuts_iterations_more_with_rank(x64):
    x, y = (a.astype(jnp.float64) for a in _data(600))
    cg = fit_kernel_ridge(KERNEL, x, y, 1e-2, solver="cg", tol=1e-6)
    its = [fit_kernel_ridge(KERNEL, x, y, 1e-2, solver="eigenpro", num_centers=300, rank=k, key=jax.random.key(0),
                            tol=1e-6) for k in (5, 60)]
    assert all(f.residuals[-1] < 1e-6 for f in its)
    assert its[1].iterations < its[0].iterations < cg.iterations, ([f.iterations for f in its], cg.iterations)
    assert its[1].iterations < cg.iterations / 4, (its[1].iterations, cg.iterations)


def test_falkon_with_all_points_is_exact_krr_and_converges_fast(x64):
    """With every point a centre, Nyström KRR is exact KRR (float64 end to end)."""
    x, y = (a.astype(jnp.float64) for a in _data(300))
    xt = _data(40, seed=4)[0].astype(jnp.float64)
    exact = fit_kernel_ridge(KERNEL, x, y, 1e-2, solver="cholesky")
    fit = fit_kernel_ridge(KERNEL, x, y, 1e-2, solver="falkon", num_centers=300, tol=1e-10)
    assert fit.coef.dtype == jnp.float64
    np.testing.assert_allclose(np.asarray(fit.predict(xt)), np.asarray(exact.predict(xt)), atol=1e-6)
    assert fit.iterations <= 60, fit.iterations  # the preconditioner makes the system well conditioned


def test_falkon_with_fewer_centres_predicts_like_exact_krr_and_handles_outputs():
    x, y = _data(2000, outputs=2)
    xt, yt = _data(500, seed=5, outputs=2)
    exact = fit_kernel_ridge(KERNEL, x, y, 1.0, solver="cholesky")
    fit = fit_kernel_ridge(KERNEL, x, y, 1.0, solver="falkon", num_centers=400, key=jax.random.key(6))
    assert fit.coef.shape == (400, 2) and fit.predict(xt).shape == (500, 2)
    err_exact = float(jnp.mean((exact.predict(xt) - yt) ** 2))
    err_nys = float(jnp.mean((fit.predict(xt) - yt) ** 2))
    assert abs(err_nys / err_exact - 1) < 0.02, (err_nys, err_exact)


def test_auto_choice_and_float32_dtype():
    x, y = _data(50)
    fit = fit_kernel_ridge(KERNEL, x, y, 0.1)
    assert fit.solver == "cholesky" and fit.coef.dtype == jnp.float32 and set(SOLVERS) >= {fit.solver}


@pytest.mark.parametrize("kwargs,match", [
    (dict(ridge=0.0), "ridge"),
    (dict(ridge=float("nan")), "ridge"),
    (dict(solver="lu"), "solver"),
    (dict(solver="falkon", num_centers=10), "key"),
    (dict(solver="falkon", num_centers=500, key=jax.random.key(0)), "at most"),
    (dict(tol=0.0), "tol"),
    (dict(solver="eigenpro", num_centers=20, rank=20), "rank must be smaller"),
    (dict(solver="pcg", rank=3), "rank is a parameter"),
    (dict(solver="eigenpro", rank=0), "rank"),
])
def test_bad_arguments(kwargs, match):
    x, y = _data(20)
    args = dict(ridge=0.1) | kwargs
    with pytest.raises(ValueError, match=match):
        fit_kernel_ridge(KERNEL, x, y, **args)


def test_bad_data_and_non_psd_kernel():
    x, y = _data(20)
    with pytest.raises(ValueError, match="rows"):
        fit_kernel_ridge(KERNEL, x, y[:10], 0.1)
    with pytest.raises(ValueError, match="NaN|finite"):
        fit_kernel_ridge(KERNEL, x.at[0, 0].set(jnp.nan), y, 0.1)
    with pytest.raises(ValueError, match="callable"):
        fit_kernel_ridge("rbf", x, y, 0.1)
    with pytest.raises(ValueError, match="positive"):
        fit_kernel_ridge(lambda a, b=None: -KERNEL(a, b), x, y, 0.01, solver="cholesky")
    fit = fit_kernel_ridge(KERNEL, x, y, 0.1)
    with pytest.raises(ValueError, match="features"):
        fit.predict(jnp.ones((3, 7)))


@pytest.mark.parametrize("n, block", [(1, 4), (37, 8), (64, 16), (50, 64)])
def test_blocked_cholesky_matches_lapack_with_partial_blocks(n, block):
    import scipy.linalg

    from ntkbook.learn.solvers import _chol_solve, _cholesky_lower

    rng = np.random.default_rng(n)
    x = rng.standard_normal((n, n + 3))
    a = x @ x.T / n + 0.1 * np.eye(n)
    L = _cholesky_lower(a, block=block)
    np.testing.assert_allclose(L, scipy.linalg.cholesky(a, lower=True), rtol=1e-10, atol=1e-12)
    assert np.all(np.triu(L, 1) == 0)
    b = rng.standard_normal((n, 2))
    np.testing.assert_allclose(a @ _chol_solve(L, b), b, rtol=1e-8, atol=1e-10)
    with pytest.raises(np.linalg.LinAlgError):
        _cholesky_lower(a - 2 * np.eye(n) * np.abs(a).max(), block=block)


_SHARDED = textwrap.dedent("""
    import collections, functools, sys
    import jax, jax.numpy as jnp, numpy as np
    from ntkbook import kernels
    from ntkbook.kernels.batched import TILE_AXIS
    from ntkbook.learn import fit_kernel_ridge

    assert jax.device_count() == 4, jax.devices()
    shards = collections.Counter()

    def kernel(x1, x2):
        # runs inside the tile map: axis_index names the device shard evaluating this tile
        jax.debug.callback(lambda i: shards.update([int(i)]), jax.lax.axis_index(TILE_AXIS))
        return kernels.rbf(x1, x2, lengthscale=1.5)

    data = np.load(sys.argv[1])
    out = {}
    for solver, extra in [("cholesky", {}), ("pcg", {"num_centers": 60}), ("falkon", {"num_centers": 150})]:
        shards.clear()
        fit = fit_kernel_ridge(kernel, data["x"], data["y"], 0.3, solver=solver, block=64,
                               key=jax.random.key(3), tol=1e-10, **extra)
        jax.effects_barrier()
        assert set(shards) == {0, 1, 2, 3}, ("fit", solver, shards)
        shards.clear()
        out[solver] = np.asarray(fit.predict(data["xt"]))
        jax.effects_barrier()
        assert set(shards) == {0, 1, 2, 3}, ("predict", solver, shards)
    np.savez(sys.argv[2], **out)
    print("OK")
""")


def test_solvers_run_sharded_over_four_devices(tmp_path):
    """The same fit on four (forced host) devices: Gram tiles on every device, same predictions."""
    x, y = _data(400)
    xt, _ = _data(50, seed=1)
    np.savez(tmp_path / "data.npz", x=np.asarray(x), y=np.asarray(y), xt=np.asarray(xt))
    env = dict(os.environ)
    env["XLA_FLAGS"] = (env.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=4").strip()
    env["JAX_PLATFORMS"] = "cpu"
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    proc = subprocess.run([sys.executable, "-c", _SHARDED, str(tmp_path / "data.npz"), str(tmp_path / "out.npz")],
                          env=env, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    sharded = np.load(tmp_path / "out.npz")
    for solver, extra in [("cholesky", {}), ("pcg", {"num_centers": 60}), ("falkon", {"num_centers": 150})]:
        fit = fit_kernel_ridge(KERNEL, x, y, 0.3, solver=solver, block=64, key=jax.random.key(3), tol=1e-10,
                               **extra)
        np.testing.assert_allclose(sharded[solver], np.asarray(fit.predict(xt)), rtol=1e-4, atol=1e-4,
                                   err_msg=solver)
