"""Segments a video file or a folder of frames with a trained run (streaming).

`segment_with_run(run_dir, input, output)` writes OUTPUT/masks/<frame>.png (DAVIS
palette PNGs at the input's resolution: 0 = background, k = class k),
OUTPUT/overlay.mp4 (or .gif, or .png: a sheet of 8 frames spread over the video)
and, with ground truth, OUTPUT/scores.json (per-frame J and F, and 'J-foreground',
'F-...', 'J&F-foreground' (mean, recall, decay) under the DAVIS-2016 protocol:
masks binarised (value > 0, so several objects count as one), first and last
frame not scored). Frames stream through in batches, so memory does not grow
with the video's length. Everything is written to OUTPUT.incomplete and renamed
to OUTPUT only when it all succeeded; an existing OUTPUT is never touched.
The program: vda-segment (vda_jax.commands.segment).
"""
import collections
import json
import os
import shutil

import cv2
import numpy as np
from PIL import Image
import tqdm

from vda_jax.data import media
from vda_jax.eval import inference, metrics
from vda_jax.train import checkpoint
from vda_jax.train import sharding as shd
from vda_jax.train.experiment import Experiment

OVERLAYS = ('mp4', 'gif', 'png', 'none')
SHEET = (2, 4)  # 'png': rows x columns of frames spread evenly over the video
GIF_MAX_SIDE = 320  # GIF frames are kept in memory until the end; keep them small


class _Overlay:
  """Frames with the mask blended in, to an mp4 (streamed), a GIF, or a PNG sheet of
  SHEET frames spread evenly over the video's `total` frames (as its header counts them)."""

  def __init__(self, path, kind, fps, total=None):
    self.path, self.kind, self.fps = path, kind, fps
    self.writer, self.gif, self.sheet, self.seen = None, [], [], 0
    n = SHEET[0] * SHEET[1]
    self.picks = set(np.linspace(0, (total or n) - 1, n).round().astype(int).tolist())

  def add(self, frame, mask):
    blend = media.overlay(frame, mask)
    self.seen += 1
    if self.kind == 'png':
      if self.seen - 1 in self.picks:
        self.sheet.append(_small(blend))
      return
    if self.kind == 'mp4':
      if self.writer is None:
        h, w = blend.shape[:2]
        self.writer = cv2.VideoWriter(self.path, cv2.VideoWriter_fourcc(*'mp4v'), self.fps, (w, h))
      self.writer.write(cv2.cvtColor(blend, cv2.COLOR_RGB2BGR))
    elif self.kind == 'gif':
      self.gif.append(Image.fromarray(_small(blend)))

  def close(self):
    if self.writer is not None:
      self.writer.release()
    if self.sheet:
      rows, cols = SHEET
      tiles = self.sheet + [np.zeros_like(self.sheet[0])] * (rows * cols - len(self.sheet))
      Image.fromarray(np.concatenate([np.concatenate(tiles[r * cols:(r + 1) * cols], 1)
                                      for r in range(rows)])).save(self.path)
    if self.gif:
      self.gif[0].save(self.path, save_all=True, append_images=self.gif[1:],
                       duration=round(1000 / self.fps), loop=0)


def _small(frame):
  """The frame with its longer side at most GIF_MAX_SIDE (GIF frames and sheet tiles)."""
  return media.fit_longer_side(frame, GIF_MAX_SIDE)


def _fps(path):
  if os.path.isdir(path):
    return 24.0
  capture = cv2.VideoCapture(path)
  fps = capture.get(cv2.CAP_PROP_FPS)
  capture.release()
  return fps if fps and fps > 0 else 24.0


def _frame_count(path):
  if os.path.isdir(path):
    return len(media.list_files(path, media.IMAGE_SUFFIXES, 'frame images'))
  capture = cv2.VideoCapture(path)
  n = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
  capture.release()
  return n or None


