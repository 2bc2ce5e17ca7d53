"""Where XLA:CPU loses to PyTorch: the train steps' kernels one by one.

  pip install torch==2.13.0        # the `bench` extra of setup.cfg
  python benchmarks/cpu_kernels.py [--rounds 3] [--out kernels.jsonl]

peer_torch.py compares whole train steps; this takes them apart. Each row is
one kind of operation at the shapes of the CPU demos (the MAE ViT: 256
images of 17 decoder / 5 encoder tokens; the ResNet-18 at width 1, 32 px,
128 images), timed in JAX (jitted, float32) and in torch eager (float32,
every core, denormals flushed), alternating in rounds in one process:

  dense fwd      x @ W             [N, k] x [k, m]  (forward)
  dense dx       dy @ W^T          (input gradient)
  dense dW       x^T @ dy          (weight gradient: contracts the N rows)
  transpose      x^T materialised
  gelu           exact GELU, forward + backward
  layernorm      LayerNorm, forward + backward
  attention      softmax(q k^T) v over heads, forward + backward
  conv fwd / dx / dW   3x3 convolution, stride 1, SAME, NHWC (torch: NCHW)
  bf16 matmul    x @ W in bfloat16

GFLOP/s are 2 x multiply-adds for the matmuls and convolutions; for the
other rows only milliseconds mean anything. "ours/torch" > 1: ours faster.
"""

import os
import sys
import time

from absl import app
from absl import flags
import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, __file__.rsplit('/', 1)[0])
import machine  # pylint: disable=g-import-not-at-top

from ssl_jax.models import vit  # pylint: disable=g-import-not-at-top

torch = machine.require_torch('cpu_kernels.py')
F = torch.nn.functional

_ROUNDS = flags.DEFINE_integer('rounds', 3, 'Alternating rounds.')
_REPEATS = flags.DEFINE_integer('repeats', 20, 'Calls timed per round.')
_OUT = flags.DEFINE_string('out', None, 'Append the JSON rows here.')


def _rand(*shape):
  return np.random.default_rng(0).standard_normal(shape, np.float32)


def _grad_of_sum(f, *argnums):
  """jit(grad(sum(f(...)**2))), the forward and backward of f."""
  return jax.jit(jax.grad(lambda *a: jnp.sum(f(*a) ** 2),
                          argnums=argnums or 0))


def _torch_fwd_bwd(f, *xs):
  xs = [x.clone().requires_grad_(True) for x in xs]

  def run():
    for x in xs:  # Fresh gradients, as JAX returns: no accumulation.
      x.grad = None
    (f(*xs) ** 2).sum().backward()
    return xs[0].grad
  return run


