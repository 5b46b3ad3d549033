"""`vda-experiment` in a checkout; see vda_jax/commands/experiment.py."""
from vda_jax.commands import experiment

if __name__ == '__main__':
  experiment.run()
