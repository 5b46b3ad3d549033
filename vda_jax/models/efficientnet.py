"""EfficientNet-Lite (Tan & Le, 2019; the Lite family of 2020) as a segmentation encoder.

  model = EfficientNetLite(num_classes=2, variant='lite0', decoder='fpn')
  logits = model.apply({'params': params}, uint8_images)       # (B, H, W, num_classes)

What the published ImageNet weights were trained with: ReLU6, no squeeze-and-excitation,
TensorFlow's 'SAME' padding, BatchNorm with eps 1e-3, and the stem and head left unscaled
by the width multiplier. Pixels are normalised with ImageNet's mean and std on the device.
Taps: stem (stride 2), stage1..stage4 (strides 4, 8, 16, 32), decoder (stride 4), logits.

BatchNorm (`bn_stats`): 'frozen' (the default) normalises with the checkpoint's running
statistics, which never change: a frame is normalised alike whatever else is in its batch,
so images and video frames share nothing. 'per_domain_batch' normalises every pass with
its own batch statistics, and the train step runs images and video frames in separate passes
(`separate_domains`), so each domain is normalised by its own statistics, at evaluation too:
that is AdaBN (Li et al., 2016), an alignment method of its own, so a comparison that uses it
must say so. The statistics are kept as parameters under stop_gradient; the optimizer leaves
them alone (train.state.param_groups).
"""
import math

import flax.linen as nn
import jax
import jax.numpy as jnp

from vda_jax.models.convnet import resize_like, upsample_space
from vda_jax.models.depthwise import depthwise_conv
from vda_jax.models.taps import tap

# (width, depth) multipliers of each variant (efficientnet_lite_builder.py).
VARIANTS = {'lite0': (1.0, 1.0), 'lite1': (1.0, 1.1), 'lite2': (1.1, 1.2), 'lite3': (1.2, 1.4),
            'lite4': (1.4, 1.8)}
# EfficientNet-B0's block groups: (repeats, kernel, stride, expansion, in, out).
GROUPS = ((1, 3, 1, 1, 32, 16), (2, 3, 2, 6, 16, 24), (2, 5, 2, 6, 24, 40), (3, 3, 2, 6, 40, 80),
          (3, 5, 1, 6, 80, 112), (4, 5, 2, 6, 112, 192), (1, 3, 1, 6, 192, 320))
# The last group at each stride: its output is that stage's tap.
STAGE_OF_GROUP = {1: 'stage1', 2: 'stage2', 4: 'stage3', 6: 'stage4'}
STEM_WIDTH, HEAD_WIDTH = 32, 1280
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
BN_STATS = ('frozen', 'per_domain_batch')


