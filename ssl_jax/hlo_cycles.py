"""Where XLA TPU's estimate of a compiled step goes, by model scope.

XLA TPU writes its cost model's estimate for every instruction of the
optimised program into the HLO text (`"estimated_cycles"` in each
instruction's backend config). Summed by the JAX scope an instruction came
from (`op_name` metadata: `jit(train_step)/transpose(jvp(_Model))/decoder/
block3/Attention_0/...`), they say which part of the step the estimate is
spent in: the backward pass of the decoder's attention, the optimizer
update, layout copies. Blocks are folded together (`block*`) so a 24-block
encoder is one line.

These are the compiler's per-instruction estimates, not measurements, and
their sum is not the step's estimated time (XLA overlaps some of them): use
the shares to see what dominates, the report's step time for the total.
"""

import collections
import re

from ssl_jax import hlo_buffers

_CYCLES = re.compile(r'"estimated_cycles":"(\d+)"')
# `block3` (ViT), `_Block_12` (ResNet), `layer2`: numbered repeats.
_BLOCK = re.compile(r'((?:block|layer)s?_?)\d+', re.IGNORECASE)


def _fold(name: str) -> str:
  return _BLOCK.sub(r'\1*', name)


def scope(op_name: str, depth: int = 3) -> str:
  """A readable scope of an op_name: `forward/` or `backward/` and the
  first `depth` model scopes (blocks folded), or, outside the model, the
  jitted function and its first scope (`train_step/optimizer`: the step's
  own named parts, step.py)."""
  parts = [p for p in op_name.split('/') if p]
  program = next((p[4:-1] for p in parts if p.startswith('jit(')), 'step')
  parts = [p for p in parts if not p.startswith('jit(')]
  if not parts:
    return program
  head = parts[0]
  if head.startswith('transpose(jvp('):
    pass_name, rest = 'backward', parts[1:]
  elif head.startswith('jvp('):
    pass_name, rest = 'forward', parts[1:]
  else:
    return program + '/' + _fold(head)
  rest = [_fold(p) for p in rest[:depth]]
  return '/'.join([pass_name] + rest)


def _instructions(hlo_text: str):
  """(cycles, opcode, op_name) of each instruction that has an estimate."""
  for line in hlo_text.splitlines():
    cycles = _CYCLES.search(line)
    if not cycles:
      continue
    match = hlo_buffers.INSTRUCTION.match(line)
    op = hlo_buffers.OP_NAME.search(line)
    yield (int(cycles.group(1)), match.group(3) if match else '?',
           op.group(1) if op else '?')


def by_scope(hlo_text: str, depth: int = 3, count: int = 8) -> dict:
  """The `count` scopes with the largest share of the estimated cycles,
  largest first, and the share of layout copies (XLA `copy` instructions:
  transposes it inserts between ops whose layouts disagree). Empty when
  the program carries no estimates (a CPU or GPU compile)."""
  totals, counts = collections.Counter(), collections.Counter()
  copies = total = 0
  for cycles, opcode, op_name in _instructions(hlo_text):
    key = scope(op_name, depth)
    totals[key] += cycles
    counts[key] += 1
    total += cycles
    if opcode == 'copy':
      copies += cycles
  if not total:
    return {}
  return {
      'scopes': [{'scope': k, 'share': v / total, 'instructions': counts[k]}
                 for k, v in totals.most_common(count)],
      'layout_copy_share': copies / total,
      'total_cycles': total,
  }
