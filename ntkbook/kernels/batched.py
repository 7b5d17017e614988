"""Tiled, device-sharded Gram matrices: from one laptop to a pod with the same kernel function.

:func:`batched` wraps any kernel ``k(x1, x2=None, **kw) -> (N1, N2, *E)`` so that the Gram matrix is
computed in ``block × block`` tiles. The list of tiles is split evenly over the devices of a 1-D
:class:`jax.sharding.Mesh`; each device evaluates its tiles one after another (:func:`jax.lax.map`
inside :func:`jax.shard_map`), so a device holds the inputs, one tile's temporaries and its share of
the finished tiles. With ``to_host=True`` the tiles are fetched to a NumPy array one tile-row at a
time, so the whole Gram matrix never has to fit in device memory.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, PartitionSpec

from .._validate import check_positive_int, check_same_features

__all__ = ["batched", "BatchedKernel", "GramTiles", "TILE_AXIS"]

#: Name of the mesh axis the tiles are sharded over. ``kernel_fn`` runs inside ``shard_map`` over it,
#: so ``jax.lax.axis_index(TILE_AXIS)`` inside a kernel tells which device shard is evaluating a tile.
TILE_AXIS = "tiles"
_AXIS = TILE_AXIS


class GramTiles(NamedTuple):
    """Raw tiles of a Gram matrix, as computed on the devices.

    Attributes
    ----------
    values
        ``(T, b1, b2, *E)`` :class:`jax.Array`, sharded along axis 0 over the mesh's devices
        (``T`` is a multiple of the device count; tiles past ``n_tiles`` are padding).
    index
        ``(T, 2)`` NumPy int array: tile ``t`` holds ``K[i·b1:(i+1)·b1, j·b2:(j+1)·b2]`` for
        ``(i, j) = index[t]`` (rows and columns past ``N1``/``N2`` are padding).
    n_tiles
        Number of real tiles (the first ``n_tiles`` rows of ``values``/``index``).
    """

    values: jax.Array
    index: np.ndarray
    n_tiles: int


class BatchedKernel:
    """A kernel evaluated tile by tile over all devices; build it with :func:`batched`.

    Calling it, ``K = bk(x1, x2=None, **kw)``, gives the same ``(N1, N2, *E)`` result as
    ``kernel_fn(x1, x2, **kw)`` (a :class:`jax.Array`, or a NumPy array if ``to_host``).
    :meth:`tiles` exposes the sharded tiles themselves.
    """

    def __init__(self, kernel_fn: Callable[..., Any], block: int, *, to_host: bool = False,
                 devices: Sequence[jax.Device] | None = None, exploit_symmetry: bool = True) -> None:
        if not callable(kernel_fn):
            raise ValueError(f"kernel_fn must be callable, got {type(kernel_fn).__name__}")
        self.kernel_fn = kernel_fn
        self.block = check_positive_int(block, "block")
        if not isinstance(to_host, (bool, np.bool_)):
            raise ValueError(f"to_host must be a bool, got {to_host!r}")
        self.to_host = bool(to_host)
        if devices is None:
            devices = jax.devices()
        devices = list(devices)
        if not devices or not all(isinstance(d, jax.Device) for d in devices):
            raise ValueError("devices must be a non-empty sequence of jax.Device (e.g. jax.devices())")
        if len(set(devices)) != len(devices):
            raise ValueError("devices must not repeat a device")
        self.devices = devices
        self.mesh = Mesh(np.asarray(devices, dtype=object), (_AXIS,))
        self.exploit_symmetry = bool(exploit_symmetry)

    def __repr__(self) -> str:
        name = getattr(self.kernel_fn, "__name__", type(self.kernel_fn).__name__)
        return (f"BatchedKernel({name}, block={self.block}, to_host={self.to_host}, "
                f"devices={len(self.devices)})")

    # -- planning ---------------------------------------------------------------------------------

    def _plan(self, x1: Any, x2: Any | None, kw: dict[str, Any]) -> "_Plan":
        x1 = jnp.asarray(x1)
        _check_batch(x1, "x1")
        symmetric = x2 is None
        if symmetric:
            x2 = x1
        else:
            x2 = jnp.asarray(x2)
            _check_batch(x2, "x2")
            check_same_features(x1, x2)
        n1, n2 = x1.shape[0], x2.shape[0]
        b1, b2 = min(self.block, n1), min(self.block, n2)
        blocks1, blocks2 = -(-n1 // b1), -(-n2 // b2)
        x1p = _pad_rows(x1, blocks1 * b1)
        x2p = x1p if symmetric else _pad_rows(x2, blocks2 * b2)

        tile_fn = self._tile_fn(b1, b2, x1p, x2p, kw)
        d = len(self.devices)
        out = jax.eval_shape(tile_fn, np.zeros((d, 2), np.int32))  # traces kernel_fn inside the mesh
        if not isinstance(out, jax.ShapeDtypeStruct) or out.ndim < 3 or tuple(out.shape[:3]) != (d, b1, b2):
            raise ValueError("kernel_fn(x1, x2) must return one array of shape (len(x1), len(x2), ...); "
                             f"for tiles of {b1} and {b2} rows it returned {_describe_tile(out, d)}")
        extra = tuple(out.shape[3:])
        mirror = symmetric and self.exploit_symmetry and not extra
        pairs = [(i, j) for i in range(blocks1) for j in range(blocks2) if not mirror or j >= i]
        return _Plan(tile_fn, n1, n2, b1, b2, blocks1, blocks2, extra, out.dtype, mirror,
                     np.asarray(pairs, dtype=np.int32).reshape(-1, 2))

    def _tile_fn(self, b1: int, b2: int, x1p: jax.Array, x2p: jax.Array,
                 kw: dict[str, Any]) -> Callable[[np.ndarray], jax.Array]:
        """``index (T, 2) -> tiles (T, b1, b2, *E)`` with ``T`` sharded over the mesh.

        Compiled once per call of the batched kernel (every ``index`` of the same length reuses it).
        Array-valued keyword arguments are passed as replicated arguments rather than baked into the
        program as constants; everything else in ``kw`` is static.
        """
        kernel_fn = self.kernel_fn
        leaves, treedef = jax.tree.flatten(kw)
        dynamic = [isinstance(leaf, (jax.Array, np.ndarray)) for leaf in leaves]
        arrays = tuple(leaf for leaf, dyn in zip(leaves, dynamic) if dyn)

        def local(index: jax.Array, a: jax.Array, c: jax.Array, kw_arrays: tuple[jax.Array, ...]) -> jax.Array:
            it = iter(kw_arrays)
            kwargs = jax.tree.unflatten(treedef, [next(it) if dyn else leaf for leaf, dyn in zip(leaves, dynamic)])

            def one(ij: jax.Array) -> jax.Array:
                xa = jax.lax.dynamic_slice_in_dim(a, ij[0] * b1, b1, axis=0)
                xc = jax.lax.dynamic_slice_in_dim(c, ij[1] * b2, b2, axis=0)
                return kernel_fn(xa, xc, **kwargs)

            return jax.lax.map(one, index)

        replicated = PartitionSpec()
        sharded = jax.jit(jax.shard_map(local, mesh=self.mesh,
                                        in_specs=(PartitionSpec(_AXIS), replicated, replicated, replicated),
                                        out_specs=PartitionSpec(_AXIS), check_vma=False))
        return lambda index: sharded(jnp.asarray(index, jnp.int32), x1p, x2p, arrays)

    def _padded_index(self, pairs: np.ndarray, size: int) -> np.ndarray:
        """Pad the tile list with copies of tile (0, 0) up to ``size`` rows."""
        return np.concatenate([pairs, np.zeros((size - len(pairs), 2), np.int32)], axis=0)

    def _all_tiles(self, plan: "_Plan", kw: dict[str, Any]) -> GramTiles:
        d = len(self.devices)
        index = self._padded_index(plan.pairs, -(-len(plan.pairs) // d) * d)
        return GramTiles(plan.tile_fn(index), index, len(plan.pairs))

    # -- public -----------------------------------------------------------------------------------

    def tiles(self, x1: Any, x2: Any | None = None, **kw: Any) -> GramTiles:
        """All tiles at once, sharded over the devices (see :class:`GramTiles`).

        >>> import jax.numpy as jnp
        >>> t = batched(lambda a, b: a @ b.T, block=2).tiles(jnp.ones((5, 3)), jnp.ones((4, 3)))
        >>> t.values.shape[1:], t.n_tiles, t.index[:t.n_tiles].tolist()
        ((2, 2), 6, [[0, 0], [0, 1], [1, 0], [1, 1], [2, 0], [2, 1]])
        """
        return self._all_tiles(self._plan(x1, x2, kw), kw)

    def __call__(self, x1: Any, x2: Any | None = None, **kw: Any) -> jax.Array | np.ndarray:
        plan = self._plan(x1, x2, kw)
        if self.to_host:
            return self._to_host(plan, kw)
        t = self._all_tiles(plan, kw)
        values, pairs = t.values[:t.n_tiles], plan.pairs
        grid = jnp.zeros((plan.blocks1, plan.blocks2, plan.b1, plan.b2) + plan.extra, plan.dtype)
        grid = grid.at[pairs[:, 0], pairs[:, 1]].set(values)
        if plan.mirror:
            off = np.flatnonzero(pairs[:, 0] != pairs[:, 1])
            grid = grid.at[pairs[off, 1], pairs[off, 0]].set(jnp.swapaxes(values[off], 1, 2))
        k = jnp.swapaxes(grid, 1, 2).reshape((plan.blocks1 * plan.b1, plan.blocks2 * plan.b2) + plan.extra)
        return k[:plan.n1, :plan.n2]

    def _to_host(self, plan: "_Plan", kw: dict[str, Any]) -> np.ndarray:
        d = len(self.devices)
        step = -(-plan.blocks2 // d) * d           # about one tile-row per step, a multiple of d
        n_steps = -(-len(plan.pairs) // step)
        index = self._padded_index(plan.pairs, n_steps * step)
        fn = plan.tile_fn
        out = np.empty((plan.n1, plan.n2) + plan.extra, dtype=np.dtype(plan.dtype))

        def launch(s: int) -> tuple[np.ndarray, jax.Array]:
            idx = index[s * step:(s + 1) * step]
            return idx, fn(idx)

        pending = launch(0)
        for s in range(n_steps):
            idx, values = pending
            if s + 1 < n_steps:          # dispatch the next step before waiting for this one
                pending = launch(s + 1)
            host = np.asarray(jax.device_get(values))
            real = min(step, len(plan.pairs) - s * step)
            for (i, j), tile in zip(idx[:real], host[:real]):
                r0, c0 = i * plan.b1, j * plan.b2
                r1, c1 = min(r0 + plan.b1, plan.n1), min(c0 + plan.b2, plan.n2)
                out[r0:r1, c0:c1] = tile[:r1 - r0, :c1 - c0]
                if plan.mirror and i != j:
                    out[c0:c1, r0:r1] = tile[:r1 - r0, :c1 - c0].T
            del values, host
        return out


class _Plan(NamedTuple):
    tile_fn: Callable[[np.ndarray], jax.Array]
    n1: int
    n2: int
    b1: int
    b2: int
    blocks1: int
    blocks2: int
    extra: tuple[int, ...]
    dtype: Any
    mirror: bool
    pairs: np.ndarray


def _describe_tile(out: Any, d: int) -> str:
    """What kernel_fn returned for one tile, from the shape of the stacked tiles."""
    if isinstance(out, jax.ShapeDtypeStruct):
        return f"an array of shape {tuple(out.shape[1:])}"
    return f"{type(out).__name__} {jax.tree.map(lambda a: tuple(a.shape[1:]), out)}"


def _check_batch(x: jax.Array, name: str) -> None:
    if x.ndim < 1 or x.shape[0] == 0:
        raise ValueError(f"{name} must have a leading batch axis of positive length, got shape {tuple(x.shape)}")


def _pad_rows(x: jax.Array, rows: int) -> jax.Array:
    """Pad to ``rows`` rows with copies of row 0 (a valid input; the padded outputs are discarded)."""
    pad = rows - x.shape[0]
    if pad == 0:
        return x
    return jnp.concatenate([x, jnp.broadcast_to(x[:1], (pad,) + x.shape[1:])], axis=0)


def batched(kernel_fn: Callable[..., Any], block: int, *, to_host: bool = False,
            devices: Sequence[jax.Device] | None = None, exploit_symmetry: bool = True) -> BatchedKernel:
    """Tile a Gram computation and spread the tiles over all JAX devices.

    Parameters
    ----------
    kernel_fn
        Any ``kernel_fn(x1, x2, **kw)`` returning ``(len(x1), len(x2), *E)`` — a classic kernel
        (``E = ()``), or e.g. ``functools.partial(empirical_ntk, f, params=p, trace_axes=())``
        (``E = (O, O)``). It must be traceable (it runs under :func:`jax.jit`/``shard_map``).
        Row ``i`` of the result may depend only on ``x1[i]`` (and column ``j`` on ``x2[j]``).
    block
        Tile size (positive int): tiles are ``min(block, N1) × min(block, N2)``. ``N1`` and ``N2``
        need not be multiples of it — the last tile-row/column is padded with copies of the first
        input and the padding is cut off.
    to_host
        If true, return a NumPy array filled one tile-row at a time (about ``block × N2`` entries
        on the devices at once, the next row computing while the previous one is copied), so the
        full Gram matrix only has to fit in host memory.
    devices
        Devices to shard the tiles over (a 1-D mesh); default :func:`jax.devices`.
    exploit_symmetry
        With ``x2=None`` and a result without extra axes (``E = ()``), compute only the tiles on and
        above the diagonal and mirror them (assumes ``k(a, b) = k(b, a)ᵀ``, true of kernels).

    Returns
    -------
    BatchedKernel
        Call it like the kernel, ``bk(x1, x2=None, **kw) -> (N1, N2, *E)``; keyword arguments go to
        ``kernel_fn`` unchanged (as compile-time constants: each call traces and compiles once).

    Notes
    -----
    Memory and work: each device holds both (padded) inputs, the temporaries of one tile and its
    share of the tiles, ``⌈T / D⌉·block²·|E|`` numbers for ``T`` tiles on ``D`` devices
    (``T = ⌈N1/b⌉·⌈N2/b⌉``, about half that when mirroring). With ``to_host`` the share is that of
    one tile-row. Padding wastes at most one partial tile-row and tile-column of work. Without
    ``to_host`` the assembled ``(N1, N2, *E)`` result is a device array (placed by XLA).

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> def linear(x1, x2=None):
    ...     return x1 @ (x1 if x2 is None else x2).T
    >>> x = jnp.arange(10.0).reshape(5, 2)
    >>> k = batched(linear, block=2)
    >>> bool(jnp.allclose(k(x), linear(x)))
    True
    >>> batched(linear, block=2, to_host=True)(x, x[:3]).shape
    (5, 3)
    """
    return BatchedKernel(kernel_fn, block, to_host=to_host, devices=devices, exploit_symmetry=exploit_symmetry)
