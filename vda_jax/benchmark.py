"""Step-time benchmark of the jitted train step, per architecture.

Times the full adversarial step (supervised + gradient-reversed domain loss,
one update) on random uint8 batches already on the device, so the figures are
the step alone, not the input pipeline.
"""
import resource
import statistics
import time

import jax
import numpy as np

from vda_jax.train import loop
from vda_jax.train import sharding as shd


def random_batch(config, seed=0):
  rng = np.random.default_rng(seed)
  s, t = config.data.image_size, config.input.clip_len
  return {'image': rng.integers(0, 256, (config.input.image_batch, s, s, 3), np.uint8),
          'label': rng.integers(0, 5, (config.input.image_batch, s, s), np.uint8),
          'video': rng.integers(0, 256, (config.input.video_batch, t, s, s, 3), np.uint8)}


def count_params(params):
  return sum(int(np.prod(x.shape)) for x in jax.tree.leaves(params))


def benchmark_step(config, steps=20, warmup=3, devices=None):
  """Figures for one config: params, compile s, median step s, frames/s, GFLOP/step, peak host MiB."""
  exp = loop.build_experiment(config, devices)
  state = exp['init'](jax.random.key(0))
  batch = shd.to_global(random_batch(config), exp['mesh'])
  rng = jax.random.key(0)
  t0 = time.perf_counter()
  compiled = exp['step'].lower(state, batch, rng).compile()
  compile_s = time.perf_counter() - t0
  cost = compiled.cost_analysis()
  cost = cost[0] if isinstance(cost, (list, tuple)) else cost
  times = []
  for i in range(warmup + steps):
    t0 = time.perf_counter()
    state, metrics = compiled(state, batch, rng)
    jax.block_until_ready(metrics)
    if i >= warmup:
      times.append(time.perf_counter() - t0)
  median = statistics.median(times)
  frames = config.input.image_batch + config.input.video_batch * config.input.clip_len
  return {
      'params_model': count_params(state.params['model']),
      'params_disc': count_params(state.params['disc']),
      'compile_s': compile_s,
      'step_s': median,
      'frames_per_s': frames / median,
      'gflop_per_step': float(cost.get('flops', float('nan'))) / 1e9,
      'peak_host_mib': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
  }
