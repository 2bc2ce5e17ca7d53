"""Masked-modelling objectives: MAE, I-JEPA, data2vec 2.0 (pure, global batch).

Each takes the student's predictions and the (stop-gradient) targets as
given and reduces over the whole batch in float32. The methods build the
targets: patchified pixels (MAE), the EMA target encoder's tokens (I-JEPA),
the EMA teacher's per-block FFN outputs (data2vec 2.0).
"""

from collections.abc import Sequence

import jax
import jax.numpy as jnp

# MAE norm_pix: sqrt(Var_unbiased + 1e-6) per patch.
_NORM_PIX_EPS = 1e-6
# torch F.layer_norm / F.instance_norm default eps (I-JEPA, data2vec).
_NORM_EPS = 1e-5


def _f32(*arrays):
  return [jnp.asarray(a, jnp.float32) for a in arrays]


def layer_norm(x: jax.Array, eps: float = _NORM_EPS) -> jax.Array:
  """Affine-free LayerNorm over the last axis, biased variance (torch
  `F.layer_norm(x, x.shape[-1:])`)."""
  x = jnp.asarray(x, jnp.float32)
  mean = jnp.mean(x, axis=-1, keepdims=True)
  var = jnp.mean(jnp.square(x - mean), axis=-1, keepdims=True)
  return (x - mean) * jax.lax.rsqrt(var + eps)


def mae(pred: jax.Array, target: jax.Array, mask: jax.Array,
        norm_pix: bool = True) -> jax.Array:
  """MAE's pixel reconstruction loss on the masked patches.

  He et al., "Masked Autoencoders Are Scalable Vision Learners",
  arXiv 2111.06377 (`models_mae.py: forward_loss`):
    t^ = (t - mean(t)) / sqrt(Var_unbiased(t) + 1e-6)   per patch (norm_pix),
    l_n = mean_values (pred_n - t^_n)^2,
    L = sum_n mask_n l_n / sum_n mask_n   over all patches of the batch.

  Args:
    pred: [N, L, P] decoder outputs per patch (P = p*p*C).
    target: [N, L, P] patchified input pixels (models/patches.py order).
    mask: [N, L], 1 for removed (masked) patches, 0 for visible ones.
    norm_pix: normalise each target patch (MAE's `--norm_pix_loss`).

  Returns:
    The scalar loss.

  Example (docs/methods.md#mae): target [[1,2,3,4],[2,2,2,6]], pred
  [[0,0,0,0],[1,-1,0,1]], mask [0,1] -> 0.7499999063 (norm_pix), 9.75 (raw).
  """
  pred, target, mask = _f32(pred, target, mask)
  if pred.shape != target.shape or pred.ndim != 3 or (
      mask.shape != pred.shape[:2]):
    raise ValueError(f'mae needs pred, target [N, L, P] and mask [N, L]: '
                     f'{pred.shape}, {target.shape}, {mask.shape}.')
  if norm_pix:
    mean = jnp.mean(target, axis=-1, keepdims=True)
    var = jnp.var(target, axis=-1, keepdims=True, ddof=1)  # torch .var()
    target = (target - mean) / jnp.sqrt(var + _NORM_PIX_EPS)
  per_patch = jnp.mean(jnp.square(pred - target), axis=-1)
  return jnp.sum(per_patch * mask) / jnp.sum(mask)


def ijepa(pred: jax.Array, target: jax.Array, mask: jax.Array | None = None,
          *, normalize_target: bool = True) -> jax.Array:
  """I-JEPA's latent regression: smooth-L1 (beta 1) onto the layer-normalised
  target-encoder features of the target blocks.

  Assran et al., "Self-Supervised Learning from Images with a
  Joint-Embedding Predictive Architecture", arXiv 2301.08243
  (`src/train.py`: `h = F.layer_norm(h, (D,))`, then
  `F.smooth_l1_loss(z, h)`, a mean over every element):
    L = mean smoothL1(pred - LN(target)),  smoothL1(d) = d^2/2 if |d| < 1
                                                         else |d| - 1/2.
  The paper's text says L2; the code uses smooth-L1.

  The LayerNorm (no affine, eps 1e-5, over the last axis) is applied *here*
  by default, so the caller passes the raw target-encoder tokens (under
  stop_gradient) gathered at the target positions: LN acts per token, so
  LN-then-gather (the official order) equals gather-then-LN. Pass
  `normalize_target=False` for targets already normalised.

  Args:
    pred: [..., D] predictor outputs for the target tokens.
    target: [..., D] target-encoder features of the same tokens.
    mask: optional [...] weights (1 = a real target token, 0 = padding):
      the mean runs over the elements of the real tokens only.
    normalize_target: apply the affine-free LayerNorm to `target`.

  Returns:
    The scalar loss.

  Example (docs/methods.md#i-jepa): target [[1,2,3,4],[0,0,0,4]], pred
  [[-1,-0.5,0.5,1],[0,0,0,0]] -> 0.2314434510.
  """
  pred, target = _f32(pred, target)
  if pred.shape != target.shape:
    raise ValueError(f'ijepa: pred {pred.shape} != target {target.shape}.')
  if normalize_target:
    target = layer_norm(target)
  d = jnp.abs(pred - target)
  loss = jnp.where(d < 1.0, 0.5 * d * d, d - 0.5)
  if mask is None:
    return jnp.mean(loss)
  mask = jnp.asarray(mask, jnp.float32)
  return jnp.sum(loss * mask[..., None]) / (jnp.sum(mask) * loss.shape[-1])


