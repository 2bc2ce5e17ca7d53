"""The report's pictures: pure functions from numpy arrays to PNG files.

Figures are built with matplotlib's object API on an explicit Agg canvas,
never through pyplot: nothing here touches the global backend or figure
registry, so it runs headless, in threads, and inside a notebook without
changing how that notebook shows its own plots.

The 2-D map is t-SNE (van der Maaten & Hinton, JMLR 2008) by default, after
l2-normalisation (the geometry kNN scores) and a PCA to at most 50
dimensions (the paper reduces to 30 first; 50 is scikit-learn's advice);
`method='pca'` is the fast, deterministic alternative for smoke runs and
tests.
"""

import matplotlib
import numpy as np
from matplotlib import figure as figure_lib
from matplotlib.backends import backend_agg

# Trainer metrics (step.py, train.py); every other key is the method's own.
TRAINER_KEYS = ('step', 'loss', 'ssl_loss', 'lr', 'grad_norm', 'param_norm',
                'update_norm', 'embedding_std', 'probe_top1', 'probe_loss',
                'images_per_second', 'nonfinite', 'data_wait_fraction')
MAP_METHODS = ('tsne', 'pca')
_DPI = 110


def _figure(width: float, height: float,
            layout: str | None = 'constrained') -> figure_lib.Figure:
  fig = figure_lib.Figure(figsize=(width, height), dpi=_DPI, layout=layout)
  backend_agg.FigureCanvasAgg(fig)
  return fig


def _save(fig: figure_lib.Figure, path: str) -> str:
  fig.savefig(path, format='png', dpi=_DPI)
  return path


def dedupe_steps(rows: list[dict]) -> list[dict]:
  """One row per step, the last one written, in step order.

  A run resumed from a checkpoint older than its last log step logs the
  steps after the checkpoint again; the newer rows are the run that the
  checkpoint continues.
  """
  by_step = {int(r['step']): r for r in rows}
  return [by_step[s] for s in sorted(by_step)]


def _series(rows, key):
  steps = [r['step'] for r in rows if key in r]
  return np.asarray(steps), np.asarray([r[key] for r in rows if key in r],
                                       np.float64)


def training_curves(rows: list[dict], path: str, *, title: str = '') -> str:
  """2 x 3 panels over steps: losses, the method's terms, lr, online probe
  top-1, embedding std, and gradient/update norms (log scale)."""
  rows = dedupe_steps(rows)
  method_keys = sorted({k for r in rows for k in r} - set(TRAINER_KEYS))
  panels = [
      ('loss', ('loss', 'ssl_loss', 'probe_loss'), False),
      ("method's terms", tuple(method_keys), False),
      ('learning rate', ('lr',), False),
      ('online probe top-1 (train batch)', ('probe_top1',), False),
      ('embedding std (collapse: 0)', ('embedding_std',), False),
      ('norms', ('grad_norm', 'update_norm'), True),
  ]
  fig = _figure(13, 6.5)
  axes = fig.subplots(2, 3).ravel()
  for ax, (name, keys, log) in zip(axes, panels):
    drawn = 0
    for key in keys:
      steps, values = _series(rows, key)
      if len(steps):
        ax.plot(steps, values, marker='.' if len(steps) < 30 else None,
                label=key)
        drawn += 1
    ax.set_title(name)
    ax.set_xlabel('step')
    ax.grid(alpha=0.3)
    if log and drawn:
      ax.set_yscale('log')
    if drawn > 1:
      ax.legend(fontsize='small')
    if not drawn:
      ax.text(0.5, 0.5, 'not logged', ha='center', va='center',
              transform=ax.transAxes, color='gray')
  if title:
    fig.suptitle(title)
  return _save(fig, path)


def project_2d(features: np.ndarray, *, method: str = 'tsne',
               seed: int = 0) -> np.ndarray:
  """[N, D] features -> [N, 2] map points (t-SNE or PCA, see module doc)."""
  if method not in MAP_METHODS:
    raise ValueError(f'method={method!r}; allowed: {MAP_METHODS}.')
  x = np.asarray(features, np.float64)
  x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
  x = x - x.mean(axis=0)
  # PCA by SVD: the map itself for 'pca', t-SNE's input otherwise.
  u, s, _ = np.linalg.svd(x, full_matrices=False)
  x = u[:, :50] * s[:50]
  if method == 'pca':
    return np.pad(x[:, :2], ((0, 0), (0, max(0, 2 - x.shape[1]))))
  # pylint: disable=g-import-not-at-top
  import threadpoolctl
  from sklearn import manifold
  # pylint: enable=g-import-not-at-top
  tsne = manifold.TSNE(n_components=2, perplexity=min(30.0, (len(x) - 1) / 3),
                       init='pca', learning_rate='auto', random_state=seed)
  # One OpenMP thread: the Barnes-Hut gradient opens a parallel region in
  # each of its 1000 iterations, which beside XLA's and tf.data's threads
  # (or other jobs) costs more than it gains: 1000 points took 26 s with 2
  # threads and 5 s with 1 on a busy 2-core machine.
  with threadpoolctl.threadpool_limits(1, user_api='openmp'):
    return tsne.fit_transform(x)


