"""hlo_cycles: XLA TPU's per-instruction estimates summed by model scope."""

import pytest

from ssl_jax import hlo_cycles


def _line(name, shape, opcode, op_name, cycles):
  return (f'  %{name} = {shape} {opcode}(%p.1), metadata={{op_name='
          f'"{op_name}"}}, backend_config={{"estimated_cycles":'
          f'"{cycles}"}}')


# Forward and backward of two blocks' attention, one layout copy in the
# forward, the optimizer update outside the model, and one instruction
# without an estimate (not counted).
HLO = '\n'.join([
    'HloModule jit_train_step',
    'ENTRY %main {',
    _line('f.1', 'bf16[8,50,3072]{2,1,0}', 'fusion',
          'jit(train_step)/jvp(_Model)/backbone/block0/Attention_0/qkv/'
          'dot_general', 100),
    _line('c.1', 'bf16[8,50,3,16,64]{4,1,3,0,2}', 'copy',
          'jit(train_step)/jvp(_Model)/backbone/block1/Attention_0/reshape',
          300),
    _line('f.2', 'bf16[8,50,3072]{2,1,0}', 'fusion',
          'jit(train_step)/transpose(jvp(_Model))/backbone/block1/'
          'Attention_0/qkv/dot_general', 450),
    _line('f.3', 'f32[1024,4096]{1,0}', 'fusion',
          'jit(train_step)/reduce_sum', 150),
    '  %t.1 = (f32[]) tuple(%f.3), metadata={op_name="jit(train_step)/x"}',
    '}',
])


def test_cycles_are_summed_by_scope_blocks_folded():
  r = hlo_cycles.by_scope(HLO, depth=3)
  assert r['total_cycles'] == 1000
  assert [(s['scope'], s['share'], s['instructions']) for s in r['scopes']] \
      == [('backward/backbone/block*/Attention_0', 0.45, 1),
          ('forward/backbone/block*/Attention_0', 0.4, 2),
          ('train_step/reduce_sum', 0.15, 1)]
  assert r['layout_copy_share'] == pytest.approx(0.3)


def test_scope_names_the_pass_and_keeps_depth():
  name = ('jit(train_step)/transpose(jvp(_Model))/decoder/block12/Mlp_0/'
          'Dense_1/dot_general')
  assert hlo_cycles.scope(name, depth=2) == 'backward/decoder/block*'
  assert hlo_cycles.scope(name, depth=4) == \
      'backward/decoder/block*/Mlp_0/Dense_1'
  assert hlo_cycles.scope('jit(step)/jvp(_Model)/head/Dense_0/add') == \
      'forward/head/Dense_0/add'
  assert hlo_cycles.scope('jit(step)/jvp(Model.encode)/backbone/_Block_13/'
                          'Conv_0/conv', depth=2) == \
      'forward/backbone/_Block_*'
  # Outside the model: the jitted function and its first scope (the
  # step's named parts, step.py).
  assert hlo_cycles.scope('jit(train_step)/optimizer/mul') == \
      'train_step/optimizer'
  assert hlo_cycles.scope('jit(prepare)/div') == 'prepare/div'


def test_a_program_without_estimates_gives_nothing():
  assert hlo_cycles.by_scope('HloModule m\nENTRY %e {\n  %a = f32[] '
                             'add(%x, %y)\n}') == {}
