"""Online node labelling on a graph: nodes arrive one at a time, we predict a label, then see the truth.

* :func:`online_kernel_labeling` — the kernel online-gradient (relaxation) predictor: the score of node
  ``v_t`` is ``η Σ_{s<t} K(v_s, v_t) (e_{y_s} − p_s)`` with ``p_s`` the softmax of the score at step ``s``;
  predict the arg-max class. Only the column ``K(:, v_t)`` is needed at step ``t``, so exact columns or
  local-push approximations (:func:`ntkbook.kernels.local_push`) can be plugged in.
* :func:`online_neighbor_majority` — baseline: the majority label among the already revealed neighbours.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .._validate import as_float_array, check_positive, check_positive_int

__all__ = ["OnlineLabeling", "online_kernel_labeling", "online_neighbor_majority"]


class OnlineLabeling(NamedTuple):
    """``predictions (T,)`` int32 in arrival order and ``mistakes (T,)``: the cumulative mistake count."""

    predictions: jax.Array
    mistakes: jax.Array


def _check_order(labels: Any, order: Any, n_classes: int, n: int) -> tuple[jax.Array, jax.Array, int]:
    n_classes = check_positive_int(n_classes, "n_classes")
    y = np.asarray(labels)
    o = np.asarray(order)
    if y.ndim != 1 or y.shape[0] != n or not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"labels must be {n} integers, got shape {y.shape} and dtype {y.dtype}")
    if y.min() < 0 or y.max() >= n_classes:
        raise ValueError(f"labels must lie in 0 … {n_classes - 1}")
    if o.ndim != 1 or o.shape[0] == 0 or not np.issubdtype(o.dtype, np.integer):
        raise ValueError("order must be a non-empty 1-D sequence of node indices")
    if o.min() < 0 or o.max() >= n or np.unique(o).shape[0] != o.shape[0]:
        raise ValueError(f"order must hold distinct node indices in 0 … {n - 1}")
    return jnp.asarray(y, jnp.int32), jnp.asarray(o, jnp.int32), n_classes


def online_kernel_labeling(columns: Any, labels: Any, order: Any, n_classes: int, *,
                           learning_rate: float = 1.0) -> OnlineLabeling:
    """Online multiclass labelling of graph nodes with a kernel (online gradient / relaxation predictor).

    At step ``t`` node ``v_t = order[t]`` arrives. With ``G`` the ``(N, C)`` matrix whose row ``v_s`` holds
    ``e_{y_s} − p_s`` for every revealed node (zero elsewhere), the score is
    ``z_t = η · K(:, v_t)ᵀ G``, the prediction ``argmax z_t``, and after the label ``y_t`` is revealed,
    ``p_t = softmax(z_t)`` and row ``v_t`` of ``G`` becomes ``e_{y_t} − p_t`` — online gradient descent on
    the cross-entropy in the kernel's function space, the update rule of the relaxation-based algorithms
    (Rakhlin & Sridharan) used by FastONL.

    Parameters
    ----------
    columns
        ``(N, T)``: column ``t`` is (an approximation of) the kernel column ``K(:, v_t)`` of the arriving
        node, e.g. ``K[:, order]`` or ``local_push(A, order, ...).estimate``.
    labels
        ``(N,)`` true labels in ``0 … n_classes − 1``.
    order
        ``(T,)`` distinct arriving nodes.
    n_classes
        Number of classes ``C``.
    learning_rate
        ``η > 0``.

    Returns
    -------
    OnlineLabeling
        Predictions and cumulative mistakes. The first node (no information) is predicted as class 0.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> K = jnp.kron(jnp.eye(2), jnp.ones((2, 2)))  # two perfectly separated pairs
    >>> order = jnp.array([0, 2, 1, 3])
    >>> res = online_kernel_labeling(K[:, order], jnp.array([1, 1, 0, 0]), order, 2)
    >>> res.predictions.tolist(), int(res.mistakes[-1])
    ([0, 0, 1, 0], 1)
    """
    cols = as_float_array(columns, "columns", ndim=2)
    check_positive(learning_rate, "learning_rate")
    y, o, c = _check_order(labels, order, n_classes, cols.shape[0])
    if cols.shape[1] != o.shape[0]:
        raise ValueError(f"columns must have one column per arriving node ({o.shape[0]}), got {cols.shape[1]}")
    pred = _online_kernel(cols, y, o, c, float(learning_rate))
    return OnlineLabeling(pred, jnp.cumsum(pred != y[o]))


@jax.jit(static_argnums=(3, 4))
def _online_kernel(cols, y, order, n_classes, eta):
    n = cols.shape[0]

    def step(g, t):
        v = order[t]
        z = eta * cols[:, t] @ g
        pred = jnp.argmax(z).astype(jnp.int32)
        g = g.at[v].set(jax.nn.one_hot(y[v], n_classes, dtype=cols.dtype) - jax.nn.softmax(z))
        return g, pred

    _, pred = jax.lax.scan(step, jnp.zeros((n, n_classes), cols.dtype), jnp.arange(order.shape[0]))
    return pred


def online_neighbor_majority(adjacency: Any, labels: Any, order: Any, n_classes: int) -> OnlineLabeling:
    """Baseline: predict the (edge-weighted) majority label among the revealed neighbours of each arriving node.

    A node with no revealed neighbour gets the most frequent label revealed so far (class 0 at the start).
    Ties go to the smaller class index.

    Parameters
    ----------
    adjacency
        ``(N, N)`` non-negative adjacency (dense).
    labels
        ``(N,)`` true labels in ``0 … n_classes − 1``.
    order
        ``(T,)`` distinct arriving nodes.
    n_classes
        Number of classes.

    Returns
    -------
    OnlineLabeling
        Predictions and cumulative mistakes.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> path = jnp.array([[0.0, 1.0, 0.0], [1.0, 0.0, 1.0], [0.0, 1.0, 0.0]])
    >>> online_neighbor_majority(path, jnp.array([1, 1, 0]), jnp.array([0, 1, 2]), 2).predictions.tolist()
    [0, 1, 1]
    """
    a = as_float_array(adjacency, "adjacency", ndim=2)
    if a.shape[0] != a.shape[1]:
        raise ValueError(f"adjacency must be square, got shape {tuple(a.shape)}")
    y, o, c = _check_order(labels, order, n_classes, a.shape[0])
    pred = _neighbor_majority(a, y, o, c)
    return OnlineLabeling(pred, jnp.cumsum(pred != y[o]))


@jax.jit(static_argnums=(3,))
def _neighbor_majority(a, y, order, n_classes):
    def step(carry, v):
        votes, seen = carry
        fallback = jnp.argmax(seen)
        pred = jnp.where(jnp.any(votes[v] > 0), jnp.argmax(votes[v]), fallback).astype(jnp.int32)
        onehot = jax.nn.one_hot(y[v], n_classes, dtype=a.dtype)
        return (votes + a[:, v, None] * onehot[None, :], seen + onehot), pred

    init = (jnp.zeros((a.shape[0], n_classes), a.dtype), jnp.zeros(n_classes, a.dtype))
    _, pred = jax.lax.scan(step, init, order)
    return pred
