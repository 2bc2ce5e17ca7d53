"""models/norms.BatchNorm: flax's BatchNorm when groups=1, and per-group
statistics equal to one call per group (the per-view BatchNorm of BYOL,
SimSiam, MoCo v3, Barlow Twins and VICReg) when the groups are fused."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ssl_jax.models import multicrop
from ssl_jax.models import norms
from ssl_jax.models import resnet

from ssl_jax import config_lib


def _perturbed(variables, seed=2):
  leaves, tree = jax.tree.flatten(variables)
  keys = jax.random.split(jax.random.PRNGKey(seed), len(leaves))
  return jax.tree.unflatten(tree, [
      x + 0.1 * jax.random.normal(k, x.shape) for x, k in zip(leaves, keys)])


def _assert_trees_close(a, b, atol=1e-6):
  jax.tree.map(lambda x, y: np.testing.assert_allclose(
      np.asarray(x, np.float32), np.asarray(y, np.float32), atol=atol,
      rtol=1e-5), a, b)


@pytest.mark.parametrize('dtype', [jnp.float32, jnp.bfloat16])
def test_one_group_is_flax_batchnorm(dtype):
  x = jax.random.normal(jax.random.PRNGKey(0), (8, 5, 5, 6)) * 3 + 1
  flax_bn = nn.BatchNorm(use_running_average=False, momentum=0.9,
                         epsilon=1e-5, dtype=dtype)
  ours = norms.BatchNorm(momentum=0.9, epsilon=1e-5, dtype=dtype)
  variables = _perturbed(flax_bn.init(jax.random.PRNGKey(1), x))
  assert jax.tree.structure(variables) == jax.tree.structure(
      ours.init(jax.random.PRNGKey(1), x))
  for train in (True, False):
    a, stats_a = flax_bn.clone(use_running_average=not train).apply(
        variables, x.astype(dtype), mutable=['batch_stats'])
    b, stats_b = ours.clone(use_running_average=not train).apply(
        variables, x.astype(dtype), mutable=['batch_stats'])
    assert a.dtype == b.dtype
    _assert_trees_close((a, stats_a), (b, stats_b), atol=0)


def test_groups_equal_one_call_per_group_with_sequential_running_stats():
  x = jax.random.normal(jax.random.PRNGKey(0), (12, 3, 3, 4)) * 2 - 1
  bn = norms.BatchNorm(momentum=0.9)
  variables = _perturbed(bn.init(jax.random.PRNGKey(1), x))
  fused, fused_stats = bn.clone(groups=3).apply(variables, x,
                                                mutable=['batch_stats'])
  # Image-major rows: row r is group r % 3's.
  outs, stats = [], {'batch_stats': variables['batch_stats']}
  for part in (x[0::3], x[1::3], x[2::3]):
    out, stats = bn.apply({'params': variables['params'], **stats}, part,
                          mutable=['batch_stats'])
    outs.append(out)
  _assert_trees_close((fused, fused_stats),
                      (multicrop.image_major(outs), stats))
  # Not the statistics of the whole batch.
  whole, _ = bn.apply(variables, x, mutable=['batch_stats'])
  assert np.max(np.abs(np.asarray(whole - fused))) > 1e-2


def test_resnet_views_fused_equal_views_one_by_one():
  config = config_lib.backbone_config('resnet', depth=18, width=0.0625,
                                      cifar_stem=True)
  net = resnet.ResNet(**{k: v for k, v in config.items() if k != 'name'})
  views = [jax.random.uniform(jax.random.PRNGKey(i), (4, 16, 16, 3))
           for i in range(2)]
  variables = _perturbed(net.init(jax.random.PRNGKey(5), views[0]))
  params = variables['params']

  def fused(params):
    out, stats = net.apply({**variables, 'params': params},
                           multicrop.image_major(views), groups=2,
                           mutable=['batch_stats'])
    return jnp.sum(out[0::2] * out[1::2]), (out, stats)

  def one_by_one(params):
    stats, outs = {'batch_stats': variables['batch_stats']}, []
    for x in views:
      out, stats = net.apply({'params': params, **stats}, x,
                             mutable=['batch_stats'])
      outs.append(out)
    return jnp.sum(outs[0] * outs[1]), (multicrop.image_major(outs), stats)

  grad = lambda f: jax.jit(jax.value_and_grad(f, has_aux=True))
  (loss_a, aux_a), grads_a = grad(fused)(params)
  (loss_b, aux_b), grads_b = grad(one_by_one)(params)
  _assert_trees_close((loss_a, aux_a, grads_a), (loss_b, aux_b, grads_b),
                      atol=2e-5)


def _grads(bn, variables, x, cotangent, **apply_kw):
  def f(params, x):
    y, _ = bn.apply({**variables, 'params': params}, x,
                    mutable=['batch_stats'], **apply_kw)
    return jnp.sum(y.astype(jnp.float32) * cotangent)
  return jax.jit(jax.grad(f, argnums=(0, 1)))(variables['params'], x)


@pytest.mark.parametrize('dtype', [jnp.float32, jnp.bfloat16])
def test_gradients_equal_flax_autodiff(dtype):
  """The grouped statistics leave flax's gradients unchanged."""
  x = (jax.random.normal(jax.random.PRNGKey(0), (8, 5, 5, 6)) * 3 + 1
       ).astype(dtype)
  cotangent = jax.random.normal(jax.random.PRNGKey(3), x.shape)
  flax_bn = nn.BatchNorm(use_running_average=False, momentum=0.9,
                         epsilon=1e-5, dtype=dtype)
  variables = _perturbed(flax_bn.init(jax.random.PRNGKey(1), x))
  ours = _grads(norms.BatchNorm(dtype=dtype), variables, x, cotangent)
  theirs = _grads(flax_bn, variables, x, cotangent)
  tol = 1e-5 if dtype == jnp.float32 else 2e-2
  jax.tree.map(lambda a, b: np.testing.assert_allclose(
      np.asarray(a, np.float32), np.asarray(b, np.float32), rtol=tol,
      atol=tol), ours, theirs)


def test_pmap_statistics_and_gradients_span_devices():
  """Under pmap (axis_name) the statistics, and the backward's means, are
  those of the batch over every device, as flax's BatchNorm."""
  n = 4
  x = jax.random.normal(jax.random.PRNGKey(0), (n, 6, 3, 3, 5)) * 2 + 1
  cotangent = jax.random.normal(jax.random.PRNGKey(3), x.shape)
  flax_bn = nn.BatchNorm(use_running_average=False, momentum=0.9,
                         axis_name='d')
  variables = _perturbed(flax_bn.init(jax.random.PRNGKey(1), x[0]))

  def per_device(bn):
    def f(x, c):
      def loss(params, x):
        y, stats = bn.apply({**variables, 'params': params}, x,
                            mutable=['batch_stats'])
        return jnp.sum(y * c), stats
      (_, stats), grads = jax.value_and_grad(loss, argnums=(0, 1),
                                             has_aux=True)(
                                                 variables['params'], x)
      return stats, grads
    return jax.pmap(f, axis_name='d', devices=jax.devices()[:n])(x,
                                                                 cotangent)

  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5,
                                                       atol=1e-5),
               per_device(norms.BatchNorm(axis_name='d')),
               per_device(flax_bn))
