"""SwAV (Caron et al., arXiv 2006.09882; facebookresearch/swav `main_swav.py`).

Swapping assignments between views: the prototype scores of every crop
predict the soft cluster assignment of the other crops, assignments that an
equipartition (Sinkhorn-Knopp) computes online for the global crops
(docs/methods.md#swav).

  network      backbone -> projector Linear(F, 2048) - BN - ReLU -
               Linear(2048, 128) -> l2-normalise -> prototypes Linear(128,
               K = 3000, no bias): each score is a cosine to a prototype.
               Multi-crop as the official `ResNet.forward`
               (models/multicrop.py): the 2 global crops through the
               backbone in one call, the M local crops in another, the head
               once on all crops (its BN over every crop).
  prototypes   on the unit sphere before the first step (init) and after
               every update (`after_update`): the official normalises them
               at the start of each iteration, so every forward sees the
               same weights. Frozen for the first freeze_prototypes_niters
               updates: the official sets their grad to None, so LARC and
               SGD skip them (no update, no weight decay, momentum
               untouched); here their optimizer skips those updates
               (`frozen_start`, optim.skip_first).
  assignments  q = Sinkhorn-Knopp (eps, 3 iterations) of the scores of each
               crop in crops_for_assign over the global batch (the official
               all-reduces its sums), under stop_gradient (`torch.no_grad`);
               loss `losses.swav` at temperature T.
  queue        with queue_length L > 0 (the official's remedy for small
               batches): `extras['queue']` [A, L, 128] holds the embeddings
               of the assignment crops of the last L / B steps, newest
               first, pushed after every step from epoch_queue_starts on
               (zeros before). Once full (its oldest row is nonzero: the
               official test), the scores of its rows against the current
               prototypes join each Sinkhorn problem (L + B samples) and
               their assignments are dropped. L is rounded down to a
               multiple of the global batch B, as the official does.
               `objective` sees no parameters, so `extras['prototypes']`
               keeps the prototypes `update_extras` last saw: the ones this
               step's forward used.

Evaluation features (`embed`) are the backbone's.
"""

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections

from ssl_jax import config_checks
from ssl_jax import losses
from ssl_jax.methods import base
from ssl_jax.models import heads
from ssl_jax.models import multicrop

_NUM_GLOBAL = 2
# torch nn.Linear's default weight init, U(+-1/sqrt(fan_in)): the official
# prototypes' (normalised before their first use).
_TORCH_LINEAR = nn.initializers.variance_scaling(1 / 3, 'fan_in', 'uniform')


def validate_config(config) -> None:
  """Checks config.method's values before anything is built (the trainer
  calls it from its validation; config_checks.py)."""
  for key in ('num_prototypes', 'proj_dim', 'sinkhorn_iterations'):
    config_checks.positive(config, f'method.{key}', integer=True)
  config_checks.sizes(config, 'method.proj_hidden')
  for key in ('temperature', 'epsilon'):
    config_checks.positive(config, f'method.{key}')
  for key in ('queue_length', 'epoch_queue_starts',
              'freeze_prototypes_niters'):
    config_checks.non_negative(config, f'method.{key}', integer=True)
  crops = config.method.crops_for_assign
  config_checks.check(
      isinstance(crops, (tuple, list)) and len(crops) > 0
      and len(set(crops)) == len(crops)
      and all(c in range(_NUM_GLOBAL) for c in crops),
      'method.crops_for_assign', crops,
      f'need distinct global crop indices, a non-empty subset of '
      f'{tuple(range(_NUM_GLOBAL))}')
  queue = config.method.queue_length
  config_checks.check(
      queue == 0 or queue >= config.batch_size, 'method.queue_length', queue,
      f'must be 0 (no queue) or at least the global batch '
      f'(config.batch_size={config.batch_size}): it is rounded down to a '
      'multiple of it')


def default_config() -> ml_collections.ConfigDict:
  """`config.method` for SwAV: main_swav.py's values in the README's
  ImageNet scripts (official flag names in the comments)."""
  return ml_collections.ConfigDict(dict(
      name='swav',
      num_prototypes=3000,  # --nmb_prototypes
      proj_hidden=(2048,),  # --hidden_mlp
      proj_dim=128,  # --feat_dim
      temperature=0.1,
      epsilon=0.05,
      sinkhorn_iterations=3,
      crops_for_assign=(0, 1),
      queue_length=0,  # 0: no queue (3840 in the batch-256 scripts).
      epoch_queue_starts=15,
      freeze_prototypes_niters=313,  # Updates; 313 = 1 epoch at B = 4096.
  ))


def normalize_prototypes(kernel: jax.Array) -> jax.Array:
  """Each prototype (a column of the [D, K] kernel; a row of torch's [K, D]
  weight) to unit norm: the official `F.normalize(w, dim=1, p=2)`."""
  return losses.l2_normalize(kernel.T).T.astype(kernel.dtype)


class _Head(nn.Module):
  """Projector -> l2-normalise -> prototypes; (embedding, scores), f32."""
  proj_hidden: tuple
  proj_dim: int
  num_prototypes: int
  dtype: Any = jnp.float32
  bn_axis_name: str | None = None

  @nn.compact
  def __call__(self, x, train: bool = True):
    z = heads.MLP(hidden=self.proj_hidden, out=self.proj_dim, use_bias=True,
                  dtype=self.dtype, bn_axis_name=self.bn_axis_name,
                  name='projector')(x, train=train)
    z = losses.l2_normalize(z)
    # Scores in float32: they are divided by eps = 0.05 before an exp.
    scores = nn.Dense(self.num_prototypes, use_bias=False,
                      kernel_init=_TORCH_LINEAR, dtype=jnp.float32,
                      name='prototypes')(z)
    return z, scores


