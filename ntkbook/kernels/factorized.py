"""Empirical NTK of a fully connected network from per-layer factors, without any Jacobian.

For an MLP in NTK parameterisation,

    z_ℓ = (σ_w,ℓ / √d_ℓ) · h_{ℓ-1} W_ℓ + σ_b,ℓ · b_ℓ,   h_ℓ = φ(z_ℓ),   h_0 = x,   f = z_L,

the gradient of output ``c`` with respect to ``W_ℓ`` is the outer product
``(σ_w,ℓ / √d_ℓ) · h_{ℓ-1}(x) ⊗ δ_ℓ,c(x)`` with the back-propagated vector ``δ_ℓ,c = ∂f_c/∂z_ℓ``, and the
gradient with respect to ``b_ℓ`` is ``σ_b,ℓ · δ_ℓ,c(x)``. Inner products of outer products factorise, so
the full NTK is a sum of Hadamard products of two small Gram matrices per layer::

    Θ(x, x')[c, c'] = Σ_ℓ (σ_w,ℓ² ⟨h_{ℓ-1}(x), h_{ℓ-1}(x')⟩ / d_ℓ + σ_b,ℓ²) · ⟨δ_ℓ,c(x), δ_ℓ,c'(x')⟩ .

:func:`mlp_ntk` evaluates this with one forward pass and one batched backward recursion (``O``
cotangents per example). It never forms a parameter-space vector, so a width-4096 network, whose
Jacobian has ``O · 17·10⁶`` entries per example, costs about as much as ``O`` extra backward passes.
The summed-logit "pseudo-NTK" of Mohamadi, Bae & Sutherland (ICML 2023) needs a single cotangent,
``Σ_c δ_ℓ,c``, per example.
"""

from __future__ import annotations

import functools
import math
from typing import Any, Callable, Mapping, Sequence

import jax
import jax.numpy as jnp

from .._validate import as_float_array, check_positive, check_same_features

__all__ = ["mlp_ntk", "MLP_NTK_OUTPUTS"]

#: The values accepted by ``mlp_ntk(..., output=...)``.
MLP_NTK_OUTPUTS: tuple[str, ...] = ("full", "trace", "sum_of_logits")


