import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

from ntkbook.train import History, cross_entropy_loss, fit, mse_loss, progress_enabled


def linear_problem(n=64):
    x = jax.random.normal(jax.random.key(0), (n, 3))
    return x, (x @ jnp.array([1.0, -2.0, 0.5]))[:, None]


def test_full_batch_regression_converges_and_logs():
    x, y = linear_problem()
    model = nnx.Linear(3, 1, rngs=nnx.Rngs(0))
    hist = fit(model, mse_loss, (x, y), optax.sgd(0.1), steps=150, log_every=10, progress=False)
    assert hist.steps == list(range(10, 151, 10))
    losses = hist["loss"]
    assert losses[-1] < 1e-4 < losses[0]
    np.testing.assert_allclose(model.kernel[...][:, 0], [1.0, -2.0, 0.5], atol=1e-2)


def test_minibatches_aux_metrics_and_eval():
    key = jax.random.key(1)
    x = jax.random.normal(key, (120, 2))
    labels = (x[:, 0] > 0).astype(jnp.int32)
    model = nnx.Linear(2, 2, rngs=nnx.Rngs(1))
    hist = fit(model, cross_entropy_loss, (x, labels), optax.adam(0.05), steps=60, batch_size=32, key=key,
               eval_fn=lambda m: {"val_acc": jnp.mean(jnp.argmax(m(x), -1) == labels)}, eval_every=20,
               progress=False)
    assert set(hist.metrics) == {"loss", "accuracy", "val_acc"}
    assert hist.last("val_acc") > 0.9
    assert np.isnan(hist["val_acc"][0])  # eval only every 20 steps; other rows are padded with NaN


def test_minibatch_order_is_reproducible():
    x, y = linear_problem(40)
    runs = []
    for _ in range(2):
        model = nnx.Linear(3, 1, rngs=nnx.Rngs(0))
        runs.append(fit(model, mse_loss, (x, y), optax.sgd(0.05), steps=7, batch_size=16,
                        key=jax.random.key(3), progress=False)["loss"])
    np.testing.assert_array_equal(runs[0], runs[1])


def test_history_rejects_duplicate_steps():
    h = History()
    h.log(1, {"a": 1.0})
    with pytest.raises(ValueError, match="already logged"):
        h.log(1, {"a": 2.0})


def test_progress_policy(monkeypatch):
    assert progress_enabled(True) and not progress_enabled(False)
    monkeypatch.setenv("NTKBOOK_PROGRESS", "0")
    assert not progress_enabled()
    monkeypatch.setenv("NTKBOOK_PROGRESS", "1")
    assert progress_enabled()
    monkeypatch.delenv("NTKBOOK_PROGRESS")
    monkeypatch.setenv("CI", "true")
    assert not progress_enabled()


def test_bad_inputs():
    x, y = linear_problem()
    model = nnx.Linear(3, 1, rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match="steps"):
        fit(model, mse_loss, (x, y), optax.sgd(0.1), steps=0)
    with pytest.raises(ValueError, match="batch_size"):
        fit(model, mse_loss, (x, y), optax.sgd(0.1), steps=1, batch_size=1000, key=jax.random.key(0))
    with pytest.raises(ValueError, match="key"):
        fit(model, mse_loss, (x, y), optax.sgd(0.1), steps=1, batch_size=8)
    with pytest.raises(ValueError, match="first dimension"):
        fit(model, mse_loss, (x, y[:10]), optax.sgd(0.1), steps=1)
    with pytest.raises(ValueError, match="differ"):
        fit(model, mse_loss, (x, y[:, 0]), optax.sgd(0.1), steps=1, progress=False)


def test_import_and_progress_bar_are_silent_in_a_kernel(monkeypatch, recwarn):
    import importlib
    import sys
    import types

    import ntkbook.train as train

    monkeypatch.setitem(sys.modules, "ipykernel", types.ModuleType("ipykernel"))  # pretend to be in Jupyter
    importlib.reload(train)
    bar = train._progress_bar(range(3), enabled=False)
    assert list(bar) == [0, 1, 2]
    assert not [w for w in recwarn if "tqdm" in str(w.message).lower() or "IProgress" in str(w.message)]


