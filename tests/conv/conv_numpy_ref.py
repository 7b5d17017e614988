"""Independent NumPy brute-force references for the conv tests (float64, explicit loops)."""

from __future__ import annotations

import itertools
import math

import numpy as np


def conv1d_bruteforce(u, k, causal=True):
    """y[b, c, t] = Σ_j k[c, j] u[b, c, t − j] (zero history, or modulo L when circular)."""
    u = np.asarray(u, np.float64)
    k = np.asarray(k, np.float64)
    b, c, length = u.shape
    kb = k if k.ndim == 3 else np.broadcast_to(k, (b, *k.shape))
    lk = k.shape[-1]
    y = np.zeros_like(u)
    for j in range(lk):
        if causal:
            y[..., j:] += kb[..., j:j + 1] * u[..., : length - j]
        else:
            y += kb[..., j:j + 1] * np.roll(u, j, axis=-1)
    return y


def conv1d_abs_scale(u, k, causal=True):
    """max over outputs of (|k| ⊛ |u|): the natural scale for rounding errors."""
    return float(np.max(conv1d_bruteforce(np.abs(np.asarray(u, np.float64)),
                                          np.abs(np.asarray(k, np.float64)), causal))) + 1e-30


def same_pads(n, e, s):
    out = -(-n // s)
    total = max((out - 1) * s + e - n, 0)
    return total // 2, total - total // 2


def depthwise_bruteforce(x, w, strides, padding, dilation):
    """Channels-last depthwise cross-correlation by explicit loops over output positions and taps."""
    x = np.asarray(x, np.float64)
    w = np.asarray(w, np.float64)
    d = x.ndim - 2
    ks = w.shape[:-1]
    eff = [r * (k - 1) + 1 for k, r in zip(ks, dilation)]
    if padding == "SAME":
        pads = [same_pads(n, e, s) for n, e, s in zip(x.shape[1:-1], eff, strides)]
    elif padding == "VALID":
        pads = [(0, 0)] * d
    elif padding == "CAUSAL":
        pads = [(e - 1, 0) for e in eff]
    else:
        pads = list(padding)
    xp = np.pad(x, [(0, 0), *pads, (0, 0)])
    outs = [(n + lo + hi - e) // s + 1 for n, (lo, hi), e, s in zip(x.shape[1:-1], pads, eff, strides)]
    y = np.zeros((x.shape[0], *outs, x.shape[-1]))
    for pos in itertools.product(*[range(o) for o in outs]):
        acc = np.zeros((x.shape[0], x.shape[-1]))
        for tap in itertools.product(*[range(k) for k in ks]):
            src = tuple(p * s + t * r for p, s, t, r in zip(pos, strides, tap, dilation))
            acc += xp[(slice(None), *src, slice(None))] * w[(*tap, slice(None))]
        y[(slice(None), *pos, slice(None))] = acc
    return y


def rel_err(a, b):
    a = np.asarray(a)
    b = np.asarray(b)
    big = np.complex128 if (np.iscomplexobj(a) or np.iscomplexobj(b)) else np.float64
    a, b = a.astype(big), b.astype(big)
    return float(np.max(np.abs(a - b)) / (np.max(np.abs(b)) + 1e-30))


def prod(xs):
    return math.prod(xs)
