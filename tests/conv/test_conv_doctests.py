"""Run the docstring examples of every ntkbook.conv module."""

from __future__ import annotations

import doctest
import importlib

import jax.numpy as jnp
import pytest
from flax import nnx

MODULES = ["ntkbook.conv", "ntkbook.conv.fft", "ntkbook.conv.depthwise", "ntkbook.conv.ssm",
           "ntkbook.conv.generators", "ntkbook.conv.continuous", "ntkbook.conv.block"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, extraglobs={"jnp": jnp, "nnx": nnx}, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0


def test_public_api_is_documented():
    conv = importlib.import_module("ntkbook.conv")
    assert len(conv.__all__) == len(set(conv.__all__))
    for name in conv.__all__:
        obj = getattr(conv, name)
        if callable(obj):
            assert obj.__doc__ and len(obj.__doc__) > 40, name
