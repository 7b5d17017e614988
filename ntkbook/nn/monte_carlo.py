"""Monte-Carlo estimates of the NNGP and NTK from finite networks."""

from __future__ import annotations

from typing import Any, Sequence

import jax
import jax.numpy as jnp

from .. import _validate
from ._core import GET_VALUES, Layer, _normalize_get
from ._state import Kernel, input_kernel


def _empirical_ntk(layer: Layer, params: Any, x1: jax.Array, x2: jax.Array) -> jax.Array:
    """``(1/C) sum_o <d f_o(x1)/d params, d f_o(x2)/d params>`` by vjp/jvp pairs (memory ``O(#params)``)."""
    f1 = lambda p: layer.apply(p, x1)  # noqa: E731
    out2, vjp2 = jax.vjp(lambda p: layer.apply(p, x2), params)
    n2, c = out2.shape

    def column(idx):
        j, o = idx // c, idx % c
        ct = jnp.zeros_like(out2).at[j, o].set(1)
        (v,) = vjp2(ct)
        _, t = jax.jvp(f1, (params,), (v,))
        return t[:, o]

    cols = jax.lax.map(column, jnp.arange(n2 * c))  # (N2 * C, N1)
    return cols.reshape(n2, c, -1).mean(axis=1).T


def monte_carlo_kernel(net: Layer, x1: Any, x2: Any, key: jax.Array, n_samples: int,
                       get: str | Sequence[str] = GET_VALUES) -> Any:
    """Estimate ``net.kernel(x1, x2, get)`` by averaging over ``n_samples`` finite networks.

    Each sample draws parameters with ``net.init_params`` (the same parameterization as
    ``net.module()``); the NNGP estimate is ``f(x1) f(x2)ᵀ / C`` over the ``C`` output channels and
    the NTK estimate the empirical tangent kernel averaged over output channels (computed with one
    vjp and one jvp per column and output channel: time ``O(N2 C)`` passes, memory ``O(#params)``).
    Make the readout wide (e.g. ``Dense(1024)``) for a low-noise NNGP estimate.

    Args:
        net: a layer or composed network.
        x1: ``(N1, *shape)`` inputs; ``x2``: ``(N2, *shape)`` or ``None`` (``x2 = x1``).
        key: a ``jax.random`` key.
        n_samples: number of independent networks.
        get: ``"nngp"``, ``"ntk"`` or a tuple of them.

    Returns:
        A :class:`Kernel`-like result with ``.nngp`` / ``.ntk`` of shape ``(N1, N2)`` (the NTK only
        for vector outputs; a spatial output gives the full ``(N1, N2, S_1, S_1, ...)`` NNGP), or
        one array for a string ``get``.

    Example:
        >>> import jax
        >>> from ntkbook import nn
        >>> net = nn.serial(nn.Dense(256), nn.Relu(), nn.Dense(256))
        >>> k = nn.monte_carlo_kernel(net, jax.numpy.ones((2, 3)), None, jax.random.key(0), 2, get="nngp")
        >>> k.shape
        (2, 2)
    """
    if not isinstance(net, Layer):
        raise ValueError(f"net must be an ntkbook.nn layer, got {net!r}")
    items, single = _normalize_get(get)
    n_samples = _validate.check_positive_int(n_samples, "n_samples")
    x1 = _validate.as_float_array(x1, "x1")
    if x1.ndim < 2:
        raise ValueError(f"x1 must have shape (N, ..., C), got {tuple(x1.shape)}")
    x2 = x1 if x2 is None else _validate.as_float_array(x2, "x2")
    _validate.check_same_features(x1, x2)
    shape = tuple(x1.shape[1:])
    out = net.out_shape(shape)
    if isinstance(out, list):
        raise ValueError("the network ends with several parallel streams; join them first")
    if "ntk" in items and len(out) != 1:
        raise ValueError("the Monte-Carlo NTK is only available for vector outputs (N, C)")
    dtype = x1.dtype

    @jax.jit
    def one(k):
        params = net.init(k, shape, dtype)
        f1, f2 = net.apply(params, x1), net.apply(params, x2)
        nngp = input_kernel(f1, f2, full=True, with_ntk=False).nngp if "nngp" in items else None
        ntk = _empirical_ntk(net, params, x1, x2) if "ntk" in items else None
        return nngp, ntk

    acc_nngp = acc_ntk = None
    for k in jax.random.split(key, n_samples):
        nngp, ntk = one(k)
        acc_nngp = nngp if acc_nngp is None else (None if nngp is None else acc_nngp + nngp)
        acc_ntk = ntk if acc_ntk is None else (None if ntk is None else acc_ntk + ntk)
    nngp = None if acc_nngp is None else acc_nngp / n_samples
    ntk = None if acc_ntk is None else acc_ntk / n_samples
    if single:
        return nngp if items[0] == "nngp" else ntk
    z = jnp.zeros((0,), dtype)
    return Kernel(nngp=nngp, ntk=ntk, cov1=z, cov2=z, shape=tuple(out))
