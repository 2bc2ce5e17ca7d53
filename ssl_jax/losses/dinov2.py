"""DINOv2's own loss terms: the iBOT patch loss and KoLeo (its Sinkhorn-Knopp
teacher is `losses.sinkhorn_knopp`, shared with SwAV: clustering.py).

Oquab et al., "DINOv2: Learning Robust Visual Features without
Supervision", arXiv 2304.07193; facebookresearch/dinov2 `dinov2/loss/`.
Pure, float32, global batch: where the official all-reduces (the
Sinkhorn-Knopp sums, the masked-patch count) the global arrays are used;
where it computes per GPU (KoLeo's nearest neighbours) `groups` says how
many equal parts of the batch each search is confined to. The DINO image
term is `losses.dino_cross_entropy` on the Sinkhorn-Knopp probabilities.

Used by methods/dinov2.py (docs/methods.md#dinov2).
"""

import jax
import jax.numpy as jnp


def ibot_patch(student_logits: jax.Array, teacher_probs: jax.Array,
               masks: jax.Array, student_temp: float) -> jax.Array:
  """iBOT's masked-patch loss (`iBOTPatchLoss.forward_masked` with the
  collate's `masks_weight`): for each image, the mean over its masked
  patches of -sum_k P_t log softmax(s / tau_s), then the mean over all
  images (one with no masked patch counts as 0).

  student_logits, teacher_probs: [B, T, K] patch outputs; masks [B, T].
  """
  log_p = jax.nn.log_softmax(student_logits.astype(jnp.float32)
                             / student_temp, axis=-1)
  ce = -jnp.sum(teacher_probs.astype(jnp.float32) * log_p, axis=-1)
  m = masks.astype(jnp.float32)
  per_image = jnp.sum(ce * m, axis=-1) / jnp.maximum(jnp.sum(m, axis=-1), 1.0)
  return jnp.mean(per_image)


def koleo(x: jax.Array, groups: int = 1, eps: float = 1e-8) -> jax.Array:
  """The Kozachenko-Leonenko regulariser (`koleo_loss.py: KoLeoLoss`):
  rows l2-normalised (F.normalize, eps), each row's nearest other row by
  inner product, -mean log(||x_i - x_nn(i) + eps|| + eps) (torch's
  PairwiseDistance adds eps to the difference). The official runs it per
  GPU on its own rows: `groups` equal consecutive parts, each searched
  alone, the losses averaged (as DDP averages the per-GPU gradients).

  x: [N, D], N divisible by `groups`.
  """
  n, d = x.shape
  if n % groups or n // groups < 2:
    raise ValueError(f'koleo: {n} rows do not split into {groups} groups '
                     'of at least 2.')
  x = x.astype(jnp.float32)
  x = x / jnp.maximum(jnp.linalg.norm(x, axis=-1, keepdims=True), eps)
  x = x.reshape(groups, n // groups, d)
  dots = jnp.einsum('gid,gjd->gij', x, x,
                    precision=jax.lax.Precision.HIGHEST)
  eye = jnp.eye(n // groups, dtype=bool)
  nearest = jnp.argmax(jnp.where(eye, -1.0, dots), axis=-1)  # No gradient.
  neighbours = jnp.take_along_axis(x, nearest[..., None], axis=1)
  distances = jnp.linalg.norm(x - neighbours + eps, axis=-1)
  return -jnp.mean(jnp.log(distances + eps))
