"""The design's promise for every public name: documented with an example, typed, listed once in __all__.

(Doctest examples themselves run in `make test` via `pytest --doctest-modules ntkbook`.)
"""

from __future__ import annotations

import importlib
import inspect

import pytest

MODULES = ["config", "data", "plot", "kernels", "nn", "learn", "attention", "conv", "train", "bench"]


def public(module_name: str):
    module = importlib.import_module(f"ntkbook.{module_name}")
    names = getattr(module, "__all__", None)
    assert names is not None, f"ntkbook.{module_name} has no __all__"
    assert len(names) == len(set(names)), f"ntkbook.{module_name}.__all__ lists a name twice"
    for name in names:
        assert hasattr(module, name), f"ntkbook.{module_name}.__all__ lists missing name {name}"
        yield name, getattr(module, name)


@pytest.mark.parametrize("module_name", MODULES)
def test_public_functions_have_examples_and_classes_docstrings(module_name):
    missing = []
    for name, obj in public(module_name):
        if inspect.isfunction(obj) and not (obj.__doc__ and ">>>" in obj.__doc__):
            missing.append(name)
        elif inspect.isclass(obj) and not (obj.__doc__ and obj.__doc__.strip()):
            missing.append(name)
    assert not missing, f"ntkbook.{module_name}: functions without an example or classes without a docstring: {missing}"


@pytest.mark.parametrize("module_name", MODULES)
def test_public_functions_are_typed(module_name):
    untyped = []
    for name, obj in public(module_name):
        if inspect.isfunction(obj):
            sig = inspect.signature(obj)
            params = [p for p in sig.parameters.values() if p.name not in ("self", "cls")
                      and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
            if sig.return_annotation is inspect.Signature.empty or any(
                    p.annotation is inspect.Parameter.empty for p in params):
                untyped.append(name)
    assert not untyped, f"ntkbook.{module_name}: untyped public functions {untyped}"
