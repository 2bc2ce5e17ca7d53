"""The method contract: backbone + heads + pure loss + view policy.

A method is a module defining a class `Method` (a MethodBase subclass):
`ssl_jax/methods/<name>.py`, found by `config.method.name = '<name>'`, or
any importable module, found by its import path (`'my_pkg.my_method'`;
docs/own_method.md). No routing table. The trainer owns everything generic:
device augmentation of the views, the online probe, the optimizer,
parallelism, checkpoints. In order of use, a method supplies:

Module level (optional)
  default_config()   config.method's keys and defaults (evaluation fills
                     keys an older config.json lacks from it);
  validate_config(config)   checks config.method's values before anything
                     is built (config_checks.validate_method; a static
                     method of the class works too).
Class attributes
  num_views          global views (default 2); `supports_local_crops`:
                     multi-crop allowed (config.aug.local_crops);
                     `self.views` (the ViewSpecs the pipeline produces) and
                     `self.backbone` are built by MethodBase.__init__.
Hooks, per step (inside the jitted or pmapped step)
  init(rng, views)   its variables {params, mutables, extras} (required);
  forward(params, mutables, extras, views, rng, train, example_ids)
                     per-example outputs of one batch (required; runs per
                     device in pmap mode, so it must not mix examples except
                     through BN); `rng` is the step's key (the same on every
                     device: draw per-batch randomness from it, e.g.
                     I-JEPA's block sizes), `example_ids` the examples'
                     positions in the global batch (per-example randomness:
                     fold_in(rng, id), e.g. MAE masks, identical under jit
                     and pmap);
  objective(outputs, extras, step)   (loss, metrics, aux) from the (global)
                     outputs (required): pure, no collectives;
  adjust_updates(updates, step)   edits the optimizer's updates before they
                     are applied (DINO's frozen last layer), default none;
  after_update(params, extras, step)   edits the new parameters after the
                     optimizer step (SwAV's prototypes back on the unit
                     sphere), default none;
  update_extras(extras, params, aux, step)   non-gradient state after the
                     update (EMA teacher, centre, queue), default none.
Evaluation and export
  embed(params, mutables, extras, images)   backbone features [N, F] of the
                     network the paper evaluates (required);
  backbone_params / backbone_variables   the backbone weights fine-tuned
                     and exported (default: the trained `params['backbone']`).

Why forward/objective are split: under jit the batch is global and the split
is invisible; under pmap the trainer gathers the outputs between the two, so
no loss ever needs an axis name (the table of
docs/methods.md#where-the-cross-device-op-goes becomes one line in the
trainer).

`forward` must return `features` (backbone features of view 0, fed to the
online probe under stop_gradient) and `embedding` (the vectors the loss
compares, for the collapse metric).

Shared parts live beside the methods, not in them: two_view.py (the
backbone -> projector (-> predictor) network, init and embed of SimCLR,
Barlow Twins, VICReg, SimSiam, BYOL and MoCo v3, and the EMA target of the
last two), models/multicrop.py (DINO's and SwAV's multi-crop network),
models/patches.py (the masked methods' patch grid). A method imports no
other method.
"""

from typing import Any

import flax.struct
import jax
import jax.numpy as jnp

from ssl_jax import config_lib
from ssl_jax import models
from ssl_jax.data import views as views_lib
from ssl_jax.models import multicrop

Params = Any
Outputs = dict[str, jax.Array]


@flax.struct.dataclass
class Variables:
  """A method's variables: a pytree, so `jax.jit(method.init)` works."""
  params: Params
  mutables: dict
  extras: dict


