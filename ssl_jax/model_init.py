"""The safetensors format of a backbone, and runs started from it.

`python -m ssl_jax.export --format safetensors --out DIR` writes
`DIR/model.safetensors` (the Flax backbone's variables, flattened as
'params/stem/kernel', 'batch_stats/BatchNorm_0/mean', ...) and
`DIR/config.json` (the backbone config, input channels, image size, mean,
std, where it came from). `load(DIR)` gives the Flax variables back, for
`Backbone.apply` or fine-tuning, in JAX without Orbax.

`config.model_init=DIR` starts a new run from them: `initial_state` (called
by train.restore_or_init when there is no checkpoint to resume) fills every
copy of the backbone in the fresh state (the online network, and the EMA
teacher / target that starts as its copy) and the BatchNorm statistics,
found by their tree of names and shapes; heads, probe and optimizer state
keep their initialisation. `check` (called by config_lib.validate) refuses a
missing folder or another backbone before anything compiles or is written.
"""

import json
import os

import jax
import numpy as np

from ssl_jax import config_lib
from ssl_jax import models

WEIGHTS = 'model.safetensors'
CONFIG = 'config.json'
FORMAT = 'ssl_jax.flax'
# Options that change how a backbone computes or starts, not the shapes of
# its weights (a run started from exported weights ignores their init).
_NOT_ARCHITECTURE = ('conv_impl', 'remat', 'patch_init', 'qkv_init',
                     'cls_init_std')


def safetensors_numpy():
  """safetensors.numpy (the `export` extra), or a UserError saying so."""
  try:
    from safetensors import numpy as st  # pylint: disable=g-import-not-at-top
  except ImportError:
    raise config_lib.UserError(
        'Reading and writing safetensors needs the safetensors package: '
        'pip install "ssl_jax[export]" (or safetensors).') from None
  return st


def architecture(backbone) -> dict:
  """The options that fix a backbone's weights (ViT presets resolved)."""
  arch = {k: v for k, v in dict(backbone).items()
          if k not in _NOT_ARCHITECTURE}
  resolved = getattr(models.backbone_module(backbone.name), 'architecture',
                     None)
  if resolved is not None:
    arch.update(resolved(backbone))
  return {k: list(v) if isinstance(v, tuple) else v for k, v in arch.items()}


def flatten(variables) -> dict[str, np.ndarray]:
  flat = jax.tree_util.tree_flatten_with_path(variables)[0]
  return {'/'.join(str(k.key) for k in path):
          np.ascontiguousarray(jax.device_get(leaf)) for path, leaf in flat}


def unflatten(flat: dict) -> dict:
  tree = {}
  for name in sorted(flat):
    node = tree
    *parents, leaf = name.split('/')
    for key in parents:
      node = node.setdefault(key, {})
    node[leaf] = flat[name]
  return tree


def save(folder: str, variables, meta: dict) -> None:
  """Writes `variables` and `meta` (+ format and architecture) to folder."""
  safetensors_numpy().save_file(flatten(variables),
                                os.path.join(folder, WEIGHTS),
                                metadata={'format': FORMAT})
  with open(os.path.join(folder, CONFIG), 'w') as f:
    json.dump({'format': FORMAT, **meta}, f, indent=2)


def read_config(folder: str) -> dict:
  with open(os.path.join(folder, CONFIG)) as f:
    return json.load(f)


def load(folder: str) -> tuple[dict, dict]:
  """(Flax variables {'params', 'batch_stats'?}, config.json) of folder."""
  return (unflatten(safetensors_numpy().load_file(
      os.path.join(folder, WEIGHTS))), read_config(folder))


def check(config) -> None:
  """Raises ConfigError unless config.model_init holds this backbone."""
  path = config.model_init
  where = f'config.model_init={path!r}'
  missing = [n for n in (WEIGHTS, CONFIG)
             if not os.path.isfile(os.path.join(path, n))]
  if missing:
    raise config_lib.ConfigError(
        f'{where}: no {" or ".join(missing)} there; it must be a folder '
        'written by python -m ssl_jax.export --format safetensors.')
  meta = read_config(path)
  if meta.get('format') != FORMAT:
    raise config_lib.ConfigError(
        f'{where} holds format {meta.get("format")!r}, not {FORMAT!r}: '
        'export with --format safetensors.')
  saved, wanted = meta['architecture'], architecture(config.backbone)
  diffs = [f'backbone.{k}={saved.get(k)!r} there, {wanted.get(k)!r} here'
           for k in sorted(set(saved) | set(wanted))
           if saved.get(k) != wanted.get(k)]
  if meta['in_chans'] != len(config.data.mean):
    diffs.append(f'{meta["in_chans"]} input channels there, '
                 f'{len(config.data.mean)} here (config.data.mean)')
  if diffs:
    raise config_lib.ConfigError(
        f'{where} holds another backbone than config.backbone: '
        f'{"; ".join(diffs)}.')


def _shapes(tree) -> frozenset:
  flat = jax.tree_util.tree_flatten_with_path(tree)[0]
  return frozenset((jax.tree_util.keystr(p), tuple(x.shape))
                   for p, x in flat)


def _fill(tree, source, signature, put):
  """`tree` with every subtree shaped like `source` (same names, same
  shapes) replaced by `put(old, new)` leaf by leaf; and how many."""
  if not isinstance(tree, dict):
    return tree, 0
  if set(tree) == set(source) and _shapes(tree) == signature:
    return jax.tree.map(put, tree, source), 1
  out, count = {}, 0
  for key, child in tree.items():
    out[key], n = _fill(child, source, signature, put)
    count += n
  return out, count


def _place(old, new):
  """`new` (host) as an array placed like `old` (any sharding)."""
  new = np.asarray(new, old.dtype)
  return jax.make_array_from_callback(old.shape, old.sharding,
                                      lambda index: new[index])


def _with_backbone(state, variables, put):
  """(state with every backbone copy replaced, copies per collection)."""
  trees = {'params': state.params['model'], 'mutables': state.mutables,
           'extras': state.extras}
  counts = {}
  for collection, source in variables.items():
    signature = _shapes(source)
    for name, tree in trees.items():
      trees[name], n = _fill(tree, source, signature, put)
      counts[collection] = counts.get(collection, 0) + n
  state = state.replace(params=dict(state.params, model=trees['params']),
                        mutables=trees['mutables'], extras=trees['extras'])
  return state, counts


def initial_state(p, config, abstract):
  """The fresh TrainState of plan `p` (train.restore_or_init, when there is
  no checkpoint), its backbone copies from config.model_init when set."""
  if config.get('model_init') is None:
    return p.parallel.init_state(p.init_fn)
  variables, _ = load(config.model_init)
  # Matched on the abstract state first: a mismatch is refused before the
  # initialisation compiles.
  _, counts = _with_backbone(abstract, variables, lambda old, new: old)
  missing = [c for c in variables if not counts[c]]
  if missing:
    raise config_lib.ConfigError(
        f'config.model_init={config.model_init!r}: this run\'s state has no '
        f'{" or ".join(missing)} of the exported names and shapes (a ViT\'s '
        'learned positions follow aug.crop_size).')
  state = p.parallel.to_saveable(p.parallel.init_state(p.init_fn))
  state, _ = _with_backbone(state, variables, _place)
  return p.parallel.from_restored(state)
