"""Analytic kernels of composed networks vs finite networks (Monte Carlo and Jacobian NTK)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from ntkbook import nn

WIDTH = 1024


def rel_fro(a, b) -> float:
    return float(jnp.linalg.norm(jnp.ravel(a - b)) / jnp.linalg.norm(jnp.ravel(b)))


def jacobian_ntk(net, x1, x2, seed=0):
    """Empirical NTK of ``net.module()`` by explicit Jacobian contraction (output channel 0)."""
    model = net.module(rngs=nnx.Rngs(seed), input_shape=x1.shape[1:], dtype=x1.dtype)
    graphdef, params, rest = nnx.split(model, nnx.Param, ...)

    def f(p, x):
        return nnx.merge(graphdef, p, rest)(x)[:, 0]

    j1 = jax.jacobian(f)(params, x1)
    j2 = jax.jacobian(f)(params, x2)
    leaves1, leaves2 = jax.tree.leaves(j1), jax.tree.leaves(j2)
    return sum(a.reshape(a.shape[0], -1) @ b.reshape(b.shape[0], -1).T for a, b in zip(leaves1, leaves2))


def _x(n=6, d=5, seed=1, dtype=jnp.float32):
    return jax.random.normal(jax.random.key(seed), (n, d), dtype)


# --------------------------------------------------------------------------- Monte Carlo: MLPs
def test_mlp_nngp_monte_carlo():
    x = _x()
    net = nn.serial(nn.Dense(WIDTH, W_std=1.4, b_std=0.1), nn.Relu(),
                    nn.Dense(WIDTH, W_std=1.2, b_std=0.2), nn.Erf(),
                    nn.Dense(WIDTH, W_std=1.1, b_std=0.3))
    k = net.kernel(x, get="nngp")
    mc = nn.monte_carlo_kernel(net, x, None, jax.random.key(3), 8, get="nngp")
    assert rel_fro(mc, k) < 0.05


def test_mlp_ntk_monte_carlo_with_gelu_and_sin():
    x = _x()
    x2 = _x(4, seed=7)
    net = nn.serial(nn.Dense(WIDTH, W_std=1.4, b_std=0.1), nn.Gelu(),
                    nn.Dense(WIDTH, W_std=1.0, b_std=0.2), nn.Sin(1.0, 1.0, 0.3), nn.Dense(1, b_std=0.1))
    k = net.kernel(x, x2)
    mc = nn.monte_carlo_kernel(net, x, x2, jax.random.key(4), 2)
    assert k.ntk.shape == (6, 4)
    assert rel_fro(mc.ntk, k.ntk) < 0.05


@pytest.mark.parametrize("parameterization", ["ntk", "standard", "mup"])
def test_jacobian_ntk_of_finite_module(parameterization, x64):
    """One hidden layer at width 4096: empirical NTK (Jacobian contraction) ≈ analytic NTK."""
    x = _x(dtype=jnp.float64)
    last = "mup" if parameterization == "mup" else parameterization
    net = nn.serial(nn.Dense(4096, W_std=1.5, b_std=0.2, parameterization=parameterization
                             if parameterization != "mup" else "ntk"),
                    nn.Relu(), nn.Dense(1, W_std=1.2, b_std=0.1, parameterization=last))
    emp = jacobian_ntk(net, x, x)
    k = net.kernel(x)
    assert rel_fro(emp, k.ntk) < 0.05
    if parameterization == "standard":  # the NTK grows with the width in this parameterization
        ntk_net = nn.serial(nn.Dense(4096, W_std=1.5, b_std=0.2), nn.Relu(), nn.Dense(1, W_std=1.2, b_std=0.1))
        assert float(jnp.trace(k.ntk)) > 100 * float(jnp.trace(ntk_net.kernel(x, get="ntk")))
        np.testing.assert_allclose(k.nngp, ntk_net.kernel(x, get="nngp"), rtol=1e-12)


def test_mup_readout_kernel_tends_to_bias():
    x = _x()
    small = nn.serial(nn.Dense(16), nn.Relu(), nn.Dense(1, b_std=0.5, parameterization="mup")).kernel(x)
    wide = nn.serial(nn.Dense(16 * 1024), nn.Relu(), nn.Dense(1, b_std=0.5, parameterization="mup")).kernel(x)
    assert float(jnp.max(jnp.abs(wide.nngp - 0.25))) < float(jnp.max(jnp.abs(small.nngp - 0.25))) / 100


def test_module_matches_init_params_and_apply():
    net = nn.serial(nn.Dense(8, b_std=0.1), nn.Relu(), nn.Dense(3, parameterization="standard", b_std=0.2))
    x = _x()
    model = net.module(rngs=nnx.Rngs(0))
    y = model(x)
    params = jax.tree.map(lambda v: v[...], model.params, is_leaf=lambda v: isinstance(v, nnx.Variable))
    np.testing.assert_allclose(net.apply(params, x), y)
    # the ntk layer has unit-variance parameters; the standard one carries its scale
    assert params[0]["W"].shape == (5, 8) and params[2]["W"].shape == (8, 3)
    jitted = nnx.jit(lambda m, x: m(x))
    np.testing.assert_allclose(jitted(model, x), y, rtol=1e-6)


# --------------------------------------------------------------------------- properties
def test_symmetry_and_psd(x64):
    x = _x(8, dtype=jnp.float64)
    net = nn.serial(nn.Dense(3, W_std=1.5, b_std=0.3), nn.Erf(), nn.Dense(3, b_std=0.1), nn.Abs(), nn.Dense(1))
    k = net.kernel(x)
    for m in (k.nngp, k.ntk):
        np.testing.assert_allclose(m, m.T, rtol=1e-12)
        assert float(jnp.min(jnp.linalg.eigvalsh(m))) > -1e-10 * float(jnp.max(m))
    np.testing.assert_allclose(jnp.diag(k.nngp), k.cov1, rtol=1e-12)
    k12 = net.kernel(x[:3], x[3:])
    np.testing.assert_allclose(k12.nngp, k.nngp[:3, 3:], rtol=1e-12)
    np.testing.assert_allclose(k12.ntk, k.ntk[:3, 3:], rtol=1e-12)


@pytest.mark.parametrize("act", [nn.Relu(), nn.Erf(), nn.Gelu(), nn.Sign(), nn.Abs(), nn.LeakyRelu(0.1),
                                 nn.ElementwiseNumerical(jnp.tanh, deg=20)])
def test_zero_and_colinear_inputs(act):
    x = jnp.array([[0.0, 0.0, 0.0], [1.0, 2.0, -1.0], [2.0, 4.0, -2.0], [-1.0, -2.0, 1.0]])
    net = nn.serial(nn.Dense(4, W_std=1.2, b_std=0.0), act, nn.Dense(2, W_std=0.8, b_std=0.3))
    k = net.kernel(x)
    assert bool(jnp.all(jnp.isfinite(k.nngp))) and bool(jnp.all(jnp.isfinite(k.ntk)))
    # a zero input has zero pre-activation variance and phi(0) = 0 for all of these activations:
    # only the readout bias is left in its row
    assert float(act.fn(jnp.zeros(()))) == 0.0
    np.testing.assert_allclose(k.nngp[0, :], 0.09, rtol=1e-5)
    # colinear inputs: rows 1 and 2 (x2 = 2 x1) are finite and the kernel stays symmetric
    np.testing.assert_allclose(k.nngp, k.nngp.T, rtol=1e-5)


def test_zero_input_gives_bias_structure():
    x = jnp.zeros((3, 4))
    net = nn.serial(nn.Dense(5, W_std=2.0, b_std=0.7), nn.Relu(), nn.Dense(1, W_std=1.5, b_std=0.2))
    k = net.kernel(x)
    # first layer: Σ = b², relu: Σ/2 (all entries equal, colinear); readout: W² Σ/2 + b²
    np.testing.assert_allclose(k.nngp, np.full((3, 3), 1.5 ** 2 * 0.49 / 2 + 0.04), rtol=1e-5)


def test_dtypes_float32_and_float64(x64):
    net = nn.serial(nn.Dense(4, b_std=0.1), nn.Gelu(), nn.Dense(1))
    x64_in = _x(dtype=jnp.float64)
    k64 = net.kernel(x64_in)
    k32 = net.kernel(x64_in.astype(jnp.float32))
    assert k64.nngp.dtype == jnp.float64 and k64.ntk.dtype == jnp.float64
    assert k32.nngp.dtype == jnp.float32 and k32.ntk.dtype == jnp.float32
    np.testing.assert_allclose(k32.ntk, k64.ntk, rtol=1e-5)


def test_float32_default():
    k = nn.serial(nn.Dense(4), nn.Relu()).kernel(_x())
    assert k.nngp.dtype == jnp.float32


def test_jit_and_get_variants():
    net = nn.serial(nn.Dense(4, b_std=0.1), nn.Relu(), nn.Dense(1))
    x = _x()
    f = jax.jit(lambda a: net.kernel(a, get="ntk"))
    np.testing.assert_allclose(f(x), net.kernel(x).ntk, rtol=2e-5)
    k = net.kernel(x, get=("nngp",))
    assert k.ntk is None and k.nngp.shape == (6, 6)


# --------------------------------------------------------------------------- errors
def test_bad_inputs_raise():
    net = nn.serial(nn.Dense(4), nn.Relu(), nn.Dense(1))
    with pytest.raises(ValueError, match="same feature shape"):
        net.kernel(jnp.ones((2, 3)), jnp.ones((2, 4)))
    with pytest.raises(ValueError, match="Flatten"):
        net.kernel(jnp.ones((2, 5, 3)))
    with pytest.raises(ValueError, match="get"):
        net.kernel(jnp.ones((2, 3)), get="nngps")
    with pytest.raises(ValueError, match="NaN"):
        net.kernel(jnp.array([[1.0, jnp.nan]]))
    with pytest.raises(ValueError):
        net.kernel(jnp.ones((3,)))
    with pytest.raises(ValueError, match="parameterization"):
        nn.Dense(3, parameterization="ntk2")
    with pytest.raises(ValueError, match="out_dim"):
        nn.Dense(0)
    with pytest.raises(ValueError, match="W_std"):
        nn.Dense(3, W_std=-1.0)
    with pytest.raises(ValueError):
        nn.serial(nn.Dense(3), "relu")
    with pytest.raises(ValueError, match="n_samples"):
        nn.monte_carlo_kernel(net, jnp.ones((2, 3)), None, jax.random.key(0), 0)
    model = net.module(rngs=nnx.Rngs(0), input_shape=(3,))
    with pytest.raises(ValueError, match="shape"):
        model(jnp.ones((2, 4)))
