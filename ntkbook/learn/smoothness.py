"""Estimating the interpolation smoothness of a target from the decay of its kernel-eigenvector projections.

For a kernel with eigenvalue decay ``λ_i ≍ i^{−β}`` and a target ``f* ∈ [H]^s`` at the edge of the class,
the Mercer coefficients behave as ``⟨f*, φ_i⟩² ≍ i^{−(sβ + 1)}``. On a sample, ``K/n = U diag(μ) Uᵀ``
(``μ`` decreasing) and ``(u_iᵀ y)² ≈ n ⟨f*, φ_i⟩² + σ²``: up to the index where the signal sinks into the
noise floor, ``log (u_iᵀ y)²`` falls linearly in ``log i`` with slope ``−(sβ + 1)``, so

    ŝ = (−slope − 1) / β.

Squared projections fluctuate a lot from one index to the next (and vanish on modes that the target
does not use, e.g. the even harmonics of a function with ``f(x + ½) = −f(x)``), so they are averaged in
logarithmically spaced bins of indices; each bin's mean is compared with the same bin's mean of the
power law, so that wide bins do not bias the slope.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from .._validate import check_positive, check_positive_int
from .ridge import KernelRidgePath

__all__ = ["SmoothnessEstimate", "smoothness_estimate"]


class SmoothnessEstimate(NamedTuple):
    """Result of :func:`smoothness_estimate`.

    Attributes: ``s`` (the estimate ŝ), ``slope`` (fitted decay exponent of the binned projections),
    ``beta`` (eigenvalue-decay exponent used: given, or fitted on ``K/n`` over the same indices),
    ``bin_index`` and ``bin_energy`` (the binned points the line was fitted to: geometric-mean index
    and mean ``(u_iᵀ y)²``), ``eigenvalues`` and ``projections`` (all ``n`` eigenvalues of ``K/n`` and
    squared projections ``(u_iᵀ y)²``, in decreasing eigenvalue order; index ``i`` is position + 1).
    """

    s: float
    slope: float
    beta: float
    bin_index: np.ndarray
    bin_energy: np.ndarray
    eigenvalues: np.ndarray
    projections: np.ndarray


def _bin_edges(start: int, stop: int, n_bins: int, min_width: int) -> np.ndarray:
    """Edges ``e_0 = start < e_1 < … ≤ stop + 1``, about geometric, every bin at least ``min_width`` wide."""
    ratio = ((stop + 1) / start) ** (1.0 / n_bins)
    edges = [start]
    while edges[-1] + min_width <= stop + 1:
        edges.append(max(edges[-1] + min_width, int(round(edges[-1] * ratio))))
    edges[-1] = min(edges[-1], stop + 1)
    return np.asarray(edges)


def _binned_fit(values: np.ndarray, start: int, stop: int, n_bins: int,
                min_width: int) -> tuple[float, np.ndarray, np.ndarray]:
    """Average ``values[i-1]`` over log-spaced bins of ``i ∈ [start, stop]`` and fit a power law to the bins.

    The model for a bin's mean is the same bin's mean of ``C·i^{slope}`` (not the power law at one index),
    so wide bins at small indices do not bias the slope; ``log C`` is profiled out and the slope found by a
    grid search refined by golden sections.
    """
    edges = _bin_edges(start, stop, n_bins, min_width)
    bins = [np.arange(lo, hi, dtype=np.float64) for lo, hi in zip(edges[:-1], edges[1:])]
    idx = np.asarray([float(np.exp(np.mean(np.log(i)))) for i in bins])
    mean = np.asarray([float(np.mean(values[int(i[0]) - 1:int(i[-1])])) for i in bins])
    if len(idx) < 2 or np.any(mean <= 0):
        raise ValueError(f"cannot fit a power law on indices {start}..{stop}: need two non-empty bins with "
                         "positive mean energy")
    log_mean = np.log(mean)

    def loss(slope: float) -> float:
        model = np.log([np.mean(i ** slope) for i in bins])
        r = log_mean - model
        return float(np.sum((r - r.mean()) ** 2))

    grid = np.linspace(-12.0, 4.0, 161)
    j = int(np.argmin([loss(a) for a in grid]))
    lo, hi = grid[max(j - 1, 0)], grid[min(j + 1, len(grid) - 1)]
    g = (np.sqrt(5.0) - 1) / 2
    for _ in range(40):
        a, b = hi - g * (hi - lo), lo + g * (hi - lo)
        if loss(a) < loss(b):
            hi = b
        else:
            lo = a
    return float((lo + hi) / 2), idx, mean


def smoothness_estimate(K: Any, y: Any, *, truncation: int, start: int = 1, beta: float | None = None,
                        n_bins: int = 12, min_width: int = 4) -> SmoothnessEstimate:
    """Estimate the interpolation smoothness ``s`` of the target behind ``y`` from ``K``'s eigenvectors.

    Parameters
    ----------
    K
        Training Gram matrix, shape ``(n, n)``, symmetric PSD.
    y
        Labels or responses, shape ``(n,)`` (e.g. ``±1`` class labels: this estimates the smoothness of
        ``2η − 1``).
    truncation
        Last eigen-index ``T`` (1-based) used in the fit; choose it below the noise floor's onset.
    start
        First index used (``1 ≤ start < truncation``).
    beta
        Eigenvalue-decay exponent ``β`` of the kernel. ``None`` fits it on the eigenvalues of ``K/n``
        over the same indices (with the same binning); eigenvalues below round-off (clipped to zero by
        :class:`KernelRidgePath`) make that fit fail, so pass ``beta`` when it is known.
    n_bins
        Number of logarithmically spaced index bins (``≥ 2``); fewer when ``min_width`` requires it.
    min_width
        Smallest bin width. Eigenvalues that come in pairs (``cos``/``sin`` on the circle) together with a
        target that uses every other frequency make single indices alternate between signal and nothing;
        bins of at least 4 indices average that pattern out.

    Returns
    -------
    SmoothnessEstimate
        ``ŝ = (−slope − 1)/β`` and the data behind it.

    Examples
    --------
    >>> import numpy as np
    >>> i = np.arange(1, 201)
    >>> U = np.linalg.qr(np.random.default_rng(0).normal(size=(200, 200)))[0]
    >>> K = U @ np.diag(200.0 * i ** -2.0) @ U.T           # eigenvalues of K/n: i^-2 (beta = 2)
    >>> y = U @ (i ** -1.5)                                 # (u_i' y)^2 = i^-3 = i^-(s beta + 1): s = 1
    >>> round(smoothness_estimate(K, y, truncation=100, beta=2.0).s, 3)
    1.0
    """
    truncation = check_positive_int(truncation, "truncation")
    start = check_positive_int(start, "start")
    n_bins = check_positive_int(n_bins, "n_bins")
    min_width = check_positive_int(min_width, "min_width")
    if n_bins < 2:
        raise ValueError(f"n_bins must be at least 2, got {n_bins}")
    if beta is not None:
        check_positive(beta, "beta")
    path = KernelRidgePath.fit(K, y)
    if path.projections.ndim != 1:
        raise ValueError(f"y must be one-dimensional, got shape {tuple(path.y.shape)}")
    n = path.n
    if not start < truncation <= n:
        raise ValueError(f"need 1 <= start < truncation <= n = {n}, got start={start}, truncation={truncation}")
    eigenvalues = np.asarray(path.eigenvalues, dtype=np.float64)[::-1] / n
    projections = np.asarray(path.projections, dtype=np.float64)[::-1] ** 2
    slope, idx, energy = _binned_fit(projections, start, truncation, n_bins, min_width)
    if beta is None:
        beta = -_binned_fit(eigenvalues, start, truncation, n_bins, min_width)[0]
        if not beta > 0:
            raise ValueError(f"the eigenvalues of K/n do not decay over indices {start}..{truncation}")
    s = (-slope - 1.0) / float(beta)
    return SmoothnessEstimate(float(s), slope, float(beta), idx, energy, eigenvalues, projections)
