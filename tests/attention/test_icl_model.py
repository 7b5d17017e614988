"""InContextRegressor: shapes, the query mask (no label leakage), hidden states, bad inputs."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from ntkbook.attention import InContextRegressor
from ntkbook.data import icl_linear_regression, icl_tokens


@pytest.fixture(scope="module")
def model():
    return InContextRegressor(3, 6, width=16, depth=2, num_heads=2, rngs=nnx.Rngs(0))


forward = nnx.jit(lambda m, t: m(t))  # one compilation per shape instead of one per eager op


def test_shapes(model):
    p = icl_linear_regression(jax.random.key(0), 5, 6, 3)
    tokens = icl_tokens(p.x, p.y)
    assert forward(model, tokens).shape == (5, 6)
    hs = nnx.jit(lambda m, t: m.hidden_states(t))(model, tokens)
    assert hs.shape == (3, 5, 6, 16)


def test_prediction_uses_only_earlier_examples(model):
    p = icl_linear_regression(jax.random.key(1), 2, 6, 3)
    base = np.asarray(forward(model, icl_tokens(p.x, p.y)))
    # change the label of example 3: predictions 0..3 must not move, 4 and 5 must
    y2 = p.y.at[:, 3].add(5.0)
    moved = np.asarray(forward(model, icl_tokens(p.x, y2)))
    np.testing.assert_allclose(moved[:, :4], base[:, :4], atol=1e-6)
    assert np.all(np.abs(moved[:, 4:] - base[:, 4:]) > 1e-6)
    # changing x of example 5 (the query of prediction 5) moves only prediction 5
    x2 = p.x.at[:, 5].add(1.0)
    moved = np.asarray(forward(model, icl_tokens(x2, p.y)))
    np.testing.assert_allclose(moved[:, :5], base[:, :5], atol=1e-6)


def test_bad_inputs(model):
    with pytest.raises(ValueError):
        model(jnp.ones((2, 10, 4)))
    with pytest.raises(ValueError):
        model(jnp.ones((2, 12, 5)))
    with pytest.raises(ValueError):
        InContextRegressor(0, 6, rngs=nnx.Rngs(0))
