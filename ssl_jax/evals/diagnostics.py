"""Collapse diagnostics of an embedding matrix Z [N, D].

Each is described in docs/methods.md#collapse-diagnostics.

- normalized_std: SimSiam's per-dimension std of l2-normalised embeddings
  (arXiv 2011.10566, Fig. 2), times sqrt(D): ≈ 1 for an isotropic Gaussian,
  0 when every embedding points the same way.
- rankme: RankMe, the effective rank exp(entropy) of the singular values
  (Garrido et al., arXiv 2210.02885), in [1, min(N, D)].
- alignment and uniformity: Wang & Isola (arXiv 2005.10242), on
  l2-normalised embeddings; alignment of positive pairs (0 = identical
  views) and log of the mean Gaussian potential over distinct pairs
  (lower = more uniform on the sphere, 0 = all points equal).

Host-side float64 numpy: these run on a few thousand cached embeddings,
where exactness matters more than speed; uniformity is computed in row
chunks so that the N x N distance matrix never exists whole.
"""

import numpy as np

# An embedding is flagged as collapsed below either threshold. normalized_std
# < 0.1 means the normalised embeddings barely move (complete collapse);
# RankMe < 2 means one direction carries nearly all the energy (dimensional
# collapse). RankMe cannot exceed min(N, D), so the flag is only meaningful
# for D >= 4 or so: a healthy 2-d embedding already sits just below 2.
COLLAPSE_STD = 0.1
COLLAPSE_RANKME = 2.0


def _l2_normalize(z: np.ndarray, eps: float = 1e-12) -> np.ndarray:
  z = np.asarray(z, np.float64)
  norm = np.linalg.norm(z, axis=-1, keepdims=True)
  return z / np.maximum(norm, eps)


def normalized_std(z: np.ndarray) -> float:
  """mean_j std_j(z_b / ||z_b||) · sqrt(D); biased std over the N rows."""
  n = _l2_normalize(z)
  return float(np.mean(np.std(n, axis=0)) * np.sqrt(n.shape[1]))


def singular_values(z: np.ndarray, *, center: bool = True) -> np.ndarray:
  """Singular values of Z, descending; of Z − mean(Z) unless center=False.

  The centred spectrum (= sqrt(N · eigenvalues of the covariance)) is the
  one to plot for dimensional collapse; RankMe uses the raw Z.
  """
  z = np.asarray(z, np.float64)
  if center:
    z = z - z.mean(axis=0)
  return np.linalg.svd(z, compute_uv=False)


def rankme(z: np.ndarray, eps: float = 1e-7) -> float:
  """exp(−Σ p_k log p_k), p_k = σ_k / Σσ + eps, σ of the uncentred Z.

  Uncentred as in the paper (docs/methods.md#collapse-diagnostics:
  diag(3, 1) → 1.7547652934).
  """
  s = singular_values(z, center=False)
  # An all-zero Z has Σσ = 0; the guard maps it to p = eps, RankMe ≈ 1.
  p = s / max(np.sum(s), np.finfo(np.float64).tiny) + eps
  return float(np.exp(-np.sum(p * np.log(p))))


def alignment(z1: np.ndarray, z2: np.ndarray, alpha: float = 2.0) -> float:
  """mean_i ||n(z1_i) − n(z2_i)||^alpha over the N positive pairs."""
  diff = _l2_normalize(z1) - _l2_normalize(z2)
  return float(np.mean(np.linalg.norm(diff, axis=1) ** alpha))


def uniformity(z: np.ndarray, t: float = 2.0, chunk: int = 512) -> float:
  """log mean_{i<j} exp(−t ||n(z_i) − n(z_j)||²), as torch.pdist does it.

  Args:
    z: [N, D] embeddings, N >= 2.
    t: temperature of the Gaussian potential.
    chunk: rows per block; memory is O(chunk · N) (40 MB at 512 x 10k).

  Returns:
    The uniformity, in [−4t, 0].
  """
  n = _l2_normalize(z)
  num = len(n)
  if num < 2:
    raise ValueError(f'uniformity needs at least 2 embeddings, got {num}.')
  # Running log-sum-exp over blocks, so that large t cannot underflow to
  # log(0); each block holds rows [s, e) against columns [s, N).
  total = -np.inf
  for s in range(0, num, chunk):
    e = min(s + chunk, num)
    # ||a − b||² = 2 − 2 a·b for unit vectors; clip rounding below 0.
    sq = np.maximum(2.0 - 2.0 * (n[s:e] @ n[s:].T), 0.0)
    # Keep only j > i: in block coordinates column c > row r.
    upper = np.triu(np.ones(sq.shape, bool), k=1)
    if not upper.any():
      continue
    v = -t * sq[upper]
    m = v.max()
    total = np.logaddexp(total, m + np.log(np.sum(np.exp(v - m))))
  return float(total - np.log(num * (num - 1) / 2))


def is_collapsed(norm_std: float, rank: float) -> bool:
  """The `collapsed` flag: normalized_std < 0.1 or RankMe < 2."""
  return bool(norm_std < COLLAPSE_STD or rank < COLLAPSE_RANKME)


def evaluate(z: np.ndarray, z2: np.ndarray | None = None) -> dict:
  """All diagnostics of embeddings z [N, D] (and a second view z2 [N, D]).

  Returns:
    {'normalized_std', 'rankme', 'uniformity', 'alignment' (only with z2):
    floats; 'collapsed': bool (see is_collapsed); 'singular_values': the
    centred spectrum, descending, as a list of floats for plots;
    'num_examples', 'dim': ints}.
  """
  z = np.asarray(z)
  results = {'normalized_std': normalized_std(z), 'rankme': rankme(z),
             'uniformity': uniformity(z)}
  if z2 is not None:
    results['alignment'] = alignment(z, z2)
  results['collapsed'] = is_collapsed(results['normalized_std'],
                                      results['rankme'])
  results['singular_values'] = [float(s) for s in singular_values(z)]
  results.update(num_examples=int(z.shape[0]), dim=int(z.shape[1]))
  return results
