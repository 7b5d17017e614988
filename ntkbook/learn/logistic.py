"""Multinomial logistic regression with an L2 penalty, solved by L-BFGS inside one jitted loop.

The model is ``p(y = c | x) = softmax(x W + b)_c`` with ``W: (d, C)`` and ``b: (C,)``; the fit minimises
the mean cross-entropy plus ``(l2 / 2) ‖W‖_F²`` (the bias is not penalised)::

    L(W, b) = (1/n) Σ_i [logsumexp(x_i W + b) − (x_i W + b)_{y_i}] + (l2 / 2) ‖W‖_F² .

This is scikit-learn's ``LogisticRegression(C=1 / (n · l2))`` (multinomial, L2) with the objective
divided by ``C · n``, so the two have the same minimiser. The objective is strictly convex in ``W``
for ``l2 > 0``. Used with kernel features ``K(x, X_train)`` it is a kernel logistic regression
("kernel general linear model"), the surrogate model of P143.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
import optax.tree

from .._validate import as_float_array, check_positive, check_positive_int, is_concrete

__all__ = ["LogisticRegression", "logistic_regression"]


class LogisticRegression(NamedTuple):
    """A fitted multinomial logistic regression (a pytree, so fits can be vmapped over ``l2``).

    Attributes: ``weights (d, C)``, ``bias (C,)``, ``n_iter`` (L-BFGS iterations used) and
    ``grad_norm`` (norm of the objective's gradient at the returned point).
    """

    weights: jax.Array
    bias: jax.Array
    n_iter: jax.Array
    grad_norm: jax.Array

    def logits(self, x: Any) -> jax.Array:
        """``x W + b``: ``(n, C)`` for ``x: (n, d)``."""
        return jnp.asarray(x) @ self.weights + self.bias

    def predict_proba(self, x: Any) -> jax.Array:
        """Class probabilities ``softmax(x W + b)``, shape ``(n, C)``."""
        return jax.nn.softmax(self.logits(x), axis=-1)

    def predict(self, x: Any) -> jax.Array:
        """The most probable class of each row, shape ``(n,)``."""
        return jnp.argmax(self.logits(x), axis=-1)


def logistic_regression(x: Any, y: Any, *, l2: float | jax.Array, n_classes: int | None = None,
                        max_iter: int = 500, tol: float = 1e-6) -> LogisticRegression:
    """Fit a multinomial logistic regression with an L2 penalty on the weights.

    Parameters
    ----------
    x
        Features, shape ``(n, d)``.
    y
        Integer class labels in ``[0, C)``, shape ``(n,)``.
    l2
        Penalty strength ``> 0`` (a scalar; may be a traced value, e.g. under :func:`jax.vmap`).
    n_classes
        ``C``; ``None`` takes ``max(y) + 1`` (``y`` must then be concrete).
    max_iter
        Maximum number of L-BFGS iterations.
    tol
        Stop when the gradient norm of the objective is at most ``tol``.

    Returns
    -------
    LogisticRegression
        The fitted model, in the dtype of ``x``.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> x = jnp.array([[0.0], [1.0], [2.0], [3.0]])
    >>> model = logistic_regression(x, jnp.array([0, 0, 1, 1]), l2=0.01)
    >>> model.predict(x).tolist()
    [0, 0, 1, 1]
    >>> model.predict_proba(x).shape
    (4, 2)
    """
    x = as_float_array(x, "x", ndim=2)
    y = jnp.asarray(y)
    if y.ndim != 1 or y.shape[0] != x.shape[0]:
        raise ValueError(f"y must have shape ({x.shape[0]},) to match x, got {tuple(y.shape)}")
    if x.shape[0] == 0:
        raise ValueError("x needs at least one row")
    if not jnp.issubdtype(y.dtype, jnp.integer):
        if is_concrete(y) and np.all(np.asarray(y) == np.round(np.asarray(y))):
            y = y.astype(jnp.int32)
        else:
            raise ValueError(f"y must hold integer class labels, got dtype {y.dtype}")
    if n_classes is None:
        if not is_concrete(y):
            raise ValueError("n_classes is required when y is traced")
        n_classes = int(np.max(np.asarray(y))) + 1
    n_classes = check_positive_int(n_classes, "n_classes")
    if n_classes < 2:
        raise ValueError(f"logistic regression needs at least 2 classes, got n_classes={n_classes}")
    if is_concrete(y):
        labels = np.asarray(y)
        if labels.min() < 0 or labels.max() >= n_classes:
            raise ValueError(f"y must lie in [0, {n_classes}), got labels from {labels.min()} to {labels.max()}")
    check_positive(l2, "l2")
    max_iter = check_positive_int(max_iter, "max_iter")
    check_positive(tol, "tol")
    return _fit(x, y, jnp.asarray(l2, x.dtype), n_classes, max_iter, float(tol))


@jax.jit(static_argnums=(3, 4, 5))
def _fit(x, y, l2, n_classes, max_iter, tol):
    dtype = x.dtype
    onehot = jax.nn.one_hot(y, n_classes, dtype=dtype)

    def objective(p):
        logits = x @ p["W"] + p["b"]
        ce = jnp.mean(jax.nn.logsumexp(logits, axis=1) - jnp.sum(onehot * logits, axis=1))
        return ce + 0.5 * l2 * jnp.sum(p["W"] ** 2)

    solver = optax.lbfgs()
    value_and_grad = optax.value_and_grad_from_state(objective)
    start = {"W": jnp.zeros((x.shape[1], n_classes), dtype), "b": jnp.zeros((n_classes,), dtype)}

    def step(carry):
        params, state, _, it = carry
        value, grad = value_and_grad(params, state=state)
        updates, state = solver.update(grad, state, params, value=value, grad=grad, value_fn=objective)
        params = optax.apply_updates(params, updates)
        return params, state, optax.tree.norm(optax.tree.get(state, "grad")), it + 1

    def keep_going(carry):
        _, _, gnorm, it = carry
        return (it < max_iter) & (gnorm > tol)

    init = (start, solver.init(start), jnp.asarray(jnp.inf, dtype), jnp.asarray(0))
    params, _, gnorm, it = jax.lax.while_loop(keep_going, step, init)
    return LogisticRegression(params["W"], params["b"], it, gnorm)
