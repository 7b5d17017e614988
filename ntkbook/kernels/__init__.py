"""Kernels: ``k(x1, x2=None, **hyper) -> Gram`` functions and random-feature maps.

* :mod:`~ntkbook.kernels.classic` — RBF, Laplace, Matérn ½/3⁄2/5⁄2, polynomial, arc-cosine (orders 0, 1, 2).
* :mod:`~ntkbook.kernels.features` — random Fourier, orthogonal random and linear Gaussian features.
"""

from .classic import *  # noqa: F401,F403
from .classic import __all__ as _classic_all
from .features import *  # noqa: F401,F403
from .features import __all__ as _features_all

__all__ = [*_classic_all, *_features_all]
