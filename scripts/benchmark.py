r"""Prints train-step figures for each architecture, and the input pipeline's throughput.

  python scripts/benchmark.py --models=cnn2d,cnn3d,segformer,segformer_st --steps=20
  python scripts/benchmark.py --models=segformer --set input.image_batch=32 --set data.image_size=96
  python scripts/benchmark.py --models= --pipeline_workers=0,1,2 --prefetch=2
  python scripts/benchmark.py --models=cnn2d --torch   # + the same step in PyTorch (optional extra)
  python scripts/benchmark.py --models=efficientnet_lite --torch --set adversarial.taps= \
      --set data.image_size=128 --set input.image_batch=16   # the source-only step and its twin
  python scripts/benchmark.py --models= --scaling=cnn3d,segformer_st --steps=3 --plot=scaling.png
  python scripts/benchmark.py --models= --init_compile=cnn2d,cnn3d,segformer,segformer_st

Each model runs the config's adversarial step (domain loss at its last stage)
on random batches already on the device; --devices=N shards it over N devices
(default 1, so figures are per device). The pipeline table times the Grain
train pipeline alone (the config's data, decode + resize + augment) with each
number of worker processes. --torch times the same 2D CNN step (same layers,
batch, resolution, losses, optimizer) in eager PyTorch in the same process and
prints the JAX/PyTorch step-time ratio; its FLOP count is XLA's for the JAX step.
--scaling varies one axis at a time around the config's point (batch b = b clips
+ 4b images, resolution, clip length T) and prints step time, GFLOP and XLA's
memory for the step (arguments + outputs + temporaries, per device).
--init_compile times compiling each model's state initialisation (`Experiment.init`,
which runs once) as the Experiment compiles it and at XLA's default -O3, and says
whether the two give the same bits.
"""
import math
import os
import sys

from absl import app, flags
import jax

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..'))
from benchmarks import measure  # noqa: E402  (the repository's benchmarks/, not installed)
from vda_jax import plots  # noqa: E402
from vda_jax.config_arg import apply_overrides, load_config_module  # noqa: E402
from vda_jax.data import datasets  # noqa: E402

flags.DEFINE_string('config', 'configs/embedded.py', 'Config file.')
flags.DEFINE_list('models', ['cnn2d', 'cnn3d', 'segformer', 'segformer_st'], 'Architectures.')
flags.DEFINE_string('size', 'tiny', 'Model size arg of the config.')
flags.DEFINE_bool('torch', False, 'Also time the cnn2d or efficientnet_lite step in PyTorch '
                  '(needs the torch extra).')
flags.DEFINE_integer('devices', 1, 'Devices the step is sharded over (1: per-device figures).')
flags.DEFINE_integer('steps', 20, 'Timed steps (after 3 warm-up steps).')
flags.DEFINE_list('pipeline_workers', [], 'Grain worker counts to time the pipeline with.')
flags.DEFINE_integer('prefetch', 2, 'Pipeline prefetch (per worker, or threads with 0 workers).')
flags.DEFINE_integer('batches', 30, 'Timed pipeline batches.')
flags.DEFINE_list('scaling', [], 'Models to time along the scaling axes.')
flags.DEFINE_list('scale_batch', ['1', '2', '4', '8'], 'Clips per step (images = 4x).')
flags.DEFINE_list('scale_resolution', ['32', '64', '96', '128'], 'Input sizes.')
flags.DEFINE_list('scale_clip_len', ['2', '4', '8'], 'Clip lengths T.')
flags.DEFINE_list('init_compile', [], 'Models whose init compile to time (as kept vs -O3).')
flags.DEFINE_string('plot', '', 'Where to write the scaling figure (PNG).')
flags.DEFINE_multi_string('set', [], 'Config overrides, e.g. input.image_batch=32.')
flags.DEFINE_string('table', '', 'Also append one Markdown row per model (device kind, setting, '
                    'compile s, step ms, share of peak, device MiB) to this file.')


def devices(f):
  if not 1 <= f.devices <= jax.device_count():
    raise app.UsageError(f'--devices={f.devices}: this host has {jax.device_count()} devices')
  return jax.devices()[:f.devices]


def scaling(f, config_of):
  print('| model | axis | value | median step ms | frames/s | GFLOP/step | step MiB |')
  print('|---|---|---|---|---|---|---|')
  rows = []
  for name in f.scaling:
    for axis, values in (('batch', f.scale_batch), ('resolution', f.scale_resolution),
                         ('clip_len', f.scale_clip_len)):
      for value in map(int, values):
        config = measure.scaled_config(config_of(name), axis, value)
        r = measure.benchmark_step(config, steps=f.steps, warmup=1, devices=devices(f))
        rows.append(dict(model=name, axis=axis, value=value, step_ms=1000 * r['step_s'],
                         step_mib=r['step_mib']))
        print(f"| {name} | {axis} | {value} | {1000 * r['step_s']:.0f} | {r['frames_per_s']:.0f} | "
              f"{r['gflop_per_step']:.2f} | {r['step_mib']:.0f} |", flush=True)
  return rows


