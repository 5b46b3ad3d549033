"""COCO instance annotations as segmentation masks (`vda_coco`), from a manual dir.

    <manual_dir>/annotations/instances_<split>.json + <manual_dir>/<split>/*.jpg  (official)
    <manual_dir>/annotations.json + <manual_dir>/images/*.jpg          (one split 'train')

Modes: 'foreground' (every instance = 1, class-agnostic objects) or 'semantic'
(category -> 1..K in the order of category ids; the names are in
`info.metadata['class_names']`). `max_size` > 0 stores images and masks with the
longer side at most that (training copies: decoding a small image is cheap);
evaluation reads full-size records. `val_count=N` holds out a validation split of the
one-file layout: the N images with the highest image ids form 'val', the rest
'train' (a fixed rule, so every run and every host splits alike). Crowd regions become
void (255) where no instance covers them. Polygons are filled with OpenCV, RLE (uncompressed
lists and compressed strings) decoded here, so pycocotools is not needed.
"""
import json
import os
import re

import cv2
import numpy as np
import tensorflow_datasets as tfds

from vda_jax.data import media
from vda_jax.data.builders import manual
from vda_jax.labels import VOID

LAYOUT = ('annotations/instances_<split>.json + <split>/*.jpg, or annotations.json + '
          'images/*.jpg')
MODES = ('foreground', 'semantic')


def rle_counts(counts):
  """Run lengths of a COCO RLE: a list as is, or the compressed string decoded."""
  if isinstance(counts, list):
    return counts
  out, p, s = [], 0, counts.encode() if isinstance(counts, str) else counts
  while p < len(s):
    x, k, more = 0, 0, True
    while more:
      c = s[p] - 48
      x |= (c & 0x1f) << (5 * k)
      more = bool(c & 0x20)
      p, k = p + 1, k + 1
      if not more and c & 0x10:
        x |= -1 << (5 * k)
    if len(out) > 2:
      x += out[-2]
    out.append(x)
  return out


def rle_mask(rle):
  """Binary (H, W) mask of an RLE {'size': [h, w], 'counts': ...} (column-major runs)."""
  h, w = rle['size']
  values = np.zeros(h * w, np.uint8)
  pos = 0
  for i, n in enumerate(rle_counts(rle['counts'])):
    if i % 2:
      values[pos:pos + n] = 1
    pos += n
  if pos != h * w:
    raise media.DataError(f'RLE covers {pos} pixels, expected {h}x{w}={h * w}')
  return values.reshape(w, h).T


def polygon_mask(polygons, h, w):
  mask = np.zeros((h, w), np.uint8)
  pts = [np.round(np.asarray(p, np.float64).reshape(-1, 2)).astype(np.int32)
         for p in polygons if len(p) >= 6]
  cv2.fillPoly(mask, pts, 1)
  return mask


def annotation_mask(ann, h, w):
  seg = ann['segmentation']
  if isinstance(seg, list):
    return polygon_mask(seg, h, w)
  if isinstance(seg.get('counts'), (list, str)):
    if list(seg['size']) != [h, w]:
      raise media.DataError(f'annotation {ann.get("id")}: RLE size {seg["size"]} differs from '
                            f'its image {h}x{w}')
    return rle_mask(seg)
  raise media.DataError(f'annotation {ann.get("id")}: segmentation is neither polygons nor RLE')


def image_mask(anns, h, w, class_index, mode, source):
  """The label map of one image from its annotations (larger instances painted first)."""
  mask = np.zeros((h, w), np.uint8)
  crowd = np.zeros((h, w), bool)
  for ann in sorted(anns, key=lambda a: -a.get('area', 0)):
    if ann['category_id'] not in class_index:
      raise media.DataError(f'{source}: annotation {ann.get("id")} has category_id '
                            f'{ann["category_id"]}, not among the file\'s categories')
    m = annotation_mask(ann, h, w).astype(bool)
    if ann.get('iscrowd'):
      crowd |= m
    else:
      mask[m] = 1 if mode == 'foreground' else class_index[ann['category_id']]
  mask[crowd & (mask == 0)] = VOID
  return mask


def _splits(root):
  """{split: (annotation json, image folder)}."""
  ann_dir = os.path.join(root, 'annotations')
  found = {}
  if os.path.isdir(ann_dir):
    for name in sorted(os.listdir(ann_dir)):
      m = re.fullmatch(r'instances_([a-z]+?)(\d{4})?\.json', name)
      if m:
        folder = m.group(1) + (m.group(2) or '')  # instances_val2017.json -> val2017/
        found[m.group(1)] = (os.path.join(ann_dir, name), os.path.join(root, folder))
  if not found and os.path.exists(os.path.join(root, 'annotations.json')):
    found['train'] = (os.path.join(root, 'annotations.json'), os.path.join(root, 'images'))
  if not found:
    raise media.DataError(f'{root}: no COCO annotation file; expected {LAYOUT}')
  return found


