r"""The embedded image->video benchmark (procedural; built on first use, no download).

Methods (the `method=` arg):
  source_only  supervised on labeled images only
  adversarial  + gradient-reversed domain loss at the taps in adversarial.taps
  upper_bound  + supervised loss on videos/train masks (uses video labels)

Architectures (the `model=` arg): cnn2d, cnn3d, segformer, segformer_st;
`size=tiny` (CPU) or `size=base` (accelerators).

Train one method:
  python -m vda_jax.main --config=configs/embedded.py:method=adversarial,model=segformer \
      --workdir=runs/adv --config.train.steps=1200
Compare methods (the README's main job):
  python scripts/experiment.py --config=configs/embedded.py --workdir=runs/default
"""
import ml_collections

from vda_jax.config_arg import parse_arg

METHODS = ('source_only', 'adversarial', 'upper_bound')

# Architecture fields by size: 'tiny' trains on CPU in minutes, 'base' is for accelerators.
CNN = {'tiny': dict(width=16, stage_widths=(1, 2, 4, 8), blocks_per_stage=1),
       'base': dict(width=64, stage_widths=(1, 2, 4, 8), blocks_per_stage=2)}
SEGFORMER = {'tiny': dict(size='nano', mlp_ratio=4), 'base': dict(size='b2', mlp_ratio=4)}
MODEL_FIELDS = {'cnn2d': CNN, 'cnn3d': CNN, 'segformer': SEGFORMER, 'segformer_st': SEGFORMER}
# Where the domain loss attaches for method=adversarial: the shallowest features.
# (README: a single-seed sweep of cnn2d taps found none that lifts video mIoU;
# stem had the best video J&F.)
DEFAULT_TAPS = {'cnn2d': 'stem', 'cnn3d': 'stem', 'segformer': 'patch_embed',
                'segformer_st': 'patch_embed'}


def get_config(arg=None):
  arg = parse_arg(arg, method='adversarial', model='cnn2d', size='tiny', seed=0)
  if arg.method not in METHODS:
    raise ValueError(f'method={arg.method!r}; expected one of {METHODS}')
  if arg.model not in MODEL_FIELDS or arg.size not in CNN:
    raise ValueError(f'model={arg.model!r}, size={arg.size!r}; expected a model in '
                     f'{sorted(MODEL_FIELDS)} and a size in {sorted(CNN)}')
  c = ml_collections.ConfigDict()
  c.seed = arg.seed
  c.method = arg.method

  c.data = dict(
      name='embedded',
      data_dir='',              # '' -> $VDA_DATA_DIR or ~/.cache/vda_jax/tensorflow_datasets
      seed=0,                   # the benchmark's seed, independent of the run's
      image_size=64,
      stored_clip_len=8,
      num_train_images=2000, num_test_images=256,
      num_train_clips=400, num_test_clips=96,
      artifacts=dict(blur=1.0, low_light=1.0, low_res=1.0, compression=1.0, framing=1.0),
  )
  c.input = dict(
      image_batch=16,           # global batch of labeled images
      video_batch=4,            # global batch of clips; each gives clip_len frames
      clip_len=4,
      augment=4,                # max random shift in px (with flips); 0 = off
      num_workers=0,            # Grain worker processes (0 = decode in this process)
      prefetch=2,
  )
  c.model = dict(
      name=arg.model, **MODEL_FIELDS[arg.model][arg.size],
      remat=False,              # jax.checkpoint each block: less memory, more compute
      dtype='float32',          # compute dtype ('bfloat16' on accelerators); params stay fp32
      image_as_clip='repeat',   # temporal models: an image is a static clip ('repeat' T times or 'single')
      pretrained='',            # .npz of backbone weights (scripts/convert_mit_weights.py)
  )
  c.adversarial = dict(
      taps=DEFAULT_TAPS[arg.model] if arg.method == 'adversarial' else '',  # 'name[:weight],...'
      weight=0.1,               # default weight of each tap's domain loss
      lambda_schedule='dann',   # 'dann' ramp or 'constant'
      lambda_max=1.0,
      disc_hidden=64,
      disc_depth=2,
  )
  c.optimizer = dict(lr=2e-3, warmup_steps=100, final_lr_fraction=0.05,
                     weight_decay=1e-4, b1=0.9, grad_clip=1.0)
  c.train = dict(
      steps=1200,
      video_label_weight=1.0 if arg.method == 'upper_bound' else 0.0,
      log_every=50,
      eval_every=600,
      checkpoint_every=600,
      keep_checkpoints=2,
  )
  c.eval = dict(image_batch=32, clip_batch=8)
  c.mesh = dict(data=-1)      # devices on the data axis; -1 = all
  c.lock()
  return c
