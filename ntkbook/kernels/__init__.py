"""Kernels: ``k(x1, x2=None, **hyper) -> Gram`` functions and random-feature maps.

* :mod:`~ntkbook.kernels.classic` — RBF, Laplace, Matérn ½/3⁄2/5⁄2, polynomial, arc-cosine (orders 0, 1, 2).
* :mod:`~ntkbook.kernels.features` — random Fourier, orthogonal random and linear Gaussian features.
* :mod:`~ntkbook.kernels.empirical` — empirical NTK of any ``f(params, x)`` or ``flax.nnx.Module``.
* :mod:`~ntkbook.kernels.factorized` — ``mlp_ntk``: the full NTK of a dense network from per-layer factors.
* :mod:`~ntkbook.kernels.batched` — ``batched(kernel_fn, block)``: tiled Gram matrices sharded over devices.
* :mod:`~ntkbook.kernels.sobolev` — the periodic Sobolev kernel on ``[0, 1)`` (closed form, Mercer series, eigenvalues).
* :mod:`~ntkbook.kernels.dual` — dual activations (ReLU, Hermite series) and the deep NTK recursion in the cosine.
* :mod:`~ntkbook.kernels.graph_proximity` — communicability, walk and forest kernels on graph nodes; plain and
  logarithmic kernel distances; heat-geodesic distances.
"""

from .classic import *  # noqa: F401,F403
from .classic import __all__ as _classic_all
from .features import *  # noqa: F401,F403
from .features import __all__ as _features_all
from .empirical import *  # noqa: F401,F403
from .empirical import __all__ as _empirical_all
from .factorized import *  # noqa: F401,F403
from .factorized import __all__ as _factorized_all
from .batched import *  # noqa: F401,F403
from .batched import __all__ as _batched_all
from .dual import *  # noqa: F401,F403
from .dual import __all__ as _dual_all
from .projected import *  # noqa: F401,F403
from .projected import __all__ as _projected_all
from .graph import *  # noqa: F401,F403
from .graph import __all__ as _graph_all
from .graph_proximity import *  # noqa: F401,F403
from .graph_proximity import __all__ as _graph_proximity_all
from .sobolev import *  # noqa: F401,F403
from .sobolev import __all__ as _sobolev_all
from .graph_walks import *  # noqa: F401,F403
from .graph_walks import __all__ as _graph_walks_all
from .graph_push import *  # noqa: F401,F403
from .graph_push import __all__ as _graph_push_all

__all__ = [*_classic_all, *_features_all, *_empirical_all, *_factorized_all, *_batched_all, *_projected_all, *_graph_all,
           *_sobolev_all, *_graph_proximity_all, *_graph_walks_all, *_graph_push_all]