def load_annotations(path):
  try:
    with open(path) as f:
      data = json.load(f)
  except json.JSONDecodeError as e:
    raise media.DataError(f'{path}: not valid JSON ({e})') from None
  missing = [k for k in ('images', 'annotations', 'categories') if k not in data]
  if missing:
    raise media.DataError(f'{path}: missing the COCO fields {missing}')
  return data


class VdaCoco(tfds.core.GeneratorBasedBuilder):
  """COCO images with foreground or semantic masks made from instance annotations."""

  VERSION = tfds.core.Version('1.0.0')
  MANUAL_DOWNLOAD_INSTRUCTIONS = f'Place COCO as {LAYOUT}.'
  BUILDER_CONFIGS = [manual.ManualConfig(mode) for mode in MODES]

  def _info(self):
    return tfds.core.DatasetInfo(builder=self, metadata=tfds.core.MetadataDict(),
                                 features=tfds.features.FeaturesDict({
        'image': manual.Image(shape=(None, None, 3)),
        'mask': manual.Image(shape=(None, None, 1)),
        'name': tfds.features.Text(),
    }))

  def _split_generators(self, dl_manager):
    out, names = {}, None
    val_count = self.builder_config.params.get('val_count', 0)
    found = _splits(str(dl_manager.manual_dir))
    if val_count and set(found) != {'train'}:
      raise media.DataError(f'{dl_manager.manual_dir}: val_count={val_count} splits the one-file '
                            f'layout (annotations.json + images/), but this folder has the '
                            f'splits {sorted(found)}')
    for split, (ann_path, image_dir) in found.items():
      data = load_annotations(ann_path)
      categories = sorted(data['categories'], key=lambda c: c['id'])
      names = names or ['background'] + [c['name'] for c in categories]
      for part, images in held_out(data['images'], val_count, split).items():
        out[part] = self._generate_examples(data, images, ann_path, image_dir)
    self.info.metadata['class_names'] = (['background', 'object']
                                         if self.builder_config.mode == 'foreground' else names)
    return out

  def _generate_examples(self, data, images, ann_path, image_dir):
    categories = sorted(data['categories'], key=lambda c: c['id'])
    class_index = {c['id']: i + 1 for i, c in enumerate(categories)}
    by_image = {}
    for ann in data['annotations']:
      by_image.setdefault(ann['image_id'], []).append(ann)
    for info in images:
      path = os.path.join(image_dir, info['file_name'])
      image = media.read_image(path)
      if image.shape[:2] != (info['height'], info['width']):
        raise media.DataError(f'{path}: image is {image.shape[1]}x{image.shape[0]} but '
                              f'{ann_path} says {info["width"]}x{info["height"]}')
      mask = image_mask(by_image.get(info['id'], []), *image.shape[:2], class_index,
                        self.builder_config.mode, ann_path)
      max_size = self.builder_config.params.get('max_size', 0)
      yield info['id'], {'image': media.fit_longer_side(image, max_size),
                         'mask': media.fit_longer_side(mask, max_size, True)[..., None],
                         'name': info['file_name']}


def held_out(images, val_count, split='train'):
  """{split: image infos}, or with val_count > 0 {'train': the rest, 'val': the
  `val_count` images with the highest ids} (ids are unique; no file name is read)."""
  if not val_count:
    return {split: images}
  if not 0 < val_count < len(images):
    raise media.DataError(f'val_count={val_count}: expected between 1 and {len(images) - 1} '
                          f'(the annotations list {len(images)} images)')
  ranked = sorted(images, key=lambda info: info['id'])
  return {'train': ranked[:-val_count], 'val': ranked[-val_count:]}


def builder(manual_dir, data_dir, mode='foreground', val_count=0, max_size=0):
  if mode not in MODES:
    raise ValueError(f'COCO mode={mode!r}; expected one of {MODES}')
  # Zeros keep the config (and so the dataset name) of a full-size build without val split.
  params = {k: v for k, v in (('val_count', val_count), ('max_size', max_size)) if v}
  return manual.prepare(VdaCoco, manual.ManualConfig(mode, manual_dir, **params), manual_dir,
                        data_dir, LAYOUT)
