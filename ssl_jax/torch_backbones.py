"""PyTorch twins of ssl_jax backbones that timm cannot express exactly.

`python -m ssl_jax.export --format torch` writes a folder with
`model.safetensors` (a state_dict of the module below, in timm's parameter
names), `config.json` and a copy of this file, which imports PyTorch only
(and safetensors to load), so the folder works without ssl_jax:

  model = torch_backbones.load('DIR')          # eval mode, f32
  features = model(images_nchw_normalised)    # [N, F], as ssl_jax's embed

`ResNet` reproduces `ssl_jax/models/resnet.py` number for number: the CIFAR
stem (3x3 stride 1, no max-pool), width multipliers, and above all XLA's
'SAME' padding, which pads an even-sized input by (k-1)//2 - 1 before and
(k-1)//2 after a stride-2 window where PyTorch (and timm) pad (k-1)//2 on
both sides: the same weights then sample pixels one row and column apart.
BatchNorm uses its running statistics (eval mode, eps 1e-5).

ViTs need no twin: timm's VisionTransformer expresses every ssl_jax ViT
(`--format timm`).
"""

import json
import math
import os

try:
  from torch import nn
  from torch.nn import functional as F
except ImportError as e:  # The main ssl_jax install does not need torch.
  raise ImportError('ssl_jax.torch_backbones needs PyTorch: pip install '
                    '"ssl_jax[export]" (or torch).') from e

_STAGES = {18: ('basic', (2, 2, 2, 2)), 34: ('basic', (3, 4, 6, 3)),
           50: ('bottleneck', (3, 4, 6, 3)),
           101: ('bottleneck', (3, 4, 23, 3)),
           152: ('bottleneck', (3, 8, 36, 3))}


def same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
  """XLA/TF 'SAME' padding (before, after) of one spatial axis."""
  out = -(-size // stride)
  total = max((out - 1) * stride + kernel - size, 0)
  return total // 2, total - total // 2


def _pad_same(x, kernel: int, stride: int, value: float = 0.0):
  top, bottom = same_padding(x.shape[-2], kernel, stride)
  left, right = same_padding(x.shape[-1], kernel, stride)
  return F.pad(x, (left, right, top, bottom), value=value)


class SameConv2d(nn.Conv2d):
  """Conv2d without bias whose padding is XLA's 'SAME' for any input."""

  def __init__(self, cin: int, cout: int, kernel: int, stride: int = 1):
    super().__init__(cin, cout, kernel, stride, padding=0, bias=False)

  def forward(self, x):
    return super().forward(_pad_same(x, self.kernel_size[0],
                                     self.stride[0]))


def _bn(channels: int):
  return nn.BatchNorm2d(channels, eps=1e-5, momentum=0.1)


class Block(nn.Module):
  """Basic (3x3, 3x3) or bottleneck (1x1, 3x3 with the stride, 1x1 x4)."""

  def __init__(self, cin: int, features: int, stride: int, bottleneck: bool):
    super().__init__()
    self.bottleneck = bottleneck
    cout = features * 4 if bottleneck else features
    if bottleneck:
      self.conv1, self.bn1 = SameConv2d(cin, features, 1), _bn(features)
      self.conv2 = SameConv2d(features, features, 3, stride)
      self.bn2 = _bn(features)
      self.conv3, self.bn3 = SameConv2d(features, cout, 1), _bn(cout)
    else:
      self.conv1 = SameConv2d(cin, features, 3, stride)
      self.bn1 = _bn(features)
      self.conv2, self.bn2 = SameConv2d(features, cout, 3), _bn(cout)
    self.downsample = None
    if stride != 1 or cin != cout:
      self.downsample = nn.Sequential(SameConv2d(cin, cout, 1, stride),
                                      _bn(cout))

  def forward(self, x):
    y = F.relu(self.bn1(self.conv1(x)))
    if self.bottleneck:
      y = F.relu(self.bn2(self.conv2(y)))
      y = self.bn3(self.conv3(y))
    else:
      y = self.bn2(self.conv2(y))
    shortcut = x if self.downsample is None else self.downsample(x)
    return F.relu(shortcut + y)


class ResNet(nn.Module):
  """ssl_jax's ResNet: images [N, C, H, W] -> pooled features [N, F]."""

  def __init__(self, depth: int = 18, width: float = 1.0,
               cifar_stem: bool = False, in_chans: int = 3):
    super().__init__()
    if depth not in _STAGES:
      raise ValueError(f'ResNet depth {depth} not in {sorted(_STAGES)}.')
    kind, stages = _STAGES[depth]
    base = int(64 * width)
    self.cifar_stem = cifar_stem
    self.conv1 = SameConv2d(in_chans, base, 3 if cifar_stem else 7,
                            1 if cifar_stem else 2)
    self.bn1 = _bn(base)
    cin = base
    for i, num_blocks in enumerate(stages):
      blocks = []
      for j in range(num_blocks):
        blocks.append(Block(cin, base * 2**i, 2 if i > 0 and j == 0 else 1,
                            kind == 'bottleneck'))
        cin = base * 2**i * (4 if kind == 'bottleneck' else 1)
      setattr(self, f'layer{i + 1}', nn.Sequential(*blocks))
    self.num_features = cin

  def forward(self, x):
    x = F.relu(self.bn1(self.conv1(x)))
    if not self.cifar_stem:  # Max-pool 3x3 / 2, 'SAME' with -inf padding.
      x = F.max_pool2d(_pad_same(x, 3, 2, -math.inf), 3, 2)
    for i in range(1, 5):
      x = getattr(self, f'layer{i}')(x)
    return x.mean(dim=(2, 3))


MODELS = {'ResNet': ResNet}


def load(folder: str, map_location: str = 'cpu') -> nn.Module:
  """The exported backbone of `folder` (config.json + model.safetensors),
  in eval mode (BatchNorm with its running statistics)."""
  from safetensors.torch import load_file  # pylint: disable=g-import-not-at-top
  with open(os.path.join(folder, 'config.json')) as f:
    config = json.load(f)
  model = MODELS[config['class']](**config['kwargs'])
  state = load_file(os.path.join(folder, 'model.safetensors'),
                    device=map_location)
  model.load_state_dict(state, strict=True)
  return model.to(map_location).eval()
