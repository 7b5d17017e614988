"""A tiny transformer for in-context regression (the GPT-style learner of P109 and P096).

The model reads the ``2n`` tokens of :func:`ntkbook.data.icl_tokens` — context tokens ``[x_i; y_i]``
followed by query tokens ``[x_i; 0]`` — under the mask of :func:`ntkbook.data.icl_query_mask`: a linear
embedding plus a learned position table, ``depth`` pre-LayerNorm
:class:`~ntkbook.attention.TransformerBlock` s, a final LayerNorm and a linear read-out at the query
tokens. The query token of example ``i`` sees only the examples before it, so one pass predicts every
``y_i`` from its prefix (prompt lengths ``0 … n − 1``).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from .._validate import check_positive_int
from ..data.icl import icl_query_mask
from .blocks import TransformerBlock

__all__ = ["InContextRegressor"]


class InContextRegressor(nnx.Module):
    """Transformer mapping context+query tokens ``(B, 2n, d+1)`` to predictions ``(B, n)``.

    Parameters
    ----------
    dim : input dimension ``d``
    num_examples : prompt length ``n`` (the model reads exactly ``2n`` tokens)
    width, depth, num_heads : model width, number of blocks, heads per block
    mlp_ratio : MLP hidden width as a multiple of ``width``

    :meth:`hidden_states` returns the residual stream at the query tokens after the embedding and
    after every block, ``(depth + 1, B, n, width)`` — the input to per-layer probes.

    >>> import jax.numpy as jnp
    >>> from flax import nnx
    >>> model = InContextRegressor(3, 5, width=16, depth=2, num_heads=2, rngs=nnx.Rngs(0))
    >>> model(jnp.ones((4, 10, 4))).shape
    (4, 5)
    >>> model.hidden_states(jnp.ones((4, 10, 4))).shape
    (3, 4, 5, 16)
    """

    def __init__(self, dim: int, num_examples: int, *, width: int = 32, depth: int = 2, num_heads: int = 2,
                 mlp_ratio: float = 2.0, rngs: nnx.Rngs) -> None:
        self.dim = check_positive_int(dim, "dim")
        self.num_examples = check_positive_int(num_examples, "num_examples")
        width = check_positive_int(width, "width")
        self.depth = check_positive_int(depth, "depth")
        self.embed = nnx.Linear(self.dim + 1, width, rngs=rngs)
        self.position = nnx.Param(0.02 * jax.random.normal(rngs.params(), (2 * self.num_examples, width)))
        self.blocks = nnx.List([TransformerBlock(width, num_heads, mlp_ratio=mlp_ratio, rngs=rngs)
                                for _ in range(self.depth)])
        self.norm = nnx.LayerNorm(width, rngs=rngs)
        self.readout = nnx.Linear(width, 1, rngs=rngs)

    def _stream(self, tokens: jnp.ndarray) -> list[jnp.ndarray]:
        tokens = jnp.asarray(tokens)
        n = self.num_examples
        if tokens.ndim != 3 or tokens.shape[1:] != (2 * n, self.dim + 1):
            raise ValueError(f"expected tokens (B, {2 * n}, {self.dim + 1}), got shape {tuple(tokens.shape)}")
        mask = icl_query_mask(n)
        h = self.embed(tokens) + self.position[...]
        states = [h]
        for block in self.blocks:
            h = block(h, mask=mask)
            states.append(h)
        return states

    def hidden_states(self, tokens: jnp.ndarray) -> jnp.ndarray:
        """Residual stream at the query tokens after the embedding and each block: ``(depth + 1, B, n, width)``."""
        return jnp.stack([h[:, self.num_examples:] for h in self._stream(tokens)])

    def __call__(self, tokens: jnp.ndarray) -> jnp.ndarray:
        h = self._stream(tokens)[-1][:, self.num_examples:]
        return self.readout(self.norm(h))[..., 0]
