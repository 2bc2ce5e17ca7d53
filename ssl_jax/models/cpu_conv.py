"""2-D convolution as patch extraction + matmul, for XLA:CPU.

XLA:CPU runs a forward convolution near its matmul speed but its
convolution weight gradient 2-4x slower (docs/performance.md): the gradient
is lowered to a convolution whose "window" is the whole output image.
Writing the convolution as im2col (the kh*kw shifted, strided slices of the
padded input concatenated on the channel axis) followed by one matmul with
the [kh*kw*cin, cout] kernel turns the weight gradient into one large matmul
as well. Whether that pays depends on the CPU and the channel widths (the
patches are kh*kw times the activation, and XLA's matmul is slow on narrow
outputs): measured in docs/performance.md; ResNet keeps XLA's convolution by
default (resnet.CPU_CONV_IMPL).

Three formulations (`impl`), all the same function up to float rounding:
  'xla'      lax.conv_general_dilated (what nn.Conv does).
  'im2col'   patches + one matmul, forward and (by autodiff) backward.
  'wgrad'    XLA's convolution forward and input gradient, im2col weight
             gradient (custom VJP): only the slow part is replaced.

`Conv` is a drop-in for `nn.Conv`: the same class name (so Flax's automatic
names, `Conv_0`, ... are unchanged), the same attributes and the same
parameters (`kernel` [kh, kw, cin, cout], optional `bias`), so checkpoints
are interchangeable. Cases the matmul forms do not cover (1-D/3-D, groups,
dilation, masks, circular padding, extra batch dims) fall back to nn.Conv.
"""

import functools

import flax.linen as nn
from flax.linen import linear
import jax
from jax import lax
import jax.numpy as jnp

IMPLS = ('xla', 'im2col', 'wgrad')
_DIMS = ('NHWC', 'HWIO', 'NHWC')


def _xla_conv(x, kernel, strides, padding, precision):
  return lax.conv_general_dilated(x, kernel, strides, padding,
                                  dimension_numbers=_DIMS,
                                  precision=precision)


def _patches(x, kh, kw, strides, padding):
  """[N, OH, OW, kh*kw*C]: channel index (i*kw + j)*C + c, the row-major
  flattening of a [kh, kw, C, ...] kernel."""
  x = jnp.pad(x, ((0, 0), padding[0], padding[1], (0, 0)))
  n, h, w, c = x.shape
  sh, sw = strides
  oh, ow = (h - kh) // sh + 1, (w - kw) // sw + 1
  cols = [lax.slice(x, (0, i, j, 0),
                    (n, i + (oh - 1) * sh + 1, j + (ow - 1) * sw + 1, c),
                    (1, sh, sw, 1))
          for i in range(kh) for j in range(kw)]
  return cols[0] if len(cols) == 1 else jnp.concatenate(cols, axis=-1)


def _im2col_conv(x, kernel, strides, padding, precision):
  kh, kw, cin, cout = kernel.shape
  p = _patches(x, kh, kw, strides, padding)
  return lax.dot_general(p, kernel.reshape(kh * kw * cin, cout),
                         (((3,), (0,)), ((), ())), precision=precision)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3, 4))
def _wgrad_conv(x, kernel, strides, padding, precision):
  return _xla_conv(x, kernel, strides, padding, precision)


def _wgrad_fwd(x, kernel, strides, padding, precision):
  return _xla_conv(x, kernel, strides, padding, precision), (x, kernel)


def _wgrad_bwd(strides, padding, precision, residuals, g):
  x, kernel = residuals
  _, input_vjp = jax.vjp(
      lambda x: _xla_conv(x, kernel, strides, padding, precision), x)
  kh, kw, cin, cout = kernel.shape
  p = _patches(x, kh, kw, strides, padding)
  # Contract over batch and output pixels: one [kh*kw*cin, cout] matmul.
  dkernel = lax.dot_general(p, g, (((0, 1, 2), (0, 1, 2)), ((), ())),
                            precision=precision)
  return input_vjp(g)[0], dkernel.reshape(kernel.shape).astype(kernel.dtype)


_wgrad_conv.defvjp(_wgrad_fwd, _wgrad_bwd)

_CONVS = {'xla': _xla_conv, 'im2col': _im2col_conv, 'wgrad': _wgrad_conv}


def conv2d(x, kernel, strides=(1, 1), padding='SAME', impl='im2col',
           precision=None):
  """NHWC x HWIO convolution without dilation or groups.

  Args:
    x: [N, H, W, Cin].
    kernel: [kh, kw, Cin, Cout].
    strides: (sh, sw).
    padding: 'SAME', 'VALID' or ((lo, hi), (lo, hi)), as lax takes it.
    impl: one of IMPLS.
    precision: lax precision of the matmul / convolution.

  Returns:
    [N, OH, OW, Cout], equal to lax.conv_general_dilated's up to rounding.
  """
  if impl not in _CONVS:
    raise ValueError(f'conv impl {impl!r} not in {IMPLS}.')
  strides = tuple(strides)
  if isinstance(padding, str):
    padding = lax.padtype_to_pads(x.shape[1:3], kernel.shape[:2], strides,
                                  padding)
  padding = tuple(tuple(p) for p in padding)
  return _CONVS[impl](x, kernel, strides, padding, precision)


class Conv(nn.Conv):
  """nn.Conv computed by `conv2d(impl=...)` where it can be."""
  impl: str = 'im2col'

  def _matmul_form(self, inputs) -> bool:
    kernel_size = ((self.kernel_size,) if isinstance(self.kernel_size, int)
                   else tuple(self.kernel_size))
    ones = lambda v: v is None or (v == 1 if isinstance(v, int)
                                   else all(d == 1 for d in v))
    padding = linear.canonicalize_padding(self.padding, len(kernel_size))
    return (self.impl != 'xla' and len(kernel_size) == 2
            and inputs.ndim == 4 and self.shared_weights
            and self.feature_group_count == 1 and self.mask is None
            and ones(self.input_dilation) and ones(self.kernel_dilation)
            and (padding in ('SAME', 'VALID')
                 or not isinstance(padding, str))
            and self.conv_general_dilated is None
            and self.conv_general_dilated_cls is None)

  @nn.compact
  def __call__(self, inputs):
    if self.impl not in IMPLS:
      raise ValueError(f'Conv impl {self.impl!r} not in {IMPLS}.')
    if not self._matmul_form(inputs):
      return super().__call__(inputs)
    kernel_size = ((self.kernel_size,) * 2 if isinstance(self.kernel_size,
                                                          int)
                   else tuple(self.kernel_size))
    strides = self.strides or 1
    strides = (strides,) * 2 if isinstance(strides, int) else tuple(strides)
    kernel = self.param('kernel', self.kernel_init,
                        kernel_size + (inputs.shape[-1], self.features),
                        self.param_dtype)
    bias = (self.param('bias', self.bias_init, (self.features,),
                       self.param_dtype) if self.use_bias else None)
    inputs, kernel, bias = self.promote_dtype(inputs, kernel, bias,
                                              dtype=self.dtype)
    y = conv2d(inputs, kernel, strides,
               linear.canonicalize_padding(self.padding, 2), self.impl,
               self.precision)
    return y + bias if bias is not None else y
