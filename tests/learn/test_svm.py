"""Hard-margin SVMs: Frobenius (vs scikit-learn and closed forms) and nuclear norm (closed forms, optimality)."""

import jax.numpy as jnp
import numpy as np
import pytest

from ntkbook.learn import hard_margin_svm, nuclear_norm_svm


def _attention_constraints(seed=0, n=6, T=4, d=6):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, T, d))
    return np.stack([np.outer(x[i, 0] - x[i, t], x[i, 0]) for i in range(n) for t in range(1, T)])


def test_closed_forms():
    a = jnp.array([[3.0, 4.0]])  # one constraint: w = a / |a|^2
    np.testing.assert_allclose(hard_margin_svm(a).weights, [3 / 25, 4 / 25], rtol=1e-5)
    # a redundant constraint gets zero multiplier
    sol = hard_margin_svm(jnp.array([[1.0, 0.0], [2.0, 0.0]]))
    np.testing.assert_allclose(sol.weights, [1.0, 0.0], atol=1e-6)
    np.testing.assert_allclose(sol.dual, [1.0, 0.0], atol=1e-6)
    # custom margins
    np.testing.assert_allclose(hard_margin_svm(a, jnp.array([5.0])).weights, [0.6, 0.8], rtol=1e-5)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_frobenius_matches_sklearn(x64, dtype):
    from sklearn.svm import SVC

    a = _attention_constraints().astype(dtype)
    sol = hard_margin_svm(a, sweeps=3000)
    assert sol.weights.dtype == dtype and sol.weights.shape == (6, 6)
    a2 = a.reshape(len(a), -1)
    # symmetric data (A_j labelled +1, -A_j labelled -1) makes the sklearn bias vanish
    svc = SVC(kernel="linear", C=1e8, tol=1e-8).fit(np.concatenate([a2, -a2]), np.r_[np.ones(len(a)), -np.ones(len(a))])
    np.testing.assert_allclose(np.asarray(sol.weights).ravel(), svc.coef_[0], atol=1e-4 * np.abs(svc.coef_).max())
    assert float(sol.max_violation) < 1e-5
    assert np.all(np.asarray(sol.dual) >= 0)


def test_nuclear_closed_form_single_constraint(x64):
    rng = np.random.default_rng(1)
    a = rng.standard_normal((1, 4, 3))
    u, s, vt = np.linalg.svd(a[0])
    sol = nuclear_norm_svm(a, iterations=1500)
    np.testing.assert_allclose(sol.weights, np.outer(u[:, 0], vt[0]) / s[0], atol=1e-5)


def test_nuclear_optimality(x64):
    a = _attention_constraints(seed=2)
    nuc = nuclear_norm_svm(a, iterations=3000)
    frob = hard_margin_svm(a)
    norm = lambda w: np.linalg.svd(np.asarray(w), compute_uv=False).sum()
    assert float(nuc.max_violation) < 1e-6
    assert norm(nuc.weights) <= norm(frob.weights) + 1e-9
    # no feasible perturbation towards random directions lowers the nuclear norm
    rng = np.random.default_rng(0)
    a2 = a.reshape(len(a), -1)
    for _ in range(50):
        cand = np.asarray(nuc.weights) + 1e-3 * rng.standard_normal(nuc.weights.shape)
        slack = (a2 @ cand.ravel()).min()
        cand = cand / slack  # rescale onto the feasible set
        assert norm(cand) >= norm(nuc.weights) - 1e-7
    # the nuclear solution has lower rank than the Frobenius one here
    s = np.linalg.svd(np.asarray(nuc.weights), compute_uv=False)
    assert np.sum(s > 1e-6 * s[0]) < np.sum(np.linalg.svd(np.asarray(frob.weights), compute_uv=False) > 1e-6 * s[0])


def test_infeasible_reports_violation():
    sol = hard_margin_svm(jnp.array([[1.0], [-1.0]]), sweeps=50)  # w >= 1 and -w >= 1
    assert float(sol.max_violation) > 0.5


def test_bad_inputs():
    with pytest.raises(ValueError):
        hard_margin_svm(jnp.ones(3))
    with pytest.raises(ValueError):
        hard_margin_svm(jnp.zeros((2, 3)))
    with pytest.raises(ValueError):
        hard_margin_svm(jnp.ones((2, 3)), jnp.ones(3))
    with pytest.raises(ValueError):
        nuclear_norm_svm(jnp.ones((2, 3)))
    with pytest.raises(ValueError):
        nuclear_norm_svm(jnp.ones((2, 3, 3)), rho=-1.0)
    with pytest.raises(ValueError):
        hard_margin_svm(jnp.ones((2, 3)), sweeps=0)
