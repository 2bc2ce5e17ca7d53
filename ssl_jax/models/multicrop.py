"""The multi-crop network of DINO and SwAV: the backbone once per crop size,
the head once on every crop.

As DINO's `MultiCropWrapper` and SwAV's `ResNet.forward` (both official):
the crops of one size are concatenated and go through the backbone in one
call, so BatchNorm statistics are per crop size and each size compiles once;
the head then runs once on the features of all crops, so its BatchNorm (SwAV's
projector) sees every crop.

Crops are laid out image-major ([N * C, ...], the C crops of an image
together), not crop-major: each device's rows of a sharded batch stay on it,
so a sharded batch needs no all-gather of the images or of the head's wide
outputs (DINO's 65,536 logits; docs/tpu.md). BatchNorm statistics do not
depend on the order of the rows.
"""

from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp


def image_major(arrays: Sequence[jax.Array]) -> jax.Array:
  """[C] arrays [N, ...] -> [N * C, ...], the C of each example together."""
  return jnp.stack(arrays, axis=1).reshape((-1,) + arrays[0].shape[1:])


def crop_groups(views, num_global: int, local: bool = True) -> list:
  """The views as one image-major batch per crop size: the global crops,
  then (with `local`, if any) the local crops."""
  groups = [image_major(views[:num_global])]
  if local and len(views) > num_global:
    groups.append(image_major(views[num_global:]))
  return groups


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
    if drop_keys is None:
      features = [self.backbone(x, train=train) for x in groups]
    else:
      features = [self.backbone(x, train=train, drop_keys=k)
                  for x, k in zip(groups, drop_keys)]
    n = groups[0].shape[0] // self.num_global
    per_image = [f.reshape(n, -1, f.shape[-1]) for f in features]
    crops = jnp.concatenate(per_image, axis=1)  # [N, C, F]
    outputs = self.head(crops.reshape(-1, crops.shape[-1]), train=train)
    return (per_image[0],) + tuple(o.reshape((n, -1) + o.shape[1:])
                                   for o in outputs)

  def features(self, x):
    return self.backbone(x, train=False)
