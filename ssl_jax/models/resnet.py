"""ResNet backbones (He et al., arXiv 1512.03385) in Flax.

`ResNet(depth=18|34|50|101|152, width=1.0, cifar_stem=...)` returns globally
average-pooled features ([N, 512 * width] for 18/34, [N, 2048 * width] for 50+).
The CIFAR stem (3x3 stride-1 convolution, no max-pool) is the one solo-learn
and the SimCLR CIFAR recipe use for 32 px images. BatchNorm follows the SSL
recipes: momentum 0.9, eps 1e-5, statistics over the global batch (under jit
the batch is global; under pmap `bn_axis_name` syncs them). The last BN of each
residual branch starts at zero (SimCLR's `init_zero`), so every block starts as
the identity.

`conv_impl` picks how the convolutions are computed (same parameters, same
function): 'xla' is nn.Conv; 'im2col' / 'wgrad' are models/cpu_conv.py's
patches + matmul forms for XLA:CPU; 'auto' (default) is CPU_CONV_IMPL when
jax's default backend is the CPU and 'xla' elsewhere (GPU/TPU keep their
native convolutions).

`space_to_depth_stem=True` computes the ImageNet stem (7x7, stride 2) as
MLPerf's TPU ResNet-50 does: the padded image regrouped into 2x2 blocks
(3 -> 12 channels, half the height and width) and a 4x4 stride-1
convolution whose kernel is the same 7x7 parameter regrouped (zeros where
7 < 8). The same parameter, the same function (tests/models/test_resnet.py
checks values and gradients against the plain stem); a TPU's matrix unit
sees a contraction of 192 instead of convolving 3 channels.
"""

import functools
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from ssl_jax import config_checks
from ssl_jax import parallel

from ssl_jax.models import cpu_conv
from ssl_jax.models import norms

_STAGES = {
    18: ('basic', (2, 2, 2, 2)),
    34: ('basic', (3, 4, 6, 3)),
    50: ('bottleneck', (3, 4, 6, 3)),
    101: ('bottleneck', (3, 4, 23, 3)),
    152: ('bottleneck', (3, 8, 36, 3)),
}

# What conv_impl='auto' means on CPU, chosen by the full train step
# (benchmarks/conv_cpu.py, docs/performance.md). On the AVX-512 Xeon measured
# last, the matmul forms ran the demo (width 0.125) at 0.53-0.70x of XLA's
# own convolution and width 1 at 0.88-1.16x ('wgrad' +4-9% in the steadier
# run): 'xla'. A 2-core AMD Zen 3 ran 'im2col' 1.5-1.7x faster at width 1:
# set conv_impl there after measuring.
CPU_CONV_IMPL = 'xla'

# The shipped demos' sizes (config_presets.fashion_mnist_backbone): 'smoke'
# is applied over 'fashion_mnist' by the smoke presets. No DEMO_OPTIMIZER:
# each config keeps its paper's CIFAR optimizer for ResNets.
DEMO_SIZES = {
    'fashion_mnist': dict(depth=18, width=0.125, cifar_stem=True),
    'smoke': dict(width=0.0625),
}


# Its exporter to timm's and torch_backbones' ResNet (ssl_jax.export).
EXPORTER = 'ssl_jax.export_resnet'


def default_config() -> dict:
  """Every option, so `--config.backbone.x=y` can set any. conv_impl:
  'auto' (XLA's convolution) | 'xla' | 'im2col' | 'wgrad' (patches + matmul
  forms for XLA:CPU, docs/performance.md)."""
  return dict(depth=18, width=1.0, cifar_stem=False, conv_impl='auto',
              space_to_depth_stem=False)


def validate_config(config) -> None:
  """config.backbone's values, before anything is built."""
  b = config.backbone
  if 'depth' in b:
    config_checks.choice(config, 'backbone.depth', tuple(_STAGES))
  if 'width' in b:
    config_checks.positive(config, 'backbone.width')
  if 'conv_impl' in b:
    config_checks.choice(config, 'backbone.conv_impl',
                         ('auto',) + cpu_conv.IMPLS)
  if b.get('space_to_depth_stem') and b.get('cifar_stem'):
    raise config_checks.ConfigError(
        'config.backbone.space_to_depth_stem=True regroups the ImageNet stem '
        '(7x7, stride 2); with config.backbone.cifar_stem=True (3x3, stride '
        '1) there is nothing to regroup: set one of them to False.')


def conv_module(impl: str = 'auto'):
  """The Conv class for `impl` ('auto' | 'xla' | cpu_conv.IMPLS)."""
  if impl == 'auto':
    impl = CPU_CONV_IMPL if parallel.target_platform() == 'cpu' else 'xla'
  if impl == 'xla':
    return nn.Conv
  if impl not in cpu_conv.IMPLS:
    raise ValueError(f"ResNet conv_impl {impl!r} not in "
                     f"{('auto',) + cpu_conv.IMPLS}.")
  return functools.partial(cpu_conv.Conv, impl=impl)


