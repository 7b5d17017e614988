r"""Dual activations and the NTK of infinitely deep fully connected networks, as functions of a cosine.

For inputs on the unit sphere and a *normalised* activation (:math:`\mathbb E\,\phi(u)^2 = 1` for
:math:`u \sim N(0, 1)`), every layer of an infinitely wide bias-free network maps the cosine
:math:`\xi = x\cdot x'` through the **dual activation**

.. math:: \check\phi(\xi) = \mathbb E\,[\phi(u)\phi(v)], \qquad (u, v) \sim N\!\Big(0,
   \begin{pmatrix}1 & \xi\\ \xi & 1\end{pmatrix}\Big),

(Daniely et al., 2016), with :math:`\check\phi(1) = 1`. The NNGP and NTK of depth :math:`L` follow the
one-variable recursion (:math:`\Sigma_0 = \Theta_0 = \xi`)

.. math:: \Sigma_l = \check\phi(\Sigma_{l-1}), \qquad \Theta_l = \Sigma_l + \Theta_{l-1}\,\check\phi'(\Sigma_{l-1}),

which is what ``nn.serial(nn.Dense(1, W_std=1), *[nn.Relu(), nn.Dense(1, W_std=√2)] * L)`` computes for
ReLU (zero biases, inputs with ``‖x‖² = d``).

* :class:`DualActivation`, :func:`relu_dual`, :func:`hermite_dual` — :math:`\check\phi`, :math:`\check\phi'`
  and :math:`\phi` itself, for normalised ReLU and for any activation given by its Hermite coefficients;
* :func:`deep_dual_ntk` — the recursion to several depths (up to :math:`10^4` and beyond) in one pass,
  in a normalised form that never overflows: :math:`\Theta_L(\xi)/\Theta_L(1)` and :math:`\log\Theta_L(1)`;
* :func:`dual_grid`, :func:`interpolate_dual` — a grid of cosines dense near 1, to tabulate the recursion once,
  and piecewise-linear interpolation in :math:`\log(1 - \xi)` to evaluate the table on Gram matrices.
"""

from __future__ import annotations

import math
from typing import Any, Callable, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from .._validate import as_float_array, check_positive_int, is_concrete
from .classic import _j0, _j1

__all__ = ["DualActivation", "DeepDualNTK", "relu_dual", "hermite_dual", "deep_dual_ntk", "dual_grid",
           "interpolate_dual"]


class DualActivation(NamedTuple):
    """An activation with its dual: ``dual(ξ)``, ``dual_prime(ξ)`` on cosines and ``activation(u)``.

    All three are elementwise ``jax.numpy`` functions; ``dual(1) = 1`` when the activation is normalised.
    """

    dual: Callable[[jnp.ndarray], jnp.ndarray]
    dual_prime: Callable[[jnp.ndarray], jnp.ndarray]
    activation: Callable[[jnp.ndarray], jnp.ndarray]


class DeepDualNTK(NamedTuple):
    """Output of :func:`deep_dual_ntk`; the leading axis runs over the requested depths.

    ``nngp`` is :math:`\\Sigma_L(\\xi)`, ``ntk`` the normalised :math:`\\Theta_L(\\xi)/\\Theta_L(1)` (both
    ``(D, *xi.shape)``) and ``log_ntk_diag`` is :math:`\\log\\Theta_L(1)`, shape ``(D,)``.
    """

    nngp: jnp.ndarray
    ntk: jnp.ndarray
    log_ntk_diag: jnp.ndarray


def _cosines(xi: Any) -> jnp.ndarray:
    xi = as_float_array(xi, "xi")
    if xi.size and is_concrete(xi) and float(np.max(np.abs(np.asarray(xi)))) > 1 + 1e-6:
        raise ValueError(f"xi must hold cosines in [-1, 1], got values up to {float(jnp.max(jnp.abs(xi)))}")
    return jnp.clip(xi, -1.0, 1.0)


