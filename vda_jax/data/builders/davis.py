"""DAVIS in its official folder layout (`vda_davis`), from a manual dir.

    <manual_dir>/JPEGImages/480p/<seq>/00000.jpg ...
    <manual_dir>/Annotations/480p/<seq>/00000.png ...
    <manual_dir>/ImageSets/<2016|2017|480p>/<split>.txt   (optional)

One record per sequence at full resolution, or training chunks
(manual.sequence_records).
Masks are stored as object ids: DAVIS-2016's 0/255 masks become 0/1;
DAVIS-2017's palette masks keep their indices (one per object, 255 = void).
Without ImageSets every sequence goes to the split 'full'; `splits={split: [seq, ...]}`
names the splits' sequences instead (e.g. a labeled val split held out of the
sequences a benchmark scores).
"""
import os

import numpy as np
import tensorflow_datasets as tfds

from vda_jax.data import media
from vda_jax.data.builders import manual

LAYOUT = 'JPEGImages/480p/<seq>/*.jpg + Annotations/480p/<seq>/*.png'
YEARS = ('2016', '2017')


def read_sequence(frame_dir, mask_dir, year):
  """(frame files, object ids (T,H,W)) of one sequence, checked frame by frame."""
  frame_files = media.list_files(frame_dir, media.IMAGE_SUFFIXES, 'DAVIS frames')
  mask_files = media.list_files(mask_dir, ('.png',), 'DAVIS masks')
  if len(frame_files) != len(mask_files):
    raise media.DataError(f'{mask_dir}: {len(mask_files)} masks for the {len(frame_files)} '
                          f'frames in {frame_dir}')
  # 2017 palette indices are object ids: any value is a valid id.
  allowed = {0, 255} if year == '2016' else range(256)
  what = '{0, 255} (DAVIS-2016 binary masks)'
  masks = []
  for f, m in zip(frame_files, mask_files):
    if _stem(f) != _stem(m):
      raise media.DataError(f'{m}: mask does not match frame {os.path.basename(f)}')
    mask = media.read_mask(m)
    media.check_mask(m, mask, media.image_size(f), allowed, what)
    if masks and mask.shape != masks[0].shape:
      raise media.DataError(f'{m}: {mask.shape[1]}x{mask.shape[0]} (WxH), but the sequence '
                            f'began at {masks[0].shape[1]}x{masks[0].shape[0]}')
    masks.append((mask > 0).astype(np.uint8) if year == '2016' else mask)
  return frame_files, np.stack(masks)


def _stem(path):
  return os.path.splitext(os.path.basename(path))[0]


def _split_sequences(root, year):
  """{split: [sequence]} from ImageSets, or {'full': every sequence}."""
  for sub in (year, '480p'):
    folder = os.path.join(root, 'ImageSets', sub)
    if os.path.isdir(folder):
      splits = {}
      for name in sorted(os.listdir(folder)):
        if name.endswith('.txt'):
          with open(os.path.join(folder, name)) as f:
            # 2017 lists sequence names; 2016 lists '/JPEGImages/480p/<seq>/<frame> ...'.
            seqs = [line.split()[0].strip('/').split('/')[-2] if '/' in line else line.strip()
                    for line in f if line.strip()]
          splits[name[:-4]] = list(dict.fromkeys(seqs))
      if splits:
        return splits
  frames = os.path.join(root, 'JPEGImages', '480p')
  if not os.path.isdir(frames):
    raise media.DataError(f'{root}: no JPEGImages/480p folder; expected the DAVIS layout {LAYOUT}')
  seqs = sorted(s for s in os.listdir(frames) if os.path.isdir(os.path.join(frames, s)))
  if not seqs:
    raise media.DataError(f'{frames}: no sequence folders; expected the DAVIS layout {LAYOUT}')
  return {'full': seqs}


def _named_splits(root, splits):
  """`splits` ({split: [sequence]}) after checking that each sequence is in `root` once."""
  frames = os.path.join(root, 'JPEGImages', '480p')
  present = set(os.listdir(frames)) if os.path.isdir(frames) else set()
  named = [seq for seqs in splits.values() for seq in seqs]
  missing = sorted(set(named) - present)
  if missing:
    raise media.DataError(f'{frames}: no sequence folder {missing} (named in the DAVIS splits '
                          f'{sorted(splits)})')
  twice = sorted({seq for seq in named if named.count(seq) > 1})
  if twice:
    raise media.DataError(f'DAVIS splits {dict(splits)}: {twice} named in more than one split')
  return {split: list(seqs) for split, seqs in splits.items()}


class VdaDavis(tfds.core.GeneratorBasedBuilder):
  """DAVIS 2016 (binary) or 2017 (multi-object) video object segmentation."""

  VERSION = tfds.core.Version('1.0.0')
  MANUAL_DOWNLOAD_INSTRUCTIONS = f'Place DAVIS (e.g. DAVIS-2017-trainval-480p) as {LAYOUT}.'
  BUILDER_CONFIGS = [manual.ManualConfig(year, chunk_len=0, max_size=0) for year in YEARS]

  def _info(self):
    return tfds.core.DatasetInfo(builder=self, features=manual.labeled_video_features())

  def _split_generators(self, dl_manager):
    root, year = str(dl_manager.manual_dir), self.builder_config.mode
    chosen = self.builder_config.params.get('splits')
    splits = _named_splits(root, chosen) if chosen else _split_sequences(root, year)
    return {split: self._generate_examples(root, year, seqs) for split, seqs in splits.items()}

  def _generate_examples(self, root, year, seqs):
    p = self.builder_config.params
    for seq in seqs:
      files, masks = read_sequence(os.path.join(root, 'JPEGImages', '480p', seq),
                                   os.path.join(root, 'Annotations', '480p', seq), year)
      yield from manual.sequence_records(seq, files, masks, p['chunk_len'], p['max_size'])


def builder(manual_dir, data_dir, year='2016', chunk_len=0, max_size=0, splits=None):
  """Whole sequences at full size (chunk_len=0), or training chunks (see module doc);
  `splits` {split: [sequence]} replaces ImageSets' splits."""
  if year not in YEARS:
    raise ValueError(f'DAVIS year={year!r}; expected one of {YEARS}')
  # No `splits` keeps the config (and so the dataset name) of a build from ImageSets.
  named = {'splits': {k: list(v) for k, v in sorted(dict(splits).items())}} if splits else {}
  config = manual.ManualConfig(year, manual_dir, chunk_len=chunk_len, max_size=max_size, **named)
  return manual.prepare(VdaDavis, config, manual_dir, data_dir, LAYOUT)
