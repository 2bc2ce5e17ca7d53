"""Self-distillation objectives: BYOL, SimSiam and DINO (pure, global batch).

Each loss takes the online/student outputs and the target/teacher outputs as
given; the method applies stop_gradient to the targets and updates EMA weights
and DINO's centre outside `jax.grad` (see `dino_center`).
"""

import jax
import jax.numpy as jnp

from ssl_jax.losses import contrastive


def _cosine(a: jax.Array, b: jax.Array) -> jax.Array:
  """Row-wise cosine similarity in float32, [N, D] x [N, D] -> [N]."""
  return jnp.sum(contrastive.l2_normalize(a) * contrastive.l2_normalize(b),
                 axis=-1)


def _check_pairs(name: str, *arrays) -> None:
  shapes = [a.shape for a in arrays]
  if len(set(shapes)) != 1 or arrays[0].ndim != 2:
    raise ValueError(f'{name} needs {len(arrays)} [N, D] arrays: {shapes}.')


def byol(p1: jax.Array, p2: jax.Array, z1: jax.Array,
         z2: jax.Array) -> jax.Array:
  """BYOL's symmetrised regression loss.

  Grill et al., "Bootstrap Your Own Latent: A New Approach to Self-Supervised
  Learning", arXiv 2006.07733, eq. (2) plus its symmetrisation:
    L = mean_b [ 2 - 2 cos(p1_b, z2_b) + 2 - 2 cos(p2_b, z1_b) ],
  i.e. ||n(p) - n(z)||^2 summed over both directions (range [0, 8]).

  Args:
    p1: [N, D] online predictions of view 1.
    p2: [N, D] online predictions of view 2.
    z1: [N, D] target projections of view 1 (stop_gradient by the caller).
    z2: [N, D] target projections of view 2.

  Returns:
    The scalar loss.

  Example (docs/methods.md#byol): p1 = [[2, 0], [0, 3]],
  p2 = [[3, 4], [4, 3]], z1 = [[1, 1], [-1, 1]], z2 = [[1, 0], [1, 2]]
  -> 1.2570446716.
  """
  _check_pairs('byol', p1, p2, z1, z2)
  return jnp.mean(4.0 - 2.0 * _cosine(p1, z2) - 2.0 * _cosine(p2, z1))


def simsiam(p1: jax.Array, p2: jax.Array, z1: jax.Array,
            z2: jax.Array) -> jax.Array:
  """SimSiam's symmetrised negative cosine similarity.

  Chen and He, "Exploring Simple Siamese Representation Learning",
  arXiv 2011.10566, eq. (2):
    L = -(mean_b cos(p1, z2) + mean_b cos(p2, z1)) / 2   (range [-1, 1]).

  Args:
    p1: [N, D] predictor outputs of view 1.
    p2: [N, D] predictor outputs of view 2.
    z1: [N, D] projector outputs of view 1 (stop_gradient by the caller).
    z2: [N, D] projector outputs of view 2.

  Returns:
    The scalar loss.

  Example (docs/methods.md#simsiam): p1 = [[2, 0], [0, 3]],
  p2 = [[3, 4], [4, 3]], z1 = [[1, 1], [-1, 1]], z2 = [[1, 0], [1, 2]]
  -> -0.6857388321.
  """
  _check_pairs('simsiam', p1, p2, z1, z2)
  return -0.5 * (jnp.mean(_cosine(p1, z2)) + jnp.mean(_cosine(p2, z1)))


