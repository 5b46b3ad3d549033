"""Shared plumbing of the builders whose data the user places in a manual dir.

Nothing downloads. A builder config's name carries a digest of the manual
dir's absolute path and the config's parameters, so two data folders (or two
modes of one) become two datasets side by side rather than one stale cache.
TFDS writes into an `incomplete.*` folder and renames it only once every
split is written, so a build that fails on bad input leaves nothing that
looks complete; the next call starts over.
"""
import hashlib
import json
import os

import cv2
import numpy as np
import tensorflow_datasets as tfds

from vda_jax import preemption
from vda_jax.data import media


class ManualConfig(tfds.core.BuilderConfig):
  """A builder config made from `mode` + keyword parameters for one manual dir."""

  def __init__(self, mode, manual_dir='', **params):
    blob = json.dumps({'dir': os.path.abspath(manual_dir) if manual_dir else '', **params},
                      sort_keys=True)
    digest = hashlib.sha1(blob.encode()).hexdigest()[:10]
    super().__init__(name=f'{mode}_{digest}', description=blob)
    self.mode, self.params = mode, params


def write(builder, download_config):
  """Generates `builder`'s splits if they are not on disk yet, polling for a preemption
  notice before each record (preemption.checked; Interrupted after one: TFDS then removes
  its `incomplete.*` folder, so nothing half-written remains)."""
  # TFDS calls the instance's _split_generators; wrapping it here polls every
  # builder's records without each builder knowing about preemption.
  split_generators = builder._split_generators
  builder._split_generators = lambda dl_manager: {
      split: preemption.checked(examples)
      for split, examples in split_generators(dl_manager).items()}
  builder.download_and_prepare(file_format='array_record', download_config=download_config)
  return builder


def prepare(builder_cls, config, manual_dir, data_dir, layout):
  """`builder_cls` for `config`, built from `manual_dir` into `data_dir` if not there yet
  (preemption: see `write`)."""
  if not manual_dir:
    raise media.DataError(f'{builder_cls.name}: no manual dir given; set it to a folder laid '
                          f'out as {layout}')
  if not os.path.isdir(manual_dir):
    raise media.DataError(f'{manual_dir}: manual dir of {builder_cls.name} does not exist; '
                          f'expected a folder laid out as {layout}')
  if not os.listdir(manual_dir):
    raise media.DataError(f'{manual_dir}: manual dir of {builder_cls.name} is empty; '
                          f'expected {layout}')
  if config.name in builder_cls.builder_configs:  # TFDS refuses a twin of a predefined config
    config = config.name
  return write(builder_cls(config=config, data_dir=data_dir),
               tfds.download.DownloadConfig(manual_dir=manual_dir, try_download_gcs=False))


class UnlabeledClips(tfds.core.GeneratorBasedBuilder):
  """What the builders of unlabeled clips (video files, YouTube-VOS frame folders) share:
  records {'frames', 'name', 'start'} of `chunk_len` frames at most `max_size` px. It
  leaves the split generators to them, so TFDS registers only them (it skips abstract
  builders)."""

  VERSION = tfds.core.Version('1.0.0')
  BUILDER_CONFIGS = [ManualConfig('clips', chunk_len=16, max_size=480)]

  def _info(self):
    return tfds.core.DatasetInfo(builder=self, features=tfds.features.FeaturesDict({
        'frames': frames_feature((None, None, None, 3), 'jpeg'),
        'name': tfds.features.Text(),
        'start': np.int64,
    }))


class Image(tfds.features.Image):
  """tfds.features.Image whose PNG encoding of uint8 arrays runs in OpenCV: the same
  pixels (PNG is lossless) at a fifth of the cost of TFDS's TensorFlow graph call per
  image (0.9 against 4.8 ms for a 480x854 mask), which was most of a real dataset's
  build. JPEG and everything else is TFDS's own encoding, so stored frames are unchanged."""

  def encode_example(self, image_or_path_or_fobj):
    image = image_or_path_or_fobj
    # OpenCV's channel order is BGR(A): only grey and RGB are encoded here.
    if (self.encoding_format not in (None, 'png') or not isinstance(image, np.ndarray)
        or image.dtype != np.uint8 or image.shape[-1:] not in ((1,), (3,))):
      return super().encode_example(image)
    if image.ndim != 3 or any(want is not None and want != got
                              for want, got in zip(self.shape, image.shape)):
      raise ValueError(f'image of shape {image.shape}; expected {self.shape}')
    ok, data = cv2.imencode('.png', image[..., ::-1] if image.shape[-1] == 3 else image)
    if not ok:
      raise ValueError(f'OpenCV could not encode an image of shape {image.shape} as PNG')
    return data.tobytes()


def frames_feature(shape, encoding_format='png'):
  """A (T, H, W, C) stack of frames stored one encoded image per frame. Not
  tfds.features.Video, which stores the same but whose constructor imports TensorFlow:
  this way only building a dataset needs TensorFlow, reading it (what training and
  evaluation do, often on accelerator images without TensorFlow) does not."""
  return tfds.features.Sequence(
      Image(shape=shape[1:], encoding_format=encoding_format), length=shape[0])


def labeled_video_features():
  """The features of DAVIS and FBMS records: frames, masks, sequence name, first frame."""
  return tfds.features.FeaturesDict({
      'frames': frames_feature((None, None, None, 3), 'jpeg'),
      'masks': frames_feature((None, None, None, 1)),
      'name': tfds.features.Text(),
      'start': np.int64,
  })


def sequence_records(name, frame_files, masks, chunk_len, max_size):
  """(key, record) of a labeled sequence (frame image files, (T, H, W) masks): one record
  of every frame at full size (chunk_len=0, what evaluation needs), or records of
  `chunk_len` consecutive frames with the longer side at most `max_size` (what training
  needs: a clip sample then decodes a few small frames, not a whole sequence). Frames
  are read one chunk at a time and keep their original JPEG bytes where no resizing is
  needed (media.stored_frame)."""
  if not chunk_len:
    yield name, {'frames': [media.stored_frame(f) for f in frame_files],
                 'masks': masks[..., None], 'name': name, 'start': 0}
    return
  for start, chunk in media.chunks(zip(frame_files, masks), chunk_len):
    yield f'{name}:{start}', {
        'frames': [media.stored_frame(f, max_size) for f, _ in chunk],
        'masks': np.stack([media.fit_longer_side(m, max_size, True) for _, m in chunk])[..., None],
        'name': name, 'start': start}
