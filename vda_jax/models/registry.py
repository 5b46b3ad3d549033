"""Models by name: `build_model(config.model)`."""
import jax.numpy as jnp

from vda_jax.models.cnn2d import CNN2D

MODELS = {
    'cnn2d': CNN2D,
}


def build_model(model_config, num_classes):
  """The Linen module named `model_config.name`, with the rest as its fields."""
  kwargs = dict(model_config)
  name = kwargs.pop('name')
  if name not in MODELS:
    raise ValueError(f'config.model.name={name!r} is not a model; known: {sorted(MODELS)}')
  if 'dtype' in kwargs:
    kwargs['dtype'] = jnp.dtype(kwargs['dtype'])
  return MODELS[name](num_classes=num_classes, **kwargs)
