"""Procedural regression tasks and input distributions.

* :func:`powerlaw_gaussian` — the spectral (latent-space) description of a linear task whose covariance
  eigenvalues and target coefficients follow power laws, with an exact population risk;
* :func:`random_teacher` / :func:`teacher_student` — a random teacher (linear, a random one-hidden-layer
  network, or a single-index model) and data labelled by it;
* :func:`sphere`, :func:`boolean_cube`, :func:`boolean_cube_all` — inputs on the unit sphere and the
  Boolean cube;
* :func:`synthetic_regression` / :func:`regression_function` — smooth regression targets on ``[-1, 1]^d``.

Every random function takes a ``jax.random`` key as its first argument. Floating outputs are float64
when ``jax_enable_x64`` is on and float32 otherwise.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

from .._validate import as_float_array, check_positive_int, is_concrete
from ._common import check_choice, check_finite_float, check_key, check_nonneg_float, float_dtype

__all__ = [
    "PowerLawTask",
    "powerlaw_gaussian",
    "Teacher",
    "random_teacher",
    "teacher_student",
    "sphere",
    "boolean_cube",
    "boolean_cube_all",
    "synthetic_regression",
    "regression_function",
    "REGRESSION_FUNCTIONS",
]

_HIGHEST = jax.lax.Precision.HIGHEST

# Implementation note: compiling a threefry-based random draw is the slowest part of these
# generators on CPU, so every jitted core below makes exactly one draw and slices it.


# --------------------------------------------------------------------------------------------------
# Power-law Gaussian task
# --------------------------------------------------------------------------------------------------

@functools.partial(jax.jit, static_argnames=("n",))
def _powerlaw_sample(key: jax.Array, lam: jax.Array, v: jax.Array, noise_var: jax.Array,
                     n: int) -> tuple[jax.Array, jax.Array]:
    m = lam.shape[0]
    g = jax.random.normal(key, (n, m + 1), lam.dtype)
    z = g[:, :m] * jnp.sqrt(lam)
    return z, jnp.matmul(z, v, precision=_HIGHEST) + jnp.sqrt(noise_var) * g[:, m]


@functools.partial(jax.jit, static_argnames=("include_noise",))
def _powerlaw_risk(lam: jax.Array, v: jax.Array, noise_var: jax.Array, a: jax.Array,
                   include_noise: bool) -> jax.Array:
    dtype = jnp.result_type(a.dtype, lam.dtype)
    lam, v, a = lam.astype(dtype), v.astype(dtype), a.astype(dtype)
    diff = (v[:, None] if a.ndim == 2 else v) - a
    out = jnp.tensordot(lam, diff ** 2, axes=(0, 0), precision=_HIGHEST)
    return out + noise_var.astype(dtype) if include_noise else out

@dataclasses.dataclass(frozen=True, eq=False)
class PowerLawTask:
    r"""A linear regression task in a Gaussian latent space, described by its spectrum.

    The latent input is ``z ~ N(0, diag(eigenvalues))`` in ``R^M`` and the label is
    ``y = coefficientsᵀ z + ε`` with ``ε ~ N(0, noise)`` — ``noise`` is the noise **variance** σ².
    Build one with :func:`powerlaw_gaussian` or directly from arrays.

    Attributes:
        eigenvalues: ``(M,)`` positive latent variances λ_i.
        coefficients: ``(M,)`` target coefficients v_i in the latent coordinates.
        noise: label-noise variance σ² ≥ 0.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> task = PowerLawTask(jnp.array([1.0, 0.5]), jnp.array([1.0, 0.0]), 0.1)
        >>> round(float(task.risk(jnp.zeros(2))), 6)  # predicting 0 costs signal power plus noise
        1.1
    """

    eigenvalues: jax.Array
    coefficients: jax.Array
    noise: float

    def __post_init__(self) -> None:
        lam = as_float_array(self.eigenvalues, "eigenvalues", ndim=1)
        v = as_float_array(self.coefficients, "coefficients", ndim=1)
        if lam.shape != v.shape:
            raise ValueError(
                f"eigenvalues and coefficients must have the same shape, got {lam.shape} and {v.shape}")
        if lam.shape[0] == 0:
            raise ValueError("eigenvalues must not be empty")
        if is_concrete(lam) and not bool(np.all(np.asarray(lam) > 0)):
            raise ValueError("eigenvalues must all be positive")
        noise = check_nonneg_float(self.noise, "noise")
        object.__setattr__(self, "eigenvalues", lam)
        object.__setattr__(self, "coefficients", v.astype(lam.dtype))
        object.__setattr__(self, "noise", noise)

    @property
    def num_modes(self) -> int:
        """The latent dimension M."""
        return int(self.eigenvalues.shape[0])

    @property
    def eigencoefficients(self) -> jax.Array:
        """Target coefficients in the orthonormal eigenbasis, ``c_i = √λ_i · v_i`` (shape ``(M,)``).

        These are the coefficients eigenlearning theory (:func:`ntkbook.learn.eigenlearning`) takes.

        Example:
            >>> import jax.numpy as jnp
            >>> PowerLawTask(jnp.array([4.0, 1.0]), jnp.array([0.5, 1.0]), 0.0).eigencoefficients.tolist()
            [1.0, 1.0]
        """
        return self.coefficients * jnp.sqrt(self.eigenvalues)

    @property
    def signal_power(self) -> jax.Array:
        """``E[(vᵀz)²] = Σ_i λ_i v_i²`` (equal to 1 for :func:`powerlaw_gaussian` tasks)."""
        return jnp.sum(self.eigenvalues * self.coefficients ** 2)

    def sample(self, key: jax.Array, n: int) -> tuple[jax.Array, jax.Array]:
        """Draw ``n`` labelled latent samples.

        Args:
            key: a ``jax.random`` key.
            n: number of samples.

        Returns:
            ``(z, y)`` with ``z: (n, M)`` latent inputs and ``y: (n,)`` noisy labels, both in the
            dtype of :attr:`eigenvalues`.

        Example:
            >>> import jax
            >>> z, y = powerlaw_gaussian(num_modes=8).sample(jax.random.key(0), 5)
            >>> z.shape, y.shape
            ((5, 8), (5,))
        """
        key = check_key(key)
        n = check_positive_int(n, "n")
        noise_var = jnp.asarray(self.noise, self.eigenvalues.dtype)
        return _powerlaw_sample(key, self.eigenvalues, self.coefficients, noise_var, n)

    def target(self, z: jax.Array) -> jax.Array:
        """The noiseless target ``z @ v`` for latent inputs ``z: (n, M)``; returns ``(n,)``.

        Example:
            >>> import jax.numpy as jnp
            >>> task = PowerLawTask(jnp.array([1.0, 1.0]), jnp.array([2.0, -1.0]), 0.0)
            >>> task.target(jnp.array([[1.0, 1.0]])).tolist()
            [1.0]
        """
        z = as_float_array(z, "z", ndim=2)
        if z.shape[1] != self.num_modes:
            raise ValueError(f"z must have {self.num_modes} columns, got shape {tuple(z.shape)}")
        return jnp.matmul(z, self.coefficients.astype(z.dtype), precision=_HIGHEST)

    def risk(self, a: jax.Array, *, include_noise: bool = True) -> jax.Array:
        """Exact population risk ``E(y − aᵀz)² = (v − a)ᵀ Λ (v − a) + σ²`` of linear predictors.

        Args:
            a: ``(M,)`` one predictor, or ``(M, P)`` a batch of ``P`` predictors (one per column).
            include_noise: add the irreducible ``σ²`` (default); ``False`` gives the excess risk.

        Returns:
            A scalar for ``a: (M,)``, or ``(P,)`` for ``a: (M, P)``.

        Example:
            >>> import jax.numpy as jnp
            >>> task = powerlaw_gaussian(num_modes=16, noise=0.0)
            >>> float(task.risk(task.coefficients))  # the target itself has zero risk
            0.0
            >>> task.risk(jnp.zeros((16, 3))).shape
            (3,)
        """
        a = as_float_array(a, "a", ndim=(1, 2))
        if a.shape[0] != self.num_modes:
            raise ValueError(
                f"a must have {self.num_modes} rows (one per latent mode), got shape {tuple(a.shape)}")
        noise_var = jnp.asarray(self.noise, self.eigenvalues.dtype)
        return _powerlaw_risk(self.eigenvalues, self.coefficients, noise_var, a, bool(include_noise))


def powerlaw_gaussian(key: jax.Array | None = None, *, num_modes: int = 4000, alpha: float = 1.5,
                      beta: float = 1.75, noise: float = 1e-3) -> PowerLawTask:
    r"""A power-law Gaussian task: λ_i = i^{-α}, eigencoefficients c_i² ∝ i^{-β}, unit signal power.

    The latent covariance is ``Λ = diag(λ)`` with ``λ_i = i^{-alpha}`` for ``i = 1..M`` (so ``λ_1 = 1``).
    The exponent ``beta`` describes the target in the **orthonormal eigenbasis** ``z̃_i = z_i / √λ_i``
    (the convention of eigenlearning theory and of "More is Better", Simon et al. 2023): the target is
    ``y = Σ_i c_i z̃_i + ε`` with ``c_i² ∝ i^{-beta}`` and ``Σ_i c_i² = 1`` (unit signal power), i.e. latent
    coefficients ``v_i = c_i / √λ_i`` (:attr:`PowerLawTask.coefficients`; ``c`` is
    :attr:`PowerLawTask.eigencoefficients`). ``noise`` is the label-noise **variance** σ². The paper's
    theoretical setting is ``alpha = 1.5``, ``beta = 1.75``, ``noise = 1e-3``, ``M = 4000``.

    The task itself is deterministic; draw data with :meth:`PowerLawTask.sample`.

    Args:
        key: optional ``jax.random`` key. ``None`` (default) gives all ``v_i > 0``; a key draws
            independent random signs for ``v_i`` (which rotation-invariant learners cannot tell apart).
        num_modes: latent dimension ``M``.
        alpha: eigenvalue decay exponent (≥ 0).
        beta: target-power decay exponent (real).
        noise: label-noise variance σ² (≥ 0).

    Returns:
        A :class:`PowerLawTask` with ``eigenvalues: (M,)`` and ``coefficients: (M,)``.

    Example:
        >>> import jax
        >>> task = powerlaw_gaussian(num_modes=100)
        >>> round(float(task.signal_power), 6), float(task.eigenvalues[0])
        (1.0, 1.0)
        >>> z, y = task.sample(jax.random.key(0), 64)
        >>> z.shape, y.shape
        ((64, 100), (64,))
    """
    num_modes = check_positive_int(num_modes, "num_modes")
    alpha = check_finite_float(alpha, "alpha")
    if alpha < 0:
        raise ValueError(f"alpha must be non-negative, got {alpha!r}")
    beta = check_finite_float(beta, "beta")
    noise = check_nonneg_float(noise, "noise")
    # Work in float64 NumPy for the normalisation, then cast to the active JAX float.
    i = np.arange(1, num_modes + 1, dtype=np.float64)
    lam = i ** -alpha
    c2 = i ** -beta  # target power in the orthonormal eigenbasis
    v = np.sqrt(c2 / np.sum(c2) / lam)  # latent coefficients: Σ λ_i v_i² = Σ c_i² = 1
    dtype = float_dtype()
    coefficients = jnp.asarray(v, dtype)
    if key is not None:
        key = check_key(key)
        signs = jax.random.rademacher(key, (num_modes,), dtype)
        coefficients = coefficients * signs
    return PowerLawTask(jnp.asarray(lam, dtype), coefficients, noise)


# --------------------------------------------------------------------------------------------------
# Teacher–student
# --------------------------------------------------------------------------------------------------

def _gauss_second_moment(fn: Callable[[np.ndarray], np.ndarray]) -> float:
    nodes, weights = np.polynomial.hermite_e.hermegauss(80)
    return float(np.sum(weights * fn(nodes) ** 2) / np.sqrt(2 * np.pi))


_ACTIVATIONS: dict[str, Callable[[jax.Array], jax.Array]] = {
    "relu": jax.nn.relu,
    "tanh": jnp.tanh,
    "erf": jax.scipy.special.erf,
}
# E[φ(g)²] for g ~ N(0, 1): used to give the random network unit output variance.
_ACT_SECOND_MOMENT = {
    "relu": 0.5,
    "tanh": _gauss_second_moment(np.tanh),
    "erf": 2.0 / math.pi * math.asin(2.0 / 3.0),
}

_LINKS: dict[str, Callable[[jax.Array], jax.Array]] = {
    "he1": lambda t: t,
    "he2": lambda t: t ** 2 - 1,
    "he3": lambda t: t ** 3 - 3 * t,
    "relu": jax.nn.relu,
    "tanh": jnp.tanh,
}

_TEACHER_KINDS = ("linear", "mlp", "single_index")


def _teacher_forward(kind: str, nonlinearity: str | None, weights: tuple[jax.Array, ...],
                     x: jax.Array) -> jax.Array:
    w = [p.astype(x.dtype) for p in weights]
    scale = 1.0 / math.sqrt(x.shape[1])
    if kind == "linear":
        return jnp.matmul(x, w[0], precision=_HIGHEST) * scale
    if kind == "mlp":
        act = _ACTIVATIONS[nonlinearity]  # type: ignore[index]
        h = act(jnp.matmul(x, w[0], precision=_HIGHEST) * scale)
        norm = 1.0 / math.sqrt(w[0].shape[1] * _ACT_SECOND_MOMENT[nonlinearity])  # type: ignore[index]
        return jnp.matmul(h, w[1], precision=_HIGHEST) * norm
    return _LINKS[nonlinearity](jnp.matmul(x, w[0], precision=_HIGHEST))  # type: ignore[index]


_teacher_forward_jit = jax.jit(_teacher_forward, static_argnums=(0, 1))


def _draw_weights(key: jax.Array, kind: str, d: int, width: int, out_dim: int | None,
                  dtype: np.dtype) -> tuple[jax.Array, ...]:
    tail = () if out_dim is None else (out_dim,)
    o = 1 if out_dim is None else out_dim
    if kind == "linear":
        return (jax.random.normal(key, (d, *tail), dtype),)
    if kind == "mlp":
        g = jax.random.normal(key, (d * width + width * o,), dtype)
        return (g[: d * width].reshape(d, width), g[d * width:].reshape(width, *tail))
    u = jax.random.normal(key, (d,), dtype)
    return (u / jnp.linalg.norm(u),)


_draw_weights_jit = jax.jit(_draw_weights, static_argnums=(1, 2, 3, 4, 5))


@functools.partial(jax.jit, static_argnames=("kind", "nonlinearity", "n", "inputs"))
def _teacher_student_core(key: jax.Array, weights: tuple[jax.Array, ...], noise: jax.Array, *,
                          kind: str, nonlinearity: str | None, n: int,
                          inputs: str) -> tuple[jax.Array, jax.Array]:
    d = weights[0].shape[0]
    o = 1 if weights[-1].ndim == 1 else weights[-1].shape[1]
    g = jax.random.normal(key, (n, d + o), noise.dtype)
    x = g[:, :d]
    if inputs == "sphere":
        x = x / jnp.maximum(jnp.linalg.norm(x, axis=1, keepdims=True), jnp.finfo(x.dtype).tiny)
        x = x * math.sqrt(d)
    y = _teacher_forward(kind, nonlinearity, weights, x)
    return x, y + noise * g[:, d:].reshape(y.shape)


@dataclasses.dataclass(frozen=True, eq=False)
class Teacher:
    """A fixed random target function ``f: (n, d) -> (n,)`` or ``(n, out_dim)``.

    Build one with :func:`random_teacher`. Calling it evaluates the target on inputs ``x: (n, d)``.

    * ``kind="linear"``: ``f(x) = x W / √d`` with ``W ~ N(0, 1)`` of shape ``(d,)`` or ``(d, out_dim)``.
    * ``kind="mlp"``: ``f(x) = φ(x W₁ / √d) a / √(width · E[φ(g)²])`` with standard Gaussian
      ``W₁: (d, width)`` and ``a: (width,)`` or ``(width, out_dim)``; the output variance is one on
      average over teachers and ``x ~ N(0, I)`` (exactly for ReLU, approximately for tanh/erf).
    * ``kind="single_index"``: ``f(x) = link(uᵀx)`` with ``u`` uniform on the unit sphere and ``link`` a
      probabilists' Hermite polynomial ``he1 = t``, ``he2 = t² − 1``, ``he3 = t³ − 3t``, or
      ``relu`` / ``tanh``.

    Attributes:
        kind: one of ``"linear"``, ``"mlp"``, ``"single_index"``.
        input_dim: ``d``.
        weights: the parameters: ``(W,)``, ``(W₁, a)`` or ``(u,)``.
        nonlinearity: activation (``mlp``) or link (``single_index``) name; ``None`` for ``linear``.
        out_dim: ``None`` for scalar outputs, else the number of outputs.

    Example:
        >>> import jax
        >>> t = random_teacher(jax.random.key(0), 3, kind="single_index", link="he2")
        >>> t(jax.numpy.zeros((2, 3))).tolist()  # he2(0) = -1
        [-1.0, -1.0]
    """

    kind: str
    input_dim: int
    weights: tuple[jax.Array, ...]
    nonlinearity: str | None = None
    out_dim: int | None = None

    def __post_init__(self) -> None:
        check_choice(self.kind, "kind", _TEACHER_KINDS)
        if self.kind == "mlp":
            check_choice(self.nonlinearity, "activation", tuple(_ACTIVATIONS))
        elif self.kind == "single_index":
            check_choice(self.nonlinearity, "link", tuple(_LINKS))
        expected = 2 if self.kind == "mlp" else 1
        if len(self.weights) != expected:
            raise ValueError(f"a {self.kind!r} teacher needs {expected} weight arrays, got {len(self.weights)}")
        if self.weights[0].shape[0] != self.input_dim:
            raise ValueError(f"the first weight array must have {self.input_dim} rows, "
                             f"got shape {tuple(self.weights[0].shape)}")

    def __call__(self, x: jax.Array) -> jax.Array:
        x = as_float_array(x, "x", ndim=2)
        if x.shape[1] != self.input_dim:
            raise ValueError(
                f"x must have {self.input_dim} features for this teacher, got shape {tuple(x.shape)}")
        return _teacher_forward_jit(self.kind, self.nonlinearity, tuple(self.weights), x)


def random_teacher(key: jax.Array, d: int, *, kind: str = "linear", width: int = 64,
                   out_dim: int | None = None, activation: str = "relu", link: str = "he2") -> Teacher:
    """Draw a random teacher function on ``R^d``; see :class:`Teacher` for the three kinds.

    Args:
        key: ``jax.random`` key.
        d: input dimension.
        kind: ``"linear"``, ``"mlp"`` (one hidden layer) or ``"single_index"``.
        width: hidden width of the ``mlp`` teacher.
        out_dim: ``None`` for a scalar output; an int for vector outputs (``linear`` and ``mlp`` only).
        activation: ``"relu"``, ``"tanh"`` or ``"erf"`` (``mlp`` only).
        link: ``"he1"``, ``"he2"``, ``"he3"``, ``"relu"`` or ``"tanh"`` (``single_index`` only).

    Returns:
        A :class:`Teacher`; ``teacher(x)`` maps ``(n, d)`` to ``(n,)`` or ``(n, out_dim)``.

    Example:
        >>> import jax
        >>> t = random_teacher(jax.random.key(1), 4, kind="mlp", width=8, out_dim=2)
        >>> t(jax.numpy.ones((3, 4))).shape
        (3, 2)
    """
    key = check_key(key)
    d = check_positive_int(d, "d")
    kind = check_choice(kind, "kind", _TEACHER_KINDS)
    if out_dim is not None:
        out_dim = check_positive_int(out_dim, "out_dim")
        if kind == "single_index":
            raise ValueError("out_dim is not supported for kind='single_index' (its output is scalar)")
    nonlinearity: str | None = None
    if kind == "mlp":
        width = check_positive_int(width, "width")
        nonlinearity = check_choice(activation, "activation", tuple(_ACTIVATIONS))
    elif kind == "single_index":
        nonlinearity = check_choice(link, "link", tuple(_LINKS))
    width = width if kind == "mlp" else 0
    weights = _draw_weights_jit(key, kind, d, width, out_dim, float_dtype())
    return Teacher(kind, d, tuple(weights), nonlinearity, out_dim)


def teacher_student(key: jax.Array, n: int, d: int, *, teacher: str | Teacher = "linear",
                    noise: float = 0.0, width: int = 64, out_dim: int | None = None,
                    activation: str = "relu", link: str = "he2",
                    inputs: str = "gaussian") -> tuple[jax.Array, jax.Array]:
    """Inputs and labels from a random teacher.

    ``x`` is standard Gaussian (``inputs="gaussian"``) or uniform on the sphere of radius ``√d``
    (``inputs="sphere"``); ``y = teacher(x) + noise · ε`` with ``ε ~ N(0, 1)`` — here ``noise`` is the
    noise **standard deviation**. The key is split into (teacher, inputs, noise) keys, so the same key
    always gives the same teacher; to get train and test sets from one teacher either draw
    ``n_train + n_test`` points and slice, or build the teacher once with :func:`random_teacher` and
    pass it as ``teacher=``.

    Args:
        key: ``jax.random`` key.
        n: number of samples.
        d: input dimension.
        teacher: ``"linear"``, ``"mlp"``, ``"single_index"`` (drawn from ``key``) or a :class:`Teacher`.
        noise: label-noise standard deviation (≥ 0).
        width, out_dim, activation, link: passed to :func:`random_teacher` when ``teacher`` is a string.
        inputs: ``"gaussian"`` or ``"sphere"``.

    Returns:
        ``(x, y)`` with ``x: (n, d)`` and ``y: (n,)``, or ``(n, out_dim)`` for vector-valued teachers.

    Example:
        >>> import jax
        >>> x, y = teacher_student(jax.random.key(0), 10, 3, teacher="mlp", noise=0.1)
        >>> x.shape, y.shape
        ((10, 3), (10,))
    """
    key = check_key(key)
    n = check_positive_int(n, "n")
    d = check_positive_int(d, "d")
    noise = check_nonneg_float(noise, "noise")
    inputs = check_choice(inputs, "inputs", ("gaussian", "sphere"))
    kt, kd = jax.random.split(key)
    if isinstance(teacher, Teacher):
        if teacher.input_dim != d:
            raise ValueError(f"teacher expects inputs of dimension {teacher.input_dim}, but d={d}")
        fn = teacher
    elif isinstance(teacher, str):
        fn = random_teacher(kt, d, kind=teacher, width=width, out_dim=out_dim,
                            activation=activation, link=link)
    else:
        raise ValueError(f"teacher must be one of {_TEACHER_KINDS} or a Teacher, got {teacher!r}")
    return _teacher_student_core(kd, tuple(fn.weights), jnp.asarray(noise, float_dtype()),
                                 kind=fn.kind, nonlinearity=fn.nonlinearity, n=n, inputs=inputs)


# --------------------------------------------------------------------------------------------------
# Spheres and Boolean cubes
# --------------------------------------------------------------------------------------------------

@functools.partial(jax.jit, static_argnums=(1, 2, 3))
def _sphere_core(key: jax.Array, n: int, d: int, dtype: np.dtype) -> jax.Array:
    g = jax.random.normal(key, (n, d), dtype)
    # A Gaussian vector is zero with probability 0; guard anyway so no row becomes NaN.
    return g / jnp.maximum(jnp.linalg.norm(g, axis=1, keepdims=True), jnp.finfo(dtype).tiny)


def sphere(key: jax.Array, n: int, d: int) -> jax.Array:
    """``n`` points uniform on the unit sphere ``S^{d-1} ⊂ R^d``.

    Args:
        key: ``jax.random`` key.
        n: number of points.
        d: ambient dimension (``d = 1`` gives ±1).

    Returns:
        ``(n, d)`` array whose rows have unit Euclidean norm.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> x = sphere(jax.random.key(0), 4, 3)
        >>> x.shape, bool(jnp.allclose(jnp.linalg.norm(x, axis=1), 1.0, atol=1e-6))
        ((4, 3), True)
    """
    key = check_key(key)
    n = check_positive_int(n, "n")
    d = check_positive_int(d, "d")
    return _sphere_core(key, n, d, float_dtype())


def boolean_cube(key: jax.Array, n: int, d: int) -> jax.Array:
    """``n`` points drawn uniformly (with replacement) from the Boolean cube ``{-1, +1}^d``.

    Returns:
        ``(n, d)`` float array of ±1 entries.

    Example:
        >>> import jax
        >>> x = boolean_cube(jax.random.key(0), 5, 4)
        >>> x.shape, sorted(set(x.ravel().tolist())) <= [-1.0, 1.0]
        ((5, 4), True)
    """
    key = check_key(key)
    n = check_positive_int(n, "n")
    d = check_positive_int(d, "d")
    return jax.random.rademacher(key, (n, d), float_dtype())


_MAX_CUBE_DIM = 20


def boolean_cube_all(d: int) -> jax.Array:
    """All ``2^d`` points of ``{-1, +1}^d`` in a fixed order.

    Row ``i`` is ``x_j = (-1)^{b_j}`` where ``b_0 b_1 … b_{d-1}`` are the binary digits of ``i``, most
    significant first: row 0 is all ``+1`` and the last row is all ``-1``.

    Args:
        d: dimension, ``1 ≤ d ≤ 20`` (``2^20`` rows is the limit).

    Returns:
        ``(2**d, d)`` float array.

    Example:
        >>> boolean_cube_all(2).tolist()
        [[1.0, 1.0], [1.0, -1.0], [-1.0, 1.0], [-1.0, -1.0]]
    """
    d = check_positive_int(d, "d")
    if d > _MAX_CUBE_DIM:
        raise ValueError(f"d must be at most {_MAX_CUBE_DIM} (2^d rows), got {d}")
    idx = np.arange(2 ** d, dtype=np.int64)[:, None]
    bits = (idx >> np.arange(d - 1, -1, -1, dtype=np.int64)[None, :]) & 1
    return jnp.asarray(1 - 2 * bits, float_dtype())


# --------------------------------------------------------------------------------------------------
# Smooth regression on [-1, 1]^d
# --------------------------------------------------------------------------------------------------

def _sinusoid(x: jax.Array) -> jax.Array:
    # Var sin(πU) = 1/2 for U ~ U[-1, 1], so this sum has unit variance.
    return jnp.sqrt(2.0 / x.shape[1]) * jnp.sum(jnp.sin(jnp.pi * x), axis=1)


def _bump(x: jax.Array) -> jax.Array:
    return jnp.exp(-jnp.sum(x ** 2, axis=1) / x.shape[1])


def _legendre(x: jax.Array) -> jax.Array:
    # Orthonormal Legendre polynomials of degrees 1..3 in every coordinate, equal weights: unit variance.
    p1 = jnp.sqrt(3.0) * x
    p2 = jnp.sqrt(5.0) * (3 * x ** 2 - 1) / 2
    p3 = jnp.sqrt(7.0) * (5 * x ** 3 - 3 * x) / 2
    return jnp.sum(p1 + p2 + p3, axis=1) / jnp.sqrt(3.0 * x.shape[1])


REGRESSION_FUNCTIONS: dict[str, Callable[[jax.Array], jax.Array]] = {
    "sinusoid": jax.jit(_sinusoid),
    "bump": jax.jit(_bump),
    "legendre": jax.jit(_legendre),
}
"""Named targets of :func:`synthetic_regression` (each maps ``(n, d) -> (n,)``):

