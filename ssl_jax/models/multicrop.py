"""Multi-crop, shared by DINO, DINOv2, SwAV and LeJEPA: the crops' layout,
their stochastic-depth keys, and the network that runs the backbone once per
crop size and the head once on every crop.

As DINO's `MultiCropWrapper` and SwAV's `ResNet.forward` (both official):
the crops of one size are concatenated and go through the backbone in one
call, so BatchNorm statistics are per crop size and each size compiles once;
the head then runs once on the features of all crops, so its BatchNorm (SwAV's
projector) sees every crop.

Crops are laid out image-major ([N * C, ...], the C crops of an image
together), not crop-major: each device's rows of a sharded batch stay on it,
so a sharded batch needs no all-gather of the images or of the head's wide
outputs (DINO's 65,536 logits; docs/tpu.md). BatchNorm statistics do not
depend on the order of the rows. The stochastic-depth keys follow the same
layout: one per crop of each image, fold_in(fold_in(step key, example id),
crop), so jit and pmap drop the same branches.
"""

from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp


def image_major(arrays: Sequence[jax.Array]) -> jax.Array:
  """[C] arrays [N, ...] -> [N * C, ...], the C of each example together."""
  return jnp.stack(arrays, axis=1).reshape((-1,) + arrays[0].shape[1:])


def view_of(rows: jax.Array, i: int, num_views: int) -> jax.Array:
  """image_major's inverse for one view: view i's rows [N, ...] of an
  image-major batch [N * num_views, ...]."""
  return rows.reshape((-1, num_views) + rows.shape[1:])[:, i]


def crop_groups(views, num_global: int, globals_only: bool = False) -> list:
  """The views as one image-major batch per crop size: the global crops,
  then (unless `globals_only`, e.g. DINO's teacher) the local crops."""
  groups = [image_major(views[:num_global])]
  if not globals_only and len(views) > num_global:
    groups.append(image_major(views[num_global:]))
  return groups


def crop_drop_keys(views, num_global: int, rng, example_ids) -> list:
  """Stochastic-depth keys [N * C] per group of `crop_groups`: crop c of
  example i gets fold_in(fold_in(rng, id_i), c) (ids: the examples'
  positions in the global batch; arange(N) when None)."""
  n = views[0].shape[0]
  ids = jnp.arange(n) if example_ids is None else example_ids
  per_image = jax.vmap(jax.random.fold_in, (None, 0))(rng, ids)
  crop = lambda c: jax.vmap(jax.random.fold_in, (0, None))(per_image, c)
  return crop_groups([crop(c) for c in range(len(views))], num_global)


def backbone_features(backbone, groups, train: bool, drop_keys=None) -> list:
  """The backbone once per group: features [N * C_group, D] each (with
  `drop_keys`, a ViT's per-crop stochastic depth)."""
  if drop_keys is None:
    return [backbone(x, train=train) for x in groups]
  return [backbone(x, train=train, drop_keys=k)
          for x, k in zip(groups, drop_keys)]


class MultiCrop(nn.Module):
  """Backbone once per group of same-size crops, then `head` on all crops.

  `head(features [R, F], train)` returns a tuple of [R, ...] arrays (DINO:
  bottleneck and logits; SwAV: embedding and prototype scores).
  """
  backbone: nn.Module
  head: nn.Module
  num_global: int = 2

  def __call__(self, groups, train: bool = True, drop_keys=None):
    """`groups`: `crop_groups`' batches; `drop_keys`: their per-crop keys,
    for a ViT's stochastic depth (None: none).

    Returns the backbone features [N, C_0, F] of the first group, then each
    head output as [N, C, ...] (C = the crops of all groups, global first).
    """
    features = backbone_features(self.backbone, groups, train, drop_keys)
    n = groups[0].shape[0] // self.num_global
    per_image = [f.reshape(n, -1, f.shape[-1]) for f in features]
    crops = jnp.concatenate(per_image, axis=1)  # [N, C, F]
    outputs = self.head(crops.reshape(-1, crops.shape[-1]), train=train)
    return (per_image[0],) + tuple(o.reshape((n, -1) + o.shape[1:])
                                   for o in outputs)

  def features(self, x):
    return self.backbone(x, train=False)
