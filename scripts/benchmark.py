r"""Prints train-step figures for each architecture on this machine.

  python scripts/benchmark.py --models=cnn2d,cnn3d,segformer,segformer_st --steps=20
  python scripts/benchmark.py --models=segformer --set input.image_batch=32 --set data.image_size=96

Each model runs the embedded config's adversarial step (domain loss at its
last stage) on random batches already on the device.
"""
from absl import app, flags

from vda_jax import benchmark
from vda_jax.config_arg import apply_overrides
from vda_jax.experiment import load_config_module

flags.DEFINE_string('config', 'configs/embedded.py', 'Config file.')
flags.DEFINE_list('models', ['cnn2d', 'cnn3d', 'segformer', 'segformer_st'], 'Architectures.')
flags.DEFINE_string('size', 'tiny', 'Model size arg of the config.')
flags.DEFINE_integer('steps', 20, 'Timed steps (after 3 warm-up steps).')
flags.DEFINE_multi_string('set', [], 'Config overrides, e.g. input.image_batch=32.')


def main(argv):
  del argv
  f = flags.FLAGS
  module = load_config_module(f.config)
  print('| model | params (model + disc) | compile s | median step ms | frames/s | GFLOP/step | peak host MiB |')
  print('|---|---|---|---|---|---|---|')
  for name in f.models:
    config = apply_overrides(module.get_config(f'method=adversarial,model={name},size={f.size}'),
                             ['adversarial.taps=stage4'] + f.set)
    r = benchmark.benchmark_step(config, steps=f.steps)
    print(f"| {name} | {r['params_model']:,} + {r['params_disc']:,} | {r['compile_s']:.1f} | "
          f"{1000 * r['step_s']:.0f} | {r['frames_per_s']:.0f} | {r['gflop_per_step']:.2f} | "
          f"{r['peak_host_mib']:.0f} |", flush=True)


if __name__ == '__main__':
  app.run(main)
