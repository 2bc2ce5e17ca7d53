"""Packs a folder of images once into TFRecord shards, and reads them back.

  python -m ssl_jax.data.pack --src DIR --dst DIR [--labels none|subfolders|csv]
      [--labels_csv FILE] [--records_per_shard 2000] [--overwrite]

then train with `--config.data.name=packed --config.data.path=DIR`.

Why: a pod's processes would each list millions of files at start-up; a
packed set is a few shards and one index (`index.npz`: shard, byte offset,
length, label, decoded height and width of every record) that each process
loads in a moment. Each record is a tf.train.Example holding the file's
original encoded bytes (`image`; re-encoding would change the pixels),
`label`, `height`, `width` and `path`. Records are read by offset, so each
process reads only its rows of each global batch, and the stream is the
folder's: the same examples in the same order give the same bytes, the same
decode and the same crops (image_stream.py). Files that do not decode are
left out when packing, named and counted in `packed.json`.
"""

import argparse
import json
import os

import numpy as np
import tensorflow as tf

from ssl_jax import errors
from ssl_jax.data import folder
from ssl_jax.data import image_source
from ssl_jax.data import image_stream

META, INDEX = 'packed.json', 'index.npz'
_FRAME = 12  # TFRecord: uint64 length + uint32 crc before the payload.


def _example(data: bytes, label: int, height: int, width: int,
             path: str) -> bytes:
  feature = lambda **kw: tf.train.Feature(**kw)
  ints = lambda v: feature(int64_list=tf.train.Int64List(value=[v]))
  raw = lambda v: feature(bytes_list=tf.train.BytesList(value=[v]))
  return tf.train.Example(features=tf.train.Features(feature={
      'image': raw(data), 'label': ints(label), 'height': ints(height),
      'width': ints(width), 'path': raw(path.encode())})).SerializeToString()


def _check_dst(dst: str, overwrite: bool) -> None:
  if os.path.isdir(dst) and os.listdir(dst) and not overwrite:
    raise errors.UserError(f'--dst {dst!r} exists and is not empty; choose '
                           'another folder or add --overwrite.')
  if os.path.exists(dst) and not os.path.isdir(dst):
    raise errors.UserError(f'--dst {dst!r} is a file, not a folder.')


