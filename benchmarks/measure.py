"""Measurements: the jitted train step per architecture, and the input pipeline alone.

`benchmark_step` times the full adversarial step (supervised +
gradient-reversed domain loss, one update) on random uint8 batches already on
the device, so its figures are the step alone. `init_compile` times compiling
the run's `init` as the Experiment compiles it and at XLA's default -O3, and
checks both give the same state. `pipeline_throughput` times the Grain
pipeline alone (no model).
"""
import os
import re
import resource
import statistics
import time

import jax
import numpy as np

from benchmarks.batches import random_batch
from vda_jax.data import datasets
from vda_jax.train import sharding as shd
from vda_jax.train.experiment import Experiment, train_iterator

# Dense peak FLOP/s per device by `device_kind` (vendor datasheets, no sparsity):
# fp32 for GPUs' CUDA cores would be far lower; these are the bf16 matrix-unit
# peaks a bf16 run can approach.
ACCELERATOR_PEAK_FLOPS = {
    'NVIDIA H100 80GB HBM3': 989e12, 'NVIDIA H200': 989e12, 'NVIDIA A100-SXM4-80GB': 312e12,
    'NVIDIA A100-SXM4-40GB': 312e12, 'TPU v4': 275e12, 'TPU v5 lite': 197e12, 'TPU v5p': 459e12,
}


def cpu_peak_flops():
  """fp32 peak of this host: cores x clock x FLOP/cycle (2 FMA pipes x 8 AVX2 lanes x 2
  = 32, or 64 with AVX-512), from /proc/cpuinfo; (None, reason) where it cannot tell."""
  try:
    with open('/proc/cpuinfo') as f:
      info = f.read()
  except OSError:
    return None, 'no /proc/cpuinfo'
  mhz = [float(m) for m in re.findall(r'cpu MHz\s*:\s*([\d.]+)', info)]
  if not mhz:
    return None, 'no clock in /proc/cpuinfo'
  per_cycle = 64 if ' avx512f' in info else 32 if ' avx2' in info and ' fma' in info else 8
  cores = len(os.sched_getaffinity(0))
  return cores * statistics.mean(mhz) * 1e6 * per_cycle, (
      f'{cores} cores x {statistics.mean(mhz) / 1e3:.2f} GHz x {per_cycle} fp32 FLOP/cycle')


def peak_flops(device):
  """(peak FLOP/s of the devices of this kind on this host, how it was assumed)."""
  if device.platform == 'cpu':
    return cpu_peak_flops()
  peak = ACCELERATOR_PEAK_FLOPS.get(device.device_kind)
  if not peak:
    return None, f'unknown {device.device_kind}'
  return peak, f'{device.device_kind} datasheet'


def hlo_ops(text):
  """Operations in a lowered computation's StableHLO text (one per `%x = op` line)."""
  return len(re.findall(r'^\s*%[^=]+= ', text, re.M))


def count_params(params):
  return sum(int(np.prod(x.shape)) for x in jax.tree.leaves(params))


def frames_per_step(config):
  """Images plus video frames in one train batch."""
  return config.input.image_batch + config.input.video_batch * config.input.clip_len


def median_seconds(run_once, steps, warmup):
  """Median wall time of `run_once()`, which returns only when its work is done."""
  times = []
  for i in range(warmup + steps):
    t0 = time.perf_counter()
    run_once()
    if i >= warmup:
      times.append(time.perf_counter() - t0)
  return statistics.median(times)


