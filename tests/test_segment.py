"""Streaming inference, a short run on real data, and `python -m vda_jax.commands.segment`."""
import itertools
import json
import os
import subprocess
import sys

import jax
import jax.numpy as jnp
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P
import numpy as np
from PIL import Image
import pytest
from test_real_data import moving_square, write_mp4

from conftest import ROOT, SHARED_DATA
from vda_jax import plots
from vda_jax.config_arg import load_config_module
from vda_jax.data import media
from vda_jax.eval import inference, metrics
from vda_jax.segment import segment_with_run
from vda_jax.train import checkpoint, loop

DAVIS = SHARED_DATA / 'davis2016-sample'
needs_shared = pytest.mark.skipif(not SHARED_DATA.exists(), reason='needs ../shared/data')


def threshold_predict():
  """A stand-in model: object = red channel above 127, per frame."""
  sharding = NamedSharding(Mesh(np.asarray(jax.devices()[:1]), ('data',)), P('data'))
  return jax.jit(lambda params, x: (x[..., 0] > 127).astype(jnp.uint8)), sharding


def test_segment_videos_streams_in_order_at_each_frame_size():
  predict, sharding = threshold_predict()
  # Two videos of different sizes and lengths; frame t is bright when t % 3 == 0.

  def video(n, h, w):
    return [np.full((h, w, 3), 255 if t % 3 == 0 else 0, np.uint8) for t in range(n)]
  videos = [('a', video(5, 30, 40)), ('b', video(4, 9, 7))]
  out = list(inference.segment_videos(predict, None, videos, size=8, clip_len=2, batch_size=3,
                                      sharding=sharding))
  assert [(k, t) for k, t, _ in out] == [('a', t) for t in range(5)] + [('b', t) for t in range(4)]
  for key, t, mask in out:
    assert mask.shape == ((30, 40) if key == 'a' else (9, 7))
    assert (mask == (t % 3 == 0)).all()

  def endless():  # a video that never ends: results must come out while it streams
    for t in itertools.count():
      yield np.full((16, 16, 3), 255 if t % 2 else 0, np.uint8)
  first = list(itertools.islice(inference.segment_videos(
      predict, None, [('live', endless())], size=8, clip_len=4, batch_size=2,
      sharding=sharding), 20))
  assert [t for _, t, _ in first] == list(range(20))
  assert all((m == t % 2).all() for _, t, m in first)


def real_config(data_dir):
  config = load_config_module(str(ROOT / 'configs' / 'real.py')).get_config('model=cnn2d')
  config.data.update(data_dir=data_dir, image_size=32, davis_year='2016',
                     train_images='coco/train:2,voc/full:1', test_images='voc/full',
                     train_videos='davis/full', test_videos='davis/full')
  config.data.manual_dirs.update(coco=str(SHARED_DATA / 'image-samples' / 'coco'),
                                 voc=str(SHARED_DATA / 'image-samples' / 'voc'), davis=str(DAVIS))
  config.input.update(image_batch=4, video_batch=2, clip_len=2, prefetch=0)
  config.model.update(width=8, stage_widths=(1, 2, 2, 4))
  config.adversarial.taps = 'stage2'
  config.train.update(steps=4, log_every=2, eval_every=4, checkpoint_every=4)
  config.eval.update(image_batch=4, clip_batch=4)
  config.mesh.data = 1
  return config


@pytest.fixture(scope='module')
def real_run(tmp_path_factory, data_dir):
  """A 4-step run: COCO + VOC images (2:1) -> DAVIS-2016 sample videos. It builds three
  real datasets and scores full-resolution DAVIS frames (35-60 s), so the tests that
  use it are `slow`."""
  workdir = str(tmp_path_factory.mktemp('real_run'))
  results = loop.train_and_evaluate(real_config(data_dir), workdir, jax.devices()[:1])
  return workdir, results


@pytest.mark.slow
@needs_shared
def test_real_data_run_reports_davis_scores(real_run):
  workdir, results = real_run
  for key in ('image/mIoU', 'video/mIoU', 'video/IoU/object', *(
      f'video/{m}-foreground' for m in ('J', 'F', 'J&F', 'J-recall', 'J-decay', 'F-recall',
                                        'F-decay'))):
    assert np.isfinite(results[key]), key
  assert 0 <= results['video/J&F-foreground'] <= 1
  assert checkpoint.load_config(workdir).data.train_images == 'coco/train:2,voc/full:1'


@pytest.mark.slow
@needs_shared
def test_segment_a_davis_sequence_with_ground_truth(real_run, tmp_path):
  workdir, _ = real_run
  out = tmp_path / 'blackswan'
  scores = segment_with_run(workdir, str(DAVIS / 'JPEGImages' / '480p' / 'blackswan'), str(out),
                            ground_truth=str(DAVIS / 'Annotations' / '480p' / 'blackswan'),
                            overlay='gif', progress=False)
  masks = sorted(os.listdir(out / 'masks'))
  assert len(masks) == 50 and masks[0] == '00000.png'
  with Image.open(out / 'masks' / '00007.png') as im:
    assert im.mode == 'P' and im.size == (854, 480)
    assert im.getpalette()[:6] == [0, 0, 0, 128, 0, 0]  # the DAVIS palette
  with Image.open(out / 'overlay.gif') as gif:
    assert gif.n_frames == 50
  # The scores are the DAVIS protocol over the written masks: frames 1..48.
  js = [metrics.region_j(np.array(Image.open(out / 'masks' / m)),
                         np.array(Image.open(DAVIS / 'Annotations' / '480p' / 'blackswan' / m)))
        for m in masks[1:-1]]
  assert scores['J-foreground'] == pytest.approx(np.mean(js), abs=1e-9)
  saved = json.loads((out / 'scores.json').read_text())
  assert saved['J&F-foreground'] == pytest.approx(scores['J&F-foreground'])
  assert len(saved['per_frame']['J']) == 50
  assert not (tmp_path / 'blackswan.incomplete').exists()


