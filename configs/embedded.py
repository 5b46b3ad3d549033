r"""The embedded image->video benchmark (procedural; built on first use, no download).

Methods (the `method=` arg; the table is `method_fields`); every one is the
same train step, configured:
  source_only       supervised on labeled images only
  adversarial       + global gradient-reversed domain loss at the shallow tap (DANN)
  adversarial_deep  + the same at the deep tap (stage4)
  clustered         + the clustered domain loss at the shallow tap (k-means on its
                    features, one discriminator head per cluster)
  paper             + global at the deep tap and clustered at the shallow tap, as
                    the original work combines them
  adaptsegnet       + output-space adversarial at two levels: 'logits' and an
                    auxiliary classifier on stage3, fully convolutional
                    discriminators (Tsai et al., 2018)
  minent            + entropy minimisation on video predictions (ADVENT's MinEnt)
  cdan              + conditional adversarial on decoder features x detached
                    predictions (CDAN)
  upper_bound       + supervised loss on videos/train masks (uses video labels)
Global and clustered terms combine at different taps, e.g.
  --config.adversarial.clustered.taps=patch_embed --config.adversarial.taps=stage4

Architectures (the `model=` arg): cnn2d, cnn3d, segformer, segformer_st;
`size=tiny` (CPU) or `size=base` (accelerators).

Train one method:
  python -m vda_jax.commands.train --config=configs/embedded.py:method=adversarial,model=segformer \
      --workdir=runs/adv --config.train.steps=1000
Compare methods (the README's main job):
  python scripts/experiment.py --config=configs/embedded.py --workdir=runs/default
"""

import ml_collections
from ml_collections.config_dict import placeholder

from vda_jax.config_arg import combinations, parse_arg, set_fields

# Architecture fields by size: 'tiny' trains on CPU in minutes, 'base' is for accelerators.
CNN = {'tiny': dict(width=16, stage_widths=(1, 2, 4, 8), blocks_per_stage=1),
       'base': dict(width=64, stage_widths=(1, 2, 4, 8), blocks_per_stage=2)}
# depthwise_impl: how depthwise convs are computed (vda_jax/models/depthwise.py): 'auto' is
# shifted slices on CPU and XLA's grouped conv elsewhere.
SEGFORMER = {'tiny': dict(size='nano', mlp_ratio=4, depthwise_impl='auto'),
             'base': dict(size='b2', mlp_ratio=4, depthwise_impl='auto')}
# EfficientNet-Lite: ImageNet weights with model.pretrained='efficientnet_lite0' (or 1, 2;
# the variant must match); BatchNorm statistics frozen ('per_domain_batch': AdaBN).
EFFICIENTNET = {'tiny': dict(variant='lite0', decoder='fpn', decoder_dim=64, bn_stats='frozen',
                             depthwise_impl='auto'),
                'base': dict(variant='lite2', decoder='fpn', decoder_dim=128, bn_stats='frozen',
                             depthwise_impl='auto')}
MODEL_FIELDS = {'cnn2d': CNN, 'cnn3d': CNN, 'segformer': SEGFORMER, 'segformer_st': SEGFORMER,
                'efficientnet_lite': EFFICIENTNET}
# Shallow taps (stem / patch-embedding features) and deep ones (the last encoder stage).
SHALLOW = {'cnn2d': 'stem', 'cnn3d': 'stem', 'segformer': 'patch_embed',
           'segformer_st': 'patch_embed', 'efficientnet_lite': 'stem'}
DEEP = 'stage4'


def method_fields(method, model):
  """{config field: value} that turn the shared config into `method` for `model`."""
  shallow = SHALLOW[model]
  return {
      'source_only': {},
      'adversarial': {'adversarial.taps': shallow},
      'adversarial_deep': {'adversarial.taps': DEEP},
      'clustered': {'adversarial.clustered.taps': shallow},
      # The original work: global alignment of deep features, clustered alignment
      # of the shallow (patch-embedding) ones.
      'paper': {'adversarial.taps': DEEP, 'adversarial.clustered.taps': shallow},
      # Tsai et al. 2018: output space at two levels, fully convolutional
      # discriminators (4 + 1 convs, 4x4 stride 2) on Adam at 1e-4, lambda_adv
      # 0.001 (main output) and 0.0002 (auxiliary classifier), constant.
      'adaptsegnet': {'adversarial.taps': 'logits:0.001,aux_logits:0.0002',
                      'adversarial.disc_type': 'conv', 'adversarial.disc_depth': 4,
                      'adversarial.aux_tap': 'stage3',
                      'adversarial.lambda_schedule': 'constant', 'optimizer.disc.lr': 1e-4},
      'minent': {'adversarial.entropy_weight': 0.1},
      'cdan': {'adversarial.cdan_taps': 'decoder'},
      'upper_bound': {'train.video_label_weight': 1.0},
  }[method]


