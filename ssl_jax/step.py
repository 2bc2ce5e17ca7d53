"""The pure training step: `train_step(state, batch) -> (state, metrics)`.

One function serves both parallel modes. Under `jax.jit` over a mesh the
batch is global and `gather`/`mean_grads` are identities; under `jax.pmap`
(parallel.py) `gather` all-gathers the per-example outputs (differentiably)
before the objective and `mean_grads` averages gradients, which gives the
same update as the global computation.
"""

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

from ssl_jax import losses
from ssl_jax import state as state_lib
from ssl_jax.data import augment

_identity = lambda x: x


def probe_module(num_classes: int) -> nn.Module:
  return nn.Dense(num_classes, name='probe')


def init_state(method, tx, num_classes, rng, batch, probe: bool = True):
  """Creates the TrainState from one (host) batch's shapes."""
  views = augment_views(method, batch, rng)
  model_rng, probe_rng = jax.random.split(rng)
  variables = method.init(model_rng, views)
  feature_dim = method.backbone.feature_dim
  probe_params = (probe_module(num_classes).init(
      probe_rng, jnp.zeros((1, feature_dim)))['params'] if probe else {})
  params = {'model': variables.params, 'probe': probe_params}
  return state_lib.TrainState(
      step=jnp.zeros((), jnp.int32), params=params,
      opt_state=tx.init(params), mutables=variables.mutables,
      extras=variables.extras)


def augment_views(method, batch, rng):
  """Device augmentation of every view, each view with its own key."""
  data = method.config.data
  return [augment.augment_batch(batch[f'view{i}'], batch['seed_id'],
                                jax.random.fold_in(rng, i), spec, data.mean,
                                data.std)
          for i, spec in enumerate(method.views)]


def _tree_norm(tree):
  return optax.tree.norm(tree)


def collapse_std(embedding):
  """Mean per-dimension std of l2-normalised embeddings x sqrt(D).

  ~1 for a well-spread embedding, 0 for a collapsed one (SimSiam, Fig. 2).
  """
  z = losses.l2_normalize(embedding)
  return jnp.mean(jnp.std(z, axis=0)) * jnp.sqrt(z.shape[-1])