def relu_dual() -> DualActivation:
    r"""Normalised ReLU :math:`\phi(u) = \sqrt2\max(u, 0)` and its dual activation.

    .. math:: \check\phi(\xi) = \frac{\sqrt{1-\xi^2} + (\pi - \arccos\xi)\,\xi}{\pi}, \qquad
       \check\phi'(\xi) = \frac{\pi - \arccos\xi}{\pi},

    the arc-cosine kernels of orders 1 and 0 (:func:`~.classic.arccos`) on unit vectors.
    :math:`\check\phi(0) = 1/\pi > 0`, so deep ReLU kernels flatten towards a constant.

    Returns
    -------
    DualActivation

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> relu = relu_dual()
    >>> [round(float(v), 5) for v in relu.dual(jnp.array([0.0, 1.0]))]  # 1/pi and 1
    [0.31831, 1.0]
    >>> float(relu.dual_prime(jnp.array(0.0)))
    0.5
    """
    return DualActivation(
        dual=lambda xi: _j1(jnp.clip(xi, -1.0, 1.0)) / math.pi,
        dual_prime=lambda xi: _j0(jnp.clip(xi, -1.0, 1.0)) / math.pi,
        activation=lambda u: math.sqrt(2.0) * jnp.maximum(u, 0.0),
    )


def hermite_dual(coef: Sequence[float]) -> DualActivation:
    r"""The activation :math:`\phi = \sum_k c_k\,\mathrm{He}_k/\sqrt{k!}` and its dual :math:`\sum_k c_k^2\xi^k`.

    The normalised probabilists' Hermite polynomials :math:`\mathrm{He}_k/\sqrt{k!}` are orthonormal under
    :math:`N(0, 1)` and satisfy :math:`\mathbb E[\mathrm{He}_j(u)\mathrm{He}_k(v)] = k!\,\xi^k\delta_{jk}` for
    standard Gaussians with correlation :math:`\xi`, hence the dual. The activation is normalised
    (:math:`\check\phi(1) = 1`) when :math:`\sum_k c_k^2 = 1`.

    Parameters
    ----------
    coef : sequence of float, length ≥ 1
        :math:`c_0, c_1, \dots`; finite.

    Returns
    -------
    DualActivation

    Raises
    ------
    ValueError
        If ``coef`` is empty, not one-dimensional, not finite, or all zero.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> act = hermite_dual([0.0, 0.8 ** 0.5, 0.15 ** 0.5, 0.05 ** 0.5])
    >>> round(float(act.dual(jnp.array(1.0))), 6), round(float(act.dual_prime(jnp.array(1.0))), 6)
    (1.0, 1.25)
    >>> round(float(act.activation(jnp.array(0.0))), 6)  # He_2(0)/sqrt(2) * sqrt(.15) = -sqrt(.075)
    -0.273861
    """
    c = np.asarray(coef, dtype=np.float64)
    if c.ndim != 1 or c.size == 0:
        raise ValueError(f"coef must be a non-empty 1-D sequence, got shape {c.shape}")
    if not np.all(np.isfinite(c)):
        raise ValueError("coef must be finite")
    if not np.any(c):
        raise ValueError("coef must not be all zero")
    power = c**2  # dual coefficients, highest degree last
    dpower = power[1:] * np.arange(1, c.size)
    # He_k / sqrt(k!) in the power basis, via He_{k+1} = u He_k - k He_{k-1}
    mono = np.zeros(c.size)
    h_prev, h = np.zeros(c.size), np.zeros(c.size)
    h[0] = 1.0
    for k in range(c.size):
        mono += c[k] * h / math.sqrt(math.factorial(k))
        h_next = np.roll(h, 1) - k * h_prev
        h_prev, h = h, h_next

    def poly(p):
        p = tuple(float(v) for v in p[::-1])  # highest degree first for polyval
        return lambda t: jnp.polyval(jnp.asarray(p, dtype=jnp.result_type(t, float)), t) if p else 0.0 * t

    return DualActivation(dual=poly(power), dual_prime=poly(dpower), activation=poly(mono))


