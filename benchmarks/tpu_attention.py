"""Where a small ViT's TPU estimate goes: its attention core, replaced.

  python benchmarks/tpu_attention.py [--config configs/dino_imagenet.py]
      [--topology v5p:2x2x1] [--per_chip 64] [--variants a,b] [--out F]

Compiles a config's backbone forward + backward alone (`ssl_jax.aot
--what=backbone`: all of the method's crops, no heads or loss) for a TPU
slice that is not attached, with `models/vit.attention` (softmax(q k^T)
v for every block) as written and replaced:

  as_written         the project's attention (two einsums, float32 softmax)
  no_attention_core  returns v: the blocks without q k^T, softmax and
                     their product with v (not a network; the ceiling of
                     the rest of the program, projections included)
  pallas_flash       jax's Pallas TPU flash attention kernel
                     (jax.experimental.pallas.ops.tpu.flash_attention),
                     tokens padded to its 128-token blocks and masked

XLA TPU has no model of a Pallas kernel's body: the compiled program
carries the cost the kernel declares (`pl.CostEstimate`; jax's flash
attention declares its forward's FLOPs and the bytes of its inputs and
outputs), so its row says what that declaration and the code around the
kernel add up to, not what the kernel would take. Every figure is XLA
TPU's compile-time estimate, not a measurement.
"""

import argparse
import json
import os
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
os.environ.setdefault('JAX_PLATFORMS', 'cpu')  # Compiled here, never run.

import jax  # pylint: disable=g-import-not-at-top
import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
from jax.sharding import PartitionSpec as P  # pylint: disable=g-import-not-at-top

from ssl_jax import aot  # pylint: disable=g-import-not-at-top
from ssl_jax import config_lib  # pylint: disable=g-import-not-at-top
from ssl_jax import parallel  # pylint: disable=g-import-not-at-top
from ssl_jax import tpu_chips  # pylint: disable=g-import-not-at-top
from ssl_jax.models import vit  # pylint: disable=g-import-not-at-top

_AS_WRITTEN = vit.attention
_BLOCK = 128  # The flash kernel's token block.
_MESH = [None]  # The slice's mesh, set by run() for the kernel's shard_map.


def _no_attention_core(q, k, v, key_mask=None):
  del q, k, key_mask
  return v


def _pallas_flash(q, k, v, key_mask=None):
  """[N, T, heads, d] in and out, as vit.attention; padding keys masked
  through the kernel's segment ids (padding rows are dropped after)."""
  from jax.experimental.pallas.ops.tpu import flash_attention as fa  # pylint: disable=g-import-not-at-top
  if key_mask is not None:
    raise ValueError('pallas_flash: key masks are not wired here (DINO and '
                     'MAE pass none).')
  n, t, _, d = q.shape
  if n % _MESH[0].size:  # The model's init traces one image: shapes only.
    return _AS_WRITTEN(q, k, v)
  padded = -(-t // _BLOCK) * _BLOCK

  def head_major(x):
    return jnp.pad(x, ((0, 0), (0, padded - t), (0, 0), (0, 0))).transpose(
        0, 2, 1, 3)

  real = jnp.broadcast_to((jnp.arange(padded) < t).astype(jnp.int32),
                          (n, padded))
  sizes = fa.BlockSizes(
      block_b=1, block_q=_BLOCK, block_k_major=_BLOCK, block_k=_BLOCK,
      block_q_major_dkv=_BLOCK, block_k_major_dkv=_BLOCK,
      block_k_dkv=_BLOCK, block_q_dkv=_BLOCK, block_k_major_dq=_BLOCK,
      block_k_dq=_BLOCK, block_q_dq=_BLOCK)

  def kernel(q, k, v, real):
    return fa.flash_attention(q, k, v, segment_ids=fa.SegmentIds(real, real),
                              sm_scale=d ** -0.5, block_sizes=sizes)

  # A Mosaic kernel is not partitioned by XLA: each device runs it on its
  # own images.
  batch = P(parallel.DATA_AXES)
  out = jax.shard_map(kernel, mesh=_MESH[0], in_specs=(batch,) * 4,
                      out_specs=batch, check_vma=False)(
                          head_major(q), head_major(k), head_major(v), real)
  return out.transpose(0, 2, 1, 3)[:, :t]


VARIANTS = {'as_written': _AS_WRITTEN,
            'no_attention_core': _no_attention_core,
            'pallas_flash': _pallas_flash}


def run(config_path: str, topology: str, per_chip: int, variant: str):
  config = config_lib.load_file(config_path)
  if config.backbone.name != 'vit':
    raise config_lib.ConfigError(
        f'{config_path}: backbone.name={config.backbone.name!r}; this '
        "benchmark replaces a ViT's attention, choose a config with 'vit'.")
  tpu = tpu_chips.get_slice(topology)
  config.batch_size = per_chip * tpu.num_chips
  # Abstract: the compile below builds its own devices for the slice.
  _MESH[0] = parallel.make_mesh(config, tpu.devices).abstract_mesh
  vit.attention = VARIANTS[variant]
  try:
    report = aot.compile_for_tpu(config, topology, what='backbone')
  finally:
    vit.attention = _AS_WRITTEN
  seconds = report['xla_estimated_step_seconds']
  return {'variant': variant, 'config': os.path.basename(config_path),
          'topology': topology, 'images_per_chip': per_chip,
          'xla_estimated_ms': None if seconds is None else 1e3 * seconds,
          'flops_per_chip_step': report['flops_per_chip_step'],
          'mfu': report['mfu'],
          'layout_copy_share': report['estimate_by_scope'].get(
              'layout_copy_share'),
          'compile_seconds': report['compile_seconds'],
          'note': "XLA TPU's compile-time estimate, not a measurement"}


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--config',
                      default=os.path.join(REPO, 'configs',
                                           'dino_imagenet.py'))
  parser.add_argument('--topology', default='v5p:2x2x1')
  parser.add_argument('--per_chip', type=int, default=64)
  parser.add_argument('--variants', default=','.join(VARIANTS))
  parser.add_argument('--out', default=None, help='Append JSON lines here.')
  args = parser.parse_args()
  variants = args.variants.split(',')
  unknown = sorted(set(variants) - set(VARIANTS))
  if unknown:
    sys.exit(f'--variants: unknown {unknown}; choose from {list(VARIANTS)}.')
  for variant in variants:
    try:
      row = run(args.config, args.topology, args.per_chip, variant)
    except config_lib.UserError as e:
      sys.exit(str(e))
    ms = row['xla_estimated_ms']
    print(f"{variant:18s} est. {'unavailable' if ms is None else f'{ms:.1f} ms'}"
          f"  MFU {row['mfu']:.1%}  layout copies "
          f"{row['layout_copy_share'] or 0:.0%}  (compiled in "
          f"{row['compile_seconds']:.0f} s)", flush=True)
    if args.out:
      with open(args.out, 'a') as f:
        f.write(json.dumps(row) + '\n')


if __name__ == '__main__':
  main()
