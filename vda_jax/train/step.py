"""The train step: supervised image loss + gradient-reversed domain losses, one update.

Minimising  sup(model) + sum_t w_t * domain_t(disc_t(grad_reverse(tap_t, lambda)))
over model and discriminators together is the adversarial game: each
discriminator descends its domain loss, while the reversed gradient makes the
network ascend it at the tapped features.
"""
import dataclasses
import functools

import jax
import jax.numpy as jnp

from vda_jax.adversarial.grl import grad_reverse, grl_scale
from vda_jax.adversarial.losses import domain_loss, segmentation_loss
from vda_jax.models.taps import apply_with_taps
from vda_jax.train import sharding as shd


def parse_taps(spec, default_weight=1.0):
  """'stage3:0.5,stage4' -> {'stage3': 0.5, 'stage4': default_weight}; '' -> {}."""
  taps = {}
  for item in filter(None, (s.strip() for s in spec.split(','))):
    name, _, weight = item.partition(':')
    try:
      taps[name] = float(weight) if weight else default_weight
    except ValueError:
      raise ValueError(f'config.adversarial.taps: weight {weight!r} of tap '
                       f'{name!r} is not a number (expected NAME[:WEIGHT],...)') from None
  return taps


@dataclasses.dataclass(frozen=True)
class DomainOutputs:
  image_logits: jax.Array   # (B, H, W, C)
  video_logits: jax.Array   # (B*T, H, W, C), frames of all clips
  taps: dict                # name -> features of images then video frames
  num_images: int


def forward(model, params, images, clips):
  """Runs a per-frame model on images and on every frame of the clips, in one pass."""
  frames = clips.reshape((-1,) + clips.shape[2:])
  logits, taps = apply_with_taps(model, params, jnp.concatenate([images, frames]))
  n = images.shape[0]
  return DomainOutputs(logits[:n], logits[n:], taps, n)


def loss_fn(params, batch, *, model, discriminators, taps, lam, video_label_weight):
  out = forward(model, params['model'], batch['image'], batch['video'])
  sup = segmentation_loss(out.image_logits, batch['label'])
  total, metrics = sup, {'sup_loss': sup}
  if video_label_weight:  # the supervised upper bound: video masks are labels too
    video_labels = batch['video_label'].reshape((-1,) + batch['video_label'].shape[2:])
    video_sup = segmentation_loss(out.video_logits, video_labels)
    total += video_label_weight * video_sup
    metrics['video_sup_loss'] = video_sup
  for name, weight in taps.items():
    features = grad_reverse(out.taps[name], lam)
    d_logits = discriminators[name].apply({'params': params['disc'][name]}, features)
    loss, acc = domain_loss(d_logits[:out.num_images], d_logits[out.num_images:])
    total += weight * loss
    metrics[f'domain_loss/{name}'] = loss
    metrics[f'disc_acc/{name}'] = acc
  metrics['total_loss'] = total
  return total, metrics


def train_step(state, batch, rng, *, model, discriminators, tx, config):
  """Pure: (state, global batch, rng) -> (new state, metrics)."""
  del rng  # The CNN is deterministic; stochastic models and k-means draw from it.
  lam = grl_scale(state.step, config.train.steps, config.adversarial.lambda_schedule,
                  config.adversarial.lambda_max)
  grad_fn = jax.value_and_grad(functools.partial(
      loss_fn, model=model, discriminators=discriminators,
      taps=parse_taps(config.adversarial.taps, config.adversarial.weight),
      lam=lam, video_label_weight=config.train.video_label_weight), has_aux=True)
  (_, metrics), grads = grad_fn(state.params, batch)
  updates, opt_state = tx.update(grads, state.opt_state, state.params)
  params = jax.tree.map(lambda p, u: p + u, state.params, updates)
  metrics.update(grl_lambda=lam, grad_norm=_global_norm(grads))
  return state.replace(step=state.step + 1, params=params, opt_state=opt_state), metrics


def _global_norm(tree):
  return jnp.sqrt(sum(jnp.sum(jnp.square(x.astype(jnp.float32))) for x in jax.tree.leaves(tree)))


def jit_train_step(mesh, **static):
  """train_step compiled for `mesh`: batch split on 'data', state replicated and donated."""
  return jax.jit(functools.partial(train_step, **static),
                 in_shardings=(shd.replicated(mesh), shd.batch_sharding(mesh), shd.replicated(mesh)),
                 out_shardings=(shd.replicated(mesh), shd.replicated(mesh)),
                 donate_argnums=(0,))


def jit_predict(mesh, model):
  """Class map (argmax) for a batch of images or clips (frames predicted one by one)."""
  def predict(params, x):
    frames = x.reshape((-1,) + x.shape[-3:])
    logits, _ = apply_with_taps(model, params, frames)
    return jnp.argmax(logits, -1).astype(jnp.uint8).reshape(x.shape[:-1])
  return jax.jit(predict, in_shardings=(shd.replicated(mesh), shd.batch_sharding(mesh)),
                 out_shardings=shd.replicated(mesh))
