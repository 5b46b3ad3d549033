"""FBMS-59 (Freiburg-Berkeley Motion Segmentation) in its folder layout (`vda_fbms`).

    <manual_dir>/Trainingset/<seq>/<seq>_0001.jpg ...           every frame
    <manual_dir>/Trainingset/<seq>/GroundTruth/<seq>_0001_gt.pgm  a mask every ~20 frames
    <manual_dir>/Testset/...                                      the same

Ground truth is sparse and drawn with one grey level (pgm) or colour (ppm, png)
per object. The task is class-agnostic: any object is 1, background 0, and a
frame without a mask is all VOID (255), so the loss and every metric skip it
(J and F are computed on annotated frames only; set config.eval.skip_first_last
=False, DAVIS's rule of not scoring a sequence's first and last frame does not
apply to FBMS). The background's value is not fixed across FBMS's files: it is
the value that covers most of the image borders over a sequence's masks.
A mask file is matched to the frame of the same name without `_gt`, else to the
frame with the same number. Records are whole sequences, or training chunks
(manual.sequence_records), as for DAVIS.
"""
import collections
import os
import re

import numpy as np
from PIL import Image
import tensorflow_datasets as tfds

from vda_jax import labels
from vda_jax.data import media
from vda_jax.data.builders import manual

LAYOUT = ('Trainingset/<seq>/*.jpg + Trainingset/<seq>/GroundTruth/*.pgm|ppm|png, '
          'and Testset/ alike')
SPLITS = {'Trainingset': 'train', 'Testset': 'test'}
MASK_SUFFIXES = ('.pgm', '.ppm', '.png')


def _number(stem):
  found = re.findall(r'\d+', stem)
  return int(found[-1]) if found else None


def _match(frame_files, mask_files):
  """{frame index: mask file}; an error names a mask that matches no frame."""
  stems = [os.path.splitext(os.path.basename(f))[0] for f in frame_files]
  by_stem = {s: i for i, s in enumerate(stems)}
  by_number = collections.defaultdict(list)
  for i, s in enumerate(stems):
    by_number[_number(s)].append(i)
  out = {}
  for m in mask_files:
    stem = re.sub(r'_gt$', '', os.path.splitext(os.path.basename(m))[0])
    same_number = by_number.get(_number(stem), [])
    index = by_stem.get(stem, same_number[0] if len(same_number) == 1 else None)
    if index is None:
      raise media.DataError(f'{m}: matches no frame of {os.path.dirname(frame_files[0])} '
                            '(expected <frame name>_gt or the number of one frame)')
    if index in out:
      raise media.DataError(f'{m}: a second mask for frame {stems[index]} (first: {out[index]})')
    out[index] = m
  return out


def _read_codes(path):
  """(H, W) int32: one value per grey level or colour."""
  try:
    with Image.open(path) as im:
      if im.mode in ('L', 'P', '1', 'I', 'I;16'):
        return np.asarray(im.convert('L') if im.mode == '1' else im).astype(np.int32)
      rgb = np.asarray(im.convert('RGB')).astype(np.int32)
  except OSError as e:
    raise media.DataError(f'{path}: not a readable mask ({e})') from None
  return (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]


def _background(codes):
  """The value covering most of the borders of a sequence's masks."""
  border = np.concatenate([np.concatenate([c[0], c[-1], c[:, 0], c[:, -1]]) for c in codes])
  values, counts = np.unique(border, return_counts=True)
  return values[np.argmax(counts)]


def read_sequence(folder):
  """(frame files, masks (T,H,W) uint8: 0/1 where annotated, else VOID)."""
  frame_files = media.list_files(folder, media.IMAGE_SUFFIXES, 'FBMS frames')
  gt_dir = os.path.join(folder, 'GroundTruth')
  mask_files = media.list_files(gt_dir, MASK_SUFFIXES, 'FBMS ground-truth masks')
  matched = _match(frame_files, mask_files)
  sizes = [media.image_size(f) for f in frame_files]
  codes = {i: _read_codes(m) for i, m in matched.items()}
  for i, c in codes.items():
    if c.shape != sizes[i]:
      raise media.DataError(f'{matched[i]}: mask is {c.shape[1]}x{c.shape[0]} (WxH) but its '
                            f'frame is {sizes[i][1]}x{sizes[i][0]}')
  if len(set(sizes)) > 1:
    raise media.DataError(f'{folder}: frames of different sizes {sorted(set(sizes))[:3]}')
  background = _background(list(codes.values()))
  masks = np.full((len(frame_files),) + sizes[0], labels.VOID, np.uint8)
  for i, c in codes.items():
    masks[i] = c != background
  return frame_files, masks


class VdaFbms(tfds.core.GeneratorBasedBuilder):
  """FBMS-59 moving-object segmentation: every frame, sparse foreground masks."""

  VERSION = tfds.core.Version('1.0.0')
  MANUAL_DOWNLOAD_INSTRUCTIONS = f'Place FBMS-59 as {LAYOUT}.'
  BUILDER_CONFIGS = [manual.ManualConfig('fbms', chunk_len=0, max_size=0)]

  def _info(self):
    return tfds.core.DatasetInfo(builder=self, features=manual.labeled_video_features())

  def _split_generators(self, dl_manager):
    root = str(dl_manager.manual_dir)
    splits = {}
    for folder, split in SPLITS.items():
      path = os.path.join(root, folder)
      if os.path.isdir(path):
        seqs = sorted(s for s in os.listdir(path) if os.path.isdir(os.path.join(path, s)))
        if not seqs:
          raise media.DataError(f'{path}: no sequence folders; expected {LAYOUT}')
        splits[split] = self._generate_examples(path, seqs)
    if not splits:
      raise media.DataError(f'{root}: neither Trainingset/ nor Testset/; expected {LAYOUT}')
    return splits

  def _generate_examples(self, path, seqs):
    p = self.builder_config.params
    for seq in seqs:
      files, masks = read_sequence(os.path.join(path, seq))
      yield from manual.sequence_records(seq, files, masks, p['chunk_len'], p['max_size'])


def builder(manual_dir, data_dir, chunk_len=0, max_size=0):
  """Whole sequences at full size (chunk_len=0), or training chunks."""
  config = manual.ManualConfig('fbms', manual_dir, chunk_len=chunk_len, max_size=max_size)
  return manual.prepare(VdaFbms, config, manual_dir, data_dir, LAYOUT)