def embedding_map(points: np.ndarray, labels: np.ndarray, path: str, *,
                  class_names=None, title: str = '') -> str:
  """Scatter of [N, 2] points coloured by class (legend up to 20 classes);
  labels all -1 (unlabelled data): one colour, no legend."""
  labels = np.asarray(labels)
  classes = np.unique(labels)
  unlabelled = bool((labels < 0).all())
  fig = _figure(8.5 if len(classes) <= 20 and not unlabelled else 7, 7)
  ax = fig.add_subplot()
  if unlabelled:
    ax.scatter(points[:, 0], points[:, 1], s=6, color='tab:blue', alpha=0.8,
               linewidths=0)
  elif len(classes) <= 20:
    palette = matplotlib.colormaps['tab10' if len(classes) <= 10 else 'tab20']
    for i, c in enumerate(classes):
      keep = labels == c
      name = class_names[c] if class_names is not None else str(c)
      ax.scatter(points[keep, 0], points[keep, 1], s=6, label=name,
                 color=palette.colors[i], alpha=0.8, linewidths=0)
    ax.legend(markerscale=3, fontsize='small', loc='center left',
              bbox_to_anchor=(1.0, 0.5), frameon=False)
  else:  # Too many classes to name: a continuous colour per class id.
    ax.scatter(points[:, 0], points[:, 1], s=4, c=labels, cmap='hsv',
               alpha=0.8, linewidths=0)
  ax.set_xticks([])
  ax.set_yticks([])
  ax.set_title(title)
  return _save(fig, path)


def spectrum(singular_values, path: str, *, title: str = '',
             note: str = '') -> str:
  """Singular values (descending, normalised by the largest) on a log axis,
  and their cumulative energy share."""
  s = np.asarray(singular_values, np.float64)
  fig = _figure(11, 4.2)
  left, right = fig.subplots(1, 2)
  k = np.arange(1, len(s) + 1)
  left.semilogy(k, s / max(s[0], np.finfo(np.float64).tiny), marker='.')
  left.set_xlabel('index k')
  left.set_ylabel('σ_k / σ_1')
  left.set_title('singular values (centred features)')
  left.grid(alpha=0.3, which='both')
  energy = np.cumsum(s ** 2) / max(np.sum(s ** 2), np.finfo(np.float64).tiny)
  right.plot(k, energy, marker='.')
  right.set_ylim(0, 1.02)
  right.set_xlabel('index k')
  right.set_title('cumulative share of variance')
  right.grid(alpha=0.3)
  if note:
    left.text(0.98, 0.95, note, ha='right', va='top',
              transform=left.transAxes, fontsize='small',
              bbox={'facecolor': 'white', 'alpha': 0.8, 'edgecolor': 'none'})
  if title:
    fig.suptitle(title)
  return _save(fig, path)


def _show(ax, image):
  image = np.asarray(image)
  if image.shape[-1] == 1:
    ax.imshow(image[..., 0], cmap='gray', vmin=0, vmax=255)
  else:
    ax.imshow(image)
  ax.set_xticks([])
  ax.set_yticks([])


def retrieval_grid(query_images, query_labels, neighbour_images,
                   neighbour_labels, similarities, path: str, *,
                   class_names=None, title: str = '') -> str:
  """One row per query: the query, then its neighbours, framed green when
  they share the query's class and red otherwise (unframed and untitled
  when the labels are all -1: unlabelled data).

  Args:
    query_images: uint8 [Q, H, W, C].
    query_labels: [Q].
    neighbour_images: uint8 [Q, K, H, W, C].
    neighbour_labels: [Q, K].
    similarities: [Q, K] cosine similarities, shown under each neighbour.
    path: the PNG to write.
    class_names: optional names indexed by label.
    title: figure title.
  """
  q, k = np.asarray(neighbour_labels).shape
  labelled = bool((np.asarray(query_labels) >= 0).any())
  name = lambda c: ('' if not labelled else class_names[c]
                    if class_names is not None else str(c))
  height = 1.45 * q + 0.7
  # Fixed margins: constrained layout would cost a second per 72 axes.
  fig = _figure(1.25 * (k + 1), height, layout=None)
  fig.subplots_adjust(left=0.01, right=0.99, bottom=0.25 / height,
                      top=1 - 0.7 / height, wspace=0.1, hspace=0.45)
  axes = np.asarray(fig.subplots(q, k + 1, squeeze=False))
  for i in range(q):
    _show(axes[i, 0], query_images[i])
    query = f': {name(query_labels[i])}' if labelled else ''
    axes[i, 0].set_title(f'query{query}', fontsize=7,
                         fontweight='bold')
    for j in range(k):
      ax = axes[i, j + 1]
      _show(ax, neighbour_images[i, j])
      same = neighbour_labels[i, j] == query_labels[i]
      for spine in ax.spines.values() if labelled else ():
        spine.set_edgecolor('tab:green' if same else 'tab:red')
        spine.set_linewidth(2.5)
      ax.set_title(f'{name(neighbour_labels[i, j])}', fontsize=6)
      ax.set_xlabel(f'{similarities[i, j]:.3f}', fontsize=6, labelpad=1)
  if title:
    fig.suptitle(title, y=1 - 0.12 / height, va='top')
  return _save(fig, path)

