"""Datasets by name: `load_sources(config.data)` -> the four split sources.

Every entry returns random-access sources for 'images/train', 'images/test',
'videos/train' and 'videos/test' that the Grain pipeline reads.
"""
import jax
from jax.experimental import multihost_utils

from vda_jax.data import synthetic
from vda_jax.data.builders import embedded


def embedded_spec(data_config):
  d = data_config
  return embedded.BenchmarkSpec(
      seed=d.seed, image_size=d.image_size, clip_len=d.stored_clip_len,
      num_images=(('train', d.num_train_images), ('test', d.num_test_images)),
      num_clips=(('train', d.num_train_clips), ('test', d.num_test_clips)),
      artifacts=synthetic.Artifacts(**d.artifacts))


def _embedded_sources(data_config):
  spec = embedded_spec(data_config)
  path = data_config.data_dir or None

  def build():
    return {kind: embedded.builder(kind, spec, path) for kind in ('images', 'videos')}

  # One writer: process 0 generates, the others wait for it and then read.
  if jax.process_count() > 1:
    builders = build() if jax.process_index() == 0 else None
    multihost_utils.sync_global_devices('vda_embedded built')
    builders = builders or build()
  else:
    builders = build()
  return {f'{kind}/{split}': b.as_data_source(split)
          for kind, b in builders.items() for split in ('train', 'test')}


DATASETS = {
    'embedded': _embedded_sources,
}


def load_sources(data_config):
  if data_config.name not in DATASETS:
    raise ValueError(f'config.data.name={data_config.name!r} is not a dataset; '
                     f'known: {sorted(DATASETS)}')
  return DATASETS[data_config.name](data_config)
