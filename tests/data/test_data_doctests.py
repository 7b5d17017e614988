"""Run the docstring examples of ntkbook.data and check the public API is documented."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = ["ntkbook.data", "ntkbook.data.synthetic", "ntkbook.data.mnist1d", "ntkbook.data.sequences",
           "ntkbook.data.shipped"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    if name.endswith("shipped"):
        pytest.importorskip("sklearn")
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0


def test_public_api_is_documented():
    data = importlib.import_module("ntkbook.data")
    assert len(data.__all__) == len(set(data.__all__))
    for name in data.__all__:
        obj = getattr(data, name)
        if callable(obj):
            assert obj.__doc__ and len(obj.__doc__) > 40, name
