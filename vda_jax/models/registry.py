"""Models by name: `build_model(config.model, num_classes)`.

Every model maps uint8 pixels to float32 logits and exposes named taps.
`temporal` models take clips (B, T, H, W, 3) and predict every frame; the
others take images (B, H, W, 3), and clips are fed to them frame by frame.
"""
import functools

import flax.linen as nn
import jax.numpy as jnp
import ml_collections

from vda_jax.models.convnet import ConvNet
from vda_jax.models.segformer import SegFormer

MODELS = {
    'cnn2d': functools.partial(ConvNet, temporal=False),
    'cnn3d': functools.partial(ConvNet, temporal=True),
    'segformer': functools.partial(SegFormer, temporal=False),
    'segformer_st': functools.partial(SegFormer, temporal=True),
}


def build_model(model_config: ml_collections.ConfigDict, num_classes: int) -> nn.Module:
  """The Linen module named `model_config.name`, with the rest as its fields."""
  kwargs = dict(model_config)
  name = kwargs.pop('name')
  kwargs.pop('pretrained', None)  # loaded into the params, not a module field
  kwargs.pop('init_from', None)   # likewise
  kwargs.pop('image_as_clip', None)  # how the step feeds images to temporal models
  if name not in MODELS:
    raise ValueError(f'config.model.name={name!r} is not a model; known: {sorted(MODELS)}')
  if 'dtype' in kwargs:
    kwargs['dtype'] = jnp.dtype(kwargs['dtype'])
  try:
    return MODELS[name](num_classes=num_classes, **kwargs)
  except TypeError as e:
    raise ValueError(f'config.model has a field {name!r} does not take: {e}') from None