def _reference_adam_loop(x, y, init, steps, lr, batch_size=None, key=None):
    """Explicit step-by-step optax updates on a linear model, with fit's minibatch order (a fresh
    permutation from ``split(key)`` at the start of every epoch)."""
    params = {"w": init.kernel[...], "b": init.bias[...]}
    tx = optax.adam(lr)
    opt_state = tx.init(params)
    n = x.shape[0]
    order = np.arange(n)
    for s in range(steps):
        if batch_size is None:
            rows = order
        else:
            j = s % (n // batch_size)
            if j == 0:
                key, sub = jax.random.split(key)
                order = np.asarray(jax.random.permutation(sub, n))
            rows = order[j * batch_size:(j + 1) * batch_size]
        xb, yb = x[rows], y[rows]
        grads = jax.grad(lambda p: jnp.mean((xb @ p["w"] + p["b"] - yb) ** 2))(params)
        updates, opt_state = tx.update(grads, opt_state, params)
        params = optax.apply_updates(params, updates)
    return params


def test_chunked_steps_equal_a_plain_loop_including_a_partial_last_chunk():
    """7 steps with eval every 3: chunks of 3, the last with one live step; same as step-by-step optax,
    and eval_fn sees the model after steps 3, 6 and 7."""
    x, y = linear_problem(32)
    model = nnx.Linear(3, 1, rngs=nnx.Rngs(4))
    evals = []
    hist = fit(model, mse_loss, (x, y), optax.adam(0.05), steps=7, eval_every=3, progress=False,
               eval_fn=lambda m: evals.append(float(m.kernel[...][0, 0])) or {"w": evals[-1]})
    assert hist.steps == list(range(1, 8)) and len(evals) == 3           # steps 3, 6 and 7

    params = _reference_adam_loop(x, y, nnx.Linear(3, 1, rngs=nnx.Rngs(4)), 7, 0.05)
    np.testing.assert_allclose(model.kernel[...], params["w"], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(evals[-1], float(params["w"][0, 0]), rtol=1e-5)


# (steps, eval_every, batch_size): chunks of eval_every steps, or of min(steps, 256) without eval_fn.
CHUNKINGS = {
    "divisible": (6, 3, None),           # two full chunks: plain scan, no switch
    "ragged": (7, 3, None),              # last chunk has one live step of three
    "one-chunk": (9, None, None),        # no eval_fn: a single chunk of all the steps
    "minibatch-divisible": (8, 4, 10),   # 4 batches per epoch of 40 rows: a new permutation every 4 steps
    "minibatch-ragged": (11, 4, 10),
}


@pytest.mark.parametrize("case", list(CHUNKINGS))
def test_fit_equals_an_explicit_optax_loop(case):
    steps, eval_every, batch_size = CHUNKINGS[case]
    x, y = linear_problem(40)
    key = None if batch_size is None else jax.random.key(7)
    model = nnx.Linear(3, 1, rngs=nnx.Rngs(5))
    ref = _reference_adam_loop(x, y, nnx.Linear(3, 1, rngs=nnx.Rngs(5)), steps, 0.05, batch_size, key)
    eval_fn = None if eval_every is None else (lambda m: {"b": m.bias[...][0]})
    hist = fit(model, mse_loss, (x, y), optax.adam(0.05), steps=steps, batch_size=batch_size, key=key,
               eval_fn=eval_fn, eval_every=eval_every, progress=False)
    assert hist.steps == list(range(1, steps + 1))
    np.testing.assert_allclose(model.kernel[...], ref["w"], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(model.bias[...], ref["b"], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("case", list(CHUNKINGS))
def test_loss_fn_is_traced_once_per_fit(case):
    """Tracing the step (nnx merge, value_and_grad, optimizer update) is a large part of a small fit's
    cost: the ragged path's aux-shape probe must reuse the trace that the compiled scan uses."""
    steps, eval_every, batch_size = CHUNKINGS[case]
    x, y = linear_problem(40)
    traces = []

    def counting_loss(m, batch):
        traces.append(1)                  # Python side effect: runs once per trace, never per step
        return cross_entropy_loss(m, (batch[0], (batch[1][:, 0] > 0).astype(jnp.int32)))

    for run in range(2):                  # a second fit builds its own step: one more trace, not two
        model = nnx.Linear(3, 2, rngs=nnx.Rngs(run))
        hist = fit(model, counting_loss, (x, y), optax.sgd(0.1), steps=steps, batch_size=batch_size,
                   key=None if batch_size is None else jax.random.key(run), progress=False,
                   eval_fn=None if eval_every is None else (lambda m: {}), eval_every=eval_every)
        assert len(traces) == run + 1
        assert set(hist.metrics) == {"loss", "accuracy"} and len(hist.steps) == steps
