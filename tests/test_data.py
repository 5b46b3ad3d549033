"""Embedded benchmark generation and the Grain pipeline."""
import dataclasses
import hashlib
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from conftest import ROOT, tiny_config
from vda_jax.data import datasets, pipeline, synthetic
from vda_jax.data.builders import embedded


def test_scenes_are_deterministic_and_seed_dependent():
  a = synthetic.video_example(3, 7, 32, 4, synthetic.Artifacts())
  b = synthetic.video_example(3, 7, 32, 4, synthetic.Artifacts())
  c = synthetic.video_example(4, 7, 32, 4, synthetic.Artifacts())
  np.testing.assert_array_equal(a['frames'], b['frames'])
  assert not np.array_equal(a['frames'], c['frames'])
  img = synthetic.image_example(0, 1, 32)
  assert img['image'].shape == (32, 32, 3) and img['image'].dtype == np.uint8
  assert set(np.unique(img['mask'])) <= set(range(synthetic.NUM_CLASSES))
  assert (img['mask'] > 0).any(), 'every image has at least one object'


def test_each_artifact_changes_the_frames_but_never_the_masks():
  clean = synthetic.video_example(0, 2, 32, 4, synthetic.Artifacts(0, 0, 0, 0, 0))
  for name in synthetic.ARTIFACTS:
    if name == 'framing':  # moves objects, so it changes the masks by design
      continue
    degraded = synthetic.video_example(0, 2, 32, 4, synthetic.Artifacts.only(name))
    np.testing.assert_array_equal(degraded['masks'], clean['masks'])
    diff = np.abs(degraded['frames'].astype(int) - clean['frames']).mean()
    assert diff > 1.0, f'{name} left the frames (almost) unchanged: mean |diff| {diff:.2f}'


def test_artifact_strength_is_validated():
  with pytest.raises(ValueError, match=r'blur=1.5 is outside \[0, 1\]'):
    synthetic.Artifacts(blur=1.5)
  with pytest.raises(ValueError, match="unknown artifact 'fog'"):
    synthetic.Artifacts.only('fog')


def test_generated_dataset_is_deterministic(tmp_path):
  spec = embedded.BenchmarkSpec(image_size=24, clip_len=3, num_images=(('train', 4), ('test', 2)),
                                num_clips=(('train', 3), ('test', 2)))
  for kind, key in (('images', 'image'), ('videos', 'frames')):
    a = embedded.builder(kind, spec, str(tmp_path / 'a')).as_data_source('train')
    b = embedded.builder(kind, spec, str(tmp_path / 'b')).as_data_source('train')
    for i in range(len(a)):
      np.testing.assert_array_equal(np.asarray(a[i][key]), np.asarray(b[i][key]))
  other = dataclasses.replace(spec, seed=1)
  names = [embedded.EmbeddedConfig('images', s).name for s in (other, spec)]
  assert names[0] != names[1]
  first = embedded.builder('images', spec, str(tmp_path / 'a')).as_data_source('train')[0]
  reseeded = embedded.builder('images', other, str(tmp_path / 'a')).as_data_source('train')[0]
  assert not np.array_equal(first['image'], reseeded['image'])


@pytest.mark.parametrize('shape', [(5, 7, 3), (5, 7, 1), (5, 7, 4)])
def test_png_feature_stores_exactly_the_pixels_in_rgb_order(shape):
  from vda_jax.data.builders import manual
  image = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
  image[0, 0] = 255 * (np.arange(shape[-1]) == 0)  # red where RGB; TFDS decodes RGB
  feature = manual.Image(shape=(None, None, shape[-1]))
  data = feature.encode_example(image)
  assert data[:4] == b'\x89PNG'
  np.testing.assert_array_equal(feature.decode_example_np(data), image)
  np.testing.assert_array_equal(feature.decode_example(data).numpy(), image)  # TensorFlow's
  with pytest.raises(ValueError, match=r'image of shape \(5, 7, 3\); expected \(4, 7, 3\)'):
    manual.Image(shape=(4, 7, 3)).encode_example(np.zeros((5, 7, 3), np.uint8))


def test_sources_have_the_six_splits_with_their_shapes(sources):
  assert {k: len(v) for k, v in sources.items()} == {
      'images/train': 64, 'images/test': 16, 'images/val': 8,
      'videos/train': 16, 'videos/test': 8, 'videos/val': 4}
  # The selection splits are scenes of their own.
  assert not np.array_equal(sources['images/val'][0]['image'], sources['images/test'][0]['image'])
  assert not np.array_equal(np.stack(sources['videos/val'][0]['frames']),
                            np.stack(sources['videos/test'][0]['frames']))
  clip = sources['videos/test'][0]
  assert np.stack(clip['frames']).shape == (4, 32, 32, 3)
  assert np.stack(clip['masks']).shape == (4, 32, 32, 1)
  assert sources['images/train'][0]['image'].shape == (32, 32, 3)