class MethodBase:
  """Shared plumbing; subclasses set `num_views` and the four hooks."""
  num_views: int = 2  # Global views; DINO-style methods add local crops.
  supports_local_crops: bool = False

  def __init__(self, config, *, bn_axis_name: str | None = None,
               total_steps: int = 1, steps_per_epoch: int = 1):
    """Builds the backbone and views from `config`.

    Args:
      config: the full ConfigDict.
      bn_axis_name: pmap axis for BatchNorm statistics (None under jit).
      total_steps: length of training, for schedules a method owns (EMA
        momentum, DINO's teacher temperature).
      steps_per_epoch: for schedules written in epochs.
    """
    self.config = config
    self.total_steps = total_steps
    self.steps_per_epoch = steps_per_epoch
    self.dtype = jnp.dtype(config.dtype)
    self.bn_axis_name = bn_axis_name
    self.backbone = models.build_backbone(config.backbone, self.dtype,
                                          bn_axis_name)
    if config.aug.get('local_crops', 0) and not self.supports_local_crops:
      raise config_lib.ConfigError(
          f'config.aug.local_crops={config.aug.local_crops}: method '
          f'{config.method.name!r} does not use multi-crop; set it to 0.')
    self.views = views_lib.views_from_config(config.aug, self.num_views)
    # Views of one size through one call, BatchNorm statistics per view
    # (apply_per_view); False: one call per view.
    self.fuse_views = bool(config.get('fuse_views', True))

  def init(self, rng, views) -> Variables:
    raise NotImplementedError

  def forward(self, params, mutables, extras, views, rng, train=True,
              example_ids=None):
    raise NotImplementedError

  def objective(self, outputs: Outputs, extras, step):
    """Returns (loss, metrics dict, aux for update_extras)."""
    raise NotImplementedError

  def after_update(self, params, extras, step):
    """Edits the new parameters after the optimizer step (default: none).

    For constraints a gradient step cannot keep: SwAV's prototypes back on
    the unit sphere, weight normalisation. Runs inside the jitted step on
    the updated `params` (the model's), with the step's incoming `extras`,
    before `update_extras` (an EMA teacher then follows the edited weights);
    under pmap every device edits its own replica alike, so jit and pmap
    stay equal. Returns params of the same structure.
    """
    del extras, step
    return params

  def update_extras(self, extras, params, aux, step):
    del params, aux, step
    return extras

  def frozen_start(self):
    """None, or (is_frozen(path of a model parameter) -> bool, steps): the
    arrays whose optimizer skips the first `steps` updates, moments
    included (optim.make; DINO's last layer in epoch 0)."""
    return None

  def adjust_updates(self, updates, step):
    """Edits the model's optimizer updates before they are applied.

    For freezing parameters for a while (DINO's last layer in epoch 0):
    zeroing the update, not the gradient, also stops weight decay.
    """
    del step
    return updates

  def embed(self, params, mutables, extras, images):
    """Backbone features in evaluation mode, [N, F] (the network the paper
    evaluates: the online one, or DINO's teacher from `extras`)."""
    raise NotImplementedError

  def backbone_params(self, params, extras):
    """The backbone weights evaluated and fine-tuned (default: the trained
    `params['backbone']`; I-JEPA: its target encoder)."""
    del extras
    return params['backbone']

  def backbone_variables(self, params, mutables, extras) -> dict:
    """Flax variables of the backbone `embed` evaluates, for fine-tuning:
    {'params': ..., 'batch_stats': ... (ResNets)}."""
    variables = {'params': self.backbone_params(params, extras)}
    stats = mutables.get('batch_stats', {})
    if 'backbone' in stats:
      variables['batch_stats'] = stats['backbone']
    return variables


def apply_per_view(model, params, mutables, views, *, train=True,
                   method=None, fuse: bool = True):
  """Runs `model` on each view with BatchNorm statistics of that view alone.

  The official BYOL, SimSiam, MoCo v3, Barlow Twins and VICReg code calls the
  network once per view (unlike SimCLR's concatenation), and the running
  averages are updated once per view, as PyTorch's. With `fuse` (and views
  of one shape) the views go through one call, image-major (the views of
  each image together: a sharded batch keeps each device's rows on it),
  whose BatchNorms keep a group of statistics per view
  (`groups=len(views)`, models/norms.py): the same function, computed on a
  batch as large as all the views together, which accelerators run faster
  (docs/tpu.md). The model must then take a `groups` keyword. Otherwise one
  call per view. Returns (list of per-view outputs, new mutables).
  """
  if fuse and len({x.shape for x in views}) == 1 and len(views) > 1:
    out, mutables = model.apply({'params': params, **mutables},
                                multicrop.image_major(views), train=train,
                                groups=len(views), mutable=list(mutables),
                                method=method)
    outputs = [jax.tree.map(
        lambda t, i=i: multicrop.view_of(t, i, len(views)), out)
              for i in range(len(views))]
    return outputs, mutables
  outputs = []
  for x in views:
    out, mutables = model.apply({'params': params, **mutables}, x,
                                train=train, mutable=list(mutables),
                                method=method)
    outputs.append(out)
  return outputs, mutables


def split_variables(variables) -> tuple[Params, dict]:
  """Flax variables -> (params, everything else, e.g. batch_stats)."""
  variables = dict(variables)
  params = variables.pop('params')
  return params, variables
