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
