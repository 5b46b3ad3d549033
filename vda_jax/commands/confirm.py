r"""Runs a pre-registered confirmatory plan as written and prints its table.

Model selection on the plan's selection seed, the verdict runs at the selector's picks,
then one paired test per hypothesis with Holm's adjustment over the family
(vda_jax.confirmatory). Test splits are scored once per run, after its last step.

  vda-confirm --plan=configs/confirmatory.py --workdir=runs/confirmatory --parallel=2

Writes WORKDIR/confirmatory.md (the table, the per-seed scores, then each arm's test
scores), confirmatory.json (with every verdict run's final scores) and
confirmatory_differences.png (each hypothesis's per-seed differences; --beside draws
other families' confirmatory.json to the left, e.g. the synthetic family's
docs/confirmatory_synthetic.json). Re-running
skips finished runs and resumes stopped ones. A plan that names its HOST_TYPE starts
no run on another; runs made on another host type or JAX version than the others stop
the report (one line naming them).
"""
import os

from absl import flags

from vda_jax import commands, confirmatory, plots

flags.DEFINE_string('plan', 'confirmatory', "The plan's config file, or a packaged config's name.")
flags.DEFINE_string('workdir', 'runs/confirmatory', 'Selection and verdict runs go here.')
flags.DEFINE_multi_string('beside', [], "Another family's confirmatory.json, drawn left of this "
                          'one in confirmatory_differences.png (repeatable).')
commands.define_parallel_flag()


def main(argv):
  del argv
  f = flags.FLAGS
  plan_path = commands.config_path(f.plan)
  plan = confirmatory.load_plan(plan_path)
  confirmatory.check_host(plan, plan_path)
  beside = [confirmatory.load_saved(path) for path in f.beside]   # before hours of runs
  results, dirs, picks = confirmatory.run(plan_path, f.workdir, parallel=f.parallel)
  host = confirmatory.host_type(dirs)
  rows = confirmatory.hypothesis_tests(plan, results)
  print(confirmatory.write(rows, picks, plan.SELECTOR, host, f.workdir, results))
  families = [*beside, confirmatory.load_saved(os.path.join(f.workdir, 'confirmatory.json'))]
  plots.differences_figure(
      {confirmatory.family_title(s): confirmatory.per_seed_differences(s) for s in families},
      os.path.join(f.workdir, 'confirmatory_differences.png'))
  print(f'written to {f.workdir}/: confirmatory.md, confirmatory.json, '
        'confirmatory_differences.png')


def run():
  commands.run(main)


if __name__ == '__main__':
  run()
