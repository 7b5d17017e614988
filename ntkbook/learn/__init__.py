"""Kernel machines: ridge regression paths, Gaussian-process posteriors, spectral risk theory.

* :class:`KernelRidgePath` / :class:`FeatureRidgePath` — ridge regression for a whole path of ridges
  from one eigendecomposition / SVD; :func:`kernel_ridge` for one ridge by Cholesky.
* :func:`gp_posterior` / :class:`GaussianProcess` — exact GP regression with jittered Cholesky.
* :func:`eigenlearning` / :func:`effective_ridge` — closed-form estimates of test and train error.
* :class:`SpectralAlgorithmPath` / :func:`spectral_filter` — spectral algorithms beyond ridge (gradient
  flow and descent, spectral cut-off, iterated Tikhonov) from one eigendecomposition;
  :func:`circle_model_loss` — their exact expected loss in the translation-invariant circle model.
* :func:`classical_mds` / :func:`diffusion_map_distance` / :func:`phate_potential_distance` — embeddings from distances;
  :func:`ward_clustering` / :func:`adjusted_rand_index` / :func:`separation_auc` — clustering from distances.
* :func:`fit_kernel_ridge` — kernel ridge regression at scale: Cholesky, CG, CG preconditioned by Nyström or EigenPro,
  Falkon (Nyström KRR), Gram blocks through :func:`ntkbook.kernels.batched`.
* :func:`kde_log_density` / :func:`mean_shift` / :func:`mmd` — kernel density estimation (blocked
  log-sum-exp, Scott/Silverman/leave-one-out bandwidths), mean-shift modes, maximum mean discrepancy.
* :func:`smoothness_estimate` — interpolation smoothness of a target from the decay of its kernel-eigenvector projections.
* :func:`fit_gp_classifier` / :class:`LaplaceGPClassifier` — binary GP classification (logistic likelihood, Laplace approximation).
"""

from .gp import *  # noqa: F401,F403
from .gp import __all__ as _gp_all
from .ridge import *  # noqa: F401,F403
from .ridge import __all__ as _ridge_all
from .spectral import *  # noqa: F401,F403
from .spectral import __all__ as _spectral_all
from .dynamics import *  # noqa: F401,F403
from .dynamics import __all__ as _dynamics_all
from .student_t import *  # noqa: F401,F403
from .student_t import __all__ as _student_t_all
from .logistic import *  # noqa: F401,F403
from .logistic import __all__ as _logistic_all
from .metrics import *  # noqa: F401,F403
from .metrics import __all__ as _metrics_all
from .solvers import *  # noqa: F401,F403
from .solvers import __all__ as _solvers_all
from .smoothness import *  # noqa: F401,F403
from .smoothness import __all__ as _smoothness_all
from .gp_classification import *  # noqa: F401,F403
from .gp_classification import __all__ as _gp_classification_all
from .embed import *  # noqa: F401,F403
from .embed import __all__ as _embed_all
from .clustering import *  # noqa: F401,F403
from .clustering import __all__ as _clustering_all
from .icl_algorithms import *  # noqa: F401,F403
from .icl_algorithms import __all__ as _icl_algorithms_all
from .svm import *  # noqa: F401,F403
from .svm import __all__ as _svm_all
from .density import *  # noqa: F401,F403
from .density import __all__ as _density_all
from .filters import *  # noqa: F401,F403
from .filters import __all__ as _filters_all
from .cluster import *  # noqa: F401,F403
from .cluster import __all__ as _cluster_all
from .online import *  # noqa: F401,F403
from .online import __all__ as _online_all

__all__ = [*_ridge_all, *_gp_all, *_spectral_all, *_dynamics_all, *_student_t_all, *_logistic_all, *_metrics_all,
           *_solvers_all, *_smoothness_all, *_gp_classification_all, *_filters_all, *_density_all, *_embed_all, *_clustering_all, *_icl_algorithms_all, *_cluster_all, *_svm_all, *_online_all]
