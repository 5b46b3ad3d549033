"""PASCAL VOC segmentation (`vda_voc`), from a manual dir (e.g. VOCdevkit/VOC2012).

    <manual_dir>/JPEGImages/<id>.jpg
    <manual_dir>/SegmentationClass/<id>.png       palette PNG: 0..20, 255 = void
    <manual_dir>/ImageSets/Segmentation/<split>.txt   (optional)

Only images with a SegmentationClass mask are used (VOC has many box-only
images). Modes: 'semantic' (the 21 VOC classes) or 'foreground' (any object
class = 1). Void (255) stays void; the loss and every metric ignore it.
Without ImageSets every masked image goes to the split 'full'.
"""
import os

import tensorflow_datasets as tfds

from vda_jax.data import media
from vda_jax.data.builders import manual
from vda_jax.labels import VOID, to_foreground

LAYOUT = 'JPEGImages/<id>.jpg + SegmentationClass/<id>.png'
MODES = ('semantic', 'foreground')
CLASS_NAMES = ('background', 'aeroplane', 'bicycle', 'bird', 'boat', 'bottle', 'bus', 'car',
               'cat', 'chair', 'cow', 'diningtable', 'dog', 'horse', 'motorbike', 'person',
               'pottedplant', 'sheep', 'sofa', 'train', 'tvmonitor')


def _split_ids(root):
  sets = os.path.join(root, 'ImageSets', 'Segmentation')
  if os.path.isdir(sets):
    splits = {}
    for name in sorted(os.listdir(sets)):
      if name.endswith('.txt'):
        with open(os.path.join(sets, name)) as f:
          splits[name[:-4]] = [line.split()[0] for line in f if line.strip()]
    if splits:
      return splits
  masks = media.list_files(os.path.join(root, 'SegmentationClass'), ('.png',),
                           f'VOC SegmentationClass masks ({LAYOUT})')
  return {'full': [os.path.splitext(os.path.basename(m))[0] for m in masks]}


def read_example(root, image_id, mode):
  image = media.read_image(os.path.join(root, 'JPEGImages', image_id + '.jpg'))
  mask_path = os.path.join(root, 'SegmentationClass', image_id + '.png')
  mask = media.read_mask(mask_path)
  media.check_mask(mask_path, mask, image.shape, set(range(len(CLASS_NAMES))) | {VOID},
                   f'the {len(CLASS_NAMES)} VOC classes and 255 void')
  if mode == 'foreground':
    mask = to_foreground(mask)
  return image, mask


class VdaVoc(tfds.core.GeneratorBasedBuilder):
  """PASCAL VOC images with their class segmentation masks."""

  VERSION = tfds.core.Version('1.0.0')
  MANUAL_DOWNLOAD_INSTRUCTIONS = f'Place VOCdevkit/VOC2012 (or 2007) as {LAYOUT}.'
  BUILDER_CONFIGS = [manual.ManualConfig(mode) for mode in MODES]

  def _info(self):
    semantic = self.builder_config.mode == 'semantic'
    names = list(CLASS_NAMES) if semantic else ['background', 'object']
    return tfds.core.DatasetInfo(builder=self, metadata=tfds.core.MetadataDict(class_names=names),
                                 features=tfds.features.FeaturesDict({
        'image': manual.Image(shape=(None, None, 3)),
        'mask': manual.Image(shape=(None, None, 1)),
        'name': tfds.features.Text(),
    }))

  def _split_generators(self, dl_manager):
    root = str(dl_manager.manual_dir)
    return {split: self._generate_examples(root, ids) for split, ids in _split_ids(root).items()}

  def _generate_examples(self, root, ids):
    for image_id in ids:
      image, mask = read_example(root, image_id, self.builder_config.mode)
      yield image_id, {'image': image, 'mask': mask[..., None], 'name': image_id}


def builder(manual_dir, data_dir, mode='semantic'):
  if mode not in MODES:
    raise ValueError(f'VOC mode={mode!r}; expected one of {MODES}')
  return manual.prepare(VdaVoc, manual.ManualConfig(mode, manual_dir), manual_dir, data_dir,
                        LAYOUT)
