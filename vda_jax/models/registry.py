"""Models by name: `build_model(config.model, num_classes)`; a fork adds its own.

  @register_model('my_unet')          # in the fork's own file; config.model.name='my_unet'
  class MyUNet(nn.Module): ...

Every model maps uint8 pixels to float32 logits and exposes named taps (models.taps).
`temporal` models take clips (B, T, H, W, 3) and predict every frame; the others take
images (B, H, W, 3), and clips are fed to them frame by frame. The config's model fields,
but for `name` and those the run reads itself (`pretrained`, `init_from`,
`image_as_clip`), are the module's constructor arguments.
"""
import functools
from typing import Callable

import flax.linen as nn
import jax.numpy as jnp
import ml_collections

from vda_jax import registration
from vda_jax.models.convnet import ConvNet
from vda_jax.models.efficientnet import EfficientNetLite
from vda_jax.models.segformer import SegFormer

MODELS: dict[str, Callable[..., nn.Module]] = {}
_RUN_FIELDS = ('pretrained', 'init_from', 'image_as_clip')


def register_model(name: str):
  """Decorator: `config.model.name=name` builds the decorated module class (or factory)."""
  def register(builder):
    return registration.register(MODELS, 'model', name, builder)
  return register


register_model('cnn2d')(functools.partial(ConvNet, temporal=False))
register_model('cnn3d')(functools.partial(ConvNet, temporal=True))
register_model('segformer')(functools.partial(SegFormer, temporal=False))
register_model('segformer_st')(functools.partial(SegFormer, temporal=True))
register_model('efficientnet_lite')(EfficientNetLite)


def build_model(model_config: ml_collections.ConfigDict, num_classes: int) -> nn.Module:
  """The Linen module named `model_config.name`, with the rest as its fields."""
  kwargs = {k: v for k, v in dict(model_config).items() if k not in _RUN_FIELDS}
  name = kwargs.pop('name')
  if name not in MODELS:
    raise ValueError(f'config.model.name={name!r} is not a model; known: {sorted(MODELS)}')
  if 'dtype' in kwargs:
    kwargs['dtype'] = jnp.dtype(kwargs['dtype'])
  try:
    return MODELS[name](num_classes=num_classes, **kwargs)
  except TypeError as e:
    raise ValueError(f'config.model has a field the model {name!r} does not take: {e}') from None
