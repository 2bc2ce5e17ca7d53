"""Writing a benchmark's table into a markdown file, between its markers.

A table lives between `<!-- name -->` and `<!-- /name -->` in README.md or
docs/*.md; a benchmark replaces what is between them and nothing else.
"""

import re


def write_block(path: str, marker: str, text: str) -> None:
  """Replaces the text between `<!-- marker -->` and `<!-- /marker -->` in
  `path`; a file without the markers is an error that names them."""
  with open(path) as f:
    doc = f.read()
  start, end = f'<!-- {marker} -->', f'<!-- /{marker} -->'
  pattern = re.compile(re.escape(start) + '.*?' + re.escape(end), re.S)
  if not pattern.search(doc):
    raise SystemExit(f'{path} has no {start} ... {end} markers.')
  with open(path, 'w') as f:
    f.write(pattern.sub(lambda _: f'{start}\n{text}\n{end}', doc))


def read_block(path: str, marker: str) -> str:
  """The text between `<!-- marker -->` and `<!-- /marker -->` in `path`
  ('' when the file or the markers are missing)."""
  try:
    with open(path) as f:
      doc = f.read()
  except FileNotFoundError:
    return ''
  found = re.search(re.escape(f'<!-- {marker} -->') + r'\n?(.*?)\n?' +
                    re.escape(f'<!-- /{marker} -->'), doc, re.S)
  return found.group(1) if found else ''


def merge_table_rows(old: str, new: str, order: list[str]) -> str:
  """`new`'s markdown table plus `old`'s lines for the rows (keyed by their
  first cell) that `new` lacks, sorted by `order` (keys not in it last): a
  benchmark that reran some rows rewrites those and keeps the others."""
  key = lambda line: line.split('|')[1].strip()
  new_lines = new.splitlines()
  header, body = new_lines[:2], new_lines[2:]
  have = {key(l) for l in body}
  body += [l for l in old.splitlines()[2:]
           if l.startswith('|') and key(l) not in have]
  rank = {k: i for i, k in enumerate(order)}
  return '\n'.join(header + sorted(body,
                                    key=lambda l: rank.get(key(l), len(rank))))
