"""Global self-attention over all positions of a channels-last signal, with its kernels.

Finite layer (``x: (N, *S, C)``, positions flattened to ``P``; all weights ``N(0, 1)``):

* logits of head ``h``: ``QK_std / (C · d_k^e) · (x W_q^h)(x W_k^h)ᵀ`` with ``QK_std = W_query_std ·
  W_key_std`` and ``e = 1`` (``linear_scaling=True``, query and key weights tied, ``W_q = W_k``)
  or ``e = 1/2`` (``linear_scaling=False``: the usual ``1/sqrt(d)`` softmax attention, independent
  ``W_q``, ``W_k``);
* ``heads = softmax(logits) (x W_v^h)``; ``y = OV_std / sqrt(d_v · H · C) · concat(heads) W_o + b_std · b``
  with ``OV_std = W_out_std · W_value_std``.

Kernels (``n_heads``, ``n_chan_key``, ``n_chan_val``, ``C`` → ∞), with ``Σ`` the input kernel:

* ``linear_scaling=True`` — closed form. The logits converge to ``QK_std · Σ(x, x)[p, p']``, so
  ``G(x) = softmax_{p'}(QK_std Σ(x, x))`` is deterministic and
  ``Σ' = OV_std² G(x1) Σ G(x2)ᵀ + b_std²``, ``Θ' = OV_std² G(x1) (2 Σ + Θ) G(x2)ᵀ + b_std²``
  (values and output weights each contribute ``Σ``; the query/key gradients vanish in this limit).
* ``linear_scaling=False`` — no closed form: the logits become Gaussian with covariance
  ``Cov(L(x)[p, p'], L(x')[q, q']) = QK_std² Σ(x, x')[p, q] Σ(x, x')[p', q']``, and the NNGP
  ``Σ' = OV_std² E[G(x1) Σ G(x2)ᵀ] + b_std²`` is estimated by Monte Carlo over ``n_samples`` draws of
  these logits (deterministic for a given ``seed``; error ``O(n_samples^-1/2)``). Its NTK (which
  also has a query/key term) is not implemented.

Memory: the input is kept with every pair of positions, ``O(N1 N2 P^2)``; the Monte-Carlo variant
also needs ``O(N1 N2 n_samples P^2)`` while it works.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from .. import _validate
from ._core import Layer, check_single
from .layers import _check_std


def _to_matrix(a: jax.Array, lead: int, d: int) -> jax.Array:
    """``(*lead, S1, S1', ..., Sd, Sd') -> (*lead, P, P)``."""
    lead_axes = tuple(range(lead))
    first = tuple(lead + 2 * i for i in range(d))
    second = tuple(lead + 2 * i + 1 for i in range(d))
    a = jnp.transpose(a, lead_axes + first + second)
    P = math.prod(a.shape[lead:lead + d])
    return a.reshape(a.shape[:lead] + (P, P))


def _from_matrix(a: jax.Array, lead: int, spatial: tuple[int, ...]) -> jax.Array:
    """Inverse of :func:`_to_matrix`."""
    d = len(spatial)
    a = a.reshape(a.shape[:lead] + spatial + spatial)
    order = tuple(range(lead)) + tuple(x for i in range(d) for x in (lead + i, lead + d + i))
    return jnp.transpose(a, order)


class _GlobalSelfAttention(Layer):
    def __init__(self, n_chan_out, n_chan_key, n_chan_val, n_heads, linear_scaling, W_key_std,
                 W_value_std, W_query_std, W_out_std, b_std, n_samples, seed):
        self.n_chan_out = _validate.check_positive_int(n_chan_out, "n_chan_out")
        self.n_chan_key = _validate.check_positive_int(n_chan_key, "n_chan_key")
        self.n_chan_val = _validate.check_positive_int(n_chan_val, "n_chan_val")
        self.n_heads = _validate.check_positive_int(n_heads, "n_heads")
        self.linear_scaling = bool(linear_scaling)
        self.QK_std = _check_std(W_key_std, "W_key_std", False) * _check_std(W_query_std, "W_query_std", False)
        self.OV_std = _check_std(W_out_std, "W_out_std", False) * _check_std(W_value_std, "W_value_std", False)
        self.b_std = _check_std(b_std, "b_std", True)
        self.n_samples = _validate.check_positive_int(n_samples, "n_samples")
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise ValueError(f"seed must be an int, got {seed!r}")
        self.seed = seed
        self.name = (f"GlobalSelfAttention({n_chan_out}, {n_chan_key}, {n_chan_val}, {n_heads}, "
                     f"linear_scaling={self.linear_scaling})")

    def out_shape(self, in_shape):
        in_shape = check_single(in_shape, "GlobalSelfAttention")
        if len(in_shape) < 2:
            raise ValueError("GlobalSelfAttention needs inputs with positions (N, *spatial, C), "
                             f"got per-sample shape {in_shape}")
        return in_shape[:-1] + (self.n_chan_out,)

    def init(self, key, in_shape, dtype):
        C = in_shape[-1]
        kq, kk, kv, ko, kb = jax.random.split(key, 5)
        H, dk, dv = self.n_heads, self.n_chan_key, self.n_chan_val
        params = {"W_key": jax.random.normal(kk, (H, C, dk), dtype),
                  "W_value": jax.random.normal(kv, (H, C, dv), dtype),
                  "W_out": jax.random.normal(ko, (H * dv, self.n_chan_out), dtype)}
        if not self.linear_scaling:
            params["W_query"] = jax.random.normal(kq, (H, C, dk), dtype)
        if self.b_std is not None:
            params["b"] = jax.random.normal(kb, (self.n_chan_out,), dtype)
        return params

    def apply(self, params, x):
        N, C = x.shape[0], x.shape[-1]
        spatial = x.shape[1:-1]
        xf = x.reshape(N, -1, C)
        keys = jnp.einsum("npc,hcj->hnpj", xf, params["W_key"])
        queries = keys if self.linear_scaling else jnp.einsum("npc,hcj->hnpj", xf, params["W_query"])
        expo = 1.0 if self.linear_scaling else 0.5
        logits = jnp.einsum("hnpj,hnqj->hnpq", queries, keys) * (self.QK_std / (C * self.n_chan_key ** expo))
        att = jax.nn.softmax(logits, axis=-1)
        values = jnp.einsum("npc,hcj->hnpj", xf, params["W_value"])
        heads = jnp.einsum("hnpq,hnqj->nphj", att, values).reshape(N, xf.shape[1], -1)
        y = heads @ params["W_out"] * (self.OV_std / math.sqrt(self.n_chan_val * self.n_heads * C))
        if self.b_std is not None:
            y = y + self.b_std * params["b"]
        return y.reshape((N,) + spatial + (self.n_chan_out,))

    def requirement(self, out_full):
        return True

    def kernel_fn(self, k, out_full):
        shape = self.out_shape(k.shape)
        if not k.full:
            raise AssertionError("GlobalSelfAttention needs the full spatial covariance")
        d = len(k.spatial)
        nngp = _to_matrix(k.nngp, 2, d)
        cov1 = _to_matrix(k.cov1, 1, d)
        cov2 = _to_matrix(k.cov2, 1, d)
        ntk = None if k.ntk is None else _to_matrix(k.ntk, 2, d)
        b2 = 0.0 if self.b_std is None else self.b_std ** 2
        ov2 = self.OV_std ** 2
        if self.linear_scaling:
            g1 = jax.nn.softmax(self.QK_std * cov1, axis=-1)
            g2 = jax.nn.softmax(self.QK_std * cov2, axis=-1)
            sand = lambda a, b, m: jnp.einsum("apq,abqr,bsr->abps", a, m, b)  # noqa: E731
            new_nngp = ov2 * sand(g1, g2, nngp) + b2
            new_cov1 = ov2 * jnp.einsum("apq,aqr,asr->aps", g1, cov1, g1) + b2
            new_cov2 = ov2 * jnp.einsum("apq,aqr,asr->aps", g2, cov2, g2) + b2
            new_ntk = None if ntk is None else ov2 * sand(g1, g2, 2 * nngp + ntk) + b2
        else:
            if ntk is not None:
                raise NotImplementedError("the NTK of 1/sqrt(d) softmax attention is not implemented; "
                                          "use get='nngp' or linear_scaling=True")
            new_nngp, new_cov1, new_cov2 = self._monte_carlo(nngp, cov1, cov2)
            new_nngp, new_cov1, new_cov2 = ov2 * new_nngp + b2, ov2 * new_cov1 + b2, ov2 * new_cov2 + b2
            new_ntk = None
        spatial = k.spatial
        out = k.replace(nngp=_from_matrix(new_nngp, 2, spatial), cov1=_from_matrix(new_cov1, 1, spatial),
                        cov2=_from_matrix(new_cov2, 1, spatial),
                        ntk=None if new_ntk is None else _from_matrix(new_ntk, 2, spatial), shape=shape)
        return out if out_full else out.to_diagonal()

    def _monte_carlo(self, nngp, cov1, cov2):
        """``E[G(x1) Σ G(x2)ᵀ]`` over Gaussian logits with covariance ``QK² Σ ⊗ Σ`` (pairwise)."""
        N1, N2, P, _ = nngp.shape
        dtype = nngp.dtype
        key = jax.random.key(self.seed)
        S = self.n_samples
        jitter = 1e-6 if dtype == jnp.float32 else 1e-10

        def chol(m):
            scale = jnp.maximum(jnp.max(jnp.abs(jnp.diagonal(m, axis1=-2, axis2=-1)), axis=-1), 1e-30)
            eye = jnp.eye(m.shape[-1], dtype=dtype)
            return jnp.linalg.cholesky(m + jitter * scale[..., None, None] * eye)

        def logits(A, z):  # A: (..., M, M) Cholesky factor, z: (S, ..., M, M) -> A z Aᵀ
            return jnp.einsum("...ij,s...jk,...lk->s...il", A, z, A) * self.QK_std

        # pairs (x1[a], x2[b]): joint 2P x 2P covariance of the positions of both inputs
        top = jnp.concatenate([jnp.broadcast_to(cov1[:, None], (N1, N2, P, P)), nngp], axis=-1)
        bottom = jnp.concatenate([jnp.swapaxes(nngp, -1, -2), jnp.broadcast_to(cov2[None], (N1, N2, P, P))], axis=-1)
        A = chol(jnp.concatenate([top, bottom], axis=-2))
        k1, k2, k3 = jax.random.split(key, 3)
        L = logits(A, jax.random.normal(k1, (S, N1, N2, 2 * P, 2 * P), dtype))
        g1 = jax.nn.softmax(L[..., :P, :P], axis=-1)
        g2 = jax.nn.softmax(L[..., P:, P:], axis=-1)
        new_nngp = jnp.mean(jnp.einsum("sabpq,abqr,sabtr->sabpt", g1, nngp, g2), axis=0)

        def own(c, kk):
            Lc = logits(chol(c), jax.random.normal(kk, (S,) + c.shape, dtype))
            g = jax.nn.softmax(Lc, axis=-1)
            return jnp.mean(jnp.einsum("sapq,aqr,satr->sapt", g, c, g), axis=0)

        return new_nngp, own(cov1, k2), own(cov2, k3)


def GlobalSelfAttention(n_chan_out: int, n_chan_key: int, n_chan_val: int, n_heads: int,
                        linear_scaling: bool = True, W_key_std: float = 1.0, W_value_std: float = 1.0,
                        W_query_std: float = 1.0, W_out_std: float = 1.0, b_std: float | None = None,
                        n_samples: int = 256, seed: int = 0) -> Layer:
    """Multi-head self-attention over all positions, ``(N, *S, C) -> (N, *S, n_chan_out)``.

    See the module docstring for the finite layer and its kernels. ``n_samples`` and ``seed``
    only matter for ``linear_scaling=False`` (Monte-Carlo NNGP).

    Example:
        >>> import jax.numpy as jnp
        >>> from ntkbook import nn
        >>> net = nn.serial(nn.Conv(64, (1,)), nn.GlobalSelfAttention(64, 64, 64, 4), nn.Relu(), nn.GlobalAvgPool(),
        ...                 nn.Dense(1))
        >>> net.kernel(jnp.ones((2, 3, 5)), get="ntk").shape   # 2 sequences of 3 tokens, 5 features
        (2, 2)
    """
    return _GlobalSelfAttention(n_chan_out, n_chan_key, n_chan_val, n_heads, linear_scaling, W_key_std,
                                W_value_std, W_query_std, W_out_std, b_std, n_samples, seed)