# The video domain (the `preset=` arg): strengths of the artifacts in vda_jax/data/synthetic.py.
#   full         what separates consumer video from photos, information loss
#                included (motion blur, low light, low resolution, compression,
#                framing at the edges)
#   photometric  information-preserving shifts only: low light with gamma and
#                sensor noise, a colour cast (white balance), lower contrast; the
#                classic setting where feature alignment is known to work
#                (MNIST -> MNIST-M in Ganin et al., JMLR 2016)
PRESETS = {
    'full': dict(blur=1.0, low_light=1.0, low_res=1.0, compression=1.0, framing=1.0,
                 colour_cast=0.0, contrast=0.0),
    'photometric': dict(blur=0.0, low_light=1.0, low_res=0.0, compression=0.0, framing=0.0,
                        colour_cast=1.0, contrast=1.0),
}

METHODS = ('source_only', 'adversarial', 'adversarial_deep', 'clustered', 'paper',
           'adaptsegnet', 'minent', 'cdan', 'upper_bound')


def search_space(method, model):
  """Model selection (scripts/model_selection.py): the candidate field values of `method`, one
  dict per candidate (every combination of the axes below); [{}] where there is
  nothing to select. The oracle (videos/val) or DEV picks one per method."""
  axes = {
      # The discriminators' lr (adversarial, paper): at 2e-4 the deep tap's discriminator
      # can fall behind the network (accuracy below chance, docs/results.md).
      'adversarial': {'adversarial.taps': (SHALLOW[model], DEEP),
                      'adversarial.weight': (0.1, 0.3), 'adversarial.lambda_max': (0.3, 1.0),
                      'optimizer.disc.lr': (2e-4, 2e-3)},
      'clustered': {'adversarial.clustered.num_clusters': (4, 8, 16),
                    'adversarial.weight': (0.1, 0.3)},
      'paper': {'adversarial.clustered.num_clusters': (4, 8), 'adversarial.weight': (0.1, 0.3),
                'optimizer.disc.lr': (2e-4, 2e-3)},
      'cdan': {'adversarial.weight': (0.1, 0.3), 'adversarial.lambda_max': (0.3, 1.0)},
      # From ADVENT's 0.001 up: at 0.1 and above, predictions collapse to background on
      # videos/val (docs/results.md).
      'minent': {'adversarial.entropy_weight': (0.001, 0.01, 0.03, 0.1, 0.3)},
      'adaptsegnet': {'adversarial.lambda_max': (1.0, 10.0)},
  }.get(method, {})
  return combinations(axes)


