"""ssl_jax: self-supervised pretraining in JAX/Flax.

Entry points: `ssl_jax.train.run(config, workdir)` (pretrain),
`ssl_jax.evaluate.run(workdir)` (evaluate), `ssl_jax.losses` (pure losses),
`ssl_jax.methods.get(name)` (methods by name).
"""

import os

# TensorFlow is only the input pipeline: keep its C++ INFO logs quiet unless
# the user asked for them.
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

__version__ = '0.1.0'