@pytest.mark.slow
@needs_shared
def test_segment_command_on_a_real_mp4(real_run, tmp_path):
  workdir, _ = real_run
  video = tmp_path / 'walk.mp4'
  write_mp4(video, moving_square(23))
  out = tmp_path / 'walk'
  proc = subprocess.run([sys.executable, '-m', 'vda_jax.commands.segment',
                         f'--checkpoint={workdir}', f'--input={video}', f'--output={out}'],
                        capture_output=True, text=True,
                        cwd=ROOT, env={**os.environ, 'JAX_PLATFORMS': 'cpu'}, timeout=300)
  assert proc.returncode == 0, proc.stderr[-2000:]
  assert sorted(os.listdir(out)) == ['masks', 'overlay.mp4']
  assert len(os.listdir(out / 'masks')) == 23
  assert np.array(Image.open(out / 'masks' / '00022.png')).shape == (48, 64)
  overlay = list(media.video_frames(str(out / 'overlay.mp4')))
  assert len(overlay) == 23 and overlay[0].shape == (48, 64, 3)


@pytest.mark.slow
@needs_shared
def test_segment_bad_input_leaves_no_output(real_run, tmp_path):
  workdir, _ = real_run
  frames = str(DAVIS / 'JPEGImages' / '480p' / 'car-shadow')
  existing = tmp_path / 'done'
  existing.mkdir()
  (existing / 'keep.txt').write_text('earlier results')
  with pytest.raises(FileExistsError, match='already exists'):
    segment_with_run(workdir, frames, str(existing), progress=False)
  assert (existing / 'keep.txt').read_text() == 'earlier results'

  # Ground truth with fewer masks than frames: found only after streaming 10
  # frames, and still nothing is left behind.
  short_gt = tmp_path / 'gt'
  short_gt.mkdir()
  for i in range(10):
    (short_gt / f'{i:05d}.png').write_bytes(
        (DAVIS / 'Annotations' / '480p' / 'car-shadow' / f'{i:05d}.png').read_bytes())
  out = tmp_path / 'car'
  with pytest.raises(media.DataError,
                     match=r'gt: 10 ground-truth masks, but .*car-shadow has more'):
    segment_with_run(workdir, frames, str(out), ground_truth=str(short_gt), progress=False)
  assert not out.exists() and not (tmp_path / 'car.incomplete').exists()

  small = tmp_path / 'small_gt'
  small.mkdir()
  Image.fromarray(np.zeros((10, 10), np.uint8)).save(small / '00000.png')
  with pytest.raises(media.DataError, match=r'small_gt/00000.png: mask is 10x10 \(WxH\) but its '
                                            r'frame is 854x480'):
    segment_with_run(workdir, frames, str(out), ground_truth=str(small), progress=False)

  noise = tmp_path / 'noise.mp4'
  noise.write_bytes(np.random.default_rng(0).bytes(5000))
  with pytest.raises(media.DataError, match='noise.mp4: cannot open as a video'):
    segment_with_run(workdir, str(noise), str(out), progress=False)
  (tmp_path / 'empty').mkdir()
  with pytest.raises(media.DataError, match='empty: empty, expected frame images'):
    segment_with_run(workdir, str(tmp_path / 'empty'), str(out), progress=False)
  assert not out.exists() and not (tmp_path / 'car.incomplete').exists()


def test_png_overlay_is_a_sheet_of_frames_spread_over_the_video(tmp_path):
  from vda_jax import segment  # pylint: disable=g-import-not-at-top
  sheet = segment._Overlay(str(tmp_path / 'overlay.png'), 'png', 24.0, total=15)
  mask = np.zeros((6, 10), np.uint8)
  mask[0, 0] = 1  # one object pixel: blended half-and-half with the palette's dark red
  for t in range(15):
    sheet.add(np.full((6, 10, 3), 10 * t, np.uint8), mask)
  sheet.close()
  tiles = np.array(Image.open(tmp_path / 'overlay.png'))
  assert tiles.shape == (2 * 6, 4 * 10, 3)
  # 8 frames at round(linspace(0, 14, 8)) = 0, 2, 4, ..., 14, row by row.
  for i, t in enumerate(range(0, 15, 2)):
    tile = tiles[6 * (i // 4):6 * (i // 4 + 1), 10 * (i % 4):10 * (i % 4 + 1)]
    assert (tile[1:] == 10 * t).all()
    np.testing.assert_array_equal(tile[0, 0], (np.array([10 * t] * 3) * 0.5 +
                                               np.array([128, 0, 0]) * 0.5).astype(np.uint8))


def test_overlay_sheets_stack_top_to_bottom_under_their_labels(tmp_path):
  sheets = {}
  for label, colour in (('source-only', (255, 0, 0)), ('clustered', (0, 0, 255))):
    sheets[label] = tmp_path / f'{label}.png'
    Image.new('RGB', (80, 40), colour).save(sheets[label])
  titles = plots.sheets_figure(sheets, tmp_path / 'both.png')
  assert titles == ['source-only', 'clustered']
  out = np.asarray(Image.open(tmp_path / 'both.png').convert('RGB')).astype(int)
  column = out[:, out.shape[1] // 2]
  reds = np.flatnonzero((column[:, 0] > 200) & (column[:, 2] < 60))
  blues = np.flatnonzero((column[:, 2] > 200) & (column[:, 0] < 60))
  assert len(reds) and len(blues) and reds.max() < blues.min()
