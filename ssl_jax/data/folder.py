"""A folder of images as a dataset: discovery, labels and a fingerprint.

  --config.data.name=folder --config.data.path=/data/scans
      [--config.data.labels=none|subfolders|csv --config.data.labels_csv=F]

The folder is searched recursively for JPEG, PNG, WebP, BMP and GIF files
(extensions in any case); other files are ignored and counted. The list is
sorted by relative path, so every process and every run agrees on what
index i is without talking to the others, and fingerprinted (relative paths,
sizes and labels), so a workdir can notice that files were added or removed
(data_record.py). Labels, when asked for, come from the first-level
subfolder names (the ImageFolder layout) or from a CSV of `path,label`
(paths relative to the folder); classes are numbered in sorted name order.

Pure Python (no TensorFlow): the config checks run it before anything
heavy loads, and everything wrong is a DatasetError naming the path and
what was found, before anything compiles or is written.
"""

import csv
import dataclasses
import hashlib
import os

from ssl_jax import errors

IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.webp', '.bmp', '.gif')
LABEL_SOURCES = ('none', 'subfolders', 'csv')


class DatasetError(errors.UserError):
  """The folder, its images or its labels cannot be used."""


@dataclasses.dataclass(frozen=True)
class FolderIndex:
  """The sorted image files of a folder and their labels."""
  root: str
  files: tuple[str, ...]  # Relative to root, sorted.
  labels: tuple[int, ...] | None  # One per file; None: unlabelled.
  class_names: tuple[str, ...]
  ignored: int  # Files that are not images (by extension).
  fingerprint: str

  @property
  def num_classes(self) -> int:
    return len(self.class_names)

  def paths(self) -> list[str]:
    return [os.path.join(self.root, f) for f in self.files]

  def summary(self) -> str:
    labelled = (f'{self.num_classes} classes' if self.labels is not None
                else 'no labels')
    return (f'{len(self.files)} images in {self.root} ({labelled}; '
            f'{self.ignored} other files ignored)')


def _walk(root: str) -> tuple[list[str], int]:
  """(sorted relative image paths, count of other files)."""
  images, other = [], 0
  for folder, dirs, names in os.walk(root, followlinks=True):
    dirs.sort()  # Determinism does not rest on os.walk's order anyway.
    for name in names:
      if name.startswith('.'):
        continue  # .DS_Store, editor swap files: not data, not counted.
      rel = os.path.relpath(os.path.join(folder, name), root)
      if os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS:
        images.append(rel.replace(os.sep, '/'))
      else:
        other += 1
  return sorted(images), other


def _describe_contents(root: str, limit: int = 5) -> str:
  """What an image-less folder holds, for the error message."""
  try:
    names = sorted(os.listdir(root))
  except OSError as e:
    return f'it cannot be listed ({e.strerror})'
  if not names:
    return 'it is empty'
  shown = ', '.join(names[:limit]) + (', ...' if len(names) > limit else '')
  return f'it holds {len(names)} entries ({shown}) but no image files'


def _check_root(root: str, key: str) -> None:
  if not root:
    raise DatasetError(f'config.{key} is not set: the folder of images to '
                       'read (searched recursively).')
  if not os.path.exists(root):
    raise DatasetError(f'config.{key}={root!r} does not exist.')
  if not os.path.isdir(root):
    raise DatasetError(f'config.{key}={root!r} is a file, not a folder of '
                       'images (a packed set is read with '
                       "config.data.name='packed').")


def _labels_from_subfolders(files, root, key):
  top = [f.split('/', 1)[0] if '/' in f else None for f in files]
  loose = [f for f, t in zip(files, top) if t is None]
  if loose:
    raise DatasetError(
        f'config.{key}.labels=subfolders: {len(loose)} images lie directly '
        f'in {root} (e.g. {loose[0]!r}), outside any class subfolder. Move '
        'them into one, or use labels=csv or labels=none.')
  names = tuple(sorted(set(top)))
  number = {n: i for i, n in enumerate(names)}
  return tuple(number[t] for t in top), names


def _labels_from_csv(files, root, csv_path, key):
  if not csv_path or not os.path.isfile(csv_path):
    raise DatasetError(
        f'config.{key}.labels=csv needs config.{key}.labels_csv, a CSV of '
        f'path,label rows (paths relative to {root}); got {csv_path!r}'
        + ('' if not csv_path else ', which is not a file') + '.')
  table = {}
  with open(csv_path, newline='', encoding='utf-8') as f:
    for line, row in enumerate(csv.reader(f), 1):
      if not row or (line == 1 and row[:2] == ['path', 'label']):
        continue  # Blank lines and the header.
      if len(row) < 2:
        raise DatasetError(f'{csv_path}, line {line}: expected path,label; '
                           f'got {row!r}.')
      table[os.path.normpath(row[0].strip()).replace(os.sep, '/')] = (
          row[1].strip())
  missing = [f for f in files if f not in table]
  if missing:
    raise DatasetError(
        f'{csv_path} has no label for {len(missing)} of the {len(files)} '
        f'images in {root} (e.g. {missing[0]!r}); every image needs a row.')
  names = tuple(sorted({table[f] for f in files}))
  number = {n: i for i, n in enumerate(names)}
  return tuple(number[table[f]] for f in files), names


def fingerprint(files, sizes, labels) -> str:
  """sha256 over (relative path, byte size, label) of every image: changes
  when files are added, removed, replaced by others of another size or
  relabelled; not when the folder is moved or copied (mtimes change)."""
  h = hashlib.sha256()
  for i, (f, s) in enumerate(zip(files, sizes)):
    label = '' if labels is None else labels[i]
    h.update(f'{f}\0{s}\0{label}\n'.encode())
  return h.hexdigest()[:16]


def index(root: str, labels: str = 'none', labels_csv: str | None = None,
          key: str = 'data') -> FolderIndex:
  """Lists and labels a folder of images.

  Args:
    root: the folder (`config.<key>.path`).
    labels: 'none', 'subfolders' or 'csv'.
    labels_csv: the CSV file when labels='csv'.
    key: the config key the folder came from, for the messages.

  Raises:
    DatasetError: missing path, not a folder, no images, bad labels.
  """
  _check_root(root, f'{key}.path')
  if labels not in LABEL_SOURCES:
    raise DatasetError(f'config.{key}.labels={labels!r} is invalid: allowed '
                       f'values are {LABEL_SOURCES}.')
  root = os.path.abspath(root)
  files, ignored = _walk(root)
  if not files:
    raise DatasetError(
        f'config.{key}.path={root!r} has no image files '
        f'({", ".join(IMAGE_EXTENSIONS)}, searched recursively): '
        f'{_describe_contents(root)}.')
  label_ids, names = None, ()
  if labels == 'subfolders':
    label_ids, names = _labels_from_subfolders(files, root, key)
  elif labels == 'csv':
    label_ids, names = _labels_from_csv(files, root, labels_csv, key)
  sizes = [os.path.getsize(os.path.join(root, f)) for f in files]
  return FolderIndex(root=root, files=tuple(files), labels=label_ids,
                     class_names=names, ignored=ignored,
                     fingerprint=fingerprint(files, sizes, label_ids))