def pack(src: str, dst: str, *, labels: str = 'none', labels_csv=None,
         records_per_shard: int = 2000, overwrite: bool = False) -> dict:
  """Writes `dst`; returns its packed.json. Refuses (before writing) a
  source folder folder.index refuses, and a non-empty dst."""
  index = folder.index(src, labels, labels_csv, key='pack --src')
  _check_dst(dst, overwrite)
  os.makedirs(dst, exist_ok=True)
  count = -(-len(index.files) // records_per_shard)
  rows, kept, sizes, bad, kept_labels = [], [], [], [], []
  writer, shard = None, -1
  for i, (rel, path) in enumerate(zip(index.files, index.paths())):
    with open(path, 'rb') as f:
      data = f.read()
    try:  # The decoded size, and whether it decodes at all.
      height, width, _ = image_stream.decode(data, 1).shape
    except tf.errors.OpError:
      bad.append(rel)
      continue
    if writer is None or len(kept) % records_per_shard == 0:
      if writer:
        writer.close()
      shard += 1
      writer = tf.io.TFRecordWriter(
          os.path.join(dst, f'shard-{shard:05d}-of-{count:05d}.tfrecord'))
      offset = 0
    label = -1 if index.labels is None else index.labels[i]
    record = _example(data, label, height, width, rel)
    writer.write(record)
    rows.append((shard, offset + _FRAME, len(record), label, height, width))
    offset += len(record) + 16
    kept.append(rel)
    sizes.append(len(data))
    kept_labels.append(label)
  if writer:
    writer.close()
  if not kept:
    raise folder.DatasetError(f'None of the {len(index.files)} images in '
                              f'{src} could be decoded.')
  table = np.asarray(rows, np.int64)
  np.savez(os.path.join(dst, INDEX), shard=table[:, 0], offset=table[:, 1],
           length=table[:, 2], label=table[:, 3], height=table[:, 4],
           width=table[:, 5])
  label_ids = None if index.labels is None else kept_labels
  meta = {'format': 1, 'source': index.root, 'num_examples': len(kept),
          'shards': [f'shard-{s:05d}-of-{count:05d}.tfrecord'
                     for s in range(shard + 1)],
          'class_names': list(index.class_names), 'labels': labels,
          'fingerprint': folder.fingerprint(kept, sizes, label_ids),
          'skipped': bad, 'ignored': index.ignored}
  with open(os.path.join(dst, META), 'w', encoding='utf-8') as f:
    json.dump(meta, f, indent=2)
  return meta


class PackedSource(image_source.ImageSource):
  """A packed set read by offset: the same examples, bytes and stream as
  the folder it was packed from."""
  name = 'packed'

  def __init__(self, root: str, meta: dict, table):
    self.root, self.meta = root, meta
    self._table = {k: table[k] for k in table.files}
    self._shards = [os.path.join(root, s) for s in meta['shards']]

  @classmethod
  def open(cls, root, key: str = 'data'):
    meta_path = os.path.join(root or '', META)
    if not root or not os.path.isfile(meta_path):
      raise folder.DatasetError(
          f'config.{key}.path={root!r} is not a packed set (no {META}); '
          'write one with `python -m ssl_jax.data.pack --src IMAGES --dst '
          f"DIR`, or read a folder of images with config.{key}.name='folder'.")
    with open(meta_path, encoding='utf-8') as f:
      meta = json.load(f)
    return cls(os.path.abspath(root), meta,
               np.load(os.path.join(root, INDEX)))

  @property
  def num_examples(self) -> int:
    return int(self.meta['num_examples'])

  @property
  def labels(self):
    return (self._table['label'].astype(np.int32)
            if self.meta['class_names'] else None)

  @property
  def num_classes(self) -> int:
    return len(self.meta['class_names'])

  @property
  def class_names(self):
    return self.meta['class_names']

  @property
  def fingerprint(self) -> str:
    return self.meta['fingerprint']

  def describe(self, i: int) -> str:
    return f'{self.root} record {i} ({self._shards[self._table["shard"][i]]})'

  def summary(self) -> str:
    labelled = (f'{self.num_classes} classes' if self.num_classes
                else 'no labels')
    return (f'{self.num_examples} images packed in {self.root} '
            f'({len(self._shards)} shards; {labelled})')

  def _read(self, i) -> bytes:
    t = self._table
    with open(self._shards[int(t['shard'][i])], 'rb') as f:
      f.seek(int(t['offset'][i]))
      return f.read(int(t['length'][i]))

  def load_fn(self):
    spec = {'image': tf.io.FixedLenFeature([], tf.string)}

    def load(i):
      record = tf.numpy_function(self._read, [i], tf.string, stateful=False)
      record.set_shape([])
      return tf.io.parse_single_example(record, spec)['image']
    return load


def main(argv=None) -> None:
  parser = argparse.ArgumentParser(
      prog='python -m ssl_jax.data.pack', description=__doc__.split('\n')[0])
  parser.add_argument('--src', required=True, help='folder of images')
  parser.add_argument('--dst', required=True, help='folder to write')
  parser.add_argument('--labels', default='none', choices=folder.LABEL_SOURCES)
  parser.add_argument('--labels_csv', default=None)
  parser.add_argument('--records_per_shard', type=int, default=2000)
  parser.add_argument('--overwrite', action='store_true')
  args = parser.parse_args(argv)
  with errors.user_errors_exit():
    meta = pack(args.src, args.dst, labels=args.labels,
                labels_csv=args.labels_csv,
                records_per_shard=args.records_per_shard,
                overwrite=args.overwrite)
  print(f'Packed {meta["num_examples"]} images into {len(meta["shards"])} '
        f'shard(s) in {args.dst} (fingerprint {meta["fingerprint"]}); '
        f'{len(meta["skipped"])} unreadable file(s) left out'
        + (f': {", ".join(meta["skipped"][:5])}' if meta['skipped'] else '')
        + f'. Train with --config.data.name=packed '
        f'--config.data.path={args.dst}')


if __name__ == '__main__':
  main()
