"""Tests for ntkbook.kernels.factorized: the per-layer NTK of an MLP against dense Jacobians."""

from __future__ import annotations

import math
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

from ntkbook import nn
from ntkbook.kernels.empirical import empirical_ntk
from ntkbook.kernels.factorized import MLP_NTK_OUTPUTS, mlp_ntk

D_IN, WIDTH, N_OUT = 4, 9, 3
W_STD = (1.3, 1.1, 0.8)
B_STD = (0.2, None, 0.5)  # the middle layer has no bias


def make_layers(key, sizes, dtype=jnp.float32, bias=(True, False, True)):
    layers = []
    for k, (a, b), has_b in zip(jax.random.split(key, len(sizes) - 1), zip(sizes[:-1], sizes[1:]), bias):
        kw, kb = jax.random.split(k)
        layer = {"W": jax.random.normal(kw, (a, b), dtype)}
        if has_b:
            layer["b"] = jax.random.normal(kb, (b,), dtype)
        layers.append(layer)
    return layers


def apply(layers, x, w_std=W_STD, b_std=B_STD, act=jnp.tanh):
    """The network mlp_ntk describes, written out independently."""
    for i, layer in enumerate(layers):
        x = (w_std[i] / math.sqrt(layer["W"].shape[0])) * (x @ layer["W"])
        if "b" in layer:
            x = x + b_std[i] * layer["b"]
        if i < len(layers) - 1:
            x = act(x)
    return x


@partial(jax.jit, static_argnames=("w_std", "b_std", "act"))
def reference(layers, x1, x2, **kw):
    """(N1, N2, O, O) from one dense Jacobian over the flattened parameters."""
    flat, unravel = ravel_pytree(layers)
    j1 = jax.jacobian(lambda w: apply(unravel(w), x1, **kw))(flat)
    j2 = jax.jacobian(lambda w: apply(unravel(w), x2, **kw))(flat)
    return jnp.einsum("iap,jbp->ijab", j1, j2)


@pytest.fixture(scope="module")
def problem():
    k1, k2, k3 = jax.random.split(jax.random.key(0), 3)
    layers = make_layers(k1, [D_IN, WIDTH, WIDTH, N_OUT])
    x1 = jax.random.normal(k2, (6, D_IN))
    x2 = jax.random.normal(k3, (4, D_IN))
    return layers, x1, x2


def _expected(full, output):
    if output == "full":
        return full
    if output == "trace":
        return jnp.einsum("ijcc->ij", full) / full.shape[-1]
    return full.sum((2, 3)) / full.shape[-1]


@pytest.mark.parametrize("output", MLP_NTK_OUTPUTS)
@pytest.mark.parametrize("symmetric", [True, False])
def test_matches_dense_jacobian(problem, output, symmetric):
    layers, x1, x2 = problem
    other = x1 if symmetric else x2
    got = mlp_ntk(layers, x1, None if symmetric else x2, W_std=W_STD, b_std=B_STD, activation=jnp.tanh,
                  output=output)
    want = _expected(reference(layers, x1, other), output)
    assert got.shape == want.shape
    assert got.dtype == jnp.float32
    np.testing.assert_allclose(got, want, rtol=2e-5, atol=2e-5)


def test_float64_exact(x64):
    k1, k2, k3 = jax.random.split(jax.random.key(1), 3)
    layers = make_layers(k1, [D_IN, WIDTH, 7, N_OUT], jnp.float64, bias=(True, True, False))
    x1 = jax.random.normal(k2, (5, D_IN), jnp.float64)
    x2 = jax.random.normal(k3, (3, D_IN), jnp.float64)
    kw = dict(w_std=(2**0.5,) * 3, b_std=(0.1, 0.3, None), act=jax.nn.relu)
    want = reference(layers, x1, x2, **kw)
    got = mlp_ntk(layers, x1, x2, W_std=2**0.5, b_std=[0.1, 0.3, None])
    assert got.dtype == jnp.float64
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def test_agrees_with_nn_serial_and_empirical_ntk():
    """The layout of ``ntkbook.nn`` Dense parameters is accepted as is (empty Relu entries dropped)."""
    net = nn.serial(nn.Dense(16, W_std=1.5, b_std=0.1), nn.Relu(), nn.Dense(12, W_std=1.2, b_std=0.2),
                    nn.Relu(), nn.Dense(5, W_std=0.9, b_std=0.3))
    params = net.init_params(jax.random.key(2), (D_IN,))
    x1 = jax.random.normal(jax.random.key(3), (7, D_IN))
    x2 = jax.random.normal(jax.random.key(4), (3, D_IN))
    layers = [p for p in params if p]
    kw = dict(W_std=[1.5, 1.2, 0.9], b_std=[0.1, 0.2, 0.3])
    full = empirical_ntk(net.apply, x1, x2, params=params, trace_axes=())
    np.testing.assert_allclose(mlp_ntk(layers, x1, x2, **kw), full, rtol=2e-5, atol=2e-5)
    pntk = empirical_ntk(net.apply, x1, x2, params=params, implementation="sum_of_logits")
    np.testing.assert_allclose(mlp_ntk(layers, x1, x2, output="sum_of_logits", **kw), pntk,
                               rtol=2e-5, atol=2e-5)


