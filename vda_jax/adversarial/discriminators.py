"""Domain classifiers (image = 0, video = 1) that attach to any tap.

Dense layers act on the last (channel) axis only, so one module is a per-pixel
classifier on CNN maps (B, H, W, C), a per-voxel one on clips (B, T, H, W, C)
and a per-token one on Transformer tokens (B, N, C).
"""
from typing import Optional

import flax.linen as nn
import jax.numpy as jnp


class PixelDiscriminator(nn.Module):
  """Per-position domain logits: (..., C) -> (...), or (..., outputs) when `outputs`
  is given (one logit per cluster for the clustered loss)."""
  hidden: int = 64
  depth: int = 2
  outputs: Optional[int] = None

  @nn.compact
  def __call__(self, x):
    x = x.astype(jnp.float32)
    for _ in range(self.depth):
      x = nn.leaky_relu(nn.Dense(self.hidden)(x), 0.2)
    x = nn.Dense(self.outputs or 1)(x)
    return x[..., 0] if self.outputs is None else x


class ConvDiscriminator(nn.Module):
  """AdaptSegNet's fully convolutional discriminator: `depth` 4x4 stride-2 convs
  (width, 2 width, 4 width, ...; leaky ReLU 0.2), then a 4x4 stride-2 conv to one
  logit per cell, so it judges spatial layout, not one position at a time.

  (..., H, W, C) maps -> (..., h, w) logits; leading axes (clip frames) are
  folded into the batch. The paper's is depth=4, width=64 on 1/8-scale outputs.
  """
  width: int = 64
  depth: int = 4

  @nn.compact
  def __call__(self, x):
    if x.ndim < 4:
      raise ValueError(f'the conv discriminator needs (..., H, W, C) maps; got shape {x.shape} '
                       "(config.adversarial.disc_type='conv' on a tap without a spatial grid)")
    lead = x.shape[:-3]
    x = x.reshape((-1,) + x.shape[-3:]).astype(jnp.float32)
    for i in range(self.depth):
      x = nn.leaky_relu(nn.Conv(self.width * 2 ** i, (4, 4), strides=2)(x), 0.2)
    x = nn.Conv(1, (4, 4), strides=2)(x)
    return x[..., 0].reshape(lead + x.shape[-3:-1])
