"""TrainState: everything a step reads and writes, as one pytree."""
import functools
from typing import Any

import flax.linen as nn
import flax.struct
import jax
import jax.numpy as jnp
import ml_collections
import optax

from vda_jax.adversarial.objective import Objective


class TrainState(flax.struct.PyTreeNode):
  step: jax.Array
  params: Any      # {'model': ..., 'disc': {kind: {tap: ...}}, 'aux': ... (AdaptSegNet)}
  opt_state: Any
  clusters: Any    # the alignment terms' state, not trained by grads: {tap: (K, C) k-means
                   # centroids} of the clustered term (the name checkpoints carry)


def _adamw(lr, total_steps, *, warmup_steps, final_lr_fraction, b1, b2, eps, weight_decay,
           grad_clip):
  """AdamW on a linear warm-up + cosine schedule peaking at `lr`; clipped if grad_clip > 0."""
  schedule = optax.warmup_cosine_decay_schedule(
      0.0, lr, warmup_steps, max(total_steps, warmup_steps + 1),
      end_value=lr * final_lr_fraction)
  adamw = optax.adamw(schedule, b1=b1, b2=b2, eps=eps, weight_decay=weight_decay)
  return optax.chain(optax.clip_by_global_norm(grad_clip), adamw) if grad_clip > 0 else adamw


def _is_bn_statistic(path) -> bool:
  """A BatchNorm's running mean or variance (models.efficientnet.BatchNorm): no optimizer
  may move it, not even by weight decay."""
  keys = [getattr(k, 'key', None) for k in path]
  return len(keys) >= 2 and keys[-2] == 'bn' and keys[-1] in ('mean', 'var')


def param_groups(params: dict, own_lr: tuple = ()) -> dict:
  """'disc' for the discriminators' leaves, 'network' for the rest (the model, aux head);
  'disc/GROUP' for params['disc'][GROUP] when GROUP is in `own_lr` (its own lr); 'frozen'
  for BatchNorm statistics."""
  def label(key, group=None):
    if key != 'disc':
      return 'network'
    return f'disc/{group}' if group in own_lr else 'disc'
  network = lambda k, v: jax.tree_util.tree_map_with_path(
      lambda path, _: 'frozen' if _is_bn_statistic(path) else label(k), v)
  return {k: ({g: jax.tree.map(lambda _, g=g: label(k, g), sub) for g, sub in v.items()}
              if k == 'disc' else network(k, v))
          for k, v in params.items()}


def make_optimizer(opt_config: ml_collections.ConfigDict, total_steps: int,
                   disc_lr_by_group: dict | None = None) -> optax.GradientTransformation:
  """Two AdamWs, one per `param_groups` group, on the same warm-up + cosine shape.

  The network uses opt_config (lr, b1, b2, weight decay, and a clip by global
  norm over the network's gradients alone); the discriminators use
  opt_config.disc (their own lr, b1, b2, weight decay and clip, 0 = none), as
  AdaptSegNet and ADVENT train theirs. Adam is invariant to a loss's scale, so
  a domain term's weight sets how hard the reversed gradient pushes the
  network against its supervised gradient, never how fast the discriminator
  learns: that is opt_config.disc.lr, or `disc_lr_by_group` {group: lr} for the
  discriminator groups (params['disc'][group]) given their own.
  """
  o, d = opt_config, opt_config.disc
  own = {g: lr for g, lr in (disc_lr_by_group or {}).items() if lr is not None}
  shared = dict(warmup_steps=o.warmup_steps, final_lr_fraction=o.final_lr_fraction, eps=o.eps)
  disc = lambda lr: _adamw(lr, total_steps, b1=d.b1, b2=d.b2, weight_decay=d.weight_decay,
                           grad_clip=d.grad_clip, **shared)
  return optax.multi_transform(
      {'network': _adamw(o.lr, total_steps, b1=o.b1, b2=o.b2, weight_decay=o.weight_decay,
                         grad_clip=o.grad_clip, **shared),
       'frozen': optax.set_to_zero(),
       'disc': disc(d.lr), **{f'disc/{g}': disc(lr) for g, lr in own.items()}},
      functools.partial(param_groups, own_lr=tuple(own)))


def init_train_state(rng: jax.Array, model: nn.Module, objective: Objective,
                     tx: optax.GradientTransformation, input_shape: tuple, tap_shapes: dict,
                     num_classes: int) -> TrainState:
  """Fresh state. `input_shape` is one model input (a frame or a clip, with a
  batch axis); `tap_shapes` maps each tap the objective uses to its features."""
  model_rng, adv_rng = jax.random.split(rng)
  model_params = model.init(model_rng, jnp.zeros(input_shape, jnp.uint8))['params']
  adv_params, clusters = objective.init(adv_rng, tap_shapes, num_classes)
  params = {'model': model_params, **adv_params}
  return TrainState(step=jnp.zeros((), jnp.int32), params=params, opt_state=tx.init(params),
                    clusters=clusters)
