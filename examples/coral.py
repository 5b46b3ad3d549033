"""A fork's alignment term in one file: Deep CORAL (Sun & Saenko, ECCV-W 2016).

CORAL matches the second-order statistics of the two domains' features at a
tap: loss = ||Cov(image) - Cov(video)||_F^2 / (4 C^2). No discriminator: the
network minimises it directly. Registering the class makes it a config name;
nothing inside vda_jax/ changes.

  python examples/coral.py --workdir=runs/coral [--config.train.steps=2 ...]
  vda-train --config=examples/coral.py:model=segformer \
      --config.adversarial.terms.coral.taps=patch_embed:0.5 --workdir=runs/coral
"""
import dataclasses
import sys
from typing import ClassVar

import jax.numpy as jnp

from vda_jax import register_term
from vda_jax.configs import embedded


def coral_loss(image_features, video_features):
  """Squared Frobenius distance of the features' covariances, over 4 C^2."""
  def covariance(x):
    x = x.reshape(-1, x.shape[-1]).astype(jnp.float32)
    x = x - jnp.mean(x, axis=0)
    return x.T @ x / max(x.shape[0] - 1, 1)
  c = image_features.shape[-1]
  return jnp.sum(jnp.square(covariance(image_features) - covariance(video_features))) / (4 * c * c)


@register_term('coral')
@dataclasses.dataclass(frozen=True)
class Coral:
  """The term protocol (vda_jax.adversarial.terms): taps {name: weight}."""
  taps: dict
  metric_prefixes: ClassVar = ('coral_loss/', '')

  def model_taps(self):
    return set(self.taps)

  def init(self, next_key, tap_dims, num_classes):
    return {}, {}   # no parameters, no state

  def __call__(self, params, state, inputs):
    total, metrics = 0.0, {}
    for tap, weight in self.taps.items():
      loss = coral_loss(inputs.image_taps[tap], inputs.video_taps[tap])
      total += weight * loss
      metrics[f'coral_loss/{tap}'] = loss
    return total, metrics, {}


def get_config(arg=None):
  """The embedded benchmark (its args: model=, preset=, seed=, ...) trained with CORAL
  at 'stem' instead of a discriminator; --config.adversarial.terms.coral.taps moves it."""
  config = embedded.get_config(f'{arg},method=source_only' if arg else 'method=source_only')
  with config.unlocked():
    config.method = 'coral'
    config.adversarial.terms.coral = {'type': 'coral', 'taps': 'stem:1.0'}
  return config


if __name__ == '__main__':
  from vda_jax.commands import train
  sys.argv.insert(1, f'--config={__file__}')
  train.run()
