"""Grain input: labeled image batches + unlabeled video-clip batches, one dict per step.

The two streams are independent infinite MapDatasets (shuffled per epoch,
split between JAX processes batch by batch) zipped together, so one iterator feeds the
train step; being random access, it starts at any step (how a run resumes). A stream
drawn from a
`Mixture` shuffles and repeats each source on its own and then mixes
them by weight. Records of any size are resized to the model's square input
(bilinear/area for pixels, nearest for labels) before batching. Elements stay
uint8 on the host; normalisation happens on the accelerator.
"""
import dataclasses

from absl import flags
import grain
import numpy as np

from vda_jax.data import media
from vda_jax.labels import VOID


@dataclasses.dataclass(frozen=True)
class Mixture:
  """Sources one training stream draws from, in proportion to `weights`."""
  sources: tuple
  weights: tuple


@dataclasses.dataclass(frozen=True)
class Shard:
  """This process's slice of every stream: its batches index, index + count, ..."""
  index: int = 0
  count: int = 1


def stack_frames(frames):
  """A record's frames or masks as one array (TFDS sequences may arrive as lists)."""
  return np.stack(frames) if isinstance(frames, (list, tuple)) else np.asarray(frames)


def _translate(rng, arrays, max_shift):
  """Same random shift for every array, wrapping around (np.roll: what leaves one
  edge comes back at the other); axes -3, -2 are H, W."""
  if max_shift <= 0:
    return arrays
  dy, dx = rng.integers(-max_shift, max_shift + 1, 2)
  return [np.roll(a, (dy, dx), axis=(-3, -2)) if a.ndim >= 3 else a for a in arrays]


def _scale_crop(rng, arrays, scale, pad_values):
  """One random window of every array, its sides a fraction s ~ U(scale) of the
  record's (H, W at axes -3, -2): s < 1 zooms in once resized to the model's input,
  s > 1 zooms out, padding with `pad_values` (one per array: black pixels, void labels)."""
  lo, hi = scale
  if lo == hi == 1.0:
    return arrays
  s = rng.uniform(lo, hi)
  h, w = arrays[0].shape[-3:-1]
  ch, cw = max(1, round(s * h)), max(1, round(s * w))
  y, x = int(rng.integers(0, abs(h - ch) + 1)), int(rng.integers(0, abs(w - cw) + 1))
  out = []
  for a, value in zip(arrays, pad_values):
    if s <= 1:
      out.append(a[..., y:y + ch, x:x + cw, :])
    else:
      canvas = np.full(a.shape[:-3] + (ch, cw, a.shape[-1]), value, a.dtype)
      canvas[..., y:y + h, x:x + w, :] = a
      out.append(canvas)
  return out


def _colour_jitter(rng, pixels, strength):
  """Brightness, contrast and saturation each scaled by a factor ~ U(1 - strength,
  1 + strength), one draw for the whole array (all frames of a clip alike)."""
  if strength <= 0:
    return pixels
  b, c, sat = rng.uniform(1 - strength, 1 + strength, 3)
  x = pixels.astype(np.float32) * b
  x = (x - x.mean()) * c + x.mean()
  grey = x.mean(-1, keepdims=True)
  x = grey + (x - grey) * sat
  return np.clip(np.round(x), 0, 255).astype(np.uint8)


def _flip(rng, arrays):
  if rng.uniform() < 0.5:
    return [np.flip(a, axis=-2) for a in arrays]
  return arrays


def _fit(frames, size, nearest=False):
  """(..., H, W, C) -> (..., size, size, C), frame by frame."""
  frames = np.asarray(frames)
  if size is None or frames.shape[-3:-1] == (size, size):
    return frames
  flat = frames.reshape((-1,) + frames.shape[-3:])
  out = np.stack([media.resize(f, (size, size), nearest).reshape(size, size, -1) for f in flat])
  return out.reshape(frames.shape[:-3] + out.shape[1:])


@dataclasses.dataclass(frozen=True)
class Augmentation:
  """Random augmentation of training images and clips (a clip's frames alike):
  a window of random scale (`scale`: range of its sides' fraction of the record's),
  then, at the model's size, a shift of up to `shift` px with a horizontal flip, then
  colour jitter of `colour` strength. The defaults change nothing."""
  shift: int = 0
  scale: tuple = (1.0, 1.0)
  colour: float = 0.0


def _augmented(rng, arrays, augment, size, nearest):
  """`arrays` (pixels first, then labels) scale-cropped, resized to size x size, shifted and
  flipped alike, the pixels colour-jittered."""
  arrays = _scale_crop(rng, arrays, augment.scale, [0] + [VOID] * (len(arrays) - 1))
  arrays = [_fit(a, size, n) for a, n in zip(arrays, nearest)]
  if augment.shift:
    arrays = _flip(rng, _translate(rng, arrays, augment.shift))
  return [_colour_jitter(rng, arrays[0], augment.colour)] + arrays[1:]


