"""examples/quickstart.ipynb runs top to bottom on its smoke setting."""

import json
import os

import nbclient
import nbformat

from conftest import REPO, subprocess_env

NOTEBOOK = os.path.join(REPO, 'examples', 'quickstart.ipynb')


def _outputs(nb, kind):
  """Text of every stream/text output, or the count of PNG displays."""
  outs = [o for c in nb.cells if c.cell_type == 'code' for o in c.outputs]
  if kind == 'png':
    return sum('image/png' in o.get('data', {}) for o in outs)
  return '\n'.join(o.get('text', '') + o.get('data', {}).get('text/plain', '')
                   for o in outs)


def test_committed_notebook_has_no_outputs():
  nb = nbformat.read(NOTEBOOK, as_version=4)
  nbformat.validate(nb)
  for cell in nb.cells:
    if cell.cell_type == 'code':
      assert not cell.outputs and cell.execution_count is None, cell.source


def test_quickstart_runs_top_to_bottom(fmnist_data_dir, tmp_path,
                                       monkeypatch):
  # The kernel is a new process: it inherits these.
  monkeypatch.setenv('SSL_JAX_NOTEBOOK_SMOKE', '1')
  monkeypatch.setenv('SSL_JAX_NOTEBOOK_WORKDIR', str(tmp_path))
  monkeypatch.setenv('TFDS_DATA_DIR', fmnist_data_dir)
  for key, value in subprocess_env().items():
    monkeypatch.setenv(key, value)
  nb = nbformat.read(NOTEBOOK, as_version=4)
  client = nbclient.NotebookClient(
      nb, timeout=600, kernel_name='python3',
      resources={'metadata': {'path': os.path.dirname(NOTEBOOK)}})
  client.execute()  # Raises CellExecutionError, with the cell, on an error.

  text = _outputs(nb, 'text')
  assert 'SMOKE=True' in text
  for table in ('simclr step 6 on fashion_mnist_offline (test[:1000])',
                'align_uniform step 6 on fashion_mnist_offline'):
    assert table in text, table
  # Three tables (SimCLR, AlignUniform, section 7's folder); section 7
  # runs no linear probe.
  for row, tables in (('kNN (SSL features)', 3), ('kNN (raw pixels)', 3),
                      ('kNN (standardised pixels)', 3),
                      ('linear probe (SSL features)', 2),
                      ('linear probe (standardised pixels)', 2),
                      ('RankMe (test features)', 3)):
    # Table rows start with their name (progress lines name them too).
    rows = [l for l in text.splitlines() if l.startswith(row)]
    assert len(rows) == tables, (row, rows)
  assert _outputs(nb, 'png') == 4
  for name in ('curves', 'embedding_2d', 'spectrum', 'retrieval'):
    assert (tmp_path / 'simclr' / 'report' / f'{name}.png').is_file(), name
  # The new method's own loss terms were logged.
  with open(tmp_path / 'align_uniform' / 'train_metrics.jsonl') as f:
    assert '"uniformity"' in f.read()
  # Section 7: pretrained on the unlabelled folder (no probe), evaluated on
  # the labelled one (the third table).
  assert 'simclr step 3 on folder' in text
  with open(tmp_path / 'own_images' / 'config.json') as f:
    assert json.load(f)['probe']['enabled'] is False
  with open(tmp_path / 'own_images' / 'eval' / 'results.json') as f:
    own = json.load(f)
  assert own['eval_data'].startswith('200 images') and 'knn_top1' in own
