"""Linear probe on frozen features (features extracted once, then cached).

Features are standardised with the training set's statistics (MAE's
BatchNorm-without-affine head, docs/methods.md#linear-probe), then a linear
layer is trained with AdamW and a cosine schedule on shuffled mini-batches;
the whole training is one jitted `lax.scan`, so it costs seconds even for
60k x 2048.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax

from ssl_jax.evals import knn


def standardize(train, test, eps: float = 1e-6):
  mean, std = train.mean(0), train.std(0)
  return (train - mean) / (std + eps), (test - mean) / (std + eps)


@functools.partial(jax.jit, static_argnames=('epochs', 'batch_size',
                                             'num_classes'))
def _train(features, labels, key, *, epochs: int, batch_size: int,
           num_classes: int, lr: float, weight_decay: float):
  n, d = features.shape
  steps_per_epoch = n // batch_size
  schedule = optax.cosine_decay_schedule(lr, epochs * steps_per_epoch)
  tx = optax.adamw(schedule, weight_decay=weight_decay)
  params = {'w': jnp.zeros((d, num_classes)), 'b': jnp.zeros((num_classes,))}
  opt_state = tx.init(params)

  def loss_fn(params, x, y):
    logits = x @ params['w'] + params['b']
    return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()

  def step(carry, idx):
    params, opt_state = carry
    grads = jax.grad(loss_fn)(params, features[idx], labels[idx])
    updates, opt_state = tx.update(grads, opt_state, params)
    return (optax.apply_updates(params, updates), opt_state), None

  def epoch(carry, key):
    order = jax.random.permutation(key, n)[:steps_per_epoch * batch_size]
    return jax.lax.scan(step, carry, order.reshape(steps_per_epoch, -1))[0], None

  (params, _), _ = jax.lax.scan(epoch, (params, opt_state),
                                jax.random.split(key, epochs))
  return params


def evaluate(train_features, train_labels, test_features, test_labels, *,
             num_classes: int, epochs: int = 30, batch_size: int = 1024,
             lr: float = 1e-3, weight_decay: float = 0.0,
             seed: int = 0) -> dict:
  """Trains a linear classifier; returns test {'top1', 'top5', ...}."""
  train_x, test_x = standardize(np.asarray(train_features, np.float32),
                                np.asarray(test_features, np.float32))
  batch_size = min(batch_size, len(train_x))
  params = _train(jnp.asarray(train_x), jnp.asarray(train_labels),
                  jax.random.PRNGKey(seed), epochs=epochs,
                  batch_size=batch_size, num_classes=num_classes, lr=lr,
                  weight_decay=weight_decay)
  logits = np.asarray(jnp.asarray(test_x) @ params['w'] + params['b'])
  train_logits = np.asarray(jnp.asarray(train_x) @ params['w'] + params['b'])
  return {'top1': knn.topk_accuracy(logits, test_labels, 1),
          'top5': knn.topk_accuracy(logits, test_labels, min(5, num_classes)),
          'train_top1': knn.topk_accuracy(train_logits, train_labels, 1),
          'epochs': epochs, 'lr': lr, 'batch_size': batch_size,
          'optimizer': 'adamw+cosine', 'weight_decay': weight_decay}
