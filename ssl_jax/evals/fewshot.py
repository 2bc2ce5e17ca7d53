"""Few-shot linear evaluation by closed-form ridge regression.

Described in docs/methods.md#few-shot-ridge-regression.

big_vision's `evaluators/fewshot_lsr.py` (the few-shot numbers of ViT,
arXiv 2010.11929, and of Scaling ViTs, arXiv 2106.04560): from each class take
`shots` training examples, whiten them with their own mean and biased std
(+1e-5), append a bias column of constant 100 (so the bias is barely
regularised), regress the targets 2·onehot − 1 with an l2 penalty λ = 1024,
and predict the argmax. The solve goes through `eigh` of the Gram matrix
XᵀX (N ≥ D) or XXᵀ (N < D), as big_vision does; here in float64 numpy on
the host: the matrices are at most (D + 1)², and exactness is cheap.
"""

from typing import NamedTuple, Sequence

import numpy as np

BIAS_CONSTANT = 100.0
STD_EPS = 1e-5


class Ridge(NamedTuple):
  """A fitted few-shot regressor: whitening statistics and weights."""
  mean: np.ndarray  # [D]
  std: np.ndarray  # [D], biased std + STD_EPS.
  weights: np.ndarray  # [D + 1, C]; the last row multiplies the bias column.


def _design(x: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
  x = (np.asarray(x, np.float64) - mean) / std
  return np.pad(x, ((0, 0), (0, 1)), constant_values=BIAS_CONSTANT)


def fit(train_x: np.ndarray, train_y: np.ndarray, num_classes: int,
        reg: float = 1024.0) -> Ridge:
  """Fits the ridge regressor on [N, D] features and [N] integer labels."""
  train_x = np.asarray(train_x, np.float64)
  mean = train_x.mean(axis=0)
  std = train_x.std(axis=0) + STD_EPS
  x = _design(train_x, mean, std)
  y = 2.0 * np.eye(num_classes)[np.asarray(train_y)] - 1.0
  n, d = x.shape
  # Both forms are lhs · diag(1 / (eigs + λ)) · rhs with q diag(eigs) qᵀ the
  # eigendecomposition of the smaller Gram matrix: (XᵀX + λI)⁻¹XᵀY when
  # N ≥ D, Xᵀ(XXᵀ + λI)⁻¹Y otherwise (the push-through identity).
  if n >= d:
    eigs, q = np.linalg.eigh(x.T @ x)
    lhs, rhs = q, q.T @ (x.T @ y)
  else:
    eigs, q = np.linalg.eigh(x @ x.T)
    lhs, rhs = x.T @ q, q.T @ y
  weights = (lhs / (eigs + reg)) @ rhs
  return Ridge(mean=mean, std=std, weights=weights)


def scores(model: Ridge, x: np.ndarray) -> np.ndarray:
  """Regression outputs [M, C] for [M, D] features (test-time whitening)."""
  return _design(x, model.mean, model.std) @ model.weights


def fit_predict(train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray,
                num_classes: int, reg: float = 1024.0) -> np.ndarray:
  """Predicted classes [M] of `test_x` after fitting on (train_x, train_y)."""
  model = fit(train_x, train_y, num_classes, reg)
  return np.argmax(scores(model, test_x), axis=1)


def sample_shots(labels: np.ndarray, shots: int, seed: int, *,
                 num_classes: int | None = None) -> np.ndarray:
  """Indices of exactly `shots` examples of each class, grouped by class.

  As big_vision: one `default_rng(seed)` permutation of each class's
  indices, in class order, and the first `shots` of each; so for a given
  seed the 5-shot set is contained in the 10-shot set, and the draw equals
  big_vision's for the same seed.

  Args:
    labels: [N] integer labels of the pool to draw from.
    shots: examples per class.
    seed: seed of the draw; the same seed gives the same indices.
    num_classes: if given, classes are range(num_classes), so a class absent
      from `labels` is an error; otherwise the classes present in `labels`.

  Returns:
    [shots * num_classes] int indices into `labels`.

  Raises:
    ValueError: if some class has fewer than `shots` examples.
  """
  labels = np.asarray(labels)
  classes = (np.arange(num_classes) if num_classes is not None
             else np.unique(labels))
  rng = np.random.default_rng(seed)
  picked = []
  for c in classes:
    idx = rng.permutation(np.flatnonzero(labels == c))
    if len(idx) < shots:
      raise ValueError(f'Class {c} has {len(idx)} examples, fewer than the '
                       f'{shots} shots asked for.')
    picked.append(idx[:shots])
  return np.concatenate(picked)


def evaluate(train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray,
             test_y: np.ndarray, *, num_classes: int,
             shots: Sequence[int] = (1, 5, 10, 25),
             seeds: Sequence[int] = (0, 1, 2), reg: float = 1024.0) -> dict:
  """Few-shot top-1 accuracy over `seeds` draws for each number of shots.

  Args:
    train_x: [N, D] features of the pool the shots are drawn from.
    train_y: [N] integer labels of the pool.
    test_x: [M, D] features scored (all of them, every draw).
    test_y: [M] integer labels.
    num_classes: number of classes; each needs `max(shots)` pool examples.
    shots: numbers of examples per class.
    seeds: one draw per seed.
    reg: λ of the ridge penalty.

  Returns:
    {'fewshot_{k}shot_top1_mean', 'fewshot_{k}shot_top1_std'} for each k
    (std over seeds, ddof=0 so that one seed gives 0), plus the settings
    'fewshot_shots', 'fewshot_seeds' (lists), 'fewshot_reg',
    'fewshot_bias_constant'.
  """
  train_x, train_y = np.asarray(train_x), np.asarray(train_y)
  test_y = np.asarray(test_y)
  results = {}
  for k in shots:
    accs = []
    for seed in seeds:
      idx = sample_shots(train_y, k, seed, num_classes=num_classes)
      pred = fit_predict(train_x[idx], train_y[idx], test_x, num_classes, reg)
      accs.append(np.mean(pred == test_y))
    results[f'fewshot_{k}shot_top1_mean'] = float(np.mean(accs))
    results[f'fewshot_{k}shot_top1_std'] = float(np.std(accs))
  results.update(fewshot_shots=[int(k) for k in shots],
                 fewshot_seeds=[int(s) for s in seeds],
                 fewshot_reg=float(reg), fewshot_bias_constant=BIAS_CONSTANT)
  return results
