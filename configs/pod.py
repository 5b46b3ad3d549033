r"""COCO images -> DAVIS-2017 videos at full resolution on a Cloud TPU pod slice (or GPU hosts).

real.py with the accelerator sizes: SegFormer-B2 backbone in bfloat16 at 480 px,
global batch 256 images + 64 clips of 8 frames, FSDP over 4 devices per data
replica, and the original work's method: the global loss on deep features and the
clustered loss on patch tokens (method=paper). Data and workdir live in
a bucket every worker reads (gs://...).

1. Build the TFDS datasets once, from one machine, into the bucket:
  python -c "from vda_jax.config_arg import load_config_module as l; \
      from vda_jax.data import datasets; \
      c = l('configs/pod.py').get_config(); c.data.data_dir = 'gs://BUCKET/tfds'; \
      c.data.manual_dirs.coco = '/data/coco'; c.data.manual_dirs.davis = '/data/DAVIS'; \
      datasets.load_sources(c.data)"
2. Launch on a v4-64 (32 chips), the same command on every worker:
  scripts/launch_tpu_pod.sh --name=vda-pod --zone=us-central2-b --type=v4-64 \
      --workdir=gs://BUCKET/runs/coco_davis -- --config=configs/pod.py:method=paper \
      --config.data.data_dir=gs://BUCKET/tfds --config.train.compile_cache_dir=gs://BUCKET/xla_cache
   (add --dry-run to print the commands; rerunning the same command resumes.)
"""
import os

from vda_jax.config_arg import load_config_module, parse_arg

_REAL = load_config_module(os.path.join(os.path.dirname(__file__), 'real.py'))


def get_config(arg=None):
  arg = parse_arg(arg, method='paper', model='segformer', size='base', seed=0)
  c = _REAL.get_config(f'method={arg.method},model={arg.model},size={arg.size},seed={arg.seed}')
  c.unlock()
  c.data.image_size = 480
  c.data.train_clips.max_size = 480
  c.input.update(image_batch=256, video_batch=64, clip_len=8, num_workers=8, prefetch=4)
  c.model.dtype = 'bfloat16'
  c.optimizer.update(lr=6e-4, warmup_steps=1500)
  c.train.update(steps=40_000, log_every=100, eval_every=5000, checkpoint_every=1000,
                 keep_checkpoints=3)
  c.eval.update(image_batch=128, clip_batch=32)
  c.mesh.update(data=-1, fsdp=4, model=1)
  c.distributed.coordinator = 'auto'  # TPU pods and SLURM: jax.distributed finds its peers
  c.lock()
  return c
