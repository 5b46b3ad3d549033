"""The EfficientNet-Lite + FPN source-only train step in PyTorch: the eager twin that
`scripts/benchmark.py --models=efficientnet_lite --torch` times beside the JAX step.

The encoder is the reference network (efficientnet-lite-pytorch) with its BatchNorm layers
in eval mode (frozen statistics, trained scale and bias), the decoder the same FPN as
vda_jax.models.efficientnet (1x1 laterals, top-down sum, 3x3 smoothing, GroupNorm, ReLU,
1x1 classifier, bilinear upsampling); cross-entropy on the labels, AdamW with the network's
gradient clip.
"""
import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from vda_jax.adversarial.objective import Objective
from vda_jax.models import efficientnet


class EfficientNetFPN(nn.Module):
  def __init__(self, variant, num_classes, decoder_dim):
    super().__init__()
    from efficientnet_lite_pytorch import EfficientNet  # pylint: disable=g-import-not-at-top
    self.encoder = EfficientNet.from_name(f'efficientnet-{variant}')
    plan = efficientnet.block_plan(variant)
    self.stage_ends = [i for i, (g, *_) in enumerate(plan)
                       if g in efficientnet.STAGE_OF_GROUP and (i + 1 == len(plan)
                                                              or plan[i + 1][0] != g)]
    widths = [plan[i][-1] for i in self.stage_ends]
    self.lateral = nn.ModuleList(nn.Conv2d(c, decoder_dim, 1) for c in widths)
    self.smooth = nn.Conv2d(decoder_dim, decoder_dim, 3, padding=1)
    self.norm = nn.GroupNorm(8, decoder_dim)
    self.classifier = nn.Conv2d(decoder_dim, num_classes, 1)

  def forward(self, x):
    e = self.encoder
    x = F.relu6(e._bn0(e._conv_stem(x)))  # pylint: disable=protected-access
    stages = []
    for i, block in enumerate(e._blocks):  # pylint: disable=protected-access
      x = block(x)
      if i in self.stage_ends:
        stages.append(x)
    y = self.lateral[3](stages[3])
    for i in (2, 1, 0):
      y = F.interpolate(y, size=stages[i].shape[-2:], mode='bilinear') + self.lateral[i](stages[i])
    y = F.relu(self.norm(self.smooth(y)))
    return F.interpolate(self.classifier(y), scale_factor=4, mode='bilinear')

  def train(self, mode=True):
    super().train(mode)
    for m in self.encoder.modules():  # frozen statistics, as the JAX model's default
      if isinstance(m, nn.BatchNorm2d):
        m.eval()
    return self


class TrainStep:
  """One source-only step on a random batch: forward, loss, backward, AdamW."""

  def __init__(self, config, num_classes):
    if config.model.name != 'efficientnet_lite' or config.model.decoder != 'fpn':
      raise ValueError('the PyTorch twin is EfficientNet-Lite with the FPN decoder; '
                       f'config.model={config.model.name}/{config.model.get("decoder")}')
    if Objective.from_config(config.adversarial, config.train.steps).active:
      raise ValueError('the PyTorch twin is the source-only step: set adversarial.taps=')
    self.model = EfficientNetFPN(config.model.variant, num_classes,
                                 config.model.decoder_dim).train()
    o = config.optimizer
    self.clip = o.grad_clip
    self.opt = torch.optim.AdamW(self.model.parameters(), lr=o.lr, betas=(o.b1, o.b2), eps=o.eps,
                                 weight_decay=o.weight_decay)
    self.mean = torch.tensor(efficientnet.IMAGENET_MEAN).view(1, 3, 1, 1) * 255
    self.std = torch.tensor(efficientnet.IMAGENET_STD).view(1, 3, 1, 1) * 255

  def __call__(self, batch):
    images = torch.from_numpy(np.asarray(batch['image'])).permute(0, 3, 1, 2).float()
    labels = torch.from_numpy(np.asarray(batch['label'], np.int64))
    logits = self.model((images - self.mean) / self.std)
    loss = F.cross_entropy(logits, labels, ignore_index=255)
    self.opt.zero_grad(set_to_none=True)
    loss.backward()
    if self.clip > 0:
      nn.utils.clip_grad_norm_(self.model.parameters(), self.clip)
    self.opt.step()
    return float(loss.detach())
