import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ntkbook import bench
from ntkbook.bench import kernels as kernels_suite


def test_time_fn_and_errors():
    t = bench.time_fn(lambda: jnp.ones(4) + 1, repeats=3, warmup=1)
    assert t.repeats == 3 and 0 < t.best <= t.median
    with pytest.raises(ValueError):
        bench.time_fn(lambda: 0, repeats=0)


def test_time_fn_process_clock():
    # CPU time of this process: a busy loop of ~20 ms costs at least a few ms of CPU
    def busy():
        x = 0
        for i in range(200_000):
            x += i
        return x

    t = bench.time_fn(busy, repeats=2, warmup=0, clock="process")
    assert t.repeats == 2 and 0 < t.best <= t.median
    with pytest.raises(ValueError, match="clock"):
        bench.time_fn(busy, clock="cpu")


def test_peak_memory_counts_buffers():
    f = jax.jit(lambda x: x @ x.T)
    small = bench.peak_memory_bytes(f, jnp.ones((8, 8)))
    large = bench.peak_memory_bytes(f, jnp.ones((64, 8)))
    assert small is not None and large > small


def test_reference_ntk_matches_nn(x64):
    from ntkbook import nn

    x = jax.random.normal(jax.random.key(0), (6, 5), jnp.float64)
    net = nn.serial(nn.Dense(8, W_std=2**0.5, b_std=0.0), nn.Relu(), nn.Dense(8, W_std=2**0.5, b_std=0.0),
                    nn.Relu(), nn.Dense(1, W_std=2**0.5, b_std=0.0))
    # arccos is ill-conditioned at cos = 1 (the diagonal): agreement there is ~sqrt(eps), elsewhere ~eps
    np.testing.assert_allclose(kernels_suite._relu_ntk_reference(x, 3), net.kernel(x, get="ntk"), rtol=1e-7)


def test_full_jacobian_baseline_matches_empirical_ntk(x64):
    from ntkbook.kernels import empirical_ntk

    params = kernels_suite._mlp([5, 7, 3], jax.random.key(0))
    x = jax.random.normal(jax.random.key(1), (4, 5), jnp.float64)
    ref = kernels_suite._full_jacobian_ntk(params, x)
    np.testing.assert_allclose(empirical_ntk(kernels_suite._apply, x, params=params, trace_axes=()), ref, rtol=1e-10)


def test_quick_run_and_record(tmp_path, monkeypatch):
    monkeypatch.setattr(kernels_suite, "_analytic_rows", lambda quick: [])  # keep the smoke test small
    rows = kernels_suite._empirical_rows(quick=True)[:4]
    assert rows and all(r.seconds is None or r.seconds > 0 for r in rows)
    assert rows[0].ratio_to_baseline == 1.0
    path = bench.write_record("kernels", rows, tmp_path)
    record = json.loads(path.read_text())[-1]
    assert record["suite"] == "kernels" and record["device"]["platform"] == jax.devices()[0].platform
    assert record["versions"]["jax"] == jax.__version__ and len(record["rows"]) == len(rows)
    table = bench.format_table(rows)
    assert "full Jacobian (baseline)" in table


def test_attention_suite_quick_smoke(tmp_path):
    """Every path of the attention suite runs (tiny shapes, Pallas in interpret mode) and is recorded."""
    from ntkbook.bench import attention as attention_suite

    rows = attention_suite.run(quick=True)
    cases = {(r.case, r.implementation.split(" (")[0]) for r in rows}
    assert ("na2d forward", "ntkbook na2d pallas") in cases
    assert ("causal linear forward", "ntkbook pallas") in cases
    assert ("SOFT forward (Nyström m=16)", "ntkbook pallas") in cases
    assert ("S2 block-sparse forward", "ntkbook block_sparse pallas") in cases
    assert ("RPE attention forward causal", "ntkbook pallas") in cases
    assert all(r.seconds is not None and r.seconds > 0 for r in rows)
    assert all(r.ratio_to_baseline is not None for r in rows)
    path = bench.write_record("attention", rows, tmp_path)
    assert json.loads(path.read_text())[0]["suite"] == "attention"


def test_learn_suite_child_process_reports_result_and_memory():
    """One tiny configuration through the subprocess runner the ``learn`` suite uses."""
    from ntkbook.bench import learn as learn_suite

    res, peak, err = learn_suite._run_child("falkon", 300, 100, 128, timeout=300)
    assert err == "" and res is not None, err
    assert res["seconds"] > 0 and 0 < res["test_mse"] < 1.0 and res["iterations"] > 0
    assert peak > 50 * 2**20                      # a Python process with JAX: tens of MiB at least
    rows = [bench.Row("learn", "kernel ridge (RBF)", "falkon", "n=1000, m=100, d=784", 6.0, peak_bytes=2**27)]
    note = learn_suite._extrapolate(rows, "falkon", 1, 1)
    assert note.startswith("largest n") and "100,000" in note   # time-bound (1000·600/6) before memory (1000·128)


def test_load_records_filters_by_suite_and_platform_and_recorded_table_shows_the_newest(tmp_path):
    rows = [bench.Row("attention", "na2d forward", "impl a", "N=1", 2e-3, ratio_to_baseline=1.0),
            bench.Row("attention", "dense forward", "impl b", "N=1", 1e-3)]
    bench.write_record("attention", rows[:1], tmp_path)
    bench.write_record("attention", rows, tmp_path)
    bench.write_record("kernels", rows[:1], tmp_path)
    here = jax.devices()[0].platform
    recs = bench.load_records("attention", platform=here, results_dir=tmp_path)
    assert [len(r["rows"]) for r in recs] == [1, 2] and all(r["file"].endswith(".json") for r in recs)
    assert len(bench.load_records(results_dir=tmp_path)) == 3
    assert bench.load_records("attention", platform="tpu" if here != "tpu" else "cpu", results_dir=tmp_path) == []
    text = bench.recorded_table("attention", ["na2d"], platform=here, results_dir=tmp_path)
    assert "na2d forward" in text and "dense forward" not in text and "command:" in text
    assert "No gpu run" in bench.recorded_table("kernels", results_dir=tmp_path) or here == "gpu"
    assert bench.load_records(results_dir=tmp_path / "missing") == []
