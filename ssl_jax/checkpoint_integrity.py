"""Checksums for committed checkpoints, and quarantine of bad ones.

Orbax makes a save atomic (a step appears only when complete) but does not
detect silent corruption: flipped bytes in a committed step restore with
wrong values (seen with Orbax 0.12.8). So after each save completes,
ssl_jax records the SHA-256 of every file of the step in
`<workdir>/checksums/<step>.json`, and verifies them before restoring. A
step that fails verification (or fails to restore) is moved, never deleted,
to `<workdir>/corrupt/`.

A committed step without a checksum file (the process died between Orbax's
commit and the checksum write) is complete by Orbax's guarantee; it is
restored with a warning that it could not be verified.
"""

import hashlib
import json
import os
import shutil
import time

from absl import logging

from ssl_jax import config_lib

_CHUNK = 1 << 20


class CorruptCheckpoint(config_lib.UserError):
  """A committed checkpoint's files do not match what was written."""

  def __init__(self, step: int, path: str, reason: str):
    super().__init__(f'Checkpoint step {step} is corrupt: {path}: {reason}.')
    self.step, self.path, self.reason = step, path, reason


def _sha256(path: str) -> str:
  digest = hashlib.sha256()
  with open(path, 'rb') as f:
    while chunk := f.read(_CHUNK):
      digest.update(chunk)
  return digest.hexdigest()


def _files(step_dir: str) -> dict[str, str]:
  """Relative path -> absolute path of every file of a step, sorted."""
  found = {}
  for root, _, names in os.walk(step_dir):
    for name in names:
      full = os.path.join(root, name)
      found[os.path.relpath(full, step_dir)] = full
  return dict(sorted(found.items()))


def checksum_path(workdir: str, step: int) -> str:
  return os.path.join(workdir, 'checksums', f'{step}.json')


def write(workdir: str, step_dir: str, step: int) -> None:
  """Records the SHA-256 of every file of a completed step (atomically)."""
  sums = {rel: _sha256(full) for rel, full in _files(step_dir).items()}
  path = checksum_path(workdir, step)
  os.makedirs(os.path.dirname(path), exist_ok=True)
  tmp = f'{path}.tmp'
  with open(tmp, 'w') as f:
    json.dump(sums, f, indent=1)
    f.flush()
    os.fsync(f.fileno())
  os.replace(tmp, path)


def verify(workdir: str, step_dir: str, step: int) -> bool:
  """Raises CorruptCheckpoint on a mismatch; False if nothing was recorded."""
  path = checksum_path(workdir, step)
  if not os.path.exists(path):
    logging.warning('Checkpoint step %d has no checksums (written before '
                    'they were recorded?): restoring it unverified.', step)
    return False
  with open(path) as f:
    expected = json.load(f)
  present = _files(step_dir)
  for rel, digest in expected.items():
    if rel not in present:
      raise CorruptCheckpoint(step, os.path.join(step_dir, rel),
                              'file missing')
    if _sha256(present[rel]) != digest:
      size = os.path.getsize(present[rel])
      raise CorruptCheckpoint(step, present[rel],
                              f'SHA-256 differs from the one recorded at '
                              f'save time ({size} bytes now)')
  return True


def quarantine(workdir: str, step_dir: str, step: int) -> str:
  """Moves a bad step (and its checksums) to <workdir>/corrupt/; returns it."""
  dest = os.path.join(workdir, 'corrupt',
                      f'{step}-{time.strftime("%Y%m%dT%H%M%S")}')
  os.makedirs(os.path.dirname(dest), exist_ok=True)
  shutil.move(step_dir, dest)
  sums = checksum_path(workdir, step)
  if os.path.exists(sums):
    shutil.move(sums, os.path.join(dest, 'checksums.json'))
  logging.warning('Moved corrupt checkpoint step %d to %s.', step, dest)
  return dest