def test_built_benchmark_reads_without_tensorflow(sources, data_dir):
  # Accelerator images often lack TensorFlow: only building a dataset may need it.
  # The child's import system finds no tensorflow (as where it is not installed), and
  # the child must read the same pixels as this process.
  code = textwrap.dedent(f'''
      import importlib.machinery, sys

      class PathFinderWithoutTensorflow(importlib.machinery.PathFinder):
        @classmethod
        def find_spec(cls, name, path=None, target=None):
          if name.split('.')[0] == 'tensorflow':
            return None
          return super().find_spec(name, path, target)

      sys.meta_path = [PathFinderWithoutTensorflow if f is importlib.machinery.PathFinder else f
                       for f in sys.meta_path]
      sys.path.insert(0, 'tests')
      import hashlib, numpy as np
      from conftest import tiny_config
      from vda_jax.data import datasets
      clip = datasets.load_sources(tiny_config(data_dir={data_dir!r}).data)['videos/test'][1]
      pixels = np.stack(clip['frames']).tobytes() + np.stack(clip['masks']).tobytes()
      print(hashlib.sha1(pixels).hexdigest())
      print('tensorflow' in sys.modules)
  ''')
  child = subprocess.run([sys.executable, '-c', code], cwd=ROOT, capture_output=True, text=True)
  assert child.returncode == 0, child.stderr[-3000:]
  clip = sources['videos/test'][1]
  digest = hashlib.sha1(np.stack(clip['frames']).tobytes() + np.stack(clip['masks']).tobytes())
  assert child.stdout.split() == [digest.hexdigest(), 'False']


class _KeyLog(dict):
  """A record that remembers which fields were read."""

  def __init__(self, record, log):
    super().__init__(record)
    self._log = log

  def __getitem__(self, key):
    self._log.add(key)
    return super().__getitem__(key)


class _Spy:

  def __init__(self, source):
    self.source, self.read = source, set()

  def __len__(self):
    return len(self.source)

  def __getitem__(self, i):
    return _KeyLog(self.source[i], self.read)


def test_video_train_masks_never_reach_the_train_batch(sources):
  spy = _Spy(sources['videos/train'])
  ds = pipeline.train_dataset(sources['images/train'], spy, image_batch=4, video_batch=2,
                              clip_len=2, seed=0)
  it = pipeline.train_iterator(ds, prefetch=0)
  for _ in range(5):
    batch = next(it)
  assert set(batch) == {'image', 'label', 'video'}
  assert batch['video'].shape == (2, 2, 32, 32, 3) and batch['video'].dtype == np.uint8
  assert spy.read == {'frames'}, f'the pipeline read {spy.read} from videos/train'
  # The upper bound asks for them explicitly.
  ds = pipeline.train_dataset(sources['images/train'], sources['videos/train'], image_batch=4,
                              video_batch=2, clip_len=2, seed=0, video_labels=True)
  assert next(pipeline.train_iterator(ds, prefetch=0))['video_label'].shape == (2, 2, 32, 32)


def test_pipeline_shards_per_process_and_resumes_at_a_step_on_any_process_count(sources):
  shards = [pipeline.train_dataset(sources['images/train'], sources['videos/train'],
                                   image_batch=4, video_batch=2, clip_len=2, seed=0,
                                   shard=pipeline.Shard(i, 2), augment=pipeline.Augmentation())
            for i in range(2)]
  seen = [set(), set()]
  for i, ds in enumerate(shards):
    it = pipeline.train_iterator(ds, prefetch=0)
    for _ in range(8):  # one epoch of this shard's 32 images
      b = next(it)
      seen[i].update(map(bytes, b['image'].reshape(4, -1)))
  assert len(seen[0]) == 32 and len(seen[1]) == 32 and not seen[0] & seen[1]

  # Augmented: the processes' batches, concatenated in process order, are the
  # 1-process run's global batches (so the process count never changes the data).
  def batches(shard, n, **sizes):
    ds = pipeline.train_dataset(sources['images/train'], sources['videos/train'], clip_len=2,
                                seed=0, shard=shard, augment=pipeline.Augmentation(shift=4),
                                **sizes)
    it = pipeline.train_iterator(ds, prefetch=0)
    return [next(it) for _ in range(n)]
  one = batches(pipeline.Shard(), 5, image_batch=8, video_batch=4)
  two = [batches(pipeline.Shard(i, 2), 5, image_batch=4, video_batch=2) for i in range(2)]
  for b in range(5):
    for k in one[b]:
      np.testing.assert_array_equal(np.concatenate([two[0][b][k], two[1][b][k]]), one[b][k])

  # A run saved at step 3 by two processes resumes on one (or any number): the stream is
  # rebuilt at the step, random access, and goes on with global batches 3, 4, ...
  ds = pipeline.train_dataset(sources['images/train'], sources['videos/train'], clip_len=2,
                              seed=0, augment=pipeline.Augmentation(shift=4), image_batch=8,
                              video_batch=4)
  resumed = pipeline.train_iterator(ds, prefetch=2, start=3)
  for b in (3, 4):
    got = next(resumed)
    for k in one[b]:
      np.testing.assert_array_equal(got[k], one[b][k])