def test_single_layer_closed_form():
    """f = σ_w x W / √d + σ_b b: Θ(x, x')[c, c'] = (σ_w² ⟨x, x'⟩ / d + σ_b²) δ_cc'."""
    layer = {"W": jnp.ones((3, 2)), "b": jnp.zeros(2)}
    x = jnp.array([[1.0, 2.0, 0.0], [0.0, 1.0, -1.0]])
    got = mlp_ntk([layer], x, W_std=2.0, b_std=0.5)
    scalar = 4.0 * (x @ x.T) / 3 + 0.25
    np.testing.assert_allclose(got, scalar[:, :, None, None] * jnp.eye(2), rtol=1e-6)


def test_symmetric_psd(problem):
    layers, x1, _ = problem
    k = np.asarray(mlp_ntk(layers, x1, W_std=W_STD, b_std=B_STD, activation=jnp.tanh), np.float64)
    mat = k.transpose(0, 2, 1, 3).reshape(6 * N_OUT, 6 * N_OUT)
    np.testing.assert_allclose(mat, mat.T, rtol=1e-5, atol=1e-5)
    assert np.linalg.eigvalsh(mat).min() > -1e-4 * np.abs(mat).max()


def test_jit_and_grad(problem):
    layers, x1, x2 = problem

    @jax.jit
    def f(layers, a):
        return mlp_ntk(layers, a, x2, W_std=W_STD, b_std=B_STD, activation=jnp.tanh, output="trace")

    want = _expected(reference(layers, x1, x2), "trace")
    np.testing.assert_allclose(f(layers, x1), want, rtol=2e-5, atol=2e-5)
    g = jax.grad(lambda a: f(layers, a).sum())(x1)
    assert g.shape == x1.shape and bool(jnp.all(jnp.isfinite(g)))


def test_pseudo_ntk_close_to_full_for_wide_readout():
    """At initialisation ‖Θ − pNTK ⊗ I‖ / ‖Θ‖ shrinks as the readout widens (seeded; ~ n^{-1/2})."""
    x = jax.random.normal(jax.random.key(5), (8, 6))
    errors = {}
    for width in (16, 512):
        layers = make_layers(jax.random.key(6), [6, width, width, 10], bias=(True, True, True))
        kw = dict(W_std=2**0.5, b_std=0.1)
        full = mlp_ntk(layers, x, **kw)
        pntk = full.sum((2, 3)) / 10  # = output="sum_of_logits", checked above
        errors[width] = float(jnp.linalg.norm(full - pntk[:, :, None, None] * jnp.eye(10)) / jnp.linalg.norm(full))
    assert errors[512] < 0.2
    assert errors[16] > 3 * errors[512]


@pytest.mark.parametrize("bad, match", [
    (dict(layers=[]), "non-empty"),
    (dict(layers={"W": jnp.ones((4, 3))}), "non-empty sequence"),
    (dict(layers=[{"b": jnp.ones(3)}]), "'W' entry"),
    (dict(layers=[{"W": jnp.ones((4, 3)), "c": 1.0}]), "besides"),
    (dict(layers=[{"W": jnp.ones((4, 3))}, {"W": jnp.ones((2, 2))}]), "rows"),
    (dict(layers=[{"W": jnp.ones((4, 3)), "b": jnp.ones(2)}], b_std=0.1), "shape"),
    (dict(layers=[{"W": jnp.ones((4, 3)), "b": jnp.ones(3)}]), "b_std"),
    (dict(layers=[{"W": jnp.ones(4)}]), "rank 2"),
    (dict(x1=jnp.ones((2, 5))), "features"),
    (dict(x1=jnp.ones(4)), "rank 2"),
    (dict(x1=jnp.ones((0, 4))), "at least one row"),
    (dict(x2=jnp.ones((2, 3))), "same feature shape"),
    (dict(x1=jnp.array([[jnp.nan, 0.0, 0.0, 0.0]])), "NaN"),
    (dict(W_std=[1.0, 1.0]), "one entry per layer"),
    (dict(W_std=-1.0), "non-negative"),
    (dict(W_std="big"), "floats"),
    (dict(output="diag"), "output"),
    (dict(activation=3), "callable"),
])
def test_bad_input(bad, match):
    args = dict(layers=[{"W": jnp.ones((4, 3))}], x1=jnp.ones((2, 4)), x2=None, W_std=1.0, b_std=None,
                activation=jax.nn.relu, output="full")
    args.update(bad)
    layers, x1, x2 = args.pop("layers"), args.pop("x1"), args.pop("x2")
    with pytest.raises(ValueError, match=match):
        mlp_ntk(layers, x1, x2, **args)
