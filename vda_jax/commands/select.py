r"""Model selection: picks each method's fields on the val splits, by the oracle and by DEV.

Every candidate of the config file's `search_space` trains with one seed (--seed; keep
it apart from a verdict's seeds) and is scored on the held-out val splits only: the
oracle reads labeled videos/val, Deep Embedded Validation needs no video labels, and
Spearman's rho says how well DEV ranks the candidates. Test splits are never read.

  vda-select --workdir=runs/select_photometric --arg=preset=photometric \
      --models=cnn2d --methods=adversarial,clustered,paper

Writes selection.json (what vda-experiment --selection reads) and
selection.md. Re-running skips finished candidates.
"""
from absl import flags

from vda_jax import commands, grid, selection

flags.DEFINE_string('config', 'embedded', 'Config file with get_config and search_space, or '
                    "a packaged config's name.")
flags.DEFINE_string('workdir', 'runs/select', 'One sub-directory per candidate goes here.')
flags.DEFINE_list('models', [], "Values of the model= config arg (default: the config's own).")
flags.DEFINE_list('methods', ['adversarial', 'clustered', 'paper'], 'Methods to select for.')
flags.DEFINE_string('arg', '', "Extra config args, e.g. 'preset=photometric'.")
flags.DEFINE_integer('seed', 0, 'The seed every candidate trains with.')
commands.define_parallel_flag()
flags.DEFINE_multi_string('set', [], 'Override applied to every candidate.')


def main(argv):
  del argv
  f = flags.FLAGS
  config = commands.config_path(f.config)
  rows = selection.run_selection(config, f.workdir, f.models or grid.default_models(config, f.arg),
                                 f.methods, f.arg, f.set, parallel=f.parallel, seed=f.seed)
  print(selection.write_selection(rows, f.workdir))
  print(f'written to {f.workdir}/: selection.json, selection.md')


def run():
  commands.run(main)


if __name__ == '__main__':
  run()
