"""The embedded benchmark as a TFDS dataset (`vda_embedded`), built on first use.

Two builder configs share one scene generator: `images` (labeled source
domain) and `videos` (target domain; `train` masks exist on disk so the
supervised upper bound can use them, but the adaptation pipeline never reads
them). A config's name carries a digest of its generation parameters, so a
changed artifact strength or size builds a new dataset beside the old one
instead of silently reusing it.
"""
import dataclasses
import hashlib
import json
import os

import numpy as np
import tensorflow_datasets as tfds

from vda_jax.data import synthetic
from vda_jax.data.builders import manual

DEFAULT_DATA_DIR = os.path.join('~', '.cache', 'vda_jax', 'tensorflow_datasets')


@dataclasses.dataclass(frozen=True)
class BenchmarkSpec:
  """Everything that determines the generated data."""
  seed: int = 0
  image_size: int = 64
  clip_len: int = 8
  num_images: tuple = (('train', 2000), ('test', 256))
  num_clips: tuple = (('train', 400), ('test', 96))
  artifacts: synthetic.Artifacts = synthetic.Artifacts()
  object_scale: tuple = synthetic.OBJECT_SCALE

  def digest(self):
    blob = json.dumps(dataclasses.asdict(self), sort_keys=True).encode()
    return hashlib.sha1(blob).hexdigest()[:10]


class EmbeddedConfig(tfds.core.BuilderConfig):

  def __init__(self, kind, spec: BenchmarkSpec):
    if kind not in ('images', 'videos'):
      raise ValueError(f"kind must be 'images' or 'videos', got {kind!r}")
    super().__init__(name=f'{kind}_{spec.digest()}',
                     description=json.dumps(dataclasses.asdict(spec)))
    self.kind, self.spec = kind, spec


class VdaEmbedded(tfds.core.GeneratorBasedBuilder):
  """Procedural image->video segmentation benchmark (see synthetic.py)."""

  VERSION = tfds.core.Version('1.0.0')
  BUILDER_CONFIGS = [EmbeddedConfig('images', BenchmarkSpec()),
                     EmbeddedConfig('videos', BenchmarkSpec())]

  def _info(self):
    s, t = self.builder_config.spec.image_size, self.builder_config.spec.clip_len
    if self.builder_config.kind == 'images':
      features = {'image': manual.Image(shape=(s, s, 3)),
                  'mask': manual.Image(shape=(s, s, 1)),
                  'index': np.int64}
    else:
      features = {'frames': manual.frames_feature((t, s, s, 3)),
                  'masks': manual.frames_feature((t, s, s, 1)),
                  'strengths': tfds.features.Tensor(
                      shape=(len(synthetic.ARTIFACTS),), dtype=np.float32),
                  'index': np.int64}
    return tfds.core.DatasetInfo(
        builder=self, features=tfds.features.FeaturesDict(features),
        description=f'{self.builder_config.kind}: {self.builder_config.description}')

  def _split_generators(self, dl_manager):
    spec = self.builder_config.spec
    counts = spec.num_images if self.builder_config.kind == 'images' else spec.num_clips
    return {split: self._generate_examples(split, n) for split, n in counts if n > 0}

  def _generate_examples(self, split, n):
    spec = self.builder_config.spec
    for i in range(n):
      if self.builder_config.kind == 'images':
        ex = synthetic.image_example(split_seed(spec, split), i, spec.image_size,
                                     tuple(spec.object_scale))
        yield i, {'image': ex['image'], 'mask': ex['mask'][..., None], 'index': i}
      else:
        yield i, {**video_record(spec, split, i), 'index': i}


def split_seed(spec, split):
  """Distinct seeds per split keep test scenes out of training."""
  kinds = [name for name, _ in spec.num_images]
  return spec.seed * 1000 + kinds.index(split)


def video_record(spec, split, index, artifacts=None):
  """Clip `index` of `split` as stored; `artifacts` overrides the spec's (same scene)."""
  ex = synthetic.video_example(split_seed(spec, split), index, spec.image_size, spec.clip_len,
                               artifacts or spec.artifacts, object_scale=tuple(spec.object_scale))
  return {'frames': ex['frames'], 'masks': ex['masks'][..., None], 'strengths': ex['strengths']}


def data_dir(path=None):
  return os.path.expanduser(path or os.environ.get('VDA_DATA_DIR') or DEFAULT_DATA_DIR)


def builder(kind, spec: BenchmarkSpec, path=None):
  """The builder for `kind`, generated into the data dir if not there yet (preemption:
  see manual.write)."""
  config = EmbeddedConfig(kind, spec)
  if config.name in VdaEmbedded.builder_configs:  # TFDS refuses a twin of a predefined config
    config = config.name
  # TFDS writes into an `incomplete.*` folder and renames it at the end, so an
  # interrupted build is regenerated rather than read half-written.
  return manual.write(VdaEmbedded(config=config, data_dir=data_dir(path)),
                      tfds.download.DownloadConfig(verify_ssl=False, try_download_gcs=False))
