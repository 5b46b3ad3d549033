"""The train step: supervised image loss + gradient-reversed domain losses, one update.

Minimising  sup(model) + sum_t w_t * domain_t(disc_t(grad_reverse(tap_t, lambda)))
over model and discriminators together is the adversarial game: each
discriminator descends its domain loss, while the reversed gradient makes the
network ascend it at the tapped features. The terms (vda_jax.adversarial.terms)
are combined by `vda_jax.adversarial.objective.Objective`.
"""
import functools

import flax.linen as nn
import flax.struct
import jax
import jax.numpy as jnp
import numpy as np
import optax

from vda_jax.adversarial.losses import segmentation_loss
from vda_jax.adversarial.objective import Objective
from vda_jax.adversarial.terms import TermInputs
from vda_jax.models.inputs import model_input, model_output
from vda_jax.models.taps import apply_with_taps
from vda_jax.train import sharding as shd
from vda_jax.train.state import TrainState


class DomainOutputs(flax.struct.PyTreeNode):
  image_logits: jax.Array   # (B, H, W, C)
  video_logits: jax.Array   # (B, T, H, W, C)
  image_taps: dict          # tap name -> image features
  video_taps: dict          # tap name -> video features (per frame or per clip)


def _apply_each(model, params, inputs):
  """apply_with_taps on each input; one concatenated pass when their shapes agree and the
  model normalises with no batch statistics (`separate_domains`: a domain's frames must
  never be normalised by the other's)."""
  if (getattr(model, 'separate_domains', False)
      or any(x.shape[1:] != inputs[0].shape[1:] for x in inputs)):
    return [apply_with_taps(model, params, x) for x in inputs]
  logits, taps = apply_with_taps(model, params, jnp.concatenate(inputs))
  cuts = np.cumsum([x.shape[0] for x in inputs])[:-1]
  split = lambda t: jnp.split(t, cuts)
  parts = {k: split(v) for k, v in taps.items()}
  return [(z, {k: v[i] for k, v in parts.items()}) for i, z in enumerate(split(logits))]


def forward(model: nn.Module, params, images: jax.Array, clips: jax.Array,
            image_as_clip: str = 'repeat') -> DomainOutputs:
  """Runs the model on images and on clips (frame by frame for 2D models)."""
  inputs = [model_input(model, images, clips.shape[1], image_as_clip), model_input(model, clips, 0)]
  (img_logits, img_taps), (vid_logits, vid_taps) = _apply_each(model, params, inputs)
  return DomainOutputs(model_output(model, img_logits, images),
                       model_output(model, vid_logits, clips), img_taps, vid_taps)


def loss_fn(params: dict, clusters: dict, batch: dict, *, model: nn.Module, objective: Objective,
            lam: jax.Array, first_step: jax.Array, video_label_weight: float,
            image_as_clip: str = 'repeat') -> tuple[jax.Array, tuple[dict, dict]]:
  """(total loss, (metrics, updated cluster centroids)) of one global batch."""
  if not (objective.active or video_label_weight):
    # Source-only: nothing reads the video frames, so they are not run.
    x = model_input(model, batch['image'], batch['video'].shape[1], image_as_clip)
    logits, _ = apply_with_taps(model, params['model'], x)
    sup = segmentation_loss(model_output(model, logits, batch['image']), batch['label'])
    return sup, ({'sup_loss': sup, 'total_loss': sup}, clusters)
  out = forward(model, params['model'], batch['image'], batch['video'], image_as_clip)
  sup = segmentation_loss(out.image_logits, batch['label'])
  total, metrics = sup, {'sup_loss': sup}
  if video_label_weight:  # the supervised upper bound: video masks are labels too
    video_sup = segmentation_loss(out.video_logits, batch['video_label'])
    total += video_label_weight * video_sup
    metrics['video_sup_loss'] = video_sup
  adv, adv_metrics, clusters = objective(
      params, clusters, TermInputs(out.image_taps, out.video_taps, out.image_logits,
                                   out.video_logits, batch['label'], lam, first_step))
  metrics.update(adv_metrics, total_loss=total + adv)
  return total + adv, (metrics, clusters)


def train_step(state: TrainState, batch: dict, *, model: nn.Module, objective: Objective,
               tx: optax.GradientTransformation, video_label_weight: float = 0.0,
               image_as_clip: str = 'repeat') -> tuple[TrainState, dict]:
  """Pure: (state, global batch) -> (new state, metrics). The networks are
  deterministic, so the step draws no randomness."""
  lam = objective.grl_lambda(state.step)
  grad_fn = jax.value_and_grad(functools.partial(
      loss_fn, model=model, objective=objective, lam=lam, first_step=state.step == 0,
      video_label_weight=video_label_weight, image_as_clip=image_as_clip), has_aux=True)
  (_, (metrics, clusters)), grads = grad_fn(state.params, state.clusters, batch)
  updates, opt_state = tx.update(grads, state.opt_state, state.params)
  params = jax.tree.map(lambda p, u: p + u, state.params, updates)
  metrics.update(grl_lambda=lam, grad_norm=_global_norm(grads))
  return state.replace(step=state.step + 1, params=params, opt_state=opt_state,
                       clusters=clusters), metrics


def _global_norm(tree):
  return jnp.sqrt(sum(jnp.sum(jnp.square(x.astype(jnp.float32))) for x in jax.tree.leaves(tree)))


def jit_train_step(mesh, state_sharding, **static):
  """train_step compiled for `mesh`: batch split over data x fsdp, the state sharded by
  `state_sharding` (sharding.state_shardings) and donated."""
  return jax.jit(functools.partial(train_step, **static),
                 in_shardings=(state_sharding, shd.batch_sharding(mesh)),
                 out_shardings=(state_sharding, shd.replicated(mesh)),
                 donate_argnums=(0,))


def jit_predict(mesh, params_sharding, model, clip_len, image_as_clip='repeat'):
  """Class map (argmax) for a batch of images (B, H, W, 3) or clips (B, T, H, W, 3)."""
  def predict(params, x):
    logits, _ = apply_with_taps(model, params, model_input(model, x, clip_len, image_as_clip))
    return jnp.argmax(model_output(model, logits, x), -1).astype(jnp.uint8)
  return jax.jit(predict, in_shardings=(params_sharding, shd.batch_sharding(mesh)),
                 out_shardings=shd.replicated(mesh))
