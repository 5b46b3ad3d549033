r"""real-mini: real COCO photos -> real unlabeled videos, scored on real DAVIS-2016 sequences.

The folder (`root=`, default $VDA_REAL_MINI or ../shared/data/real-mini) holds
    coco/annotations.json + coco/images/   128 COCO train2017 photos (coco128-seg)
    videos/*.mp4                           unlabeled real videos (the video domain)
    DAVIS/JPEGImages|Annotations/480p/     DAVIS-2016 val sequences, every frame annotated
The README ("Real photos to real videos") says where to get the same files.

Task: foreground (a photo's instances, unioned, vs background; DAVIS's one object).
Splits, fixed here:
  photos   train = 100, val = the 28 with the highest COCO image ids (PHOTO_VAL)
  DAVIS    val = VAL_SEQUENCES (the oracle's labeled videos; also the project's
           davis2016-sample, so already seen by its tests), test = TEST_SEQUENCES
  videos   every unlabeled video is the video domain (training only)
Evaluations during training and model selection read the val splits only; the
test sequences are scored once, after the last step. Photos have no test split:
the image scores at the end are on the photo val split.
The upper bound trains on the VAL_SEQUENCES' masks as labeled video (the only
video labels not in test); its val scores are therefore not held out.

The recipe (scripts/real_mini.sh):
  vda-experiment --config=real_mini --workdir=runs/real_mini \
      --methods=source_only,adversarial,clustered,paper,upper_bound --parallel=2
One method:
  vda-train --config=configs/real_mini.py:method=clustered,root=/data/real-mini \
      --workdir=runs/real_mini_clustered
"""
import os

from vda_jax.config_arg import combinations, load_config_module, parse_arg, set_fields

_REAL = load_config_module(os.path.join(os.path.dirname(__file__), 'real.py'))

PHOTO_VAL = 28
VAL_SEQUENCES = ('blackswan', 'car-shadow')
TEST_SEQUENCES = ('breakdance', 'camel', 'car-roundabout', 'cows', 'dance-twirl', 'drift-chicane',
                  'drift-straight', 'goat', 'horsejump-high', 'kite-surf')
METHODS = ('source_only', 'adversarial', 'clustered', 'paper', 'upper_bound')


def default_root():
  return os.environ.get('VDA_REAL_MINI', os.path.join('..', 'shared', 'data', 'real-mini'))


# Source-only, made as strong as this data allows before any alignment is judged
# (vda-select --methods=source_only; docs/results.md): each candidate adds one step to
# the one before it, and names every field of the study, so that what RECIPE adopts
# leaves each candidate's config as it ran.
_PLAIN = {'input.scale_range': (1.0, 1.0), 'input.colour_jitter': 0.0, 'train.steps': 600,
          'model.init_from': ''}
_AUGMENTED = {**_PLAIN, 'input.scale_range': (0.5, 1.5), 'input.colour_jitter': 0.4}
SOURCE_ONLY_STEPS = (
    _PLAIN,                                                  # shift + flip
    {**_PLAIN, 'input.scale_range': (0.5, 1.5)},             # + random scale and crop
    _AUGMENTED,                                              # + colour jitter
    {**_AUGMENTED, 'train.steps': 1200},                     # + twice the schedule
    # + pretraining on the embedded benchmark: a source-only network trained there first
    # (vda-train --config=embedded:method=source_only --workdir=runs/embedded_source_only),
    # its classifier over other classes left out.
    {**_AUGMENTED, 'model.init_from': os.path.join('runs', 'embedded_source_only')},
)


# Chosen on the val splits, seed 0 (docs/results.md, "real-mini"): the recipe every
# method shares is source-only's best candidate (segformer, augmented, 600 steps);
# each method's fields are the oracle's pick among its candidates.
RECIPE = _AUGMENTED
SELECTED = {
    'adversarial': {'optimizer.disc.lr': 2e-4},
    'clustered': {'optimizer.disc.lr': 2e-3},
    'paper': {'optimizer.disc.lr': 2e-3},
}


def search_space(method, model):
  """Model selection (vda-select): source-only's steps above (for segformer the
  augmented one); for global, clustered and `paper` alike the discriminators' lr
  (the axis on which a discriminator falls behind or keeps up, docs/results.md)."""
  if method == 'source_only':
    return [dict(c) for c in (SOURCE_ONLY_STEPS if model == 'cnn2d' else SOURCE_ONLY_STEPS[2:3])]
  axes = {
      'adversarial': {'optimizer.disc.lr': (2e-4, 2e-3)},
      'clustered': {'optimizer.disc.lr': (2e-4, 2e-3)},
      'paper': {'optimizer.disc.lr': (2e-4, 2e-3)},
  }.get(method, {})
  return combinations(axes)


def get_config(arg=None):
  arg = parse_arg(arg, method='source_only', model='segformer', size='tiny', seed=0,
                  root=default_root())
  root = os.path.abspath(arg.root)
  c = _REAL.get_config(f'method={arg.method},model={arg.model},size={arg.size},seed={arg.seed}')
  c.unlock()
  c.data.update(
      image_size=64,
      manual_dirs=dict(coco=os.path.join(root, 'coco'), davis=os.path.join(root, 'DAVIS'),
                       video_files=os.path.join(root, 'videos'), voc='', fbms='',
                       youtube_vos='', salient=''),
      train_images='coco/train', val_images='coco/val', test_images='coco/val',
      # The upper bound's labeled videos: the val sequences (test stays unseen).
      train_videos='davis/val' if arg.method == 'upper_bound' else 'video_files/train',
      val_videos='davis/val', test_videos='davis/test',
      coco_val_count=PHOTO_VAL, davis_year='2016',
      # Training photos and clips at twice the model's input: small to decode, and a
      # random-scale window down to half still has the input's resolution.
      train_images_max_size=128, train_clips=dict(chunk_len=16, max_size=128),
      davis_splits=dict(val=VAL_SEQUENCES, test=TEST_SEQUENCES))
  set_fields(c, {**RECIPE, **SELECTED.get(arg.method, {})})
  c.train.update(steps=600, eval_every=200, checkpoint_every=200)
  c.eval.update(split='val', final_split='test')
  c.lock()
  return c
