"""Supervised and domain losses (pure functions of logits)."""
import jax
import jax.numpy as jnp
import optax

IGNORE_LABEL = 255


def segmentation_loss(logits, labels):
  """Mean pixel cross-entropy over labels != 255 (0 if every pixel is void)."""
  valid = labels != IGNORE_LABEL
  safe = jnp.where(valid, labels, 0).astype(jnp.int32)
  ce = optax.softmax_cross_entropy_with_integer_labels(logits.astype(jnp.float32), safe)
  return jnp.sum(ce * valid) / jnp.maximum(jnp.sum(valid), 1)


def domain_loss(image_logits, video_logits):
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
