"""Run scale for notebooks, benchmarks and examples.

The environment variable ``NTKBOOK_SCALE`` selects the scale:

* ``"fast"`` — small sizes, for CI and quick checks (every notebook runs in ≤ 10 s on 2 cores);
* ``"book"`` — the default; the sizes the book's figures are made with (≤ 60 s a notebook).

Notebooks choose their sizes only through :func:`pick`, never by branching on anything else:

>>> from ntkbook import config
>>> n_samples = config.pick(fast=64, book=1024)
"""

from __future__ import annotations

import os
from typing import TypeVar

__all__ = ["SCALES", "scale", "pick", "is_fast"]

SCALES: tuple[str, ...] = ("fast", "book")
_ENV = "NTKBOOK_SCALE"

T = TypeVar("T")


def scale() -> str:
    """The current run scale, read from ``NTKBOOK_SCALE`` (default ``"book"``).

    Raises:
        ValueError: if the variable holds anything but ``"fast"`` or ``"book"``.

    >>> scale() in SCALES
    True
    """
    value = os.environ.get(_ENV, "book").strip().lower() or "book"
    if value not in SCALES:
        raise ValueError(f"{_ENV}={value!r} is not a scale; use one of {SCALES}")
    return value


def is_fast() -> bool:
    """True when running at the ``fast`` scale.

    >>> is_fast() == (scale() == "fast")
    True
    """
    return scale() == "fast"


def pick(*, fast: T, book: T) -> T:
    """Return ``fast`` or ``book`` according to the current scale.

    >>> import os
    >>> os.environ["NTKBOOK_SCALE"] = "fast"
    >>> pick(fast=2, book=5)
    2
    """
    return fast if scale() == "fast" else book