def _image_element(record, rng, augment, size=None):
  image, label = _augmented(rng, [record['image'], record['mask'][..., :1]], augment, size,
                            (False, True))
  return {'image': np.ascontiguousarray(image),
          'label': np.ascontiguousarray(label[..., 0])}


def _clip_element(record, rng, clip_len, augment, with_masks, size=None):
  frames = stack_frames(record['frames'])
  if clip_len > frames.shape[0]:
    name = f" {record['name']!r}" if 'name' in record else ''
    raise ValueError(f'clip_len={clip_len} is longer than the stored clip{name} '
                     f'({frames.shape[0]} frames)')
  start = int(rng.integers(0, frames.shape[0] - clip_len + 1))
  arrays = [frames[start:start + clip_len]]
  if with_masks:  # only the supervised upper bound ever asks for these
    if 'masks' not in record:
      raise ValueError('the video source has no masks; the supervised upper bound '
                       '(config.train.video_label_weight > 0) needs labeled videos')
    arrays.append(stack_frames(record['masks'])[start:start + clip_len])
  arrays = _augmented(rng, arrays, augment, size, (False, True))
  out = {'video': np.ascontiguousarray(arrays[0])}
  if with_masks:
    out['video_label'] = np.ascontiguousarray(arrays[1][..., 0])
  return out


def _stream(source, transform, *, batch_size, seed, shard):
  """Shuffled, repeated, transformed and batched; a Mixture's parts mixed by weight.

  Every process builds the same global stream (shuffle, augmentation seeds and
  mixing depend only on the seed and the global position) cut into batches of
  the per-process size, and keeps batches index, index + count, ...: the
  concatenation of the processes' b-th batches, in process order, is the b-th
  global batch of a 1-process run, so the process count never changes the
  data. Each process reads only the records of its own batches.
  """
  parts = (list(zip(source.sources, source.weights)) if isinstance(source, Mixture)
           else [(source, 1.0)])
  streams = []
  for i, (part, _) in enumerate(parts):
    if len(part) == 0:
      raise ValueError(f'{part!r} has no records')
    ds = grain.MapDataset.source(part)
    streams.append(ds.seed(seed + 1000 * i).shuffle().repeat().random_map(transform))
  ds = streams[0] if len(streams) == 1 else grain.MapDataset.mix(
      streams, [w for _, w in parts])
  return ds.batch(batch_size, drop_remainder=True)[shard.index::shard.count]


def train_dataset(image_source, video_source, *, image_batch: int, video_batch: int,
                  clip_len: int, seed: int, shard: Shard = Shard(),
                  augment: Augmentation = Augmentation(shift=4),
                  video_labels: bool = False, size: int | None = None) -> grain.MapDataset:
  """Infinite MapDataset of {'image','label','video'[, 'video_label']} batches.

  `image_batch`/`video_batch` are per-process batch sizes; `augment` applies to both
  streams. Sources may be `Mixture`s. `size` resizes records of another size
  to size x size (None: records must already share one size).
  """
  images = _stream(image_source, lambda r, rng: _image_element(r, rng, augment, size),
                   batch_size=image_batch, seed=seed, shard=shard)
  clips = _stream(video_source,
                  lambda r, rng: _clip_element(r, rng, clip_len, augment, video_labels, size),
                  batch_size=video_batch, seed=seed + 1, shard=shard)
  # Infinite streams still report a (huge) length, and it depends on the batch
  # size; zipping needs equal lengths, so cut both to the shorter one.
  n = min(len(images), len(clips))
  zipped = grain.experimental.ZipMapDataset([images[:n], clips[:n]])
  return zipped.map(lambda pair: {**pair[0], **pair[1]})


def train_iterator(dataset, *, num_workers=0, prefetch=2, start=0):
  """An iterator from batch `start` on (random access: no batch before it is read);
  workers decode in parallel, or, without workers, `prefetch` threads decode the next
  `prefetch` batches. Nothing further ahead is read: Grain's default read-ahead (500
  elements on 16 threads) would decode hundreds of batches past a run's last step."""
  threads = prefetch if num_workers == 0 else 0  # workers read ahead themselves
  ds = dataset[start:].to_iter_dataset(
      grain.ReadOptions(num_threads=threads, prefetch_buffer_size=threads))
  if num_workers > 0:
    # Grain workers read absl flags; outside absl.app nobody parsed them.
    if not flags.FLAGS.is_parsed():
      flags.FLAGS.mark_as_parsed()
    ds = ds.mp_prefetch(grain.MultiprocessingOptions(
        num_workers=num_workers, per_worker_buffer_size=prefetch))
  return iter(ds)
