"""SegFormer (Xie et al., 2021): Mix Transformer encoder + all-MLP decoder.

`temporal=True` gives the spatio-temporal variant: every block adds a
factorised temporal self-attention (each spatial token attends over the T
frames of its clip) between the spatial attention and the Mix-FFN.

Submodule names mirror the official MiT code (patch_embed{i}, block{i}_{j}.attn.q,
.kv, .sr, .norm, .mlp.fc1/dwconv/fc2, norm{i}) so published ImageNet weights
convert key by key (see vda_jax/models/pretrained.py); the temporal layers are
new and start from scratch.
Taps: patch_embed (first-stage tokens, as a map), stage1..4, decoder, logits.
"""

import flax.linen as nn
import jax
import jax.numpy as jnp

from vda_jax.models.convnet import normalise_pixels, resize_like, upsample_space
from vda_jax.models.depthwise import DepthwiseConv
from vda_jax.models.taps import tap

SIZES = {
    # Small enough for CPU tests and the 64 px embedded benchmark.
    'nano': dict(dims=(16, 32, 64, 128), depths=(1, 1, 1, 1), heads=(1, 1, 2, 4),
                 sr_ratios=(4, 2, 1, 1), decoder_dim=64),
    # The published MiT-B0 / MiT-B2 encoders.
    'b0': dict(dims=(32, 64, 160, 256), depths=(2, 2, 2, 2), heads=(1, 2, 5, 8),
               sr_ratios=(8, 4, 2, 1), decoder_dim=256),
    'b2': dict(dims=(64, 128, 320, 512), depths=(3, 4, 6, 3), heads=(1, 2, 5, 8),
               sr_ratios=(8, 4, 2, 1), decoder_dim=768),
}


class OverlapPatchEmbed(nn.Module):
  dim: int
  patch: int
  stride: int
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, x):
    pad = self.patch // 2
    x = nn.Conv(self.dim, (self.patch,) * 2, (self.stride,) * 2, padding=((pad, pad), (pad, pad)),
                dtype=self.dtype, name='proj')(x)
    return nn.LayerNorm(epsilon=1e-5, dtype=self.dtype, name='norm')(x)


def _attend(q, k, v, heads):
  """Multi-head softmax attention: q (B, N, C), k/v (B, M, C) -> (B, N, C).

  jax.nn.dot_product_attention: XLA's attention (softmax in fp32), or cuDNN's
  fused flash-attention kernel on GPUs where the shapes and dtype allow it.
  """
  b, n, c = q.shape
  split = lambda t: t.reshape(t.shape[0], t.shape[1], heads, c // heads)
  return jax.nn.dot_product_attention(split(q), split(k), split(v)).reshape(b, n, c)


class EfficientAttention(nn.Module):
  """Self-attention whose keys/values come from a sr_ratio-times smaller map."""
  dim: int
  heads: int
  sr_ratio: int
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, x):  # (B, h, w, C)
    b, h, w, c = x.shape
    dense = lambda f, name: nn.Dense(f, dtype=self.dtype, name=name)
    q = dense(c, 'q')(x).reshape(b, h * w, c)
    kv_map = x
    if self.sr_ratio > 1:
      kv_map = nn.Conv(c, (self.sr_ratio,) * 2, (self.sr_ratio,) * 2, padding='VALID',
                       dtype=self.dtype, name='sr')(x)
      kv_map = nn.LayerNorm(epsilon=1e-5, dtype=self.dtype, name='norm')(kv_map)
    kv = dense(2 * c, 'kv')(kv_map).reshape(b, -1, 2, c)
    out = _attend(q, kv[:, :, 0], kv[:, :, 1], self.heads)
    return dense(c, 'proj')(out).reshape(b, h, w, c)


