"""Residual encoder-decoder CNN, 2D (per frame) or 3D (over clips), with skips.

One module for both: `temporal=True` makes every kernel 3x3x3 over (T, H, W)
and downsamples space only, so a clip of T frames gives T masks.
GroupNorm, not BatchNorm: statistics never mix images with video frames (or
examples across devices), so the model is a pure function of its params.
Taps: stem, stage1..N, decoder, logits.
"""
from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from vda_jax.models.taps import tap


def group_norm(x):
  return nn.GroupNorm(num_groups=min(8, x.shape[-1]), dtype=x.dtype)(x)


def normalise_pixels(x, dtype):
  """uint8 [0, 255] -> [-1, 1]; done on the accelerator so the host ships bytes."""
  return x.astype(dtype) / 127.5 - 1.0


def resize_like(x, like):
  """Bilinear resize of x's spatial (and temporal) axes to those of `like`."""
  return jax.image.resize(x, like.shape[:-1] + x.shape[-1:], 'bilinear')


def upsample_space(x, factor):
  shape = x.shape[:-3] + (x.shape[-3] * factor, x.shape[-2] * factor, x.shape[-1])
  return jax.image.resize(x, shape, 'bilinear')


class ResBlock(nn.Module):
  features: int
  kernel: Sequence[int]
  strides: Sequence[int]
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, x):
    conv = lambda k, s: nn.Conv(self.features, k, s, use_bias=False, dtype=self.dtype)
    ones = (1,) * len(self.kernel)
    y = nn.relu(group_norm(conv(self.kernel, self.strides)(x)))
    y = group_norm(conv(self.kernel, ones)(y))
    if x.shape[-1] != self.features or tuple(self.strides) != ones:
      x = group_norm(conv(ones, self.strides)(x))
    return nn.relu(x + y)


class ConvNet(nn.Module):
  num_classes: int
  temporal: bool = False
  width: int = 16
  stage_widths: Sequence[int] = (1, 2, 4, 8)  # multiples of width
  blocks_per_stage: int = 1
  remat: bool = False
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, x):
    kernel = (3, 3, 3) if self.temporal else (3, 3)
    down = (1, 2, 2) if self.temporal else (2, 2)
    ones = (1,) * len(kernel)
    block = nn.remat(ResBlock) if self.remat else ResBlock
    x = normalise_pixels(x, self.dtype)
    x = nn.relu(group_norm(nn.Conv(self.width, kernel, down, use_bias=False, dtype=self.dtype)(x)))
    skips = [tap(self, 'stem', x)]
    for i, mult in enumerate(self.stage_widths):
      for j in range(self.blocks_per_stage):
        x = block(self.width * mult, kernel, down if (i > 0 and j == 0) else ones, self.dtype,
                  name=f'stage{i + 1}_block{j}')(x)  # stable names with or without remat
      skips.append(tap(self, f'stage{i + 1}', x))
    # Decoder: coarse to fine, adding each skip, back to the stem's resolution.
    for skip in reversed(skips[:-1]):
      x = jnp.concatenate([resize_like(x, skip), skip], axis=-1)
      x = nn.relu(group_norm(nn.Conv(skip.shape[-1], kernel, use_bias=False, dtype=self.dtype)(x)))
    tap(self, 'decoder', x)
    logits = upsample_space(nn.Conv(self.num_classes, ones, dtype=self.dtype)(x), 2)
    return tap(self, 'logits', logits.astype(jnp.float32))
