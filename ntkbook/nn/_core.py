"""Layer protocol, combinators and the finite ``flax.nnx`` network (private; see ``ntkbook.nn``).

Every layer is one object with two faces:

* the **finite** network: ``init(key, in_shape, dtype) -> params`` and ``apply(params, x) -> y``,
  wrapped as a :class:`flax.nnx.Module` by :meth:`Layer.module`;
* the **infinite-width** network: ``kernel_fn(k, out_full) -> k`` on a :class:`Kernel` state,
  exposed as :meth:`Layer.kernel`.

Streams. A single representation has per-sample shape ``(*S, C)``; after :func:`FanOut` the stream
is a Python ``list`` of representations (shapes, arrays, kernels alike) until a ``FanIn*`` joins it.

Spatial requirements. Before the forward kernel pass, :meth:`Layer.requirement` is run backwards:
given whether the *output* must keep every pair of positions (``True``, "full") or only equal
positions (``False``, "diagonal"), a layer answers the same question for its *input*. Thus a CNN
that ends in ``Flatten`` keeps only ``O(N1 N2 P)`` entries while one with ``GlobalAvgPool`` or
``AvgPool`` keeps the ``O(N1 N2 P^2)`` covariances it needs.
"""

from __future__ import annotations

from typing import Any, Sequence, Union

import jax
import jax.numpy as jnp
from flax import nnx

from .. import _validate
from ._state import Kernel, input_kernel

Shape = tuple[int, ...]
Stream = Union[Shape, list]
Req = Union[bool, list]

GET_VALUES = ("nngp", "ntk")


def _any(req: Req) -> bool:
    if isinstance(req, list):
        return any(_any(r) for r in req)
    return bool(req)


def _normalize_get(get: Any) -> tuple[tuple[str, ...], bool]:
    single = isinstance(get, str)
    items = (get,) if single else tuple(get)
    if not items or any(g not in GET_VALUES for g in items):
        raise ValueError(f"get must be 'nngp', 'ntk' or a tuple of them, got {get!r}")
    return items, single


def check_single(in_shape: Stream, name: str) -> Shape:
    if isinstance(in_shape, list):
        raise ValueError(f"{name} takes one input but received {len(in_shape)} parallel streams; "
                         "join them with FanInSum() or FanInConcat() first")
    return in_shape


def default_dtype() -> Any:
    return jnp.result_type(float)