* ``"sinusoid"``: ``√(2/d) Σ_j sin(π x_j)`` — additive, mean 0, variance 1 under ``U[-1, 1]^d``;
* ``"bump"``: ``exp(-‖x‖² / d)`` — a radial Gaussian bump;
* ``"legendre"``: ``(3d)^{-1/2} Σ_j (P̃₁ + P̃₂ + P̃₃)(x_j)`` with orthonormal Legendre polynomials —
  mean 0, variance 1, a known finite spectrum.
"""


def regression_function(fn: str | Callable[[jax.Array], jax.Array]) -> Callable[[jax.Array], jax.Array]:
    """The noiseless target used by :func:`synthetic_regression`, as a function ``(n, d) -> (n,)``.

    Args:
        fn: a name in :data:`REGRESSION_FUNCTIONS` (``"sinusoid"``, ``"bump"``, ``"legendre"``) or a
            callable, returned unchanged.

    Example:
        >>> import jax.numpy as jnp
        >>> f = regression_function("sinusoid")
        >>> f(jnp.zeros((2, 3))).tolist()
        [0.0, 0.0]
    """
    if callable(fn):
        return fn
    return REGRESSION_FUNCTIONS[check_choice(fn, "fn", tuple(REGRESSION_FUNCTIONS))]


@functools.partial(jax.jit, static_argnums=(1, 2, 3))
def _uniform_and_noise(key: jax.Array, n: int, d: int, dtype: np.dtype) -> tuple[jax.Array, jax.Array]:
    g = jax.random.normal(key, (n, d + 1), dtype)
    # erf(g / √2) = 2Φ(g) − 1 is uniform on (−1, 1) for a standard Gaussian g.
    return jax.scipy.special.erf(g[:, :d] / math.sqrt(2.0)), g[:, d]


@jax.jit
def _add_noise(y: jax.Array, eps: jax.Array, scale: jax.Array) -> jax.Array:
    return y.astype(scale.dtype) + scale * eps


def synthetic_regression(key: jax.Array, n: int, d: int, *,
                         fn: str | Callable[[jax.Array], jax.Array] = "sinusoid",
                         noise: float = 0.0) -> tuple[jax.Array, jax.Array]:
    """A smooth regression task: ``x ~ U[-1, 1]^d``, ``y = f(x) + noise · ε``, ``ε ~ N(0, 1)``.

    ``noise`` is the noise **standard deviation**. The target ``f`` is deterministic (see
    :data:`REGRESSION_FUNCTIONS`), so data drawn with different keys share it; evaluate it on test
    points with :func:`regression_function`.

    Args:
        key: ``jax.random`` key.
        n: number of samples.
        d: input dimension.
        fn: ``"sinusoid"`` (default), ``"bump"``, ``"legendre"``, or a callable ``(n, d) -> (n,)``.
        noise: label-noise standard deviation (≥ 0).

    Returns:
        ``(x, y)`` with ``x: (n, d)`` and ``y: (n,)``.

    Example:
        >>> import jax
        >>> x, y = synthetic_regression(jax.random.key(0), 8, 2, fn="bump", noise=0.1)
        >>> x.shape, y.shape
        ((8, 2), (8,))
    """
    key = check_key(key)
    n = check_positive_int(n, "n")
    d = check_positive_int(d, "d")
    noise = check_nonneg_float(noise, "noise")
    f = regression_function(fn)
    dtype = float_dtype()
    x, eps = _uniform_and_noise(key, n, d, dtype)
    y = jnp.asarray(f(x))
    if y.shape != (n,):
        raise ValueError(f"fn must map (n, d) inputs to (n,) outputs, got shape {tuple(y.shape)}")
    return x, _add_noise(y, eps, jnp.asarray(noise, dtype))
