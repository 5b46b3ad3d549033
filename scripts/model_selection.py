"""`vda-select` in a checkout; see vda_jax/commands/select.py."""
from vda_jax.commands import select

if __name__ == '__main__':
  select.run()