def get_config(arg=None):
  arg = parse_arg(arg, method='adversarial', model='cnn2d', size='tiny', seed=0, preset='full')
  if arg.method not in METHODS:
    raise ValueError(f'method={arg.method!r}; expected one of {METHODS}')
  if arg.preset not in PRESETS:
    raise ValueError(f'preset={arg.preset!r}; expected one of {sorted(PRESETS)}')
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
      # An object's size (disk radius) / image size; with lr 5e-3 and 2000 steps
      # source-only cnn2d fits the images (calibration: docs/results.md).
      object_scale=(0.2, 0.3),
      stored_clip_len=8,
      num_train_images=2000, num_test_images=256,
      num_train_clips=400, num_test_clips=96,
      # Held out for model selection (scripts/model_selection.py), never read by training:
      # labeled source images (DEV's validation risk) and a small labeled video
      # split (the oracle).
      num_val_images=256, num_val_clips=16,
      preset=arg.preset,        # which row of PRESETS `artifacts` came from (a record)
      artifacts=dict(PRESETS[arg.preset]),  # maximum strength of each video artifact
  )
  c.input = dict(
      image_batch=16,           # global batch of labeled images
      video_batch=4,            # global batch of clips; each gives clip_len frames
      clip_len=4,
      augment=4,                # max random shift in px (with flips); 0 = off
      scale_range=(1.0, 1.0),   # random window, sides this fraction of the record's (1 = off)
      colour_jitter=0.0,        # brightness/contrast/saturation factors in 1 +- this
      num_workers=0,            # Grain worker processes (0 = decode in this process)
      prefetch=2,               # batches read ahead (by this many threads, or per worker)
  )
  c.model = dict(
      name=arg.model, **MODEL_FIELDS[arg.model][arg.size],
      remat=False,              # jax.checkpoint each block: less memory, more compute
      dtype='float32',          # compute dtype ('bfloat16' on accelerators); params stay fp32
      image_as_clip='repeat',   # temporal models: an image is a static clip ('repeat' T times,
                                # or 'single')
      pretrained='',            # backbone weights: a .npz (vda-convert-mit), or for
                                # efficientnet_lite a packaged name ('efficientnet_lite0')
                                # or a .pth/.safetensors in the port's or timm's names
      init_from='',             # a run's workdir: start from its network (same-shape entries)
  )
  c.adversarial = dict(
      taps='',                  # global terms: 'name[:weight],...' ('' = off)
      weight=0.1,               # weight of a tap named without one
      lambda_schedule='dann',   # 'dann' ramp or 'constant'
      lambda_max=1.0,
      disc_type='pixel',        # global discriminators: 'pixel' (per-position MLP) or 'conv'
                                # (fully convolutional, 4x4 stride 2, AdaptSegNet)
      disc_hidden=64,           # pixel: hidden width; conv: width of the first layer (doubles)
      disc_depth=2,             # pixel: hidden layers; conv: stride-2 layers before the output
      output_softmax=True,      # 'logits'/'aux_logits' taps reach discriminators as probabilities
      # Global and output-space terms: 'minimax' (through the gradient reversal) or
      # 'nonsaturating' (the network on flipped domain labels; adversarial.terms.GlobalDomain).
      gan_loss='minimax',
      clustered=dict(
          taps='',
          num_clusters=8,
          momentum=0.9,         # EMA of the centroids (mini-batch k-means)
          mode='per_cluster',   # 'per_cluster' discriminator heads, or one 'conditioned' on the id
          normalize=True,       # cluster L2-normalised features (their direction)
          # Its own weight, GRL maximum and discriminators' lr (None: adversarial.weight,
          # adversarial.lambda_max, optimizer.disc.lr), so that `paper`'s two terms are
          # selected apart.
          weight=placeholder(float), lambda_max=placeholder(float),
          disc_lr=placeholder(float),
      ),
      cdan_taps='',
      entropy_weight=0.0,
      aux_tap='',               # AdaptSegNet's auxiliary classifier reads this tap
      aux_weight=0.1,           # its supervised loss weight
      # More terms, by name: {name: {type: a registered term (vda_jax.adversarial.terms),
      # taps: 'name[:weight],...', its other fields}}; a fork's config adds its own here.
      terms=ml_collections.ConfigDict(),
  )
  c.optimizer = dict(lr=5e-3, warmup_steps=100, final_lr_fraction=0.05,
                     weight_decay=1e-4, b1=0.9, b2=0.999, eps=1e-8, grad_clip=1.0,
                     # The discriminators' own AdamW (same warm-up + cosine shape).
                     disc=dict(lr=2e-4, b1=0.9, b2=0.99, weight_decay=0.0, grad_clip=0.0))
  c.train = dict(
      steps=2000,
      video_label_weight=0.0,   # > 0: video masks are labels too (the upper bound)
      log_every=50,
      eval_every=500,
      checkpoint_every=500,
      keep_checkpoints=2,
      # XLA's persistent compilation cache: a restarted run loads its compiled step
      # ('' = JAX's own setting; a gs:// path on pods).
      compile_cache_dir='~/.cache/vda_jax/xla',
      profile_steps='',         # 'START:STOP': jax.profiler trace of those steps -> workdir/profile
  )
  c.eval = dict(image_batch=32, clip_batch=8,
                skip_first_last=False,  # DAVIS drops each sequence's first and last frame from J&F
                # Every eval_every steps the val splits are scored (logged as 'val/...'; ''
                # = no evaluation before the end); test only once, after the last step
                # ('' = never: model selection).
                split='val', final_split='test')
  # Device mesh (train/sharding.py): sizes of the 'data', 'fsdp' and 'model' axes, one may
  # be -1 (all remaining devices); leaves with >= fsdp_min_size elements are split on 'fsdp'.
  c.mesh = dict(data=-1, fsdp=1, model=1, fsdp_min_size=2**14)
  # Multi-process runs (train/distributed.py): '' = one process unless $VDA_COORDINATOR is
  # set; 'auto' on TPU pods / SLURM; or 'host:port' with num_processes and process_id.
  c.distributed = dict(coordinator='', num_processes=1, process_id=0, cpu_collectives='gloo')
  set_fields(c, method_fields(arg.method, arg.model))
  c.lock()
  return c
