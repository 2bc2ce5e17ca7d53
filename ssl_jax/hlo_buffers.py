"""The largest values of a compiled XLA program, read from its HLO text.

XLA's memory analysis gives totals only. When a program does not fit, a
user needs to know which activations are large: this lists the biggest
array values that the optimised program materialises (instructions of
non-fused computations; a fusion's inner values never reach HBM), with the
JAX operation they came from (`op_name` metadata). It is an approximation:
XLA's buffer assignment reuses memory, so the values listed are what is
large, not how the temporaries' total is made up.
"""

import re

import numpy as np

_BYTES = {'pred': 1, 's8': 1, 'u8': 1, 's16': 2, 'u16': 2, 'f16': 2,
          'bf16': 2, 's32': 4, 'u32': 4, 'f32': 4, 's64': 8, 'u64': 8,
          'f64': 8, 'c64': 8, 'c128': 16, 'f8e4m3fn': 1, 'f8e5m2': 1}
# `%name = SHAPE opcode(`, SHAPE an array `bf16[64,56,56,256]{layout}` or a
# tuple of them `(f32[8]{0}, bf16[8,4]{1,0})` (multi-output fusions).
INSTRUCTION = re.compile(
    r'^\s*(?:ROOT\s+)?%?([\w.\-]+)\s*=\s*(\(.*?\)|[a-z0-9]+\[[\d,]*\]'
    r'(?:\{[^}]*\})?)\s+([\w\-]+)\(')
_ARRAY = re.compile(r'([a-z0-9]+)\[([\d,]*)\]')
_COMPUTATION = re.compile(r'^\s*(?:ENTRY\s+)?%?([\w.\-]+)\s.*\{\s*$')
OP_NAME = re.compile(r'op_name="([^"]*)"')
# Instructions that name existing memory rather than make a new value.
_NO_NEW_BUFFER = {'parameter', 'get-tuple-element', 'tuple', 'bitcast',
                  'constant', 'copy-start', 'copy-done'}


def _values(hlo_text: str):
  fused = False
  for line in hlo_text.splitlines():
    header = _COMPUTATION.match(line)
    if header and not line[:1].isspace():  # Instructions are indented.
      fused = 'fused' in header.group(1) or 'fusion' in header.group(1)
      continue
    if fused:
      continue
    match = INSTRUCTION.match(line)
    if not match:
      continue
    name, shape_text, opcode = match.groups()
    if opcode in _NO_NEW_BUFFER:
      continue
    arrays = [(dtype, [int(d) for d in dims.split(',') if d])
              for dtype, dims in _ARRAY.findall(shape_text)
              if dtype in _BYTES]
    if not arrays:
      continue
    size = sum(int(np.prod(dims)) * _BYTES[dtype] for dtype, dims in arrays)
    shape = ', '.join(f'{dtype}{dims}' for dtype, dims in arrays[:3])
    if len(arrays) > 3:
      shape += f', ... ({len(arrays)} arrays)'
    if len(arrays) > 1:
      shape = f'({shape})'

    op = OP_NAME.search(line)
    yield size, name, shape, op.group(1) if op else opcode


def largest(hlo_text: str, devices_per_chip: int = 1,
            count: int = 8) -> list[dict]:
  """The `count` largest values, biggest first, as dicts with the
  instruction, its shape, the JAX op it came from and bytes per chip."""
  rows = sorted(_values(hlo_text), key=lambda r: -r[0])[:count]
  return [{'instruction': name, 'shape': shape, 'op': _short(op),
           'bytes_per_chip': size * devices_per_chip}
          for size, name, shape, op in rows]


def _short(op_name: str, keep: int = 4) -> str:
  """The last few scopes of a long op_name (`.../Conv_0/conv_general...`)."""
  parts = op_name.split('/')
  return '/'.join(parts[-keep:])
