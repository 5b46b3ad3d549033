"""TrainState: everything a step reads and writes, as one pytree."""
from typing import Any

import flax.struct
import jax
import jax.numpy as jnp
import optax

from vda_jax.adversarial.objective import init_params


class TrainState(flax.struct.PyTreeNode):
  step: jax.Array
  params: Any      # {'model': ..., 'disc': {kind: {tap: ...}}, 'aux': ... (AdaptSegNet)}
  opt_state: Any
  clusters: Any    # {tap: (K, C) k-means centroids} of the clustered loss; not trained by grads


def make_optimizer(opt_config, total_steps):
  """AdamW with linear warm-up then cosine decay; gradients clipped by global norm."""
  lr = optax.warmup_cosine_decay_schedule(
      0.0, opt_config.lr, opt_config.warmup_steps, max(total_steps, opt_config.warmup_steps + 1),
      end_value=opt_config.lr * opt_config.final_lr_fraction)
  return optax.chain(optax.clip_by_global_norm(opt_config.grad_clip),
                     optax.adamw(lr, b1=opt_config.b1, eps=opt_config.eps,
                                 weight_decay=opt_config.weight_decay))


def init_train_state(rng, model, objective, tx, input_shape, tap_shapes, num_classes):
  """Fresh state. `input_shape` is one model input (a frame or a clip, with a
  batch axis); `tap_shapes` maps each tap the objective uses to its features."""
  model_rng, adv_rng = jax.random.split(rng)
  model_params = model.init(model_rng, jnp.zeros(input_shape, jnp.uint8))['params']
  adv_params, clusters = init_params(adv_rng, objective, tap_shapes, num_classes)
  params = {'model': model_params, **adv_params}
  return TrainState(step=jnp.zeros((), jnp.int32), params=params, opt_state=tx.init(params),
                    clusters=clusters)
