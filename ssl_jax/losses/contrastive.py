"""Contrastive objectives (pure: arrays in, scalar out, global batch)."""

import jax
import jax.numpy as jnp

# Finite stand-in for -inf on the self-similarity diagonal: -inf * 0 would be
# NaN in the backward pass, and bf16 cannot hold SimCLR's 1e9.
_MASK = -1e9


def l2_normalize(x, eps: float = 1e-12):
  """Row-wise x / max(||x||, eps), in float32 (torch F.normalize)."""
  x = x.astype(jnp.float32)
  norm = jnp.sqrt(jnp.sum(x * x, axis=-1, keepdims=True))
  return x / jnp.maximum(norm, eps)


def nt_xent(z1: jax.Array, z2: jax.Array, temperature: float) -> jax.Array:
  """SimCLR's NT-Xent loss over the global batch.

  Chen et al., "A Simple Framework for Contrastive Learning of Visual
  Representations", arXiv 2002.05709, eq. (1). Each of the 2N embeddings is an
  anchor whose positive is the other view of its image and whose negatives are
  the other 2N - 2 embeddings:
    l_i = -s_{i,p(i)} + log sum_{k != i} exp(s_ik),  s = n(z) n(z)^T / tau.

  Args:
    z1: [N, D] first-view embeddings (unnormalised; normalised here).
    z2: [N, D] second-view embeddings of the same images, same order.
    temperature: tau > 0.

  Returns:
    The mean of l_i over the 2N anchors (the paper's value; the official TF
    code reports twice this).

  Example (METHODS.md): z1 = [[2, 0], [0, 3]], z2 = [[3, 4], [4, 3]],
  tau = 0.5 -> 1.2707137571.
  """
  if z1.shape != z2.shape or z1.ndim != 2:
    raise ValueError(f'nt_xent needs two [N, D] arrays: {z1.shape}, '
                     f'{z2.shape}.')
  n = z1.shape[0]
  z = l2_normalize(jnp.concatenate([z1, z2], axis=0))
  logits = z @ z.T / temperature
  logits = jnp.where(jnp.eye(2 * n, dtype=bool), _MASK, logits)
  positives = jnp.concatenate([jnp.arange(n, 2 * n), jnp.arange(n)])
  log_prob = jax.nn.log_softmax(logits, axis=1)
  return -jnp.mean(jnp.take_along_axis(log_prob, positives[:, None], axis=1))
