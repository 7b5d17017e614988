"""A small optax + flax.nnx training loop with a progress bar and a metrics history.

>>> import jax, jax.numpy as jnp, optax
>>> from flax import nnx
>>> from ntkbook.train import fit, mse_loss
>>> x = jax.random.normal(jax.random.key(0), (64, 3)); y = x @ jnp.array([1., -2., 0.5])
>>> model = nnx.Linear(3, 1, rngs=nnx.Rngs(0))
>>> hist = fit(model, mse_loss, (x, y[:, None]), optax.sgd(0.1), steps=200, progress=False)
>>> hist.last("loss") < 1e-3
True
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx
from tqdm import std as _tqdm_std

__all__ = ["History", "fit", "mse_loss", "cross_entropy_loss", "progress_enabled"]


@dataclass
class History:
    """Metrics recorded during training: ``steps[j]`` is the step at which ``metrics[name][j]`` was logged."""

    steps: list[int] = field(default_factory=list)
    metrics: dict[str, list[float]] = field(default_factory=dict)

    def log(self, step: int, values: Mapping[str, Any]) -> None:
        if self.steps and self.steps[-1] == step:
            raise ValueError(f"step {step} already logged")
        self.steps.append(int(step))
        for name, value in values.items():
            series = self.metrics.setdefault(name, [])
            series.extend([float("nan")] * (len(self.steps) - 1 - len(series)))
            series.append(float(value))
        for series in self.metrics.values():
            series.extend([float("nan")] * (len(self.steps) - len(series)))

    def __getitem__(self, name: str) -> np.ndarray:
        return np.asarray(self.metrics[name])

    def last(self, name: str) -> float:
        return self.metrics[name][-1]


def progress_enabled(progress: bool | None = None) -> bool:
    """Whether to draw a progress bar: explicit ``progress`` wins; then ``NTKBOOK_PROGRESS=0|1``;
    otherwise only for an interactive terminal or a Jupyter front end, never under CI.

    >>> progress_enabled(False)
    False
    """
    if progress is not None:
        return bool(progress)
    env = os.environ.get("NTKBOOK_PROGRESS")
    if env is not None:
        return env.strip() not in ("0", "false", "no", "")
    if os.environ.get("CI"):
        return False
    if sys.stderr is not None and hasattr(sys.stderr, "isatty") and sys.stderr.isatty():
        return True
    return "ipykernel" in sys.modules


def _progress_bar(iterable, *, enabled: bool, **kwargs: Any):
    """A tqdm bar: the notebook widget inside Jupyter when ipywidgets is installed, else the text bar.

    (``tqdm.auto`` would warn into every notebook's output when ipywidgets is missing.)
    """
    if enabled and "ipykernel" in sys.modules:
        try:
            import ipywidgets  # noqa: F401
            from tqdm.notebook import tqdm as notebook_tqdm

            return notebook_tqdm(iterable, **kwargs)
        except ImportError:
            pass
    return _tqdm_std.tqdm(iterable, disable=not enabled, **kwargs)


def mse_loss(model: nnx.Module, batch: tuple[jax.Array, jax.Array]) -> jax.Array:
    """Mean squared error ``mean((model(x) − y)²)`` for ``batch = (x, y)``; ``y`` must match the output shape.

    >>> m = nnx.Linear(2, 1, rngs=nnx.Rngs(0))
    >>> float(mse_loss(m, (jnp.zeros((3, 2)), jnp.zeros((3, 1)))))  # zero input, zero bias
    0.0
    """
    x, y = batch
    pred = model(x)
    if pred.shape != y.shape:
        raise ValueError(f"model output {pred.shape} and targets {y.shape} differ")
    return jnp.mean((pred - y) ** 2)


def cross_entropy_loss(model: nnx.Module, batch: tuple[jax.Array, jax.Array]) -> tuple[jax.Array, dict]:
    """Softmax cross-entropy for integer labels; also reports accuracy. ``batch = (x, labels)``.

    >>> m = nnx.Linear(2, 4, rngs=nnx.Rngs(0))
    >>> loss, aux = cross_entropy_loss(m, (jnp.zeros((3, 2)), jnp.array([0, 1, 2])))
    >>> round(float(loss), 4)  # uniform logits: log 4
    1.3863
    """
    x, labels = batch
    logits = model(x)
    loss = optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()
    return loss, {"accuracy": jnp.mean(jnp.argmax(logits, -1) == labels)}


def _num_rows(data) -> int:
    leaves = jax.tree.leaves(data)
    if not leaves:
        raise ValueError("data must hold at least one array")
    n = leaves[0].shape[0]
    if any(leaf.shape[0] != n for leaf in leaves):
        raise ValueError(f"all arrays in data must share their first dimension, got {[l.shape for l in leaves]}")
    return n


def fit(model: nnx.Module, loss_fn: Callable, data: Any, optimizer: optax.GradientTransformation, *, steps: int,
        batch_size: int | None = None, key: jax.Array | None = None, log_every: int = 1,
        eval_fn: Callable[[nnx.Module], Mapping[str, Any]] | None = None, eval_every: int | None = None,
        progress: bool | None = None) -> History:
    """Train ``model`` in place for ``steps`` optimizer steps and return the metrics history.

    Args:
        model: a ``flax.nnx.Module``; its ``nnx.Param`` variables are trained.
        loss_fn: ``loss_fn(model, batch) -> loss`` or ``-> (loss, {name: value})``.
        data: a pytree of arrays sharing their leading dimension (e.g. ``(x, y)``).
        optimizer: an optax transformation.
        steps: number of optimizer steps (> 0).
        batch_size: minibatch size (sampled without replacement per epoch with ``key``); ``None`` = full batch.
        key: PRNG key for minibatch order (required with ``batch_size``).
        log_every: record training metrics every this many steps (and at the last step).
        eval_fn: ``eval_fn(model) -> {name: value}`` recorded every ``eval_every`` steps (and at the last).
        progress: progress bar on/off; ``None`` decides by :func:`progress_enabled`.

    >>> x = jnp.ones((8, 2)); y = jnp.full((8, 1), 3.0)
    >>> m = nnx.Linear(2, 1, rngs=nnx.Rngs(0))
    >>> fit(m, mse_loss, (x, y), optax.sgd(0.1), steps=100, progress=False).last("loss") < 1e-6
    True
    """
    if not isinstance(steps, int) or steps <= 0:
        raise ValueError(f"steps must be a positive integer, got {steps!r}")
    if log_every <= 0:
        raise ValueError(f"log_every must be positive, got {log_every}")
    n = _num_rows(data)
    if batch_size is not None:
        if batch_size <= 0 or batch_size > n:
            raise ValueError(f"batch_size must be in [1, {n}], got {batch_size}")
        if key is None:
            raise ValueError("minibatch training needs a PRNG key")
    eval_every = eval_every or log_every

    opt = nnx.Optimizer(model, optimizer, wrt=nnx.Param)
    graphdef, state = nnx.split((model, opt))

    def step(state, idx, data_):
        m, o = nnx.merge(graphdef, state)
        batch = data_ if batch_size is None else jax.tree.map(lambda a: a[idx], data_)

        def wrapped(mod):
            out = loss_fn(mod, batch)
            return out if isinstance(out, tuple) else (out, {})

        (loss, aux), grads = nnx.value_and_grad(wrapped, has_aux=True)(m)
        o.update(m, grads)
        return nnx.state((m, o)), (loss, aux)

    # Steps run in chunks: one compiled lax.scan per chunk (far less per-step overhead than a jitted
    # step per Python iteration); chunks end where eval_fn must see the model. The last chunk has the
    # same length (one compilation); when steps is not a multiple of the chunk, its surplus steps are
    # switched off by lax.cond. Either way `step` (nnx merge, value_and_grad, optimizer update) is
    # traced once per fit: each trace costs tens of milliseconds of Python.
    chunk = min(steps, eval_every if eval_fn is not None else 256)
    n_chunks = -(-steps // chunk)
    ragged = n_chunks * chunk != steps
    idx_shape = (chunk,) if batch_size is None else (chunk, batch_size)

    if ragged:
        # The skip branch must return zeros shaped like step's (loss, aux). Wrapping step in jit makes
        # eval_shape's trace the one that the scan below reuses (same argument types: a cache hit),
        # instead of a second trace of step.
        traced_step = jax.jit(step)
        out_shape = jax.eval_shape(traced_step, state, jnp.zeros(idx_shape[1:], jnp.int32), data)[1]
        zeros = jax.tree.map(lambda a: jnp.zeros(a.shape, a.dtype), out_shape)

        def body(st, xs, data_):
            i, on = xs
            return jax.lax.cond(on, lambda s, j: traced_step(s, j, data_), lambda s, _: (s, zeros), st, i)
    else:
        def body(st, xs, data_):  # every step of every chunk is live: no switch needed
            return step(st, xs[0], data_)

    @jax.jit
    def run_chunk(state, data_, idx, active):  # data enters as an argument, not as baked-in constants
        return jax.lax.scan(lambda st, xs: body(st, xs, data_), state, (idx, active))

    history = History()
    order = None
    bar = _progress_bar(range(n_chunks), enabled=progress_enabled(progress), leave=False, desc="training",
                        unit="chunk")
    for c in bar:
        first = c * chunk + 1
        steps_here = list(range(first, min(first + chunk, steps + 1)))
        if batch_size is None:
            idx = np.zeros(idx_shape, np.int32)
        else:
            rows = []
            per_epoch = n // batch_size
            for s_ in steps_here:
                j = (s_ - 1) % per_epoch
                if j == 0:
                    key, sub = jax.random.split(key)
                    order = np.asarray(jax.random.permutation(sub, n))
                rows.append(order[j * batch_size:(j + 1) * batch_size])
            rows += [rows[-1]] * (chunk - len(rows))
            idx = np.stack(rows).astype(np.int32)
        active = np.arange(chunk) < len(steps_here)
        state, (losses, auxes) = run_chunk(state, data, jnp.asarray(idx), jnp.asarray(active))
        nnx.update((model, opt), state)
        losses = np.asarray(losses)
        auxes = jax.tree.map(np.asarray, auxes)
        for t, s_ in enumerate(steps_here):
            record = {}
            if s_ % log_every == 0 or s_ == steps:
                record = {"loss": losses[t], **{k: v[t] for k, v in auxes.items()}}
            if eval_fn is not None and (s_ % eval_every == 0 or s_ == steps):
                record.update(eval_fn(model))   # chunk boundaries fall on these steps
            if record:
                history.log(s_, record)
        bar.set_postfix(loss=f"{float(losses[len(steps_here) - 1]):.4g}")
    return history
