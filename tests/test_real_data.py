"""Manual-dir builders (DAVIS, COCO, VOC, video files), mixing, and their bad-input errors.

Real samples are read in place from ../shared/data; everything else (a DAVIS-2017
style layout, broken masks, a real encoded mp4) the tests write themselves.
"""
import fractions
import os
import shutil

import cv2
import numpy as np
from PIL import Image
import pytest

from conftest import SHARED_DATA
from vda_jax import preemption
from vda_jax.data import datasets, media, pipeline
from vda_jax.data.builders import coco, davis, video_files, voc, youtube_vos

DAVIS = SHARED_DATA / 'davis2016-sample'
COCO = SHARED_DATA / 'image-samples' / 'coco'
VOC = SHARED_DATA / 'image-samples' / 'voc'
needs_shared = pytest.mark.skipif(not SHARED_DATA.exists(), reason='needs ../shared/data')


def write_mp4(path, frames, fps=10):
  h, w = frames[0].shape[:2]
  writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*'mp4v'), fps, (w, h))
  for f in frames:
    writer.write(cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
  writer.release()


def moving_square(n, h=48, w=64):
  frames = []
  for t in range(n):
    f = np.full((h, w, 3), 30, np.uint8)
    f[10:30, 2 + 2 * t:22 + 2 * t] = (220, 180, 40)
    frames.append(f)
  return frames


def write_davis(root, seqs, year='2017', size=(24, 32)):
  """A DAVIS layout with `seqs` = {name: [object-id mask per frame]}."""
  for seq, masks in seqs.items():
    (root / 'JPEGImages' / '480p' / seq).mkdir(parents=True)
    (root / 'Annotations' / '480p' / seq).mkdir(parents=True)
    for t, m in enumerate(masks):
      Image.fromarray(np.full(size + (3,), 40 * t, np.uint8)).save(
          root / 'JPEGImages' / '480p' / seq / f'{t:05d}.jpg')
      if year == '2017':
        media.write_mask(root / 'Annotations' / '480p' / seq / f'{t:05d}.png', m)
      else:
        Image.fromarray(m).save(root / 'Annotations' / '480p' / seq / f'{t:05d}.png')


@needs_shared
def test_davis_2016_sample_reads_in_place_as_binary_object_masks(data_dir):
  b = davis.builder(str(DAVIS), data_dir, '2016')
  src = b.as_data_source('full')
  assert len(src) == 2
  by_name = {src[i]['name'].decode(): src[i] for i in range(2)}
  assert set(by_name) == {'blackswan', 'car-shadow'}
  r = by_name['car-shadow']
  frames, masks = np.stack(r['frames']), np.stack(r['masks'])
  assert frames.shape == (40, 480, 854, 3) and masks.shape == (40, 480, 854, 1)
  truth = np.array(Image.open(DAVIS / 'Annotations' / '480p' / 'car-shadow' / '00017.png'))
  np.testing.assert_array_equal(masks[17, ..., 0], truth // 255)
  # The frames keep their original JPEG bytes: they decode to exactly what the file
  # decodes to (a re-encoded, second-generation JPEG would not).
  original = cv2.imdecode(np.fromfile(DAVIS / 'JPEGImages' / '480p' / 'car-shadow' / '00017.jpg',
                                      np.uint8), cv2.IMREAD_COLOR)
  np.testing.assert_array_equal(frames[17], cv2.cvtColor(original, cv2.COLOR_BGR2RGB))


def test_davis_2017_keeps_object_ids_and_maps_to_foreground_with_void(tmp_path, data_dir):
  m = np.zeros((24, 32), np.uint8)
  m[2:8, 2:8], m[10:20, 10:20], m[0, :] = 1, 2, 255
  write_davis(tmp_path / 'd17', {'dance': [m, m, np.roll(m, 1, 0)]})
  r = davis.builder(str(tmp_path / 'd17'), data_dir, '2017').as_data_source('full')[0]
  np.testing.assert_array_equal(np.stack(r['masks'])[0, ..., 0], m)
  fg = datasets._labeled_video(r)['masks'][0, ..., 0]
  assert fg[5, 5] == 1 and fg[15, 15] == 1 and fg[22, 30] == 0 and (fg[0] == 255).all()
  # Training chunks: 2 frames each (the 1-frame tail dropped), longer side 16, ids kept.
  chunks = davis.builder(str(tmp_path / 'd17'), data_dir, '2017', chunk_len=2, max_size=16)
  src = chunks.as_data_source('full')
  assert len(src) == 1 and src[0]['name'] == b'dance' and src[0]['start'] == 0
  small = np.stack(src[0]['masks'])[..., 0]
  assert small.shape == (2, 12, 16)
  np.testing.assert_array_equal(small[0], media.resize(m, (12, 16), nearest=True))


def test_davis_image_sets_choose_the_splits(tmp_path, data_dir):
  m = np.zeros((24, 32), np.uint8)
  write_davis(tmp_path / 'd', {'a': [m] * 3, 'b': [m] * 4, 'c': [m] * 3})
  (tmp_path / 'd' / 'ImageSets' / '2017').mkdir(parents=True)
  (tmp_path / 'd' / 'ImageSets' / '2017' / 'train.txt').write_text('a\nc\n')
  (tmp_path / 'd' / 'ImageSets' / '2017' / 'val.txt').write_text('b\n')
  b = davis.builder(str(tmp_path / 'd'), data_dir, '2017')
  assert {k: v.num_examples for k, v in b.info.splits.items()} == {'train': 2, 'val': 1}
  assert len(b.as_data_source('val')[0]['frames']) == 4


def test_named_davis_splits_replace_image_sets_and_are_checked(tmp_path, data_dir):
  m = np.zeros((24, 32), np.uint8)
  write_davis(tmp_path / 'd', {'a': [m] * 3, 'b': [m] * 4, 'c': [m] * 5})
  b = davis.builder(str(tmp_path / 'd'), data_dir, '2017',
                    splits={'val': ['b'], 'test': ['c', 'a']})
  assert {k: v.num_examples for k, v in b.info.splits.items()} == {'val': 1, 'test': 2}
  assert [r['name'].decode() for r in b.as_data_source('val')] == ['b']
  assert sorted(r['name'].decode() for r in b.as_data_source('test')) == ['a', 'c']
  with pytest.raises(media.DataError, match=r"no sequence folder \['z'\]"):
    davis.builder(str(tmp_path / 'd'), data_dir, '2017', splits={'val': ['z'], 'test': ['a']})
  with pytest.raises(media.DataError, match=r"\['a'\] named in more than one split"):
    davis.builder(str(tmp_path / 'd'), data_dir, '2017', splits={'val': ['a'], 'test': ['a']})


def test_coco_holds_out_the_highest_image_ids_as_val():
  images = [{'id': i, 'file_name': f'{i}.jpg'} for i in (30, 9, 25, 77, 42)]
  split = coco.held_out(images, 2)
  assert [i['id'] for i in split['train']] == [9, 25, 30]
  assert [i['id'] for i in split['val']] == [42, 77]
  assert coco.held_out(images, 0) == {'train': images}
  with pytest.raises(media.DataError, match='val_count=5: expected between 1 and 4'):
    coco.held_out(images, 5)


@needs_shared
def test_coco_sample_val_split_and_downscaled_training_copies(data_dir):
  import json
  ids = sorted(i['id'] for i in json.loads((COCO / 'annotations.json').read_text())['images'])
  full = coco.builder(str(COCO), data_dir, 'foreground', val_count=2)
  small = coco.builder(str(COCO), data_dir, 'foreground', val_count=2, max_size=64)
  assert {k: v.num_examples for k, v in full.info.splits.items()} == {'train': len(ids) - 2,
                                                                      'val': 2}
  names = lambda b, split: sorted(r['name'].decode() for r in b.as_data_source(split))
  assert names(full, 'val') == [f'{i:012d}.jpg' for i in ids[-2:]]
  assert names(small, 'train') == names(full, 'train')
  for big, little in zip(full.as_data_source('train'), small.as_data_source('train')):
    assert max(little['image'].shape[:2]) == 64
    h, w = little['mask'].shape[:2]
    np.testing.assert_array_equal(little['mask'][..., 0],
                                  media.resize(big['mask'][..., 0], (h, w), nearest=True))


def test_frames_that_cannot_be_read_are_named(tmp_path):
  noise = np.random.default_rng(0).integers(0, 256, (64, 64, 3), np.uint8)
  Image.fromarray(noise).save(tmp_path / 'whole.jpg')
  data = (tmp_path / 'whole.jpg').read_bytes()
  (tmp_path / 'cut.jpg').write_bytes(data[:len(data) // 2])
  (tmp_path / 'garbage.jpg').write_bytes(b'not an image')
  (tmp_path / 'folder.jpg').mkdir()
  for read in (media.read_image, media.stored_frame):
    assert read(str(tmp_path / 'whole.jpg')) is not None
    for name, problem in (('missing', 'no such file'), ('garbage', 'not a readable image'),
                          ('cut', 'corrupt or truncated image'), ('folder', 'cannot be read')):
      with pytest.raises(media.DataError, match=f'{name}.jpg: {problem}'):
        read(str(tmp_path / f'{name}.jpg'))


def test_coco_rle_strings_decode_like_the_coco_api():
  # Hand-encoded with maskApi.c's rleToString: each count in 5-bit groups + 48,
  # counts after the second stored as the difference to two places back.
  assert coco.rle_counts('324') == [3, 2, 4]
  assert coco.rle_counts('1232') == [1, 2, 3, 4]
  assert coco.rle_counts('X1') == [40]
  # Column-major runs: 2 background, 3 object, 1 background in a 3x2 image.
  np.testing.assert_array_equal(coco.rle_mask({'size': [3, 2], 'counts': [2, 3, 1]}),
                                [[0, 1], [0, 1], [1, 0]])
  np.testing.assert_array_equal(coco.rle_mask({'size': [3, 2], 'counts': '231'}),
                                [[0, 1], [0, 1], [1, 0]])


@needs_shared
def test_coco_sample_masks_match_the_annotations(data_dir):
  import json
  ann = json.loads((COCO / 'annotations.json').read_text())
  sem = coco.builder(str(COCO), data_dir, 'semantic')
  names = sem.info.metadata['class_names']
  assert len(names) == 81 and names[:3] == ['background', 'person', 'bicycle']
  src = sem.as_data_source('train')
  recs = {src[i]['name'].decode(): src[i] for i in range(len(src))}
  assert len(recs) == 6  # the image without annotations is all background
  assert set(np.unique(recs['000000000089.jpg']['mask'])) == {0}
  assert set(np.unique(recs['000000343934.jpg']['mask'])) == {0, names.index('motorcycle')}
  assert 255 in np.unique(recs['000000464689.jpg']['mask'])  # the crowd region is void
  # Filled polygons cover the area COCO's API computed for them (within 3%).
  by_id = {i['file_name']: i['id'] for i in ann['images']}
  polys = [a for a in ann['annotations'] if a['image_id'] == by_id['000000343934.jpg']]
  assert len(polys) == 1
  area = (recs['000000343934.jpg']['mask'] > 0).sum()
  assert abs(area - polys[0]['area']) / polys[0]['area'] < 0.03
  fg = coco.builder(str(COCO), data_dir, 'foreground').as_data_source('train')
  fg_masks = {fg[i]['name'].decode(): fg[i]['mask'] for i in range(len(fg))}
  m = recs['000000128372.jpg']['mask']
  np.testing.assert_array_equal(fg_masks['000000128372.jpg'], np.where(m == 255, 255, m > 0))


@needs_shared
def test_voc_sample_uses_masked_images_and_keeps_void(data_dir):
  src = voc.builder(str(VOC), data_dir, 'semantic').as_data_source('full')
  assert len(src) == 1  # 2011_003353 has only a box, no mask
  r = src[0]
  raw = np.array(Image.open(VOC / 'SegmentationClass' / '2007_000063.png'))
  np.testing.assert_array_equal(r['mask'][..., 0], raw)
  chair, dog = voc.CLASS_NAMES.index('chair'), voc.CLASS_NAMES.index('dog')
  assert set(np.unique(raw)) == {0, chair, dog, 255}
  fg = voc.builder(str(VOC), data_dir, 'foreground').as_data_source('full')[0]['mask'][..., 0]
  np.testing.assert_array_equal(fg, np.where(raw == 255, 255, raw > 0))


def test_video_files_decode_a_real_mp4_into_chunks(tmp_path, data_dir):
  written = moving_square(20)
  (tmp_path / 'vids').mkdir()
  write_mp4(tmp_path / 'vids' / 'walk.mp4', written)
  b = video_files.builder(str(tmp_path / 'vids'), data_dir, chunk_len=8, max_size=32)
  src = b.as_data_source('train')
  assert len(src) == 2  # 20 frames -> two chunks of 8; the 4-frame tail is dropped
  starts = sorted(int(src[i]['start']) for i in range(2))
  assert starts == [0, 8]
  r = next(src[i] for i in range(2) if src[i]['start'] == 8)
  frames = np.stack(r['frames'])
  assert frames.shape == (8, 24, 32, 3)  # longer side 64 -> 32
  expected = np.stack([media.resize(f, (24, 32)) for f in written[8:16]])
  assert np.abs(frames.astype(int) - expected).mean() < 8  # mp4 + jpeg are lossy


def test_youtube_vos_frame_folders_stream_as_chunks_keeping_small_jpegs(tmp_path, data_dir):
  root = tmp_path / 'ytvos' / 'train'
  for video, n, size in (('0a1b', 10, (24, 32)), ('ffee', 3, (96, 128))):
    (root / 'JPEGImages' / video).mkdir(parents=True)
    for t, f in enumerate(moving_square(n, *size)):
      Image.fromarray(f).save(root / 'JPEGImages' / video / f'{5 * t:05d}.jpg', quality=90)
  (root / 'Annotations').mkdir()  # present in YouTube-VOS, not read
  b = youtube_vos.builder(str(root), data_dir, chunk_len=4, max_size=64)
  src = b.as_data_source('train')
  records = {(src[i]['name'].decode(), int(src[i]['start'])): src[i] for i in range(len(src))}
  # 10 frames -> chunks at 0 and 4 (the tail of 2 dropped); 3 frames -> one shorter record.
  assert sorted(records) == [('0a1b', 0), ('0a1b', 4), ('ffee', 0)]
  small = np.stack(records[('0a1b', 4)]['frames'])
  for t in range(4):  # 32 px <= max_size: the original bytes, decoded exactly like the file
    original = cv2.imdecode(np.fromfile(root / 'JPEGImages' / '0a1b' / f'{5 * (4 + t):05d}.jpg',
                                        np.uint8), cv2.IMREAD_COLOR)
    np.testing.assert_array_equal(small[t], cv2.cvtColor(original, cv2.COLOR_BGR2RGB))
  assert np.stack(records[('ffee', 0)]['frames']).shape == (3, 48, 64, 3)  # 128 px scaled down
  with pytest.raises(media.DataError, match='no JPEGImages folder'):
    youtube_vos.builder(str(tmp_path / 'ytvos'), data_dir)


def test_mixture_draws_sources_by_weight():
  dark = [{'image': np.zeros((8, 8, 3), np.uint8), 'mask': np.zeros((8, 8, 1), np.uint8)}] * 10
  light = [{'image': np.full((12, 12, 3), 255, np.uint8),
            'mask': np.ones((12, 12, 1), np.uint8)}] * 10
  clips = [{'frames': np.zeros((4, 16, 16, 3), np.uint8)}] * 4
  ds = pipeline.train_dataset(pipeline.Mixture((dark, light), (3.0, 1.0)), clips, image_batch=40,
                              video_batch=2, clip_len=2, seed=0, augment=pipeline.Augmentation(),
                              size=8)
  it = pipeline.train_iterator(ds, prefetch=0)
  batches = [next(it) for _ in range(10)]
  light_share = np.mean([b['image'][i, 0, 0, 0] == 255 for b in batches for i in range(40)])
  assert light_share == pytest.approx(0.25, abs=0.05)
  assert batches[0]['image'].shape == (40, 8, 8, 3) and batches[0]['video'].shape == (2, 2, 8, 8, 3)
  # Labels are resized with nearest neighbours: still exactly 0/1.
  assert set(np.unique(np.stack([b['label'] for b in batches]))) == {0, 1}


# --- bad input: a clear error naming the file, and no dataset left looking complete ---


def test_corrupt_and_truncated_videos_name_the_file_and_leave_no_dataset(tmp_path, data_dir):
  folder = tmp_path / 'vids'
  folder.mkdir()
  write_mp4(folder / 'good.mp4', moving_square(10))
  data = (folder / 'good.mp4').read_bytes()
  (folder / 'noise.mp4').write_bytes(np.random.default_rng(0).bytes(4000))
  with pytest.raises(media.DataError, match='noise.mp4: cannot open as a video'):
    video_files.builder(str(folder), str(tmp_path / 'tfds'), chunk_len=4)
  assert not list((tmp_path / 'tfds').rglob('dataset_info.json'))
  os.remove(folder / 'noise.mp4')
  (folder / 'short.mp4').write_bytes(data[:len(data) * 2 // 3])
  with pytest.raises(media.DataError, match='short.mp4: (truncated|cannot open)'):
    video_files.builder(str(folder), str(tmp_path / 'tfds'), chunk_len=4)
  assert not list((tmp_path / 'tfds').rglob('dataset_info.json'))
  os.remove(folder / 'short.mp4')
  b = video_files.builder(str(folder), str(tmp_path / 'tfds'), chunk_len=4)
  assert len(b.as_data_source('train')) == 2


def write_vfr(path, frames, pts_ms):
  """A video with the frame times `pts_ms` (PyAV: OpenCV writes constant rates only)."""
  import av  # pylint: disable=g-import-not-at-top
  ms = fractions.Fraction(1, 1000)
  with av.open(str(path), 'w') as container:
    stream = container.add_stream('mpeg4', rate=30)
    stream.width, stream.height, stream.pix_fmt = frames[0].shape[1], frames[0].shape[0], 'yuv420p'
    stream.codec_context.time_base = stream.time_base = ms
    for f, t in zip(frames, pts_ms):
      frame = av.VideoFrame.from_ndarray(f, format='rgb24')
      frame.pts, frame.time_base = t, ms
      container.mux(stream.encode(frame))
    container.mux(stream.encode())


def test_variable_frame_rate_video_is_read_whole_whatever_its_header_declares(tmp_path, caplog):
  # Matroska stores no frame count: OpenCV estimates duration x mean rate, 67 for
  # these 20 frames spread over 2.2 s with gaps; every frame must still come out.
  path = tmp_path / 'vfr.mkv'
  pts = [0, 33, 66, 100, 500, 1000, 1033, 1066, 1100, 1133, 1166, 1200, 1233, 2000, 2033, 2066,
         2100, 2133, 2166, 2200]
  square = moving_square(20)
  write_vfr(path, square, pts)
  assert int(cv2.VideoCapture(str(path)).get(cv2.CAP_PROP_FRAME_COUNT)) != 20
  with caplog.at_level('WARNING'):
    frames = list(media.video_frames(str(path)))
  assert len(frames) == 20
  # The square moves 2 px per frame: frame t decodes where frame t was drawn.
  assert np.abs(np.stack(frames).astype(int) - np.stack(square)).mean() < 6
  assert 'vfr.mkv: decoded 20 frames, its header declares' in caplog.text
  b = video_files.builder(str(tmp_path), str(tmp_path / 'tfds'), chunk_len=8)
  assert len(b.as_data_source('train')) == 2  # 20 frames -> two chunks of 8


def test_trimmed_video_keeps_the_frames_that_decode_and_warns(tmp_path, caplog):
  # An AVI keeps its frame count in the header at the front, so a stream trimmed
  # after it was written (here: its second half gone) still opens.
  path = tmp_path / 'cut.avi'
  writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*'MJPG'), 10, (64, 48))
  for f in moving_square(30):
    writer.write(f)
  writer.release()
  assert len(list(media.video_frames(str(path)))) == 30
  data = path.read_bytes()
  path.write_bytes(data[:len(data) // 2])
  with caplog.at_level('WARNING'):
    frames = list(media.video_frames(str(path)))
  assert 5 < len(frames) < 30
  assert f'cut.avi: decoded {len(frames)} frames, its header declares 30' in caplog.text


def test_bad_davis_layouts_are_named(tmp_path, data_dir):
  m = np.zeros((24, 32), np.uint8)
  write_davis(tmp_path / 'count', {'seq': [m] * 3})
  os.remove(tmp_path / 'count' / 'Annotations' / '480p' / 'seq' / '00002.png')
  with pytest.raises(media.DataError, match=r'Annotations/480p/seq: 2 masks for the 3 frames'):
    davis.builder(str(tmp_path / 'count'), data_dir, '2017')

  write_davis(tmp_path / 'size', {'seq': [m, m, np.zeros((20, 32), np.uint8)]})
  with pytest.raises(media.DataError, match=r'seq/00002.png: mask is 32x20 \(WxH\) but its '
                                            r'frame is 32x24'):
    davis.builder(str(tmp_path / 'size'), data_dir, '2017')

  bad = m.copy()
  bad[3, 3] = 7
  write_davis(tmp_path / 'values', {'seq': [m, bad]}, year='2016')
  with pytest.raises(media.DataError, match=r'seq/00001.png: label values \[7\] are outside '
                                            r'\{0, 255\}'):
    davis.builder(str(tmp_path / 'values'), data_dir, '2016')

  with pytest.raises(media.DataError, match='does not exist'):
    davis.builder(str(tmp_path / 'nowhere'), data_dir, '2016')
  with pytest.raises(media.DataError, match='no manual dir given'):
    davis.builder('', data_dir, '2016')
  (tmp_path / 'empty').mkdir()
  with pytest.raises(media.DataError, match='empty: manual dir of vda_davis is empty'):
    davis.builder(str(tmp_path / 'empty'), data_dir, '2016')
  with pytest.raises(media.DataError, match='empty: manual dir of vda_video_files is empty'):
    video_files.builder(str(tmp_path / 'empty'), data_dir)
  (tmp_path / 'empty' / 'notes.txt').write_text('no videos here')
  with pytest.raises(media.DataError, match=r'empty: empty, expected video files'):
    video_files.builder(str(tmp_path / 'empty'), data_dir)
  with pytest.raises(media.DataError, match='empty: no JPEGImages/480p folder'):
    davis.builder(str(tmp_path / 'empty'), data_dir, '2016')


@needs_shared
def test_voc_label_outside_the_classes_is_named(tmp_path, data_dir):
  root = tmp_path / 'voc'
  (root / 'JPEGImages').mkdir(parents=True)
  (root / 'SegmentationClass').mkdir()
  shutil.copy(VOC / 'JPEGImages' / '2007_000063.jpg', root / 'JPEGImages')
  mask = np.array(Image.open(VOC / 'SegmentationClass' / '2007_000063.png'))
  mask[0, 0] = 30
  media.write_mask(root / 'SegmentationClass' / '2007_000063.png', mask)
  with pytest.raises(media.DataError, match=r'2007_000063.png: label values \[30\] are outside '
                                            'the 21 VOC classes'):
    voc.builder(str(root), data_dir, 'semantic')


def test_coco_annotation_with_an_unknown_category_is_named():
  ann = {'id': 7, 'category_id': 99, 'segmentation': [[0, 0, 4, 0, 4, 4]], 'area': 8}
  with pytest.raises(media.DataError, match=r'instances.json: annotation 7 has category_id 99'):
    coco.image_mask([ann], 5, 5, {1: 1}, 'semantic', 'instances.json')
  rle = {'id': 8, 'category_id': 1, 'segmentation': {'size': [4, 4], 'counts': [3, 2]}}
  with pytest.raises(media.DataError, match=r'annotation 8: RLE size \[4, 4\] differs from its '
                                            'image 5x5'):
    coco.image_mask([rle], 5, 5, {1: 1}, 'semantic', 'instances.json')


@needs_shared
def test_a_stop_while_coco_builds_for_its_class_names_leaves_no_dataset(tmp_path, monkeypatch):
  from test_segment import real_config
  config = real_config(str(tmp_path))
  config.data.update(task='semantic', train_images='coco/train')
  polls = []

  def stop_at_the_second_record():
    polls.append(1)
    return len(polls) == 2

  # The build polls through preemption.checked, whatever called it.
  monkeypatch.setattr(preemption, 'poll', stop_at_the_second_record)
  with pytest.raises(preemption.Interrupted):
    datasets.class_names(config.data)
  monkeypatch.undo()
  assert len(polls) == 2
  leftovers = [p for p in tmp_path.rglob('*')
               if 'incomplete' in p.name or p.name == 'dataset_info.json']
  assert leftovers == []  # a run stopped here finds no complete-looking COCO next time
  names = datasets.class_names(config.data)
  assert len(names) == 81 and names[:2] == ('background', 'person')


@needs_shared
def test_real_config_mixes_by_name_and_rejects_what_cannot_mix(data_dir):
  from test_segment import real_config
  config = real_config(data_dir)
  sources = datasets.load_sources(config.data)
  assert isinstance(sources['images/train'], pipeline.Mixture)
  assert sources['images/train'].weights == (2.0, 1.0)
  assert datasets.class_names(config.data) == ('background', 'object')
  config.data.update(task='semantic', train_images='voc/full')
  with pytest.raises(ValueError, match="davis has object masks, not classes"):
    datasets.load_sources(config.data)
  config.data.update(task='foreground', train_images='coco/nope')
  with pytest.raises(ValueError,
                     match=r"train_images: coco has no split 'nope'; it has \['train'\]"):
    datasets.load_sources(config.data)
  config.data.train_images = 'coco'
  with pytest.raises(ValueError, match=r"'coco' is not dataset/split\[:weight\]"):
    datasets.load_sources(config.data)


@needs_shared
def test_semantic_datasets_with_different_classes_do_not_mix(data_dir):
  from test_segment import real_config
  config = real_config(data_dir)
  config.data.update(task='semantic', train_images='coco/train,voc/full')
  with pytest.raises(ValueError, match=r"semantic image datasets \['coco', 'voc'\] have "
                                       'different classes'):
    datasets.load_sources(config.data)
  config.data.update(task='foreground', train_images='coco/train',
                     test_videos='video_files/train')
  with pytest.raises(ValueError, match='video_files has no masks to score against'):
    datasets.load_sources(config.data)