class _CountingSource:
  """A record source that notes every index it is asked for."""

  def __init__(self, records):
    self.records, self.read = records, []

  def __len__(self):
    return len(self.records)

  def __getitem__(self, index):
    self.read.append(index)
    return self.records[index]


@pytest.mark.parametrize('prefetch', [0, 2])
def test_the_iterator_reads_no_further_ahead_than_prefetch_batches(sources, prefetch):
  images, clips = _CountingSource(sources['images/train']), _CountingSource(sources['videos/train'])
  ds = pipeline.train_dataset(images, clips, image_batch=4, video_batch=2, clip_len=2, seed=0)
  it = pipeline.train_iterator(ds, prefetch=prefetch)
  for _ in range(3):
    next(it)
  time.sleep(0.5)  # time for read-ahead threads to fill their buffer
  # (Grain's default read-ahead would have read up to 500 batches by now.)
  assert len(images.read) <= 4 * (3 + prefetch) and len(clips.read) <= 2 * (3 + prefetch)


def test_unknown_dataset_name_is_a_clear_error():
  config = tiny_config()
  config.data.name = 'kinetics'
  with pytest.raises(ValueError, match="config.data.name='kinetics' is not a dataset"):
    datasets.load_sources(config.data)


def test_object_scale_sets_the_objects_size():
  # A disk's area is pi (scale * size)^2: a 3x larger scale covers about 9x the pixels.
  share = lambda s: np.mean([(synthetic.image_example(0, i, 64, (s, s))['mask'] > 0).mean()
                             for i in range(20)])
  assert 5 < share(0.3) / share(0.1) < 10


def test_scale_crop_keeps_pixels_and_labels_aligned_and_pads_with_void():
  # A pixel's value is its own label: any misalignment of the window would show.
  label = np.arange(40 * 60, dtype=np.int64).reshape(40, 60, 1) % 250
  image = np.repeat(label.astype(np.uint8), 3, -1)
  for scale in ((0.5, 0.5), (0.7, 0.9)):
    crop_img, crop_lab = pipeline._scale_crop(np.random.default_rng(1), [image, label.astype(
        np.uint8)], scale, [0, 255])
    s = np.random.default_rng(1).uniform(*scale)
    assert crop_img.shape[:2] == (round(s * 40), round(s * 60))
    np.testing.assert_array_equal(crop_img[..., 0], crop_lab[..., 0])
  pad_img, pad_lab = pipeline._scale_crop(np.random.default_rng(2), [image, label.astype(
      np.uint8)], (2.0, 2.0), [0, 255])
  assert pad_img.shape[:2] == (80, 120)
  inside = pad_lab[..., 0] != 255
  assert inside.sum() == 40 * 60 and (pad_img[~inside] == 0).all()
  np.testing.assert_array_equal(pad_img[inside][:, 0], pad_lab[inside][:, 0])


def test_colour_jitter_scales_a_grey_image_by_the_drawn_brightness():
  grey = np.full((4, 4, 3), 100, np.uint8)
  out = pipeline._colour_jitter(np.random.default_rng(3), grey, 0.4)
  brightness = np.random.default_rng(3).uniform(0.6, 1.4, 3)[0]
  # A flat grey image has no contrast or saturation to scale: only brightness acts.
  assert (out == round(100 * brightness)).all()
  assert pipeline._colour_jitter(np.random.default_rng(3), grey, 0.0) is grey


def test_augmentation_draws_one_window_for_a_whole_clip(sources):
  record = sources['videos/train'][0]
  rng = np.random.default_rng(0)
  augment = pipeline.Augmentation(shift=2, scale=(0.5, 1.5), colour=0.3)
  out = pipeline._clip_element(record, rng, 4, augment, True, 16)
  assert out['video'].shape == (4, 16, 16, 3) and out['video_label'].shape == (4, 16, 16)
  # Same window and flip for every frame: the masks of a clip's frames move together.
  still = {**record, 'frames': np.repeat(np.asarray(record['frames'])[:1], 4, 0),
           'masks': np.repeat(np.asarray(record['masks'])[:1], 4, 0)}
  out = pipeline._clip_element(still, np.random.default_rng(5), 4, augment, True, 16)
  for t in range(1, 4):
    np.testing.assert_array_equal(out['video_label'][t], out['video_label'][0])
    np.testing.assert_array_equal(out['video'][t], out['video'][0])