def _cases():
  """(name, GFLOP or None, jax fn, jax args, torch fn (no args)).

  The torch functions bind their tensors as default arguments: a closure
  over the loop's variables would run the last shape's tensors.
  """
  cases = []
  mm = lambda a, b: a @ b
  for n, k, m in [(4352, 128, 512), (4352, 512, 128), (1280, 192, 768),
                  (1280, 768, 192)]:
    x, w, dy = _rand(n, k), _rand(k, m), _rand(n, m)
    tx, tw, tdy = map(torch.from_numpy, (x, w, dy))
    gf = 2 * n * k * m / 1e9
    shape = f'{n}x{k}x{m}'
    cases += [
        (f'dense fwd {shape}', gf, jax.jit(mm), (x, w),
         lambda tx=tx, tw=tw: tx @ tw),
        (f'dense dx {shape}', gf, jax.jit(lambda d, w: d @ w.T), (dy, w),
         lambda tdy=tdy, tw=tw: tdy @ tw.T),
        (f'dense dW {shape}', gf, jax.jit(lambda x, d: x.T @ d), (x, dy),
         lambda tx=tx, tdy=tdy: tx.T @ tdy),
        (f'transpose {n}x{k}', None, jax.jit(lambda x: x.T + 0), (x,),
         lambda tx=tx: tx.T.contiguous()),
    ]
  h = _rand(256, 17, 512)
  cases.append(('gelu fwd+bwd 256x17x512', None, _grad_of_sum(vit.gelu),
                (h,), _torch_fwd_bwd(F.gelu, torch.from_numpy(h))))
  t = _rand(256, 17, 128)
  ln = lambda x: jax.nn.standardize(x, epsilon=1e-6)
  cases.append(('layernorm fwd+bwd 256x17x128', None, _grad_of_sum(ln),
                (t,), _torch_fwd_bwd(
                    lambda x: F.layer_norm(x, (128,), eps=1e-6),
                    torch.from_numpy(t))))
  q, kk, v = (_rand(256, 17, 4, 32) for _ in range(3))
  tq, tk, tv = (torch.from_numpy(a.transpose(0, 2, 1, 3).copy())
                for a in (q, kk, v))
  cases.append(('attention fwd+bwd 256x17, 4 heads of 32', None,
                _grad_of_sum(jax.nn.dot_product_attention, 0, 1, 2),
                (q, kk, v), _torch_fwd_bwd(F.scaled_dot_product_attention,
                                           tq, tk, tv)))
  for c, size in [(64, 32), (256, 8)]:
    img, ker = _rand(128, size, size, c), _rand(3, 3, c, c)
    dims = ('NHWC', 'HWIO', 'NHWC')
    conv = lambda a, b: jax.lax.conv_general_dilated(
        a, b, (1, 1), 'SAME', dimension_numbers=dims)
    dout = _rand(128, size, size, c)
    timg = torch.from_numpy(img.transpose(0, 3, 1, 2).copy())
    tker = torch.from_numpy(ker.transpose(3, 2, 0, 1).copy())
    tdout = torch.from_numpy(dout.transpose(0, 3, 1, 2).copy())
    gf = 2 * 128 * size * size * 9 * c * c / 1e9
    vjp = lambda a, b, d: jax.vjp(conv, a, b)[1](d)
    shape = f'{c}->{c} {size}px x128'
    cases += [
        (f'conv fwd {shape}', gf, jax.jit(conv), (img, ker),
         lambda timg=timg, tker=tker: F.conv2d(timg, tker, padding=1)),
        (f'conv dx {shape}', gf, jax.jit(lambda a, b, d: vjp(a, b, d)[0]),
         (img, ker, dout), lambda timg=timg, tker=tker, tdout=tdout:
         torch.nn.grad.conv2d_input(timg.shape, tker, tdout, padding=1)),
        (f'conv dW {shape}', gf, jax.jit(lambda a, b, d: vjp(a, b, d)[1]),
         (img, ker, dout), lambda timg=timg, tker=tker, tdout=tdout:
         torch.nn.grad.conv2d_weight(timg, tker.shape, tdout, padding=1)),
    ]
  a16, b16 = _rand(4352, 128), _rand(128, 512)
  ta16, tb16 = (torch.from_numpy(v).bfloat16() for v in (a16, b16))
  cases.append(('bf16 matmul 4352x128x512', 2 * 4352 * 128 * 512 / 1e9,
                jax.jit(mm), (jnp.asarray(a16, jnp.bfloat16),
                              jnp.asarray(b16, jnp.bfloat16)),
                lambda: ta16 @ tb16))
  return cases


def _ms(run, repeats, sync):
  sync(run())  # Warm: compiled / oneDNN kernels built.
  t0 = time.perf_counter()
  for _ in range(repeats):
    out = run()
  sync(out)
  return 1000 * (time.perf_counter() - t0) / repeats


def main(argv):
  del argv
  torch.set_num_threads(os.cpu_count())
  torch.set_flush_denormal(True)
  rows, table = [], []
  for name, gflop, fn, args, peer in _cases():
    args = [jnp.asarray(a) for a in args]
    ours, theirs = [], []
    for _ in range(_ROUNDS.value):
      ours.append(_ms(lambda: fn(*args), _REPEATS.value,
                      jax.block_until_ready))
      theirs.append(_ms(peer, _REPEATS.value, lambda out: out.sum().item()))
    o, t = min(ours), min(theirs)  # Least disturbed round of each.
    rate = lambda ms: f'{gflop / ms * 1e3:.0f}' if gflop else ''
    table.append(f'| {name} | {o:.2f} | {t:.2f} | {rate(o)} | {rate(t)} | '
                 f'{t / o:.2f} |')
    rows.append(dict(kernel=name, gflop=gflop, ours_ms=ours, torch_ms=theirs,
                     ratio_best=t / o, torch=torch.__version__,
                     load_average_1m=os.getloadavg()[0]))
  for row in rows:
    machine.report(row, _OUT.value)
  print('\n| kernel | ours ms | torch ms | ours GFLOP/s | torch GFLOP/s | '
        'ours/torch |\n|---|---|---|---|---|---|')
  print('\n'.join(table))

if __name__ == '__main__':
  app.run(main)
