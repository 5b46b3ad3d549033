"""TrainState: everything a step reads and writes, as one pytree."""
from typing import Any

import flax.struct
import jax
import jax.numpy as jnp
import optax


class TrainState(flax.struct.PyTreeNode):
  step: jax.Array
  params: Any      # {'model': ..., 'disc': {tap name: ...}}
  opt_state: Any


def make_optimizer(opt_config, total_steps):
  """AdamW with linear warm-up then cosine decay; gradients clipped by global norm."""
  lr = optax.warmup_cosine_decay_schedule(
      0.0, opt_config.lr, opt_config.warmup_steps, max(total_steps, opt_config.warmup_steps + 1),
      end_value=opt_config.lr * opt_config.final_lr_fraction)
  return optax.chain(optax.clip_by_global_norm(opt_config.grad_clip),
                     optax.adamw(lr, b1=opt_config.b1, weight_decay=opt_config.weight_decay))


def init_train_state(rng, model, discriminators, tx, input_shape, tap_shapes):
  """Fresh state. `input_shape` is one model input (a frame or a clip, with a
  batch axis); `tap_shapes` maps each attached tap to its feature shape."""
  model_rng, *disc_rngs = jax.random.split(rng, 1 + len(discriminators))
  model_params = model.init(model_rng, jnp.zeros(input_shape, jnp.uint8))['params']
  disc_params = {
      name: disc.init(r, jnp.zeros((1, tap_shapes[name].shape[-1]), jnp.float32))['params']
      for r, (name, disc) in zip(disc_rngs, sorted(discriminators.items()))}
  params = {'model': model_params, 'disc': disc_params}
  return TrainState(step=jnp.zeros((), jnp.int32), params=params, opt_state=tx.init(params))
