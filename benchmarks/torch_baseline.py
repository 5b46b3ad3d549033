"""The 2D CNN train step in PyTorch: the side-by-side baseline of `scripts/benchmark.py --torch`.

The same network as `models.convnet.ConvNet(temporal=False)` layer for layer
(TensorFlow 'SAME' padding, GroupNorm with eps 1e-6, half-pixel bilinear
upsampling), the same global gradient-reversed domain losses at the same taps,
the same loss weighting and the same optimizer (clip by global norm, AdamW,
warm-up + cosine). Submodules carry the Flax module names, so
`load_flax_params` copies a Flax state in by path and the tests can check both
frameworks compute the same step. Needs the optional `torch` extra.
"""
import math

import numpy as np
import torch
from torch import nn
import torch.nn.functional as F

from vda_jax.adversarial.objective import Objective
from vda_jax.adversarial.terms import GlobalDomain
from vda_jax.labels import VOID


def _same_pad(x, kernel, stride):
  """Flax/TF 'SAME': an odd total padding puts the extra pixel after, unlike torch's padding=."""
  pads = []
  for size in reversed(x.shape[2:]):  # F.pad lists the last axis first
    total = max((-(-size // stride) - 1) * stride + kernel - size, 0)
    pads += [total // 2, total - total // 2]
  return F.pad(x, pads)


class SameConv(nn.Conv2d):

  def __init__(self, cin, cout, kernel, stride=1, bias=False):
    super().__init__(cin, cout, kernel, stride, padding=0, bias=bias)

  def forward(self, x):
    return super().forward(_same_pad(x, self.kernel_size[0], self.stride[0]))


def _group_norm(channels):
  return nn.GroupNorm(min(8, channels), channels, eps=1e-6)  # flax.linen.GroupNorm's eps


def _upsample_to(x, size):
  return F.interpolate(x, size=size, mode='bilinear', align_corners=False)


class ResBlock(nn.Module):

  def __init__(self, cin, cout, stride):
    super().__init__()
    self.Conv_0, self.GroupNorm_0 = SameConv(cin, cout, 3, stride), _group_norm(cout)
    self.Conv_1, self.GroupNorm_1 = SameConv(cout, cout, 3), _group_norm(cout)
    self.project = cin != cout or stride != 1
    if self.project:
      self.Conv_2, self.GroupNorm_2 = SameConv(cin, cout, 1, stride), _group_norm(cout)

  def forward(self, x):
    y = F.relu(self.GroupNorm_0(self.Conv_0(x)))
    y = self.GroupNorm_1(self.Conv_1(y))
    if self.project:
      x = self.GroupNorm_2(self.Conv_2(x))
    return F.relu(x + y)


class ConvNet(nn.Module):
  """uint8 NHWC frames -> (NCHW logits, {tap: NCHW features})."""

  def __init__(self, num_classes, width, stage_widths, blocks_per_stage):
    super().__init__()
    self.Conv_0, self.GroupNorm_0 = SameConv(3, width, 3, 2), _group_norm(width)
    self.blocks, cin, skips = nn.ModuleDict(), width, [width]
    for i, mult in enumerate(stage_widths):
      for j in range(blocks_per_stage):
        self.blocks[f'stage{i + 1}_block{j}'] = ResBlock(cin, width * mult,
                                                         2 if (i > 0 and j == 0) else 1)
        cin = width * mult
      skips.append(cin)
    self.decoder = []
    for k, skip in enumerate(reversed(skips[:-1])):
      conv, norm = SameConv(cin + skip, skip, 3), _group_norm(skip)
      setattr(self, f'Conv_{k + 1}', conv)
      setattr(self, f'GroupNorm_{k + 1}', norm)
      self.decoder.append((conv, norm))
      cin = skip
    self.head = f'Conv_{len(skips)}'
    setattr(self, self.head, SameConv(cin, num_classes, 1, bias=True))
    self.stages, self.blocks_per_stage = len(stage_widths), blocks_per_stage

  def forward(self, x):
    x = x.permute(0, 3, 1, 2).float() / 127.5 - 1.0
    x = F.relu(self.GroupNorm_0(self.Conv_0(x)))
    taps, skips = {'stem': x}, [x]
    for i in range(self.stages):
      for j in range(self.blocks_per_stage):
        x = self.blocks[f'stage{i + 1}_block{j}'](x)
      taps[f'stage{i + 1}'] = x
      skips.append(x)
    for (conv, norm), skip in zip(self.decoder, reversed(skips[:-1])):
      x = torch.cat([_upsample_to(x, skip.shape[2:]), skip], dim=1)
      x = F.relu(norm(conv(x)))
    taps['decoder'] = x
    logits = getattr(self, self.head)(x)
    return _upsample_to(logits, (2 * logits.shape[2], 2 * logits.shape[3])), taps


class PixelDiscriminator(nn.Module):
  """Per-position domain logit on the channel axis: (B, C, H, W) -> (B, H, W)."""

  def __init__(self, channels, hidden, depth):
    super().__init__()
    dims = [channels] + [hidden] * depth + [1]
    for i in range(depth + 1):
      setattr(self, f'Dense_{i}', nn.Linear(dims[i], dims[i + 1]))
    self.depth = depth

  def forward(self, x):
    x = x.permute(0, 2, 3, 1)
    for i in range(self.depth):
      x = F.leaky_relu(getattr(self, f'Dense_{i}')(x), 0.2)
    return getattr(self, f'Dense_{self.depth}')(x)[..., 0]


class GradReverse(torch.autograd.Function):

  @staticmethod
  def forward(ctx, x, scale):
    ctx.scale = scale
    return x.view_as(x)

  @staticmethod
  def backward(ctx, g):
    return -ctx.scale * g, None


def grl_scale(step, total_steps, schedule, max_scale):
  """`vda_jax.adversarial.grl.grl_scale` on the host."""
  if schedule == 'constant':
    return max_scale
  p = min(max(step / total_steps, 0.0), 1.0)
  return max_scale * (2.0 / (1.0 + math.exp(-10.0 * p)) - 1.0)


def lr_factor(step, opt_config, total_steps):
  """optax.warmup_cosine_decay_schedule as in `train.state.make_optimizer`, over lr."""
  warmup = opt_config.warmup_steps
  if step < warmup:
    return step / warmup
  decay = max(total_steps, warmup + 1) - warmup
  p = min((step - warmup) / decay, 1.0)
  end = opt_config.final_lr_fraction
  return end + (1 - end) * 0.5 * (1 + math.cos(math.pi * p))


class TrainStep:
  """`train.step.train_step` for a cnn2d config, in eager PyTorch. Call with a numpy batch."""

  def __init__(self, config, num_classes):
    if config.model.name != 'cnn2d':
      raise ValueError('the PyTorch baseline is the 2D CNN; '
                       f'config.model.name={config.model.name!r}')
    terms = Objective.from_config(config.adversarial, config.train.steps).terms
    other = [type(t).__name__ for t in terms if type(t) is not GlobalDomain or t.conv]
    if other or config.train.video_label_weight:
      raise ValueError('the PyTorch baseline has the supervised and global domain losses only; '
                       f'config.adversarial also asks for {other or "video labels"}')
    m, a = config.model, config.adversarial
    self.model = ConvNet(num_classes, m.width, m.stage_widths, m.blocks_per_stage)
    self.taps = terms[0].taps if terms else {}
    size = config.data.image_size
    with torch.no_grad():
      _, features = self.model(torch.zeros((1, size, size, 3), dtype=torch.uint8))
    unknown = sorted(set(self.taps) - set(features))
    if unknown:
      raise ValueError(f'config.adversarial.taps: {unknown} are not taps of the 2D CNN '
                       f'({sorted(features)})')
    tap_channels = {t: features[t].shape[1] for t in self.taps}
    self.discs = nn.ModuleDict({t: PixelDiscriminator(tap_channels[t], a.disc_hidden, a.disc_depth)
                                for t in sorted(self.taps)})
    o, d = config.optimizer, config.optimizer.disc
    # Two optimizers, as train.state.make_optimizer: the discriminators' own lr and clip.
    self.optimizers = [
        (torch.optim.AdamW(self.model.parameters(), lr=o.lr, betas=(o.b1, o.b2), eps=o.eps,
                           weight_decay=o.weight_decay), o.lr, o.grad_clip),
        (torch.optim.AdamW(self.discs.parameters(), lr=d.lr, betas=(d.b1, d.b2), eps=o.eps,
                           weight_decay=d.weight_decay), d.lr, d.grad_clip)]
    self.config, self.step = config, 0

  def loss(self, batch):
    """(total, supervised) loss of a batch {'image', 'label', 'video'} of numpy arrays."""
    images = torch.from_numpy(np.asarray(batch['image']))
    video = torch.from_numpy(np.asarray(batch['video']))
    labels = torch.from_numpy(np.asarray(batch['label']).astype(np.int64))
    n = images.shape[0]
    logits, taps = self.model(torch.cat([images, video.flatten(0, 1)]))
    sup = F.cross_entropy(logits[:n], labels, ignore_index=VOID)
    a = self.config.adversarial
    lam = grl_scale(self.step, self.config.train.steps, a.lambda_schedule, a.lambda_max)
    total = sup
    for tap, weight in self.taps.items():
      d = self.discs[tap](GradReverse.apply(taps[tap], lam))
      total = total + weight * 0.5 * (F.softplus(d[:n]).mean() + F.softplus(-d[n:]).mean())
    return total, sup

  def __call__(self, batch):
    """One update; returns the total loss (a float, which waits for the step)."""
    factor = lr_factor(self.step, self.config.optimizer, self.config.train.steps)
    total, _ = self.loss(batch)
    for optimizer, _, _ in self.optimizers:
      optimizer.zero_grad(set_to_none=True)
    total.backward()
    for optimizer, lr, clip in self.optimizers:
      for group in optimizer.param_groups:
        group['lr'] = lr * factor
      if clip > 0:
        torch.nn.utils.clip_grad_norm_(optimizer.param_groups[0]['params'], clip)
      optimizer.step()
    self.step += 1
    return float(total.detach())


def flax_to_torch(params):
  """{PyTorch parameter name: array} of a Flax params tree ({'model', 'disc': {'global'}});
  works on gradients as well as on weights."""
  out = {}

  def walk(tree, path):
    for key, value in tree.items():
      if isinstance(value, dict):
        walk(value, path + (key,))
        continue
      module = list(path)
      if module[0] == 'model' and module[1].startswith('stage'):  # blocks live in a ModuleDict
        module.insert(1, 'blocks')
      value = np.asarray(value)
      if key == 'kernel':  # HWIO -> OIHW for convolutions, (in, out) -> (out, in) for Dense
        value = value.transpose(3, 2, 0, 1) if value.ndim == 4 else value.T
      out['.'.join(module + [{'kernel': 'weight', 'scale': 'weight'}.get(key, key)])] = value

  walk(params['model'], ('model',))
  walk(params['disc'].get('global', {}), ('discs',))
  return out


def named_parameters(train_step):
  return {**dict(train_step.model.named_parameters(prefix='model')),
          **dict(train_step.discs.named_parameters(prefix='discs'))}


def load_flax_params(train_step, params):
  """Copies a Flax TrainState's params into `train_step`; every parameter on both sides must
  match."""
  targets, values = named_parameters(train_step), flax_to_torch(params)
  if set(targets) != set(values):
    raise KeyError(f'only in PyTorch: {sorted(set(targets) - set(values))}; '
                   f'only in Flax: {sorted(set(values) - set(targets))}')
  for name, value in values.items():
    if tuple(targets[name].shape) != value.shape:
      raise ValueError(f'{name}: PyTorch shape {tuple(targets[name].shape)}, Flax {value.shape}')
    with torch.no_grad():
      targets[name].copy_(torch.from_numpy(np.array(value, np.float32)))
