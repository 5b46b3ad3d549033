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