def dino(student_logits: jax.Array, teacher_logits: jax.Array,
         center: jax.Array, student_temp: float,
         teacher_temp: float) -> jax.Array:
  """DINO's multi-crop cross-entropy between teacher and student.

  Caron et al., "Emerging Properties in Self-Supervised Vision Transformers",
  arXiv 2104.14294, eq. (3):
    P_t^i = softmax((t_i - c) / tau_t),  log P_s^j = log_softmax(s_j / tau_s),
    L = mean over pairs (i, j), i != j, of mean_b -sum_k P_t^i log P_s^j.
  Student crop j < n_teacher_crops is the same global crop as teacher crop j,
  so the pair (j, j) compares a crop with itself and is skipped. With 2 global
  and M local crops there are 2 (M + 1) pairs.

  Args:
    student_logits: [n_student_crops, N, K] student head outputs; the first
      n_teacher_crops crops are the global crops, in teacher order.
    teacher_logits: [n_teacher_crops, N, K] teacher head outputs (stop_gradient
      by the caller).
    center: [K] the teacher centre c (see `dino_center`).
    student_temp: tau_s (0.1 in the paper).
    teacher_temp: tau_t (0.04 -> 0.07 warm-up in the paper); may be traced.

  Returns:
    The scalar loss.

  Example (docs/methods.md#dino): K = 3, N = 2, 2 global + 1 local crop,
  c = [0.1, -0.2, 0], tau_s = 0.1, tau_t = 0.04 -> 2.5567071633.
  """
  n_teacher, n_student = teacher_logits.shape[0], student_logits.shape[0]
  if (student_logits.ndim != 3 or teacher_logits.ndim != 3
      or student_logits.shape[1:] != teacher_logits.shape[1:]
      or center.shape != teacher_logits.shape[-1:]):
    raise ValueError('dino needs student [S, N, K], teacher [T, N, K] and '
                     f'center [K]: {student_logits.shape}, '
                     f'{teacher_logits.shape}, {center.shape}.')
  if n_teacher > n_student:
    raise ValueError(f'dino: {n_teacher} teacher crops but only {n_student} '
                     'student crops; the teacher sees the global crops only.')
  n_pairs = n_teacher * n_student - n_teacher
  if n_pairs == 0:
    raise ValueError('dino needs at least one pair of different crops.')
  t = teacher_logits.astype(jnp.float32) - center.astype(jnp.float32)
  teacher_probs = jax.nn.softmax(t / teacher_temp, axis=-1)
  return dino_cross_entropy(student_logits, teacher_probs, student_temp)


def dino_cross_entropy(student_logits: jax.Array, teacher_probs: jax.Array,
                       student_temp: float) -> jax.Array:
  """DINO's cross-entropy from given teacher probabilities: the mean over
  the 2 (M + 1) pairs (teacher crop i, student crop j != i) of
  mean_b [-sum_k P_t^i log softmax(s_j / tau_s)]. `dino` after centring;
  DINOv2 after Sinkhorn-Knopp (its `loss_scales / (n_global_crops_loss_terms
  + n_local_crops_loss_terms)` weighting is this same mean over pairs).
  student_logits [S, N, K], teacher_probs [T, N, K], T <= S.
  """
  n_teacher, n_student = teacher_probs.shape[0], student_logits.shape[0]
  n_pairs = n_teacher * n_student - n_teacher
  student_log_probs = jax.nn.log_softmax(
      student_logits.astype(jnp.float32) / student_temp, axis=-1)
  # ce[i, j] = sum_b sum_k -P_t^i log P_s^j: one contraction over b and k,
  # with no [T, S, N, K] intermediate (K is 65,536 in the paper).
  ce = -jnp.einsum('tbk,sbk->ts', teacher_probs.astype(jnp.float32),
                   student_log_probs)
  off_diagonal = ~jnp.eye(n_teacher, n_student, dtype=bool)
  batch = student_logits.shape[1]
  return jnp.sum(jnp.where(off_diagonal, ce, 0.0)) / (n_pairs * batch)


def dino_center(teacher_logits: jax.Array, center: jax.Array,
                momentum: float) -> jax.Array:
  """DINO's new teacher centre: an EMA of the mean teacher logit.

  c <- m c + (1 - m) mean over all teacher crops and the global batch of t,
  with this step's raw (uncentred) teacher logits (arXiv 2104.14294, eq. (4)).
  Call it outside `jax.grad`, after the loss; the result carries no gradient.

  Args:
    teacher_logits: [n_teacher_crops, N, K] (or [rows, K]) teacher outputs.
    center: [K] the current centre.
    momentum: m (0.9 in the paper).

  Returns:
    The [K] float32 new centre.

  Example (docs/methods.md#dino): the teacher logits of `dino`'s example,
  c = [0.1, -0.2, 0], m = 0.9 -> [0.09875, -0.17375, -0.002].
  """
  t = jax.lax.stop_gradient(teacher_logits).astype(jnp.float32)
  batch_mean = jnp.mean(t.reshape(-1, t.shape[-1]), axis=0)
  return momentum * center.astype(jnp.float32) + (1.0 - momentum) * batch_mean
