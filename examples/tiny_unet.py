"""A fork's backbone in one file: a small U-Net, registered as a model name.

`@register_model` makes `config.model.name='tiny_unet'` build it; it marks its features
with `tap`, so every alignment term reaches them by name (stem, stage1, stage2, decoder,
logits). Nothing inside vda_jax/ changes.

  python examples/tiny_unet.py --workdir=runs/tiny_unet [--config.train.steps=2 ...]
  vda-train --config=examples/tiny_unet.py:method=clustered --workdir=runs/tiny_unet_clustered
"""
import sys

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections

from vda_jax import register_model, tap
from vda_jax.configs import embedded


@register_model('tiny_unet')
class TinyUNet(nn.Module):
  """Two stride-2 stages down, one skip connection back up; GroupNorm and ReLU."""
  num_classes: int
  width: int = 16
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, x):
    def conv(features, stride, name):
      def apply(y):
        y = nn.Conv(features, (3, 3), (stride, stride), padding='SAME', dtype=self.dtype,
                    name=name)(y)
        return nn.relu(nn.GroupNorm(num_groups=4, dtype=self.dtype, name=f'{name}_norm')(y))
      return apply

    x = x.astype(self.dtype) / 127.5 - 1.0
    stem = tap(self, 'stem', conv(self.width, 1, 'conv0')(x))
    s1 = tap(self, 'stage1', conv(2 * self.width, 2, 'down1')(stem))
    s2 = tap(self, 'stage2', conv(4 * self.width, 2, 'down2')(s1))
    up = jax.image.resize(s2, s1.shape[:-1] + s2.shape[-1:], 'bilinear')
    y = tap(self, 'decoder', conv(2 * self.width, 1, 'fuse')(jnp.concatenate([up, s1], -1)))
    y = jax.image.resize(y, x.shape[:-1] + y.shape[-1:], 'bilinear')
    logits = nn.Conv(self.num_classes, (1, 1), dtype=self.dtype, name='classifier')(y)
    return tap(self, 'logits', logits.astype(jnp.float32))


def get_config(arg=None):
  """The embedded benchmark (its args: method=, preset=, seed=, ...) with this backbone;
  method=adversarial and clustered align its 'stem' features."""
  config = embedded.get_config(f'{arg},model=cnn2d' if arg else 'model=cnn2d')
  with config.unlocked():
    config.model = ml_collections.ConfigDict(dict(
        name='tiny_unet', width=16, dtype='float32', image_as_clip='repeat', pretrained='',
        init_from=''))
  return config


if __name__ == '__main__':
  from vda_jax.commands import train
  sys.argv.insert(1, f'--config={__file__}')
  train.run()
