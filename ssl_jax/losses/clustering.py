"""Online clustering objectives: SwAV's swapped prediction and its
Sinkhorn-Knopp assignments (pure, global batch).

The assignments are targets: the method computes them under stop_gradient
(the official `torch.no_grad`), with any queued rows, and passes them in.
"""

import jax
import jax.numpy as jnp


def sinkhorn_knopp(scores: jax.Array, epsilon, iterations: int = 3,
                   valid: jax.Array | None = None) -> jax.Array:
  """Equipartitioned soft assignments of B samples to K prototypes.

  SwAV (Caron et al., arXiv 2006.09882, eq. (3)-(5); facebookresearch/swav
  `main_swav.py: distributed_sinkhorn`) and DINOv2's teacher centring
  (`dino_clstoken_loss.py` and `ibot_patch_loss.py:
  sinkhorn_knopp_teacher`, epsilon = the teacher temperature). Both sum
  over every replica, i.e. over the global batch as here:
    Q = exp(S / eps),  Q /= sum(Q)
    `iterations` times:
      Q[:, k] /= sum_b Q[b, k],  Q /= K     (each prototype weighs 1/K)
      Q[b, :] /= sum_k Q[b, k],  Q /= B     (each sample weighs 1/B)
    return B Q                              (each row sums to 1)
  The official codes hold Q transposed (K x B). S - max(S) is exponentiated
  instead of S: the first division removes the common factor, so Q is the
  same, and exp stays finite for any eps.

  Args:
    scores: [B, K] prototype scores (SwAV: of the batch after any queued
      rows; DINOv2: teacher logits).
    epsilon: eps, the entropy regularisation (SwAV 0.05; DINOv2 the teacher
      temperature).
    iterations: 3 in both papers.
    valid: optional bool [B]: the rows that take part (iBOT's masked
      patches: B is their count, the official `n_masked_patches_tensor`);
      the others come back as zeros.

  Returns:
    [B, K] float32 assignments, rows summing to 1, under stop_gradient.

  Example (docs/methods.md#swav): S = [[1, 0], [0, 1]], eps = 1, one
  iteration -> [[e, 1], [1, e]] / (1 + e) (0.7310585786 on the diagonal).
  """
  if scores.ndim != 2:
    raise ValueError(f'sinkhorn_knopp needs [B, K] scores: {scores.shape}.')
  s = jax.lax.stop_gradient(scores).astype(jnp.float32) / epsilon
  if valid is None:
    valid = jnp.ones(s.shape[:1], bool)
  s = jnp.where(valid[:, None], s, -jnp.inf)
  batch = jnp.sum(valid).astype(jnp.float32)
  prototypes = s.shape[1]
  q = jnp.exp(s - jnp.max(s))
  q = q / jnp.sum(q)
  for _ in range(iterations):
    q = q / jnp.sum(q, axis=0, keepdims=True) / prototypes
    # (Rows that do not take part are all zeros: kept at zero.)
    q = q / jnp.maximum(jnp.sum(q, axis=1, keepdims=True), 1e-30) / batch
  return q * batch


def swav(scores: jax.Array, assignments: jax.Array, assign_crops,
         temperature: float) -> jax.Array:
  """SwAV's swapped prediction loss over all crops.

  arXiv 2006.09882, eq. (1)-(2), as `main_swav.py` sums it: each assignment
  q_a (of crop c_a) is predicted from every other crop v,
    p_v = softmax(s_v / T),
    L = 1/A sum_a 1/(C - 1) sum_{v != c_a} mean_b [ -sum_k q_a log p_v ].

  Args:
    scores: [C, N, K] prototype scores of all crops (global crops first).
    assignments: [A, N, K] targets q (`sinkhorn_knopp` of the crops
      `assign_crops`, under stop_gradient).
    assign_crops: the A crop indices c_a the assignments belong to
      (`crops_for_assign`, (0, 1) in every official recipe).
    temperature: T (0.1 in the paper).

  Returns:
    The scalar loss.

  Example (docs/methods.md#swav): the student logits of `dino`'s example as
  scores (K = 3, N = 2, 2 global + 1 local crop), assignments
  `sinkhorn_knopp(s_c, 0.05, 3)` of crops (0, 1), T = 0.1 -> 2.7708528095.
  """
  n_crops = scores.shape[0]
  assign_crops = tuple(int(c) for c in assign_crops)
  if (scores.ndim != 3 or assignments.ndim != 3
      or assignments.shape[1:] != scores.shape[1:]
      or assignments.shape[0] != len(assign_crops)):
    raise ValueError('swav needs scores [C, N, K], assignments [A, N, K] and '
                     f'A crop indices: {scores.shape}, {assignments.shape}, '
                     f'{assign_crops}.')
  if n_crops < 2 or not all(0 <= c < n_crops for c in assign_crops):
    raise ValueError(f'swav: crops {assign_crops} of {n_crops}: each must be '
                     'a crop index, and another crop must predict it.')
  log_p = jax.nn.log_softmax(scores.astype(jnp.float32) / temperature,
                             axis=-1)
  q = jax.lax.stop_gradient(assignments).astype(jnp.float32)
  # ce[a, v] = mean_b -sum_k q_a log p_v: one contraction, no [A, C, N, K].
  ce = -jnp.einsum('abk,vbk->av', q, log_p) / scores.shape[1]
  others = jnp.arange(n_crops)[None, :] != jnp.asarray(assign_crops)[:, None]
  return jnp.sum(jnp.where(others, ce, 0.0)) / ((n_crops - 1) *
                                                  len(assign_crops))
