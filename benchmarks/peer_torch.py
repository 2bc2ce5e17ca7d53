"""Our JAX train step vs the same step in plain PyTorch, in one process.

  pip install torch==2.13.0        # or: pip install -e .[bench]
  python benchmarks/peer_torch.py --config configs/simclr_fashion_mnist.py
  python benchmarks/peer_torch.py --config configs/mae_fashion_mnist.py \
      [--config.backbone.depth=12] [--steps 5] [--rounds 3] [--out r.jsonl]

Ours: the config's real step (step_throughput.build: device augmentation,
online probe, the config's optimizer). Peer: the same model, loss and probe
written in plain PyTorch eager (the twins below, built from the same config
values: parameter counts are printed and must match), fed already-augmented
random images of the same shape. Optimizers: ours as configured (LARS for
SimCLR, AdamW for MAE); torch momentum SGD for SimCLR (LARS is not in
torch; either is an elementwise update, < 0.1% of the step's FLOPs), AdamW
for MAE. The two steps alternate in rounds after warm-up, so a machine
shared with other jobs slows both alike: compare within a round.
torch.set_num_threads(os.cpu_count()) (XLA uses every core by default) and
torch.set_flush_denormal(True) (XLA:CPU flushes denormals; --noflush_denormal
to see torch's default).

The twins (layer for layer):
  SimCLR: ResNet-18 (models/resnet.py: CIFAR stem 3x3/1 without max-pool,
    or 7x7/2 + max-pool; basic blocks, 1x1 projection shortcut when the
    shape changes, convolutions without bias, last BN of a block zero),
    the v2 projector (Dense without bias -> BN -> ReLU, last Dense -> BN
    without beta), NT-Xent at the config's temperature.
  MAE: ViT encoder on the kept patches (models/vit.py: conv patch embedding
    with bias, fixed sin-cos positions, CLS, pre-norm blocks, LayerNorm eps
    1e-6, exact GELU, SDPA attention), models/mae_decoder.py, norm_pix MSE
    on the removed patches.
Both train our step's online linear probe on the detached features. One
difference: torch pads a stride-2 3x3 convolution (1, 1) where 'SAME' pads
(0, 1) on even inputs: same shapes, same FLOPs.
"""

import os
import statistics
import sys
import time

from absl import app
from absl import flags
import jax
import numpy as np

from ssl_jax import config_lib
from ssl_jax import step as step_lib
from ssl_jax import train
from ml_collections import config_flags

sys.path.insert(0, __file__.rsplit('/', 1)[0])
import machine  # pylint: disable=g-import-not-at-top
import step_throughput  # pylint: disable=g-import-not-at-top

from ssl_jax.models import vit as jax_vit  # pylint: disable=g-import-not-at-top

torch = machine.require_torch('peer_torch.py')
nn, F = torch.nn, torch.nn.functional

_ROUNDS = flags.DEFINE_integer('rounds', 3, 'Alternating rounds.')
_CHANNELS_LAST = flags.DEFINE_bool(
    'channels_last', False, 'Run the torch ResNet in channels_last memory '
    'format.')
_FLUSH_DENORMAL = flags.DEFINE_bool(
    'flush_denormal', True, 'torch.set_flush_denormal: XLA:CPU flushes '
    'denormals to zero; torch does not by default, and a step that meets '
    'denormals (the MAE twin at depth 12) then ran 8x slower.')
# --config, --steps (timed steps per round), --out and --label are
# step_throughput.py's flags (defining them twice would clash).


