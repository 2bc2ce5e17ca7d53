"""DINO's resizing of a learned position table to another patch grid
(facebookresearch/dino `vision_transformer.py: interpolate_pos_encoding`).

The official code resizes the [G, G, D] patch part of the table with
`torch.nn.functional.interpolate(mode='bicubic', align_corners=False,
scale_factor=((g + 0.1) / G, ...))`. Bicubic interpolation is linear in the
table, so each axis is one static [g, G] matrix and the resize is two small
matmuls: exact, and cheap enough to run inside every step. The matrix is
torch's `upsample_bicubic2d`: with a scale factor given, the source
coordinate of output pixel i is (i + 0.5) / scale_factor - 0.5 (not
(i + 0.5) G / g - 0.5), the cubic convolution has A = -0.75, and taps
outside the table take the edge row (clamped indices).
"""

import functools
import math

import numpy as np

_A = -0.75  # torch's bicubic coefficient (PIL's and TF's use -0.5).


def _cubic_near(x):  # |x| <= 1: torch's cubic_convolution1.
  return ((_A + 2) * x - (_A + 3)) * x * x + 1


def _cubic_far(x):  # 1 < |x| < 2: torch's cubic_convolution2.
  return ((_A * x - 5 * _A) * x + 8 * _A) * x - 4 * _A


@functools.lru_cache(maxsize=64)
def bicubic_matrix(size_in: int, size_out: int) -> np.ndarray:
  """[size_out, size_in] float32 weights of DINO's bicubic resize along one
  axis: scale factor (size_out + 0.1) / size_in, as the official adds 0.1
  "to avoid floating point error". Example: 4 -> 2 gives row 0 =
  [0.55351744, 0.53053463, -0.08405207, 0] (tap -1 clamped onto 0)."""
  inverse_scale = size_in / (size_out + 0.1)
  weights = np.zeros((size_out, size_in), np.float64)
  for i in range(size_out):
    source = (i + 0.5) * inverse_scale - 0.5
    first = math.floor(source)
    t = source - first
    taps = (_cubic_far(t + 1), _cubic_near(t), _cubic_near(1 - t),
            _cubic_far(2 - t))
    for k, weight in enumerate(taps):
      weights[i, min(max(first - 1 + k, 0), size_in - 1)] += weight
  weights = weights.astype(np.float32)
  weights.flags.writeable = False
  return weights