def deep_dual_ntk(act: DualActivation, xi: Any, depths: int | Sequence[int]) -> DeepDualNTK:
    r"""NNGP and normalised NTK of depth-:math:`L` networks for every ``L`` in ``depths``, elementwise in ``xi``.

    Runs :math:`\Sigma_l = \check\phi(\Sigma_{l-1})`, :math:`\Theta_l = \Sigma_l + \Theta_{l-1}\check\phi'(\Sigma_{l-1})`
    from :math:`\Sigma_0 = \Theta_0 = \xi` up to ``max(depths)`` in one loop, keeping
    :math:`r_l = \Theta_l(\xi)/\Theta_l(1)` and :math:`u_l = 1/\Theta_l(1)` instead of :math:`\Theta_l`:

    .. math:: u_l = \frac{u_{l-1}}{u_{l-1} + \check\phi'(1)}, \qquad
       r_l = \Sigma_l u_l + r_{l-1}\,\check\phi'(\Sigma_{l-1})\,\frac{u_l}{u_{l-1}},

    so nothing overflows even when :math:`\Theta_L(1) = \sum_l \check\phi'(1)^l` is astronomically large. (When
    :math:`\check\phi'(1) > \check\phi'(0)` the off-diagonal ratio itself decays like
    :math:`(\check\phi'(0)/\check\phi'(1))^L` and underflows to 0 at depths of order ``700 / log(ratio)`` in float64.)
    (The classifier :math:`\mathrm{sign}\sum_i\Theta_L(x\cdot x_i)\,\alpha_i` does not depend on this scale.)
    Time :math:`O(\max(\text{depths}) \cdot |\xi|)`; memory :math:`O(|\text{depths}| \cdot |\xi|)`. Tabulate on
    :func:`dual_grid` and interpolate for large Gram matrices.

    Parameters
    ----------
    act : DualActivation
        Normalised (``act.dual(1) = 1``), e.g. :func:`relu_dual` or :func:`hermite_dual`.
    xi : array of cosines in [-1, 1], any shape
    depths : int or sequence of int
        Depths :math:`L \ge 1`, in any order.

    Returns
    -------
    DeepDualNTK
        ``nngp`` and ``ntk`` of shape ``(len(depths), *xi.shape)`` (``xi.shape`` for an int ``depths``),
        ``log_ntk_diag`` of shape ``(len(depths),)`` (scalar for an int).

    Raises
    ------
    ValueError
        On cosines outside [-1, 1], NaNs, non-positive depths or an activation that is not normalised.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> out = deep_dual_ntk(relu_dual(), jnp.array([0.0, 1.0]), [1, 10])
    >>> out.ntk.shape, [round(float(v), 4) for v in jnp.exp(out.log_ntk_diag)]  # Theta_L(1) = L + 1
    ((2, 2), [2.0, 11.0])
    >>> round(float(out.ntk[0, 0]), 5)  # Theta_1(0) / 2 = relu.dual(0) / 2 = 1 / (2 pi)
    0.15915
    """
    single = isinstance(depths, (int, np.integer))
    ds = [check_positive_int(d, "depths") for d in ([depths] if single else list(depths))]
    if not ds:
        raise ValueError("depths must not be empty")
    xi = _cosines(xi)
    one = jnp.ones((), xi.dtype)
    if abs(float(act.dual(one)) - 1.0) > 1e-4:
        raise ValueError(f"the activation must be normalised (dual(1) = 1), got dual(1) = {float(act.dual(one))}")
    slope_one = act.dual_prime(one)
    order = sorted(set(ds))

    def step(state, _):
        sig, r, u, log_diag = state
        ratio = 1.0 / (u + slope_one)  # u_l / u_{l-1}; u may underflow to 0, the ratio stays exact
        u_new = u * ratio
        sig_new = act.dual(sig)
        r_new = sig_new * u_new + r * act.dual_prime(sig) * ratio
        return (sig_new, r_new, u_new, log_diag - jnp.log(ratio)), None

    @jax.jit
    def run(xi):
        state = (xi, xi, one, 0.0 * one)
        outs, done = [], 0
        for d in order:
            state, _ = jax.lax.scan(step, state, None, length=d - done)
            done = d
            outs.append(state)
        return outs

    outs = dict(zip(order, run(xi)))
    sig = jnp.stack([outs[d][0] for d in ds])
    r = jnp.stack([outs[d][1] for d in ds])
    log_diag = jnp.stack([outs[d][3] for d in ds])
    if single:
        return DeepDualNTK(sig[0], r[0], log_diag[0])
    return DeepDualNTK(sig, r, log_diag)