def mlp_ntk(layers: Sequence[Mapping[str, Any]], x1: Any, x2: Any | None = None, *,
            W_std: float | Sequence[float] = 1.0, b_std: float | Sequence[float | None] | None = None,
            activation: Callable[[jax.Array], jax.Array] = jax.nn.relu,
            output: str = "full") -> jax.Array:
    """Empirical NTK of an NTK-parameterised MLP, assembled layer by layer.

    Parameters
    ----------
    layers
        One mapping per dense layer, first to last: ``{"W": (d_ℓ, d_{ℓ+1})}`` and optionally
        ``"b": (d_{ℓ+1},)``, entries of unit scale (the parameterisation multiplies them by
        ``W_std / √d_ℓ`` and ``b_std``). This is the layout of the non-empty entries of
        ``ntkbook.nn.serial(Dense, act, Dense, ..., Dense)`` parameters, i.e.
        ``[p for p in params if p]``.
    x1
        Inputs, shape ``(N1, d_0)``.
    x2
        Inputs, shape ``(N2, d_0)``, or ``None`` for ``x2 = x1``.
    W_std, b_std
        Weight and bias standard deviations: one float for all layers or one entry per layer.
        ``b_std`` is required for layers that have a ``"b"``; it is ignored for layers that do not.
    activation
        Elementwise nonlinearity ``φ`` applied after every layer but the last.
    output
        ``"full"`` — ``(N1, N2, O, O)``, ``K[i, j, c, c'] = Σ_p ∂f_c(x1_i)/∂θ_p ∂f_c'(x2_j)/∂θ_p``;
        ``"trace"`` — ``(N1, N2)``, the mean over ``c`` of ``K[i, j, c, c]``;
        ``"sum_of_logits"`` — ``(N1, N2)``, the pseudo-NTK ``(1/O) Σ_{c,c'} K[i, j, c, c']``.
        These follow :func:`ntkbook.kernels.empirical_ntk` with ``trace_axes=()``, the default
        ``trace_axes`` and ``implementation="sum_of_logits"`` respectively.

    Returns
    -------
    jax.Array
        The kernel in the dtype of the inputs and weights (promoted together).

    Notes
    -----
    With ``N = N1 + N2`` inputs, widths ``d_ℓ`` and ``O`` outputs, ``"full"`` and ``"trace"`` store
    ``N · O · Σ_ℓ d_ℓ`` back-propagated numbers and cost ``N · O · Σ_ℓ d_ℓ d_{ℓ+1}`` multiply-adds for
    the backward recursion plus ``N1 · N2 · O² · Σ_ℓ d_ℓ`` for the contractions; ``"sum_of_logits"``
    drops one factor ``O`` from the first two and ``O²`` from the last.

    Examples
    --------
    >>> import jax
    >>> k1, k2, k3 = jax.random.split(jax.random.key(0), 3)
    >>> layers = [{"W": jax.random.normal(k1, (3, 32))}, {"W": jax.random.normal(k2, (32, 4))}]
    >>> x = jax.random.normal(k3, (5, 3))
    >>> mlp_ntk(layers, x, W_std=2**0.5).shape
    (5, 5, 4, 4)
    >>> mlp_ntk(layers, x, x[:2], W_std=2**0.5, output="sum_of_logits").shape
    (5, 2)
    """
    if output not in MLP_NTK_OUTPUTS:
        raise ValueError(f"output must be one of {MLP_NTK_OUTPUTS}, got {output!r}")
    if not callable(activation):
        raise ValueError(f"activation must be callable, got {activation!r}")
    weights, biases = _check_layers(layers)
    n_layers = len(weights)
    w_std = _per_layer(W_std, n_layers, "W_std", allow_none=False)
    b_std = _per_layer(b_std, n_layers, "b_std", allow_none=True)
    for ell, (b, s) in enumerate(zip(biases, b_std)):
        if b is not None and s is None:
            raise ValueError(f"layer {ell} has a bias 'b' but b_std gives it no scale")

    x1 = as_float_array(x1, "x1", ndim=2)
    symmetric = x2 is None
    if not symmetric:
        x2 = as_float_array(x2, "x2", ndim=2)
        check_same_features(x1, x2)
    if x1.shape[0] == 0 or (not symmetric and x2.shape[0] == 0):
        raise ValueError("x1 and x2 need at least one row each")
    if x1.shape[1] != weights[0].shape[0]:
        raise ValueError(f"x1 has {x1.shape[1]} features but the first layer's W expects "
                         f"{weights[0].shape[0]}")

    dtype = jnp.result_type(x1, *(() if symmetric else (x2,)), *weights,
                            *(b for b in biases if b is not None))
    scales = tuple((float(s), None if (b is None) else float(sb))
                   for s, sb, b in zip(w_std, b_std, biases))
    try:
        hash(activation)
    except TypeError:  # an unhashable callable: compile for this call only
        compute = _compiled.__wrapped__(activation, scales, output, jnp.dtype(dtype))
    else:
        compute = _compiled(activation, scales, output, jnp.dtype(dtype))
    return compute(weights, biases, x1, None if symmetric else x2)


@functools.lru_cache(maxsize=64)
def _compiled(activation, scales, output, dtype):
    """One jitted kernel function per configuration, so repeated calls reuse their compilations."""

    def compute(ws, bs, a, b):
        ws = [w.astype(dtype) for w in ws]
        bs = [None if v is None else v.astype(dtype) for v in bs]
        fa = _factors(ws, bs, scales, activation, a.astype(dtype), output)
        fb = fa if b is None else _factors(ws, bs, scales, activation, b.astype(dtype), output)
        return _contract(fa, fb, scales, output, ws[-1].shape[1])

    return jax.jit(compute)


# ----------------------------------------------------------------------------------------------------
# Validation
# ----------------------------------------------------------------------------------------------------

