"""Tests for the synthetic sequence tasks."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from ntkbook.data import SequenceTask, associative_recall, copy_task, selective_copy


def _np(task: SequenceTask):
    return np.asarray(task.inputs), np.asarray(task.targets), np.asarray(task.mask)


def _check_common(task: SequenceTask, n: int, length: int):
    assert isinstance(task, SequenceTask)
    for a in task[:3]:
        assert a.shape == (n, length)
    assert task.inputs.dtype == np.int32 and task.targets.dtype == np.int32 and task.mask.dtype == bool
    inputs, targets, mask = _np(task)
    assert inputs.min() >= 0 and inputs.max() < task.vocab_size
    assert targets.min() >= 0 and targets.max() < task.vocab_size
    assert np.all(targets[~mask] == 0)


def test_copy_task(key):
    task = copy_task(key, 16, 5, 7, delay=3)
    _check_common(task, 16, 2 * 5 + 3 + 1)
    assert task.vocab_size == 9
    inputs, targets, mask = _np(task)
    blank, sep = 7, 8
    assert np.all(inputs[:, :5] < 7)
    assert np.all(inputs[:, 5:8] == blank) and np.all(inputs[:, 8] == sep)
    assert np.all(inputs[:, 9:] == blank)
    np.testing.assert_array_equal(targets[:, 9:], inputs[:, :5])
    np.testing.assert_array_equal(mask, np.arange(14)[None, :].repeat(16, 0) >= 9)
    no_delay = copy_task(key, 2, 4, 3)
    assert no_delay.inputs.shape == (2, 9)


def test_associative_recall(key):
    n, p, q, vocab = 64, 6, 3, 10
    task = associative_recall(key, n, num_pairs=p, vocab=vocab, num_queries=q)
    _check_common(task, n, 2 * p + q)
    assert task.vocab_size == 2 * vocab
    inputs, targets, mask = _np(task)
    keys, values, queries = inputs[:, 0:2 * p:2], inputs[:, 1:2 * p:2], inputs[:, 2 * p:]
    assert np.all(keys < vocab) and np.all(values >= vocab) and np.all(values < 2 * vocab)
    assert np.all(mask[:, 2 * p:]) and not np.any(mask[:, :2 * p])
    for i in range(n):
        assert len(set(keys[i])) == p                       # keys are distinct
        assert len(set(queries[i])) == q                    # queries are distinct keys
        lookup = dict(zip(keys[i], values[i]))
        for j in range(q):
            assert targets[i, 2 * p + j] == lookup[queries[i, j]]
    # The queried pair's depth varies across rows (covers many context positions).
    depth = [list(keys[i]).index(queries[i, 0]) for i in range(n)]
    assert len(set(depth)) >= p - 1
    # num_pairs == vocab is allowed: every key appears once.
    full = associative_recall(key, 4, num_pairs=5, vocab=5)
    assert sorted(np.asarray(full.inputs)[0, 0:10:2].tolist()) == [0, 1, 2, 3, 4]


def test_selective_copy(key):
    n, length, k, vocab = 32, 12, 4, 5
    task = selective_copy(key, n, length, k, vocab)
    _check_common(task, n, length + 1 + k)
    assert task.vocab_size == vocab + 2
    inputs, targets, mask = _np(task)
    blank, sep = vocab, vocab + 1
    region = inputs[:, :length]
    assert np.all((region < vocab).sum(1) == k)
    assert np.all(region[region >= vocab] == blank)
    assert np.all(inputs[:, length] == sep) and np.all(inputs[:, length + 1:] == blank)
    for i in range(n):
        np.testing.assert_array_equal(targets[i, length + 1:], region[i][region[i] < vocab])
    assert np.all(mask[:, length + 1:]) and not np.any(mask[:, :length + 1])
    # The positions of the data tokens vary between rows.
    assert len({tuple(np.flatnonzero(r < vocab)) for r in region}) > 1


def test_determinism(key):
    # Same shapes as the tests above, so nothing new is compiled.
    for make in (lambda k: copy_task(k, 16, 5, 7, delay=3),
                 lambda k: associative_recall(k, 64, num_pairs=6, vocab=10, num_queries=3),
                 lambda k: selective_copy(k, 32, 12, 4, 5)):
        a, b, c = make(key), make(key), make(jax.random.key(1))
        np.testing.assert_array_equal(a.inputs, b.inputs)
        assert not np.array_equal(a.inputs, c.inputs)


@pytest.mark.parametrize("call,match", [
    (lambda k: copy_task(k, 0, 3, 5), "n must be"),
    (lambda k: copy_task(k, 2, 0, 5), "length"),
    (lambda k: copy_task(k, 2, 3, 0), "vocab"),
    (lambda k: copy_task(k, 2, 3, 5, delay=-1), "delay"),
    (lambda k: copy_task(5, 2, 3, 5), "key"),
    (lambda k: associative_recall(k, 2, 6, 5), "num_pairs"),
    (lambda k: associative_recall(k, 2, 3, 5, num_queries=4), "num_queries"),
    (lambda k: associative_recall(k, 2, 3, 5, num_queries=0), "num_queries"),
    (lambda k: selective_copy(k, 2, 3, 4, 5), "num_tokens"),
    (lambda k: selective_copy(k, 2, 3, 2, 1.5), "vocab"),
])
def test_bad_arguments(key, call, match):
    with pytest.raises(ValueError, match=match):
        call(key)
