"""The evaluation table the CLIs print and the report embeds.

One row per result: each protocol on the SSL features, followed by the
same protocol on pixels (evals/pixels.py), then a line saying by how many
points the features beat or lose to the best pixel baseline
(eval_results.with_baselines).
"""

from ssl_jax import eval_results


def _baseline_rows(results: dict, protocol: str, note: str) -> list[tuple]:
  return [(label, f"{results[f'{prefix}top1']:.4f}",
           f"{results[f'{prefix}top5']:.4f}", note)
          for proto, prefix, label in eval_results.PIXEL_BASELINES.values()
          if proto == protocol and f'{prefix}top1' in results]


def margin_line(results: dict) -> str | None:
  """'SSL features vs the best pixel baseline (...): kNN +1.23 points, ...'
  or None when there is no baseline."""
  margin = results.get(eval_results.MARGIN)
  if not margin:
    return None
  label = eval_results.PIXEL_BASELINES[margin['best_baseline']][2]
  parts = [f'{name} {margin[key]:+.2f} points' for name, key in
           (('kNN', 'knn_top1'), ('linear', 'linear_top1')) if key in margin]
  verdict = ('beat it' if parts and all(
      margin[k] > 0 for k in ('knn_top1', 'linear_top1') if k in margin)
             else 'do not beat it')
  return (f"SSL features vs the best pixel baseline, {label} "
          f"{margin['best_baseline_top1']:.4f}: {', '.join(parts) or '-'} "
          f'(top-1; they {verdict}).')


def format_table(results: dict) -> str:
  """The results as an aligned text table."""
  rows = [('protocol', 'top-1', 'top-5', 'settings')]
  if 'knn_top1' in results:
    s = results['knn_settings']
    knn_note = f"k={s['k']}, T={s['temperature']}, cosine"
    rows.append(('kNN (SSL features)', f"{results['knn_top1']:.4f}",
                 f"{results['knn_top5']:.4f}", knn_note))
    rows += _baseline_rows(results, 'knn', 'the same kNN')
  if 'linear_top1' in results:
    s = results['linear_settings']
    rows.append(('linear probe (SSL features)',
                 f"{results['linear_top1']:.4f}",
                 f"{results['linear_top5']:.4f}",
                 f"{s['epochs']} ep, {s['optimizer']}, lr {s['lr']}"))
    rows += _baseline_rows(results, 'linear', 'the same probe')
  if 'finetune_top1' in results:
    s = results['finetune_settings']
    decay = (f", layer decay {s['layer_decay']}" if s['layer_decay'] is not None
             else '')
    rows.append(('fine-tuning', f"{results['finetune_top1']:.4f}",
                 f"{results['finetune_top5']:.4f}",
                 f"{s['epochs']} ep, {s['optimizer']}, lr {s['lr']}{decay}"))
  for shots in results.get('fewshot_shots', []):
    rows.append((f'{shots}-shot ridge',
                 f"{results[f'fewshot_{shots}shot_top1_mean']:.4f}", '',
                 f"± {results[f'fewshot_{shots}shot_top1_std']:.4f} over "
                 f"{len(results['fewshot_seeds'])} seeds"))
  if 'diagnostics' in results:
    d = results['diagnostics']
    rows.append(('RankMe (test features)', f"{d['rankme']:.1f}", '',
                 f"of {d['dim']} dims; normalised std {d['normalized_std']:.3f}"
                 + (' COLLAPSED' if d['collapsed'] else '')))
  widths = [max(len(r[i]) for r in rows) for i in range(4)]
  lines = ['  '.join(c.ljust(w) for c, w in zip(r, widths)).rstrip()
           for r in rows]
  lines.insert(1, '  '.join('-' * w for w in widths))
  if margin := margin_line(results):
    lines.append(margin)
  head = (f"{results['method']} step {results['step']} on "
          f"{results['dataset']} ({results['eval_split']}), "
          f"{results['feature_dim']}-d features"
          + (', the last feature map flattened'
             if eval_results.readout_of(results) == 'map' else ''))
  older = [f"{name} of step {entry.get('step')}" for name, entry in
           results.get('protocols', {}).items()
           if entry.get('step') != results['step']]
  if older:  # Merged from earlier evaluations (eval_results.py).
    lines.append(f'Kept from earlier evaluations: {", ".join(older)}.')
  return head + '\n' + '\n'.join(lines)