def _check_layers(layers: Any) -> tuple[list[jax.Array], list[jax.Array | None]]:
    if isinstance(layers, Mapping) or not isinstance(layers, Sequence) or len(layers) == 0:
        raise ValueError("layers must be a non-empty sequence of {'W': ..., 'b': ...} mappings")
    weights, biases = [], []
    for ell, layer in enumerate(layers):
        if not isinstance(layer, Mapping) or "W" not in layer:
            raise ValueError(f"layers[{ell}] must be a mapping with a 'W' entry, got {layer!r}")
        extra = set(layer) - {"W", "b"}
        if extra:
            raise ValueError(f"layers[{ell}] has entries {sorted(extra)} besides 'W' and 'b'")
        w = as_float_array(layer["W"], f"layers[{ell}]['W']", ndim=2)
        if weights and w.shape[0] != weights[-1].shape[1]:
            raise ValueError(f"layers[{ell}]['W'] has {w.shape[0]} rows but layer {ell - 1} has "
                             f"{weights[-1].shape[1]} outputs")
        b = layer.get("b")
        if b is not None:
            b = as_float_array(b, f"layers[{ell}]['b']", ndim=1)
            if b.shape[0] != w.shape[1]:
                raise ValueError(f"layers[{ell}]['b'] has shape {tuple(b.shape)}, expected ({w.shape[1]},)")
        weights.append(w)
        biases.append(b)
    return weights, biases


def _per_layer(value: Any, n: int, name: str, allow_none: bool) -> list[float | None]:
    if value is None and allow_none:
        return [None] * n
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        values = [value] * n
    elif isinstance(value, (str, bytes)):
        raise ValueError(f"{name} must be a float or a sequence of {n} floats, got {value!r}")
    else:
        try:
            values = list(value)
        except TypeError:
            raise ValueError(f"{name} must be a float or a sequence of {n} floats, got {value!r}") from None
        if len(values) != n:
            raise ValueError(f"{name} must have one entry per layer ({n}), got {len(values)}")
    out = []
    for v in values:
        if v is None and allow_none:
            out.append(None)
            continue
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise ValueError(f"{name} entries must be floats, got {value!r}")
        check_positive(v, name, allow_zero=True)
        out.append(float(v))
    return out


# ----------------------------------------------------------------------------------------------------
# Forward/backward factors and their contraction
# ----------------------------------------------------------------------------------------------------

def _factors(ws, bs, scales, activation, x, output):
    """Layer inputs ``h_{ℓ-1}: (n, d_ℓ)`` and back-propagated ``δ_ℓ``: ``(n, C, d_{ℓ+1})``.

    ``C = O`` (one cotangent per output) for the full or traced kernel, ``C = 1`` (the summed
    outputs) for the pseudo-NTK.
    """
    inputs, vjps = [], []
    h = x
    for ell, (w, b) in enumerate(zip(ws, bs)):
        inputs.append(h)
        s_w, s_b = scales[ell]
        z = (s_w / math.sqrt(w.shape[0])) * (h @ w)
        if b is not None:
            z = z + s_b * b
        if ell < len(ws) - 1:
            h, vjp = jax.vjp(activation, z)
            vjps.append(vjp)

    n, n_out = x.shape[0], ws[-1].shape[1]
    if output == "sum_of_logits":
        delta = jnp.ones((n, 1, n_out), x.dtype)
    else:
        delta = jnp.broadcast_to(jnp.eye(n_out, dtype=x.dtype), (n, n_out, n_out))
    deltas = [delta]
    for ell in range(len(ws) - 1, 0, -1):
        w = ws[ell]
        s_w = scales[ell][0] / math.sqrt(w.shape[0])
        g = s_w * jnp.einsum("ncj,kj->nck", delta, w)                 # ∂f/∂h_{ℓ-1}
        (delta,) = jax.vmap(vjps[ell - 1], in_axes=1, out_axes=1)(g)  # ⊙ φ'(z_{ℓ-1})
        deltas.append(delta)
    return inputs, deltas[::-1]


def _contract(fa, fb, scales, output, n_out):
    inputs_a, deltas_a = fa
    inputs_b, deltas_b = fb
    total = None
    for ell, (ha, hb, da, db) in enumerate(zip(inputs_a, inputs_b, deltas_a, deltas_b)):
        s_w, s_b = scales[ell]
        fan_in = ha.shape[1]
        gram_h = (s_w ** 2 / fan_in) * (ha @ hb.T)
        if s_b is not None:
            gram_h = gram_h + s_b ** 2
        if output == "full":
            term = gram_h[:, :, None, None] * jnp.einsum("ick,jdk->ijcd", da, db)
        elif output == "trace":
            term = gram_h * jnp.einsum("ick,jck->ij", da, db) / n_out
        else:
            term = gram_h * jnp.einsum("ik,jk->ij", da[:, 0], db[:, 0]) / n_out
        total = term if total is None else total + term
    return total
