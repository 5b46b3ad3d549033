"""Streaming inference at any resolution: frames in, class maps at input size out.

Inputs are resized to the model's square input, run in fixed-size batches
(padded at the end, so one compiled shape serves every video), and the class
maps are resized back (nearest) to each frame's own size. Videos are cut into
consecutive windows of `clip_len` frames (the last one padded by repeating its
final frame); windows of several videos share batches. Only one batch of
inputs and the current video's pending window are held in memory, so a video
of any length streams through.
"""
from typing import Callable, Iterable, Iterator

import jax
import numpy as np

from vda_jax.data import media


def _global_from_full(batch, sharding):
  """Every process holds the whole batch; each places only its own shards."""
  return jax.make_array_from_callback(batch.shape, sharding, lambda idx: batch[idx])


def batched(predict, params, items, *, batch_size, sharding):
  """Yields (meta, class map) for each (meta, x) of `items`, in order; x share a shape."""
  buf = []

  def run():
    x = np.stack([x for _, x in buf])
    n = len(buf)
    if n < batch_size:
      x = np.concatenate([x, np.zeros((batch_size - n,) + x.shape[1:], x.dtype)])
    pred = np.asarray(jax.device_get(predict(params, _global_from_full(x, sharding))))
    out = [(meta, pred[i]) for i, (meta, _) in enumerate(buf)]
    buf.clear()
    return out

  for item in items:
    buf.append(item)
    if len(buf) == batch_size:
      yield from run()
  if buf:
    yield from run()


def _windows(videos, clip_len, size):
  """(key, frame index, input size) per valid frame of each window, and the window."""
  for key, frames in videos:
    window, meta = [], []
    for t, frame in enumerate(frames):
      window.append(media.resize(frame, (size, size)))
      meta.append((key, t, frame.shape[:2]))
      if len(window) == clip_len:
        yield meta, np.stack(window)
        window, meta = [], []
    if window:
      window += [window[-1]] * (clip_len - len(window))
      yield meta, np.stack(window)


def segment_videos(predict: Callable, params, videos: Iterable, *, size: int, clip_len: int,
                   batch_size: int, sharding: jax.sharding.Sharding) -> Iterator[tuple]:
  """Yields (key, frame index, class map at the frame's size) for `videos`, an
  iterable of (key, iterable of RGB frames). `predict(params, clips)` takes
  (B, clip_len, size, size, 3) uint8 and returns (B, clip_len, size, size)."""
  for meta, pred in batched(predict, params, _windows(videos, clip_len, size),
                            batch_size=batch_size, sharding=sharding):
    for (key, t, shape), p in zip(meta, pred):
      yield key, t, media.resize(p, shape, nearest=True)


def segment_images(predict, params, images, *, size, batch_size, sharding):
  """Yields (key, class map at the image's size) for (key, RGB image) pairs."""
  items = (((key, image.shape[:2]), media.resize(image, (size, size))) for key, image in images)
  for (key, shape), pred in batched(predict, params, items, batch_size=batch_size,
                                    sharding=sharding):
    yield key, media.resize(pred, shape, nearest=True)
