"""Pure self-supervised objectives: arrays in, scalar out, global batch.

No model code, no collectives, no hidden state: under jit the batch is global,
and the pmap adapter gathers the method's outputs before calling these.
"""

from ssl_jax.losses.contrastive import l2_normalize
from ssl_jax.losses.contrastive import moco_v3
from ssl_jax.losses.contrastive import nt_xent
from ssl_jax.losses.distillation import byol
from ssl_jax.losses.distillation import dino
from ssl_jax.losses.distillation import dino_center
from ssl_jax.losses.distillation import simsiam
from ssl_jax.losses.redundancy import barlow_twins
from ssl_jax.losses.redundancy import vicreg

__all__ = [
    'barlow_twins',
    'byol',
    'dino',
    'dino_center',
    'l2_normalize',
    'moco_v3',
    'nt_xent',
    'simsiam',
    'vicreg',
]