def _check_paths(input_path, output, ground_truth):
  if not os.path.exists(input_path):
    raise media.DataError(f'--input={input_path}: no such file or folder')
  if os.path.exists(output) and (not os.path.isdir(output) or os.listdir(output)):
    raise FileExistsError(f'--output={output} already exists; choose a new folder '
                          '(segment never overwrites results)')
  if ground_truth is not None:
    return media.list_files(ground_truth, ('.png',), 'ground-truth masks (PNG)')
  return None


def segment(predict, params, input_path, output, *, size, clip_len, batch_size, sharding,
            ground_truth=None, overlay='mp4', progress=True, skip_first_last=True):
  """Segments `input_path` into `output`; returns the scores dict (empty without ground truth)."""
  if overlay not in OVERLAYS:
    raise ValueError(f'overlay={overlay!r}; expected one of {OVERLAYS}')
  gt_files = _check_paths(input_path, output, ground_truth)
  names = media.frame_names(input_path)
  total = _frame_count(input_path)
  tmp = output.rstrip('/') + '.incomplete'
  shutil.rmtree(tmp, ignore_errors=True)  # what a crashed earlier attempt left
  os.makedirs(os.path.join(tmp, 'masks'))
  try:
    shown = _Overlay(os.path.join(tmp, f'overlay.{overlay}'), overlay, _fps(input_path), total)
    pending = collections.deque()  # originals of the frames in flight (one batch of windows)

    def tracked(frames):
      for frame in frames:
        pending.append(frame)
        yield frame

    per_frame = {'J': [], 'F': []}
    count = 0
    stream = inference.segment_videos(predict, params, [(0, tracked(media.frames(input_path)))],
                                      size=size, clip_len=clip_len, batch_size=batch_size,
                                      sharding=sharding)
    for _, t, mask in tqdm.tqdm(stream, total=total, desc='segment', unit='frame',
                                disable=not progress):
      frame = pending.popleft()
      name = names[t] if names else f'{t:05d}'
      media.write_mask(os.path.join(tmp, 'masks', name + '.png'), mask)
      shown.add(frame, mask)
      if gt_files is not None:
        if t >= len(gt_files):
          raise media.DataError(f'{ground_truth}: {len(gt_files)} ground-truth masks, but '
                                f'{input_path} has more frames')
        truth = media.read_mask(gt_files[t])
        media.check_mask(gt_files[t], truth, frame.shape, allowed=range(256), what='')
        per_frame['J'].append(metrics.region_j(mask, truth))
        per_frame['F'].append(metrics.boundary_f(mask, truth))
      count = t + 1
    shown.close()
    scores = {}
    if gt_files is not None:
      if count != len(gt_files):
        raise media.DataError(f'{ground_truth}: {len(gt_files)} ground-truth masks for the '
                              f'{count} frames of {input_path}')
      scored = {k: [metrics.davis_scored(v, skip_first_last)] for k, v in per_frame.items()}
      # Binarised masks: every object is one (DAVIS-2016's protocol), named as in training.
      scores = {**{f'{k}-foreground': v for k, v in metrics.davis_scores(scored).items()},
                'frames': count,
                'per_frame': {'names': [names[t] if names else f'{t:05d}' for t in range(count)],
                              **per_frame}}
      with open(os.path.join(tmp, 'scores.json'), 'w') as f:
        json.dump(scores, f, indent=1)
    if os.path.isdir(output):  # an empty folder the user made for us
      os.rmdir(output)
    os.replace(tmp, output)
  except BaseException:
    shutil.rmtree(tmp, ignore_errors=True)
    raise
  return scores


def segment_with_run(run_dir, input_path, output, *, step=None, **kwargs):
  """`segment` with the model and weights of the run in `run_dir` (its workdir)."""
  config = checkpoint.load_config(run_dir)
  exp = Experiment.from_config(config)
  state = exp.restore(run_dir, step)
  return segment(exp.predict, state.params['model'], input_path, output,
                 size=config.data.image_size, clip_len=config.input.clip_len,
                 batch_size=config.eval.clip_batch, sharding=shd.batch_sharding(exp.mesh),
                 **kwargs)