def benchmark_step(config, steps=20, warmup=3, devices=None):
  """Figures for one config: params, compile s, median step s, frames/s, GFLOP/step, peak
  host MiB."""
  exp = Experiment.from_config(config, devices)
  state = exp.init(jax.random.key(0))
  batch = shd.to_global(random_batch(config), exp.mesh)
  t0 = time.perf_counter()
  lowered = exp.step.lower(state, batch)
  compiled = lowered.compile()
  compile_s = time.perf_counter() - t0
  # XLA's count on the step as lowered, before backend passes: the same on every backend
  # (a GPU's compiled module hides convs and matmuls in cuDNN/cuBLAS calls it does not count).
  cost = lowered.cost_analysis()
  cost = cost[0] if isinstance(cost, (list, tuple)) else cost
  params = {k: count_params(state.params[k]) for k in ('model', 'disc')}
  carry = [state]  # the step donates its state: each call consumes the last one

  def run_once():
    carry[0], metrics = compiled(carry[0], batch)
    jax.block_until_ready(metrics)

  median = median_seconds(run_once, steps, warmup)
  flops = float(cost.get('flops', float('nan')))
  devices = exp.mesh.devices.ravel()
  peak, peak_basis = peak_flops(devices[0])
  if peak is not None and devices[0].platform != 'cpu':
    peak *= len(devices)  # the CPU figure already counts every core the devices share
  mem = compiled.memory_analysis()
  mem = mem[0] if isinstance(mem, (list, tuple)) else mem
  memory = [d.memory_stats() or {} for d in devices]
  device_bytes = [m.get('peak_bytes_in_use', m.get('bytes_in_use')) for m in memory]
  return {
      'params_model': params['model'],
      'params_disc': params['disc'],
      'compile_s': compile_s,
      # Operations in the lowered (StableHLO) step: what unrolled Python loops inflate.
      'hlo_ops': hlo_ops(lowered.as_text()),
      'step_s': median,
      'frames_per_s': frames_per_step(config) / median,
      'gflop_per_step': flops / 1e9,
      'gflop_per_s': flops / median / 1e9,
      'peak_share': flops / median / peak if peak else float('nan'),
      'peak_flops': peak if peak else float('nan'),
      'peak_basis': peak_basis,
      'peak_host_mib': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
      # XLA's buffer assignment for the compiled step (any backend): live arguments,
      # outputs not aliased to donated inputs, and temporaries (activations kept for
      # the backward pass); the peak a device needs for one step, per device.
      'step_mib': (mem.argument_size_in_bytes + mem.output_size_in_bytes
                   - mem.alias_size_in_bytes + mem.temp_size_in_bytes) / 2**20,
      # CPU devices report no memory stats; accelerators report their peak in use.
      'device_mib': (max(device_bytes) / 2**20 if all(b is not None for b in device_bytes)
                     else float('nan')),
  }


def init_compile(config, devices=None):
  """Seconds to compile the Experiment's `init` as it compiles it and at XLA's default
  backend level (-O3), and whether both programs give bit-identical states."""
  exp = Experiment.from_config(config, devices)
  rng = jax.random.key(config.seed)
  lowered = exp.init.lower(rng)
  seconds, states = [], []
  for options in (None, {'xla_backend_optimization_level': 3}):  # None: the Experiment's
    t0 = time.perf_counter()
    compiled = lowered.compile(compiler_options=options)
    seconds.append(time.perf_counter() - t0)
    states.append(jax.device_get(compiled(rng)))
  same = all(np.array_equal(a, b) for a, b in zip(*map(jax.tree.leaves, states)))
  return {'compile_s': seconds[0], 'o3_compile_s': seconds[1], 'same_state': same}


# Scaling curves: one axis at a time around the config's point (overrides per value).
SCALING_AXES = {
    'batch': lambda b: {'input.video_batch': b, 'input.image_batch': 4 * b},
    'resolution': lambda s: {'data.image_size': s},
    'clip_len': lambda t: {'input.clip_len': t, 'data.stored_clip_len': max(t, 8)},
}


def scaled_config(config, axis, value):
  """A copy of `config` moved to `value` along one of SCALING_AXES."""
  config = config.copy_and_resolve_references()
  for key, v in SCALING_AXES[axis](value).items():
    section, field = key.split('.')
    config[section][field] = v
  return config


def benchmark_torch_step(config, steps=20, warmup=3):
  """Median step s and frames/s of the same step in eager PyTorch, on the same random batch:
  the 2D CNN (`torch_baseline`) or EfficientNet-Lite + FPN (`torch_efficientnet`); needs the
  optional `torch` extra."""
  import torch  # pylint: disable=g-import-not-at-top

  from benchmarks import torch_baseline, torch_efficientnet  # pylint: disable=g-import-not-at-top
  twin = (torch_efficientnet if config.model.name == 'efficientnet_lite' else torch_baseline)
  step = twin.TrainStep(config, len(datasets.class_names(config.data)))
  batch = random_batch(config)
  # step() returns a Python float, so the step has finished when it returns.
  median = median_seconds(lambda: step(batch), steps, warmup)
  return {'step_s': median, 'frames_per_s': frames_per_step(config) / median,
          'threads': torch.get_num_threads(),
          'version': torch.__version__,
          'peak_host_mib': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def pipeline_throughput(config, sources, *, num_workers, prefetch, batches=30, warmup=3):
  """Batches/s and examples/s of the Grain train pipeline alone (decode, resize, augment)."""
  config = config.copy_and_resolve_references()
  config.input.num_workers, config.input.prefetch = num_workers, prefetch
  it = train_iterator(config, sources)
  for _ in range(warmup):  # worker start-up and the first decodes
    next(it)
  t0 = time.perf_counter()
  for _ in range(batches):
    next(it)
  dt = (time.perf_counter() - t0) / batches
  examples = config.input.image_batch + config.input.video_batch
  return {'batch_s': dt, 'batches_per_s': 1 / dt, 'examples_per_s': examples / dt,
          'frames_per_s': frames_per_step(config) / dt}
