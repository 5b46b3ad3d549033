"""Trains one configuration.

  vda-train --config=configs/embedded.py:method=adversarial --workdir=runs/adv
  (or python -m vda_jax.commands.train ...; --config=embedded:... finds the packaged config)

On several hosts every process runs the same command (see train/distributed.py
and scripts/launch_*.sh); a preempted run (SIGTERM) saves and exits, and the
same command resumes it.
"""
import json

from absl import flags
import jax
from ml_collections import config_flags

from vda_jax import commands, preemption
from vda_jax.train import distributed
from vda_jax.train.loop import train_and_evaluate

config_flags.DEFINE_config_file('config', None, 'Config file (get_config).', lock_config=True)
flags.DEFINE_string('workdir', None, 'Checkpoints, metrics.jsonl and TensorBoard logs.')
flags.mark_flags_as_required(['config', 'workdir'])


def main(argv):
  del argv
  distributed.initialize(flags.FLAGS.config.distributed)
  if jax.process_index() == 0:
    print(flags.FLAGS.config)
  results = train_and_evaluate(flags.FLAGS.config, flags.FLAGS.workdir)
  if jax.process_index() == 0:
    print(json.dumps(results, indent=1, sort_keys=True))
  if 'preempted_at_step' in results:  # commands.run: one line on stderr, exit status 143
    raise preemption.Interrupted(f'SIGTERM: the run in {flags.FLAGS.workdir} stopped; the '
                                 'same command resumes it')


def run():
  commands.run(main)


if __name__ == '__main__':
  run()
