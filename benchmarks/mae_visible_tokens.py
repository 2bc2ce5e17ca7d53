"""What encoding only the visible tokens saves: MAE's encoder step on the
kept 25% of the patches vs the same encoder on all of them.

  python benchmarks/mae_visible_tokens.py [--variant tiny] [--image 224] \
      [--patch 16] [--batch 64] [--mask_ratio 0.75] [--steps 5] [--out F]

Times forward + backward of `models.vit.ViT` (the MAE encoder: `keep=`
gathers the kept tokens by index, no masked attention) at the same batch,
both jitted, alternating in one run so machine load hits both alike. The
full-token row is what an encoder that masks by attention (or by a mask
token, as BEiT/SimMIM) pays: attention is quadratic and the MLP linear in the
token count, so the ratio approaches 1/(1 - mask_ratio) = 4x and beyond.
"""

import argparse
import sys
import time

import jax
import jax.numpy as jnp

from ssl_jax.data import masking
from ssl_jax.models import vit

sys.path.insert(0, __file__.rsplit('/', 1)[0])
import machine  # pylint: disable=g-import-not-at-top


def _step_fn(model, keep):
  def loss(params, x):
    tokens = model.apply({'params': params}, x, keep=keep,
                         return_tokens=True)
    return jnp.mean(tokens ** 2)
  return jax.jit(jax.value_and_grad(loss))


def _time(fn, params, x, steps):
  jax.block_until_ready(fn(params, x))  # Compile + warm-up.
  t0 = time.perf_counter()
  for _ in range(steps):
    jax.block_until_ready(fn(params, x))
  return (time.perf_counter() - t0) / steps


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--variant', default='tiny')
  parser.add_argument('--image', type=int, default=224)
  parser.add_argument('--patch', type=int, default=16)
  parser.add_argument('--batch', type=int, default=64)
  parser.add_argument('--mask_ratio', type=float, default=0.75)
  parser.add_argument('--steps', type=int, default=5)
  parser.add_argument('--rounds', type=int, default=2)
  parser.add_argument('--out', default=None)
  args = parser.parse_args()

  model = vit.ViT(variant=args.variant, patch_size=args.patch,
                  cls_token=True)
  x = jax.random.normal(jax.random.PRNGKey(0),
                        (args.batch, args.image, args.image, 3))
  params = model.init(jax.random.PRNGKey(1), x[:1])['params']
  num_patches = (args.image // args.patch) ** 2
  keep, _ = masking.mae_masks(jax.random.PRNGKey(2), jnp.arange(args.batch),
                             num_patches, args.mask_ratio)
  visible, full = _step_fn(model, keep), _step_fn(model, None)
  times = {'visible': [], 'full': []}
  for _ in range(args.rounds):  # Alternate: load hits both alike.
    times['visible'].append(_time(visible, params, x, args.steps))
    times['full'].append(_time(full, params, x, args.steps))
  best = {k: min(v) for k, v in times.items()}
  row = {'variant': args.variant, 'image': args.image, 'patch': args.patch,
         'batch': args.batch, 'mask_ratio': args.mask_ratio,
         'tokens_full': num_patches, 'tokens_visible': int(keep.shape[1]),
         'seconds_visible': best['visible'], 'seconds_full': best['full'],
         'images_per_second_visible': args.batch / best['visible'],
         'images_per_second_full': args.batch / best['full'],
         'speedup': best['full'] / best['visible']}
  print(f"| ViT-{args.variant} {args.image}px/{args.patch} B{args.batch} | "
        f"{num_patches} tokens: {args.batch / best['full']:.1f} img/s | "
        f"{int(keep.shape[1])} visible: "
        f"{args.batch / best['visible']:.1f} img/s | "
        f"{row['speedup']:.2f}x |")
  machine.report(row, args.out)


if __name__ == '__main__':
  main()
