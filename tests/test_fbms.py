"""FBMS-59 layout: sparse masks in grey levels or colours, scored on annotated frames only."""
import jax
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P
import numpy as np
from PIL import Image
import pytest

from vda_jax import labels
from vda_jax.data import datasets, media
from vda_jax.data.builders import fbms
from vda_jax.eval import evaluate

H, W = 32, 32  # square: the model input size, so no resizing blurs the scores


def square(t):
  """(frame, object mask) of frame t: a bright square moving 2 px per frame."""
  mask = np.zeros((H, W), bool)
  mask[8:20, 4 + 2 * t:16 + 2 * t] = True
  frame = np.full((H, W, 3), 20, np.uint8)
  frame[mask] = 230
  return frame, mask


def write_fbms(root, split, seq, n, annotated, gt, name=lambda seq, t: f'{seq}_{t + 1:04d}_gt'):
  """A sequence of n frames with masks on `annotated` frames, drawn by gt(mask) -> image."""
  folder = root / split / seq
  (folder / 'GroundTruth').mkdir(parents=True)
  for t in range(n):
    frame, mask = square(t)
    Image.fromarray(frame).save(folder / f'{seq}_{t + 1:04d}.jpg', quality=95)
    if t in annotated:
      image, suffix = gt(mask)
      image.save(folder / 'GroundTruth' / f'{name(seq, t)}{suffix}')


def grey_on_white(mask):  # the object black on a white background
  return Image.fromarray(np.where(mask, 0, 255).astype(np.uint8)), '.pgm'


def two_colours_on_black(mask):  # two objects: the square's halves in red and green
  rgb = np.zeros((H, W, 3), np.uint8)
  cols = np.where(mask.any(0))[0]
  left = mask.copy()
  left[:, cols[len(cols) // 2]:] = False
  rgb[left] = (255, 0, 0)
  rgb[mask & ~left] = (0, 255, 0)
  return Image.fromarray(rgb), '.ppm'


@pytest.fixture()
def fbms_root(tmp_path):
  root = tmp_path / 'FBMS'
  write_fbms(root, 'Trainingset', 'cars1', 8, {0, 4}, grey_on_white)
  # Mask files named by number only ('0003_gt.ppm'), matched to frame cars2_0003.jpg.
  write_fbms(root, 'Testset', 'cars2', 7, {0, 2, 6}, two_colours_on_black,
             name=lambda seq, t: f'{t + 1:04d}_gt')
  return root


def test_fbms_masks_become_foreground_on_annotated_frames_and_void_elsewhere(fbms_root, tmp_path):
  b = fbms.builder(str(fbms_root), str(tmp_path / 'tfds'))
  assert set(b.info.splits) == {'train', 'test'}
  for split, n, annotated in (('train', 8, {0, 4}), ('test', 7, {0, 2, 6})):
    record, = [b.as_data_source(split)[0]]
    masks = np.stack(record['masks'])[..., 0]
    assert masks.shape == (n, H, W)
    for t in range(n):
      expected = square(t)[1].astype(np.uint8) if t in annotated else labels.VOID
      np.testing.assert_array_equal(masks[t], np.broadcast_to(expected, (H, W)), err_msg=str(t))
  chunks = fbms.builder(str(fbms_root), str(tmp_path / 'tfds'), chunk_len=4, max_size=24)
  assert len(chunks.as_data_source('train')) == 2 and len(chunks.as_data_source('test')) == 1
  first = chunks.as_data_source('train')[0]
  assert np.stack(first['frames']).shape == (4, 24, 24, 3)


def test_fbms_is_scored_on_its_annotated_frames_only(fbms_root, tmp_path):
  b = fbms.builder(str(fbms_root), str(tmp_path / 'tfds'))
  source = datasets.Mapped(b.as_data_source('test'), datasets._labeled_video, 'fbms/test')

  def threshold(params, clips):  # what the frames show: exact on every frame
    del params
    return (clips.mean(-1) > 128).astype(np.int32)

  def shifted(params, clips):  # a frame late: wrong wherever the square moved
    del params
    return jax.numpy.roll(threshold(None, clips), 2, axis=-1)

  sharding = NamedSharding(Mesh(np.asarray(jax.devices()[:1]), ('data',)), P('data'))
  score = lambda predict: evaluate.evaluate_split(
      predict, None, source, 'videos', sharding=sharding, class_names=('background', 'object'),
      batch_size=2, size=32, clip_len=2, skip_first_last=False)
  exact = score(threshold)
  # Unannotated frames hold an object but no mask: scoring them would put J below 1.
  assert exact['video/J-foreground'] == pytest.approx(1.0)
  assert exact['video/mIoU'] == pytest.approx(1.0)
  # J of the 2-px shift by hand on each annotated frame: |12x10| / |12x14| = 10/14.
  assert score(shifted)['video/J-foreground'] == pytest.approx(10 / 14)


def test_bad_fbms_layouts_are_named(tmp_path):
  root = tmp_path / 'bad'
  write_fbms(root, 'Testset', 'seq', 3, {1}, grey_on_white, name=lambda seq, t: 'other_0009_gt')
  with pytest.raises(media.DataError, match=r'other_0009_gt.pgm: matches no frame of .*seq'):
    fbms.builder(str(root), str(tmp_path / 'tfds'))
  assert not list((tmp_path / 'tfds').rglob('dataset_info.json'))
  small = tmp_path / 'small'
  write_fbms(small, 'Testset', 'seq', 3, {1}, grey_on_white)
  gt = small / 'Testset' / 'seq' / 'GroundTruth' / 'seq_0002_gt.pgm'
  Image.fromarray(np.zeros((10, 10), np.uint8)).save(gt)
  with pytest.raises(media.DataError, match=r'seq_0002_gt.pgm: mask is 10x10 \(WxH\) but its '
                                            r'frame is 32x32'):
    fbms.builder(str(small), str(tmp_path / 'tfds'))
  empty = tmp_path / 'empty'
  (empty / 'Videos').mkdir(parents=True)
  with pytest.raises(media.DataError, match='neither Trainingset/ nor Testset/'):
    fbms.builder(str(empty), str(tmp_path / 'tfds'))
