"""Small synthetic sequence tasks for attention and long-convolution models.

Every task returns a :class:`SequenceTask` ``(inputs, targets, mask, vocab_size)``:

* ``inputs: (n, T)`` int32 tokens in ``[0, vocab_size)``;
* ``targets: (n, T)`` int32 — the token the model should output **at the same position** (a model reads
  ``inputs[:, :t+1]`` and predicts ``targets[:, t]``; no shifting is needed, and causal models work);
* ``mask: (n, T)`` bool — ``True`` where a target is defined (use it to weight the loss and accuracy);
  elsewhere ``targets`` is 0 and carries no meaning;
* ``vocab_size`` — the number of distinct token ids, special tokens included.

Data tokens are ``0 .. vocab-1``. :func:`copy_task` and :func:`selective_copy` add two special tokens,
``BLANK = vocab`` (filler) and ``SEP = vocab + 1`` (separator), so ``vocab_size = vocab + 2``.
:func:`associative_recall` uses keys ``0 .. vocab-1`` and values ``vocab .. 2·vocab-1``
(``vocab_size = 2·vocab``).
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .._validate import check_positive_int
from ._common import check_key

__all__ = ["SequenceTask", "copy_task", "associative_recall", "selective_copy"]


class SequenceTask(NamedTuple):
    """A batch of a sequence task; see the module docstring for the conventions.

    Attributes:
        inputs: ``(n, T)`` int32 input tokens.
        targets: ``(n, T)`` int32 target tokens (meaningful where ``mask`` is True).
        mask: ``(n, T)`` bool, True at the positions that are scored.
        vocab_size: number of token ids used by ``inputs`` and ``targets``.
    """

    inputs: jax.Array
    targets: jax.Array
    mask: jax.Array
    vocab_size: int


def _check_nonneg_int(value: int, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
    return int(value)


# Implementation note: each generator makes a single uniform draw inside one jitted function (compiling
# random-number code is the slow part on CPU) and derives every random choice from slices of it.

def _subset_from_scores(scores: jax.Array, size: int) -> jax.Array:
    """``(n, size)`` int32: per row, ``size`` distinct indices of the columns of ``scores``, in random order."""
    return jnp.argsort(scores, axis=1)[:, :size].astype(jnp.int32)


def _ints_from_uniform(u: jax.Array, high: int) -> jax.Array:
    """Integers uniform in ``0 .. high-1`` from uniforms in ``[0, 1)``."""
    return jnp.minimum(jnp.floor(u * high), high - 1).astype(jnp.int32)


@functools.partial(jax.jit, static_argnums=(1, 2, 3, 4))
def _copy_core(key: jax.Array, n: int, length: int, vocab: int, delay: int):
    blank, sep = vocab, vocab + 1
    s = _ints_from_uniform(jax.random.uniform(key, (n, length)), vocab)
    inputs = jnp.concatenate(
        [s, jnp.full((n, delay), blank, jnp.int32), jnp.full((n, 1), sep, jnp.int32),
         jnp.full((n, length), blank, jnp.int32)], axis=1)
    lead = length + delay + 1
    targets = jnp.concatenate([jnp.zeros((n, lead), jnp.int32), s], axis=1)
    mask = jnp.concatenate([jnp.zeros((n, lead), bool), jnp.ones((n, length), bool)], axis=1)
    return inputs, targets, mask


@functools.partial(jax.jit, static_argnums=(1, 2, 3, 4))
def _recall_core(key: jax.Array, n: int, num_pairs: int, vocab: int, num_queries: int):
    u = jax.random.uniform(key, (n, vocab + 2 * num_pairs))
    keys = _subset_from_scores(u[:, :vocab], num_pairs)                                   # (n, P)
    values = vocab + _ints_from_uniform(u[:, vocab:vocab + num_pairs], vocab)             # (n, P)
    which = _subset_from_scores(u[:, vocab + num_pairs:], num_queries)                    # (n, Q)
    queries = jnp.take_along_axis(keys, which, axis=1)
    answers = jnp.take_along_axis(values, which, axis=1)
    context = jnp.stack([keys, values], axis=2).reshape(n, 2 * num_pairs)
    inputs = jnp.concatenate([context, queries], axis=1)
    targets = jnp.concatenate([jnp.zeros((n, 2 * num_pairs), jnp.int32), answers], axis=1)
    mask = jnp.concatenate(
        [jnp.zeros((n, 2 * num_pairs), bool), jnp.ones((n, num_queries), bool)], axis=1)
    return inputs, targets, mask


@functools.partial(jax.jit, static_argnums=(1, 2, 3, 4))
def _selective_core(key: jax.Array, n: int, length: int, num_tokens: int, vocab: int):
    blank, sep = vocab, vocab + 1
    u = jax.random.uniform(key, (n, length + num_tokens))
    positions = jnp.sort(_subset_from_scores(u[:, :length], num_tokens), axis=1)         # (n, K)
    data = _ints_from_uniform(u[:, length:], vocab)
    rows = jnp.arange(n)[:, None]
    region = jnp.full((n, length), blank, jnp.int32).at[rows, positions].set(data)
    inputs = jnp.concatenate(
        [region, jnp.full((n, 1), sep, jnp.int32), jnp.full((n, num_tokens), blank, jnp.int32)], axis=1)
    lead = length + 1
    targets = jnp.concatenate([jnp.zeros((n, lead), jnp.int32), data], axis=1)
    mask = jnp.concatenate([jnp.zeros((n, lead), bool), jnp.ones((n, num_tokens), bool)], axis=1)
    return inputs, targets, mask


def copy_task(key: jax.Array, n: int, length: int, vocab: int, *, delay: int = 0) -> SequenceTask:
    """Copy a random string after a separator (optionally after a delay of blanks).

    Layout of each row (``T = 2·length + delay + 1``)::

        inputs : s_1 … s_L  BLANK×delay  SEP  BLANK×L
        targets:  ·  …  ·      ·  …  ·    ·   s_1 … s_L      (mask True on the last L positions)

    with ``s_i`` uniform in ``0 .. vocab-1``, ``BLANK = vocab``, ``SEP = vocab + 1``.

    Args:
        key: ``jax.random`` key.
        n: number of sequences.
        length: length ``L`` of the string to copy.
        vocab: number of data tokens.
        delay: number of blanks between the string and the separator (≥ 0).

    Returns:
        :class:`SequenceTask` with arrays of shape ``(n, 2·length + delay + 1)`` and
        ``vocab_size = vocab + 2``.

    Example:
        >>> import jax
        >>> task = copy_task(jax.random.key(0), 2, 3, 5)
        >>> task.inputs.shape, task.vocab_size
        ((2, 7), 7)
        >>> bool((task.targets[:, -3:] == task.inputs[:, :3]).all())
        True
    """
    key = check_key(key)
    n = check_positive_int(n, "n")
    length = check_positive_int(length, "length")
    vocab = check_positive_int(vocab, "vocab")
    delay = _check_nonneg_int(delay, "delay")
    return SequenceTask(*_copy_core(key, n, length, vocab, delay), vocab + 2)


def associative_recall(key: jax.Array, n: int, num_pairs: int, vocab: int, *,
                       num_queries: int = 1) -> SequenceTask:
    """Multi-query associative recall: read key–value pairs, then answer queries about the keys.

    Layout of each row (``T = 2·num_pairs + num_queries``)::

        inputs : k_1 v_1 k_2 v_2 … k_P v_P  q_1 … q_Q
        targets:  ·   ·   ·   ·  …  ·   ·   w_1 … w_Q      (mask True on the last Q positions)

    The ``P`` keys of a row are distinct, drawn from ``0 .. vocab-1``; values are drawn independently
    and uniformly from ``vocab .. 2·vocab-1``. The queries ``q_j`` are ``Q`` distinct keys of the row
    (in random order) and ``w_j`` is the value that follows ``q_j`` in the context. A queried pair sits
    at a uniformly random depth in the context.

    Args:
        key: ``jax.random`` key.
        n: number of sequences.
        num_pairs: number ``P`` of key–value pairs in the context (``≤ vocab``).
        vocab: number of distinct keys (and of distinct values).
        num_queries: number ``Q`` of queries (``≤ num_pairs``).

    Returns:
        :class:`SequenceTask` with arrays of shape ``(n, 2·num_pairs + num_queries)`` and
        ``vocab_size = 2·vocab``.

    Example:
        >>> import jax
        >>> task = associative_recall(jax.random.key(0), 4, num_pairs=3, vocab=8, num_queries=2)
        >>> task.inputs.shape, task.vocab_size, int(task.mask.sum())
        ((4, 8), 16, 8)
    """
    key = check_key(key)
    n = check_positive_int(n, "n")
    num_pairs = check_positive_int(num_pairs, "num_pairs")
    vocab = check_positive_int(vocab, "vocab")
    num_queries = check_positive_int(num_queries, "num_queries")
    if num_pairs > vocab:
        raise ValueError(f"num_pairs ({num_pairs}) must not exceed vocab ({vocab}): keys are distinct")
    if num_queries > num_pairs:
        raise ValueError(f"num_queries ({num_queries}) must not exceed num_pairs ({num_pairs})")
    return SequenceTask(*_recall_core(key, n, num_pairs, vocab, num_queries), 2 * vocab)


def selective_copy(key: jax.Array, n: int, length: int, num_tokens: int, vocab: int) -> SequenceTask:
    """Selective copying: copy the data tokens scattered among blanks, in order, after a separator.

    Layout of each row (``T = length + 1 + num_tokens``)::

        inputs : [length positions: num_tokens data tokens at random places, BLANK elsewhere]  SEP  BLANK×K
        targets:  ·  …  ·                                                                       ·   d_1 … d_K

    ``d_1 … d_K`` (``K = num_tokens``) are the data tokens in their order of appearance, each uniform
    in ``0 .. vocab-1``; ``BLANK = vocab``, ``SEP = vocab + 1``; the mask is True on the last ``K``
    positions. Unlike :func:`copy_task`, the positions to copy from vary from row to row, so a fixed
    (time-invariant) convolution cannot solve it.

    Args:
        key: ``jax.random`` key.
        n: number of sequences.
        length: length of the region holding the data tokens.
        num_tokens: number ``K`` of data tokens (``≤ length``).
        vocab: number of data tokens.

    Returns:
        :class:`SequenceTask` with arrays of shape ``(n, length + 1 + num_tokens)`` and
        ``vocab_size = vocab + 2``.

    Example:
        >>> import jax
        >>> task = selective_copy(jax.random.key(0), 2, length=10, num_tokens=3, vocab=4)
        >>> task.inputs.shape, int((task.inputs[:, :10] < 4).sum(axis=1)[0])
        ((2, 14), 3)
    """
    key = check_key(key)
    n = check_positive_int(n, "n")
    length = check_positive_int(length, "length")
    num_tokens = check_positive_int(num_tokens, "num_tokens")
    vocab = check_positive_int(vocab, "vocab")
    if num_tokens > length:
        raise ValueError(f"num_tokens ({num_tokens}) must not exceed length ({length})")
    return SequenceTask(*_selective_core(key, n, length, num_tokens, vocab), vocab + 2)
