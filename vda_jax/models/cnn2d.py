"""2D residual encoder-decoder (U-Net style skips) for per-frame segmentation.

GroupNorm, not BatchNorm: statistics never mix images with video frames (or
examples across devices), so the model is a pure function of its params.
Taps: stem, stage1..N, decoder, logits.
"""
from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from vda_jax.models.taps import tap


def _norm(x):
  return nn.GroupNorm(num_groups=min(8, x.shape[-1]), dtype=x.dtype)(x)


class ResBlock(nn.Module):
  features: int
  strides: int = 1
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, x):
    conv = lambda f, k, s: nn.Conv(f, (k, k), (s, s), use_bias=False, dtype=self.dtype)
    y = nn.relu(_norm(conv(self.features, 3, self.strides)(x)))
    y = _norm(conv(self.features, 3, 1)(y))
    if x.shape[-1] != self.features or self.strides != 1:
      x = _norm(conv(self.features, 1, self.strides)(x))
    return nn.relu(x + y)


def upsample_to(x, like):
  return jax.image.resize(x, like.shape[:-1] + x.shape[-1:], 'bilinear')


def normalise_pixels(x, dtype):
  """uint8 [0, 255] -> [-1, 1]; done on the accelerator so the host ships bytes."""
  return x.astype(dtype) / 127.5 - 1.0


class CNN2D(nn.Module):
  num_classes: int
  width: int = 16
  stage_widths: Sequence[int] = (1, 2, 4, 8)  # multiples of width
  blocks_per_stage: int = 1
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, x):
    x = normalise_pixels(x, self.dtype)
    x = nn.relu(_norm(nn.Conv(self.width, (3, 3), (2, 2), use_bias=False, dtype=self.dtype)(x)))
    skips = [tap(self, 'stem', x)]
    for i, mult in enumerate(self.stage_widths):
      for j in range(self.blocks_per_stage):
        x = ResBlock(self.width * mult, 2 if (i > 0 and j == 0) else 1, self.dtype)(x)
      skips.append(tap(self, f'stage{i + 1}', x))
    # Decoder: coarse to fine, adding each skip, back to the stem's resolution.
    for skip in reversed(skips[:-1]):
      x = upsample_to(x, skip)
      x = jnp.concatenate([x, skip], axis=-1)
      x = nn.relu(_norm(nn.Conv(skip.shape[-1], (3, 3), use_bias=False, dtype=self.dtype)(x)))
    tap(self, 'decoder', x)
    x = nn.Conv(self.num_classes, (1, 1), dtype=self.dtype)(x)
    x = jax.image.resize(x, x.shape[:1] + (x.shape[1] * 2, x.shape[2] * 2, x.shape[3]), 'bilinear')
    logits = x.astype(jnp.float32)
    return tap(self, 'logits', logits)
