"""Supervised and domain losses (pure functions of logits)."""
import math

import jax
import jax.numpy as jnp
import optax

from vda_jax.adversarial.clustering import segment_mean
from vda_jax.labels import VOID


def segmentation_loss(logits: jax.Array, labels: jax.Array) -> jax.Array:
  """Mean pixel cross-entropy over labels != VOID (0 if every pixel is void)."""
  valid = labels != VOID
  safe = jnp.where(valid, labels, 0).astype(jnp.int32)
  ce = optax.softmax_cross_entropy_with_integer_labels(logits.astype(jnp.float32), safe)
  return jnp.sum(ce * valid) / jnp.maximum(jnp.sum(valid), 1)


def domain_loss(image_logits: jax.Array, video_logits: jax.Array) -> tuple[jax.Array, jax.Array]:
  """Binary cross-entropy of a domain classifier, image = 0, video = 1.

  Each domain's positions are averaged first, then the two domains are
  averaged, so the loss does not depend on how many frames each side has.
  Returns (loss, accuracy).
  """
  image_logits = image_logits.astype(jnp.float32)
  video_logits = video_logits.astype(jnp.float32)
  # -log(1 - sigmoid(l)) = softplus(l); -log(sigmoid(l)) = softplus(-l).
  loss = 0.5 * (jnp.mean(jax.nn.softplus(image_logits)) +
                jnp.mean(jax.nn.softplus(-video_logits)))
  accuracy = 0.5 * (jnp.mean(image_logits < 0) + jnp.mean(video_logits > 0))
  return loss, accuracy


def clustered_domain_loss(image_logits: jax.Array, video_logits: jax.Array,
                          image_clusters: jax.Array, video_clusters: jax.Array,
                          k: int) -> tuple[jax.Array, jax.Array]:
  """The domain loss inside each of k clusters, averaged over usable clusters.

  Logits and cluster ids are per sample (any matching shapes). Within cluster j
  the loss is balanced like `domain_loss` (image mean and video mean averaged);
  only clusters holding samples of both domains count, so an empty or one-sided
  cluster adds nothing and the rest are not diluted. Returns (loss, accuracy);
  both are 0 when no cluster holds both domains.
  """
  def per_cluster(values, clusters):
    means, counts = segment_mean(values.reshape(-1).astype(jnp.float32), clusters.reshape(-1), k)
    return means, counts > 0

  image_loss, has_image = per_cluster(jax.nn.softplus(image_logits), image_clusters)
  video_loss, has_video = per_cluster(jax.nn.softplus(-video_logits), video_clusters)
  image_acc, _ = per_cluster(image_logits < 0, image_clusters)
  video_acc, _ = per_cluster(video_logits > 0, video_clusters)
  both = (has_image & has_video).astype(jnp.float32)
  n = jnp.maximum(jnp.sum(both), 1.0)
  loss = jnp.sum(both * 0.5 * (image_loss + video_loss)) / n
  accuracy = jnp.sum(both * 0.5 * (image_acc + video_acc)) / n
  return loss, accuracy


def entropy_loss(logits: jax.Array) -> jax.Array:
  """ADVENT's MinEnt: mean pixel entropy of softmax(logits), normalised by log(C) to [0, 1]."""
  logp = jax.nn.log_softmax(logits.astype(jnp.float32), axis=-1)
  return -jnp.mean(jnp.sum(jnp.exp(logp) * logp, axis=-1)) / jnp.log(logits.shape[-1])


def conditional_features(features: jax.Array, logits: jax.Array) -> jax.Array:
  """CDAN's discriminator input: features (..., h, w, C) outer softmax predictions.

  The predictions are detached, as in the official CDAN code: the reversed
  gradient reaches the network through the features only, never through its
  own class probabilities. The (..., H, W, K) logits are resized to the features' grid.
  Their leading
  axes are matched to the features': frames of clips flattened for a 2D model,
  or broadcast over a static clip's frames. Returns (..., h, w, C * K).
  """
  probs = jax.lax.stop_gradient(jax.nn.softmax(logits.astype(jnp.float32), axis=-1))
  lead, grid = features.shape[:-3], probs.shape[-3:]
  if math.prod(probs.shape[:-3]) == math.prod(lead):
    probs = probs.reshape(lead + grid)
  else:
    probs = jnp.broadcast_to(probs.reshape(probs.shape[:-3] + (1,) * (len(lead) - probs.ndim + 3)
                                           + grid), lead + grid)
  probs = jax.image.resize(probs, features.shape[:-1] + grid[-1:], 'linear')
  joint = features.astype(jnp.float32)[..., :, None] * probs[..., None, :]
  return joint.reshape(features.shape[:-1] + (-1,))
