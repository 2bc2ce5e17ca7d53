"""Pure self-supervised objectives: arrays in, scalar out, global batch.

No model code, no collectives, no hidden state: under jit the batch is global,
and the pmap adapter gathers the method's outputs before calling these.
"""

from ssl_jax.losses.clustering import sinkhorn_knopp
from ssl_jax.losses.clustering import swav
from ssl_jax.losses.contrastive import l2_normalize
from ssl_jax.losses.contrastive import moco_v3
from ssl_jax.losses.contrastive import nt_xent
from ssl_jax.losses.distillation import byol
from ssl_jax.losses.distillation import dino
from ssl_jax.losses.distillation import dino_center
from ssl_jax.losses.distillation import dino_cross_entropy
from ssl_jax.losses.dinov2 import ibot_patch
from ssl_jax.losses.dinov2 import koleo
from ssl_jax.losses.distillation import simsiam
from ssl_jax.losses.masked import data2vec
from ssl_jax.losses.masked import data2vec_cls
from ssl_jax.losses.masked import data2vec_regression
from ssl_jax.losses.masked import data2vec_targets
from ssl_jax.losses.masked import ijepa
from ssl_jax.losses.masked import mae
from ssl_jax.losses.redundancy import barlow_twins
from ssl_jax.losses.redundancy import vicreg
from ssl_jax.losses.sigreg import epps_pulley
from ssl_jax.losses.sigreg import lejepa
from ssl_jax.losses.sigreg import sigreg
from ssl_jax.losses.sigreg import sigreg_directions

__all__ = [
    'barlow_twins',
    'byol',
    'data2vec',
    'data2vec_cls',
    'data2vec_regression',
    'data2vec_targets',
    'dino',
    'dino_center',
    'dino_cross_entropy',
    'epps_pulley',
    'ibot_patch',
    'ijepa',
    'koleo',
    'lejepa',
    'l2_normalize',
    'mae',
    'moco_v3',
    'nt_xent',
    'sigreg',
    'sigreg_directions',
    'simsiam',
    'sinkhorn_knopp',
    'swav',
    'vicreg',
]
