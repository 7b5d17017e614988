"""Feature maps ``φ: [..., D] → [..., M]`` for linear (kernelized) attention.

A feature map turns the attention kernel ``κ(q, k)`` into a dot product ``φ(q) · φ(k)``, so that
attention can be computed in time linear in the sequence length
(:func:`~ntkbook.attention.linear_attention`). With ``scale = D ** -0.5`` the random and Taylor
maps below estimate the softmax kernel ``κ(q, k) = exp(scale · q·k)``:

* :func:`elu_feature_map` — ``elu(x) + 1`` (Katharopoulos et al.), deterministic, no estimate.
* :func:`favor_features` — FAVOR+ positive random features ``exp(ωᵀx − ‖x‖²/2) / √M``
  (unbiased, always positive), optionally with orthogonal ``ω`` blocks.
* :func:`random_fourier_features` — trigonometric (orthogonal) random features
  ``exp(‖x‖²/2)[cos ωᵀx, sin ωᵀx] / √M`` (unbiased, but not positive).
* :func:`taylor_features` — the exact truncated Taylor series ``Σ_{p≤P} (q·k)^p / p!``.
* :class:`SpectralFeatures` — learnable spectral features (a ``flax.nnx`` module) whose frequency
  distribution is a Gaussian mixture, fitted end to end (reparameterised samples).

Random maps take an explicit ``jax.random`` key and are frozen pytrees: the same map must be
applied to the queries and to the keys.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from .._validate import check_positive_float, check_positive_int

__all__ = ["FeatureMap", "elu_feature_map", "favor_features", "random_fourier_features",
           "taylor_features", "RandomFeatures", "TaylorFeatures", "SpectralFeatures",
           "gaussian_orthogonal_matrix"]

FeatureMap = Callable[[jnp.ndarray], jnp.ndarray]


def _input_scale(scale: float | None, head_dim: int) -> float:
    s = float(head_dim) ** -0.5 if scale is None else check_positive_float(scale, "scale", none_allowed=True)
    return math.sqrt(s)  # φ(√s q)·φ(√s k) estimates exp(s q·k)


def elu_feature_map(x: jnp.ndarray) -> jnp.ndarray:
    """``elu(x) + 1`` applied elementwise: ``[..., D] → [..., D]``, always positive.

    >>> import jax.numpy as jnp
    >>> [round(float(y), 3) for y in elu_feature_map(jnp.array([-1.0, 0.0, 2.0]))]
    [0.368, 1.0, 3.0]
    """
    return jax.nn.elu(x) + 1.0


def gaussian_orthogonal_matrix(key: jax.Array, num_rows: int, dim: int) -> jnp.ndarray:
    """``(num_rows, dim)`` random matrix with orthogonal rows in blocks of ``dim``.

    Each block is the ``Q`` of a Gaussian matrix's QR decomposition; rows are rescaled by the norms
    of independent Gaussian vectors, so every row is marginally ``N(0, I)`` while rows within a
    block are exactly orthogonal (the "orthogonal random features" construction).

    >>> import jax
    >>> w = gaussian_orthogonal_matrix(jax.random.key(0), 6, 4)
    >>> w.shape
    (6, 4)
    """
    num_rows = check_positive_int(num_rows, "num_rows")
    dim = check_positive_int(dim, "dim")
    n_blocks = -(-num_rows // dim)
    kq, kn = jax.random.split(key)
    g = jax.random.normal(kq, (n_blocks, dim, dim))
    qmat, rmat = jnp.linalg.qr(g)                             # (n_blocks, dim, dim), orthonormal columns
    # fix the signs so that Q is Haar distributed (QR alone biases the column directions)
    qmat = qmat * jnp.sign(jnp.diagonal(rmat, axis1=-2, axis2=-1))[:, None, :]
    rows = jnp.swapaxes(qmat, 1, 2).reshape(n_blocks * dim, dim)[:num_rows]
    norms = jnp.linalg.norm(jax.random.normal(kn, (num_rows, dim)), axis=1)
    return rows * norms[:, None]


@jax.tree_util.register_pytree_node_class
@dataclasses.dataclass(frozen=True)
class RandomFeatures:
    """Random features of the softmax kernel with frequencies ``omega: (M, D)``.

    ``kind="positive"``: ``φ(x) = exp(ω x' − ‖x'‖²/2) / √M`` (FAVOR+), output ``[..., M]``.
    ``kind="trig"``: ``φ(x) = exp(‖x'‖²/2) [cos ω x', sin ω x'] / √M``, output ``[..., 2M]``.
    Here ``x' = √scale · x``. Build with :func:`favor_features` or :func:`random_fourier_features`.

    >>> import jax.numpy as jnp
    >>> phi = RandomFeatures(jnp.eye(2), 1.0, "trig")
    >>> phi.num_features, phi(jnp.zeros((3, 2))).shape
    (4, (3, 4))
    """

    omega: jnp.ndarray
    input_scale: float
    kind: str = "positive"

    def tree_flatten(self) -> tuple[tuple[jnp.ndarray], tuple[float, str]]:
        return (self.omega,), (self.input_scale, self.kind)

    @classmethod
    def tree_unflatten(cls, aux: tuple[float, str], children: tuple[jnp.ndarray]) -> "RandomFeatures":
        return cls(children[0], *aux)

    @property
    def num_features(self) -> int:
        m = int(self.omega.shape[0])
        return m if self.kind == "positive" else 2 * m

    def __call__(self, x: jnp.ndarray) -> jnp.ndarray:
        x = jnp.asarray(x)
        if x.shape[-1] != self.omega.shape[1]:
            raise ValueError(f"feature map expects inputs with last axis {self.omega.shape[1]}, "
                             f"got shape {tuple(x.shape)}")
        dt = jnp.result_type(x.dtype, jnp.float32)
        xs = x.astype(dt) * self.input_scale
        proj = xs @ self.omega.astype(dt).T
        sq = 0.5 * jnp.sum(xs * xs, axis=-1, keepdims=True)
        m = self.omega.shape[0]
        if self.kind == "positive":
            return jnp.exp(proj - sq) / math.sqrt(m)
        amp = jnp.exp(sq) / math.sqrt(m)
        return jnp.concatenate([amp * jnp.cos(proj), amp * jnp.sin(proj)], axis=-1)


def _omega(key: jax.Array, head_dim: int, num_features: int, orthogonal: bool) -> jnp.ndarray:
    head_dim = check_positive_int(head_dim, "head_dim")
    num_features = check_positive_int(num_features, "num_features")
    if orthogonal:
        return gaussian_orthogonal_matrix(key, num_features, head_dim)
    return jax.random.normal(key, (num_features, head_dim))


def favor_features(key: jax.Array, head_dim: int, num_features: int, *, orthogonal: bool = True,
                   scale: float | None = None) -> RandomFeatures:
    """FAVOR+ positive random features of ``exp(scale · q·k)`` (Performer).

    ``E[φ(q)·φ(k)] = exp(scale · q·k)`` and every feature is positive, so linear attention with
    this map has a positive denominator. ``[..., head_dim] → [..., num_features]``.

    >>> import jax, jax.numpy as jnp
    >>> phi = favor_features(jax.random.key(0), 4, 4096)
    >>> q = jnp.array([0.5, -0.2, 0.1, 0.3]); k = jnp.array([0.1, 0.4, -0.3, 0.2])
    >>> bool(abs(phi(q) @ phi(k) - jnp.exp(q @ k / 2)) < 0.05)
    True
    """
    return RandomFeatures(_omega(key, head_dim, num_features, orthogonal),
                          _input_scale(scale, head_dim), "positive")


def random_fourier_features(key: jax.Array, head_dim: int, num_features: int, *,
                            orthogonal: bool = True, scale: float | None = None) -> RandomFeatures:
    """Trigonometric (orthogonal) random features of ``exp(scale · q·k)``: ``[..., 2·num_features]``.

    ``exp(q·k) = exp(‖q‖²/2) exp(‖k‖²/2) exp(−‖q − k‖²/2)`` with the Gaussian factor estimated by
    random Fourier features; unbiased but signed (the attention denominator can approach 0).

    >>> import jax
    >>> random_fourier_features(jax.random.key(0), 8, 16)(jax.numpy.ones((3, 8))).shape
    (3, 32)
    """
    return RandomFeatures(_omega(key, head_dim, num_features, orthogonal),
                          _input_scale(scale, head_dim), "trig")


@jax.tree_util.register_pytree_node_class
@dataclasses.dataclass(frozen=True)
class TaylorFeatures:
    """Truncated Taylor features: ``φ(q)·φ(k) = Σ_{p=0}^{degree} (s q·k)^p / p!``.

    ``φ(x) = [1, x', x'⊗x'/√2!, …]`` with ``x' = √s · x``; ``[..., D] → [..., Σ_p D^p]``.
    Degree 2 is always positive (``1 + t + t²/2 > 0``). Build with :func:`taylor_features`.

    >>> import jax.numpy as jnp
    >>> TaylorFeatures(2, 1.0)(jnp.array([1.0, 2.0])).tolist()
    [1.0, 1.0, 2.0, 0.7071067690849304, 1.4142135381698608, 1.4142135381698608, 2.8284270763397217]
    """

    degree: int
    input_scale: float | None

    def tree_flatten(self) -> tuple[tuple[()], tuple[int, float | None]]:
        return (), (self.degree, self.input_scale)

    @classmethod
    def tree_unflatten(cls, aux: tuple[int, float | None], children: tuple[()]) -> "TaylorFeatures":
        return cls(*aux)

    def __call__(self, x: jnp.ndarray) -> jnp.ndarray:
        x = jnp.asarray(x)
        s = self.input_scale if self.input_scale is not None else _input_scale(None, x.shape[-1])
        xs = x * s
        parts = [jnp.ones(x.shape[:-1] + (1,), x.dtype)]
        term = jnp.ones(x.shape[:-1] + (1,), x.dtype)
        for p in range(1, self.degree + 1):
            term = (term[..., :, None] * xs[..., None, :]).reshape(x.shape[:-1] + (-1,))
            parts.append(term / math.sqrt(math.factorial(p)))
        return jnp.concatenate(parts, axis=-1)


def taylor_features(degree: int = 2, *, scale: float | None = None,
                    head_dim: int | None = None) -> TaylorFeatures:
    """Taylor feature map of ``exp(scale · q·k)`` truncated at ``degree``.

    ``scale`` defaults to ``D ** -0.5`` (read from the input's last axis, or from ``head_dim``).

    >>> import jax.numpy as jnp
    >>> phi = taylor_features(2, scale=1.0)
    >>> q = jnp.array([0.3, -0.1]); k = jnp.array([0.2, 0.5])
    >>> t = float(q @ k); bool(abs(phi(q) @ phi(k) - (1 + t + t * t / 2)) < 1e-6)
    True
    """
    if isinstance(degree, bool) or not isinstance(degree, (int, np.integer)) or degree < 0:
        raise ValueError(f"degree must be a non-negative int, got {degree!r}")
    if scale is None and head_dim is None:
        return TaylorFeatures(int(degree), None)
    hd = 1 if head_dim is None else check_positive_int(head_dim, "head_dim")
    return TaylorFeatures(int(degree), _input_scale(scale, hd))


class SpectralFeatures(nnx.Module):
    """Learnable spectral random features (a Gaussian-mixture spectral density, P151).

    Frequencies ``ω_m = μ_{c(m)} + σ_{c(m)} ∘ ε_m`` with fixed noise ``ε_m ~ N(0, I)`` and learnable
    component means ``μ_c`` and log-scales; feature ``m`` belongs to component ``c(m) = m mod C``.
    ``φ(x) = [a cos ωᵀx, a sin ωᵀx]`` with per-feature amplitudes ``a_m = √(π_{c(m)} / M_{c(m)})``
    from learnable mixture weights ``π = softmax(logits)``, so that
    ``φ(q)·φ(k) = Σ_c π_c · mean_{m ∈ c} cos ω_mᵀ(q − k)`` estimates the shift-invariant kernel
    whose spectral density is the mixture. ``[..., D] → [..., 2M]``.

    >>> from flax import nnx
    >>> import jax.numpy as jnp
    >>> phi = SpectralFeatures(8, 32, num_components=4, rngs=nnx.Rngs(0))
    >>> phi(jnp.ones((5, 8))).shape
    (5, 64)
    """

    def __init__(self, head_dim: int, num_features: int, *, num_components: int = 1,
                 init_scale: float = 1.0, rngs: nnx.Rngs) -> None:
        head_dim = check_positive_int(head_dim, "head_dim")
        num_features = check_positive_int(num_features, "num_features")
        num_components = check_positive_int(num_components, "num_components")
        if num_components > num_features:
            raise ValueError(f"num_components ({num_components}) must not exceed num_features "
                             f"({num_features})")
        if not np.isfinite(init_scale) or init_scale <= 0:
            raise ValueError(f"init_scale must be positive, got {init_scale!r}")
        self.head_dim, self.num_features, self.num_components = head_dim, num_features, num_components
        self.means = nnx.Param(0.1 * jax.random.normal(rngs.params(), (num_components, head_dim)))
        self.log_scales = nnx.Param(jnp.full((num_components, head_dim), math.log(init_scale)))
        self.logits = nnx.Param(jnp.zeros((num_components,)))
        self.noise = nnx.Variable(jax.random.normal(rngs.params(), (num_features, head_dim)))
        comp = np.arange(num_features) % num_components
        self.component = nnx.Variable(jnp.asarray(comp, jnp.int32))
        self.count = nnx.Variable(jnp.asarray(np.bincount(comp, minlength=num_components), jnp.float32))

    def frequencies(self) -> jnp.ndarray:
        """The current frequencies ``(M, D)``."""
        c = self.component[...]
        return self.means[...][c] + jnp.exp(self.log_scales[...][c]) * self.noise[...]

    def __call__(self, x: jnp.ndarray) -> jnp.ndarray:
        x = jnp.asarray(x)
        if x.shape[-1] != self.head_dim:
            raise ValueError(f"SpectralFeatures expects inputs with last axis {self.head_dim}, "
                             f"got shape {tuple(x.shape)}")
        proj = x @ self.frequencies().T
        c = self.component[...]
        amp = jnp.sqrt(jax.nn.softmax(self.logits[...])[c] / self.count[...][c])
        return jnp.concatenate([amp * jnp.cos(proj), amp * jnp.sin(proj)], axis=-1)
