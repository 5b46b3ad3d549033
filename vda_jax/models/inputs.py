"""What a network eats and what it gives back, for images and for clips alike."""
import jax.numpy as jnp


def model_input(model, x, clip_len, image_as_clip='repeat'):
  """What `model` eats: 2D models take frames, temporal ones take clips.

  For a temporal model an image becomes a static clip: repeated `clip_len`
  times ('repeat') or a clip of one frame ('single').
  """
  is_clip = x.ndim == 5
  if not getattr(model, 'temporal', False):
    return x.reshape((-1,) + x.shape[-3:]) if is_clip else x
  if is_clip:
    return x
  if image_as_clip not in ('repeat', 'single'):
    raise ValueError(f"config.model.image_as_clip={image_as_clip!r}; expected 'repeat' or 'single'")
  return jnp.repeat(x[:, None], clip_len if image_as_clip == 'repeat' else 1, axis=1)


def model_output(model, logits, x):
  """Logits back in the shape of the input x: images (B, H, W, C), clips (B, T, H, W, C)."""
  if x.ndim == 5:
    return logits.reshape(x.shape[:2] + logits.shape[-3:])
  if getattr(model, 'temporal', False):
    return jnp.mean(logits, axis=1)  # a static clip's frames vote
  return logits
