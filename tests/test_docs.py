"""The project documents itself: no pointers outside it, no dead card anchors.

Every tracked file may cite the method card as `docs/methods.md#anchor`; each
anchor must be a heading of docs/methods.md (GitHub's rule: lowercase, spaces
to '-', punctuation dropped). No tracked file may point to the reference
cards that lived beside the checkout, which a clone does not have.
"""

import collections
import os
import re
import subprocess

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CARD = 'docs/methods.md'
# Joined at run time, so that this file does not name them itself.
FORBIDDEN = ('..' + '/shared', 'METHODS' + '.md', 'STACK' + '.md')
_SELF = 'tests/test_docs.py'  # Its docstring shows a sample card anchor.
# Outside git (an unpacked archive): every file but these.
_UNTRACKED = ('.git', '.venv', 'workdirs', '__pycache__', '.pytest_cache')
_CITATION = re.compile(re.escape(CARD) + r'#([\w-]*)')
_LOCAL_LINK = re.compile(r'\]\(#([\w-]*)\)')
_HEADING = re.compile(r'^(#{1,6})\s+(.*?)\s*#*\s*$')
_FENCE = re.compile(r'^\s*(```|~~~)')
_MD_LINK = re.compile(r'\[([^\]]*)\]\([^)]*\)')


def _tracked_files() -> list[str]:
  """git's tracked files; outside a git checkout, the project's files."""
  try:
    out = subprocess.run(['git', 'ls-files', '-z'], cwd=REPO, check=True,
                         capture_output=True, timeout=30).stdout
    return [p for p in out.decode().split('\0') if p]
  except (OSError, subprocess.CalledProcessError):
    files = []
    for root, dirs, names in os.walk(REPO):
      dirs[:] = [d for d in dirs if d not in _UNTRACKED
                 and not d.endswith('.egg-info')]
      files += [os.path.relpath(os.path.join(root, n), REPO) for n in names]
    return files


def _read_text(path: str) -> str | None:
  """The file's text, or None for a binary or unreadable file."""
  try:
    with open(os.path.join(REPO, path), 'rb') as f:
      data = f.read()
  except OSError:  # Deleted in the work tree, not yet in the index.
    return None
  if b'\0' in data:
    return None
  return data.decode('utf-8', errors='replace')


def slug(heading: str) -> str:
  """GitHub's anchor for a heading's text."""
  text = _MD_LINK.sub(r'\1', heading).strip().lower()
  text = re.sub(r'[^\w\- ]', '', text)
  return text.replace(' ', '-')


def anchors(markdown: str) -> set[str]:
  """The anchors of every heading outside code fences (duplicates get -1,
  -2, ... as on GitHub)."""
  seen = collections.Counter()
  result = set()
  in_fence = False
  for line in markdown.splitlines():
    if _FENCE.match(line):
      in_fence = not in_fence
      continue
    match = None if in_fence else _HEADING.match(line)
    if match:
      base = slug(match.group(2))
      result.add(f'{base}-{seen[base]}' if seen[base] else base)
      seen[base] += 1
  return result


@pytest.fixture(scope='module')
def texts() -> dict[str, str]:
  files = set(_tracked_files()) | {CARD}
  return {p: t for p in sorted(files) if (t := _read_text(p)) is not None}


def test_slug_follows_github():
  assert slug('data2vec 2.0') == 'data2vec-20'
  assert slug('Colour, blur and solarize') == 'colour-blur-and-solarize'
  assert slug('I-JEPA multi-block masks') == 'i-jepa-multi-block-masks'
  assert slug('`knn` and [links](x.md)') == 'knn-and-links'
  assert anchors('# A\n```\n# not a heading\n```\n## A\n') == {'a', 'a-1'}


def test_no_pointer_outside_the_project(texts):
  assert CARD in texts, f'{CARD} is missing.'
  found = [f'{path}:{n}: {needle}'
           for path, text in texts.items()
           for n, line in enumerate(text.splitlines(), 1)
           for needle in FORBIDDEN if needle in line]
  assert not found, ('Point to docs/methods.md (or say it in the project) '
                     'instead of:\n' + '\n'.join(found))


def test_every_cited_card_anchor_exists(texts):
  card = texts[CARD]
  known = anchors(card)
  cited = [(path, n, anchor)
           for path, text in texts.items() if path != _SELF
           for n, line in enumerate(text.splitlines(), 1)
           for anchor in _CITATION.findall(line)]
  cited += [(CARD, n, anchor)
            for n, line in enumerate(card.splitlines(), 1)
            for anchor in _LOCAL_LINK.findall(line)]
  assert cited, 'expected docstrings to cite docs/methods.md#...'
  dead = [f'{path}:{n}: #{anchor}' for path, n, anchor in cited
          if anchor not in known]
  assert not dead, (f'Anchors not among the headings of {CARD}:\n'
                    + '\n'.join(dead))
