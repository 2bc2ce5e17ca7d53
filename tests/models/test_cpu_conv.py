"""cpu_conv: the matmul convolutions equal lax's, values and gradients."""

import flax.linen as nn
import jax
from jax import lax
import jax.numpy as jnp
import numpy as np
import pytest

from ssl_jax.models import cpu_conv
from ssl_jax.models import resnet

_MATMUL_IMPLS = ('im2col', 'wgrad')


def _reference(x, w, strides, padding):
  return lax.conv_general_dilated(x, w, strides, padding,
                                  dimension_numbers=('NHWC', 'HWIO', 'NHWC'),
                                  precision=lax.Precision.HIGHEST)


def _inputs(size, kernel, cin=3, cout=5):
  kx, kw = jax.random.split(jax.random.PRNGKey(0))
  return (jax.random.normal(kx, (2, size, size, cin)),
          jax.random.normal(kw, (kernel, kernel, cin, cout)))


# resnet.py uses 'SAME' with kernels 3 (blocks, CIFAR stem), 1 (shortcuts)
# and 7 (ImageNet stem), strides 1 and 2; odd and even sizes pad differently.
@pytest.mark.parametrize('impl', _MATMUL_IMPLS)
@pytest.mark.parametrize('kernel', [1, 3, 7])
@pytest.mark.parametrize('stride', [1, 2])
@pytest.mark.parametrize('size', [8, 9])
def test_values_and_gradients_match_lax(impl, kernel, stride, size):
  x, w = _inputs(size, kernel)
  strides = (stride, stride)
  f = lambda x, w: cpu_conv.conv2d(x, w, strides, 'SAME', impl,
                                   precision=lax.Precision.HIGHEST)
  ref = lambda x, w: _reference(x, w, strides, 'SAME')
  np.testing.assert_allclose(f(x, w), ref(x, w), rtol=1e-5, atol=1e-5)
  y = ref(x, w)
  g = jax.random.normal(jax.random.PRNGKey(3), y.shape)
  grads = jax.vjp(f, x, w)[1](g)
  ref_grads = jax.vjp(ref, x, w)[1](g)
  for got, want in zip(grads, ref_grads):
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize('impl', _MATMUL_IMPLS)
@pytest.mark.parametrize('padding', ['VALID', ((2, 0), (1, 3))])
def test_valid_and_explicit_padding(impl, padding):
  x, w = _inputs(9, 3)
  np.testing.assert_allclose(
      cpu_conv.conv2d(x, w, (2, 1), padding, impl,
                      precision=lax.Precision.HIGHEST),
      _reference(x, w, (2, 1), padding), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize('impl', cpu_conv.IMPLS)
@pytest.mark.parametrize('kwargs', [
    dict(kernel_size=(3, 3), strides=2),
    dict(kernel_size=(1, 1), use_bias=False),
    dict(kernel_size=(3, 3), kernel_dilation=2),  # Falls back to nn.Conv.
])
def test_module_is_a_drop_in_for_nn_conv(impl, kwargs):
  x, _ = _inputs(9, 3)
  ref = nn.Conv(4, precision=lax.Precision.HIGHEST, **kwargs)
  mod = cpu_conv.Conv(4, precision=lax.Precision.HIGHEST, impl=impl,
                      **kwargs)
  variables = ref.init(jax.random.PRNGKey(1), x)
  ours = mod.init(jax.random.PRNGKey(1), x)
  # Same parameter names, shapes and initial values: checkpoints carry over.
  jax.tree.map(np.testing.assert_array_equal, ours, variables)
  np.testing.assert_allclose(mod.apply(variables, x), ref.apply(variables, x),
                             rtol=1e-5, atol=1e-5)


def test_automatic_names_are_those_of_nn_conv():

  class Net(nn.Module):
    conv: type

    @nn.compact
    def __call__(self, x):
      return self.conv(4, (3, 3))(self.conv(4, (1, 1))(x))

  x, _ = _inputs(8, 3)
  names = lambda conv: jax.tree.map(
      jnp.shape, Net(conv).init(jax.random.PRNGKey(0), x))
  assert names(cpu_conv.Conv) == names(nn.Conv)


# Each case compiles a ResNet-18 forward and backward: pair each matmul form
# with one stem rather than the full product.
@pytest.mark.parametrize('impl,cifar_stem', [('im2col', True),
                                             ('wgrad', False)])
def test_resnet_equal_with_both_implementations(impl, cifar_stem):
  x = jax.random.normal(jax.random.PRNGKey(1), (4, 16, 16, 3))
  plain = resnet.ResNet(depth=18, width=0.125, cifar_stem=cifar_stem,
                        conv_impl='xla')
  ours = resnet.ResNet(depth=18, width=0.125, cifar_stem=cifar_stem,
                       conv_impl=impl)
  variables = plain.init(jax.random.PRNGKey(0), x)
  assert (jax.tree.structure(ours.init(jax.random.PRNGKey(0), x))
          == jax.tree.structure(variables))

  def loss(model, params):
    out, _ = model.apply({**variables, 'params': params}, x,
                         mutable=['batch_stats'])
    return jnp.sum(out ** 2), out

  # Jitted: one compile each, not an op-by-op dispatch of the whole network.
  with jax.default_matmul_precision('highest'):
    (_, want), want_grads = jax.jit(jax.value_and_grad(
        lambda p: loss(plain, p), has_aux=True))(variables['params'])
    (_, got), got_grads = jax.jit(jax.value_and_grad(
        lambda p: loss(ours, p), has_aux=True))(variables['params'])
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
    evaluate = lambda model: jax.jit(
        lambda v: model.apply(v, x, train=False))(variables)
    np.testing.assert_allclose(evaluate(ours), evaluate(plain),
                               rtol=1e-4, atol=1e-5)
  # Train-mode BN over the few pixels of the last stages amplifies float
  # rounding (different summation orders): compare on the gradients' scale.
  scale = max(np.max(np.abs(g)) for g in jax.tree.leaves(want_grads))
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-3,
                                                       atol=1e-3 * scale),
               got_grads, want_grads)


def test_auto_keeps_nn_conv_off_cpu(monkeypatch):
  assert resnet.conv_module('xla') is nn.Conv
  monkeypatch.setattr(jax, 'default_backend', lambda: 'gpu')
  assert resnet.conv_module('auto') is nn.Conv
  monkeypatch.setattr(jax, 'default_backend', lambda: 'cpu')
  expected = resnet.CPU_CONV_IMPL
  got = resnet.conv_module('auto')
  assert (got is nn.Conv if expected == 'xla'
          else got.keywords['impl'] == expected)


def test_unknown_impl():
  with pytest.raises(ValueError, match='conv_impl'):
    resnet.conv_module('winograd')
  x, w = _inputs(8, 3)
  with pytest.raises(ValueError, match='impl'):
    cpu_conv.conv2d(x, w, impl='winograd')