class _BasicBlock(nn.Module):

  def __init__(self, cin, cout, stride):
    super().__init__()
    self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
    self.bn1 = nn.BatchNorm2d(cout, eps=1e-5, momentum=0.1)
    self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
    self.bn2 = nn.BatchNorm2d(cout, eps=1e-5, momentum=0.1)
    nn.init.zeros_(self.bn2.weight)  # Our zero-initialised last BN.
    self.shortcut = None
    if stride != 1 or cin != cout:
      self.shortcut = nn.Sequential(
          nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

  def forward(self, x):
    y = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
    return F.relu((x if self.shortcut is None else self.shortcut(x)) + y)


class ResNet18(nn.Module):
  """models/resnet.py's ResNet-18 (basic blocks only)."""

  def __init__(self, in_channels, width=1.0, cifar_stem=True):
    super().__init__()
    base = int(64 * width)
    if cifar_stem:
      stem = [nn.Conv2d(in_channels, base, 3, 1, 1, bias=False)]
    else:
      stem = [nn.Conv2d(in_channels, base, 7, 2, 3, bias=False)]
    stem += [nn.BatchNorm2d(base), nn.ReLU()]
    if not cifar_stem:
      stem.append(nn.MaxPool2d(3, 2, 1))
    layers, cin = [], base
    for i in range(4):
      for j in range(2):
        layers.append(_BasicBlock(cin, base * 2**i,
                                  2 if i > 0 and j == 0 else 1))
        cin = base * 2**i
    self.net = nn.Sequential(*stem, *layers)
    self.feature_dim = cin

  def forward(self, x):
    return self.net(x).mean(dim=(2, 3))


class _ScaleOnlyBN(nn.Module):
  """BatchNorm1d with a scale and no bias (SimCLR's last BN, 'no_beta')."""

  def __init__(self, dim):
    super().__init__()
    self.bn = nn.BatchNorm1d(dim, affine=False)
    self.scale = nn.Parameter(torch.ones(dim))

  def forward(self, x):
    return self.bn(x) * self.scale


class SimCLR(nn.Module):
  """Backbone + v2 projector + online probe; loss() is our step's loss."""

  def __init__(self, config, in_channels, num_classes=10):
    super().__init__()
    b, m = config.backbone, config.method
    if b.name != 'resnet' or b.depth != 18:
      raise ValueError('The torch SimCLR twin is ResNet-18 only.')
    self.backbone = ResNet18(in_channels, b.width, b.cifar_stem)
    layers, dim = [], self.backbone.feature_dim
    for hidden in m.proj_hidden:
      layers += [nn.Linear(dim, hidden, bias=False), nn.BatchNorm1d(hidden),
                 nn.ReLU()]
      dim = hidden
    layers += [nn.Linear(dim, m.proj_dim, bias=False),
               _ScaleOnlyBN(m.proj_dim)]
    self.projector = nn.Sequential(*layers)
    self.probe = nn.Linear(self.backbone.feature_dim, num_classes)
    self.temperature = m.temperature

  def loss(self, view1, view2, labels):
    n = view1.shape[0]
    h = self.backbone(torch.cat([view1, view2]))
    z = F.normalize(self.projector(h), dim=1)
    logits = z @ z.T / self.temperature
    logits = logits.masked_fill(
        torch.eye(2 * n, dtype=torch.bool), -1e9)
    positives = torch.cat([torch.arange(n, 2 * n), torch.arange(n)])
    ssl = F.cross_entropy(logits, positives)
    probe = F.cross_entropy(self.probe(h[:n].detach()), labels)
    return ssl + probe


class _Block(nn.Module):
  """models/vit.py's pre-norm block."""

  def __init__(self, dim, heads, mlp_ratio):
    super().__init__()
    self.heads = heads
    self.norm1 = nn.LayerNorm(dim, eps=1e-6)
    self.qkv = nn.Linear(dim, 3 * dim)
    self.proj = nn.Linear(dim, dim)
    self.norm2 = nn.LayerNorm(dim, eps=1e-6)
    self.fc1 = nn.Linear(dim, int(dim * mlp_ratio))
    self.fc2 = nn.Linear(int(dim * mlp_ratio), dim)

  def forward(self, x):
    n, length, dim = x.shape
    qkv = self.qkv(self.norm1(x)).reshape(n, length, 3, self.heads, -1)
    q, k, v = qkv.permute(2, 0, 3, 1, 4)
    out = F.scaled_dot_product_attention(q, k, v)
    x = x + self.proj(out.transpose(1, 2).reshape(n, length, dim))
    return x + self.fc2(F.gelu(self.fc1(self.norm2(x))))


class MAE(nn.Module):
  """ViT encoder on kept patches + MAE decoder + online probe on CLS."""

  def __init__(self, config, in_channels, num_classes=10):
    super().__init__()
    b, m = config.backbone, config.method
    preset = jax_vit.PRESETS.get(b.variant, {}) if b.variant else {}
    dim = b.dim or preset['dim']
    depth = b.depth or preset['depth']
    heads = b.heads or preset['heads']
    p, size = b.patch_size, config.aug.crop_size
    self.p, self.grid = p, size // p
    self.num_patches = self.grid**2
    self.num_keep = int(self.num_patches * (1 - m.mask_ratio))
    self.patch_embed = nn.Conv2d(in_channels, dim, p, p)
    self.register_buffer('pos', torch.from_numpy(
        jax_vit.sincos_2d(dim, self.grid, self.grid))[None])
    self.cls = nn.Parameter(torch.randn(1, 1, dim) * 0.02)
    self.blocks = nn.ModuleList(
        [_Block(dim, heads, b.mlp_ratio) for _ in range(depth)])
    self.norm = nn.LayerNorm(dim, eps=1e-6)
    self.dec_embed = nn.Linear(dim, m.decoder_dim)
    self.mask_token = nn.Parameter(torch.randn(1, 1, m.decoder_dim) * 0.02)
    self.register_buffer('dec_pos', torch.cat([
        torch.zeros(1, m.decoder_dim), torch.from_numpy(
            jax_vit.sincos_2d(m.decoder_dim, self.grid, self.grid))])[None])
    self.dec_blocks = nn.ModuleList(
        [_Block(m.decoder_dim, m.decoder_heads, b.mlp_ratio)
         for _ in range(m.decoder_depth)])
    self.dec_norm = nn.LayerNorm(m.decoder_dim, eps=1e-6)
    self.pred = nn.Linear(m.decoder_dim, p * p * in_channels)
    self.probe = nn.Linear(dim, num_classes)

  def patchify(self, x):
    """NCHW -> [N, L, p*p*C], patches.py's order (row, column, channel)."""
    n, c, _, _ = x.shape
    x = x.reshape(n, c, self.grid, self.p, self.grid, self.p)
    return x.permute(0, 2, 4, 3, 5, 1).reshape(n, self.num_patches, -1)

  def loss(self, images, labels):
    n = images.shape[0]
    x = self.patch_embed(images).flatten(2).transpose(1, 2) + self.pos
    keep = torch.rand(n, self.num_patches).argsort(1)[:, :self.num_keep]
    x = torch.gather(x, 1, keep[..., None].expand(-1, -1, x.shape[-1]))
    x = torch.cat([self.cls.expand(n, -1, -1), x], 1)
    for block in self.blocks:
      x = block(x)
    x = self.norm(x)
    probe = F.cross_entropy(self.probe(x[:, 0].detach()), labels)
    y = self.dec_embed(x)
    full = self.mask_token.expand(n, self.num_patches, -1).clone()
    full = full.scatter(1, keep[..., None].expand(-1, -1, y.shape[-1]),
                        y[:, 1:])
    y = torch.cat([y[:, :1], full], 1) + self.dec_pos
    for block in self.dec_blocks:
      y = block(y)
    pred = self.pred(self.dec_norm(y))[:, 1:]
    target = self.patchify(images)
    target = (target - target.mean(-1, keepdim=True)) / torch.sqrt(
        target.var(-1, keepdim=True) + 1e-6)
    mask = torch.ones(n, self.num_patches).scatter(1, keep, 0.0)
    per_patch = ((pred - target)**2).mean(-1)
    return (per_patch * mask).sum() / mask.sum() + probe


# ------------------------------------------------------------------ runner
def _count(tree) -> int:
  return sum(int(np.prod(x.shape)) for x in jax.tree.leaves(tree))


def jax_side(config):
  """(run() -> metrics, parameter count, augmentation s per step,
  compile s)."""
  train_step, state, batch = step_throughput.build(config)
  params = _count(state.params)
  holder = {'state': state}

  def run():
    holder['state'], metrics = train_step(holder['state'], batch)
    return metrics

  t0 = time.perf_counter()
  jax.block_until_ready(run())
  compile_s = time.perf_counter() - t0
  for _ in range(2):
    jax.block_until_ready(run())
  # The device augmentation inside our step, timed alone: the peer gets
  # its views ready-made.
  method = train.plan(config).method
  device_batch = jax.tree.map(jax.numpy.asarray, batch)
  augment = jax.jit(lambda b: step_lib.augment_views(
      method, b, jax.random.PRNGKey(0)))
  jax.block_until_ready(augment(device_batch))
  t0 = time.perf_counter()
  for _ in range(5):
    out = augment(device_batch)
  jax.block_until_ready(out)
  return run, params, (time.perf_counter() - t0) / 5, compile_s


def torch_side(config, channels, num_classes=10):
  """(run() -> loss, parameter count)."""
  torch.manual_seed(0)
  b, size = config.batch_size, config.aug.crop_size
  images = lambda: torch.randn(b, channels, size, size)
  labels = torch.randint(0, num_classes, (b,))
  if config.method.name == 'simclr':
    model = SimCLR(config, channels, num_classes)
    views = [images(), images()]
    if _CHANNELS_LAST.value:
      model = model.to(memory_format=torch.channels_last)
      views = [v.contiguous(memory_format=torch.channels_last)
               for v in views]
    loss_fn = lambda: model.loss(*views, labels)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9,
                          weight_decay=config.optim.weight_decay)
  elif config.method.name == 'mae':
    model = MAE(config, channels, num_classes)
    x = images()
    loss_fn = lambda: model.loss(x, labels)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4,
                            betas=(config.optim.b1, config.optim.b2),
                            weight_decay=config.optim.weight_decay)
  else:
    raise app.UsageError('peer_torch.py has twins for simclr and mae.')
  model.train()

  def run():
    opt.zero_grad(set_to_none=True)
    loss = loss_fn()
    loss.backward()
    opt.step()
    return loss

  for _ in range(3):  # oneDNN builds its kernels in the first steps.
    run()
  return run, sum(p.numel() for p in model.parameters())


