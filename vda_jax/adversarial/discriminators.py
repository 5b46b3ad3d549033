"""Domain classifiers (image = 0, video = 1) that attach to any tap.

Dense layers act on the last (channel) axis only, so one module is a per-pixel
classifier on CNN maps (B, H, W, C), a per-voxel one on clips (B, T, H, W, C)
and a per-token one on Transformer tokens (B, N, C).
"""
import flax.linen as nn
import jax.numpy as jnp


class PixelDiscriminator(nn.Module):
  hidden: int = 64
  depth: int = 2

  @nn.compact
  def __call__(self, x):
    x = x.astype(jnp.float32)
    for _ in range(self.depth):
      x = nn.leaky_relu(nn.Dense(self.hidden)(x), 0.2)
    return nn.Dense(1)(x)[..., 0]
