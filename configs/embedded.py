r"""The embedded image->video benchmark (procedural; built on first use, no download).

Methods (the `method=` arg); every one is the same train step, configured:
  source_only  supervised on labeled images only
  adversarial  + global gradient-reversed domain loss at the shallowest tap (DANN)
  clustered    + the clustered domain loss at the shallowest tap (k-means on its
               features, one discriminator per cluster)
  adaptsegnet  + output-space adversarial at two levels: 'logits' and an
               auxiliary classifier on stage3 (Tsai et al., 2018)
  minent       + entropy minimisation on video predictions (ADVENT's MinEnt)
  cdan         + conditional adversarial on decoder features x predictions (CDAN)
  upper_bound  + supervised loss on videos/train masks (uses video labels)
Global and clustered terms combine at different taps, e.g.
  --config.adversarial.clustered.taps=patch_embed --config.adversarial.taps=stage4

Architectures (the `model=` arg): cnn2d, cnn3d, segformer, segformer_st;
`size=tiny` (CPU) or `size=base` (accelerators).

Train one method:
  python -m vda_jax.main --config=configs/embedded.py:method=adversarial,model=segformer \
      --workdir=runs/adv --config.train.steps=1000
Compare methods (the README's main job):
  python scripts/experiment.py --config=configs/embedded.py --workdir=runs/default
"""
import ml_collections

from vda_jax.config_arg import parse_arg

METHODS = ('source_only', 'adversarial', 'clustered', 'adaptsegnet', 'minent', 'cdan',
           'upper_bound')

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
  weight = 0.1                # default weight of each tap's domain loss
  shallow = DEFAULT_TAPS[arg.model]
  c.adversarial = dict(
      # Taps take 'name[:weight],...'; '' = off.
      taps={'adversarial': shallow,
            'adaptsegnet': f'logits,aux_logits:{weight / 5}'}.get(arg.method, ''),
      weight=weight,
      lambda_schedule='dann',   # 'dann' ramp or 'constant'
      lambda_max=1.0,
      disc_hidden=64,
      disc_depth=2,
      output_softmax=True,      # 'logits'/'aux_logits' taps reach discriminators as probabilities
      clustered=dict(
          taps=shallow if arg.method == 'clustered' else '',
          num_clusters=8,
          momentum=0.9,         # EMA of the centroids (mini-batch k-means)
          mode='per_cluster',   # 'per_cluster' discriminator heads, or one 'conditioned' on the id
          normalize=True,       # cluster L2-normalised features (their direction)
      ),
      cdan_taps='decoder' if arg.method == 'cdan' else '',
      entropy_weight=0.1 if arg.method == 'minent' else 0.0,
      aux_tap='stage3' if arg.method == 'adaptsegnet' else '',  # AdaptSegNet's auxiliary classifier
      aux_weight=0.1,           # its supervised loss weight
  )
  c.optimizer = dict(lr=2e-3, warmup_steps=100, final_lr_fraction=0.05,
                     weight_decay=1e-4, b1=0.9, eps=1e-8, grad_clip=1.0)
  c.train = dict(
      steps=1000,
      video_label_weight=1.0 if arg.method == 'upper_bound' else 0.0,
      log_every=50,
      eval_every=500,
      checkpoint_every=500,
      keep_checkpoints=2,
  )
  c.eval = dict(image_batch=32, clip_batch=8,
                skip_first_last=False)  # DAVIS drops each sequence's first and last frame from J&F
  # Device mesh (train/sharding.py): sizes of the 'data', 'fsdp' and 'model' axes, one may
  # be -1 (all remaining devices); leaves with >= fsdp_min_size elements are split on 'fsdp'.
  c.mesh = dict(data=-1, fsdp=1, model=1, fsdp_min_size=2**14)
  # Multi-process runs (train/distributed.py): '' = one process unless $VDA_COORDINATOR is
  # set; 'auto' on TPU pods / SLURM; or 'host:port' with num_processes and process_id.
  c.distributed = dict(coordinator='', num_processes=1, process_id=0, cpu_collectives='gloo')
  c.lock()
  return c
