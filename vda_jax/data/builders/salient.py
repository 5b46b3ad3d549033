"""Salient-object photos with binary masks (`vda_salient`), from a manual dir.

    <manual_dir>/<photos>/<stem>.jpg + <manual_dir>/<masks>/<stem>.png

The layout of DUTS (DUTS-TR-Image, DUTS-TR-Mask), ECSSD (images, ground_truth_mask),
HKU-IS (imgs, gt), DUT-OMRON and PASCAL-S: the photos' folder is the one subfolder whose
name ends in 'image', 'images', 'imgs' or 'img', the masks' the one ending in 'mask',
'masks', 'gt' or 'ground_truth_mask' (any case, separated by '-' or '_' or alone).
Foreground is mask > 127 (the masks are 0/255 with anti-aliased edges).

Splits: with `val_count=N`, 'val' holds the N photos whose stems have the smallest SHA-1
digests and 'train' the rest: a fixed rule that ignores the folder's order and file
dates, so every host splits alike; without it every photo is in 'train'.
Every photo and mask is paired and checked before a record is written: a photo without
its mask (or the reverse), an unreadable file, a size mismatch or an empty folder stops
the build with one line naming the file, and TFDS keeps nothing of it.
"""
import hashlib
import os
import re

import numpy as np
import tensorflow_datasets as tfds

from vda_jax.data import media
from vda_jax.data.builders import manual

LAYOUT = '<photos>/<stem>.jpg + <masks>/<stem>.png (DUTS: DUTS-TR-Image + DUTS-TR-Mask)'
PHOTO_FOLDER = re.compile(r'(^|.*[-_])(image|images|imgs|img)$', re.IGNORECASE)
MASK_FOLDER = re.compile(r'(^|.*[-_])(mask|masks|gt|ground_truth_mask)$', re.IGNORECASE)


def _folder(root, pattern, what):
  found = [n for n in sorted(os.listdir(root))
           if os.path.isdir(os.path.join(root, n)) and pattern.match(n)]
  if len(found) != 1:
    got = f'{len(found)}: {found}' if found else 'none'
    raise media.DataError(f'{root}: expected one folder of {what} ({LAYOUT}), found {got}')
  return os.path.join(root, found[0])


def paired_files(root):
  """[(stem, photo path, mask path)] sorted by stem, every photo with its mask."""
  photos = media.list_files(_folder(root, PHOTO_FOLDER, 'photos'), media.IMAGE_SUFFIXES,
                            'salient-object photos')
  masks = media.list_files(_folder(root, MASK_FOLDER, 'masks'), ('.png',),
                           'salient-object masks')
  by_stem = lambda files: {os.path.splitext(os.path.basename(f))[0]: f for f in files}
  photo_of, mask_of = by_stem(photos), by_stem(masks)
  for stem, photo in photo_of.items():
    if stem not in mask_of:
      raise media.DataError(f'{photo}: no mask {stem}.png in {os.path.dirname(masks[0])}')
  for stem, mask in mask_of.items():
    if stem not in photo_of:
      raise media.DataError(f'{mask}: no photo {stem}.* in {os.path.dirname(photos[0])}')
  return [(stem, photo_of[stem], mask_of[stem]) for stem in sorted(photo_of)]


def split_stems(stems, val_count):
  """{'train': stems, 'val': the val_count stems with the smallest SHA-1 digests}."""
  if not val_count:
    return {'train': list(stems)}
  if not 0 < val_count < len(stems):
    raise media.DataError(f'val_count={val_count}: expected between 1 and {len(stems) - 1} '
                          f'(the folder has {len(stems)} photos)')
  ranked = sorted(stems, key=lambda s: hashlib.sha1(s.encode()).hexdigest())
  val = set(ranked[:val_count])
  return {'train': [s for s in stems if s not in val], 'val': [s for s in stems if s in val]}


def check_sizes(pairs):
  """Reads every file's header: unreadable files and size mismatches, before any record."""
  for _, photo, mask in pairs:
    if media.image_size(photo) != media.image_size(mask):
      (ph, pw), (mh, mw) = media.image_size(photo), media.image_size(mask)
      raise media.DataError(f'{mask}: mask is {mw}x{mh} (WxH) but its photo {photo} is '
                            f'{pw}x{ph}')


def read_example(photo, mask_path, max_size):
  image = media.read_image(photo)
  mask = (media.read_mask(mask_path) > 127).astype(np.uint8)
  return {'image': media.fit_longer_side(image, max_size),
          'mask': media.fit_longer_side(mask, max_size, True)[..., None],
          'name': os.path.basename(photo)}


class VdaSalient(tfds.core.GeneratorBasedBuilder):
  """Salient-object photos with their binary masks."""

  VERSION = tfds.core.Version('1.0.0')
  MANUAL_DOWNLOAD_INSTRUCTIONS = f'Place the photos and masks as {LAYOUT}.'
  BUILDER_CONFIGS = [manual.ManualConfig('foreground')]

  def _info(self):
    return tfds.core.DatasetInfo(
        builder=self, metadata=tfds.core.MetadataDict(class_names=['background', 'object']),
        features=tfds.features.FeaturesDict({
            'image': manual.Image(shape=(None, None, 3)),
            'mask': manual.Image(shape=(None, None, 1)),
            'name': tfds.features.Text(),
        }))

  def _split_generators(self, dl_manager):
    params = self.builder_config.params
    pairs = paired_files(str(dl_manager.manual_dir))
    check_sizes(pairs)
    by_stem = {stem: (photo, mask) for stem, photo, mask in pairs}
    return {split: self._generate_examples([(s, *by_stem[s]) for s in stems],
                                           params.get('max_size', 0))
            for split, stems in split_stems(list(by_stem), params.get('val_count', 0)).items()}

  def _generate_examples(self, pairs, max_size):
    for stem, photo, mask in pairs:
      yield stem, read_example(photo, mask, max_size)


def builder(manual_dir, data_dir, val_count=0, max_size=0):
  # Zeros keep the config (and so the dataset name) of a full-size build without val split.
  params = {k: v for k, v in (('val_count', val_count), ('max_size', max_size)) if v}
  return manual.prepare(VdaSalient, manual.ManualConfig('foreground', manual_dir, **params),
                        manual_dir, data_dir, LAYOUT)
