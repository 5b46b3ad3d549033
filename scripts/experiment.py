r"""Trains several methods (x seeds) on one config and prints the image->video gap table.

  python scripts/experiment.py --config=configs/embedded.py --workdir=runs/default \
      --methods=source_only,adversarial --seeds=0 --set train.steps=1200

Re-running with the same workdir resumes unfinished runs and re-scores finished ones.
"""
from absl import app, flags, logging

from vda_jax import experiment

flags.DEFINE_string('config', 'configs/embedded.py', 'Config file with get_config(arg).')
flags.DEFINE_string('workdir', 'runs/default', 'One sub-directory per run goes here.')
flags.DEFINE_list('methods', ['source_only', 'adversarial'], 'Values of the method= config arg.')
flags.DEFINE_list('seeds', ['0'], 'Run seeds.')
flags.DEFINE_multi_string('set', [], 'Override applied to every run, e.g. train.steps=800.')


def main(argv):
  del argv
  if not flags.FLAGS['verbosity'].present:
    logging.set_verbosity(logging.WARNING)
  f = flags.FLAGS
  results = experiment.run_grid(f.config, f.workdir, f.methods, [int(s) for s in f.seeds], f.set)
  rows = experiment.summarise(results)
  experiment.write_reports(rows, results, f.workdir)
  print(experiment.markdown_table(rows))
  print(f'(written to {f.workdir}/results.md, results.csv, results.json)')


if __name__ == '__main__':
  app.run(main)
