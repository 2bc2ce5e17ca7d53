"""DINOv2's own loss terms: Sinkhorn-Knopp teacher, iBOT patch loss, KoLeo.

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


def sinkhorn_knopp(logits: jax.Array, temp, n_iterations: int = 3,
                   valid: jax.Array | None = None) -> jax.Array:
  """Teacher assignments [B, K] from logits [B, K] (`dino_clstoken_loss.py`
  and `ibot_patch_loss.py: sinkhorn_knopp_teacher`, global over devices):

    Q = exp(logits / temp)^T (K x B); Q /= sum(Q)
    3 times: Q /= row sums; Q /= K; Q /= column sums; Q /= B
    Q *= B; return Q^T (each row sums to 1)

  `valid` [B] (bool): rows that take part (iBOT: the masked patches; B is
  then their count, the official `n_masked_patches_tensor`), the others
  come back as zeros. Subtracting the global max before exp is exact: the
  first normalisation divides it out.
  """
  x = logits.astype(jnp.float32) / temp
  if valid is None:
    valid = jnp.ones(x.shape[:1], bool)
  x = jnp.where(valid[:, None], x, -jnp.inf)
  q = jnp.exp(x - jnp.max(x))
  b = jnp.sum(valid).astype(jnp.float32)
  k = x.shape[1]
  q = q / jnp.sum(q)
  for _ in range(n_iterations):
    q = q / jnp.sum(q, axis=0, keepdims=True) / k  # Per prototype: 1/K.
    q = q / jnp.maximum(jnp.sum(q, axis=1, keepdims=True), 1e-30) / b
  return q * b


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