def round_filters(filters: int, width: float) -> int:
  """Channels scaled by the width multiplier, to a multiple of 8 (TF's rounding)."""
  if width == 1.0:
    return filters
  scaled = filters * width
  rounded = max(8, int(scaled + 4) // 8 * 8)
  return int(rounded + 8 if rounded < 0.9 * scaled else rounded)


def round_repeats(repeats: int, depth: float) -> int:
  return int(math.ceil(depth * repeats))


def block_plan(variant: str) -> list[tuple[int, int, int, int, int, int]]:
  """(group, kernel, stride, expansion, in, out) of every block of `variant`; the first
  and last groups keep their repeats, as the Lite builder does."""
  if variant not in VARIANTS:
    raise ValueError(f'config.model.variant={variant!r}; expected one of {sorted(VARIANTS)}')
  width, depth = VARIANTS[variant]
  plan = []
  for g, (repeats, kernel, stride, expand, cin, cout) in enumerate(GROUPS):
    n = repeats if g in (0, len(GROUPS) - 1) else round_repeats(repeats, depth)
    cin = STEM_WIDTH if g == 0 else round_filters(cin, width)
    cout = round_filters(cout, width)
    for i in range(n):
      plan.append((g, kernel, stride if i == 0 else 1, expand, cin if i == 0 else cout, cout))
  return plan


def normalise_imagenet(x: jax.Array, dtype) -> jax.Array:
  """uint8 RGB -> (x / 255 - mean) / std, ImageNet's statistics, on the device."""
  mean = jnp.asarray(IMAGENET_MEAN, jnp.float32) * 255
  std = jnp.asarray(IMAGENET_STD, jnp.float32) * 255
  return ((x.astype(jnp.float32) - mean) / std).astype(dtype)


class BatchNorm(nn.Module):
  """BatchNorm's parameters: scale, bias, and the running statistics, which are parameters
  that no gradient reaches. Returns (scale, bias, mean, var)."""

  @nn.compact
  def __call__(self, channels: int):
    scale = self.param('scale', nn.initializers.ones, (channels,))
    bias = self.param('bias', nn.initializers.zeros, (channels,))
    mean = jax.lax.stop_gradient(self.param('mean', nn.initializers.zeros, (channels,)))
    var = jax.lax.stop_gradient(self.param('var', nn.initializers.ones, (channels,)))
    return scale, bias, mean, var


class ConvBN(nn.Module):
  """Conv ('SAME', no bias) -> BatchNorm (eps 1e-3) -> ReLU6 (unless act=False).

  With frozen statistics BatchNorm is a per-channel affine map, folded into the kernel and
  a bias: the same function and gradients, without the two reductions over the activations
  that BatchNorm's scale gradient costs on every layer."""
  features: int
  kernel: int = 1
  stride: int = 1
  depthwise: bool = False   # one k x k filter per channel (features == input channels)
  act: bool = True
  batch_stats: bool = False
  depthwise_impl: str = 'auto'
  dtype: jnp.dtype = jnp.float32
  eps = 1e-3

  @nn.compact
  def __call__(self, x):
    cin, k = x.shape[-1], self.kernel
    shape = (k, k, 1, cin) if self.depthwise else (k, k, cin, self.features)
    kernel = KernelParam(shape, name='conv')()
    scale, bias, mean, var = BatchNorm(name='bn')(shape[-1])
    if not self.batch_stats:
      factor = scale * jax.lax.rsqrt(var + self.eps)
      kernel, shift = kernel * factor, bias - mean * factor
    kernel = kernel.astype(self.dtype)
    x = x.astype(self.dtype)
    if self.depthwise:
      y = depthwise_conv(x, kernel[:, :, 0], self.stride, self.depthwise_impl)
    else:
      y = jax.lax.conv_general_dilated(x, kernel, (self.stride,) * 2, 'SAME',
                                       dimension_numbers=('NHWC', 'HWIO', 'NHWC'))
    if self.batch_stats:
      y32 = y.astype(jnp.float32)
      axes = tuple(range(y.ndim - 1))
      factor = scale * jax.lax.rsqrt(jnp.var(y32, axes) + self.eps)
      y, shift = y32 * factor, bias - jnp.mean(y32, axes) * factor
    y = (y + shift).astype(self.dtype)
    return jnp.clip(y, 0, 6) if self.act else y


class KernelParam(nn.Module):
  """A convolution kernel under the name nn.Conv gives it ('kernel', lecun-normal), so the
  published weights load into it."""
  shape: tuple[int, ...]

  @nn.compact
  def __call__(self):
    return self.param('kernel', nn.initializers.lecun_normal(), self.shape)


class MBConv(nn.Module):
  """Inverted residual: 1x1 expansion, depthwise k x k, 1x1 projection (no SE)."""
  kernel: int
  stride: int
  expand: int
  features: int
  batch_stats: bool = False
  depthwise_impl: str = 'auto'
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, x):
    conv = lambda name, *a, **k: ConvBN(*a, batch_stats=self.batch_stats,
                                        depthwise_impl=self.depthwise_impl, dtype=self.dtype,
                                        name=name, **k)
    cin = x.shape[-1]
    y = conv('expand', cin * self.expand)(x) if self.expand != 1 else x
    y = conv('dw', y.shape[-1], self.kernel, self.stride, depthwise=True)(y)
    y = conv('project', self.features, act=False)(y)
    return x + y if self.stride == 1 and cin == self.features else y


