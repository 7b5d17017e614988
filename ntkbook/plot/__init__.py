"""The book's house style and its recurring figures.

>>> import matplotlib
>>> matplotlib.use("Agg")
>>> from ntkbook import plot
>>> plot.use_style()
>>> fig, ax = plot.figure()
>>> slope, intercept = plot.loglog_fit([1, 10, 100], [1, 0.1, 0.01])
>>> round(slope, 6)
-1.0
"""

from __future__ import annotations

from typing import Any, Iterable, Sequence

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np

__all__ = ["PALETTE", "STYLE", "use_style", "figure", "loglog_fit", "plot_loglog_fit",
           "learning_curves", "kernel_matrix", "spectrum"]

#: Colour-blind safe palette (Okabe–Ito), in the order series are drawn.
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442", "#000000")

STYLE = {
    "figure.figsize": (6.4, 4.0),
    "figure.dpi": 100,
    "savefig.dpi": 150,
    "savefig.bbox": "tight",
    "font.size": 10,
    "axes.titlesize": 11,
    "axes.labelsize": 10,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "grid.linewidth": 0.6,
    "legend.frameon": False,
    "legend.fontsize": 9,
    "lines.linewidth": 1.8,
    "lines.markersize": 5,
    "image.cmap": "viridis",
    "axes.prop_cycle": mpl.cycler(color=list(PALETTE)),
}


def use_style() -> None:
    """Apply the house style to matplotlib globally (idempotent).

    >>> use_style(); mpl.rcParams["axes.spines.top"]
    False
    """
    mpl.rcParams.update(STYLE)


def figure(ncols: int = 1, nrows: int = 1, *, width: float = 6.4, height: float = 4.0, **kwargs: Any) -> tuple[Any, Any]:
    """A figure with ``nrows × ncols`` axes in the house style, sized ``width × height`` inches per axes row.

    Returns ``(fig, axes)`` where ``axes`` is a single Axes for a 1×1 grid, else an array.

    >>> fig, axes = figure(ncols=2); len(axes)
    2
    """
    if ncols <= 0 or nrows <= 0:
        raise ValueError(f"ncols and nrows must be positive, got {ncols}, {nrows}")
    use_style()
    fig, axes = plt.subplots(nrows, ncols, figsize=(width * ncols if ncols > 1 else width, height * nrows),
                             layout="constrained", **kwargs)
    return fig, axes


def loglog_fit(x: Sequence[float], y: Sequence[float]) -> tuple[float, float]:
    """Least-squares fit of ``log y = slope · log x + intercept`` (natural logs); returns ``(slope, intercept)``.

    Raises ``ValueError`` for fewer than two points, mismatched lengths or non-positive values.

    >>> round(loglog_fit([1, 2, 4], [1, 4, 16])[0], 6)
    2.0
    """
    x = np.asarray(x, dtype=np.float64).ravel()
    y = np.asarray(y, dtype=np.float64).ravel()
    if x.shape != y.shape or x.size < 2:
        raise ValueError(f"need two or more (x, y) pairs of equal length, got {x.size} and {y.size}")
    if np.any(x <= 0) or np.any(y <= 0) or not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        raise ValueError("log–log fit needs finite positive x and y")
    slope, intercept = np.polyfit(np.log(x), np.log(y), 1)
    return float(slope), float(intercept)


def plot_loglog_fit(ax: Any, x: Sequence[float], y: Sequence[float], *, label: str | None = None,
                    color: Any = None, marker: str = "o") -> float:
    """Scatter ``(x, y)`` on log–log axes with its fitted power law; returns the slope.

    >>> fig, ax = figure(); round(plot_loglog_fit(ax, [1, 10], [1, 0.1]), 6)
    -1.0
    """
    slope, intercept = loglog_fit(x, y)
    x = np.asarray(x, dtype=np.float64)
    line = ax.loglog(x, y, marker, color=color, label=label)[0]
    xs = np.geomspace(x.min(), x.max(), 50)
    ax.loglog(xs, np.exp(intercept) * xs**slope, "--", color=line.get_color(), lw=1.2,
              label=f"slope {slope:.2f}")
    return slope


def learning_curves(ax: Any, x: Sequence[float], curves: dict[str, Iterable[float]], *, xlabel: str = "n",
                    ylabel: str = "test error", logx: bool = True, logy: bool = True) -> Any:
    """One line per named curve against a shared ``x``; log axes by default.

    >>> fig, ax = figure(); _ = learning_curves(ax, [10, 100], {"ridge": [0.5, 0.1]}); len(ax.get_lines())
    1
    """
    for name, ys in curves.items():
        ax.plot(x, list(ys), marker="o", label=name)
    if logx:
        ax.set_xscale("log")
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if curves:
        ax.legend()
    return ax


def kernel_matrix(ax: Any, K: Any, *, title: str | None = None, cmap: str = "viridis", colorbar: bool = True) -> Any:
    """Show a Gram matrix as an image (square pixels, colour bar); returns the image.

    >>> fig, ax = figure(); kernel_matrix(ax, np.eye(3)).get_array().shape
    (3, 3)
    """
    K = np.asarray(K)
    if K.ndim != 2:
        raise ValueError(f"K must be a matrix, got shape {K.shape}")
    im = ax.imshow(K, cmap=cmap, interpolation="nearest")
    ax.grid(False)
    if title:
        ax.set_title(title)
    if colorbar:
        ax.figure.colorbar(im, ax=ax, shrink=0.8)
    return im


def spectrum(ax: Any, eigenvalues: Any, *, label: str | None = None, normalize: bool = False) -> Any:
    """Eigenvalues in decreasing order against their index, on log–log axes (zeros dropped).

    >>> fig, ax = figure(); _ = spectrum(ax, [1.0, 0.5, 0.25]); ax.get_lines()[0].get_ydata().tolist()
    [1.0, 0.5, 0.25]
    """
    lam = np.sort(np.asarray(eigenvalues, dtype=np.float64).ravel())[::-1]
    lam = lam[lam > 0]
    if normalize and lam.size:
        lam = lam / lam[0]
    ax.loglog(np.arange(1, lam.size + 1), lam, label=label)
    ax.set_xlabel("index $i$")
    ax.set_ylabel(r"eigenvalue $\lambda_i$")
    return ax
