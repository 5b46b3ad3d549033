"""Grain input: labeled image batches + unlabeled video-clip batches, one dict per step.

The two streams are independent infinite MapDatasets (shuffled per epoch,
sharded per JAX process) zipped together, so one iterator -- and one
checkpointable iterator state -- feeds the train step. Elements stay uint8 on
the host; normalisation happens on the accelerator.
"""
import dataclasses

from absl import flags
import grain
import numpy as np


@dataclasses.dataclass(frozen=True)
class Shard:
  """This process's slice of every dataset: records index, index+count, ..."""
  index: int = 0
  count: int = 1


def _stack(frames):
  return np.stack(frames) if isinstance(frames, (list, tuple)) else np.asarray(frames)


def _translate(rng, arrays, max_shift):
  """Same random shift (reflect-padded) for every array; axes -3, -2 are H, W."""
  if max_shift <= 0:
    return arrays
  dy, dx = rng.integers(-max_shift, max_shift + 1, 2)
  return [np.roll(a, (dy, dx), axis=(-3, -2)) if a.ndim >= 3 else a for a in arrays]


def _flip(rng, arrays):
  if rng.uniform() < 0.5:
    return [np.flip(a, axis=-2) for a in arrays]
  return arrays


def _image_element(record, rng, augment):
  image, label = record['image'], record['mask'][..., :1]
  if augment:
    image, label = _flip(rng, _translate(rng, [image, label], augment))
  return {'image': np.ascontiguousarray(image),
          'label': np.ascontiguousarray(label[..., 0])}


def _clip_element(record, rng, clip_len, augment, with_masks):
  frames = _stack(record['frames'])
  if clip_len > frames.shape[0]:
    raise ValueError(f'clip_len={clip_len} is longer than the stored clips '
                     f'({frames.shape[0]} frames)')
  start = int(rng.integers(0, frames.shape[0] - clip_len + 1))
  arrays = [frames[start:start + clip_len]]
  if with_masks:  # only the supervised upper bound ever asks for these
    arrays.append(_stack(record['masks'])[start:start + clip_len])
  if augment:
    arrays = _flip(rng, _translate(rng, arrays, augment))
  out = {'video': np.ascontiguousarray(arrays[0])}
  if with_masks:
    out['video_label'] = np.ascontiguousarray(arrays[1][..., 0])
  return out


def _stream(source, transform, *, batch_size, seed, shard):
  ds = grain.MapDataset.source(source)[shard.index::shard.count]
  if len(ds) == 0:
    raise ValueError(f'process {shard.index} of {shard.count} got no records '
                     f'from a source of {len(source)}')
  return (ds.seed(seed).shuffle().repeat()
          .random_map(transform).batch(batch_size, drop_remainder=True))


def train_dataset(image_source, video_source, *, image_batch, video_batch,
                  clip_len, seed, shard=Shard(), augment=4, video_labels=False):
  """Infinite MapDataset of {'image','label','video'[, 'video_label']} batches.

  `image_batch`/`video_batch` are per-process batch sizes. `augment` is the
  maximum random shift in pixels (0 = no augmentation); flips come with it.
  """
  images = _stream(image_source, lambda r, rng: _image_element(r, rng, augment),
                   batch_size=image_batch, seed=seed, shard=shard)
  clips = _stream(video_source,
                  lambda r, rng: _clip_element(r, rng, clip_len, augment, video_labels),
                  batch_size=video_batch, seed=seed + 1, shard=shard)
  # Infinite streams still report a (huge) length, and it depends on the batch
  # size; zipping needs equal lengths, so cut both to the shorter one.
  n = min(len(images), len(clips))
  zipped = grain.experimental.ZipMapDataset([images[:n], clips[:n]])
  return zipped.map(lambda pair: {**pair[0], **pair[1]})


def train_iterator(dataset, *, num_workers=0, prefetch=2):
  """A checkpointable iterator; workers decode in parallel, threads prefetch."""
  ds = dataset.to_iter_dataset()
  if num_workers > 0:
    if not flags.FLAGS.is_parsed():  # Grain workers read absl flags; outside absl.app nobody parsed them
      flags.FLAGS.mark_as_parsed()
    ds = ds.mp_prefetch(grain.MultiprocessingOptions(
        num_workers=num_workers, per_worker_buffer_size=prefetch))
  elif prefetch > 0:
    ds = grain.experimental.ThreadPrefetchIterDataset(ds, prefetch_buffer_size=prefetch)
  return iter(ds)


def eval_batches(source, kind, batch_size):
  """The whole split in order, as full batches padded at the end.

  Yields (batch, num_valid). Padded labels are 255 (ignored by every metric).
  """
  for start in range(0, len(source), batch_size):
    records = [source[i] for i in range(start, min(start + batch_size, len(source)))]
    if kind == 'images':
      x = np.stack([r['image'] for r in records])
      y = np.stack([r['mask'][..., 0] for r in records])
    else:
      x = np.stack([_stack(r['frames']) for r in records])
      y = np.stack([_stack(r['masks'])[..., 0] for r in records])
    n = len(records)
    if n < batch_size:
      x = np.concatenate([x, np.zeros((batch_size - n,) + x.shape[1:], x.dtype)])
      y = np.concatenate([y, np.full((batch_size - n,) + y.shape[1:], 255, y.dtype)])
    yield {'image': x, 'label': y}, n