def table_row(name, config, r, size):
  """One row of scripts/device_check.sh's table."""
  c = config
  setting = (f'{size}, {c.model.dtype}, {c.data.image_size} px, {c.input.image_batch} images '
             f'+ {c.input.video_batch}x{c.input.clip_len} frames')
  return (f"| {jax.devices()[0].device_kind} | {name} | {setting} | {r['compile_s']:.1f} | "
          f"{1000 * r['step_s']:.1f} | {r['frames_per_s']:.0f} | {r['gflop_per_step']:.1f} | "
          f"{100 * r['peak_share']:.1f} | "
          f"{'—' if math.isnan(r['device_mib']) else format(r['device_mib'], '.0f')} |")


def main(argv):
  del argv
  f = flags.FLAGS
  module = load_config_module(f.config)
  config_of = lambda name: apply_overrides(
      module.get_config(f'method=adversarial,model={name},size={f.size}'),
      ['adversarial.taps=stage4'] + f.set)
  if f.models:
    print('| model | params (model + disc) | HLO ops | compile s | median step ms | images/s | '
          'GFLOP/step | GFLOP/s | % of peak | peak host MiB | device MiB |')
    print('|---|---|---|---|---|---|---|---|---|---|---|')
  basis, ratios = None, []
  for name in f.models:
    r = measure.benchmark_step(config_of(name), steps=f.steps, devices=devices(f))
    basis = r['peak_basis']
    if f.table:
      with open(f.table, 'a') as out:
        out.write(table_row(name, config_of(name), r, f.size) + '\n')
    print(f"| {name} | {r['params_model']:,} + {r['params_disc']:,} | {r['hlo_ops']:,} | "
          f"{r['compile_s']:.1f} | "
          f"{1000 * r['step_s']:.0f} | {r['frames_per_s']:.0f} | {r['gflop_per_step']:.2f} | "
          f"{r['gflop_per_s']:.1f} | {100 * r['peak_share']:.1f} | {r['peak_host_mib']:.0f} | "
          f"{r['device_mib']:.0f} |", flush=True)
    if f.torch and name in ('cnn2d', 'efficientnet_lite'):
      t = measure.benchmark_torch_step(config_of(name), steps=f.steps)
      flops = r['gflop_per_step'] / t['step_s']
      print(f"| {name}, PyTorch {t['version']} eager ({t['threads']} threads) | same | - | - | "
            f"{1000 * t['step_s']:.0f} | {t['frames_per_s']:.0f} | {r['gflop_per_step']:.2f} | "
            f"{flops:.1f} | {100 * flops * 1e9 / r['peak_flops']:.1f} | "
            f"{t['peak_host_mib']:.0f} | - |", flush=True)
      ratios.append(f"JAX/PyTorch step-time ratio ({name}): {r['step_s'] / t['step_s']:.2f}")
  if basis:
    print(f'peak assumed: {basis}; images/s counts images + video frames of a step')
  for line in ratios:
    print(line)
  if f.scaling:
    rows = scaling(f, config_of)
    if f.plot:
      plots.scaling_figure(rows, f.plot)
  if f.init_compile:
    print('| model | init compile s (as compiled) | init compile s (-O3) | same state |')
    print('|---|---|---|---|')
    for name in f.init_compile:
      r = measure.init_compile(config_of(name), devices(f))
      print(f"| {name} | {r['compile_s']:.1f} | {r['o3_compile_s']:.1f} | "
            f"{'yes' if r['same_state'] else 'NO'} |", flush=True)
  if f.pipeline_workers:
    config = config_of(f.models[0] if f.models else 'cnn2d')
    sources = datasets.load_sources(config.data)
    print('| workers | prefetch | ms/batch | batches/s | examples/s | frames/s |')
    print('|---|---|---|---|---|---|')
    for workers in map(int, f.pipeline_workers):
      r = measure.pipeline_throughput(config, sources, num_workers=workers,
                                        prefetch=f.prefetch, batches=f.batches)
      print(f"| {workers} | {f.prefetch} | {1000 * r['batch_s']:.1f} | {r['batches_per_s']:.1f} | "
            f"{r['examples_per_s']:.0f} | {r['frames_per_s']:.0f} |", flush=True)


if __name__ == '__main__':
  app.run(main)
