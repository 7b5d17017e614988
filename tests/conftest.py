"""Shared fixtures for the package tests."""

from __future__ import annotations

import os

os.environ.setdefault("NTKBOOK_SCALE", "fast")

import jax
import pytest


@pytest.fixture
def x64():
    """Run a test with 64-bit JAX arrays enabled, restoring the previous setting afterwards."""
    previous = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", True)
    try:
        yield
    finally:
        jax.config.update("jax_enable_x64", previous)


@pytest.fixture
def key():
    return jax.random.key(0)


def pytest_addoption(parser):
    parser.addoption("--site", default=None, help="built HTML site to check in a browser (tests marked 'browser')")
