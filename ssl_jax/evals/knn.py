"""Weighted k-NN classification (Wu et al., arXiv 1805.01978; DINO eval_knn).

Cosine similarity between l2-normalised features; the top-k training items
vote with weight exp(s / T). Computed on device in query chunks so that the
[queries x bank] similarity matrix never exists whole.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np

from ssl_jax import losses


@functools.partial(jax.jit, static_argnames=('k', 'num_classes'))
def _vote(queries, bank, bank_labels, *, k: int, temperature: float,
          num_classes: int):
  sims = queries @ bank.T
  top_sims, top_idx = jax.lax.top_k(sims, k)
  weights = jnp.exp(top_sims / temperature)
  votes = jax.nn.one_hot(bank_labels[top_idx], num_classes) * weights[..., None]
  return jnp.sum(votes, axis=1)


def knn_scores(train_features, train_labels, test_features, *, k: int,
               temperature: float, num_classes: int,
               chunk: int = 1024) -> np.ndarray:
  """Class scores [num_test, num_classes] of the weighted k-NN vote."""
  k = min(k, len(train_features))
  bank = losses.l2_normalize(jnp.asarray(train_features))
  bank_labels = jnp.asarray(train_labels)
  queries = losses.l2_normalize(jnp.asarray(test_features))
  n = len(test_features)
  padded = -n % chunk
  queries = jnp.pad(queries, ((0, padded), (0, 0)))
  scores = [_vote(queries[i:i + chunk], bank, bank_labels, k=k,
                  temperature=temperature, num_classes=num_classes)
            for i in range(0, n + padded, chunk)]
  return np.asarray(jnp.concatenate(scores))[:n]


def topk_accuracy(scores: np.ndarray, labels: np.ndarray, k: int) -> float:
  top = np.argsort(-scores, axis=1)[:, :k]
  return float(np.mean(np.any(top == labels[:, None], axis=1)))


def evaluate(train_features, train_labels, test_features, test_labels, *,
             k: int = 200, temperature: float = 0.07,
             num_classes: int) -> dict:
  """Returns {'top1', 'top5', 'k', 'temperature'}."""
  scores = knn_scores(train_features, train_labels, test_features, k=k,
                      temperature=temperature, num_classes=num_classes)
  return {'top1': topk_accuracy(scores, test_labels, 1),
          'top5': topk_accuracy(scores, test_labels, min(5, num_classes)),
          'k': int(min(k, len(train_features))),
          'temperature': float(temperature)}
