r"""Prints train-step figures for each architecture, and the input pipeline's throughput.

  python scripts/benchmark.py --models=cnn2d,cnn3d,segformer,segformer_st --steps=20
  python scripts/benchmark.py --models=segformer --set input.image_batch=32 --set data.image_size=96
  python scripts/benchmark.py --models= --pipeline_workers=0,1,2 --prefetch=2

Each model runs the config's adversarial step (domain loss at its last stage)
on random batches already on the device. The pipeline table times the Grain
train pipeline alone (the config's data, decode + resize + augment) with each
number of worker processes.
"""
from absl import app, flags

from vda_jax import benchmark
from vda_jax.config_arg import apply_overrides
from vda_jax.data import datasets
from vda_jax.experiment import load_config_module

flags.DEFINE_string('config', 'configs/embedded.py', 'Config file.')
flags.DEFINE_list('models', ['cnn2d', 'cnn3d', 'segformer', 'segformer_st'], 'Architectures.')
flags.DEFINE_string('size', 'tiny', 'Model size arg of the config.')
flags.DEFINE_integer('steps', 20, 'Timed steps (after 3 warm-up steps).')
flags.DEFINE_list('pipeline_workers', [], 'Grain worker counts to time the pipeline with.')
flags.DEFINE_integer('prefetch', 2, 'Pipeline prefetch (per worker, or threads with 0 workers).')
flags.DEFINE_integer('batches', 30, 'Timed pipeline batches.')
flags.DEFINE_multi_string('set', [], 'Config overrides, e.g. input.image_batch=32.')


def main(argv):
  del argv
  f = flags.FLAGS
  module = load_config_module(f.config)
  config_of = lambda name: apply_overrides(
      module.get_config(f'method=adversarial,model={name},size={f.size}'),
      ['adversarial.taps=stage4'] + f.set)
  if f.models:
    print('| model | params (model + disc) | compile s | median step ms | images/s | '
          'GFLOP/step | GFLOP/s | % of peak | peak host MiB | device MiB |')
    print('|---|---|---|---|---|---|---|---|---|---|')
  basis = None
  for name in f.models:
    r = benchmark.benchmark_step(config_of(name), steps=f.steps)
    basis = r['peak_basis']
    print(f"| {name} | {r['params_model']:,} + {r['params_disc']:,} | {r['compile_s']:.1f} | "
          f"{1000 * r['step_s']:.0f} | {r['frames_per_s']:.0f} | {r['gflop_per_step']:.2f} | "
          f"{r['gflop_per_s']:.1f} | {100 * r['peak_share']:.1f} | {r['peak_host_mib']:.0f} | "
          f"{r['device_mib']:.0f} |", flush=True)
  if basis:
    print(f'peak assumed: {basis}; images/s counts images + video frames of a step')
  if f.pipeline_workers:
    config = config_of(f.models[0] if f.models else 'cnn2d')
    sources = datasets.load_sources(config.data)
    print('| workers | prefetch | ms/batch | batches/s | examples/s | frames/s |')
    print('|---|---|---|---|---|---|')
    for workers in map(int, f.pipeline_workers):
      r = benchmark.pipeline_throughput(config, sources, num_workers=workers,
                                        prefetch=f.prefetch, batches=f.batches)
      print(f"| {workers} | {f.prefetch} | {1000 * r['batch_s']:.1f} | {r['batches_per_s']:.1f} | "
            f"{r['examples_per_s']:.0f} | {r['frames_per_s']:.0f} |", flush=True)


if __name__ == '__main__':
  app.run(main)
