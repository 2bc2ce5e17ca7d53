"""Multi-crop plumbing shared by the methods with local crops (DINO, LeJEPA).

The official multi-crop code (DINO's MultiCropWrapper, LeJEPA's
`forward(torch.cat(global_views))`) runs each group of same-size crops
through the backbone in one call. Here a group is laid out image-major,
[N * C, ...] with the C crops of an image together: each device's rows of a
sharded batch stay on it, so no loss needs an all-gather of wide per-crop
outputs (a crop-major concatenation split each crop over a subset of
devices). The stochastic-depth keys follow the same layout: one per crop of
each image, fold_in(fold_in(step key, example id), crop), so jit and pmap
drop the same branches.
"""

import jax
import jax.numpy as jnp


def image_major(arrays):
  """[C] arrays [N, ...] -> [N * C, ...], the C of each example together:
  each device's rows of a sharded batch stay on it."""
  return jnp.stack(arrays, axis=1).reshape((-1,) + arrays[0].shape[1:])


def crop_groups(views, num_global: int, globals_only: bool = False):
  """The global crops as one image-major batch, then (unless
  `globals_only`, e.g. DINO's teacher) the local crops as another."""
  groups = [image_major(views[:num_global])]
  if not globals_only and len(views) > num_global:
    groups.append(image_major(views[num_global:]))
  return groups


def crop_drop_keys(views, num_global: int, rng, example_ids):
  """Stochastic-depth keys [N * C] per group of `crop_groups`: crop c of
  example i gets fold_in(fold_in(rng, id_i), c) (ids: the examples'
  positions in the global batch; arange(N) when None)."""
  n = views[0].shape[0]
  ids = jnp.arange(n) if example_ids is None else example_ids
  per_image = jax.vmap(jax.random.fold_in, (None, 0))(rng, ids)
  crop = lambda c: jax.vmap(jax.random.fold_in, (0, None))(per_image, c)
  keys = [image_major([crop(c) for c in range(num_global)])]
  if len(views) > num_global:
    keys.append(image_major([crop(c) for c in range(num_global,
                                                    len(views))]))
  return keys


def backbone_features(backbone, groups, train: bool, drop_keys=None):
  """The backbone once per group: a list of features [N * C_group, D]
  (with `drop_keys`, a ViT's per-crop stochastic depth)."""
  if drop_keys is None:
    return [backbone(x, train=train) for x in groups]
  return [backbone(x, train=train, drop_keys=k)
          for x, k in zip(groups, drop_keys)]
