"""Pure self-supervised objectives: arrays in, scalar out, global batch.

No model code, no collectives, no hidden state: under jit the batch is global,
and the pmap adapter gathers the method's outputs before calling these.
"""

from ssl_jax.losses.contrastive import l2_normalize
from ssl_jax.losses.contrastive import nt_xent

__all__ = ['l2_normalize', 'nt_xent']
