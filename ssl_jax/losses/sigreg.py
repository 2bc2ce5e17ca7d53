"""LeJEPA's objective: SIGReg (sliced Epps-Pulley) + the prediction term.

Balestriero and LeCun, "LeJEPA: Provable and Scalable Self-Supervised
Learning Without the Heuristics", arXiv 2511.08544; rbalestr-lab/lejepa.
Every formula below is the official code's (file named beside it); pure,
float32, global batch (the official all-reduces the characteristic
functions over devices; the trainer hands these functions the gathered
batch instead, and N is the global batch).

  Epps-Pulley (`lejepa/univariate/epps_pulley.py: EppsPulley`, defaults
  t_max 3, n_points 17, trapezoid): knots t_k = linspace(0, t_max, K);
  the empirical characteristic function of a 1-D sample x_1..x_N at t is
  ecf(t) = mean_i cos(t x_i) + i mean_i sin(t x_i), the standard normal's
  phi(t) = exp(-t^2 / 2);
    T = N * sum_k w_k [(Re ecf(t_k) - phi(t_k))^2 + Im ecf(t_k)^2],
  w_k = 2 dt phi(t_k) inside, dt phi(t_k) at both ends, dt = t_max/(K-1):
  the trapezoid rule on [0, t_max] doubled (the integrand is even in t) of
  |ecf - phi|^2 weighted by w(t) = exp(-t^2 / 2).
  Slicing (`lejepa/multivariate/slicing.py: SlicingUnivariateTest`):
  A [D, S] with N(0, 1) entries, each column divided by its norm, drawn
  afresh every step from a generator seeded with the (all-reduced) step, so
  every device projects on the same directions; T per slice of z @ A, then
  the mean over the S slices.
  Views (MINIMAL.md `SIGReg.forward`, and the author's answer in
  galilai-group/lejepa issue 45): one statistic per view (the ECF over that
  view's N samples), averaged over the V views: not one test on the V*N
  rows pooled (stable-pretraining's first version).
  Prediction (MINIMAL.md `inv_loss`, the paper's Algorithm 1): every view
  (global and local) against the mean of the global views' projections,
  mean over views, examples and dimensions of the squared difference
  (lightly's first version left the global views out).
  Total: (1 - lambda) * prediction + lambda * SIGReg (MINIMAL.md
  `lejepa_loss`; stable-pretraining's first `inv + lambda * SIGReg` was a
  different weighting).
"""

import jax
import jax.numpy as jnp
import numpy as np


def epps_pulley_knots(t_max: float = 3.0, knots: int = 17):
  """(t [K], phi(t) [K], quadrature weights w [K]) of `EppsPulley`."""
  if knots < 2 or knots % 2 == 0:
    raise ValueError(f'epps_pulley: knots={knots} must be an odd integer '
                     '>= 3 (the official asserts n_points % 2 == 1).')
  if not t_max > 0:
    raise ValueError(f'epps_pulley: t_max={t_max} must be > 0.')
  t = np.linspace(0.0, t_max, knots)
  phi = np.exp(-0.5 * t**2)
  dt = t_max / (knots - 1)
  weights = np.full(knots, 2 * dt)
  weights[[0, -1]] = dt
  return (jnp.asarray(t, jnp.float32), jnp.asarray(phi, jnp.float32),
          jnp.asarray(weights * phi, jnp.float32))


def epps_pulley(x: jax.Array, t_max: float = 3.0,
                knots: int = 17) -> jax.Array:
  """The Epps-Pulley statistic of each column: x [..., N, S] -> [..., S].

  Example: x = [[0], [0]] (N = 2, a point mass at 0): ecf(t) = 1, so
  T = 2 * sum_k w_k (1 - phi_k)^2 (docs/methods.md#lejepa).
  """
  t, phi, weights = epps_pulley_knots(t_max, knots)
  n = x.shape[-2]
  x_t = x.astype(jnp.float32)[..., None] * t  # [..., N, S, K]
  err = ((jnp.mean(jnp.cos(x_t), axis=-3) - phi) ** 2
         + jnp.mean(jnp.sin(x_t), axis=-3) ** 2)  # [..., S, K]
  return jnp.sum(err * weights, axis=-1) * n


def sigreg_directions(key: jax.Array, dim: int, num_slices: int) -> jax.Array:
  """A [dim, num_slices]: N(0, 1) columns scaled to unit norm (`slicing.py`:
  `A = randn(D, S); A /= A.norm(p=2, dim=0)`). Draw from a key of the step
  alone, the same on every device (the official seeds with the step)."""
  a = jax.random.normal(key, (dim, num_slices), jnp.float32)
  return a / jnp.linalg.norm(a, axis=0, keepdims=True)


def sigreg(z: jax.Array, directions: jax.Array, t_max: float = 3.0,
           knots: int = 17) -> jax.Array:
  """SIGReg of views z [V, N, D] on directions [D, S]: the Epps-Pulley
  statistic of each view's projections, averaged over slices and views."""
  if z.ndim != 3 or directions.ndim != 2 or z.shape[-1] != directions.shape[0]:
    raise ValueError(f'sigreg needs z [V, N, D] and directions [D, S]: '
                     f'{z.shape}, {directions.shape}.')
  # Full float32 projections (a TPU's default matmul precision would round
  # them to bfloat16 before the cos/sin, which amplify the error by t).
  projected = jnp.matmul(z.astype(jnp.float32), directions,
                         precision=jax.lax.Precision.HIGHEST)
  return jnp.mean(epps_pulley(projected, t_max, knots))


def lejepa_prediction(z: jax.Array, num_global: int) -> jax.Array:
  """mean over (V, N, D) of (mean of the first `num_global` views - z)^2."""
  centers = jnp.mean(z[:num_global].astype(jnp.float32), axis=0)
  return jnp.mean((centers - z.astype(jnp.float32)) ** 2)


def lejepa(z: jax.Array, num_global: int, directions: jax.Array,
           lamb: float = 0.05, t_max: float = 3.0, knots: int = 17):
  """LeJEPA's loss of projections z [V, N, D] (the global views first).

  Returns (loss, {'prediction', 'sigreg'}), loss = (1 - lamb) * prediction
  + lamb * sigreg.
  """
  if not 1 <= num_global <= z.shape[0]:
    raise ValueError(f'lejepa: num_global={num_global} must be in [1, '
                     f'{z.shape[0]}] (the views of z {z.shape}).')
  prediction = lejepa_prediction(z, num_global)
  regulariser = sigreg(z, directions, t_max, knots)
  loss = (1.0 - lamb) * prediction + lamb * regulariser
  return loss, {'prediction': prediction, 'sigreg': regulariser}
