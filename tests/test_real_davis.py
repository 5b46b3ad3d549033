"""Salient photos -> DAVIS (configs/real_davis.py): the salient-object builder, its
bad-input errors, the recipe's fixed splits, and a short run on real photos and frames."""
import hashlib
import os

import cv2
import jax
import numpy as np
import pytest

from conftest import ROOT, SHARED_DATA
from vda_jax import selection
from vda_jax.config_arg import load_config_module
from vda_jax.data import datasets
from vda_jax.data.builders import salient
from vda_jax.data.media import DataError
from vda_jax.train import loop

REAL_MINI = SHARED_DATA / 'real-mini'
CONFIG = str(ROOT / 'configs' / 'real_davis.py')
needs_real_mini = pytest.mark.skipif(not REAL_MINI.exists(),
                                     reason=f'needs the real-mini folder at {REAL_MINI}')


def salient_folder(root, stems, size=(12, 16), photos='DUTS-TR-Image', masks='DUTS-TR-Mask'):
  """Photos and masks whose mask grey values step 0, 100, 128, 200 across the columns."""
  (root / photos).mkdir(parents=True)
  (root / masks).mkdir(parents=True)
  h, w = size
  for i, stem in enumerate(stems):
    photo = np.full((h, w, 3), 10 * i, np.uint8)
    mask = np.repeat(np.array([0, 100, 128, 200], np.uint8), w // 4)[None].repeat(h, 0)
    cv2.imwrite(str(root / photos / f'{stem}.jpg'), photo)
    cv2.imwrite(str(root / masks / f'{stem}.png'), mask)
  return root


def built_names(builder, split):
  source = builder.as_data_source(split)
  return sorted(source[i]['name'].decode() for i in range(len(source)))


def test_a_salient_folder_builds_with_the_hash_rule_split_and_mask_above_127(tmp_path):
  stems = [f'photo{i}' for i in range(7)]
  root = salient_folder(tmp_path / 'ECSSD', stems, photos='images', masks='ground_truth_mask')
  built = salient.builder(str(root), str(tmp_path / 'tfds'), val_count=2)
  by_digest = sorted(stems, key=lambda s: hashlib.sha1(s.encode()).hexdigest())
  assert built_names(built, 'val') == sorted(f'{s}.jpg' for s in by_digest[:2])
  assert built_names(built, 'train') == sorted(f'{s}.jpg' for s in by_digest[2:])
  record = built.as_data_source('train')[0]
  assert record['image'].shape == (12, 16, 3)
  # Grey 0, 100, 128, 200 in four column bands: foreground is > 127.
  np.testing.assert_array_equal(record['mask'][0, :, 0], np.repeat([0, 0, 1, 1], 4))


@pytest.mark.parametrize('defect,named', [
    ('no mask', 'photo2.jpg'), ('no photo', 'extra.png'), ('size', 'photo1.png'),
    ('unreadable', 'photo3.jpg'), ('empty', 'DUTS-TR-Image'), ('two photo folders', 'found 2'),
])
def test_bad_input_stops_the_build_with_one_line_naming_the_file(tmp_path, defect, named):
  root = salient_folder(tmp_path / 'DUTS-TR', [f'photo{i}' for i in range(5)])
  if defect == 'no mask':
    os.remove(root / 'DUTS-TR-Mask' / 'photo2.png')
  elif defect == 'no photo':
    cv2.imwrite(str(root / 'DUTS-TR-Mask' / 'extra.png'), np.zeros((12, 16), np.uint8))
  elif defect == 'size':
    cv2.imwrite(str(root / 'DUTS-TR-Mask' / 'photo1.png'), np.zeros((12, 15), np.uint8))
  elif defect == 'unreadable':
    (root / 'DUTS-TR-Image' / 'photo3.jpg').write_bytes(b'not a jpeg')
  elif defect == 'empty':
    for f in (root / 'DUTS-TR-Image').iterdir():
      f.unlink()
  else:
    (root / 'more_images').mkdir()
  with pytest.raises(DataError) as error:
    salient.builder(str(root), str(tmp_path / 'tfds'), val_count=1)
  message = str(error.value)
  assert '\n' not in message and named in message, message
  # Nothing that looks like a finished dataset is left behind.
  assert not list((tmp_path / 'tfds').rglob('dataset_info.json'))


def test_the_splits_are_fixed_disjoint_and_only_the_upper_bound_reads_video_masks():
  module = load_config_module(CONFIG)
  train, val, test = (set(s) for s in (module.TRAIN_SEQUENCES, module.VAL_SEQUENCES,
                                       module.TEST_SEQUENCES))
  assert (len(train), len(val), len(test)) == (30, 2, 10)
  assert not (train & val or train & test or val & test)
  for method in module.METHODS:
    c = module.get_config(f'method={method},root={REAL_MINI}')
    assert c.data.davis_splits.to_dict() == {'train': module.TRAIN_SEQUENCES,
                                             'val': module.VAL_SEQUENCES,
                                             'test': module.TEST_SEQUENCES}
    assert (c.data.train_videos, c.data.val_videos, c.data.test_videos) == (
        'davis/train', 'davis/val', 'davis/test')
    assert (c.eval.split, c.eval.final_split) == ('val', 'test')
    assert (c.train.video_label_weight > 0) == (method == 'upper_bound')
    assert c.model.pretrained == 'efficientnet_lite0'
  candidates = selection.candidate_configs(CONFIG, ['efficientnet_lite'], ['source_only'],
                                           arg=f'root={REAL_MINI}')
  assert len(candidates) == len(module.SOURCE_ONLY_STEPS)
  for _, config in candidates.values():
    assert (config.eval.split, config.eval.final_split) == ('val', '')


@needs_real_mini
def test_the_split_rule_covers_every_davis_2016_sequence_of_the_real_folder():
  module = load_config_module(CONFIG)
  image_sets = REAL_MINI / 'DAVIS' / 'ImageSets' / '2016'
  listed = {split: set((image_sets / f'{split}.txt').read_text().split())
            for split in ('train', 'val')}
  assert set(module.TRAIN_SEQUENCES) == listed['train']
  assert set(module.VAL_SEQUENCES) | set(module.TEST_SEQUENCES) == listed['val']


@pytest.mark.slow
@needs_real_mini
def test_real_photos_and_frames_build_and_a_few_steps_train_and_score(tmp_path):
  """12 real DUTS photos and three real DAVIS sequences (one per split), linked into a
  folder of the recipe's layout; the adversarial method trains 3 steps and scores."""
  root = tmp_path / 'real-mini'
  duts = REAL_MINI / 'DUTS' / 'DUTS-TR'
  for kind, suffix in (('Image', '.jpg'), ('Mask', '.png')):
    folder = root / 'DUTS' / 'DUTS-TR' / f'DUTS-TR-{kind}'
    folder.mkdir(parents=True)
    for photo in sorted((duts / 'DUTS-TR-Image').iterdir())[:12]:
      name = photo.stem + suffix
      (folder / name).symlink_to(duts / f'DUTS-TR-{kind}' / name)
  splits = {'train': ('bear',), 'val': ('blackswan',), 'test': ('car-shadow',)}
  for kind in ('JPEGImages', 'Annotations'):
    (root / 'DAVIS' / kind / '480p').mkdir(parents=True)
    for seq in sum(splits.values(), ()):
      (root / 'DAVIS' / kind / '480p' / seq).symlink_to(
          REAL_MINI / 'DAVIS' / kind / '480p' / seq)
  config = load_config_module(CONFIG).get_config(f'method=adversarial,root={root}')
  config.unlock()
  config.data.update(data_dir=str(tmp_path / 'tfds'), salient_val_count=4, davis_splits=splits,
                     image_size=64)
  config.model.update(decoder_dim=16, depthwise_impl='grouped')  # compiles 3x sooner
  config.train.update(steps=3, eval_every=3, checkpoint_every=3, compile_cache_dir='')
  config.input.update(image_batch=4, video_batch=1)
  config.mesh.data = 1
  sources = datasets.load_sources(config.data)
  assert (len(sources['images/train']), len(sources['images/val'])) == (8, 4)
  assert sources['videos/test'][0]['name'] == 'car-shadow'
  results = loop.train_and_evaluate(config, str(tmp_path / 'run'), jax.devices()[:1])
  assert 0 <= results['video/J&F-foreground'] <= 1
  assert 0 <= results['val/video/J&F-foreground'] <= 1