def make_train_step(method, tx, schedule, *, seed: int, num_classes: int,
                    probe: bool = True, gather=_identity,
                    mean_grads=_identity, on_trace=None,
                    grad_accum_steps: int = 1, batch_shards: int = 1):
  """Returns the pure step function (not yet jitted or pmapped).

  Args:
    method: a Method instance.
    tx: the optimizer from optim.make.
    schedule: the model lr schedule (for the `lr` metric).
    seed: base seed; the step's key is fold_in(PRNGKey(seed), step).
    num_classes: online probe classes.
    probe: whether the online probe is trained.
    gather: applied to the per-example outputs before the objective.
    mean_grads: applied to the gradients before the update.
    on_trace: optional callable, called each time the step is traced (not
      each step): a caller can count or refuse recompiles before XLA
      compiles.
    grad_accum_steps: split the batch into this many micro-batches, run them
      one after another (lax.scan) and apply one update with the mean
      gradient. The same update as the whole batch for losses that are means
      of per-example terms; not for losses that couple the examples of a
      batch (contrastive negatives, BatchNorm statistics, Barlow Twins /
      VICReg covariances), which then see micro-batches (README).
    batch_shards: how many devices the batch is split over (jit mode); each
      micro-batch takes an equal slice of every device's rows, so it stays
      spread over all devices, and jit and pmap see the same micro-batches.

  A step whose loss or gradient norm is not finite leaves params, optimizer
  state, mutables and extras unchanged (the step counter still advances, as
  the batch was consumed) and reports `nonfinite` = 1 (guards.py).
  """
  probe_net = probe_module(num_classes)

  def loss_fn(params, state, views, batch, rng):
    outputs, new_mutables = method.forward(
        params['model'], state.mutables, state.extras, views, rng, train=True,
        example_ids=batch['seed_id'])
    if probe:
      outputs['probe_logits'] = probe_net.apply(
          {'params': params['probe']},
          jax.lax.stop_gradient(outputs['features']))
    outputs['label'] = batch['label']
    outputs = gather(outputs)
    loss, metrics, aux = method.objective(outputs, state.extras, state.step)
    metrics = dict(metrics, ssl_loss=loss,
                   embedding_std=collapse_std(outputs['embedding']))
    if probe:
      logits = outputs['probe_logits'].astype(jnp.float32)
      probe_loss = optax.softmax_cross_entropy_with_integer_labels(
          logits, outputs['label']).mean()
      metrics['probe_loss'] = probe_loss
      metrics['probe_top1'] = jnp.mean(
          jnp.argmax(logits, -1) == outputs['label'])
      loss = loss + probe_loss
    return loss, (metrics, new_mutables, aux)

  grad_fn = jax.value_and_grad(loss_fn, has_aux=True)

  def micro_step(state, batch, aug_rng, model_rng):
    with jax.named_scope('augment'):
      views = augment_views(method, batch, aug_rng)
    return grad_fn(state.params, state, views, batch, model_rng)

  def accumulated(state, batch, aug_rng, model_rng):
    """Mean loss, metrics and grads over micro-batches, in sequence."""
    a, n = grad_accum_steps, batch_shards
    micro = jax.tree.map(
        lambda x: x.reshape((n, a, -1) + x.shape[1:]).swapaxes(0, 1).reshape(
            (a, -1) + x.shape[1:]), batch)

    def body(carry, one):
      mutables, grad_sum = carry
      (loss, (metrics, mutables, aux)), grads = micro_step(
          state.replace(mutables=mutables), one, aug_rng, model_rng)
      grad_sum = jax.tree.map(jnp.add, grad_sum, grads)
      return (mutables, grad_sum), (loss, metrics, aux)

    zeros = jax.tree.map(jnp.zeros_like, state.params)
    (mutables, grad_sum), (loss, metrics, aux) = jax.lax.scan(
        body, (state.mutables, zeros), micro)
    mean = lambda t: jax.tree.map(lambda x: jnp.mean(x, axis=0), t)
    # aux holds per-example arrays (e.g. DINO's teacher logits): rejoin the
    # micro-batches into one batch.
    aux = jax.tree.map(lambda x: x.reshape((-1,) + x.shape[2:]), aux)
    grads = jax.tree.map(lambda g: g / grad_accum_steps, grad_sum)
    return (mean(loss), (mean(metrics), mutables, aux)), grads

  def train_step(state, batch):
    if on_trace is not None:
      on_trace()  # Runs at trace time only.
    rng = jax.random.fold_in(jax.random.PRNGKey(seed), state.step)
    aug_rng, model_rng = jax.random.split(rng)
    compute = micro_step if grad_accum_steps == 1 else accumulated
    (loss, (metrics, mutables, aux)), grads = compute(state, batch, aug_rng,
                                                      model_rng)
    grads = mean_grads(grads)
    # Named scopes label the compiled program's parts (aot.py's "where the
    # estimate goes"); they change nothing else.
    with jax.named_scope('optimizer'):
      updates, opt_state = tx.update(grads, state.opt_state, state.params)
      updates['model'] = method.adjust_updates(updates['model'], state.step)
      params = optax.apply_updates(state.params, updates)
    with jax.named_scope('method_update'):  # EMA teachers, DINO's centre.
      params = dict(params, model=method.after_update(
          params['model'], state.extras, state.step))
      extras = method.update_extras(state.extras, params['model'], aux,
                                    state.step)
    # The next state, with the old values kept where the update is not
    # finite, and the step's metrics.
    with jax.named_scope('metrics_and_guard'):
      grad_norm = _tree_norm(grads)
      finite = jnp.isfinite(loss) & jnp.isfinite(grad_norm)
      metrics.update(
          loss=loss, lr=schedule(state.step),
          grad_norm=_tree_norm(grads['model']),
          param_norm=_tree_norm(params['model']),
          update_norm=_tree_norm(updates['model']),
          nonfinite=1.0 - finite.astype(jnp.float32))
      # Never apply a non-finite update: keep the old values (flax imagenet's
      # on-device guard; no host sync needed).
      keep = lambda new, old: jax.tree.map(
          lambda n, o: jnp.where(finite, n, o), new, old)
      new_state = state.replace(
          step=state.step + 1, params=keep(params, state.params),
          opt_state=keep(opt_state, state.opt_state),
          mutables=keep(mutables, state.mutables),
          extras=keep(extras, state.extras))
      return new_state, metrics

  return train_step


def make_embed_fn(method, readout: str = 'pooled'):
  """`embed(state, images uint8) -> features` in evaluation mode.

  readout 'pooled': the method's own `embed` (the backbone's pooled
  features); 'map': the same backbone weights' last feature map
  (`feature_map`, models/__init__.py), flattened with its positions kept.
  """
  data = method.config.data

  def embed(state, images):
    x = augment.eval_preprocess(images, data.mean, data.std)
    params = state.params['model']
    if readout == 'map':
      variables = method.backbone_variables(params, state.mutables,
                                            state.extras)
      fmap = method.backbone.apply(variables, x,
                                   method=type(method.backbone).feature_map)
      return fmap.reshape(fmap.shape[0], -1)
    return method.embed(params, state.mutables, state.extras, x)

  return embed