class TemporalAttention(nn.Module):
  """Each spatial token attends over the frames of its own clip."""
  heads: int
  frames: int
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, x):  # (B*T, h, w, C)
    bt, h, w, c = x.shape
    t = x.reshape(bt // self.frames, self.frames, h * w, c).transpose(0, 2, 1, 3)
    t = t.reshape(-1, self.frames, c)
    dense = lambda f, name: nn.Dense(f, dtype=self.dtype, name=name)
    qkv = dense(3 * c, 'qkv')(t).reshape(t.shape[0], self.frames, 3, c)
    out = dense(c, 'proj')(_attend(qkv[:, :, 0], qkv[:, :, 1], qkv[:, :, 2], self.heads))
    out = out.reshape(bt // self.frames, h * w, self.frames, c).transpose(0, 2, 1, 3)
    return out.reshape(bt, h, w, c)


class MixFFN(nn.Module):
  dim: int
  hidden: int
  depthwise_impl: str = 'auto'
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, x):
    x = nn.Dense(self.hidden, dtype=self.dtype, name='fc1')(x)
    x = DepthwiseConv(3, use_bias=True, impl=self.depthwise_impl, dtype=self.dtype,
                      name='dwconv')(x)
    x = nn.gelu(x, approximate=False)  # PyTorch's exact GELU, as the published weights expect
    return nn.Dense(self.dim, dtype=self.dtype, name='fc2')(x)


class Block(nn.Module):
  dim: int
  heads: int
  sr_ratio: int
  mlp_ratio: int
  frames: int
  temporal: bool
  depthwise_impl: str = 'auto'
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, x):
    ln = lambda name: nn.LayerNorm(epsilon=1e-6, dtype=self.dtype, name=name)
    attention = EfficientAttention(self.dim, self.heads, self.sr_ratio, self.dtype, name='attn')
    x = x + attention(ln('norm1')(x))
    if self.temporal:
      x = x + TemporalAttention(self.heads, self.frames, self.dtype, name='temporal_attn')(
          ln('temporal_norm')(x))
    return x + MixFFN(self.dim, self.dim * self.mlp_ratio, self.depthwise_impl, self.dtype,
                        name='mlp')(ln('norm2')(x))


class SegFormer(nn.Module):
  num_classes: int
  temporal: bool = False
  size: str = 'nano'
  mlp_ratio: int = 4
  remat: bool = False
  depthwise_impl: str = 'auto'  # models.depthwise: 'slices' on CPU, 'grouped' elsewhere
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, x):
    if self.size not in SIZES:
      raise ValueError(f'config.model.size={self.size!r}; expected one of {sorted(SIZES)}')
    s = SIZES[self.size]
    clip_shape = x.shape[:-3]                      # (B,) or (B, T)
    frames = x.shape[1] if self.temporal else 1
    x = normalise_pixels(x.reshape((-1,) + x.shape[-3:]), self.dtype)  # frames as a batch
    unflatten = lambda y: y.reshape(clip_shape + y.shape[1:])
    block = nn.remat(Block, static_argnums=()) if self.remat else Block
    stages = []
    for i, (dim, depth, heads, sr) in enumerate(zip(s['dims'], s['depths'], s['heads'],
                                                     s['sr_ratios'])):
      x = OverlapPatchEmbed(dim, 7 if i == 0 else 3, 4 if i == 0 else 2, self.dtype,
                            name=f'patch_embed{i + 1}')(x)
      if i == 0:
        tap(self, 'patch_embed', unflatten(x))
      for j in range(depth):
        x = block(dim, heads, sr, self.mlp_ratio, frames, self.temporal, self.depthwise_impl,
                  self.dtype,
                  name=f'block{i + 1}_{j}')(x)
      x = nn.LayerNorm(epsilon=1e-6, dtype=self.dtype, name=f'norm{i + 1}')(x)
      stages.append(x)
      tap(self, f'stage{i + 1}', unflatten(x))
    # All-MLP decoder: project every stage, bring it to 1/4 resolution, fuse.
    d = s['decoder_dim']
    fused = [resize_like(nn.Dense(d, dtype=self.dtype, name=f'linear_c{i + 1}')(f), stages[0])
             for i, f in reversed(list(enumerate(stages)))]
    x = nn.Dense(d, dtype=self.dtype, name='linear_fuse')(jnp.concatenate(fused, -1))
    x = nn.relu(nn.LayerNorm(dtype=self.dtype, name='fuse_norm')(x))
    tap(self, 'decoder', unflatten(x))
    logits = upsample_space(nn.Dense(self.num_classes, dtype=self.dtype, name='linear_pred')(x), 4)
    return tap(self, 'logits', unflatten(logits.astype(jnp.float32)))
