"""Tests for ntkbook.kernels.empirical: every implementation against an independent Jacobian contraction."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx
from jax.flatten_util import ravel_pytree

from ntkbook.kernels.empirical import NTK_IMPLEMENTATIONS, empirical_ntk

D_IN, WIDTH, N_OUT = 3, 8, 3


def init_mlp(key, sizes, dtype=jnp.float32):
    params = []
    for k, (a, b) in zip(jax.random.split(key, len(sizes) - 1), zip(sizes[:-1], sizes[1:])):
        kw, kb = jax.random.split(k)
        params.append({"w": jax.random.normal(kw, (a, b), dtype), "b": 0.1 * jax.random.normal(kb, (b,), dtype)})
    return params


def mlp(params, x):
    """NTK-parameterised tanh/relu MLP, (n, d) -> (n, O)."""
    for i, p in enumerate(params):
        x = x @ p["w"] / jnp.sqrt(p["w"].shape[0]) + p["b"]
        if i < len(params) - 1:
            x = jnp.tanh(x) if i % 2 == 0 else jax.nn.relu(x)
    return x


@jax.jit(static_argnums=0)
def reference_ntk(f, params, x1, x2):
    """(N1, N2, O, O) by one dense jax.jacobian over the flattened parameter vector."""
    flat, unravel = ravel_pytree(params)
    j1 = jax.jacobian(lambda w: f(unravel(w), x1))(flat)  # (N1, O, P)
    j2 = jax.jacobian(lambda w: f(unravel(w), x2))(flat)
    return jnp.einsum("iap,jbp->ijab", j1, j2)


def traced(k_full):
    return jnp.einsum("ijaa->ij", k_full) / k_full.shape[-1]


@pytest.fixture(scope="module")
def problem():
    k1, k2, k3 = jax.random.split(jax.random.key(0), 3)
    params = init_mlp(k1, [D_IN, WIDTH, WIDTH, N_OUT])
    x1 = jax.random.normal(k2, (7, D_IN))
    x2 = jax.random.normal(k3, (5, D_IN))
    full = {True: reference_ntk(mlp, params, x1, x1), False: reference_ntk(mlp, params, x1, x2)}
    return params, x1, x2, full


def _expected(full, trace_axes, implementation):
    if implementation == "sum_of_logits" and trace_axes == (-1,):
        return full.sum((2, 3)) / full.shape[-1]  # (1/O) Σ_{o,o'} Θ[o, o']
    return traced(full) if trace_axes == (-1,) else full


# The reference is a dense Jacobian of the whole batch; the implementations use per-example
# Jacobians, per-leaf contractions, NTK-vector products or the summed output, with and without
# blocks (N1 = 7, N2 = 5 are not multiples of chunk = 3). Each case compiles, so the grid is pruned
# to cover every implementation × chunking × trace × symmetry pairing at least once.
CASES = [
    # implementation, chunk, trace_axes, symmetric
    ("jacobian", None, (-1,), True), ("jacobian", None, (-1,), False),
    ("jacobian", None, (), True), ("jacobian", None, (), False),
    ("jacobian", 3, (), False), ("jacobian", 3, (-1,), True),
    ("ntvp", None, (-1,), False), ("ntvp", None, (), True),
    ("ntvp", 3, (), False), ("ntvp", 3, (-1,), True),
    ("sum_of_logits", None, (-1,), False), ("sum_of_logits", 3, (-1,), True),
    ("sum_of_logits", 3, (), False),
]


@pytest.mark.parametrize("implementation, chunk, trace_axes, symmetric", CASES)
def test_matches_dense_jacobian_reference(problem, implementation, chunk, trace_axes, symmetric):
    params, x1, x2, full = problem
    got = empirical_ntk(mlp, x1, None if symmetric else x2, params=params, trace_axes=trace_axes,
                        implementation=implementation, chunk=chunk)
    want = _expected(full[symmetric], trace_axes, implementation)
    n2 = 7 if symmetric else 5
    assert got.shape == ((7, n2) if trace_axes else (7, n2, N_OUT, N_OUT))
    assert got.dtype == jnp.float32
    np.testing.assert_allclose(got, want, rtol=2e-5, atol=2e-5)


def test_symmetric_and_psd(problem):
    params, x1, _, _ = problem
    k = np.asarray(empirical_ntk(mlp, x1, params=params, trace_axes=()), np.float64)
    mat = k.transpose(0, 2, 1, 3).reshape(7 * N_OUT, 7 * N_OUT)  # (N·O) × (N·O) NTK matrix
    np.testing.assert_allclose(mat, mat.T, rtol=1e-5, atol=1e-5)
    assert np.linalg.eigvalsh(mat).min() > -1e-4 * np.abs(mat).max()


def test_sum_of_logits_is_ntk_of_summed_output(problem):
    """pNTK = (1/O)·∇θ(Σ_o f_o(x1))·∇θ(Σ_o f_o(x2))ᵀ: the NTK of the scalar Σ_o f_o, divided by O."""
    params, x1, x2, _ = problem

    def summed(p, x):
        return mlp(p, x).sum(axis=-1)  # (n,)

    scalar_ntk = empirical_ntk(summed, x1, x2, params=params, trace_axes=())
    assert scalar_ntk.shape == (7, 5)
    pntk = empirical_ntk(mlp, x1, x2, params=params, implementation="sum_of_logits")
    np.testing.assert_allclose(pntk, scalar_ntk / N_OUT, rtol=2e-5, atol=2e-5)


def test_sum_of_logits_close_to_traced_ntk_for_wide_readout():
    """At initialisation, Θ[o, o'] for o ≠ o' shrinks as the last hidden layer widens.

    pNTK = (1/O)·Σ_{o,o'} Θ[o, o'] (checked above and in the reference cases), so both sides come
    from one full kernel. Measured (seed 0, 8 inputs, 10 outputs, depth 3): relative Frobenius
    error 0.19 at width 8 and 0.029 at width 256; over seeds 0–9, 0.087–0.52 and 0.029–0.090.
    """
    x = jax.random.normal(jax.random.key(1), (8, 5))
    errors = {}
    for width in (8, 256):
        params = init_mlp(jax.random.key(0), [5, width, width, 10])
        full = empirical_ntk(mlp, x, params=params, trace_axes=())
        pntk = full.sum((2, 3)) / 10
        errors[width] = float(jnp.linalg.norm(pntk - traced(full)) / jnp.linalg.norm(traced(full)))
    assert errors[256] < 0.1
    assert errors[8] > 2 * errors[256]


def test_multiple_output_axes_and_scalar_output():
    """y: (n, A, B): trace over B gives (N1, N2, A, A); trace over nothing gives (N1, N2, A, B, A, B)."""
    key = jax.random.key(2)
    w = {"w": jax.random.normal(key, (3, 6))}

    def f(p, x):
        return jnp.sin(x @ p["w"]).reshape(x.shape[0], 2, 3)

    x1, x2 = jnp.linspace(-1, 1, 12).reshape(4, 3), jnp.linspace(0, 2, 9).reshape(3, 3)
    flat_f = lambda p, x: f(p, x).reshape(x.shape[0], 6)  # noqa: E731
    full = reference_ntk(flat_f, w, x1, x2).reshape(4, 3, 2, 3, 2, 3)  # (i, j, a, b, a', b')
    k_a = empirical_ntk(f, x1, x2, params=w, trace_axes=(-1,), implementation="ntvp")
    np.testing.assert_allclose(k_a, jnp.einsum("ijabcb->ijac", full) / 3, rtol=1e-5, atol=1e-5)
    k_b = empirical_ntk(f, x1, x2, params=w, trace_axes=(1,))
    np.testing.assert_allclose(k_b, jnp.einsum("ijabac->ijbc", full) / 2, rtol=1e-5, atol=1e-5)
    k_all = empirical_ntk(f, x1, x2, params=w, trace_axes=(1, 2))
    np.testing.assert_allclose(k_all, jnp.einsum("ijabab->ij", full) / 6, rtol=1e-5, atol=1e-5)
    # scalar per example: y is (n,), nothing to trace
    scalar = empirical_ntk(lambda p, x: f(p, x)[:, 0, 0], x1, x2, params=w, trace_axes=())
    np.testing.assert_allclose(scalar, full[:, :, 0, 0, 0, 0], rtol=1e-5, atol=1e-5)


class MLPModule(nnx.Module):
    def __init__(self, sizes, *, rngs: nnx.Rngs):
        self.layers = nnx.List([nnx.Linear(a, b, rngs=rngs, bias_init=nnx.initializers.normal(0.1))
                                for a, b in zip(sizes[:-1], sizes[1:])])

    def __call__(self, x):
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i < len(self.layers) - 1:
                x = jax.nn.relu(x)
        return x


def _functional(module):
    graphdef, params, rest = nnx.split(module, nnx.Param, ...)
    return (lambda p, x: nnx.merge(graphdef, p, rest)(x)), params


def test_nnx_module():
    model = MLPModule([D_IN, 16, 4], rngs=nnx.Rngs(0))
    x1 = jax.random.normal(jax.random.key(3), (6, D_IN))
    x2 = jax.random.normal(jax.random.key(4), (4, D_IN))
    apply, params = _functional(model)
    full = reference_ntk(apply, params, x1, x2)
    got = empirical_ntk(model, x1, x2, trace_axes=())
    np.testing.assert_allclose(got, full, rtol=2e-5, atol=2e-5)
    ntvp = empirical_ntk(model, x1, x2, implementation="ntvp", chunk=4)
    np.testing.assert_allclose(ntvp, traced(full), rtol=2e-5, atol=2e-5)
    # explicit params: the NTK at other parameter values (here: doubled)
    doubled = jax.tree.map(lambda v: 2 * v, params)
    np.testing.assert_allclose(empirical_ntk(model, x1, x2, params=doubled),
                               traced(reference_ntk(apply, doubled, x1, x2)), rtol=2e-5, atol=2e-5)


def test_float64(x64):
    params = init_mlp(jax.random.key(5), [D_IN, WIDTH, N_OUT], dtype=jnp.float64)
    x1 = jax.random.normal(jax.random.key(6), (5, D_IN), jnp.float64)
    x2 = jax.random.normal(jax.random.key(7), (4, D_IN), jnp.float64)
    full = reference_ntk(mlp, params, x1, x2)
    assert full.dtype == jnp.float64
    for implementation in NTK_IMPLEMENTATIONS:
        got = empirical_ntk(mlp, x1, x2, params=params, trace_axes=(), implementation=implementation, chunk=2)
        assert got.dtype == jnp.float64
        np.testing.assert_allclose(got, full, rtol=1e-12, atol=1e-12)


def test_jit_and_grad_friendly(problem):
    """Inside jit the result matches; differentiating through the kernel works."""
    params, x1, x2, full = problem
    k = jax.jit(lambda p, a: empirical_ntk(mlp, a, x2, params=p, chunk=3))(params, x1)
    np.testing.assert_allclose(k, traced(full[False]), rtol=2e-5, atol=2e-5)
    g = jax.grad(lambda a: empirical_ntk(mlp, a, x2, params=params).sum())(x1)
    assert g.shape == x1.shape and bool(jnp.all(jnp.isfinite(g)))


def test_chunking_bounds_compiled_memory():
    """XLA's compiled temporary buffers: flat in N when chunked, growing ~ N·O·P without chunks.

    (Compile-time accounting from ``memory_analysis``; no execution, no timing.)
    """
    params = init_mlp(jax.random.key(8), [4, 64, 10])
    temp = {}
    for n, chunk in ((128, None), (32, 8), (128, 8)):
        fn = jax.jit(lambda p, a, c=chunk: empirical_ntk(mlp, a, params=p, chunk=c))
        analysis = fn.lower(params, jnp.ones((n, 4))).compile().memory_analysis()
        if analysis is None:
            pytest.skip("backend gives no memory analysis")
        temp[n, chunk] = analysis.temp_size_in_bytes
    jacobian_bytes = 128 * 10 * sum(leaf.size for leaf in jax.tree.leaves(params)) * 4
    assert temp[128, None] > jacobian_bytes        # the full Jacobian is live
    assert temp[128, 8] < 1.5 * temp[32, 8]        # chunked: independent of N (up to the output)
    assert temp[128, 8] < temp[128, None] / 4


@pytest.mark.parametrize("call, match", [
    (lambda p, x: empirical_ntk(mlp, x, params=p, implementation="exact"), "implementation"),
    (lambda p, x: empirical_ntk(mlp, x, params=p, chunk=0), "chunk"),
    (lambda p, x: empirical_ntk(mlp, x, params=p, chunk=2.0), "chunk"),
    (lambda p, x: empirical_ntk(mlp, x), "params is required"),
    (lambda p, x: empirical_ntk(mlp, x, params={}), "no array leaves"),
    (lambda p, x: empirical_ntk(mlp, x, x[:, :2], params=p), "same feature shape"),
    (lambda p, x: empirical_ntk(mlp, x[:0], params=p), "positive length"),
    (lambda p, x: empirical_ntk(mlp, x[0, 0], params=p), "batch axis"),
    (lambda p, x: empirical_ntk(mlp, x.at[0, 0].set(jnp.nan), params=p), "NaN"),
    (lambda p, x: empirical_ntk(mlp, x, params=p, trace_axes=(0,)), "batch axis"),
    (lambda p, x: empirical_ntk(mlp, x, params=p, trace_axes=(2,)), "out of range"),
    (lambda p, x: empirical_ntk(mlp, x, params=p, trace_axes=(-1, 1)), "repeated"),
    (lambda p, x: empirical_ntk(mlp, x, params=p, trace_axes="last"), "ints"),
    (lambda p, x: empirical_ntk(lambda q, a: mlp(q, a)[:, 0], x, params=p), "trace_axes=()"),
    (lambda p, x: empirical_ntk(lambda q, a: mlp(q, a).sum(), x, params=p), "batch axis"),
    (lambda p, x: empirical_ntk(42, x, params=p), "f must be"),
    (lambda p, x: empirical_ntk(MLPModule([D_IN, 2], rngs=nnx.Rngs(0)), x, params=p), "structure"),
])
def test_bad_inputs_raise(problem, call, match):
    params, x1, _, _ = problem
    with pytest.raises(ValueError, match=match):
        call(params, x1)