def _is_prototypes(path) -> bool:
  """Whether a model parameter path is the prototypes' kernel."""
  return [getattr(p, 'key', None) for p in path[:2]] == ['head', 'prototypes']


class Method(base.MethodBase):
  """SwAV: multi-crop, Sinkhorn assignments of the global crops, swapped."""
  num_views = _NUM_GLOBAL
  supports_local_crops = True

  def __init__(self, config, **kwargs):
    super().__init__(config, **kwargs)
    m = config.method
    self.model = multicrop.MultiCrop(self.backbone, _Head(
        proj_hidden=tuple(m.proj_hidden), proj_dim=m.proj_dim,
        num_prototypes=m.num_prototypes, dtype=self.dtype,
        bn_axis_name=self.bn_axis_name), num_global=_NUM_GLOBAL)
    self.assign_crops = tuple(m.crops_for_assign)
    # The official `queue_length -= queue_length % (batch_size * world)`.
    self.queue_length = m.queue_length - m.queue_length % config.batch_size
    self.queue_start = m.epoch_queue_starts * self.steps_per_epoch

  # ----------------------------------------------------------------- hooks
  def init(self, rng, views):
    variables = self.model.init(
        rng, multicrop.crop_groups(views, _NUM_GLOBAL), train=True)
    params, mutables = base.split_variables(variables)
    params = self.after_update(params, {}, 0)  # Normalised before step 0.
    extras = {}
    if self.queue_length:
      kernel = params['head']['prototypes']['kernel']
      extras = {'queue': jnp.zeros((len(self.assign_crops),
                                    self.queue_length, kernel.shape[0]),
                                   jnp.float32),
                'prototypes': jnp.copy(kernel)}
    return base.Variables(params, mutables, extras)

  def forward(self, params, mutables, extras, views, rng, train=True,
              example_ids=None):
    del extras, rng, example_ids  # No randomness of its own.
    (h, z, scores), mutables = self.model.apply(
        {'params': params, **mutables},
        multicrop.crop_groups(views, _NUM_GLOBAL), train=train,
        mutable=list(mutables))
    # Batch axis first (the pmap trainer all-gathers along axis 0).
    outputs = {
        'scores': scores,  # [N, C, K], all crops.
        # [N, A, 128]: what the queue keeps (official `embedding.detach()`).
        'assign_embeddings': jax.lax.stop_gradient(
            z[:, list(self.assign_crops)]),
        'features': h[:, 0],  # Backbone, global crop 0.
        'embedding': z[:, 0],
    }
    return outputs, mutables

  def _assignments(self, scores, extras):
    """q [A, N, K] of the assignment crops; with a full queue, Sinkhorn
    over its rows too. Returns (q, whether the queue took part)."""
    m = self.config.method
    sinkhorn = lambda s: losses.sinkhorn_knopp(s, m.epsilon,
                                               m.sinkhorn_iterations)
    batch = scores.shape[1]

    def batch_only():
      return jnp.stack([sinkhorn(scores[c]) for c in self.assign_crops])

    if not self.queue_length:
      return batch_only(), jnp.zeros((), jnp.float32)
    queue = extras['queue']
    full = jnp.any(queue[:, -1] != 0)

    def with_queue():
      queued = jnp.einsum('ald,dk->alk', queue, extras['prototypes'])
      return jnp.stack([
          sinkhorn(jnp.concatenate([queued[i], scores[c]]))[-batch:]
          for i, c in enumerate(self.assign_crops)])

    return jax.lax.cond(full, with_queue, batch_only), full.astype(
        jnp.float32)

  def objective(self, outputs, extras, step):
    del step
    scores = jnp.swapaxes(outputs['scores'], 0, 1)  # [C, N, K]
    q, in_use = self._assignments(jax.lax.stop_gradient(scores), extras)
    loss = losses.swav(scores, q, self.assign_crops,
                       self.config.method.temperature)
    aux = {'assign_embeddings': outputs['assign_embeddings']}
    return loss, {'swav': loss, 'queue_in_use': in_use}, aux

  def after_update(self, params, extras, step):
    """The prototypes back on the unit sphere (the official normalises
    them before each forward: the same weights at every forward)."""
    del extras, step
    head = dict(params['head'])
    head['prototypes'] = {'kernel': normalize_prototypes(
        head['prototypes']['kernel'])}
    return dict(params, head=head)

  def update_extras(self, extras, params, aux, step):
    """Pushes this step's assignment-crop embeddings (global batch) into
    the queue from its start epoch on; keeps the new prototypes."""
    if not self.queue_length:
      return extras
    new = jnp.swapaxes(aux['assign_embeddings'], 0, 1).astype(jnp.float32)
    queue = extras['queue']
    pushed = jnp.concatenate([new, queue[:, :-new.shape[1]]], axis=1)
    return {'queue': jnp.where(step >= self.queue_start, pushed, queue),
            'prototypes': params['head']['prototypes']['kernel']}

  def frozen_start(self):
    """(is the prototypes' kernel, steps): its optimizer skips the first
    freeze_prototypes_niters updates (optim.make), as SGD skips a grad of
    None."""
    steps = self.config.method.freeze_prototypes_niters
    return (_is_prototypes, steps) if steps else None

  def embed(self, params, mutables, extras, images):
    del extras  # The online backbone is evaluated.
    return self.model.apply({'params': params, **mutables}, images,
                            method=multicrop.MultiCrop.features)