def dual_grid(num: int, *, min_gap: float = 1e-12, dtype: Any = None) -> jnp.ndarray:
    r"""Increasing cosines in [-1, 1] for tabulating :func:`deep_dual_ntk`: uniform on [-1, 0], then
    :math:`1 - \xi` log-spaced from 1 down to ``min_gap``, then exactly 1.

    Deep kernels vary on the scale :math:`1 - \xi` near the diagonal, so half the points go there.

    Parameters
    ----------
    num : int ≥ 8
        Number of grid points.
    min_gap : float in (0, 1), keyword-only
        Smallest :math:`1 - \xi` below 1; raised to ``8 * eps`` of the dtype (``~1e-6`` in float32) so that
        the grid stays strictly increasing.
    dtype : floating dtype, optional, keyword-only

    Returns
    -------
    array, shape (num,)

    Raises
    ------
    ValueError
        If ``num < 8`` or ``min_gap`` is not in (0, 1).

    Examples
    --------
    >>> g = dual_grid(100, min_gap=1e-8)
    >>> float(g[0]), float(g[-1]), bool((g[1:] > g[:-1]).all())
    (-1.0, 1.0, True)
    """
    num = check_positive_int(num, "num")
    if num < 8:
        raise ValueError(f"num must be at least 8, got {num}")
    if not 0 < min_gap < 1:
        raise ValueError(f"min_gap must be in (0, 1), got {min_gap}")
    dtype = jnp.dtype(dtype if dtype is not None else jnp.result_type(float))
    min_gap = max(min_gap, 8 * float(jnp.finfo(dtype).eps))
    n_lin = num // 2
    lin = np.linspace(-1.0, 0.0, n_lin, endpoint=False)
    near = 1.0 - np.logspace(0.0, np.log10(min_gap), num - n_lin - 1)
    grid = np.concatenate([lin, near, [1.0]])
    return jnp.asarray(grid, dtype=dtype)


def interpolate_dual(grid: Any, values: Any, xi: Any) -> jnp.ndarray:
    r"""Evaluate a table ``values`` on ``grid`` (from :func:`dual_grid`) at cosines ``xi`` of any shape.

    Piecewise linear in :math:`s = -\log(1 - \xi)`, the variable in which deep dual kernels vary smoothly
    near the diagonal; ``xi = 1`` returns the last table value exactly and cosines closer to 1 than the
    grid's last gap get the value at that gap.

    Parameters
    ----------
    grid : array, shape (G,)
        Strictly increasing cosines ending with exactly 1.
    values : array, shape (G,)
        Table values on ``grid``, e.g. ``deep_dual_ntk(act, grid, L).ntk``.
    xi : array of cosines in [-1, 1]

    Returns
    -------
    array, shape of ``xi``

    Raises
    ------
    ValueError
        If ``grid`` and ``values`` are not 1-D of the same length, or ``grid`` does not end at 1.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> g = dual_grid(2000)
    >>> table = deep_dual_ntk(relu_dual(), g, 3).ntk
    >>> xi = jnp.array([-0.3, 0.5, 0.999, 1.0])
    >>> bool(jnp.allclose(interpolate_dual(g, table, xi), deep_dual_ntk(relu_dual(), xi, 3).ntk, atol=1e-4))
    True
    """
    grid = as_float_array(grid, "grid", ndim=1)
    values = as_float_array(values, "values", ndim=1)
    if grid.shape != values.shape or grid.shape[0] < 2:
        raise ValueError(f"grid and values must be 1-D of the same length >= 2, got {grid.shape} and {values.shape}")
    if is_concrete(grid) and float(np.asarray(grid)[-1]) != 1.0:
        raise ValueError("grid must end with the cosine 1 (use dual_grid)")
    xi = _cosines(xi)
    s_grid = -jnp.log1p(-grid[:-1])
    s = -jnp.log1p(-jnp.minimum(xi, grid[-2]))
    inner = jnp.interp(s, s_grid, values[:-1])
    return jnp.where(xi >= 1.0, values[-1], inner).astype(xi.dtype)