class Encoder(nn.Module):
  """Stem and MBConv blocks; returns {tap: features} for stem and stage1..stage4."""
  variant: str = 'lite0'
  batch_stats: bool = False
  remat: bool = False
  depthwise_impl: str = 'auto'
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, x):
    x = ConvBN(STEM_WIDTH, 3, 2, batch_stats=self.batch_stats, dtype=self.dtype, name='stem')(x)
    features = {'stem': x}
    plan = block_plan(self.variant)
    block = nn.remat(MBConv) if self.remat else MBConv
    for i, (group, kernel, stride, expand, _, cout) in enumerate(plan):
      x = block(kernel, stride, expand, cout, self.batch_stats, self.depthwise_impl, self.dtype,
                name=f'block{i}')(x)
      last_of_group = i + 1 == len(plan) or plan[i + 1][0] != group
      if last_of_group and group in STAGE_OF_GROUP:
        features[STAGE_OF_GROUP[group]] = x
    return features


class EfficientNetLite(nn.Module):
  """EfficientNet-Lite encoder + a decoder to per-pixel class logits at the input size.

  decoder: 'mlp' (SegFormer's all-MLP head over stage1..4) or 'fpn' (top-down feature
  pyramid, 3x3 smoothing at stride 4).
  """
  num_classes: int
  variant: str = 'lite0'
  decoder: str = 'fpn'
  decoder_dim: int = 128
  bn_stats: str = 'frozen'
  remat: bool = False       # jax.checkpoint each block: less memory, more compute
  depthwise_impl: str = 'auto'  # models.depthwise: 'slices' on CPU, 'grouped' elsewhere
  dtype: jnp.dtype = jnp.float32
  temporal = False          # frames, not clips (a class constant, not a field)

  @property
  def separate_domains(self) -> bool:
    """Whether images and video frames must go through the network in separate passes."""
    return self.bn_stats == 'per_domain_batch'

  @nn.compact
  def __call__(self, x):
    if self.bn_stats not in BN_STATS:
      raise ValueError(f'config.model.bn_stats={self.bn_stats!r}; expected one of {BN_STATS}')
    if self.decoder not in ('mlp', 'fpn'):
      raise ValueError(f"config.model.decoder={self.decoder!r}; expected 'mlp' or 'fpn'")
    features = Encoder(self.variant, self.separate_domains, self.remat, self.depthwise_impl,
                       self.dtype, name='encoder')(
        normalise_imagenet(x, self.dtype))
    for name, f in features.items():
      tap(self, name, f)
    stages = [features[f'stage{i}'] for i in range(1, 5)]
    d = self.decoder_dim
    if self.decoder == 'mlp':
      fused = [resize_like(nn.Dense(d, dtype=self.dtype, name=f'linear_c{i + 1}')(f), stages[0])
               for i, f in reversed(list(enumerate(stages)))]
      y = nn.Dense(d, dtype=self.dtype, name='linear_fuse')(jnp.concatenate(fused, -1))
      y = nn.relu(nn.LayerNorm(dtype=self.dtype, name='fuse_norm')(y))
    else:
      y = nn.Dense(d, dtype=self.dtype, name='lateral4')(stages[3])
      for i in (3, 2, 1):
        y = resize_like(y, stages[i - 1]) + nn.Dense(d, dtype=self.dtype,
                                                     name=f'lateral{i}')(stages[i - 1])
      y = nn.Conv(d, (3, 3), padding='SAME', dtype=self.dtype, name='smooth')(y)
      y = nn.relu(nn.GroupNorm(num_groups=8, dtype=self.dtype, name='smooth_norm')(y))
    tap(self, 'decoder', y)
    logits = upsample_space(nn.Dense(self.num_classes, dtype=self.dtype, name='classifier')(y), 4)
    logits = resize_like(logits, x[..., :1]) if logits.shape[-3:-1] != x.shape[-3:-1] else logits
    return tap(self, 'logits', logits.astype(jnp.float32))


class EfficientNetLiteClassifier(nn.Module):
  """The ImageNet classifier the weights come from: encoder, 1x1 head to 1280, ReLU6,
  global average pool, linear. For checking a conversion against the reference network."""
  variant: str = 'lite0'
  num_classes: int = 1000

  @nn.compact
  def __call__(self, x):
    features = Encoder(self.variant, name='encoder')(normalise_imagenet(x, jnp.float32))
    y = ConvBN(HEAD_WIDTH, name='head')(features['stage4'])
    return nn.Dense(self.num_classes, name='fc')(jnp.mean(y, axis=(1, 2)))
