"""The training state: everything a checkpoint must hold, one pytree.

The rng is not stored: the step's key is `fold_in(PRNGKey(seed), step)`, so a
resumed run replays the same stream. The data position is the step (the input
pipeline is a pure function of seed and step).
"""

from typing import Any

import flax.struct
import jax


@flax.struct.dataclass
class TrainState:
  step: jax.Array  # int32 scalar: optimizer updates done.
  params: Any  # {'model': method params, 'probe': online probe params}
  opt_state: Any
  mutables: Any  # Non-gradient model variables (BatchNorm statistics).
  extras: Any  # Method state outside gradients (EMA teacher, centre, ...).
