"""Random train batches in the shapes a config's train step takes."""
import numpy as np

from vda_jax.data import datasets


def random_batch(config, seed=0):
  """{'image', 'label', 'video'}: uint8 pixels, labels over the config's classes."""
  rng = np.random.default_rng(seed)
  s, t = config.data.image_size, config.input.clip_len
  num_classes = len(datasets.class_names(config.data))
  return {'image': rng.integers(0, 256, (config.input.image_batch, s, s, 3), np.uint8),
          'label': rng.integers(0, num_classes, (config.input.image_batch, s, s), np.uint8),
          'video': rng.integers(0, 256, (config.input.video_batch, t, s, s, 3), np.uint8)}
