r"""Runs a pre-registered confirmatory plan as written and prints its table.

Model selection on the plan's selection seed, the verdict runs at the selector's picks,
then one paired test per hypothesis with Holm's adjustment over the family
(vda_jax.confirmatory). Test splits are scored once per run, after its last step.

  vda-confirm --plan=configs/confirmatory.py --workdir=runs/confirmatory --parallel=2

Writes WORKDIR/confirmatory.md (the table, then each arm's test scores) and
confirmatory.json (with every verdict run's final scores). Re-running
skips finished runs and resumes stopped ones. A plan that names its HOST_TYPE starts
no run on another; runs made on another host type or JAX version than the others stop
the report (one line naming them).
"""
from absl import flags

from vda_jax import commands, confirmatory

flags.DEFINE_string('plan', 'confirmatory', "The plan's config file, or a packaged config's name.")
flags.DEFINE_string('workdir', 'runs/confirmatory', 'Selection and verdict runs go here.')
commands.define_parallel_flag()


def main(argv):
  del argv
  f = flags.FLAGS
  plan_path = commands.config_path(f.plan)
  plan = confirmatory.load_plan(plan_path)
  confirmatory.check_host(plan, plan_path)
  results, dirs, picks = confirmatory.run(plan_path, f.workdir, parallel=f.parallel)
  host = confirmatory.host_type(dirs)
  rows = confirmatory.hypothesis_tests(plan, results)
  print(confirmatory.write(rows, picks, plan.SELECTOR, host, f.workdir, results))
  print(f'written to {f.workdir}/: confirmatory.md, confirmatory.json')


def run():
  commands.run(main)


if __name__ == '__main__':
  run()