class SpaceToDepthStem(nn.Module):
  """The 7x7 stride-2 'SAME' convolution, as a 4x4 stride-1 one on 2x2
  blocks of the padded image (the module docstring). Its parameter is the
  plain stem's `kernel` [7, 7, C, F]."""
  features: int
  dtype: Any = jnp.float32
  kernel_init: Any = nn.initializers.lecun_normal()

  @nn.compact
  def __call__(self, x):
    n, h, w, c = x.shape
    kernel = self.param('kernel', self.kernel_init,
                        (7, 7, c, self.features), jnp.float32)
    # 'SAME' for stride 2 pads 5 (2 before, 3 after) on an even side and 6
    # (3, 3) on an odd one; then pad after up to 2 * (out + 3) so the 2x2
    # blocks tile it and a valid 4x4 convolution gives `out` rows.
    pads = []
    for size in (h, w):
      out = -(-size // 2)
      total = max(2 * (out - 1) + 7 - size, 0)
      before = total // 2
      pads.append((before, 2 * (out + 3) - size - before))
    x = jnp.pad(x, ((0, 0), *pads, (0, 0)))
    hb, wb = x.shape[1] // 2, x.shape[2] // 2
    x = x.reshape(n, hb, 2, wb, 2, c).transpose(0, 1, 3, 2, 4, 5)
    x = x.reshape(n, hb, wb, 4 * c)
    # Kernel tap (2p + r, 2q + s) -> block tap (p, q), channel (r, s, c).
    k = jnp.pad(kernel, ((0, 1), (0, 1), (0, 0), (0, 0)))
    k = k.reshape(4, 2, 4, 2, c, self.features).transpose(0, 2, 1, 3, 4, 5)
    k = k.reshape(4, 4, 4 * c, self.features)
    return jax.lax.conv_general_dilated(
        x.astype(self.dtype), k.astype(self.dtype), (1, 1), 'VALID',
        dimension_numbers=('NHWC', 'HWIO', 'NHWC'))


class _Block(nn.Module):
  """Basic (two 3x3) or bottleneck (1x1, 3x3, 1x1 x4) residual block."""
  features: int
  strides: int
  bottleneck: bool
  conv: Any
  norm: Any

  @nn.compact
  def __call__(self, x):
    if self.bottleneck:
      y = nn.relu(self.norm()(self.conv(self.features, (1, 1))(x)))
      y = nn.relu(self.norm()(self.conv(self.features, (3, 3),
                                        self.strides)(y)))
      y = self.norm(scale_init=nn.initializers.zeros)(
          self.conv(self.features * 4, (1, 1))(y))
    else:
      y = nn.relu(self.norm()(self.conv(self.features, (3, 3),
                                        self.strides)(x)))
      y = self.norm(scale_init=nn.initializers.zeros)(
          self.conv(self.features, (3, 3))(y))
    if x.shape != y.shape:
      x = self.norm()(self.conv(y.shape[-1], (1, 1), self.strides,
                                name='shortcut')(x))
    return nn.relu(x + y)


class ResNet(nn.Module):
  """ResNet trunk; returns pooled features."""
  depth: int = 18
  width: float = 1.0
  cifar_stem: bool = False
  dtype: Any = jnp.float32
  bn_axis_name: str | None = None
  conv_impl: str = 'auto'
  space_to_depth_stem: bool = False

  # What it offers (models/__init__.py): batch statistics; no tokens, no
  # layer-wise lr decay.
  has_batch_norm = True
  token_output = False

  @property
  def feature_dim(self) -> int:
    kind, _ = _STAGES[self.depth]
    return int(64 * self.width) * 8 * (4 if kind == 'bottleneck' else 1)

  def feature_map(self, x):
    """The last stage's output [N, H', W', C] in evaluation mode, before
    the global mean (config.eval.readout='map')."""
    return self(x, train=False, return_map=True)

  @nn.compact
  def __call__(self, x, train: bool = True, groups: int = 1,
               return_map: bool = False):
    """Pooled features of images [N, H, W, C]; `groups` > 1 normalises
    each of that many consecutive parts of the batch with its own
    BatchNorm statistics, as that many calls would (models/norms.py).
    `return_map`: the last stage's output instead of its global mean."""
    if self.depth not in _STAGES:
      raise ValueError(f'ResNet depth {self.depth} not in {sorted(_STAGES)}.')
    kind, stages = _STAGES[self.depth]
    kernel_init = nn.initializers.variance_scaling(2.0, 'fan_out', 'normal')
    conv = functools.partial(conv_module(self.conv_impl), use_bias=False,
                             dtype=self.dtype, padding='SAME',
                             kernel_init=kernel_init)
    norm = functools.partial(norms.BatchNorm, use_running_average=not train,
                             momentum=0.9, epsilon=1e-5, dtype=self.dtype,
                             axis_name=self.bn_axis_name, groups=groups)
    base = int(64 * self.width)
    x = x.astype(self.dtype)
    if self.cifar_stem:
      x = nn.relu(norm()(conv(base, (3, 3), name='stem')(x)))
    else:
      stem = (SpaceToDepthStem(base, self.dtype, kernel_init=kernel_init,
                               name='stem') if self.space_to_depth_stem
              else conv(base, (7, 7), (2, 2), name='stem'))
      x = nn.relu(norm()(stem(x)))
      x = nn.max_pool(x, (3, 3), (2, 2), padding='SAME')
    for i, num_blocks in enumerate(stages):
      for j in range(num_blocks):
        strides = (2, 2) if i > 0 and j == 0 else (1, 1)
        x = _Block(base * 2**i, strides, kind == 'bottleneck', conv,
                   norm)(x)
    if return_map:
      return x.astype(jnp.float32)
    return jnp.mean(x, axis=(1, 2)).astype(jnp.float32)


Backbone = ResNet