def _seconds(run, steps, sync):
  t0 = time.perf_counter()
  for _ in range(steps):
    out = run()
  sync(out)
  return (time.perf_counter() - t0) / steps


def main(argv):
  del argv
  config = flags.FLAGS.config
  config_lib.prefer_overridden_durations(
      config, config_flags.get_override_values(flags.FLAGS['config']))
  torch.set_num_threads(os.cpu_count())
  torch.set_flush_denormal(_FLUSH_DENORMAL.value)
  channels = len(config.data.mean)
  ours, ours_params, augment_s, compile_s = jax_side(config)
  peer, peer_params = torch_side(config, channels)
  steps, n = flags.FLAGS.steps, config.batch_size
  ours_ips, peer_ips = [], []
  for _ in range(_ROUNDS.value):
    ours_ips.append(n / _seconds(ours, steps, jax.block_until_ready))
    peer_ips.append(n / _seconds(peer, steps, lambda loss: loss.item()))
  ratios = [o / p for o, p in zip(ours_ips, peer_ips)]
  # Other jobs on a shared CPU slow a round; torch's OpenMP barriers suffer
  # most (a descheduled thread stalls the op). The best round of each side
  # is the least disturbed estimate; both are reported.
  best = max(ours_ips) / max(peer_ips)
  b = config.backbone
  model = (f'ResNet-{b.depth} x{b.width}' if b.name == 'resnet'
           else f'ViT d{b.dim} x{b.depth} /{b.patch_size}')
  row = dict(
      method=config.method.name, model=model, backbone=dict(b),
      batch_size=n, crop_size=config.aug.crop_size, steps=steps,
      params_ours=ours_params, params_peer=peer_params,
      ours_images_per_second=ours_ips, peer_images_per_second=peer_ips,
      ratio_ours_over_peer=ratios, ratio_best_rounds=best,
      ours_augment_ms=1000 * augment_s, ours_compile_seconds=compile_s,
      torch=torch.__version__, torch_threads=torch.get_num_threads(),
      channels_last=_CHANNELS_LAST.value,
      flush_denormal=_FLUSH_DENORMAL.value, label=flags.FLAGS.label,
      load_average_1m=os.getloadavg()[0])
  fmt = lambda v: ', '.join(f'{x:.1f}' for x in v)
  print('\n| method | model | batch | params ours / peer | ours img/s | '
        'peer img/s | ours/peer per round | median | best/best |\n'
        '|---|---|---|---|---|---|---|---|---|')
  print(f'| {config.method.name} | {model} | {n} | {ours_params:,} / '
        f'{peer_params:,} | {fmt(ours_ips)} | {fmt(peer_ips)} | '
        f'{", ".join(f"{r:.2f}" for r in ratios)} | '
        f'{statistics.median(ratios):.2f} | {best:.2f} |')
  print(f'(ours includes {1000 * augment_s:.1f} ms of device augmentation '
        f'per step; compile + first step {compile_s:.1f} s)')
  if ours_params != peer_params:
    print(f'WARNING: parameter counts differ: {ours_params} vs '
          f'{peer_params}.')
  machine.report(row, flags.FLAGS.out)


if __name__ == '__main__':
  flags.mark_flags_as_required(['config'])
  app.run(main)
