"""MAE, I-JEPA, data2vec 2.0 losses: docs/methods.md values under jit,
float64 references, and what the masks select."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ssl_jax import losses

# docs/methods.md#mae: one image, 2 patches of 4 values.
MAE_TARGET = np.array([[[1., 2, 3, 4], [2, 2, 2, 6]]])
MAE_PRED = np.array([[[0., 0, 0, 0], [1, -1, 0, 1]]])
MAE_MASK = np.array([[0., 1]])
# docs/methods.md#i-jepa.
JEPA_TARGET = np.array([[1., 2, 3, 4], [0, 0, 0, 4]])
JEPA_PRED = np.array([[-1., -0.5, 0.5, 1], [0, 0, 0, 0]])
JEPA_LN = np.array([[-1.3416354, -0.4472118, 0.4472118, 1.3416354],
                    [-0.5773493, -0.5773493, -0.5773493, 1.7320479]])
# docs/methods.md#data2vec-20: B = 1, T = 3 tokens, D = 3, K = 2 layers.
D2V_LAYERS = np.array([[[[1., 2, 0], [3, 0, 1], [2, 4, 2]]],
                       [[[0., 1, 1], [1, 1, 0], [2, 0, 3]]]])
D2V_Y = np.array([[[-1.03772815, 1.35091327, -0.31318512],
                   [1.37618322, -0.40608623, -0.97009699],
                   [0.02311362, -1.23611867, 1.21300505]]])
D2V_MASK = np.array([[0., 1, 1]])
# Row 0 is not masked: its prediction must not matter.
D2V_PRED = np.array([[[7., -3, 2], [0.5, 0, -0.5], [0, 1, -1]]])


def test_mae_values():
  mae = jax.jit(losses.mae, static_argnames='norm_pix')
  np.testing.assert_allclose(mae(MAE_PRED, MAE_TARGET, MAE_MASK),
                             0.7499999063, rtol=1e-6)
  np.testing.assert_allclose(
      mae(MAE_PRED, MAE_TARGET, MAE_MASK, norm_pix=False), 9.75, rtol=1e-6)


def test_mae_only_masked_patches_count_and_batch_mean():
  rng = np.random.default_rng(0)
  pred, target = rng.normal(size=(2, 2, 3, 4))
  mask = np.array([[1., 0, 1], [0, 0, 1]])
  # Changing visible patches' predictions changes nothing.
  other = pred.copy()
  other[mask == 0] += 5
  np.testing.assert_allclose(losses.mae(pred, target, mask),
                             losses.mae(other, target, mask), rtol=1e-6)
  # float64 reference: per-patch normalised target, mean over the masked
  # patches of the whole batch (not per image).
  t = (target - target.mean(-1, keepdims=True)) / np.sqrt(
      target.var(-1, ddof=1, keepdims=True) + 1e-6)
  per_patch = ((pred - t) ** 2).mean(-1)
  np.testing.assert_allclose(losses.mae(pred, target, mask),
                             (per_patch * mask).sum() / mask.sum(),
                             rtol=1e-5)
  with pytest.raises(ValueError, match='mae needs'):
    losses.mae(pred, target, mask[:, :2])


def test_ijepa_values_and_layer_norm_placement():
  ijepa = jax.jit(losses.ijepa, static_argnames='normalize_target')
  np.testing.assert_allclose(ijepa(JEPA_PRED, JEPA_TARGET), 0.2314434510,
                             rtol=1e-6)
  # The LN is applied inside by default: passing the card's LN(h) with
  # normalize_target=False gives the same value.
  np.testing.assert_allclose(losses.masked.layer_norm(JEPA_TARGET), JEPA_LN,
                             rtol=1e-6, atol=1e-7)
  np.testing.assert_allclose(
      ijepa(JEPA_PRED, JEPA_LN, normalize_target=False), 0.2314434510,
      rtol=1e-6)
  # Smooth-L1, not MSE (the card's MSE of the same pair: 0.5298736717).
  mse = np.mean((JEPA_PRED - JEPA_LN) ** 2)
  np.testing.assert_allclose(mse, 0.5298736717, rtol=1e-6)
  # Both branches of smooth-L1 (|d| >= 1 is linear): d = 3 -> 2.5.
  np.testing.assert_allclose(
      losses.ijepa(np.array([[3.]]), np.zeros((1, 1)),
                   normalize_target=False), 2.5)
  # A validity mask (padded target tokens, docs/methods.md#i-jepa): the
  # mean over the real tokens' elements only. Token 0 alone: d = |pred -
  # LN| = 0.3416354, 0.0527882 (twice), 0.3416354, all < 1, so
  # mean d^2 / 2 = 0.0298753384; token 1 alone 0.4330115635.
  np.testing.assert_allclose(ijepa(JEPA_PRED, JEPA_TARGET, np.array([1, 0])),
                             0.0298753384, rtol=1e-6)
  np.testing.assert_allclose(ijepa(JEPA_PRED, JEPA_TARGET, np.array([0, 1])),
                             0.4330115635, rtol=1e-6)
  np.testing.assert_allclose(ijepa(JEPA_PRED, JEPA_TARGET, np.ones(2)),
                             0.2314434510, rtol=1e-6)


def test_data2vec_targets_loss_and_cls():
  y = jax.jit(losses.data2vec_targets, static_argnums=1)(D2V_LAYERS, 2)
  np.testing.assert_allclose(y, D2V_Y, rtol=1e-5, atol=1e-6)
  # A list of layers works too; top_k takes the *last* layers.
  np.testing.assert_allclose(
      losses.data2vec_targets([np.ones_like(D2V_LAYERS[0]) * 9,
                               *D2V_LAYERS], 2), D2V_Y, rtol=1e-5,
      atol=1e-6)
  loss = jax.jit(losses.data2vec, static_argnums=3)(D2V_PRED, D2V_LAYERS,
                                                    D2V_MASK, 2)
  np.testing.assert_allclose(loss, 3.1903644165, rtol=1e-6)
  np.testing.assert_allclose(
      losses.data2vec_regression(D2V_PRED, D2V_Y, D2V_MASK), 3.1903644165,
      rtol=1e-6)
  cls = losses.data2vec_cls(np.array([[0.1, 0.2, -0.3]]), y)
  np.testing.assert_allclose(cls, 0.0009536746, rtol=1e-5)
  np.testing.assert_allclose(loss + cls, 3.1913180911, rtol=1e-6)
  # The CLS term is a per-sample sum: two identical samples double it.
  np.testing.assert_allclose(
      losses.data2vec_cls(np.array([[0.1, 0.2, -0.3]] * 2),
                          np.concatenate([y, y])), 2 * cls, rtol=1e-6)
  with pytest.raises(ValueError, match='top_k'):
    losses.data2vec_targets(D2V_LAYERS, 3)


def test_data2vec_targets_instance_norm_over_tokens():
  # float64 reference of y = LN(mean_l IN(a_l)), biased variances, eps 1e-5.
  rng = np.random.default_rng(1)
  layers = rng.normal(size=(3, 2, 5, 4)) * 3 + 1
  inorm = (layers - layers.mean(2, keepdims=True)) / np.sqrt(
      layers.var(2, keepdims=True) + 1e-5)
  avg = inorm[1:].mean(0)
  expected = (avg - avg.mean(-1, keepdims=True)) / np.sqrt(
      avg.var(-1, keepdims=True) + 1e-5)
  np.testing.assert_allclose(losses.data2vec_targets(layers, 2), expected,
                             rtol=1e-4, atol=1e-5)
