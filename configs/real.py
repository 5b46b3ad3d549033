r"""Real data: labeled images (COCO, VOC, salient-object photos) -> videos (DAVIS, FBMS,
your own video files).

The embedded config's model, method and optimizer, with datasets the user has
placed on disk (nothing downloads; see README "Real data"). Each dataset is
built once into TFDS format under config.data.data_dir, keyed by its folder.

COCO images -> DAVIS-2017 videos, as in the original work (class-agnostic objects):
  python -m vda_jax.commands.train --config=configs/real.py:method=clustered,model=segformer \
      --config.data.manual_dirs.coco=/data/coco --config.data.manual_dirs.davis=/data/DAVIS \
      --workdir=runs/coco_davis
Mix COCO and VOC 2:1 and adapt to a folder of your own (unlabeled) videos:
  ... --config.data.train_images=coco/train:2,voc/train:1 \
      --config.data.train_videos=video_files/train --config.data.manual_dirs.voc=/data/VOC2012 \
      --config.data.manual_dirs.video_files=/data/my_videos
Adapt to the unlabeled frame folders of YouTube-VOS (or YouTube-VIS):
  ... --config.data.train_videos=youtube_vos/train \
      --config.data.manual_dirs.youtube_vos=/data/youtube-vos/train
Adapt to FBMS-59's training videos and score on its sparse test masks (not DAVIS's
first/last-frame rule):
  ... --config.data.train_videos=fbms/train --config.data.test_videos=fbms/test \
      --config.data.manual_dirs.fbms=/data/FBMS --config.eval.skip_first_last=False
"""
import os

from vda_jax.config_arg import load_config_module, parse_arg

_EMBEDDED = load_config_module(os.path.join(os.path.dirname(__file__), 'embedded.py'))


def get_config(arg=None):
  arg = parse_arg(arg, method='adversarial', model='segformer', size='tiny', seed=0)
  c = _EMBEDDED.get_config(f'method={arg.method},model={arg.model},size={arg.size},'
                           f'seed={arg.seed}')
  c.unlock()
  c.data = dict(
      name='real',
      data_dir='',              # built TFDS datasets; '' -> $VDA_DATA_DIR or ~/.cache/vda_jax/...
      image_size=128,           # the model's input; records are resized to it, scores are
                                # computed on masks resized back to each frame's size
      task='foreground',        # 'foreground' (objects, class-agnostic) or 'semantic' (classes)
      # 'dataset/split[:weight],...'; train splits may mix datasets, val and test splits
      # are one each. Val splits ('' = none) are what evaluations during training and
      # model selection score; test is scored once, after the last step.
      train_images='coco/train',
      val_images='',
      test_images='coco/val',
      train_videos='davis/train',
      val_videos='',
      test_videos='davis/val',
      manual_dirs=dict(coco='', voc='', salient='', davis='', fbms='', video_files='',
                       youtube_vos=''),
      coco_val_count=0,         # > 0: COCO's one-file layout holds out that many photos
                                # (the highest image ids) as the split 'val'
      salient_val_count=0,      # > 0: that many salient-object photos (smallest SHA-1 of
                                # their stems) form the split 'val'
      davis_year='2017',        # '2016' (binary 0/255 masks) or '2017' (palette, one id per object)
      davis_splits={},          # {split: (sequence, ...)} in place of ImageSets' splits
      # Training videos (davis, fbms, video_files, youtube_vos) are stored as records of
      # chunk_len frames with the longer side <= max_size: a clip sample decodes a few
      # small frames. Test videos stay whole sequences at full resolution.
      train_clips=dict(chunk_len=16, max_size=256),
      # COCO's and salient photos' training copies are stored with the longer side <= this
      # (0 = as they are); scored photos stay full size.
      train_images_max_size=0,
  )
  c.input.clip_len = 4
  c.eval.skip_first_last = True
  c.eval.split = ''  # no val data named: test is scored after the last step, and nothing before
  c.lock()
  return c
