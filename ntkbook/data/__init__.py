"""Procedural and shipped datasets — nothing is ever downloaded.

* :mod:`~ntkbook.data.synthetic` — power-law Gaussian tasks with exact population risk, random teachers,
  spheres, Boolean cubes and smooth regression targets;
* :mod:`~ntkbook.data.mnist1d` — the MNIST-1D benchmark, generated locally;
* :mod:`~ntkbook.data.shipped` — scikit-learn's bundled 8×8 digits (needs scikit-learn);
* :mod:`~ntkbook.data.sequences` — copy, associative recall and selective copy tasks;
* :mod:`~ntkbook.data.longrange` — long-range sign-pulse tasks (long-range XOR, markers, delayed XOR);
* :mod:`~ntkbook.data.manifolds` — the Swiss roll with its unrolled coordinates, sphere geodesics;
* :mod:`~ntkbook.data.sysid` — system identification with known kernels and sequential digits;
* :mod:`~ntkbook.data.timeseries` — synthetic multivariate series and sliding forecasting windows.

Random generators take an explicit ``jax.random`` key as their first argument;
:func:`numpy_rng` turns such a key into a NumPy generator (cheap draws of many shapes on a CPU).

>>> import jax
>>> from ntkbook import data
>>> data.sphere(jax.random.key(0), 3, 2).shape
(3, 2)
"""

from .diffusion import *  # noqa: F401,F403
from .diffusion import __all__ as _diffusion_all
from .longrange import *  # noqa: F401,F403
from .longrange import __all__ as _longrange_all
from .mnist1d import *  # noqa: F401,F403
from .mnist1d import __all__ as _mnist1d_all
from .sequences import *  # noqa: F401,F403
from .sequences import __all__ as _sequences_all
from .shipped import *  # noqa: F401,F403
from .shipped import __all__ as _shipped_all
from .synthetic import *  # noqa: F401,F403
from .synthetic import __all__ as _synthetic_all
from .sysid import *  # noqa: F401,F403
from .sysid import __all__ as _sysid_all
from .graphs import *  # noqa: F401,F403
from .graphs import __all__ as _graphs_all
from .manifolds import *  # noqa: F401,F403
from .manifolds import __all__ as _manifolds_all
from .timeseries import *  # noqa: F401,F403
from .timeseries import __all__ as _timeseries_all
from .icl import *  # noqa: F401,F403
from .icl import __all__ as _icl_all
from .mesh import *  # noqa: F401,F403
from .mesh import __all__ as _mesh_all

from ._common import numpy_rng

__all__ = ["numpy_rng", *_synthetic_all, *_mnist1d_all, *_shipped_all, *_sequences_all, *_longrange_all, *_diffusion_all, *_sysid_all, *_graphs_all, *_manifolds_all, *_timeseries_all, *_icl_all, *_mesh_all]
