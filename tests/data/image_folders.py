"""Generated image folders for the folder-source tests (PIL, no downloads).

`write_folder` writes a labelled ImageFolder tree of small images in every
mode and format the source must read (L, RGB, RGBA, P, I;16; PNG, JPEG,
WebP, BMP, GIF, upper-case extensions), plus files that are not images;
`add_bad_files` adds a truncated JPEG and a zero-byte PNG.
"""

import os

import numpy as np
from PIL import Image

# (mode, extension) per image, cycled: every mode and format appears.
_KINDS = (('RGB', '.jpg'), ('L', '.png'), ('RGBA', '.png'), ('P', '.png'),
          ('I;16', '.png'), ('RGB', '.webp'), ('RGB', '.BMP'),
          ('RGB', '.gif'), ('RGB', '.JPEG'))
NON_IMAGES = ('notes.txt', 'cat/readme.md', 'dog/labels.json')


def _image(rng, mode, height, width):
  pixels = rng.integers(0, 256, (height, width, 3)).astype(np.uint8)
  image = Image.fromarray(pixels)
  if mode == 'I;16':
    return Image.fromarray(pixels[..., 0].astype(np.uint16) * 257)
  return image.convert(mode)


def write_folder(root, per_class: int = 6, classes=('cat', 'dog'),
                 seed: int = 0, nested: bool = True) -> list[str]:
  """Writes images under root/<class>/ (some one level deeper); returns
  their relative paths, sorted. Sizes vary (any size and aspect)."""
  rng = np.random.default_rng(seed)
  written = []
  for c, name in enumerate(classes):
    for i in range(per_class):
      mode, ext = _KINDS[(c * per_class + i) % len(_KINDS)]
      sub = f'{name}/deep' if nested and i % 3 == 2 else name
      rel = f'{sub}/img{i:02d}{ext}'
      os.makedirs(os.path.join(root, sub), exist_ok=True)
      height, width = rng.integers(12, 40, 2)
      _image(rng, mode, int(height), int(width)).save(os.path.join(root, rel))
      written.append(rel)
  for rel in NON_IMAGES:
    os.makedirs(os.path.dirname(os.path.join(root, rel)), exist_ok=True)
    with open(os.path.join(root, rel), 'w') as f:
      f.write('not an image')
  return sorted(written)


def add_bad_files(root, where: str = 'cat') -> list[str]:
  """A truncated JPEG and a zero-byte PNG; returns their relative paths."""
  rng = np.random.default_rng(1)
  good = os.path.join(root, where, 'good_then_cut.jpg')
  _image(rng, 'RGB', 30, 30).save(good, quality=95)
  with open(good, 'rb') as f:
    data = f.read()
  with open(good, 'wb') as f:
    f.write(data[:len(data) // 2])
  open(os.path.join(root, where, 'empty.png'), 'wb').close()
  return [f'{where}/empty.png', f'{where}/good_then_cut.jpg']


def write_csv(path, rows) -> None:
  with open(path, 'w') as f:
    f.write('path,label\n')
    for rel, label in rows:
      f.write(f'{rel},{label}\n')