class Layer:
    """Base class of all layers and combinators of :mod:`ntkbook.nn`.

    Subclasses implement ``out_shape``, ``init``, ``apply``, ``kernel_fn`` and (if they mix
    positions) ``requirement``. Users call :meth:`kernel`, :meth:`module`, :meth:`init_params`
    and :meth:`apply`.
    """

    name: str = "Layer"

    # ------------------------------------------------------------------ to implement
    def out_shape(self, in_shape: Stream) -> Stream:
        """Per-sample output shape(s) for per-sample input shape(s); raises ``ValueError`` if invalid."""
        raise NotImplementedError

    def init(self, key: jax.Array, in_shape: Stream, dtype: Any) -> Any:
        """Parameters of the finite layer for per-sample input shape ``in_shape``."""
        return {}

    def apply(self, params: Any, x: Any) -> Any:
        """Apply the finite layer: ``x: (N, *in_shape) -> (N, *out_shape)``."""
        raise NotImplementedError

    def requirement(self, out_full: Req) -> Req:
        """Whether the input kernel must keep all position pairs, given the same for the output."""
        return out_full

    def kernel_fn(self, k: Any, out_full: Req) -> Any:
        """Map the kernel state of the input to that of the output."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return self.name

    # ------------------------------------------------------------------ public API
    def kernel(self, x1: Any, x2: Any = None, get: str | Sequence[str] = GET_VALUES) -> Any:
        """Infinite-width NNGP and/or NTK of this network between two input batches.

        Args:
            x1: ``(N1, d)`` vectors, or ``(N1, W, C)`` / ``(N1, H, W, C)`` channels-last signals.
            x2: ``(N2, ...)`` with the same per-sample shape, or ``None`` for ``x2 = x1``.
            get: ``"nngp"``, ``"ntk"`` or a tuple of them (default both).

        Returns:
            For a tuple ``get``, a :class:`Kernel` with ``.nngp`` and ``.ntk`` (``None`` if not
            requested) of shape ``(N1, N2)`` — or, for a spatial output, the full covariance
            ``(N1, N2, S_1, S_1, ..., S_d, S_d)`` — and the per-sample covariances ``.cov1``,
            ``.cov2``. For a string ``get``, that one array.

        Example:
            >>> import jax.numpy as jnp
            >>> from ntkbook import nn
            >>> net = nn.serial(nn.Dense(64, W_std=1.5, b_std=0.1), nn.Relu(), nn.Dense(1))
            >>> k = net.kernel(jnp.ones((3, 4)))
            >>> k.nngp.shape, k.ntk.shape
            ((3, 3), (3, 3))
        """
        items, single = _normalize_get(get)
        x1 = _validate.as_float_array(x1, "x1")
        if x1.ndim < 2:
            raise ValueError(f"x1 must have shape (N, ..., C), got {tuple(x1.shape)}")
        if x2 is None:
            x2 = x1
        else:
            x2 = _validate.as_float_array(x2, "x2")
            _validate.check_same_features(x1, x2)
            if x1.dtype != x2.dtype:
                dt = jnp.promote_types(x1.dtype, x2.dtype)
                x1, x2 = x1.astype(dt), x2.astype(dt)
        out = self.out_shape(tuple(x1.shape[1:]))
        if isinstance(out, list):
            raise ValueError("the network ends with several parallel streams; join them with "
                             "FanInSum() or FanInConcat()")
        k = self._compiled_kernel(items)(x1, x2)
        if single:
            return getattr(k, items[0])
        return k

    def _compiled_kernel(self, items: tuple[str, ...]):
        """One ``jax.jit`` of the whole kernel computation per network and ``get`` (cached)."""
        cache = self.__dict__.setdefault("_kernel_cache", {})
        if items not in cache:
            full_in = _any(self.requirement(True))

            def run(x1, x2):
                k = input_kernel(x1, x2, full=full_in, with_ntk="ntk" in items)
                k = self.kernel_fn(k, True)
                return k.replace(nngp=None) if "nngp" not in items else k

            cache[items] = jax.jit(run)
        return cache[items]

    def init_params(self, key: jax.Array, input_shape: Sequence[int], dtype: Any = None) -> Any:
        """Draw the parameters of the finite network for per-sample ``input_shape`` (no batch axis).

        >>> import jax
        >>> from ntkbook import nn
        >>> p = nn.Dense(3).init_params(jax.random.key(0), (5,))
        >>> p["W"].shape
        (5, 3)
        """
        shape = tuple(int(s) for s in input_shape)
        self.out_shape(shape)
        return self.init(key, shape, dtype or default_dtype())

    def module(self, rngs: nnx.Rngs, input_shape: Sequence[int] | None = None,
               dtype: Any = None) -> "NetworkModule":
        """The finite network as a :class:`flax.nnx.Module` with the same parameterization.

        Args:
            rngs: ``nnx.Rngs`` to draw parameters from (``rngs.params()``).
            input_shape: per-sample input shape, e.g. ``(d,)`` or ``(H, W, C)``. If ``None`` the
                parameters are created on the first call (call it once eagerly before ``nnx.jit``
                or ``nnx.split``).
            dtype: parameter dtype (default: that of the first input, or JAX's default float).

        Example:
            >>> import jax.numpy as jnp
            >>> from flax import nnx
            >>> from ntkbook import nn
            >>> model = nn.serial(nn.Dense(8), nn.Relu(), nn.Dense(1)).module(rngs=nnx.Rngs(0))
            >>> model(jnp.ones((2, 3))).shape
            (2, 1)
        """
        return NetworkModule(self, rngs, input_shape, dtype)


class NetworkModule(nnx.Module):
    """A finite network built from a :class:`Layer`; ``model(x)`` with ``x: (N, *input_shape)``.

    Its parameters live in ``model.params`` (a pytree of ``nnx.Param``) and follow exactly the
    layer's parameterization, so ``nnx.split(model, nnx.Param)`` gives what the kernels describe.
    """

    def __init__(self, layer: Layer, rngs: nnx.Rngs, input_shape: Sequence[int] | None = None,
                 dtype: Any = None):
        self.layer = layer
        self.rngs = rngs
        self.dtype = dtype
        self.input_shape = None
        self.params = nnx.data(None)
        if input_shape is not None:
            self._build(tuple(int(s) for s in input_shape), dtype or default_dtype())

    def _build(self, shape: Shape, dtype: Any) -> None:
        self.layer.out_shape(shape)
        params = self.layer.init(self.rngs.params(), shape, dtype)
        self.params = nnx.data(jax.tree.map(nnx.Param, params))
        self.input_shape = shape

    def __call__(self, x: jax.Array) -> jax.Array:
        x = jnp.asarray(x)
        if self.input_shape is None:
            if x.ndim < 2:
                raise ValueError(f"x must have shape (N, ...), got {tuple(x.shape)}")
            self._build(tuple(x.shape[1:]), self.dtype or x.dtype)
        if tuple(x.shape[1:]) != self.input_shape:
            raise ValueError(f"x must have shape (N, *{self.input_shape}), got {tuple(x.shape)}")
        params = jax.tree.map(lambda v: v[...], self.params,
                              is_leaf=lambda v: isinstance(v, nnx.Variable))
        return self.layer.apply(params, x)


# ====================================================================== combinators
class _Serial(Layer):
    def __init__(self, layers: Sequence[Layer]):
        for i, l in enumerate(layers):
            if not isinstance(l, Layer):
                raise ValueError(f"serial: argument {i} is not an ntkbook.nn layer: {l!r}")
        self.layers = tuple(layers)
        self.name = "serial(" + ", ".join(map(repr, self.layers)) + ")"

    def out_shape(self, in_shape):
        s = in_shape
        for l in self.layers:
            s = l.out_shape(s)
        return s

    def init(self, key, in_shape, dtype):
        keys = jax.random.split(key, max(len(self.layers), 1))
        params, s = [], in_shape
        for kk, l in zip(keys, self.layers):
            params.append(l.init(kk, s, dtype))
            s = l.out_shape(s)
        return params

    def apply(self, params, x):
        for p, l in zip(params, self.layers):
            x = l.apply(p, x)
        return x

    def _reqs(self, out_full):
        reqs = [out_full]
        for l in reversed(self.layers):
            reqs.append(l.requirement(reqs[-1]))
        return reqs[::-1]  # reqs[i]: input requirement of layer i; reqs[i+1]: its output's

    def requirement(self, out_full):
        return self._reqs(out_full)[0]

    def kernel_fn(self, k, out_full):
        reqs = self._reqs(out_full)
        for i, l in enumerate(self.layers):
            k = l.kernel_fn(k, reqs[i + 1])
        return k


def serial(*layers: Layer) -> Layer:
    """Compose layers one after another: ``serial(f, g)(x) = g(f(x))``, kernels likewise.

    Example:
        >>> from ntkbook import nn
        >>> net = nn.serial(nn.Dense(16), nn.Relu(), nn.Dense(1))
        >>> net.kernel([[1.0, 0.0], [0.0, 1.0]], get="nngp").shape
        (2, 2)
    """
    return _Serial(layers)


class _Parallel(Layer):
    def __init__(self, layers: Sequence[Layer]):
        for i, l in enumerate(layers):
            if not isinstance(l, Layer):
                raise ValueError(f"parallel: argument {i} is not an ntkbook.nn layer: {l!r}")
        if not layers:
            raise ValueError("parallel needs at least one layer")
        self.layers = tuple(layers)
        self.name = "parallel(" + ", ".join(map(repr, self.layers)) + ")"

    def _check(self, in_shape):
        if not isinstance(in_shape, list) or len(in_shape) != len(self.layers):
            got = len(in_shape) if isinstance(in_shape, list) else 1
            raise ValueError(f"parallel with {len(self.layers)} branches needs {len(self.layers)} "
                             f"input streams (use FanOut({len(self.layers)}) first), got {got}")

    def out_shape(self, in_shape):
        self._check(in_shape)
        return [l.out_shape(s) for l, s in zip(self.layers, in_shape)]

    def init(self, key, in_shape, dtype):
        keys = jax.random.split(key, len(self.layers))
        return [l.init(kk, s, dtype) for kk, l, s in zip(keys, self.layers, in_shape)]

    def apply(self, params, x):
        return [l.apply(p, xi) for l, p, xi in zip(self.layers, params, x)]

    def requirement(self, out_full):
        outs = out_full if isinstance(out_full, list) else [out_full] * len(self.layers)
        return [l.requirement(o) for l, o in zip(self.layers, outs)]

    def kernel_fn(self, k, out_full):
        outs = out_full if isinstance(out_full, list) else [out_full] * len(self.layers)
        return [l.kernel_fn(ki, o) for l, ki, o in zip(self.layers, k, outs)]


def parallel(*layers: Layer) -> Layer:
    """Apply ``layers[i]`` to the ``i``-th of as many input streams (from :func:`FanOut`).

    Example (a residual block, ``x + W relu(x)``):
        >>> from ntkbook import nn
        >>> block = nn.serial(nn.FanOut(2), nn.parallel(nn.Identity(), nn.serial(nn.Relu(), nn.Dense(4))),
        ...                   nn.FanInSum())
        >>> nn.serial(nn.Dense(4), block).kernel([[1.0, 2.0]], get="nngp").shape
        (1, 1)
    """
    return _Parallel(layers)


class _FanOut(Layer):
    def __init__(self, num: int):
        self.num = _validate.check_positive_int(num, "num")
        self.name = f"FanOut({self.num})"

    def out_shape(self, in_shape):
        return [check_single(in_shape, "FanOut")] * self.num

    def apply(self, params, x):
        return [x] * self.num

    def requirement(self, out_full):
        return _any(out_full)

    def kernel_fn(self, k, out_full):
        return [k] * self.num


def FanOut(num: int) -> Layer:
    """Copy one stream into ``num`` identical streams (to be processed by :func:`parallel`).

    >>> from ntkbook import nn
    >>> nn.FanOut(2).out_shape((3,))
    [(3,), (3,)]
    """
    return _FanOut(num)


class _FanInSum(Layer):
    name = "FanInSum"

    def out_shape(self, in_shape):
        if not isinstance(in_shape, list):
            raise ValueError("FanInSum needs several streams (from FanOut + parallel), got one")
        if any(isinstance(s, list) for s in in_shape) or len(set(in_shape)) != 1:
            raise ValueError(f"FanInSum needs streams of equal shape, got {in_shape}")
        return in_shape[0]

    def apply(self, params, x):
        out = x[0]
        for xi in x[1:]:
            out = out + xi
        return out

    def kernel_fn(self, ks, out_full):
        ks = _align_modes(ks, out_full)
        nngp = sum(k.nngp for k in ks[1:]) + ks[0].nngp
        cov1 = sum(k.cov1 for k in ks[1:]) + ks[0].cov1
        cov2 = sum(k.cov2 for k in ks[1:]) + ks[0].cov2
        ntk = None if ks[0].ntk is None else sum(k.ntk for k in ks[1:]) + ks[0].ntk
        return ks[0].replace(nngp=nngp, ntk=ntk, cov1=cov1, cov2=cov2)


def _align_modes(ks: list, out_full: bool) -> list:
    if not out_full or any(not k.full for k in ks):
        ks = [k.to_diagonal() for k in ks]
    return ks


def FanInSum() -> Layer:
    """Sum several streams of equal shape. The kernel is the sum of the branch kernels, which is
    exact when the branches are uncorrelated at infinite width — e.g. a skip connection next to a
    branch that ends in an independently initialized ``Dense``/``Conv``.

    >>> from ntkbook import nn
    >>> nn.FanInSum().out_shape([(3,), (3,)])
    (3,)
    """
    return _FanInSum()


class _FanInConcat(Layer):
    name = "FanInConcat"

    def out_shape(self, in_shape):
        if not isinstance(in_shape, list):
            raise ValueError("FanInConcat needs several streams (from FanOut + parallel), got one")
        if any(isinstance(s, list) for s in in_shape) or len({s[:-1] for s in in_shape}) != 1:
            raise ValueError(f"FanInConcat needs streams with equal spatial shape, got {in_shape}")
        return in_shape[0][:-1] + (sum(s[-1] for s in in_shape),)

    def apply(self, params, x):
        return jnp.concatenate(x, axis=-1)

    def kernel_fn(self, ks, out_full):
        ks = _align_modes(ks, out_full)
        total = sum(k.channels for k in ks)

        def mix(get):
            return sum((k.channels / total) * get(k) for k in ks)

        ntk = None if ks[0].ntk is None else mix(lambda k: k.ntk)
        shape = ks[0].shape[:-1] + (total,)
        return ks[0].replace(nngp=mix(lambda k: k.nngp), ntk=ntk, cov1=mix(lambda k: k.cov1),
                             cov2=mix(lambda k: k.cov2), shape=shape)


def FanInConcat() -> Layer:
    """Concatenate several streams along the channel (last) axis.

    The kernel is the channel-count-weighted mean of the branch kernels: with ``C_i`` channels in
    branch ``i``, ``K = sum_i (C_i / sum_j C_j) K_i`` (the proportions of the finite network).

    >>> from ntkbook import nn
    >>> nn.FanInConcat().out_shape([(3,), (5,)])
    (8,)
    """
    return _FanInConcat()


class _Identity(Layer):
    name = "Identity"

    def out_shape(self, in_shape):
        return in_shape

    def apply(self, params, x):
        return x

    def kernel_fn(self, k, out_full):
        return k


def Identity() -> Layer:
    """The identity layer (e.g. the skip branch of a residual block).

    >>> from ntkbook import nn
    >>> nn.Identity().out_shape((2, 3))
    (2, 3)
    """
    return _Identity()
