"""A split's decoded images kept beside its tfrecords for the next process.

Decoding Fashion-MNIST's 70,000 PNG images takes 3.8 s (2-core EPYC), and
every process that reads the split in memory paid it: a run's training and
its evaluation, and each process the tests start. Read back from an
uncompressed .npz, the same arrays take milliseconds.

The file sits in the prepared dataset's folder, one per split, and records
the name, size and modification time of every tfrecord file it was decoded
from. If any of them changes (the dataset prepared again), the split is
decoded again and the file replaced. The file is written under a temporary
name and renamed, so a process killed while writing it leaves no half file
under the real name. A folder that cannot be written (read-only, full disk,
a remote data_dir) is no error: the split is decoded as before.
"""

import hashlib
import json
import os
import re
import tempfile
import zipfile

from absl import logging
import numpy as np

PREFIX = 'ssl_jax-decoded-'


def path(builder, split: str) -> str | None:
  """Where `split`'s decoded arrays are kept; None for a remote data_dir."""
  folder = str(builder.data_dir)
  if not os.path.isdir(folder):  # gs:// and other remote folders.
    return None
  # The split string may hold any characters ('train[:90%]'): a readable
  # part and a hash, so two splits never share a file.
  readable = re.sub(r'[^A-Za-z0-9_.-]+', '_', split)
  digest = hashlib.sha1(split.encode()).hexdigest()[:8]
  return os.path.join(folder, f'{PREFIX}{readable}-{digest}.npz')


def _source(builder, split: str) -> str:
  """The tfrecord files (and the part of each) the split reads, with their
  sizes and modification times."""
  files = []
  for fi in builder.info.splits[split].file_instructions:
    st = os.stat(fi.filename)
    files.append([os.path.basename(fi.filename), fi.skip, fi.take,
                  st.st_size, st.st_mtime_ns])
  return json.dumps(files)


def read(builder, split: str, decode):
  """(images, labels) of `split`: from the kept file when it matches the
  tfrecords, else `decode(builder, split)`, kept for the next process."""
  target = path(builder, split)
  if target is None:
    return decode(builder, split)
  source = _source(builder, split)
  try:
    with np.load(target, allow_pickle=False) as kept:
      if str(kept['source']) == source:
        return kept['images'], kept['labels']
  except FileNotFoundError:
    pass
  except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as e:
    logging.info('Decoding %s again: %s unreadable (%s).', split, target, e)
  images, labels = decode(builder, split)
  _write(target, images, labels, source)
  return images, labels


def _write(target: str, images, labels, source: str) -> None:
  tmp = None
  try:
    # A name no other process uses, on this host or another sharing the
    # folder (several hosts of one run may decode the split at once).
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(target),
                               prefix=os.path.basename(target) + '.tmp')
    with os.fdopen(fd, 'wb') as f:
      np.savez(f, images=images, labels=labels, source=np.array(source))
    os.chmod(tmp, 0o644)  # mkstemp's 0600 would hide it from other users.
    os.replace(tmp, target)
  except OSError as e:
    logging.info('Decoded split not kept (%s): %s', target, e)
    if tmp is not None and os.path.exists(tmp):
      os.remove(tmp)
