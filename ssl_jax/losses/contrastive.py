"""Contrastive objectives (pure: arrays in, scalar out, global batch)."""

import jax
import jax.numpy as jnp

# Finite stand-in for -inf on the self-similarity diagonal: -inf * 0 would be
# NaN in the backward pass, and bf16 cannot hold SimCLR's 1e9.
_MASK = -1e9


def l2_normalize(x, eps: float = 1e-12):
  """Row-wise x / max(||x||, eps), in float32 (torch F.normalize).

  Written as x * rsqrt(max(||x||^2, eps^2)) (BYOL's form): the same values,
  but a finite gradient for an all-zero row, where sqrt's is infinite.
  """
  x = x.astype(jnp.float32)
  squared = jnp.sum(x * x, axis=-1, keepdims=True)
  return x * jax.lax.rsqrt(jnp.maximum(squared, eps * eps))


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
    code's loss, on which the `simclr` method trains, is twice this).

  Example (docs/methods.md#simclr): z1 = [[2, 0], [0, 3]],
  z2 = [[3, 4], [4, 3]], tau = 0.5 -> 1.2707137571.
  """
  if z1.shape != z2.shape or z1.ndim != 2:
    raise ValueError(f'nt_xent needs two [N, D] arrays: {z1.shape}, '
                     f'{z2.shape}.')
  n = z1.shape[0]
  # The 2N anchors image-major (row 2i: z1[i], row 2i + 1: z2[i]; the mean
  # over anchors does not depend on their order): rows of a batch sharded
  # over devices stay on their device, where stacking z1 over z2 would move
  # them (methods/base.py: apply_per_view).
  z = l2_normalize(jnp.stack([z1, z2], axis=1).reshape(2 * n, -1))
  logits = z @ z.T / temperature
  logits = jnp.where(jnp.eye(2 * n, dtype=bool), _MASK, logits)
  positives = jnp.arange(2 * n) ^ 1  # The other view of the same image.
  log_prob = jax.nn.log_softmax(logits, axis=1)
  return -jnp.mean(jnp.take_along_axis(log_prob, positives[:, None], axis=1))


def _ctr(q: jax.Array, k: jax.Array, temperature) -> jax.Array:
  """One MoCo v3 direction: 2 tau * mean_i CE(n(q) n(k)^T / tau, i)."""
  logits = l2_normalize(q) @ l2_normalize(k).T / temperature
  log_prob = jax.nn.log_softmax(logits, axis=1)
  # The positive of query i is key i of the same image: the diagonal
  # (a masked row sum: jnp.diagonal's gradient, a scatter, has no XLA TPU
  # cost estimate).
  positive = jnp.sum(jnp.where(jnp.eye(*log_prob.shape, dtype=bool),
                               log_prob, 0), axis=1)
  return -2.0 * temperature * jnp.mean(positive)


def moco_v3(q1: jax.Array, q2: jax.Array, k1: jax.Array, k2: jax.Array,
            temperature: float) -> jax.Array:
  """MoCo v3's symmetrised InfoNCE over the global batch (no queue).

  Chen, Xie and He, "An Empirical Study of Training Self-Supervised Vision
  Transformers", arXiv 2104.02057, Alg. 1:
    L = ctr(q1, k2) + ctr(q2, k1),
    ctr(q, k) = 2 tau * mean_i CE(n(q) n(k)^T / tau, label i).
  The other N - 1 keys of the batch are the negatives. Keys are used as given:
  the method applies stop_gradient to the momentum encoder's outputs.

  Args:
    q1: [N, D] queries (predictor outputs) of view 1 (unnormalised).
    q2: [N, D] queries of view 2, same image order.
    k1: [N, D] keys (momentum-encoder outputs) of view 1.
    k2: [N, D] keys of view 2.
    temperature: tau > 0 (1.0 for ResNet, 0.2 for ViT in the paper).

  Returns:
    The scalar loss: the sum, not the mean, of the two directions.

  Example (docs/methods.md#moco-v3): q1 = [[2, 0], [0, 3]],
  q2 = [[3, 4], [4, 3]], k1 = [[1, 1], [-1, 1]], k2 = [[1, 0], [1, 2]],
  tau = 0.2 -> 1.1494206088.
  """
  shapes = {a.shape for a in (q1, q2, k1, k2)}
  if len(shapes) != 1 or q1.ndim != 2:
    raise ValueError('moco_v3 needs four [N, D] arrays: '
                     f'{[a.shape for a in (q1, q2, k1, k2)]}.')
  return _ctr(q1, k2, temperature) + _ctr(q2, k1, temperature)