def instance_norm(x: jax.Array, eps: float = _NORM_EPS) -> jax.Array:
  """Affine-free InstanceNorm of tokens [N, T, D]: per sample and channel
  over the T tokens, biased variance (torch `F.instance_norm` on [N, D, T])."""
  x = jnp.asarray(x, jnp.float32)
  mean = jnp.mean(x, axis=-2, keepdims=True)
  var = jnp.mean(jnp.square(x - mean), axis=-2, keepdims=True)
  return (x - mean) * jax.lax.rsqrt(var + eps)


def data2vec_targets(target_layers: Sequence[jax.Array] | jax.Array,
                     top_k: int) -> jax.Array:
  """data2vec 2.0's contextualised targets from the teacher's layers.

  Baevski et al., "Efficient Self-supervised Learning with Contextualized
  Target Representations for Vision, Speech and Language", arXiv 2212.07525
  (`data2vec2.py: make_targets`, image config: instance_norm_target_layer,
  layer_norm_targets):  y = LN( mean_{l in top K} IN(a_l) ).

  Args:
    target_layers: [num_layers, N, T, D] (or a list of [N, T, D]) teacher
      block outputs for the patch tokens (CLS dropped), first block first.
    top_k: how many of the last layers to average.

  Returns:
    [N, T, D] float32 targets.
  """
  layers = list(target_layers)
  if not 1 <= top_k <= len(layers):
    raise ValueError(f'data2vec top_k={top_k} needs 1..{len(layers)} layers.')
  y = sum(instance_norm(a) for a in layers[-top_k:]) / top_k
  return layer_norm(y)


def data2vec_regression(pred: jax.Array, target: jax.Array,
                        mask: jax.Array) -> jax.Array:
  """data2vec 2.0's regression term, normalised by the masked-token count.

  fairseq sums `(x - y)^2 / sqrt(D)` over the masked tokens and channels and
  divides the gradients by `sample_size` = the number of masked tokens N_m
  of the global batch (clones included):
    L = sum_{n, t} mask_{n,t} sum_d (pred - target)^2 / sqrt(D) / N_m.

  Args:
    pred: [N, T, D] decoder predictions (every position; clones as rows).
    target: [N, T, D] targets (`data2vec_targets`, repeated per clone).
    mask: [N, T], 1 at masked positions (where the loss is taken).

  Returns:
    The scalar loss.
  """
  pred, target, mask = _f32(pred, target, mask)
  if pred.shape != target.shape or pred.ndim != 3 or (
      mask.shape != pred.shape[:2]):
    raise ValueError(f'data2vec needs pred, target [N, T, D] and mask '
                     f'[N, T]: {pred.shape}, {target.shape}, {mask.shape}.')
  per_token = jnp.sum(jnp.square(pred - target), axis=-1)
  scale = 1.0 / jnp.sqrt(jnp.float32(pred.shape[-1]))
  return jnp.sum(per_token * mask) * scale / jnp.sum(mask)


def data2vec(pred: jax.Array, target_layers: Sequence[jax.Array] | jax.Array,
             mask: jax.Array, top_k: int) -> jax.Array:
  """data2vec 2.0's main loss from the teacher's layer outputs.

  `data2vec_regression(pred, data2vec_targets(target_layers, top_k), mask)`:
  regression at masked positions onto LN(mean of the top-K instance-normed
  teacher layers), scaled by 1/sqrt(D), divided by the masked-token count.
  The CLS term is separate: `data2vec_cls`.

  Args:
    pred: [N, T, D] predictions.
    target_layers: [num_layers, N, T, D] teacher layer outputs (same rows
      as `pred`: repeat them per clone first).
    mask: [N, T], 1 = masked.
    top_k: number of last layers averaged.

  Returns:
    The scalar loss.

  Example (docs/methods.md#data2vec-20): a_1 = [[1,2,0],[3,0,1],[2,4,2]],
  a_2 = [[0,1,1],[1,1,0],[2,0,3]], top_k 2, mask [0,1,1], pred rows 1, 2 =
  [[0.5,0,-0.5],[0,1,-1]] -> 3.1903644165.
  """
  return data2vec_regression(pred, data2vec_targets(target_layers, top_k),
                             mask)


def data2vec_cls(cls_pred: jax.Array, target: jax.Array,
                 weight: float = 0.01) -> jax.Array:
  """data2vec 2.0's CLS term: the student's CLS output regresses the mean
  target over all tokens of its image.

  fairseq (`cls_loss` = 0.01) scales this term by the sample size, which the
  gradient normalisation divides out again, so it enters the objective as a
  per-sample **sum**:
    L_cls = weight * sum_n sum_d (cls_n - mean_t target_{n,t})^2 / sqrt(D).
  (Over several devices fairseq's sum runs over each device's samples; see
  the `cls_weight` note in methods/data2vec.py.)

  Args:
    cls_pred: [N, D] student CLS outputs.
    target: [N, T, D] targets of the same rows (`data2vec_targets`).
    weight: fairseq's `cls_loss`.

  Returns:
    The scalar term.

  Example (docs/methods.md#data2vec-20): the targets of `data2vec`'s
  example, cls_pred [0.1, 0.2, -0.3] -> 0.0009536746.
  """
  cls_pred, target = _f32(cls_pred, target)
  if cls_pred.ndim != 2 or target.shape[::2] != cls_pred.shape:
    raise ValueError(f'data2vec_cls needs cls_pred [N, D] and target '
                     f'[N, T, D]: {cls_pred.shape}, {target.shape}.')
  diff = cls_pred - jnp.mean(target, axis=1)
  scale = 1.0 / jnp.sqrt(jnp.float32(cls_pred.shape[-1]))
  return weight * jnp.sum(jnp.square(diff)) * scale
