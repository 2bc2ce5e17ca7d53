"""What a config trains with, step by step, without training: the numbers a
reproduction compares with a paper (`python -m ssl_jax.check_recipe`).

`compute(config)` builds the method and optimizer schedules exactly as the
trainer does (optim.group_schedules, optim.weight_decay_schedule, the
method's own momentum and temperature schedules, its `adjust_updates`
freezing) and evaluates them at the first, second and last update (state
steps 0, 1 and K - 1). Parameter shapes come from `jax.eval_shape` of the
method's init: nothing is allocated, no data is read. Durations written in
epochs need the train split's size: known for the datasets of the shipped
configs, otherwise `train_examples`.
"""

import dataclasses

import jax
import jax.numpy as jnp

from ssl_jax import config_checks
from ssl_jax import config_lib
from ssl_jax import optim

# Train split sizes (tfds), so epochs convert to steps without the data.
TRAIN_EXAMPLES = {'imagenet2012': 1_281_167, 'cifar10': 50_000,
                  'fashion_mnist': 60_000, 'fashion_mnist_offline': 60_000}


_ORDER = ('main', 'biases', 'predictor', 'frozen')


@dataclasses.dataclass(frozen=True)
class Row:
  """One parameter group at one step."""
  step: int
  group: str  # 'main', 'biases', 'predictor' or 'frozen'.
  ndim: str  # '>1' or '<=1': the arrays of the row.
  arrays: int
  params: int
  lr: float
  weight_decay: float
  trust_ratio: bool


@dataclasses.dataclass(frozen=True)
class Recipe:
  total_steps: int
  warmup_steps: int
  peak_lr: float  # Of the weights.
  steps_per_epoch: int
  train_examples: int | None
  steps: tuple[int, ...]
  rows: tuple[Row, ...]
  # step -> value, for methods with these schedules (else empty).
  ema_momentum: dict
  teacher_temp: dict
  views: tuple  # The method's ViewSpecs, global views first.
  frozen: dict  # step -> sorted paths of the arrays whose update is zeroed.


def train_examples(config, given: int | None = None) -> int | None:
  """The train split's size: `given`, the known table, or None when the
  durations are in steps (epochs need it: UserError naming the flag)."""
  if given is not None:
    if given < 1:
      raise config_lib.UserError(f'--train_examples={given} must be >= 1.')
    return given
  data = config.data
  known = TRAIN_EXAMPLES.get(data.name) if data.train_split == 'train' else None
  in_epochs = any(config.get(f'{k}_epochs') is not None
                  for k in config_lib.DURATION_KEYS)
  if known is None and in_epochs:
    raise config_lib.UserError(
        f'config.data.name={data.name!r} split {data.train_split!r}: its size '
        'is not known here and the durations are in epochs; give '
        f'--train_examples=N (known: {", ".join(sorted(TRAIN_EXAMPLES))}).')
  return known


def _path(path) -> str:
  return '/'.join(str(getattr(k, 'key', k)) for k in path)


def _frozen(method, leaves, treedef, step) -> frozenset:
  """Paths the optimizer skips at `step` (the method's frozen_start) or
  whose update the method zeroes (adjust_updates on a tree of scalar ones
  with the parameters' structure)."""
  late = method.frozen_start()
  skipped = {_path(p) for p, _ in leaves
             if late and step < late[1] and late[0](p)}
  ones = jax.tree.unflatten(treedef, [jnp.ones(())] * treedef.num_leaves)
  adjusted = jax.tree_util.tree_flatten_with_path(
      method.adjust_updates(ones, step))[0]
  return frozenset(skipped | {_path(p) for p, u in adjusted
                              if float(u) == 0.0})


def _rows(config, schedules, wd, leaves, frozen, step) -> list[Row]:
  """The parameter groups at `step`, split by ndim (what decay and the trust
  ratio depend on), with their counts, lr, weight decay and trust ratio."""
  counts = {}
  for path, leaf in leaves:
    name = ('frozen' if _path(path) in frozen
            else optim.group_of(config, path, leaf))
    count = counts.setdefault((name, '>1' if leaf.ndim > 1 else '<=1'),
                              [0, 0])
    count[0] += 1
    count[1] += leaf.size
  rows = []
  for (name, ndim), (arrays, size) in sorted(
      counts.items(), key=lambda kv: (_ORDER.index(kv[0][0]), kv[0][1])):
    decayed = name != 'frozen' and optim.decays(config,
                                                2 if ndim == '>1' else 1)
    rate = 0.0 if name == 'frozen' else float(schedules[name](step))
    decay = float(wd(step) if callable(wd) else wd) if decayed else 0.0
    rows.append(Row(step, name, ndim, arrays, size, rate, decay,
                    decayed and config.optim.name == 'lars'))
  return rows


def compute(config, train_examples_given: int | None = None) -> Recipe:
  """The recipe of `config` (validated as the trainer does).

  Raises:
    UserError: a bad config value (the key named) or an unknown train size.
  """
  config_lib.validate(config, num_devices=1)
  method_cls = config_checks.validate_method(config)
  examples = train_examples(config, train_examples_given)
  if examples is not None and examples < config.batch_size:
    raise config_lib.UserError(
        f'The train split has {examples} examples, fewer than one global '
        f'batch (config.batch_size={config.batch_size}).')
  per_epoch = examples // config.batch_size if examples else 1
  total = config_lib.steps_for(config, 'total', per_epoch)
  warmup = config_lib.steps_for(config, 'warmup', per_epoch)
  method = method_cls(config, total_steps=total, steps_per_epoch=per_epoch)
  schedules = optim.group_schedules(config, total, warmup, per_epoch)
  wd = optim.weight_decay_schedule(config, total)
  channels = len(config.data.mean)
  views = [jax.ShapeDtypeStruct((2, v.crop_size, v.crop_size, channels),
                                jnp.float32) for v in method.views]
  params = jax.eval_shape(
      lambda v: method.init(jax.random.PRNGKey(0), v).params, views)
  leaves, treedef = jax.tree_util.tree_flatten_with_path(params)
  steps = tuple(dict.fromkeys((0, min(1, total - 1), total - 1)))
  rows, frozen = [], {}
  for step in steps:
    frozen[step] = sorted(_frozen(method, leaves, treedef, step))
    rows += _rows(config, schedules, wd, leaves, set(frozen[step]), step)
  per_step = lambda fn: {s: float(fn(s)) for s in steps} if fn else {}
  return Recipe(total, warmup, optim.peak_lr(config), per_epoch, examples,
                steps, tuple(rows),
                per_step(getattr(method, 'momentum', None)),
                per_step(getattr(method, 'teacher_temp', None)),
                tuple(method.views), frozen)
