"""Redundancy reduction: Barlow Twins and VICReg (pure, global batch).

Both use per-dimension statistics over the batch, so they must see the global
batch: under jit that is the default; in pmap mode the method gathers first.
"""

from typing import Dict, Tuple

import jax
import jax.numpy as jnp

# BatchNorm1d's default eps: Barlow Twins standardises with an affine-free BN.
_BN_EPS = 1e-5
# VICReg's eps inside sqrt(Var + eps): keeps the gradient of the std finite
# when a dimension has collapsed to zero variance.
_VICREG_EPS = 1e-4


def _check_pair(name: str, z1, z2) -> None:
  if z1.shape != z2.shape or z1.ndim != 2 or z1.shape[0] < 2:
    raise ValueError(f'{name} needs two [N, D] arrays with N >= 2: '
                     f'{z1.shape}, {z2.shape}.')


def diagonal(c: jax.Array) -> jax.Array:
  """jnp.diagonal(c) of a square matrix, as a masked row sum.

  The same values (the other terms are exact zeros); jnp.diagonal's
  gradient is a scatter, for which XLA TPU gives no cost estimate, so the
  estimated step time of a method using it was unavailable (docs/tpu.md).
  """
  eye = jnp.eye(c.shape[0], c.shape[1], dtype=bool)
  return jnp.sum(jnp.where(eye, c, 0), axis=1)


def cross_terms(a: jax.Array, b: jax.Array,
                divisor: float) -> Tuple[jax.Array, jax.Array]:
  """(diag C, sum_{i != j} C_ij^2) of C = a^T b / divisor, a and b [N, D].

  With N < D (the papers' 8192-wide projectors at a per-step batch below
  8192), C is never formed: ||a^T b||_F^2 = sum((a a^T) * (b b^T)), two
  N x N Gram matrices (N^2 D multiply-adds instead of N D^2, and no D x D
  matrix and gradient in memory), and diag C = sum_n a_n * b_n. The same
  values up to round-off; the D x D form is kept where it is the smaller.
  """
  n, d = a.shape
  if n < d:
    diag = jnp.sum(a * b, axis=0) / divisor
    gram_a = a @ a.T
    gram_b = gram_a if b is a else b @ b.T  # VICReg: one Gram matrix.
    total = jnp.sum(gram_a * gram_b) / (divisor * divisor)
  else:
    c = a.T @ b / divisor
    diag = diagonal(c)
    total = jnp.sum(c * c)
  return diag, total - jnp.sum(diag * diag)


def barlow_twins(z1: jax.Array, z2: jax.Array, lambda_: float) -> jax.Array:
  """Barlow Twins' cross-correlation loss.

  Zbontar et al., "Barlow Twins: Self-Supervised Learning via Redundancy
  Reduction", arXiv 2103.03230, eq. (1):
    z_hat = (z - mean_b z) / sqrt(Var_b(z) + 1e-5)   (biased var, as BN),
    C = z_hat1^T z_hat2 / N,
    L = sum_i (1 - C_ii)^2 + lambda sum_{i != j} C_ij^2
  (C's terms from `cross_terms`: no D x D matrix when N < D).

  Args:
    z1: [N, D] projector outputs of view 1 (global batch).
    z2: [N, D] projector outputs of view 2, same image order.
    lambda_: weight of the redundancy term (0.0051 in the paper).

  Returns:
    The scalar loss (no further scaling).

  Example (docs/methods.md#barlow-twins):
  z1 = [[1, 2], [3, 1], [0, 0], [2, 5]],
  z2 = [[2, 1], [1, 1], [0, 3], [1, 0]], lambda = 0.0051 -> 3.9245238247.
  """
  _check_pair('barlow_twins', z1, z2)

  def standardise(z):
    z = z.astype(jnp.float32)
    mean = jnp.mean(z, axis=0)
    var = jnp.mean(jnp.square(z - mean), axis=0)
    return (z - mean) * jax.lax.rsqrt(var + _BN_EPS)

  diag, off_diagonal = cross_terms(standardise(z1), standardise(z2),
                                   z1.shape[0])
  return jnp.sum(jnp.square(1.0 - diag)) + lambda_ * off_diagonal


def _variance(z: jax.Array) -> jax.Array:
  """Hinge on the per-dimension std: (1/D) sum_d relu(1 - std_d)."""
  std = jnp.sqrt(jnp.var(z, axis=0, ddof=1) + _VICREG_EPS)
  return jnp.mean(jax.nn.relu(1.0 - std))


def _covariance(z: jax.Array) -> jax.Array:
  """(1/D) sum_{i != j} Cov_ij^2, Cov = z_c^T z_c / (N - 1)."""
  n, d = z.shape
  centred = z - jnp.mean(z, axis=0)
  _, off_diagonal = cross_terms(centred, centred, n - 1)
  return off_diagonal / d


def vicreg(
    z1: jax.Array,
    z2: jax.Array,
    sim_coeff: float = 25.0,
    std_coeff: float = 25.0,
    cov_coeff: float = 1.0,
) -> Tuple[jax.Array, Dict[str, jax.Array]]:
  """VICReg's variance-invariance-covariance loss.

  Bardes, Ponce and LeCun, "VICReg: Variance-Invariance-Covariance
  Regularization for Self-Supervised Learning", arXiv 2105.04906, eq. (6),
  as in the official code:
    s = mean_{b,d} (z1 - z2)^2,
    v(z) = (1/D) sum_d relu(1 - sqrt(Var_d(z) + 1e-4))   (unbiased var),
    c(z) = (1/D) sum_{i != j} Cov(z)_ij^2,  Cov(z) = z_c^T z_c / (N - 1),
    L = sim_coeff s + std_coeff (v(z1) + v(z2)) / 2 + cov_coeff (c(z1) + c(z2)).
  (solo-learn drops the 1/2 on the variance term; the official code has it.)

  Args:
    z1: [N, D] expander outputs of view 1 (global batch).
    z2: [N, D] expander outputs of view 2, same image order.
    sim_coeff: weight of the invariance term.
    std_coeff: weight of the variance term.
    cov_coeff: weight of the covariance term.

  Returns:
    (loss, terms): the scalar loss and the unweighted terms
    {'invariance': s, 'variance': var, 'covariance': cov} for logging.

  Example (docs/methods.md#vicreg): z1 = [[1, 2], [3, 1], [0, 0], [2, 5]],
  z2 = [[2, 1], [1, 1], [0, 3], [1, 0]] -> s = 5.125, var = 0.0458605460,
  cov = 1.4444444444, loss = 130.7159580952.
  """
  _check_pair('vicreg', z1, z2)
  z1 = z1.astype(jnp.float32)
  z2 = z2.astype(jnp.float32)
  invariance = jnp.mean(jnp.square(z1 - z2))
  variance = 0.5 * (_variance(z1) + _variance(z2))
  covariance = _covariance(z1) + _covariance(z2)
  loss = (sim_coeff * invariance + std_coeff * variance
          + cov_coeff * covariance)
  return loss, {'invariance': invariance, 'variance': variance,
                'covariance': covariance}
